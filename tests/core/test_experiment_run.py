"""An experiment directory belongs to one run; checkpoints load without running code."""

import dataclasses
import re
import shutil
import sys

import pytest
import torch

from speechseq.core import checkpoint as ckpt
from speechseq.core.batching import FeatDataset
from speechseq.core.experiment import (
    UNFINISHED,
    copy_feature_config,
    experiment_run,
    load_exp_config,
    resolve_config,
    write_header,
)
from speechseq.core.trainer import TrainConfig, Trainer
from speechseq.errors import SpeechseqError, UsageError

from .toy import FrameTask, frame_reader

CFG = TrainConfig(
    max_epochs=3,
    max_frames=150,
    lr=2e-2,
    warmup_steps=2,
    checkpoint_every=0,
    device="cpu",
    average_last=2,
)


def _fit(exp, cfg=CFG, task=None, resume=False):
    reader, labels = frame_reader()
    trainer = Trainer(task or FrameTask(reader.dim), cfg, exp, quiet=True)
    train, _ = trainer.loaders(FeatDataset(reader, fields={"frame_labels": labels}))
    return trainer.fit(train, resume=resume)


def test_a_directory_holding_a_run_needs_resume_or_overwrite(tmp_path):
    exp = tmp_path / "exp"
    with experiment_run(exp):
        _fit(exp)
    with pytest.raises(SpeechseqError, match="holds another run .*--resume .*--overwrite"):
        with experiment_run(exp):
            pass
    with experiment_run(exp, resume=True):
        pass  # continuing is allowed
    with experiment_run(exp, overwrite=True):
        assert list(exp.iterdir()) == []  # the old run is gone before the new one starts
    with pytest.raises(UsageError):
        with experiment_run(exp, resume=True, overwrite=True):
            pass


def test_final_pt_averages_only_this_runs_checkpoints(tmp_path):
    exp = tmp_path / "exp"
    _fit(exp, TrainConfig(**{**CFG.__dict__, "max_epochs": 4, "average_last": 1}))
    old = {p.name for p in ckpt.listing(exp / "checkpoints", "epoch")}
    assert old == {"epoch-4.pt"}
    # A second run written over the first without clearing it (the old bug): epoch-4.pt of the
    # first run outranks the new run's epochs by number, but belongs to another run.
    (exp / "checkpoints" / "latest").unlink()
    state = _fit(exp, TrainConfig(**{**CFG.__dict__, "max_epochs": 2}))
    final = ckpt.load(exp / "final.pt")
    assert final["source"] == "average of epoch-1.pt, epoch-2.pt"
    mean = {
        k: (
            ckpt.load(exp / "checkpoints" / "epoch-1.pt")["model"][k]
            + ckpt.load(exp / "checkpoints" / "epoch-2.pt")["model"][k]
        )
        / 2
        for k in final["model"]
        if final["model"][k].is_floating_point()
    }
    for k, v in mean.items():  # final.pt is the element-wise mean of the named checkpoints
        torch.testing.assert_close(final["model"][k], v)
    assert (
        state.run_id
        and ckpt.load(exp / "checkpoints" / "epoch-4.pt")["state"]["run_id"] != state.run_id
    )


def test_a_run_failing_before_its_first_checkpoint_leaves_nothing(tmp_path):
    exp = tmp_path / "new"
    with pytest.raises(RuntimeError):
        with experiment_run(exp):
            (exp / "config.yaml").write_text("x: 1\n")
            raise RuntimeError("bad data")
    assert not exp.exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("the user's own file\n")
    with pytest.raises(RuntimeError):
        with experiment_run(mine):
            (mine / "config.yaml").write_text("x: 1\n")
            raise RuntimeError("bad data")
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]


