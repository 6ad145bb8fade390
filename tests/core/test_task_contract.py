"""The task contract: a third task trains, checkpoints, resumes and evaluates through the
Trainer with no change to core; the padded-dict collate; init-from and freeze."""

import numpy as np
import pytest
import torch

from speechseq.core import checkpoint as ckpt
from speechseq.core.batching import FeatDataset, pad_collate
from speechseq.core.loading import load_experiment
from speechseq.core.task import Task, task_class
from speechseq.core.trainer import TrainConfig, Trainer
from speechseq.errors import SpeechseqError

from .toy import FrameTask, ToyTask, frame_reader, toy_reader

CFG = TrainConfig(
    max_epochs=4,
    max_frames=150,
    lr=2e-2,
    warmup_steps=2,
    checkpoint_every=0,
    device="cpu",
    deterministic=True,
)


def _fit_frames(exp, cfg=CFG, task=None, resume=False):
    reader, labels = frame_reader()
    dev_reader, dev_labels = frame_reader(n=6, seed=1)
    task = task or FrameTask(reader.dim)
    trainer = Trainer(task, cfg, exp, quiet=True)
    train, dev = trainer.loaders(
        FeatDataset(reader, fields={"frame_labels": labels}),
        FeatDataset(dev_reader, fields={"frame_labels": dev_labels}),
    )
    return task, trainer.fit(train, dev, resume=resume)


def test_pad_collate_pads_each_stream_with_its_own_value_and_lengths():
    items = [
        {
            "utt_id": "a",
            "feats": np.ones((3, 2), np.float32),
            "targets": [4, 5],
            "word": 7,
            "frame_labels": np.array([0, 1, 2]),
        },
        {
            "utt_id": "b",
            "feats": np.ones((1, 2), np.float32),
            "targets": [6],
            "word": 8,
            "frame_labels": np.array([1]),
        },
    ]
    b = pad_collate(items, {"frame_labels": -100})
    assert b["utt_ids"] == ["a", "b"]
    assert b["feats"].shape == (2, 3, 2) and b["feats"].dtype == torch.float32
    assert b["lengths"].tolist() == [3, 1] and b["feats"][1, 1:].abs().sum() == 0
    assert b["targets"].tolist() == [[4, 5], [6, -1]] and b["target_lengths"].tolist() == [2, 1]
    assert b["frame_labels"].tolist() == [[0, 1, 2], [1, -100, -100]]
    assert b["frame_labels_lengths"].tolist() == [3, 1]
    assert b["word"].tolist() == [7, 8]


def test_a_task_collates_with_its_own_pad_values():
    class Padded(ToyTask):
        pad_values = {"targets": -7, "feats": 0.5}

    items = [
        {"utt_id": "a", "feats": np.ones((2, 1), np.float32), "targets": [1, 2]},
        {"utt_id": "b", "feats": np.ones((1, 1), np.float32), "targets": [3]},
    ]
    b = Padded(1).collate(items)
    assert b["targets"].tolist() == [[1, 2], [3, -7]]
    assert b["feats"][:, :, 0].tolist() == [[1.0, 1.0], [1.0, 0.5]]


