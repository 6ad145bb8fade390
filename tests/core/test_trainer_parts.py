"""The Trainer's parts in process: TrainConfig's defaults, the random-state snapshot a
checkpoint keeps, torchrun's environment, the learning-rate factor by hand, which dev figure
counts as better, batches moved to the device."""

from __future__ import annotations

import random
import re
from dataclasses import fields
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from speechseq.core.trainer import (
    TrainConfig,
    Trainer,
    TrainState,
    _distributed,
    _rng_state,
    _set_rng_state,
    seed_everything,
)

# The defaults `speechseq train-* --help` and config.yaml show.
DEFAULTS = {
    "max_epochs": 30, "max_frames": 12000, "lr": 2e-3, "weight_decay": 1e-2, "warmup_steps": 200,
    "min_lr_ratio": 0.05, "clip_norm": 5.0, "max_bad_steps": 20, "checkpoint_every": 500,
    "keep_checkpoints": 3, "patience": 0, "average_last": 1, "precision": "auto",
    "device": "auto", "seed": 0, "num_workers": 0, "deterministic": False, "init_from": "",
    "init_part": "", "freeze": "",
}  # fmt: skip


def test_train_config_defaults():
    cfg = TrainConfig()
    assert {f.name: getattr(cfg, f.name) for f in fields(cfg)} == DEFAULTS
    state = TrainState()
    assert (state.run_id, state.epoch, state.step, state.batch_in_epoch) == ("", 0, 0, 0)
    assert (state.bad_steps, state.bad_in_a_row, state.best_metric) == (0, 0, None)
    assert (state.best_epoch, state.epochs_since_best, state.history) == (-1, 0, [])


@pytest.mark.parametrize(
    "device, ok",
    [("auto", True), ("cpu", True), ("cuda", True), ("mps", True), ("cuda:0", True),
     ("cuda:12", True), ("cuda:", False), ("cuda:x", False), ("tpu", False), ("CPU", False)],
)  # fmt: skip
def test_device_setting_accepts_the_documented_forms(device, ok):
    from speechseq.core.trainer import _device_ok

    assert _device_ok(device) is ok


def test_the_random_state_snapshot_replays_every_generator():
    seed_everything(3)
    snap = _rng_state()
    assert isinstance(snap["numpy"][1], torch.Tensor)  # loadable with weights_only=True
    draws = (random.random(), float(np.random.rand()), float(torch.rand(1)), np.random.randn())
    random.random(), np.random.rand(5), torch.rand(5)  # move on
    _set_rng_state(snap)
    assert (
        random.random(),
        float(np.random.rand()),
        float(torch.rand(1)),
        np.random.randn(),
    ) == draws


def test_seed_everything_seeds_python_numpy_and_torch():
    seed_everything(7)
    a = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    seed_everything(7)
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == a
    seed_everything(2**32 + 7)  # NumPy takes the seed modulo 2**32
    assert float(np.random.rand()) == a[1]
    seed_everything(8)
    assert random.random() != a[0]
    np.random.seed(7)  # NumPy is seeded with the seed itself
    assert float(np.random.rand()) == a[1]


def test_torchrun_environment_gives_rank_world_and_local_rank(monkeypatch):
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    assert _distributed() == (0, 1, 0)
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("RANK", "5")
    assert _distributed() == (0, 1, 0)
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    assert _distributed() == (3, 4, 0)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert _distributed() == (3, 4, 1)
    monkeypatch.setenv("WORLD_SIZE", "2")  # the smallest torchrun world
    monkeypatch.setenv("RANK", "1")
    assert _distributed() == (1, 2, 1)


def trainer(tmp_path, task=None, **cfg) -> Trainer:
    task = task or SimpleNamespace(metric_mode="min")
    return Trainer(task, TrainConfig(device="cpu", **cfg), tmp_path / "exp", quiet=True)


