"""``speechseq data ...``: make, check and reshape Kaldi data directories."""

from __future__ import annotations

from pathlib import Path

import typer

from speechseq.cli.common import CHANNEL, NUM_JOBS, SEED, info, noun_group, num_utts_option
from speechseq.data.augment import (
    CODECS,
    MICS,
    AugmentConfig,
    augment_data_dir,
    parse_list,
    parse_range,
)
from speechseq.data.lhotse_manifests import from_lhotse, to_lhotse
from speechseq.data.ops import (
    combine_data_dirs,
    copy_data_dir,
    fix_data_dir,
    split_data_dir,
    subset_data_dir,
)
from speechseq.data.prepare import prepare_from_folder, prepare_librispeech
from speechseq.data.validate import data_dir_stats, format_problems, validate_data_dir

app = noun_group(
    "data",
    "Kaldi data directories: validate, fix, split, subset, combine, augment, prepare from "
    "audio folders, and lhotse manifests in and out.",
)


@app.command("validate")
def validate_cmd(
    data_dir: Path = typer.Argument(..., help="Kaldi data directory."),
    no_audio: bool = typer.Option(
        False, "--no-audio", help="Do not decode audio (files are still checked to exist)."
    ),
    num_jobs: int = NUM_JOBS,
    max_shown: int = typer.Option(20, "--max-shown", min=1, help="Problems printed per kind."),
    channel: str = CHANNEL,
) -> None:
    """Check DIR like Kaldi's validate_data_dir.sh; one line per problem, exit 1 if any.

    Warnings and notes (multi-channel recordings, and how they are read) do not fail it.
    """
    problems = validate_data_dir(
        data_dir, check_audio=not no_audio, num_jobs=num_jobs, channel=channel
    )
    for line in format_problems(problems, max_per_kind=max_shown):
        print(line)
    errors = [p for p in problems if p.is_error]
    if errors:
        info(
            f"{data_dir}: {len(errors)} problem(s) — see above; many are repaired by: speechseq data fix {data_dir}"
        )
        raise typer.Exit(1)
    stats = data_dir_stats(data_dir)
    hours = f"{stats.hours:.3g} hours" if stats.hours is not None else "duration unknown"
    print(f"{data_dir}: OK ({stats.num_utts} utterances, {stats.num_spks} speakers, {hours})")


@app.command("fix")
def fix_cmd(
    data_dir: Path = typer.Argument(..., help="Kaldi data directory, repaired in place."),
    no_backup: bool = typer.Option(
        False, "--no-backup", help="Do not copy the original files to DIR/.backup/."
    ),
) -> None:
    """Keep the utterances in every table, drop empty transcripts, sort, rebuild spk2utt."""
    report = fix_data_dir(data_dir, backup=not no_backup)
    for line in report.lines():
        info(line)
    info(f"{data_dir}: {report.kept} utterances kept")


@app.command("split")
def split_cmd(
    data_dir: Path = typer.Argument(..., help="Kaldi data directory."),
    num_parts: int = typer.Argument(
        ..., min=1, help="Number of parts (at most the number of speakers)."
    ),
) -> None:
    """Split by speaker into DIR/split<N>/<1..N>, balanced by utterance count."""
    for part in split_data_dir(data_dir, num_parts):
        print(part)


@app.command("subset")
def subset_cmd(
    data_dir: Path = typer.Argument(..., help="Kaldi data directory."),
    out: Path = typer.Argument(..., help="Output data directory."),
    num_utts: int | None = num_utts_option(None, "Keep N utterances (the first N in C order)."),
    speakers: str | None = typer.Option(
        None, "--speakers", help="Keep these speakers: a comma list or a file of ids."
    ),
    random: bool = typer.Option(
        False, "--random", help="With --num-utts: a random choice instead of the first N."
    ),
    seed: int = SEED,
) -> None:
    """Write a part of DIR (by utterance count or by speakers) to OUT."""
    n = subset_data_dir(
        data_dir, out, num_utts=num_utts, speakers=speakers, random=random, seed=seed
    )
    info(f"{out}: {n} utterances")


@app.command("copy")
def copy_cmd(
    data_dir: Path = typer.Argument(..., help="Kaldi data directory."),
    out: Path = typer.Argument(..., help="Output data directory."),
    feats: bool = typer.Option(
        False, "--feats", help="Copy the features too (feats.scp, utt2num_frames, CMVN)."
    ),
) -> None:
    """Copy DIR's tables (not its features unless --feats) to OUT, for a second feature set."""
    n = copy_data_dir(data_dir, out, feats=feats)
    info(f"{out}: {n} utterances")


@app.command("combine")
def combine_cmd(
    out: Path = typer.Argument(..., help="Output data directory."),
    dirs: list[Path] = typer.Argument(..., help="Input data directories."),
) -> None:
    """Union of data directories; an id in two inputs is an error."""
    for note in combine_data_dirs(out, dirs):
        info(f"note: {note}")
    info(f"{out}: combined {len(dirs)} directories")


