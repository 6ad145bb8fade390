"""Fixtures of the core tests."""

import pytest
import torch

from speechseq.cli.main import app
from tests.cli.helpers import TINY_CTC, TINY_EMB, runner


class SpyAdamW(torch.optim.AdamW):
    """AdamW recording, at each step, the learning rate of every group and the gradient norm."""

    lrs: list[list[float]] = []
    grad_norms: list[float] = []

    def step(self, closure=None):
        type(self).lrs.append([g["lr"] for g in self.param_groups])
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        type(self).grad_norms.append(
            float(
                torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
            )
        )
        return super().step(closure)


@pytest.fixture
def spy_adamw(monkeypatch):
    """torch.optim.AdamW replaced by SpyAdamW (the Trainer builds its optimiser through it)."""
    SpyAdamW.lrs, SpyAdamW.grad_norms = [], []
    monkeypatch.setattr(torch.optim, "AdamW", SpyAdamW)
    return SpyAdamW


def _ok(args):
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res


@pytest.fixture(scope="module")
def export_models(digits_corpus, words_corpus, tmp_path_factory):
    """A tiny CTC model (root/ctc, 2 layers) and a tiny embedder (root/emb) to export."""
    root = tmp_path_factory.mktemp("export")
    (root / "ctc.yaml").write_text(TINY_CTC.replace("layers: 1", "layers: 2"))
    (root / "emb.yaml").write_text(TINY_EMB)
    d = digits_corpus
    _ok(
        ["train-ctc", d / "train", "--dev", d / "dev", "--out", root / "ctc"]
        + ["--config", root / "ctc.yaml"]
    )
    _ok(
        ["train-embedder", words_corpus / "train", "--out", root / "emb"]
        + ["--config", root / "emb.yaml"]
    )
    return root


@pytest.fixture(scope="module")
def toy_exp(tmp_path_factory):
    """A frame-toy experiment trained for 2 epochs (final.pt and its meta; no config.yaml)."""
    from speechseq.core.batching import FeatDataset
    from speechseq.core.trainer import TrainConfig, Trainer
    from tests.core.toy import FrameTask, frame_reader

    exp = tmp_path_factory.mktemp("toy") / "exp"
    reader, labels = frame_reader()
    cfg = TrainConfig(
        max_epochs=2, max_frames=150, checkpoint_every=0, device="cpu", deterministic=True
    )
    trainer = Trainer(FrameTask(reader.dim), cfg, exp, quiet=True)
    train, _ = trainer.loaders(FeatDataset(reader, fields={"frame_labels": labels}))
    trainer.fit(train)
    return exp
