"""A toy task and in-memory feature reader for testing the core without data dirs."""

from __future__ import annotations

import os
import signal

import numpy as np
import torch
from torch import nn

from speechseq.core.batching import ArrayReader
from speechseq.core.encoder import Encoder, EncoderConfig
from speechseq.core.task import Task


def toy_reader(n=24, dim=8, seed=0, nan_utt=None) -> ArrayReader:
    rng = np.random.default_rng(seed)
    feats = {}
    for i in range(n):
        t = int(rng.integers(20, 60))
        feats[f"u{i:03d}"] = rng.standard_normal((t, dim)).astype(np.float32)
    if nan_utt is not None:
        feats[nan_utt][3, 2] = np.nan
    return ArrayReader(feats)


class ToyTask(Task):
    """Predict each utterance's mean feature vector from the encoder's final state (MSE)."""

    metric_name = "loss"
    metric_mode = "min"

    def __init__(self, dim: int, kill_at_step: int | None = None):
        self.dim = dim
        self.kill_at_step = kill_at_step
        self.calls = 0

    def build_model(self):
        enc = Encoder(self.dim, EncoderConfig(subsample="stack2", hidden=16, layers=2, dropout=0.1))
        return nn.ModuleDict({"enc": enc, "out": nn.Linear(enc.output_dim, self.dim)})

    name = "toy"

    def meta(self):
        return {"input_dim": self.dim}

    def _loss(self, model, batch):
        h, lengths = model["enc"](batch["feats"], batch["lengths"])
        pred = model["out"](model["enc"].final_state(h, lengths))
        target = torch.stack(
            [batch["feats"][k, : int(n)].mean(0) for k, n in enumerate(batch["lengths"])]
        )
        return ((pred - target) ** 2).mean()

    def loss(self, model, batch):
        self.calls += 1
        if self.kill_at_step is not None and self.calls == self.kill_at_step:
            os.kill(os.getpid(), signal.SIGKILL)
        return self._loss(model, batch), {}

    def evaluate(self, model, batches):
        return {"loss": float(np.mean([float(self._loss(model, b)) for b in batches]))}