def test_a_run_failing_later_is_marked_unfinished_with_the_resume_command(tmp_path):
    exp = tmp_path / "exp"
    with pytest.raises(RuntimeError, match="interrupted"):
        with experiment_run(exp, argv=["speechseq", "train-ctc", "d", "--out", str(exp)]):
            _fit(exp, task=FrameTask(6, crash_at_epoch=2))
    text = (exp / UNFINISHED).read_text()
    assert "interrupted at epoch 2" in text
    assert text.splitlines()[-1] == f"speechseq train-ctc d --out {exp} --resume"
    assert not (exp / "final.pt").exists()
    with experiment_run(exp, resume=True):
        _fit(exp, resume=True)
    assert (exp / "final.pt").is_file() and not (exp / UNFINISHED).exists()


def test_resume_with_a_marker_naming_a_missing_checkpoint_is_an_error(tmp_path):
    exp = tmp_path / "exp"
    _fit(exp)
    for p in ckpt.listing(exp / "checkpoints", "epoch"):
        p.unlink()
    with pytest.raises(SpeechseqError, match="latest: names epoch-3.pt, which is missing"):
        _fit(exp, resume=True)


def test_rotation_keeps_exactly_the_newest_epochs(tmp_path):
    _fit(tmp_path / "exp", TrainConfig(**{**CFG.__dict__, "max_epochs": 5, "average_last": 3}))
    assert [p.name for p in ckpt.listing(tmp_path / "exp" / "checkpoints", "epoch")] == [
        "epoch-3.pt",
        "epoch-4.pt",
        "epoch-5.pt",
    ]


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, (f"touch {_Evil.target}",))


def test_a_crafted_checkpoint_does_not_run_code_on_load(tmp_path):
    _Evil.target = tmp_path / "pwned"
    torch.save({"model": {}, "meta": _Evil()}, tmp_path / "final.pt")
    with pytest.raises(SpeechseqError, match="not a readable checkpoint"):
        ckpt.load(tmp_path / "final.pt")
    assert not _Evil.target.exists()


def test_checkpoints_hold_only_plain_values_and_tensors(tmp_path):
    _fit(tmp_path / "exp")
    for p in [
        *ckpt.listing(tmp_path / "exp" / "checkpoints", "epoch"),
        tmp_path / "exp" / "final.pt",
    ]:
        torch.load(p, weights_only=True)  # raises on anything else
    shutil.rmtree(tmp_path / "exp")


@pytest.mark.parametrize("held", ["final.pt", "checkpoints/epoch-1.pt"])
def test_a_final_model_or_a_checkpoint_alone_is_a_run(tmp_path, held):
    exp = tmp_path / "exp"
    (exp / held).parent.mkdir(parents=True)
    (exp / held).write_bytes(b"x")
    with pytest.raises(SpeechseqError, match="holds another run"):
        with experiment_run(exp):
            pass


def test_an_empty_checkpoints_directory_is_not_a_run(tmp_path):
    exp = tmp_path / "exp"
    (exp / "checkpoints").mkdir(parents=True)
    with experiment_run(exp):
        pass


@dataclasses.dataclass(frozen=True)
class _Train:
    lr: float = 0.1
    epochs: int = 2


@dataclasses.dataclass(frozen=True)
class _Conf:
    train: _Train = dataclasses.field(default_factory=_Train)


def test_resolve_config_layers_defaults_file_and_given_options(tmp_path):
    (tmp_path / "conf.yaml").write_text("train:\n  lr: 0.5\n  epochs: 3\n")
    cfg = resolve_config(_Conf, tmp_path / "conf.yaml", {"train": {"epochs": 4, "lr": None}})
    assert cfg == _Conf(_Train(0.5, 4))
    assert resolve_config(_Conf, None, {"train": {"lr": None}}) == _Conf()
    with pytest.raises(UsageError, match=r"train.epochs 'x': .* — fix it on the command line$"):
        resolve_config(_Conf, None, {"train": {"epochs": "x"}})
    with pytest.raises(UsageError, match=r"— fix it in .*conf.yaml or on the command line$"):
        resolve_config(_Conf, tmp_path / "conf.yaml", {"train": {"epochs": "x"}})
    (tmp_path / "bad.yaml").write_text("train: 3\n")
    with pytest.raises(SpeechseqError, match=r"bad.yaml: section 'train' must be a mapping$"):
        resolve_config(_Conf, tmp_path / "bad.yaml", {"train": {"epochs": 4}})


