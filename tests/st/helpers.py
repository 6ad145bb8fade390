"""Helpers shared by the st tests and their fixtures (test modules never import each other)."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from speechseq.cli.main import app

runner = CliRunner()

ENC = "encoder: {subsample: stack2, hidden: 16, layers: 2, pyramidal: true, dropout: 0.0}\n"
DEC = "decoder: {embed: 8, hidden: 16, attention_dim: 8, dropout: 0.0}\n"
TRAIN = (
    "train: {max_epochs: 1, max_frames: 4000, warmup_steps: 2, device: cpu, checkpoint_every: 0}\n"
)
ST = "st: {units: char, spec_augment: false}\n"


def run(args, code=0):
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == code, res.output
    return res


def without(src: Path, dst: Path, *names: str) -> Path:
    shutil.copytree(src, dst)
    for n in names:
        (dst / n).unlink()
    return dst
