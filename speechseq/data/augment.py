"""Augmented copies of a data directory: speed, tempo, vocal tract length, pitch and formant
perturbation, channel filters, reverberation, additive noise, microphones, telephone lines,
codecs and clipping.

What Kaldi does with ``utils/data/perturb_data_dir_speed.sh`` and
``steps/data/augment_data_dir.py`` (MUSAN noise, babble and room responses), in one step, plus
speaker-space and channel simulation (:mod:`speechseq.data.signal`). Each of ``copies`` copies
of every utterance draws, from a generator seeded by (seed, copy, utterance id) — so the output
does not depend on ``num_jobs`` —

- a speed factor from ``speeds`` (resampling, like ``sox speed``: tempo and pitch together);
- with probability ``tempo_prob``, a tempo factor from ``tempo`` (WSOLA: pitch kept);
- with probability ``vtlp_prob``, a vocal tract length perturbation factor from ``vtlp`` (the
  whole spectrum warped, Jaitly & Hinton 2013);
- with probability ``pitch_prob``, a pitch shift in semitones from ``pitch_semitones``
  (formants kept);
- with probability ``formant_prob``, a formant shift factor from ``formant`` (pitch kept);
- with probability ``channel_prob``, a first-order channel filter with its coefficient drawn
  from ``tilt`` (> 0 a duller, low-passed microphone or line; < 0 a brighter one), as the
  band-limiting filters of SpeechBrain's and ESPnet's augmentation do;
- with probability ``reverb_prob``, a synthetic room response with RT60 in ``rt60_s``;
- with probability ``noise_prob``, one noise kind from ``noise_types`` at an SNR drawn
  uniformly from ``snr_db``: ``white``, ``pink``, ``brown``, ``babble`` (synthetic speech-band
  babble), ``speech`` (the sum of 3-6 other utterances of the directory, as MUSAN babble is
  built) or ``file`` (a random stretch of a recording from ``noise_dir``);
- with probability ``mic_prob``, a microphone of a class from ``mics`` (parametric-EQ shapes
  of headset, dynamic, laptop, phone, webcam, lavalier and boundary microphones, each drawn
  with its frequencies and gains jittered);
- with probability ``clip_prob``, clipping at ``clip_db`` dB below the peak;
- with probability ``telephone_prob``, a telephone line (300-3400 Hz at 8 kHz);
- with probability ``codec_prob``, one codec from ``codecs``: ``mulaw`` or ``alaw`` (G.711 at
  8 kHz) or ``rpe-ltp`` (a GSM-full-rate-like RPE-LTP coder at 8 kHz).

Each of these is drawn only when its probability is above 0, so the copies made without it
are the same as before it existed.

The output directory holds ``wav/<utt>.wav`` (16-bit PCM at the source rate), ``wav.scp``,
``text`` and the other utterance tables, ``utt2spk``/``spk2utt`` with utterance *and* speaker
ids prefixed ``<prefix><copy>-`` (so every copy's ids sort together, as Kaldi requires),
``utt2dur``, ``ctm`` with times divided by the speed and tempo factors, and ``augment.tsv`` recording what
each utterance got. Segments are cut out, so the output has none. Combine it with the source
(``speechseq data combine``) to train on both.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from speechseq.data.audio import (
    MIX,
    AudioSpec,
    Channel,
    read_audio,
    read_spec,
    read_spec_native,
    write_wav,
)
from speechseq.data.kaldi_dir import (
    CtmEntry,
    DataDir,
    c_sorted,
    read_ctm,
    read_table,
    spk2utt_from_utt2spk,
    write_ctm,
    write_table,
)
from speechseq.errors import SpeechseqError, UsageError
from speechseq.fileio import atomic_dir, atomic_write
from speechseq.parallel import process_map
from speechseq.progress import progress_bar

NOISE_TYPES = ("white", "pink", "brown", "babble", "speech", "file")
CODECS = ("mulaw", "alaw", "rpe-ltp")
# microphone classes of speechseq.data.signal.MIC_CLASSES (named here: that module is slow to
# import for `speechseq --help`; a test keeps the two the same)
MICS = ("headset", "dynamic", "laptop", "phone", "webcam", "lavalier", "boundary")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".sph")
# Utterance tables copied with renamed keys; wav.scp, segments, utt2dur, feats and ctm are remade.
COPIED_TABLES = ("text", "slots")


@dataclass(frozen=True)
class AugmentConfig:
    copies: int = 1  # augmented copies of each utterance
    speeds: tuple[float, ...] = (0.9, 1.0, 1.1)  # speed factors, one drawn per copy
    tempo_prob: float = 0.0  # chance of a tempo change with the pitch kept
    tempo: tuple[float, float] = (0.85, 1.15)  # tempo factor range (> 1 faster)
    vtlp_prob: float = 0.0  # chance of vocal tract length perturbation
    vtlp: tuple[float, float] = (0.85, 1.15)  # VTLP warp factor range (> 1: shorter tract)
    pitch_prob: float = 0.0  # chance of a pitch shift with the formants kept
    pitch_semitones: tuple[float, float] = (-3.0, 3.0)  # pitch shift range, semitones
    formant_prob: float = 0.0  # chance of a formant shift with the pitch kept
    formant: tuple[float, float] = (0.9, 1.1)  # formant (envelope) warp factor range
    channel_prob: float = 0.0  # chance of a channel filter
    tilt: tuple[float, float] = (-0.6, 0.9)  # channel filter coefficient range (+: duller)
    reverb_prob: float = 0.3  # chance of a synthetic room response
    rt60_s: tuple[float, float] = (0.2, 0.8)  # reverberation time range, seconds
    noise_prob: float = 1.0  # chance of additive noise
    noise_types: tuple[str, ...] = ("white", "pink", "brown", "babble", "speech")
    snr_db: tuple[float, float] = (5.0, 25.0)  # SNR range, dB (speech power over noise power)
    noise_dir: str | None = None  # recordings for noise type 'file'
    mic_prob: float = 0.0  # chance of a microphone response
    mics: tuple[str, ...] = MICS  # microphone classes to draw from
    clip_prob: float = 0.0  # chance of clipping
    clip_db: tuple[float, float] = (1.0, 10.0)  # clipping level range, dB below the peak
    telephone_prob: float = 0.0  # chance of a telephone line (300-3400 Hz at 8 kHz)
    codec_prob: float = 0.0  # chance of a speech codec
    codecs: tuple[str, ...] = CODECS  # codecs to draw from
    prefix: str = "aug"  # ids become <prefix><copy>-<id>
    seed: int = 0

    def check(self) -> None:
        if self.copies < 1:
            raise UsageError(f"--copies {self.copies}: give at least 1")
        if not self.speeds or any(not 0.5 <= s <= 2.0 for s in self.speeds):
            raise UsageError(
                f"--speeds {','.join(map(str, self.speeds))}: give factors between 0.5 and 2.0, e.g. 0.9,1.0,1.1"
            )
        for name, p in (
            ("--channel-prob", self.channel_prob),
            ("--reverb-prob", self.reverb_prob),
            ("--noise-prob", self.noise_prob),
            ("--tempo-prob", self.tempo_prob),
            ("--vtlp-prob", self.vtlp_prob),
            ("--pitch-prob", self.pitch_prob),
            ("--formant-prob", self.formant_prob),
            ("--mic-prob", self.mic_prob),
            ("--clip-prob", self.clip_prob),
            ("--telephone-prob", self.telephone_prob),
            ("--codec-prob", self.codec_prob),
        ):
            if not 0.0 <= p <= 1.0:
                raise UsageError(f"{name} {p}: give a probability between 0 and 1")
        for name, (lo, hi), low, high, unit in (
            ("--tempo", self.tempo, 0.5, 2.0, ""),
            ("--vtlp", self.vtlp, 0.7, 1.4, ""),
            ("--pitch-semitones", self.pitch_semitones, -12.0, 12.0, " semitones"),
            ("--formant", self.formant, 0.7, 1.4, ""),
            ("--clip-db", self.clip_db, 0.0, 30.0, " dB"),
        ):
            if not low <= lo <= hi <= high:
                raise UsageError(
                    f"{name} {lo:g}:{hi:g}: give LOW:HIGH{unit} with {low:g} <= LOW <= HIGH <= {high:g}"
                )
        for name, chosen, known in (("--mics", self.mics, MICS), ("--codecs", self.codecs, CODECS)):
            unknown = [c for c in chosen if c not in known]
            if unknown or not chosen:
                raise UsageError(
                    f"{name}: unknown {', '.join(unknown) or '(none given)'} — choose from {', '.join(known)}"
                )
        if not -0.95 <= self.tilt[0] <= self.tilt[1] <= 0.95:
            raise UsageError(
                f"--tilt {self.tilt[0]}:{self.tilt[1]}: give LOW:HIGH with -0.95 <= LOW <= HIGH <= 0.95"
            )
        lo, hi = self.rt60_s
        if not 0.05 <= lo <= hi <= 3.0:
            raise UsageError(
                f"--rt60 {lo}:{hi}: give LOW:HIGH seconds with 0.05 <= LOW <= HIGH <= 3"
            )
        if self.snr_db[0] > self.snr_db[1]:
            raise UsageError(f"--snr {self.snr_db[0]}:{self.snr_db[1]}: LOW must not exceed HIGH")
        unknown = [t for t in self.noise_types if t not in NOISE_TYPES]
        if unknown or not self.noise_types:
            raise UsageError(
                f"--noise-types: unknown type(s) {', '.join(unknown) or '(none given)'} — choose from {', '.join(NOISE_TYPES)}"
            )
        if ("file" in self.noise_types) != (self.noise_dir is not None):
            raise UsageError(
                "noise type 'file' and --noise-dir go together: give --noise-dir DIR with 'file' in --noise-types"
            )
        if not self.prefix or any(c.isspace() for c in self.prefix):
            raise UsageError(f"--prefix '{self.prefix}': give a non-empty prefix without spaces")


def parse_range(text: str, what: str) -> tuple[float, float]:
    """``"5:25"`` -> (5.0, 25.0); a single number is a range of one value."""
    try:
        parts = [float(p) for p in text.split(":")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2:
        raise UsageError(f"{what} '{text}': give LOW:HIGH, e.g. 5:25")
    return parts[0], parts[1]


def parse_list(text: str, what: str, kind=float) -> tuple:
    try:
        return tuple(kind(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise UsageError(f"{what} '{text}': give a comma-separated list") from None


@dataclass(frozen=True)
class _Item:
    utt: str
    audio: AudioSpec  # wav.scp entry, span and channel


@dataclass(frozen=True)
class _Copy:
    """What one augmented copy got (``error`` set instead when its audio could not be read)."""

    utt: str = ""  # new utterance id
    dur_s: float = 0.0
    speed: float = 1.0
    tempo: float = 1.0
    vtlp: float = 1.0
    pitch_semitones: float = 0.0
    formant: float = 1.0
    tilt: float = 0.0  # 0: no channel filter
    rt60_s: float = 0.0  # 0: no reverberation
    noise: str = ""  # noise kind, "" for none
    snr_db: float = 0.0
    mic: str = ""  # microphone class, "" for none
    clip_db: float = 0.0  # 0: no clipping
    telephone: bool = False
    codec: str = ""  # "" for none
    error: str = ""

    def describe(self) -> str:
        got = [f"speed={self.speed:g}"]
        if self.tempo != 1.0:
            got.append(f"tempo={self.tempo:.3f}")
        if self.vtlp != 1.0:
            got.append(f"vtlp={self.vtlp:.3f}")
        if self.pitch_semitones:
            got.append(f"pitch={self.pitch_semitones:+.2f}st")
        if self.formant != 1.0:
            got.append(f"formant={self.formant:.3f}")
        if self.tilt:
            got.append(f"tilt={self.tilt:.2f}")
        if self.rt60_s:
            got.append(f"rt60={self.rt60_s:.2f}")
        if self.noise:
            got.append(f"noise={self.noise}:{self.snr_db:.1f}dB")
        if self.mic:
            got.append(f"mic={self.mic}")
        if self.clip_db:
            got.append(f"clip={self.clip_db:.1f}dB")
        if self.telephone:
            got.append("telephone")
        if self.codec:
            got.append(f"codec={self.codec}")
        return " ".join(got)

    def kinds(self) -> list[str]:
        """The summary's keys this copy counts towards."""
        got = [
            self.noise,
            "reverb" if self.rt60_s else "",
            "channel" if self.tilt else "",
            "tempo" if self.tempo != 1.0 else "",
            "vtlp" if self.vtlp != 1.0 else "",
            "pitch" if self.pitch_semitones else "",
            "formant" if self.formant != 1.0 else "",
            f"mic {self.mic}" if self.mic else "",
            "clip" if self.clip_db else "",
            "telephone" if self.telephone else "",
            self.codec,
        ]
        return [k for k in got if k]


