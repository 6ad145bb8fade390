"""load_experiment: a trained model directory back for inference (task, weights, device, front
end, weights digest) and each way a directory can be wrong, with its one-line message."""

from __future__ import annotations

import hashlib
import shutil

import kaldiio
import numpy as np
import pytest
import torch

from speechseq.core import checkpoint as ckpt
from speechseq.core.loading import _config_cmvn, load_experiment, save_global_stats
from speechseq.errors import SpeechseqError
from tests.core.toy import FrameTask


def copy_of(toy_exp, tmp_path):
    """A copy of the trained frame-toy experiment (the toy_exp fixture), with a config.yaml."""
    d = tmp_path / "exp"
    shutil.copytree(toy_exp, d)
    (d / "config.yaml").write_text("train: {}\n")
    return d


def test_a_model_dir_loads_with_its_task_weights_and_digest(toy_exp, tmp_path, capsys):
    exp = copy_of(toy_exp, tmp_path)
    ex = load_experiment(exp, device="cpu", quiet=True)
    assert ex.path == exp and ex.config == {"train": {}} and ex.meta["task"] == "frame-toy"
    assert isinstance(ex.task, FrameTask) and not ex.model.training
    assert ex.device == torch.device("cpu")
    final = ckpt.load(exp / "final.pt")
    for name, value in ex.model.state_dict().items():
        assert torch.equal(value, final["model"][name])
    assert ex.weights_digest == hashlib.sha1((exp / "final.pt").read_bytes()).hexdigest()[:16]
    assert ex.frontend.cmvn == "none" and ex.frontend.input_dim == 6
    assert capsys.readouterr().err == ""
    load_experiment(exp, device="auto", quiet=False)  # not quiet: the device choice is said
    assert capsys.readouterr().err.startswith("device: auto chose ")
    assert (
        load_experiment(exp, device="cpu", task="frame-toy", quiet=True).meta["task"] == "frame-toy"
    )


def test_a_dir_without_config_is_not_a_model_dir(tmp_path):
    with pytest.raises(SpeechseqError) as e:
        load_experiment(tmp_path, device="cpu", quiet=True)
    assert str(e.value) == (
        f"{tmp_path}: no config.yaml — not a speechseq model directory (train one with speechseq train-*)"
    )


def test_a_model_of_another_task_is_refused_by_name(toy_exp, tmp_path):
    exp = copy_of(toy_exp, tmp_path)
    with pytest.raises(SpeechseqError) as e:
        load_experiment(exp, device="cpu", task="ctc", quiet=True)
    assert str(e.value) == (
        f"{exp / 'final.pt'}: a model of task 'frame-toy', not 'ctc' — give a model directory of "
        "the right kind"
    )


def test_weights_that_do_not_fit_the_model_are_one_error(toy_exp, tmp_path):
    exp = copy_of(toy_exp, tmp_path)
    final = ckpt.load(exp / "final.pt")
    name = next(iter(final["model"]))
    final["model"][name] = torch.zeros(3, 3, 3)
    torch.save(final, exp / "final.pt")
    with pytest.raises(SpeechseqError) as e:
        load_experiment(exp, device="cpu", quiet=True)
    msg = str(e.value)
    assert msg.startswith(
        f"{exp / 'final.pt'}: the weights do not fit the model that config.yaml describes ("
    )
    assert f"size mismatch for {name}" in msg and "\n" not in msg
    assert msg.endswith(
        ") — config.yaml and final.pt come from different runs; restore them from one run"
    )


def test_global_cmvn_reads_the_training_statistics_kept_beside_the_model(toy_exp, tmp_path):
    exp = copy_of(toy_exp, tmp_path)
    final = ckpt.load(exp / "final.pt")
    final["meta"]["cmvn"] = "global"
    torch.save(final, exp / "final.pt")
    with pytest.raises(
        SpeechseqError, match=r"exp/cmvn.ark: not found — the model was trained with global CMVN"
    ):
        load_experiment(exp, device="cpu", quiet=True)
    stats = np.zeros((2, 7))
    stats[0, :6], stats[0, 6], stats[1, :6] = 10.0, 5.0, 40.0  # mean 2, variance 4
    save_global_stats(exp, stats)
    ex = load_experiment(exp, device="cpu", quiet=True)
    assert ex.frontend.cmvn == "global"
    [(key, saved)] = kaldiio.load_ark(str(exp / "cmvn.ark"))
    assert saved.dtype == np.float64 and np.array_equal(saved, stats)


def test_a_model_without_recorded_cmvn_takes_its_configs():
    assert _config_cmvn({"train": {"lr": 1}, "features": {"cmvn": "utt"}}) == "utt"
    assert _config_cmvn({"a": {"cmvn": "speaker"}, "b": {"cmvn": "utt"}}) == "speaker"
    assert _config_cmvn({"train": {}, "note": "cmvn"}) == "none"
    assert _config_cmvn({}) == "none"


def test_meta_without_cmvn_falls_back_to_the_config(toy_exp, tmp_path):
    exp = copy_of(toy_exp, tmp_path)
    final = ckpt.load(exp / "final.pt")
    final["meta"].pop("cmvn", None)
    torch.save(final, exp / "final.pt")
    (exp / "config.yaml").write_text("train: {}\nctc:\n  cmvn: utterance\n")
    assert load_experiment(exp, device="cpu", quiet=True).frontend.cmvn == "utterance"


def test_the_defaults_choose_the_device_and_say_so(toy_exp, tmp_path, capsys):
    exp = copy_of(toy_exp, tmp_path)
    load_experiment(exp)
    assert capsys.readouterr().err.startswith("device: auto chose ")
    load_experiment(exp, device="cpu", quiet=False)  # a named device: nothing to say
    assert capsys.readouterr().err == ""


def test_a_final_pt_without_metadata_is_named(toy_exp, tmp_path):
    exp = copy_of(toy_exp, tmp_path)
    final = ckpt.load(exp / "final.pt")
    del final["meta"]
    torch.save(final, exp / "final.pt")
    with pytest.raises(SpeechseqError) as e:
        load_experiment(exp, device="cpu", quiet=True)
    assert str(e.value) == (
        f"{exp / 'final.pt'}: the model's task 'None' is unknown — it was not written by this speechseq"
    )


@pytest.mark.parametrize(
    "text, shown",
    [("Error(s) in loading:\n\n  size mismatch " + "y" * 300, "size mismatch " + "y" * 186),
     ("one line only", "one line only"), ("", "")],
)  # fmt: skip
def test_the_weights_error_quotes_the_first_detail_line_cut_at_200(
    toy_exp, tmp_path, monkeypatch, text, shown
):
    exp = copy_of(toy_exp, tmp_path)

    def refuse(self, state, *a, **k):
        raise RuntimeError(text)

    monkeypatch.setattr(torch.nn.Module, "load_state_dict", refuse)
    with pytest.raises(SpeechseqError) as e:
        load_experiment(exp, device="cpu", quiet=True)
    assert str(e.value).startswith(
        f"{exp / 'final.pt'}: the weights do not fit the model that config.yaml describes ({shown}) — "
    )


def test_global_statistics_are_kept_as_float64(tmp_path):
    save_global_stats(tmp_path, np.ones((2, 4), dtype=np.float32))
    [(key, saved)] = kaldiio.load_ark(str(tmp_path / "cmvn.ark"))
    assert key == "<global>" and saved.dtype == np.float64
