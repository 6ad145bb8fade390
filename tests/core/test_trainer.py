import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from speechseq.core import checkpoint as ckpt
from speechseq.core.batching import FeatDataset, make_loader
from speechseq.core.trainer import TrainConfig, Trainer
from speechseq.errors import SpeechseqError

from .toy import ToyTask, toy_reader

CFG = TrainConfig(
    max_epochs=3,
    max_frames=200,
    lr=5e-3,
    warmup_steps=2,
    checkpoint_every=4,
    device="cpu",
    deterministic=True,
)


def _fit(exp, cfg=CFG, reader=None, task=None, resume=False):
    reader = reader or toy_reader()
    task = task or ToyTask(reader.dim)
    trainer = Trainer(task, cfg, exp, quiet=True)
    train = make_loader(FeatDataset(reader), cfg.max_frames, shuffle=True, seed=cfg.seed)
    dev = make_loader(FeatDataset(toy_reader(n=6, seed=1)), cfg.max_frames, shuffle=False)
    return trainer.fit(train, dev, resume=resume)


def test_training_lowers_the_loss_and_writes_the_exp_dir(tmp_path):
    state = _fit(tmp_path / "exp", TrainConfig(**{**CFG.__dict__, "max_epochs": 6}))
    losses = [r["train_loss"] for r in state.history]
    assert losses[-1] < losses[0]
    for name in ("final.pt", "metrics.csv", "curves.png", "checkpoints/best.pt"):
        assert (tmp_path / "exp" / name).is_file(), name
    assert (tmp_path / "exp" / "metrics.csv").read_text().count("\n") == 7  # header + 6 epochs


def test_step_checkpoints_rotate_keeping_exactly_the_newest(tmp_path):
    state = _fit(tmp_path / "exp")
    steps = ckpt.listing(tmp_path / "exp" / "checkpoints", "step")
    written = list(range(CFG.checkpoint_every, state.step + 1, CFG.checkpoint_every))
    assert len(written) > CFG.keep_checkpoints  # rotation had something to remove
    assert [p.name for p in steps] == [f"step-{n}.pt" for n in written[-CFG.keep_checkpoints :]]


def test_planted_nan_batch_is_skipped_and_counted(tmp_path):
    reader = toy_reader(nan_utt="u005")
    state = _fit(tmp_path / "exp", reader=reader)
    assert state.bad_steps == CFG.max_epochs  # the batch holding u005, once per epoch
    assert all(
        torch.isfinite(v).all() for v in ckpt.load(tmp_path / "exp" / "final.pt")["model"].values()
    )


def test_too_many_bad_steps_in_a_row_stop_training(tmp_path):
    reader = toy_reader(n=8)
    for utt in reader.utt_ids:
        reader.feats[utt][0, 0] = float("nan")
    with pytest.raises(SpeechseqError, match="in a row had a non-finite"):
        _fit(tmp_path / "exp", TrainConfig(**{**CFG.__dict__, "max_bad_steps": 3}), reader=reader)


def test_sigkill_and_resume_ends_where_an_uninterrupted_run_ends(tmp_path):
    _fit(tmp_path / "straight")
    ref = ckpt.load(tmp_path / "straight" / "final.pt")["model"]
    # A run killed with SIGKILL in its 7th step (after the step-4 checkpoint, mid-epoch) ...
    script = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {str(Path(__file__).parent.parent.parent)!r})
        from tests.core.test_trainer import _fit
        from tests.core.toy import ToyTask, toy_reader
        _fit({str(tmp_path / "killed")!r}, task=ToyTask(8, kill_at_step=7))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    assert not (tmp_path / "killed" / "final.pt").exists()
    # ... and resumed, gives the same final weights.
    _fit(tmp_path / "killed", resume=True)
    got = ckpt.load(tmp_path / "killed" / "final.pt")["model"]
    for k in ref:
        torch.testing.assert_close(got[k], ref[k], rtol=0, atol=0)


def test_average_last_k_epochs(tmp_path):
    cfg = TrainConfig(**{**CFG.__dict__, "average_last": 2})
    _fit(tmp_path / "exp", cfg)
    final = ckpt.load(tmp_path / "exp" / "final.pt")
    assert "average of epoch-2.pt, epoch-3.pt" == final["source"]
