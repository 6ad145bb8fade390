"""``speechseq synth TASK OUT``: generate a synthetic corpus with espeak-ng and/or Piper."""

from __future__ import annotations

from pathlib import Path

import typer

from speechseq.cli.common import NUM_JOBS, SEED, commands, info, num_utts_option
from speechseq.errors import UsageError
from speechseq.synth.corpus import (
    DEFAULT_HELDOUT_SPEAKERS,
    DEFAULT_TRAIN_SPEAKERS,
    TASKS,
    synthesize_corpus,
)
from speechseq.synth.voices import ENGINES

app = commands()


@app.command("synth")
def synth_cmd(
    task: str = typer.Argument(..., help="digits | commands | words | translate | commands-std"),
    out: Path = typer.Argument(
        ..., help="Output folder; gets one Kaldi data dir per set (existing set dirs are replaced)."
    ),
    num_utts: int = num_utts_option(1000, "Utterances in all sets together (about 80/10/10)."),
    num_speakers: int = typer.Option(
        DEFAULT_TRAIN_SPEAKERS,
        "--num-speakers",
        min=1,
        help="Training speakers (at most one per utterance).",
    ),
    num_heldout_speakers: int = typer.Option(
        DEFAULT_HELDOUT_SPEAKERS,
        "--num-heldout-speakers",
        min=1,
        help="Speakers in each held-out set.",
    ),
    engine: str = typer.Option(
        "espeak",
        "--engine",
        help="espeak (espeak-ng voices) | piper (the neural en_US-joe-medium voice made into many "
        "speakers by VTLP and pitch shift; needs speechseq[piper]) | mix (each speaker one of the two).",
    ),
    dry_out: Path | None = typer.Option(
        None,
        "--dry-out",
        help="Also write each set as it sounds before its speaker's room and noise, in "
        "DRY_OUT/<set>/ (same utterance ids, lengths and word timings): a close-talking copy to "
        "align on, as Kaldi's AMI recipe aligns distant speech with close-talking alignments.",
    ),
    seed: int = SEED,
    num_jobs: int = NUM_JOBS,
) -> None:
    """Generate a synthetic spoken corpus (digits, commands, words, translate) with espeak-ng
    or Piper.

    Speaks TASK sentences in many voices and writes one Kaldi data dir per set, with word
    timings, into OUT/<set>/. The same --seed gives the same sentences with every --engine.
    """
    if task not in TASKS:
        raise UsageError(f"unknown task '{task}' — choose one of: {', '.join(TASKS)}")
    if engine not in ENGINES:
        raise UsageError(f"--engine {engine}: choose one of: {', '.join(ENGINES)}")
    s = synthesize_corpus(
        task,
        out,
        num_utts,
        seed,
        num_jobs,
        num_speakers,
        num_heldout_speakers,
        log=info,
        engine=engine,
        dry_out=dry_out,
    )
    for name, (n, spk, hours) in s.sets.items():
        info(f"{out / name}: {n} utterances, {spk} speakers, {hours:.3f} hours")
        if dry_out is not None:
            info(f"{dry_out / name}: the same utterances without room and noise")
    info(
        f"synthesized {s.num_utts} utterances in {s.elapsed_s:.1f} s ({s.utts_per_s:.1f} utterances/s, -j {num_jobs}, --engine {engine})"
    )