def test_write_header_and_load_exp_config_round_trip(tmp_path):
    exp = tmp_path / "exp"
    write_header(exp, _Conf(_Train(0.5, 3)), {"data": {"train": "d"}}, ["speechseq", "x y"])
    cfg, data = load_exp_config(_Conf, exp)
    assert cfg == _Conf(_Train(0.5, 3)) and data["data"] == {"train": "d"}
    assert (exp / "cmd.sh").read_text().endswith("\nspeechseq 'x y'\n")
    assert (exp / "cmd.sh").read_text().startswith("#!/usr/bin/env bash\n")
    with pytest.raises(SpeechseqError, match="no config.yaml — not a speechseq model directory"):
        load_exp_config(_Conf, tmp_path)
    (tmp_path / "data" / "conf").mkdir(parents=True)
    (tmp_path / "data" / "conf" / "feats.yaml").write_text("a: 1\n")
    copy_feature_config(tmp_path / "data", exp)
    assert (exp / "feats.yaml").read_text() == "a: 1\n"


def test_write_header_defaults_to_this_command_in_this_directory(tmp_path, monkeypatch):
    exp = tmp_path / "a" / "b" / "exp"  # parents are made
    monkeypatch.setattr(sys, "argv", ["/venv/bin/speechseq", "train-ctc", "data/my train"])
    monkeypatch.chdir(tmp_path)
    write_header(exp, _Conf(), {})
    assert (exp / "cmd.sh").read_text() == (
        "#!/usr/bin/env bash\n# the command that produced this directory\n"
        f"cd {tmp_path}\nspeechseq train-ctc 'data/my train'\n"
    )
    write_header(exp, _Conf(_Train(0.2, 1)), {})  # the directory may exist: rewritten
    assert load_exp_config(_Conf, exp)[0] == _Conf(_Train(0.2, 1))


def test_unknown_keys_name_the_file_they_are_in(tmp_path):
    (tmp_path / "conf.yaml").write_text("train:\n  lr: 0.5\n  nope: 1\n")
    with pytest.raises(
        SpeechseqError,
        match=r"conf.yaml: train: unknown config key\(s\) nope — valid keys are: lr, epochs$",
    ):
        resolve_config(_Conf, tmp_path / "conf.yaml")
    with pytest.raises(SpeechseqError, match=r"^config: train: unknown config key\(s\) nope"):
        resolve_config(_Conf, None, {"train": {"nope": 1}})
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "config.yaml").write_text("train:\n  nope: 1\n")
    with pytest.raises(
        SpeechseqError, match=rf"^{re.escape(str(exp / 'config.yaml'))}: train: unknown config key"
    ):
        load_exp_config(_Conf, exp)


def test_copy_feature_config_without_settings_copies_nothing(tmp_path):
    exp = tmp_path / "exp"
    exp.mkdir()
    copy_feature_config(tmp_path / "no-data", exp)
    assert not (exp / "feats.yaml").exists()


def test_copy_feature_config_writes_the_settings_features_are_computed_with(tmp_path):
    from speechseq.features.config import FeatureConfig, feature_config_from_yaml

    exp = tmp_path / "exp"
    exp.mkdir()
    (tmp_path / "data" / "conf").mkdir(parents=True)
    (tmp_path / "data" / "conf" / "feats.yaml").write_text("a: 1\n")  # not used: computed wins
    computed = FeatureConfig(type="mfcc", dither=0.0, frame_shift_ms=12.5)
    copy_feature_config(tmp_path / "data", exp, computed)
    assert feature_config_from_yaml(exp / "feats.yaml") == computed
    assert sorted(p.name for p in exp.iterdir()) == ["feats.yaml"]
