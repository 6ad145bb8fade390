"""``speechseq synth TASK OUT``: generate a synthetic corpus with espeak-ng."""

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

app = commands()


@app.command("synth")
def synth_cmd(
    task: str = typer.Argument(..., help="digits | commands | words | translate"),
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
    seed: int = SEED,
    num_jobs: int = NUM_JOBS,
) -> None:
    """Generate a synthetic spoken corpus (digits, commands, words, translate) with espeak-ng.

    Speaks TASK sentences in many voices and writes one Kaldi data dir per set, with word
    timings, into OUT/<set>/.
    """
    if task not in TASKS:
        raise UsageError(f"unknown task '{task}' — choose one of: {', '.join(TASKS)}")
    s = synthesize_corpus(
        task, out, num_utts, seed, num_jobs, num_speakers, num_heldout_speakers, log=info
    )
    for name, (n, spk, hours) in s.sets.items():
        info(f"{out / name}: {n} utterances, {spk} speakers, {hours:.3f} hours")
    info(
        f"synthesized {s.num_utts} utterances in {s.elapsed_s:.1f} s ({s.utts_per_s:.1f} utterances/s, -j {num_jobs})"
    )
