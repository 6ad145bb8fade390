import math
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from speechseq.core import checkpoint as ckpt
from speechseq.core.trainer import TrainConfig
from speechseq.errors import SpeechseqError

from .toy import TOY_CFG, ToyTask, fit_toy, toy_reader


def test_training_lowers_the_loss_and_writes_the_exp_dir(tmp_path):
    state = fit_toy(tmp_path / "exp", TrainConfig(**{**TOY_CFG.__dict__, "max_epochs": 6}))
    losses = [r["train_loss"] for r in state.history]
    assert losses[-1] < losses[0]
    for name in ("final.pt", "metrics.csv", "curves.png", "checkpoints/best.pt"):
        assert (tmp_path / "exp" / name).is_file(), name
    assert (tmp_path / "exp" / "metrics.csv").read_text().count("\n") == 7  # header + 6 epochs


def test_step_checkpoints_rotate_keeping_exactly_the_newest(tmp_path):
    state = fit_toy(tmp_path / "exp")
    steps = ckpt.listing(tmp_path / "exp" / "checkpoints", "step")
    written = list(range(TOY_CFG.checkpoint_every, state.step + 1, TOY_CFG.checkpoint_every))
    assert len(written) > TOY_CFG.keep_checkpoints  # rotation had something to remove
    assert [p.name for p in steps] == [f"step-{n}.pt" for n in written[-TOY_CFG.keep_checkpoints :]]


def test_planted_nan_batch_is_skipped_and_counted(tmp_path):
    reader = toy_reader(nan_utt="u005")
    state = fit_toy(tmp_path / "exp", reader=reader)
    assert state.bad_steps == TOY_CFG.max_epochs  # the batch holding u005, once per epoch
    assert all(
        torch.isfinite(v).all() for v in ckpt.load(tmp_path / "exp" / "final.pt")["model"].values()
    )


def test_too_many_bad_steps_in_a_row_stop_training(tmp_path):
    reader = toy_reader(n=8)
    for utt in reader.utt_ids:
        reader.feats[utt][0, 0] = float("nan")
    with pytest.raises(SpeechseqError, match="in a row had a non-finite"):
        fit_toy(
            tmp_path / "exp", TrainConfig(**{**TOY_CFG.__dict__, "max_bad_steps": 3}), reader=reader
        )


def test_sigkill_and_resume_ends_where_an_uninterrupted_run_ends(tmp_path):
    fit_toy(tmp_path / "straight")
    ref = ckpt.load(tmp_path / "straight" / "final.pt")["model"]
    # A run killed with SIGKILL in its 11th step (6 batches an epoch: the newest checkpoint is
    # step-8.pt, two batches into the second epoch) ...
    script = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {str(Path(__file__).parent.parent.parent)!r})
        from tests.core.toy import ToyTask, fit_toy
        fit_toy({str(tmp_path / "killed")!r}, task=ToyTask(8, kill_at_step=11))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    assert not (tmp_path / "killed" / "final.pt").exists()
    # ... and resumed, gives the same final weights.
    fit_toy(tmp_path / "killed", resume=True)
    got = ckpt.load(tmp_path / "killed" / "final.pt")["model"]
    for k in ref:
        torch.testing.assert_close(got[k], ref[k], rtol=0, atol=0)


def test_average_last_k_epochs(tmp_path):
    cfg = TrainConfig(**{**TOY_CFG.__dict__, "average_last": 2})
    fit_toy(tmp_path / "exp", cfg)
    final = ckpt.load(tmp_path / "exp" / "final.pt")
    assert "average of epoch-2.pt, epoch-3.pt" == final["source"]


class ScriptedDevTask(ToyTask):
    """ToyTask whose dev loss follows ``dev_losses`` (one per epoch), keeping a copy of the
    weights each epoch was evaluated with."""

    def __init__(self, dim, dev_losses):
        super().__init__(dim)
        self.dev_losses, self.weights = list(dev_losses), []

    def evaluate(self, model, batches):
        self.weights.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return {"loss": self.dev_losses[len(self.weights) - 1]}