@app.command("augment")
def augment_cmd(
    data_dir: Path = typer.Argument(
        ..., help="Kaldi data directory (wav.scp, utt2spk; segments honoured)."
    ),
    out: Path = typer.Argument(..., help="Output data directory (its own wav/ folder)."),
    copies: int = typer.Option(1, "--copies", min=1, help="Augmented copies of each utterance."),
    speeds: str = typer.Option(
        "0.9,1.0,1.1",
        "--speeds",
        help="Speed factors, one drawn per copy ('1.0': no speed change).",
    ),
    tempo_prob: float = typer.Option(
        0.0, "--tempo-prob", help="Chance of a tempo change that keeps the pitch (WSOLA)."
    ),
    tempo: str = typer.Option(
        "0.85:1.15", "--tempo", help="Tempo factor range LOW:HIGH (> 1 faster; ctm scaled)."
    ),
    vtlp_prob: float = typer.Option(
        0.0, "--vtlp-prob", help="Chance of vocal tract length perturbation (spectrum warp)."
    ),
    vtlp: str = typer.Option(
        "0.85:1.15", "--vtlp", help="VTLP warp factor range LOW:HIGH (> 1: a shorter tract)."
    ),
    pitch_prob: float = typer.Option(
        0.0, "--pitch-prob", help="Chance of a pitch shift that keeps formants and tempo."
    ),
    pitch_semitones: str = typer.Option(
        "-3:3", "--pitch-semitones", help="Pitch shift range in semitones, LOW:HIGH."
    ),
    formant_prob: float = typer.Option(
        0.0, "--formant-prob", help="Chance of a formant shift that keeps the pitch."
    ),
    formant: str = typer.Option(
        "0.9:1.1", "--formant", help="Formant (spectral envelope) warp factor range LOW:HIGH."
    ),
    channel_prob: float = typer.Option(
        0.0, "--channel-prob", help="Chance of a first-order channel filter (see --tilt)."
    ),
    tilt: str = typer.Option(
        "-0.6:0.9",
        "--tilt",
        help="Channel filter (spectral tilt) coefficient range LOW:HIGH (> 0 duller; < 0 brighter).",
    ),
    reverb_prob: float = typer.Option(
        0.3, "--reverb-prob", help="Chance of a synthetic room response."
    ),
    rt60: str = typer.Option(
        "0.2:0.8", "--rt60", help="Reverberation time range, seconds LOW:HIGH."
    ),
    noise_prob: float = typer.Option(1.0, "--noise-prob", help="Chance of additive noise."),
    noise_types: str = typer.Option(
        "white,pink,brown,babble,speech",
        "--noise-types",
        help="Noise kinds to draw from: white, pink, brown, babble (synthetic), speech (3-6 other "
        "utterances mixed), file (recordings from --noise-dir).",
    ),
    snr: str = typer.Option("5:25", "--snr", help="SNR range in dB, LOW:HIGH."),
    noise_dir: Path | None = typer.Option(
        None, "--noise-dir", help="Folder of noise recordings (e.g. MUSAN noise) for type 'file'."
    ),
    mic_prob: float = typer.Option(
        0.0, "--mic-prob", help="Chance of a microphone response (see --mics)."
    ),
    mics: str = typer.Option(
        ",".join(MICS),
        "--mics",
        help="Microphone classes to draw from (parametric-EQ shapes, jittered per copy).",
    ),
    clip_prob: float = typer.Option(0.0, "--clip-prob", help="Chance of clipping."),
    clip_db: str = typer.Option(
        "1:10", "--clip-db", help="Clipping level range LOW:HIGH, dB below the peak."
    ),
    telephone_prob: float = typer.Option(
        0.0, "--telephone-prob", help="Chance of a telephone line (300-3400 Hz at 8 kHz)."
    ),
    codec_prob: float = typer.Option(0.0, "--codec-prob", help="Chance of a speech codec."),
    codecs: str = typer.Option(
        ",".join(CODECS),
        "--codecs",
        help="Codecs to draw from: mulaw, alaw (G.711 at 8 kHz), rpe-ltp (GSM-full-rate-like, "
        "13 kbit/s at 8 kHz).",
    ),
    prefix: str = typer.Option("aug", "--prefix", help="Ids become <prefix><copy>-<id>."),
    num_jobs: int = NUM_JOBS,
    seed: int = SEED,
    channel: str = CHANNEL,
) -> None:
    """Speed-perturbed, speaker-perturbed, channel-filtered, reverberated and noisy copies of DIR.

    Kaldi's speed perturbation and augment_data_dir.py in one, with tempo, VTLP, pitch and
    formant shifts, microphones, telephone lines, codecs and clipping when their probability
    is above 0; combine OUT with DIR to train on both.
    """
    cfg = AugmentConfig(
        copies=copies,
        speeds=parse_list(speeds, "--speeds"),
        tempo_prob=tempo_prob,
        tempo=parse_range(tempo, "--tempo"),
        vtlp_prob=vtlp_prob,
        vtlp=parse_range(vtlp, "--vtlp"),
        pitch_prob=pitch_prob,
        pitch_semitones=parse_range(pitch_semitones, "--pitch-semitones"),
        formant_prob=formant_prob,
        formant=parse_range(formant, "--formant"),
        channel_prob=channel_prob,
        tilt=parse_range(tilt, "--tilt"),
        reverb_prob=reverb_prob,
        rt60_s=parse_range(rt60, "--rt60"),
        noise_prob=noise_prob,
        noise_types=parse_list(noise_types, "--noise-types", str),
        snr_db=parse_range(snr, "--snr"),
        noise_dir=str(noise_dir) if noise_dir is not None else None,
        mic_prob=mic_prob,
        mics=parse_list(mics, "--mics", str),
        clip_prob=clip_prob,
        clip_db=parse_range(clip_db, "--clip-db"),
        telephone_prob=telephone_prob,
        codec_prob=codec_prob,
        codecs=parse_list(codecs, "--codecs", str),
        prefix=prefix,
        seed=seed,
    )
    s = augment_data_dir(data_dir, out, cfg, num_jobs=num_jobs, channel=channel)
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(s.counts.items()))
    info(f"{out}: {s.num_utts} utterances, {s.hours:.3g} hours ({kinds or 'speed only'})")


