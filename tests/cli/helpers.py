"""Helpers shared by the cli tests and their fixtures (test modules never import each other)."""

from __future__ import annotations

from typer.testing import CliRunner

TINY_CTC = (
    "encoder: {subsample: stack3, hidden: 16, layers: 1, dropout: 0.0}\n"
    "train: {max_epochs: 1, max_frames: 4000, warmup_steps: 2, device: cpu, checkpoint_every: 0}\n"
    "ctc: {spec_augment: false}\n"
)


TINY_EMB = (
    "encoder: {subsample: none, rnn: gru, hidden: 8, layers: 1, dropout: 0.0}\n"
    "train: {max_epochs: 1, max_frames: 3000, warmup_steps: 2, device: cpu, checkpoint_every: 0}\n"
    "embed: {dim: 8, decoder_hidden: 8}\n"
)


runner = CliRunner()


NO_SPACE = "No space left on device"