def test_early_stopping_stops_after_patience_epochs_without_improvement(tmp_path, capsys):
    # best at epoch 2, then 2 epochs without improvement: stop after epoch 4 of 10
    task = ScriptedDevTask(8, [3.0, 2.0, 2.5, 2.1, 1.0, 0.5, 0.4, 0.3, 0.2, 0.1])
    cfg = TrainConfig(**{**TOY_CFG.__dict__, "max_epochs": 10, "patience": 2})
    state = fit_toy(tmp_path / "exp", cfg, task=task, quiet=False)
    assert [r["epoch"] for r in state.history] == [1, 2, 3, 4]
    assert state.best_epoch == 2 and state.best_metric == 2.0
    assert "stopped (early stop: no dev improvement in 2 epochs)" in capsys.readouterr().err
    final = ckpt.load(tmp_path / "exp" / "final.pt")
    assert final["source"] == "best.pt (epoch 2)"
    for k, v in task.weights[1].items():  # the weights epoch 2 was evaluated with
        torch.testing.assert_close(final["model"][k], v, rtol=0, atol=0)
    assert any(not torch.equal(task.weights[3][k], v) for k, v in task.weights[1].items())


def test_learning_rate_follows_linear_warmup_then_cosine_to_min_ratio(tmp_path, spy_adamw):
    cfg = TrainConfig(**{**TOY_CFG.__dict__, "lr": 0.01, "warmup_steps": 5, "min_lr_ratio": 0.1})
    state = fit_toy(tmp_path / "exp", cfg)
    total = state.step  # batches per epoch x max_epochs, none skipped
    lr, w, m = 0.01, 5, 0.1
    want = [
        lr * (s + 1) / w
        if s < w
        else lr * (m + (1 - m) * 0.5 * (1 + math.cos(math.pi * (s - w) / (total - w))))
        for s in range(total)
    ]
    got = [g[0] for g in spy_adamw.lrs]
    assert len(got) == total > w + 5
    np.testing.assert_allclose(got, want, rtol=1e-9)
    assert got[w - 1] == pytest.approx(lr)  # the peak at the end of warmup
    # ... and after the last step the schedule has reached lr * min_lr_ratio
    assert state.history[-1]["lr"] == pytest.approx(lr * m)


class HugeGradientTask(ToyTask):
    """ToyTask's loss times 1e6: every raw gradient norm is far above any clip threshold."""

    def loss(self, model, batch):
        loss, stats = super().loss(model, batch)
        return 1e6 * loss, stats


def test_gradient_norm_is_clipped_to_clip_norm_before_the_update(tmp_path, spy_adamw):
    cfg = TrainConfig(**{**TOY_CFG.__dict__, "clip_norm": 0.5, "max_epochs": 1})
    fit_toy(tmp_path / "exp", cfg, task=HugeGradientTask(8))
    assert len(spy_adamw.grad_norms) > 3
    np.testing.assert_allclose(spy_adamw.grad_norms, 0.5, rtol=1e-4)


def test_training_off_a_terminal_prints_progress_lines(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SPEECHSEQ_PROGRESS_INTERVAL", "0.000001")  # a line at every batch
    cfg = TrainConfig(**{**TOY_CFG.__dict__, "max_epochs": 1})
    state = fit_toy(tmp_path / "exp", cfg, quiet=False)
    lines = [ln for ln in capsys.readouterr().err.splitlines() if " batches, " in ln]
    assert lines, "no progress line"
    for line in lines:
        assert re.fullmatch(
            r"epoch 1/1: \d+/\d+ batches, loss (\d+\.\d{3}|skip), \d+ s audio/s", line
        )
    done, total = map(int, lines[-1].split(": ")[1].split()[0].split("/"))
    assert done == total == len(lines)
    # the loss shown is the epoch's mean so far: at the last batch, the epoch's train_loss
    shown = float(re.search(r"loss (\S+),", lines[-1]).group(1))
    assert shown == pytest.approx(state.history[-1]["train_loss"], abs=1e-3)