@app.command("from-folder")
def from_folder_cmd(
    audio_dir: Path = typer.Argument(..., help="Folder of audio files (searched recursively)."),
    out: Path = typer.Argument(..., help="Output data directory."),
    transcripts: Path | None = typer.Option(
        None,
        "--transcripts",
        help="TSV of 'stem<TAB>transcript' (default: same-name .txt/.lab files).",
    ),
    speaker_regex: str | None = typer.Option(
        None,
        "--speaker-regex",
        help="Regex whose group 1, searched in the file stem, is the speaker (default: parent folder).",
    ),
    no_text: bool = typer.Option(False, "--no-text", help="Unlabelled audio: write no text file."),
    allow_missing_text: bool = typer.Option(
        False,
        "--allow-missing-text",
        help="Leave out audio without a transcript instead of failing.",
    ),
) -> None:
    """A data directory from a folder of audio files with transcripts."""
    report = prepare_from_folder(
        audio_dir,
        out,
        transcripts=transcripts,
        speaker_regex=speaker_regex,
        no_text=no_text,
        allow_missing_text=allow_missing_text,
    )
    for line in report.lines():
        info(line)


@app.command("librispeech")
def librispeech_cmd(
    root: Path = typer.Argument(
        ..., help="A LibriSpeech subset folder, e.g. LibriSpeech/dev-clean."
    ),
    out: Path = typer.Argument(..., help="Output data directory."),
    lowercase: bool = typer.Option(
        False,
        "--lowercase",
        help="Lower-case the transcripts (default: upper-case, as distributed).",
    ),
) -> None:
    """A data directory from the LibriSpeech tree <spk>/<chapter>/*.flac and *.trans.txt."""
    for line in prepare_librispeech(root, out, lowercase=lowercase).lines():
        info(line)


@app.command("to-lhotse")
def to_lhotse_cmd(
    data_dir: Path = typer.Argument(..., help="Kaldi data directory."),
    out: Path = typer.Argument(
        ..., help="Folder for recordings.jsonl.gz and supervisions.jsonl.gz."
    ),
) -> None:
    """lhotse recordings and supervisions manifests of a data dir (needs lhotse installed).

    Segments, speakers, texts, reco2file_and_channel channels and ctm word timings (as the
    'word' alignment) are carried over.
    """
    for line in to_lhotse(data_dir, out).lines():
        info(line)


@app.command("from-lhotse")
def from_lhotse_cmd(
    manifest_dir: Path = typer.Argument(
        ..., help="Folder with one *recordings*.jsonl.gz and one *supervisions*.jsonl.gz."
    ),
    out: Path = typer.Argument(..., help="Output data directory."),
    part: str | None = typer.Option(
        None, "--part", help="Read the manifests whose file name holds this (e.g. dev-clean)."
    ),
    speaker_prefix: bool = typer.Option(
        False,
        "--speaker-prefix",
        help="Name utterances '<speaker>-<supervision id>' so that they sort with their speakers.",
    ),
) -> None:
    """A data directory from lhotse recordings and supervisions manifests (needs lhotse installed)."""
    for line in from_lhotse(manifest_dir, out, part=part, speaker_prefix=speaker_prefix).lines():
        info(line)