def test_learning_rate_factor_by_hand(tmp_path):
    f = trainer(tmp_path, warmup_steps=4, min_lr_ratio=0.1)._schedule(total_steps=14)
    assert [f(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert f(4) == pytest.approx(1.0)  # the cosine starts at the peak
    assert f(9) == pytest.approx(0.1 + 0.9 * 0.5)  # half way: cos(pi / 2) = 0
    assert f(14) == pytest.approx(0.1) and f(100) == pytest.approx(0.1)  # and stays at the floor
    no_warmup = trainer(tmp_path, warmup_steps=0, min_lr_ratio=0.0)._schedule(total_steps=1)
    assert no_warmup(0) == pytest.approx(1.0) and no_warmup(1) == pytest.approx(0.0)


@pytest.mark.parametrize(
    "mode, best, metric, better",
    [("min", None, 3.0, True), ("min", None, float("nan"), False), ("min", float("inf"), 3.0, True),
     ("min", float("nan"), float("inf"), False), ("min", 2.0, 1.0, True), ("min", 2.0, 2.0, False),
     ("min", 2.0, 3.0, False), ("max", 2.0, 3.0, True), ("max", 2.0, 2.0, False),
     ("max", 2.0, 1.0, False)],
)  # fmt: skip
def test_which_dev_figure_counts_as_an_improvement(tmp_path, mode, best, metric, better):
    t = trainer(tmp_path, task=SimpleNamespace(metric_mode=mode))
    assert t._improved(metric, TrainState(best_metric=best)) is better


def test_batches_go_to_the_device_with_their_other_fields(tmp_path):
    t = trainer(tmp_path)
    batch = {"feats": torch.ones(2, 3), "utt_ids": ["a", "b"], "n": 3}
    moved = t.to_device(batch)
    assert moved["feats"].device == torch.device("cpu") and moved["utt_ids"] == ["a", "b"]
    assert moved["n"] == 3 and torch.equal(moved["feats"], batch["feats"])
    assert t.amp_dtype is None and t.rank == 0 and t.world == 1 and t.quiet


def test_the_log_goes_to_stderr_unless_quiet(tmp_path, capsys):
    loud = Trainer(
        SimpleNamespace(metric_mode="min"), TrainConfig(device="cpu"), tmp_path, quiet=False
    )
    loud.log("epoch 1")
    trainer(tmp_path).log("not shown")
    assert capsys.readouterr().err == "epoch 1\n"


def test_a_run_says_what_it_trains_each_epoch_and_where_it_stopped(tmp_path, capsys):
    import csv
    import re

    from speechseq.core import checkpoint as ckpt
    from tests.core.toy import TOY_CFG, fit_toy

    cfg = TrainConfig(**{**TOY_CFG.__dict__, "max_epochs": 2, "checkpoint_every": 0})
    exp = tmp_path / "exp"
    state = fit_toy(exp, cfg, quiet=False)
    err = [ln for ln in capsys.readouterr().err.splitlines() if " batches, " not in ln]
    n_batches = state.step // 2
    assert re.fullmatch(
        rf"training ToyTask: 0\.\d\dM parameters, {n_batches} batches/epoch, device cpu, world size 1",
        err[0],
    )
    for k in (1, 2):
        assert re.fullmatch(
            rf"epoch {k}/2: train_loss=\d+\.\d{{4}} dev_loss=\d+\.\d{{4}} \(\d+\.\ds, [\d.]+ s audio/s, 0 bad steps\)",
            err[k],
        ), err[k]
    assert err[3] == (
        f"stopped (max epochs); best loss {state.best_metric} at epoch {state.best_epoch}"
    )
    assert err[4] == f"wrote {exp / 'final.pt'} (best.pt (epoch {state.best_epoch}))"
    assert ckpt.load(exp / "final.pt")["source"] == f"best.pt (epoch {state.best_epoch})"
    rows = list(csv.DictReader((exp / "metrics.csv").read_text().splitlines()))
    assert list(rows[0]) == [
        "epoch", "step", "train_loss", "lr", "audio_s_per_s", "epoch_time_s", "bad_steps", "dev_loss"
    ]  # fmt: skip
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert [int(r["step"]) for r in rows] == [n_batches, 2 * n_batches]
    for r, h in zip(rows, state.history, strict=True):
        assert float(r["train_loss"]) == h["train_loss"] == round(h["train_loss"], 5)
        assert float(r["dev_loss"]) == h["dev_loss"] == round(h["dev_loss"], 5)
        assert h["audio_s_per_s"] == round(h["audio_s_per_s"], 1) > 0
    best = state.history[state.best_epoch - 1]["dev_loss"]
    assert round(state.best_metric, 5) == best == min(h["dev_loss"] for h in state.history)
    # resuming says where it continues; with no checkpoint it says it starts from scratch
    cfg3 = TrainConfig(**{**cfg.__dict__, "max_epochs": 3})
    fit_toy(exp, cfg3, quiet=False, resume=True)
    err = capsys.readouterr().err
    assert f"resume: continuing from epoch-2.pt (epoch 2, step {2 * n_batches})\n" in err
    assert "epoch 3/3: " in err and "epoch 2/3: " not in err
    fit_toy(tmp_path / "fresh", cfg, quiet=False, resume=True)
    err = capsys.readouterr().err
    assert (
        f"resume: no checkpoint in {tmp_path / 'fresh' / 'checkpoints'}, starting from scratch\n"
        in err
    )


def test_loaders_shuffle_training_batches_for_this_rank_only(tmp_path, monkeypatch):
    from speechseq.core.batching import ArrayReader, FeatDataset

    monkeypatch.setenv("WORLD_SIZE", "1")
    t = trainer(tmp_path, max_frames=100, seed=5)
    t.rank, t.world = 1, 2  # as under torchrun, without a process group
    feats = {f"u{i}": np.zeros((10 + i, 2), np.float32) for i in range(8)}
    t.task = SimpleNamespace(metric_mode="min", collate=lambda items: items)
    train, dev = t.loaders(FeatDataset(ArrayReader(feats)), FeatDataset(ArrayReader(feats)))
    s = train.batch_sampler
    assert (s.shuffle, s.seed, s.rank, s.world_size, s.max_frames) == (True, 5, 1, 2, 100)
    d = dev.batch_sampler
    assert (d.shuffle, d.rank, d.world_size) == (False, 0, 1)  # every rank sees the whole dev set
    assert t.loaders(FeatDataset(ArrayReader(feats)))[1] is None


class _Net(torch.nn.Module):
    def __init__(self, enc=3, out=2):
        super().__init__()
        self.enc = torch.nn.Linear(2, enc)
        self.out = torch.nn.Linear(enc, out)


def test_init_weights_copies_a_part_or_everything_that_fits(tmp_path):
    from speechseq.core import checkpoint as ckpt
    from speechseq.core.trainer import init_weights

    src = _Net()
    torch.nn.init.constant_(src.enc.weight, 7.0)
    torch.nn.init.constant_(src.out.weight, 9.0)
    (tmp_path / "exp").mkdir()
    ckpt.save({"model": src.state_dict()}, tmp_path / "exp" / "final.pt")
    ckpt.save({"model": src.state_dict()}, tmp_path / "epoch-3.pt")

    dst = _Net()
    assert init_weights(dst, str(tmp_path / "exp"), "enc") == (
        2,
        str(tmp_path / "exp" / "final.pt"),
    )
    assert bool((dst.enc.weight == 7).all()) and not bool((dst.out.weight == 9).any())
    dst = _Net(out=5)  # out's shapes differ: without a part, only what fits is copied
    assert init_weights(dst, str(tmp_path / "epoch-3.pt")) == (2, str(tmp_path / "epoch-3.pt"))
    assert bool((dst.enc.weight == 7).all())


def test_init_weights_errors_name_the_part_and_the_first_difference(tmp_path):
    from speechseq.core import checkpoint as ckpt
    from speechseq.core.trainer import init_weights
    from speechseq.errors import SpeechseqError

    ckpt.save({"model": _Net().state_dict()}, tmp_path / "src.pt")
    src = str(tmp_path / "src.pt")
    with pytest.raises(SpeechseqError) as e:
        init_weights(_Net(), src, "decoder")
    assert (
        str(e.value)
        == f"--init-from {src}: the model has no parameters under 'decoder' — its parts are enc, out"
    )
    with pytest.raises(SpeechseqError) as e:
        init_weights(_Net(enc=4), src, "enc")
    assert str(e.value) == (
        f"--init-from {src} --init-part enc: shapes differ: enc.bias (3,) vs (4,) — give the same "
        "encoder settings (and input features) as the source experiment"
    )

    class Renamed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = torch.nn.Module()
            self.enc.proj = torch.nn.Linear(2, 3)

    with pytest.raises(SpeechseqError) as e:
        init_weights(Renamed(), src, "enc")
    assert str(e.value).startswith(
        f"--init-from {src} --init-part enc: 2 tensor(s) the new model lacks (first: enc.bias) — "
    )
    with pytest.raises(SpeechseqError) as e:
        init_weights(Renamed(), src)
    assert str(e.value) == (
        f"--init-from {src}: no tensor matches the new model by name and shape — give the same "
        "encoder settings, or --init-part encoder"
    )


def test_a_setting_out_of_range_is_named_under_train():
    from speechseq.errors import UsageError

    with pytest.raises(UsageError) as e:
        TrainConfig(lr=-1)
    assert str(e.value) == (
        "train.lr -1: must be a number > 0 — fix it in the config or on the command line"
    )


class _Wrapped(torch.nn.Module):
    """A model wrapped as DistributedDataParallel wraps it: the real one is ``.module``."""

    def __init__(self, net):
        super().__init__()
        self.module = net


def test_checkpoints_and_evaluation_use_the_model_inside_a_ddp_wrapper(tmp_path):
    from speechseq.core import checkpoint as ckpt

    net = _Net()
    seen = []
    task = SimpleNamespace(
        metric_mode="min",
        evaluate=lambda m, batches: seen.append((m, m.training, list(batches))) or {"x": 1.0},
    )
    t = trainer(tmp_path, task=task)
    t.ckpt_dir.mkdir(parents=True)
    opt = torch.optim.AdamW(net.parameters())
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    path = t._save("step-1.pt", _Wrapped(net), opt, sched, scaler, TrainState(run_id="r"))
    saved = ckpt.load(path)
    assert list(saved["model"]) == list(net.state_dict())  # no "module." prefix
    assert saved["state"]["run_id"] == "r" and set(saved) == {
        "model",
        "optimizer",
        "scheduler",
        "scaler",
        "state",
        "rng",
    }
    assert (t.ckpt_dir / "latest").read_text() == "step-1.pt\n"
    wrapped = _Wrapped(net)
    net.train()
    assert t.evaluate(wrapped, [{"feats": torch.zeros(1)}]) == {"x": 1.0}
    assert seen[0][:2] == (net, False) and net.training  # evaluated in eval mode, then training
    assert torch.equal(seen[0][2][0]["feats"], torch.zeros(1))


def test_final_pt_is_the_best_epoch_unless_averaging_has_epochs_to_average(tmp_path):
    from speechseq.core import checkpoint as ckpt
    from tests.core.toy import TOY_CFG, fit_toy

    one = TrainConfig(**{**TOY_CFG.__dict__, "max_epochs": 1, "average_last": 3})
    fit_toy(tmp_path / "a", one)
    assert ckpt.load(tmp_path / "a" / "final.pt")["source"] == "best.pt (epoch 1)"
    two = TrainConfig(**{**TOY_CFG.__dict__, "max_epochs": 2, "average_last": 3})
    fit_toy(tmp_path / "b", two)
    assert ckpt.load(tmp_path / "b" / "final.pt")["source"] == "average of epoch-1.pt, epoch-2.pt"


def test_without_a_finite_dev_figure_final_pt_is_the_last_epoch(tmp_path):
    from speechseq.core import checkpoint as ckpt
    from tests.core.toy import TOY_CFG, ToyTask, fit_toy

    class NoFigure(ToyTask):
        def evaluate(self, model, batches):
            return {"loss": float("nan")}

    cfg = TrainConfig(**{**TOY_CFG.__dict__, "max_epochs": 2, "checkpoint_every": 0})
    state = fit_toy(tmp_path / "exp", cfg, task=NoFigure(8))
    assert state.best_epoch == -1 and not (tmp_path / "exp" / "checkpoints" / "best.pt").exists()
    final = ckpt.load(tmp_path / "exp" / "final.pt")
    last = ckpt.load(tmp_path / "exp" / "checkpoints" / "epoch-2.pt")
    assert final["source"] == "epoch-2.pt"
    assert all(torch.equal(final["model"][k], v) for k, v in last["model"].items())


def test_only_rank_0_writes_the_metrics(tmp_path):
    t = trainer(tmp_path)
    t.exp.mkdir(parents=True)
    state = TrainState(history=[{"epoch": 1, "train_loss": 0.5}, {"epoch": 2, "dev_x": 1.0}])
    t.rank = 1
    t._write_metrics(state)
    assert not (t.exp / "metrics.csv").exists()
    t.rank = 0
    t._write_metrics(TrainState())
    assert not (t.exp / "metrics.csv").exists()  # nothing to write yet
    t._write_metrics(state)
    assert (t.exp / "metrics.csv").read_text().splitlines() == [
        "epoch,train_loss,dev_x", "1,0.5,", "2,,1.0"
    ]  # fmt: skip


def test_the_curves_have_a_panel_for_the_loss_and_each_dev_figure(tmp_path, monkeypatch):
    import struct

    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    from speechseq.core.trainer import plot_curves

    seen = []
    real = Figure.savefig

    def spy(fig, f, **kw):
        seen.append(
            {
                "size": tuple(fig.get_size_inches()),
                "rows": len({round(a.get_position().y0, 3) for a in fig.axes}),
                "titles": [a.get_title() for a in fig.axes],
                "xlabels": [a.get_xlabel() for a in fig.axes],
                "lines": [
                    (list(ln.get_xdata()), list(ln.get_ydata()), ln.get_marker())
                    for a in fig.axes
                    for ln in a.lines
                ],
                "grid": [a.xaxis.get_gridlines()[0].get_alpha() for a in fig.axes],
                "kw": kw,
            }
        )
        return real(fig, f, **kw)

    monkeypatch.setattr(Figure, "savefig", spy)
    history = [
        {"epoch": 1, "train_loss": 2.0, "lr": 0.1, "dev_wer": 50.0, "dev_cer": 20.0},
        {"epoch": 2, "train_loss": 1.0, "lr": 0.1, "dev_wer": 40.0},  # no dev_cer this epoch
    ]
    plot_curves(history, tmp_path / "curves.png")
    [fig] = seen
    assert fig["size"] == (12.0, 3.2) and fig["rows"] == 1
    assert fig["titles"] == ["train_loss", "dev_wer", "dev_cer"] and fig["xlabels"] == ["epoch"] * 3
    assert fig["lines"][:2] == [([1, 2], [2.0, 1.0], "o"), ([1, 2], [50.0, 40.0], "o")]
    xs, ys, _ = fig["lines"][2]
    assert xs == [1, 2] and ys[0] == 20.0 and np.isnan(ys[1])
    assert fig["grid"] == [0.3] * 3 and fig["kw"] == {"format": "png", "dpi": 100}
    png = (tmp_path / "curves.png").read_bytes()
    assert png[:4] == b"\x89PNG" and struct.unpack(">II", png[16:24]) == (1200, 320)
    assert plt.get_fignums() == []
    plot_curves([], tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


def test_autocast_only_when_a_mixed_precision_dtype_is_chosen(tmp_path):
    t = trainer(tmp_path)
    with t._autocast():
        assert not torch.is_autocast_enabled("cpu")
    t.amp_dtype = torch.bfloat16
    with t._autocast():
        assert (
            torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
        )
    assert not torch.is_autocast_enabled("cpu")


def test_a_non_finite_step_is_reported_with_its_utterances_and_counted(tmp_path, capsys):
    from speechseq.core import checkpoint as ckpt
    from speechseq.errors import SpeechseqError
    from tests.core.toy import TOY_CFG, fit_toy, toy_reader

    cfg = TrainConfig(**{**TOY_CFG.__dict__, "max_epochs": 1, "checkpoint_every": 1})
    state = fit_toy(tmp_path / "exp", cfg, reader=toy_reader(nan_utt="u005"), quiet=False)
    lines = [ln for ln in capsys.readouterr().err.splitlines() if "non-finite" in ln]
    assert len(lines) == 1 == state.bad_steps
    assert re.fullmatch(
        r"step \d+: non-finite loss \(utterances (u\d{3}, ){0,2}u\d{3}(…)?\); step skipped \(1 so far\)",
        lines[0],
    ), lines[0]
    shown = lines[0].split("(utterances ")[1].split(")")[0]
    assert "u005" in shown or shown.endswith("…")
    assert shown.count(",") <= 2
    # the step counters of a mid-epoch checkpoint: batches done in this epoch = steps so far
    mid = ckpt.load(tmp_path / "exp" / "checkpoints" / f"step-{state.step - 1}.pt")["state"]
    assert mid["batch_in_epoch"] == mid["step"] == state.step - 1 and mid["bad_in_a_row"] == 0
    # training stops at exactly max_bad_steps bad steps in a row
    reader = toy_reader(n=8)
    for utt in reader.utt_ids:
        reader.feats[utt][0, 0] = float("nan")
    bad = TrainConfig(**{**TOY_CFG.__dict__, "max_bad_steps": 2, "max_frames": 60})
    with pytest.raises(SpeechseqError) as e:
        fit_toy(tmp_path / "bad", bad, reader=reader, quiet=False)
    assert str(e.value).startswith("2 training steps in a row had a non-finite loss or gradient — ")
    assert capsys.readouterr().err.count("non-finite loss") == 2


def test_the_tensorboard_log_is_written_by_rank_0(tmp_path):
    from tests.core.toy import TOY_CFG, fit_toy

    fit_toy(tmp_path / "exp", TrainConfig(**{**TOY_CFG.__dict__, "max_epochs": 1}))
    assert list((tmp_path / "exp" / "tensorboard").glob("events.out.tfevents.*"))
    t = trainer(tmp_path)
    t.rank = 1
    assert t._tensorboard() is None


def test_freeze_and_init_from_say_what_they_did(tmp_path, capsys):
    from speechseq.core import checkpoint as ckpt
    from speechseq.errors import SpeechseqError

    ckpt.save({"model": _Net().state_dict()}, tmp_path / "src.pt")
    t = Trainer(
        SimpleNamespace(metric_mode="min"),
        TrainConfig(
            device="cpu",
            freeze=" enc ,out.bias",
            init_from=str(tmp_path / "src.pt"),
            init_part="enc",
        ),
        tmp_path / "exp",
    )
    net = _Net()
    t._prepare(net, fresh=True)
    assert [n for n, p in net.named_parameters() if not p.requires_grad] == [
        "enc.weight",
        "enc.bias",
        "out.bias",
    ]
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "freeze: 0.00M parameters under enc, out.bias kept fixed"
    assert err[1] == f"init-from {tmp_path / 'src.pt'}: 2 tensors under 'enc'"
    t._prepare(_Net(), fresh=False)  # a resumed model takes its weights from the checkpoint
    assert "init-from" not in capsys.readouterr().err
    whole = Trainer(
        SimpleNamespace(metric_mode="min"),
        TrainConfig(device="cpu", init_from=str(tmp_path / "src.pt")),
        tmp_path / "w",
    )
    whole._prepare(_Net(), fresh=True)
    assert capsys.readouterr().err == f"init-from {tmp_path / 'src.pt'}: 4 tensors\n"
    big = Trainer(
        SimpleNamespace(metric_mode="min"), TrainConfig(device="cpu", freeze="enc"), tmp_path / "x"
    )
    big._prepare(_Net(enc=100_000, out=100), fresh=True)
    assert "freeze: 0.30M parameters under enc kept fixed" in capsys.readouterr().err
    bad = Trainer(
        SimpleNamespace(metric_mode="min"),
        TrainConfig(device="cpu", freeze="decoder"),
        tmp_path / "y",
    )
    with pytest.raises(SpeechseqError) as e:
        bad._prepare(_Net(), fresh=True)
    assert (
        str(e.value)
        == "freeze 'decoder': no parameter has that prefix — parameter names start with enc, out"
    )


def test_a_fresh_run_over_old_checkpoints_still_starts_from_init_from(tmp_path, capsys):
    from tests.core.toy import TOY_CFG, fit_toy

    one = TrainConfig(**{**TOY_CFG.__dict__, "max_epochs": 1, "checkpoint_every": 0})
    fit_toy(tmp_path / "src", one)
    fit_toy(tmp_path / "exp", one)  # leaves checkpoints and a latest marker
    capsys.readouterr()
    again = TrainConfig(**{**one.__dict__, "init_from": str(tmp_path / "src")})
    fit_toy(tmp_path / "exp", again, quiet=False)
    err = capsys.readouterr().err
    assert f"init-from {tmp_path / 'src' / 'final.pt'}: " in err and "resume:" not in err


def test_the_optimiser_gets_the_learning_rate_and_weight_decay(tmp_path, monkeypatch):
    from tests.core.toy import TOY_CFG, fit_toy

    made = []
    real = torch.optim.AdamW

    def adamw(params, **kw):
        made.append(kw)
        return real(params, **kw)

    monkeypatch.setattr(torch.optim, "AdamW", adamw)
    cfg = TrainConfig(**{**TOY_CFG.__dict__, "max_epochs": 1, "lr": 3e-3, "weight_decay": 0.25})
    fit_toy(tmp_path / "exp", cfg)
    assert made == [{"lr": 3e-3, "weight_decay": 0.25}]


class _Recording:
    """Mixin for a toy task: records each step's loss and reports a per-step statistic."""

    def loss(self, model, batch):
        loss, _ = super().loss(model, batch)
        self.seen.append(float(loss.detach()))
        self.frames = getattr(self, "frames", []) + [float(batch["lengths"].sum())]
        return loss, {"frames": self.frames[-1]}


def test_epoch_rows_average_the_steps_and_the_metric_falls_back_to_the_train_loss(tmp_path):
    from speechseq.core.batching import FeatDataset, make_loader
    from tests.core.toy import TOY_CFG, ToyTask, toy_reader

    class Task(_Recording, ToyTask):
        pass

    for mode in ("min", "max"):
        task = Task(8)
        task.seen, task.frames, task.metric_mode = [], [], mode
        cfg = TrainConfig(**{**TOY_CFG.__dict__, "max_epochs": 2, "checkpoint_every": 0})
        t = Trainer(task, cfg, tmp_path / mode, quiet=True)
        train = make_loader(FeatDataset(toy_reader()), cfg.max_frames, shuffle=True, seed=cfg.seed)
        state = t.fit(train)  # no dev set: the training loss is the figure
        n = len(task.seen) // 2
        for k, row in enumerate(state.history):
            losses = task.seen[k * n : (k + 1) * n]
            assert row["train_loss"] == round(sum(losses) / n, 5)
            frames = task.frames[k * n : (k + 1) * n]
            assert row["train_frames"] == round(sum(frames) / n, 5) and row["train_frames"] > 0
            assert not any(key.startswith("dev_") for key in row)
            # seconds of audio per second: the epoch's frames (10 ms) over its time (rounded to 0.1 s)
            audio_s = row["train_frames"] * n * 0.01
            t, speed = row["epoch_time_s"], row["audio_s_per_s"]
            assert t == round(t, 1) and speed == round(speed, 1)
            assert audio_s / (t + 0.05) - 0.05 <= speed <= audio_s / max(t - 0.05, 1e-3) + 0.05
        train_losses = [sum(task.seen[k * n : (k + 1) * n]) / n for k in range(2)]
        if mode == "min":
            assert state.best_metric == pytest.approx(min(train_losses))
        else:  # a "max" task with no dev figure maximises minus the training loss
            assert state.best_metric == pytest.approx(-min(train_losses))
        assert state.best_epoch == 1 + train_losses.index(min(train_losses))


def test_tensorboard_holds_the_training_and_dev_curves(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from tests.core.toy import TOY_CFG, ToyTask, fit_toy

    class Task(_Recording, ToyTask):
        pass

    task = Task(8)
    task.seen = []
    cfg = TrainConfig(**{**TOY_CFG.__dict__, "max_epochs": 2, "checkpoint_every": 0})
    state = fit_toy(tmp_path / "exp", cfg, task=task)
    acc = EventAccumulator(str(tmp_path / "exp" / "tensorboard"))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert sorted(tags) == ["dev/loss", "train/frames", "train/loss", "train/lr"]
    loss = acc.Scalars("train/loss")
    assert [e.step for e in loss] == list(range(1, state.step + 1))
    assert [e.value for e in loss] == pytest.approx(task.seen, rel=1e-6)
    assert [e.step for e in acc.Scalars("dev/loss")] == [h["step"] for h in state.history]
    assert [e.value for e in acc.Scalars("dev/loss")] == pytest.approx(
        [h["dev_loss"] for h in state.history], abs=1e-5
    )
    assert acc.Scalars("train/lr")[-1].value == pytest.approx(state.history[-1]["lr"])
    assert [e.step for e in acc.Scalars("train/lr")] == list(range(1, state.step + 1))
    frames = acc.Scalars("train/frames")
    assert [e.step for e in frames] == list(range(1, state.step + 1))
    assert [e.value for e in frames] == task.frames


def test_a_finite_loss_with_a_non_finite_gradient_is_skipped_and_named(tmp_path, capsys):
    class Sqrt(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(2))

    def loss(model, batch):  # sqrt at 0: the loss is 0, its gradient infinite
        return torch.sqrt(model.w - model.w.detach() + batch["shift"]).sum(), {"n": 1.0}

    task = SimpleNamespace(metric_mode="min", loss=loss)
    t = Trainer(task, TrainConfig(device="cpu", lr=0.1, warmup_steps=0), tmp_path, quiet=False)
    model = Sqrt()
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, t._schedule(10))
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    state = TrainState()
    step = t._step(model, {"shift": 0.0, "utt_ids": ["a", "b", "c"]}, opt, sched, scaler, state)
    assert step == (None, {"n": 1.0}) and (state.bad_steps, state.bad_in_a_row) == (1, 1)
    assert torch.equal(model.w.detach(), torch.ones(2))  # not updated
    assert all(p.grad is None for p in model.parameters())  # the bad gradient dropped
    assert capsys.readouterr().err == (
        "step 1: non-finite gradient (utterances a, b, c); step skipped (1 so far)\n"
    )
    four = {"shift": 0.0, "utt_ids": ["a", "b", "c", "d"]}
    t._step(model, four, opt, sched, scaler, state)
    assert "(utterances a, b, c…); step skipped (2 so far)" in capsys.readouterr().err
    loss_value, _ = t._step(model, {"shift": 1.0, "utt_ids": ["e"]}, opt, sched, scaler, state)
    assert loss_value == 2.0 and state.bad_in_a_row == 0 and state.step == 3
    assert not torch.equal(model.w.detach(), torch.ones(2))  # a good step updates


def test_fit_makes_the_experiment_dir_and_its_parents(tmp_path):
    from tests.core.toy import TOY_CFG, fit_toy

    cfg = TrainConfig(**{**TOY_CFG.__dict__, "max_epochs": 1})
    fit_toy(tmp_path / "a" / "b" / "exp", cfg)
    assert (tmp_path / "a" / "b" / "exp" / "final.pt").is_file()


def test_loaders_collate_with_the_task_and_load_with_its_workers(tmp_path):
    from speechseq.core.batching import ArrayReader, FeatDataset

    t = trainer(tmp_path, max_frames=100, num_workers=1)
    feats = {f"u{i}": np.zeros((10 + i, 2), np.float32) for i in range(4)}
    t.task = SimpleNamespace(metric_mode="min", collate=lambda items: ["collated", len(items)])
    train, dev = t.loaders(FeatDataset(ArrayReader(feats)), FeatDataset(ArrayReader(feats)))
    assert train.collate_fn is t.task.collate and dev.collate_fn is t.task.collate
    assert (train.num_workers, dev.num_workers) == (1, 1)


def test_a_run_resumed_mid_epoch_does_only_the_batches_left(tmp_path):
    from tests.core.toy import TOY_CFG, ToyTask, fit_toy

    class Stop(Exception):
        pass

    class Task(_Recording, ToyTask):
        die_at = None

        def loss(self, model, batch):
            if len(self.seen) == self.die_at:
                raise Stop  # as a killed run: the step checkpoints so far stay
            return super().loss(model, batch)

    cfg = TrainConfig(**{**TOY_CFG.__dict__, "max_epochs": 2, "checkpoint_every": 1})
    whole = Task(8)
    whole.seen = []
    n = fit_toy(tmp_path / "whole", cfg, task=whole).step // 2  # batches per epoch
    cut = Task(8)
    cut.seen, cut.die_at = [], n + 2  # two batches into the second epoch
    with pytest.raises(Stop):
        fit_toy(tmp_path / "cut", cfg, task=cut)
    rest = Task(8)
    rest.seen = []
    state = fit_toy(tmp_path / "cut", cfg, task=rest, resume=True)
    assert len(rest.seen) == n - 2 and state.step == 2 * n
    assert rest.seen == pytest.approx(whole.seen[n + 2 :], rel=1e-5)


def test_a_run_names_its_precision_and_dev_figures_and_closes_its_curves(
    tmp_path, capsys, monkeypatch
):
    import torch.utils.tensorboard as tensorboard

    from speechseq.core import trainer as trainer_module
    from tests.core.toy import TOY_CFG, ToyTask, fit_toy

    # CPU runs in fp32 (autocast_dtype gives None there); bf16 autocast on CPU stands in for a GPU's
    monkeypatch.setattr(trainer_module, "autocast_dtype", lambda device, precision: torch.bfloat16)

    closed = []

    class Writer(tensorboard.SummaryWriter):
        def close(self):
            closed.append(True)
            super().close()

    class Task(ToyTask):
        epochs_started: list = []

        def on_epoch_start(self, epoch, model):
            self.epochs_started.append((epoch, model))

        def evaluate(self, model, batches):
            return {**super().evaluate(model, batches), "other": 0.5}

    monkeypatch.setattr(tensorboard, "SummaryWriter", Writer)
    cfg = TrainConfig(**{**TOY_CFG.__dict__, "max_epochs": 2})
    task = Task(8)
    state = fit_toy(tmp_path / "exp", cfg, task=task, quiet=False)
    err = capsys.readouterr().err.splitlines()
    train_line = next(ln for ln in err if ln.startswith("training "))
    assert train_line.endswith("device cpu (torch.bfloat16), world size 1")
    epoch_line = next(ln for ln in err if ln.startswith("epoch 1/2: "))
    assert re.search(r" dev_loss=\d+\.\d{4} dev_other=0\.5000 \(", epoch_line), epoch_line
    assert [e for e, _ in task.epochs_started] == [0, 1]
    assert all(isinstance(m, torch.nn.ModuleDict) for _, m in task.epochs_started)
    assert closed == [True]
    assert re.fullmatch(r"[0-9a-f]{12}", state.run_id)


def test_fit_starts_afresh_over_old_checkpoints_unless_asked_to_resume(tmp_path):
    from speechseq.core.batching import FeatDataset, make_loader
    from tests.core.toy import TOY_CFG, ToyTask, toy_reader

    cfg = TrainConfig(**{**TOY_CFG.__dict__, "max_epochs": 1, "checkpoint_every": 0})
    run_ids = []
    for _ in range(2):
        t = Trainer(ToyTask(8), cfg, tmp_path / "exp", quiet=True)
        train = make_loader(FeatDataset(toy_reader()), cfg.max_frames, shuffle=True, seed=0)
        run_ids.append(t.fit(train).run_id)  # no resume argument: a new run
    assert run_ids[0] != run_ids[1]


def test_an_epochs_audio_speed_and_time_by_a_clock_that_ticks_by_hand(tmp_path, monkeypatch):
    import itertools

    from speechseq.core import trainer as trainer_module
    from tests.core.toy import TOY_CFG, ToyTask, fit_toy

    ticks = itertools.count(start=100.0, step=0.7)  # each reading of the clock: 0.7 s later
    monkeypatch.setattr(trainer_module, "time", SimpleNamespace(time=lambda: next(ticks)))

    class Task(_Recording, ToyTask):
        pass

    task = Task(8)
    task.seen = []
    cfg = TrainConfig(**{**TOY_CFG.__dict__, "max_epochs": 1, "checkpoint_every": 0})
    state = fit_toy(tmp_path / "exp", cfg, task=task)
    n = state.step  # the clock is read at the epoch's start, after each batch and at its end
    row = state.history[0]
    assert row["epoch_time_s"] == round(0.7 * (n + 1), 1)
    audio_s = sum(task.frames) * 0.01  # 10 ms frames
    assert row["audio_s_per_s"] == round(audio_s / (0.7 * (n + 1)), 1)
    assert row["audio_s_per_s"] != round(row["audio_s_per_s"])  # the test can tell the rounding
