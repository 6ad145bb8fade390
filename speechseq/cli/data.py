"""``speechseq data ...``: make, check and reshape Kaldi data directories."""

from __future__ import annotations

from pathlib import Path

import typer

from speechseq.cli.common import NUM_JOBS, SEED, info, sub_app

group = sub_app(
    "Kaldi data directories: validate, fix, split, subset, combine, and prepare from audio folders."
)


@group.command("validate")
def validate(
    data_dir: Path = typer.Argument(..., help="Kaldi data directory."),
    no_audio: bool = typer.Option(
        False, "--no-audio", help="Do not decode audio (files are still checked to exist)."
    ),
    num_jobs: int = NUM_JOBS,
    max_shown: int = typer.Option(20, "--max-shown", min=1, help="Problems printed per kind."),
) -> None:
    """Check DIR like Kaldi's validate_data_dir.sh; one line per problem, exit 1 if any."""
    from speechseq.data.validate import data_dir_stats, format_problems, validate_data_dir

    problems = validate_data_dir(data_dir, check_audio=not no_audio, num_jobs=num_jobs)
    for line in format_problems(problems, max_per_kind=max_shown):
        print(line)
    errors = [p for p in problems if not p.warning]
    if errors:
        info(
            f"{data_dir}: {len(errors)} problem(s) — see above; many are repaired by: speechseq data fix {data_dir}"
        )
        raise typer.Exit(1)
    stats = data_dir_stats(data_dir)
    hours = f"{stats.hours:.3g} hours" if stats.hours is not None else "duration unknown"
    print(f"{data_dir}: OK ({stats.num_utts} utterances, {stats.num_spks} speakers, {hours})")


@group.command("fix")
def fix(
    data_dir: Path = typer.Argument(..., help="Kaldi data directory, repaired in place."),
    no_backup: bool = typer.Option(
        False, "--no-backup", help="Do not copy the original files to DIR/.backup/."
    ),
) -> None:
    """Keep the utterances in every table, drop empty transcripts, sort, rebuild spk2utt."""
    from speechseq.data.ops import fix_data_dir

    report = fix_data_dir(data_dir, backup=not no_backup)
    for line in report.lines():
        info(line)
    info(f"{data_dir}: {report.kept} utterances kept")


@group.command("split")
def split(
    data_dir: Path = typer.Argument(..., help="Kaldi data directory."),
    num_parts: int = typer.Argument(
        ..., min=1, help="Number of parts (at most the number of speakers)."
    ),
) -> None:
    """Split by speaker into DIR/split<N>/<1..N>, balanced by utterance count."""
    from speechseq.data.ops import split_data_dir

    for part in split_data_dir(data_dir, num_parts):
        print(part)


@group.command("subset")
def subset(
    data_dir: Path = typer.Argument(..., help="Kaldi data directory."),
    out: Path = typer.Argument(..., help="Output data directory."),
    num_utts: int | None = typer.Option(
        None, "--num-utts", help="Keep N utterances (the first N in C order)."
    ),
    speakers: str | None = typer.Option(
        None, "--speakers", help="Keep these speakers: a comma list or a file of ids."
    ),
    random: bool = typer.Option(
        False, "--random", help="With --num-utts: a random choice instead of the first N."
    ),
    seed: int = SEED,
) -> None:
    """Write a part of DIR (by utterance count or by speakers) to OUT."""
    from speechseq.data.ops import subset_data_dir

    n = subset_data_dir(
        data_dir, out, num_utts=num_utts, speakers=speakers, random=random, seed=seed
    )
    info(f"{out}: {n} utterances")


@group.command("combine")
def combine(
    out: Path = typer.Argument(..., help="Output data directory."),
    dirs: list[Path] = typer.Argument(..., help="Input data directories."),
) -> None:
    """Union of data directories; an id in two inputs is an error."""
    from speechseq.data.ops import combine_data_dirs

    for note in combine_data_dirs(out, dirs):
        info(f"note: {note}")
    info(f"{out}: combined {len(dirs)} directories")


@group.command("from-folder")
def from_folder(
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
    from speechseq.data.prepare import prepare_from_folder

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


@group.command("librispeech")
def librispeech(
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
    from speechseq.data.prepare import prepare_librispeech

    for line in prepare_librispeech(root, out, lowercase=lowercase).lines():
        info(line)


def register(app) -> None:
    app.add_typer(group, name="data")