def test_a_third_task_trains_through_the_contract_alone(tmp_path):
    task, state = _fit_frames(tmp_path / "exp")
    acc = [r["dev_accuracy"] for r in state.history]
    assert acc[-1] > 0.8 and acc[-1] > acc[0]  # chance is 1/3
    assert task.epochs_started == [0, 1, 2, 3]  # the epoch hook ran before every epoch
    # the task's stats reach metrics.csv, its metric direction picks the best epoch
    header = (tmp_path / "exp" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "train_frames" in header and "dev_accuracy" in header
    assert state.best_metric == pytest.approx(max(acc), abs=1e-5)
    final = ckpt.load(tmp_path / "exp" / "final.pt")
    assert final["meta"]["task"] == "frame-toy"
    assert final["meta"]["task_class"] == "tests.core.toy:FrameTask"


def test_the_third_task_loads_back_for_inference(tmp_path):
    _fit_frames(tmp_path / "exp")
    (tmp_path / "exp" / "config.yaml").write_text("train: {}\n")
    ex = load_experiment(tmp_path / "exp", device="cpu", quiet=True)
    assert isinstance(ex.task, FrameTask) and not ex.model.training
    assert ex.frontend.cmvn == "none" and ex.frontend.input_dim == 6
    with pytest.raises(SpeechseqError, match="task .frame-toy., not .ctc."):
        load_experiment(tmp_path / "exp", device="cpu", task="ctc", quiet=True)


def test_the_third_task_resumes_after_its_last_checkpoint(tmp_path):
    _, straight = _fit_frames(tmp_path / "a")
    with pytest.raises(RuntimeError, match="interrupted at epoch 2"):
        _fit_frames(tmp_path / "b", task=FrameTask(6, crash_at_epoch=2))
    assert not (tmp_path / "b" / "final.pt").exists()
    task = FrameTask(6)
    _, resumed = _fit_frames(tmp_path / "b", task=task, resume=True)
    assert task.epochs_started == [2, 3]  # only the remaining epochs ran
    a = ckpt.load(tmp_path / "a" / "final.pt")["model"]
    b = ckpt.load(tmp_path / "b" / "final.pt")["model"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3, 4]


def test_the_optimiser_gets_the_task_parameter_groups(tmp_path, monkeypatch):
    seen = []
    real = torch.optim.AdamW

    def spy(groups, **kw):
        seen.append([len(g["params"]) for g in groups])
        return real(groups, **kw)

    monkeypatch.setattr(torch.optim, "AdamW", spy)
    _fit_frames(tmp_path / "exp", TrainConfig(**{**CFG.__dict__, "max_epochs": 1}))
    assert len(seen) == 1 and len(seen[0]) == 2  # the encoder group and the output group


def test_init_from_copies_a_part_and_freeze_keeps_it(tmp_path):
    _fit_frames(tmp_path / "src")
    src = ckpt.load(tmp_path / "src" / "final.pt")["model"]
    cfg = TrainConfig(
        **{
            **CFG.__dict__,
            "max_epochs": 1,
            "init_from": str(tmp_path / "src"),
            "init_part": "encoder",
            "freeze": "encoder",
        }
    )
    _fit_frames(tmp_path / "dst", cfg)
    dst = ckpt.load(tmp_path / "dst" / "final.pt")["model"]
    enc = [k for k in src if k.startswith("encoder.")]
    assert enc and all(torch.equal(src[k], dst[k]) for k in enc)  # copied, then kept fixed
    assert not torch.equal(src["out.weight"], dst["out.weight"])  # the rest trained afresh


def test_init_from_without_that_part_is_one_clear_error(tmp_path):
    _fit_frames(tmp_path / "src")
    cfg = TrainConfig(
        **{**CFG.__dict__, "init_from": str(tmp_path / "src"), "init_part": "decoder"}
    )
    with pytest.raises(SpeechseqError, match="no parameters under 'decoder'.*encoder, out"):
        _fit_frames(tmp_path / "dst", cfg)


def test_init_from_a_model_of_other_shape_is_one_clear_error(tmp_path):
    reader = toy_reader(dim=8)
    trainer = Trainer(
        ToyTask(8), TrainConfig(**{**CFG.__dict__, "max_epochs": 1}), tmp_path / "toy", quiet=True
    )
    train, _ = trainer.loaders(FeatDataset(reader))
    trainer.fit(train)
    cfg = TrainConfig(**{**CFG.__dict__, "init_from": str(tmp_path / "toy")})
    with pytest.raises(SpeechseqError, match="no tensor matches"):
        _fit_frames(tmp_path / "dst", cfg)


def test_freeze_of_an_unknown_prefix_is_an_error(tmp_path):
    with pytest.raises(SpeechseqError, match="freeze 'decoder': no parameter"):
        _fit_frames(tmp_path / "x", TrainConfig(**{**CFG.__dict__, "freeze": "decoder"}))


def test_task_class_finds_built_in_and_saved_classes():
    assert task_class({"task": "ctc"}, "x").__name__ == "CTCTask"
    assert task_class({"task": "embed"}, "x").__name__ == "EmbedTask"
    assert task_class({"task_class": "tests.core.toy:FrameTask"}, "x") is FrameTask
    with pytest.raises(SpeechseqError, match="unknown"):
        task_class({"task": "nope"}, "m/final.pt")
    with pytest.raises(TypeError):
        Task()  # abstract: a task must implement the contract


def test_task_class_errors_name_the_model_and_the_class():
    with pytest.raises(SpeechseqError, match=r"^m/final.pt: the model's task 'nope' is unknown — "):
        task_class({"task": "nope"}, "m/final.pt")
    with pytest.raises(
        SpeechseqError,
        match=r"^m/final.pt: cannot find the model's task class tests.core.toy:Nope ",
    ):
        task_class({"task_class": "tests.core.toy:Nope"}, "m/final.pt")
    with pytest.raises(
        SpeechseqError, match=r"^m/final.pt: tests.core.toy:ToyNet is not a speechseq Task$"
    ):
        task_class({"task_class": "tests.core.toy:ToyNet"}, "m/final.pt")
    # a qualified name inside the module: Task.collate is found, and is not a class
    with pytest.raises(
        SpeechseqError, match="speechseq.core.task:Task.collate is not a speechseq Task"
    ):
        task_class({"task_class": "speechseq.core.task:Task.collate"}, "m")


def test_a_task_without_a_decoder_says_so_and_is_not_exported(tmp_path):
    task = ToyTask(1)
    for call in (lambda: task.outputs(None, {}), lambda: task.decoder(None)):
        with pytest.raises(SpeechseqError) as err:
            call()
        assert str(err.value) == (
            f"a {task.name} model has nothing to decode — use the command made for it"
        )
    with pytest.raises(SpeechseqError) as err:
        Task.from_experiment(tmp_path / "exp", {}, {})
    assert str(err.value) == f"{tmp_path / 'exp'}: Task models cannot be loaded for inference"
    assert task.exportable(None) is None
    assert task.full_meta()["task_class"] == "tests.core.toy:ToyTask"
