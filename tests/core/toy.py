"""A toy task and in-memory feature reader for testing the core without data dirs."""

from __future__ import annotations

import hashlib
import json
import os
import signal
from pathlib import Path

import numpy as np
import torch
from torch import nn

from speechseq.core.batching import ArrayReader, FeatDataset, make_loader
from speechseq.core.encoder import Encoder, EncoderConfig
from speechseq.core.task import Task
from speechseq.core.trainer import TrainConfig, Trainer


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


def frame_reader(n=16, dim=6, classes=3, seed=0) -> tuple[ArrayReader, dict[str, np.ndarray]]:
    """Features whose frames carry their class in the first ``classes`` dims, and the labels."""
    rng = np.random.default_rng(seed)
    feats, labels = {}, {}
    for i in range(n):
        t = int(rng.integers(10, 30))
        lab = rng.integers(0, classes, size=t)
        x = 0.3 * rng.standard_normal((t, dim)).astype(np.float32)
        x[np.arange(t), lab] += 1.5
        feats[f"f{i:03d}"], labels[f"f{i:03d}"] = x, lab.astype(np.int64)
    return ArrayReader(feats), labels


class FrameTask(Task):
    """A third task written from the contract alone: frame classification (as the hybrid's
    state posteriors), a frame-level target stream padded with -100, cross-entropy loss,
    accuracy as the dev metric (higher is better), stats and hooks recorded."""

    name = "frame-toy"
    metric_name = "accuracy"
    metric_mode = "max"
    pad_values = {"feats": 0.0, "frame_labels": -100}

    def __init__(self, dim: int, classes: int = 3, crash_at_epoch: int | None = None):
        self.dim, self.classes = dim, classes
        self.crash_at_epoch = crash_at_epoch  # raise when this epoch starts (an interrupted run)
        self.epochs_started: list[int] = []

    def build_model(self):
        enc = Encoder(self.dim, EncoderConfig(subsample="none", hidden=16, layers=1, dropout=0.0))
        return nn.ModuleDict({"encoder": enc, "out": nn.Linear(enc.output_dim, self.classes)})

    def meta(self):
        return {"input_dim": self.dim, "classes": self.classes}

    @classmethod
    def from_experiment(cls, exp, config, meta):
        return cls(meta["input_dim"], meta["classes"])

    def _logits(self, model, batch):
        h, _ = model["encoder"](batch["feats"], batch["lengths"])
        return model["out"](h)

    def loss(self, model, batch):
        assert batch["frame_labels"].shape == batch["feats"].shape[:2]  # lengths match the features
        logits = self._logits(model, batch)
        loss = nn.functional.cross_entropy(
            logits.transpose(1, 2), batch["frame_labels"], ignore_index=-100
        )
        return loss, {"frames": float(batch["frame_labels_lengths"].sum())}

    def evaluate(self, model, batches):
        right = total = 0
        loss_sum = 0.0
        for b in batches:
            logits = self._logits(model, b)
            mask = b["frame_labels"] != -100
            right += int((logits.argmax(-1) == b["frame_labels"])[mask].sum())
            total += int(mask.sum())
            loss_sum += float(
                nn.functional.cross_entropy(
                    logits.transpose(1, 2), b["frame_labels"], ignore_index=-100
                )
            )
        return {"loss": loss_sum, "accuracy": right / max(total, 1)}

    def on_epoch_start(self, epoch, model):
        if epoch == self.crash_at_epoch:
            raise RuntimeError(f"interrupted at epoch {epoch}")
        self.epochs_started.append(epoch)

    def parameter_groups(self, model):
        # a lower learning rate for the encoder than for the output layer
        enc = [p for p in model["encoder"].parameters() if p.requires_grad]
        return [{"params": enc, "lr_scale": 0.5}, {"params": list(model["out"].parameters())}]


def weights_sha256(state: dict[str, torch.Tensor]) -> str:
    """A hash of every tensor of a state dict (names in sorted order, raw bytes)."""
    h = hashlib.sha256()
    for name, t in sorted(state.items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class ToyNet(nn.Module):
    """ToyTask's network behind one ``forward(feats [N, T, C], lengths [N]) -> [N, C]``, so
    that DistributedDataParallel, which syncs gradients only through forward, can wrap it."""

    def __init__(self, dim: int):
        super().__init__()
        self.enc = Encoder(dim, EncoderConfig(subsample="stack2", hidden=16, layers=1, dropout=0.0))
        self.out = nn.Linear(self.enc.output_dim, dim)

    def forward(self, feats, lengths):
        h, out_lengths = self.enc(feats, lengths)
        return self.out(self.enc.final_state(h, out_lengths))


class RecordingToyTask(ToyTask):
    """ToyTask through ToyNet, logging to ``log_dir/rank<R>.jsonl`` (R from torchrun's RANK)
    the utterance ids of each training batch and, after each epoch, a hash of the weights."""

    name = "recording-toy"

    def __init__(self, dim: int, log_dir: str):
        super().__init__(dim)
        self.log = Path(log_dir) / f"rank{os.environ.get('RANK', '0')}.jsonl"
        self.epoch = 0

    def _write(self, record: dict) -> None:
        with self.log.open("a") as f:
            f.write(json.dumps(record) + "\n")

    def build_model(self):
        return ToyNet(self.dim)

    def _loss(self, model, batch):
        target = torch.stack(
            [batch["feats"][k, : int(n)].mean(0) for k, n in enumerate(batch["lengths"])]
        )
        return ((model(batch["feats"], batch["lengths"]) - target) ** 2).mean()

    def on_epoch_start(self, epoch, model):
        self.epoch = epoch

    def loss(self, model, batch):
        self._write({"epoch": self.epoch, "batch": list(batch["utt_ids"])})
        return self._loss(model, batch), {}

    def evaluate(self, model, batches):
        self._write({"epoch": self.epoch, "weights": weights_sha256(model.state_dict())})
        return super().evaluate(model, batches)


TOY_CFG = TrainConfig(
    max_epochs=3,
    max_frames=200,
    lr=5e-3,
    warmup_steps=2,
    checkpoint_every=4,
    device="cpu",
    deterministic=True,
)


def fit_toy(exp, cfg=TOY_CFG, reader=None, task=None, resume=False, quiet=True):
    """Train ``task`` (a ToyTask by default) on ``toy_reader()`` into ``exp``, with a 6-utterance
    dev set; returns the final TrainState. Shared by the trainer tests and the SIGKILL script."""
    reader = reader or toy_reader()
    task = task or ToyTask(reader.dim)
    trainer = Trainer(task, cfg, exp, quiet=quiet)
    train = make_loader(FeatDataset(reader), cfg.max_frames, shuffle=True, seed=cfg.seed)
    dev = make_loader(FeatDataset(toy_reader(n=6, seed=1)), cfg.max_frames, shuffle=False)
    return trainer.fit(train, dev, resume=resume)