@dataclass
class AugmentSummary:
    num_utts: int = 0
    hours: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)  # noise kind / 'reverb' -> utterances


_items: list[_Item] = []
_noise_files: list[str] = []
_cfg: AugmentConfig | None = None


def _init_worker(items, noise_files, cfg) -> None:
    global _items, _noise_files, _cfg
    _items, _noise_files, _cfg = items, noise_files, cfg


def _speech_noise(n: int, sr: int, me: str, rng: np.random.Generator) -> np.ndarray:
    """3-6 other utterances of the directory, each looped to ``n`` samples at a random offset."""
    picks = rng.choice(len(_items), size=min(7, len(_items)), replace=False)
    others = [_items[i] for i in picks if _items[i].utt != me][: int(rng.integers(3, 7))]
    y = np.zeros(n, np.float64)
    for it in others:
        x = read_spec(it.audio, sr, what=it.utt)
        if len(x):
            x = x / max(np.sqrt(np.mean(x.astype(np.float64) ** 2)), 1e-9)
            y += np.roll(np.resize(x, n), int(rng.integers(0, n)))
    if not np.any(y):
        y = rng.standard_normal(n)
    return y


def _file_noise(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    path = _noise_files[int(rng.integers(len(_noise_files)))]
    x = read_audio(path, sr, what=f"noise file {path}")
    if not np.any(x):
        raise SpeechseqError(f"noise file {path}: silent or empty — remove it from --noise-dir")
    start = int(rng.integers(0, len(x)))
    return np.resize(np.roll(x, -start), n).astype(np.float64)


def _draw(rng: np.random.Generator, prob: float, span: tuple[float, float], none: float) -> float:
    """With chance ``prob`` a value drawn uniformly from ``span``, else ``none``; nothing is
    drawn from ``rng`` when ``prob`` is 0."""
    if prob and rng.random() < prob:
        return float(rng.uniform(*span))
    return none


def _augment(job) -> _Copy:
    """Worker: make and write one augmented copy."""
    # deferred: data.signal imports scipy.signal, too slow (~0.5 s) for `speechseq --help`
    from speechseq.data import signal as perturb

    k, idx, wav_path = job
    it, cfg = _items[idx], _cfg
    rng = np.random.default_rng([cfg.seed, k, zlib.crc32(it.utt.encode())])
    try:
        x, sr = read_spec_native(it.audio, what=it.utt)
        speed = float(cfg.speeds[int(rng.integers(len(cfg.speeds)))])
        if speed != 1.0:
            x = perturb.speed_resample(x, sr, sr, speed)
        # each drawn only when asked for, so that outputs made without it stay the same
        tempo = _draw(rng, cfg.tempo_prob, cfg.tempo, 1.0)
        x = perturb.change_tempo(x, sr, tempo) if tempo != 1.0 else x
        vtlp = _draw(rng, cfg.vtlp_prob, cfg.vtlp, 1.0)
        x = perturb.vtlp(x, sr, vtlp) if vtlp != 1.0 else x
        semitones = _draw(rng, cfg.pitch_prob, cfg.pitch_semitones, 0.0)
        x = perturb.pitch_shift(x, sr, semitones) if semitones else x
        formant = _draw(rng, cfg.formant_prob, cfg.formant, 1.0)
        x = perturb.formant_shift(x, sr, formant) if formant != 1.0 else x
        tilt, rt60, noise_kind, snr = 0.0, 0.0, "", 0.0
        if cfg.channel_prob and rng.random() < cfg.channel_prob:
            tilt = float(rng.uniform(*cfg.tilt))
            x = perturb.channel_tilt(x, tilt)
        if rng.random() < cfg.reverb_prob:
            rt60 = float(rng.uniform(*cfg.rt60_s))
            x = perturb.reverberate(x, sr, rt60, rng)
        if rng.random() < cfg.noise_prob and len(x):
            noise_kind = str(cfg.noise_types[int(rng.integers(len(cfg.noise_types)))])
            snr = float(rng.uniform(*cfg.snr_db))
            if noise_kind == "speech":
                noise = _speech_noise(len(x), sr, it.utt, rng)
            elif noise_kind == "file":
                noise = _file_noise(len(x), sr, rng)
            else:
                noise = perturb.make_noise(noise_kind, len(x), sr, rng)
            x = perturb.add_noise_signal(x, noise, snr, sr)
        mic, telephone, codec = "", False, ""
        if cfg.mic_prob and rng.random() < cfg.mic_prob:
            mic = str(cfg.mics[int(rng.integers(len(cfg.mics)))])
            x = perturb.mic_response(x, sr, perturb.draw_mic(mic, rng))
        clip_db = _draw(rng, cfg.clip_prob, cfg.clip_db, 0.0)
        x = perturb.hard_clip(x, clip_db) if clip_db else x
        if cfg.telephone_prob and rng.random() < cfg.telephone_prob:
            telephone = True
            x = perturb.telephone_band(x, sr)
        if cfg.codec_prob and rng.random() < cfg.codec_prob:
            codec = str(cfg.codecs[int(rng.integers(len(cfg.codecs)))])
            x = _code(x, sr, codec)
        peak = float(np.max(np.abs(x))) if len(x) else 0.0
        if peak > 0.99:  # rescale rather than clip
            x = x * (0.99 / peak)
        write_wav(wav_path, x, sr)
    except SpeechseqError as e:
        return _Copy(error=str(e))
    return _Copy(
        f"{cfg.prefix}{k}-{it.utt}",
        len(x) / sr,
        speed,
        tempo,
        vtlp,
        semitones,
        formant,
        tilt,
        rt60,
        noise_kind,
        snr,
        mic,
        clip_db,
        telephone,
        codec,
    )


def _code(x: np.ndarray, sr: int, codec: str) -> np.ndarray:
    """Round trip through ``codec`` (see :data:`CODECS`) at 8 kHz, back at ``sr``."""
    # deferred: data.signal imports scipy.signal, too slow for `speechseq --help`
    from speechseq.data import signal as perturb

    if codec == "rpe-ltp":
        return perturb.rpe_ltp_codec(x, sr)
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    if peak > 0.99:  # into the coder's range, as the output is rescaled rather than clipped
        x = x * (0.99 / peak)
    return perturb.at_8k(x, sr, lambda y: perturb.g711(y, "mu" if codec == "mulaw" else "a"))


def _list_noise_files(noise_dir: str) -> list[str]:
    d = Path(noise_dir)
    if not d.is_dir():
        raise SpeechseqError(
            f"--noise-dir {d}: not a directory — give a folder of noise recordings"
        )
    files = c_sorted(str(p) for p in d.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise SpeechseqError(
            f"--noise-dir {d}: no audio files ({', '.join(AUDIO_SUFFIXES)}) — give a folder of noise recordings"
        )
    return files


def augment_data_dir(
    src: str | os.PathLike,
    out: str | os.PathLike,
    cfg: AugmentConfig,
    num_jobs: int = 1,
    progress: bool = True,
    channel: Channel = MIX,
) -> AugmentSummary:
    """Write ``cfg.copies`` augmented copies of every utterance of ``src`` to ``out``.

    Multi-channel audio is read as ``reco2file_and_channel`` says, else as ``channel`` (an
    index, or ``"mix"``: the average of the channels); the copies are one-channel.
    """
    cfg.check()
    src, out = Path(src), Path(out)
    if out.resolve() == src.resolve():
        raise UsageError(f"{out}: the output is the input — choose another output directory")
    data = DataDir(src)
    utt2spk = data.utt2spk
    if not utt2spk:
        raise SpeechseqError(f"{data.file('utt2spk')}: no utterances — nothing to augment")
    utts = c_sorted(utt2spk)
    items = [_Item(u, data.audio_spec(u, channel)) for u in utts]
    if "speech" in cfg.noise_types and len(items) < 4:
        raise SpeechseqError(
            f"{src}: {len(items)} utterance(s) — noise type 'speech' mixes 3-6 other utterances; "
            f"leave 'speech' out of --noise-types for so small a directory"
        )
    noise_files = _list_noise_files(cfg.noise_dir) if cfg.noise_dir else []
    tables = {
        n: read_table(src / n, allow_empty=True) for n in COPIED_TABLES if (src / n).is_file()
    }
    tables.update(
        {p.name: read_table(p, allow_empty=True) for p in src.glob("text.*") if p.is_file()}
    )
    ctm = read_ctm(src / "ctm") if (src / "ctm").is_file() else None

    with atomic_dir(out) as tmp:
        (tmp / "wav").mkdir()
        jobs = [
            (k, i, str(tmp / "wav" / f"{cfg.prefix}{k}-{it.utt}.wav"))
            for k in range(1, cfg.copies + 1)
            for i, it in enumerate(items)
        ]
        made: dict[str, tuple[int, str, _Copy]] = {}  # new utt -> (copy number, source utt, copy)
        with (
            process_map(num_jobs, _init_worker, (items, noise_files, cfg)) as imap,
            progress_bar("augment", enabled=progress) as bar,
        ):
            task = bar.add_task("copies", total=len(jobs))
            for (k, i, _), c in zip(jobs, imap(_augment, jobs, chunksize=8), strict=True):
                if c.error:
                    raise SpeechseqError(f"{src}: utterance '{items[i].utt}': {c.error}")
                made[c.utt] = (k, items[i].utt, c)
                bar.advance(task)

        def rename(k: int, key: str) -> str:
            return f"{cfg.prefix}{k}-{key}"

        final = out.resolve()
        write_table(tmp / "wav.scp", {u: str(final / "wav" / f"{u}.wav") for u in made})
        new_utt2spk = {u: rename(k, utt2spk[old]) for u, (k, old, _) in made.items()}
        write_table(tmp / "utt2spk", new_utt2spk)
        write_table(tmp / "spk2utt", spk2utt_from_utt2spk(new_utt2spk))
        write_table(tmp / "utt2dur", {u: f"{c.dur_s:.4f}" for u, (_, _, c) in made.items()})
        for name, table in tables.items():
            write_table(
                tmp / name, {u: table[old] for u, (_, old, _) in made.items() if old in table}
            )
        if ctm is not None:
            speed_of = {(k, old): c.speed * c.tempo for k, old, c in made.values()}
            entries = [
                CtmEntry(rename(k, e.utt), e.channel, e.start_s / s, e.dur_s / s, e.word)
                for k in range(1, cfg.copies + 1)
                for e in ctm
                if (s := speed_of.get((k, e.utt))) is not None
            ]
            write_ctm(tmp / "ctm", entries)
        with atomic_write(tmp / "augment.tsv") as f:
            f.write("utt\tsource\taugmentation\n")
            for u in c_sorted(made):
                f.write(f"{u}\t{made[u][1]}\t{made[u][2].describe()}\n")
    summary = AugmentSummary(len(made), sum(c.dur_s for _, _, c in made.values()) / 3600)
    for _, _, c in made.values():
        for key in c.kinds():
            summary.counts[key] = summary.counts.get(key, 0) + 1
    return summary
