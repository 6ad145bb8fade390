"""``speechseq export``: the exported file gives the original model's outputs on real features,
without speechseq's classes (``torch.jit.load`` / onnxruntime), for other batch shapes than the
one it was traced with; and the JSON beside it says how to feed it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from speechseq.cli.main import app
from speechseq.core.loading import load_experiment
from tests.cli.helpers import runner


def _run(args, code=0):
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == code, res.output
    return res


def _batch(exp, data, n: int):
    """``n`` real utterances of ``data``, normalised as the model wants, padded: feats, lengths."""
    reader = load_experiment(exp, device="cpu", quiet=True).frontend.data_reader(data)
    mats = [reader[u] for u in reader.utt_ids[:n]]
    lengths = torch.tensor([len(m) for m in mats], dtype=torch.int64)
    feats = torch.zeros(n, int(lengths.max()), mats[0].shape[1])
    for k, m in enumerate(mats):
        feats[k, : len(m)] = torch.from_numpy(m)
    return feats, lengths


def test_torchscript_ctc_gives_the_original_log_posteriors(export_models, digits_corpus, tmp_path):
    out = tmp_path / "ctc.pt"
    _run(["export", export_models / "ctc", "--format", "torchscript", "--out", out])
    ex = load_experiment(export_models / "ctc", device="cpu", quiet=True)
    feats, lengths = _batch(export_models / "ctc", digits_corpus / "test", 5)  # traced with 2 rows
    with torch.no_grad():
        want, want_len = ex.model(feats, lengths)
        got, got_len = torch.jit.load(str(out))(feats, lengths)
    assert got.shape == want.shape
    assert torch.equal(got_len, want_len)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=0)
    meta = json.loads((tmp_path / "ctc.pt.json").read_text())
    assert meta["input_dim"] == 40 and meta["cmvn"] == "utterance"
    assert meta["features"]["num_mel_bins"] == 40
    assert meta["units"] == list(ex.task.units.symbols)
    assert meta["blank"] == 0 and list(meta["outputs"]) == ["log_probs", "out_lengths"]


def test_the_exported_file_loads_without_speechseq(export_models, tmp_path):
    out = tmp_path / "ctc.pt"
    _run(["export", export_models / "ctc", "--out", out])
    code = (
        "import sys, torch; sys.modules['speechseq'] = None\n"  # any import of it would fail
        f"m = torch.jit.load({str(out)!r})\n"
        "lp, n = m(torch.randn(3, 50, 40), torch.tensor([50, 20, 7]))\n"
        "print(lp.shape[0], lp.shape[1], n.tolist())\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    assert res.stdout.strip() == "3 17 [17, 7, 3]"


def test_torchscript_embedder_gives_the_original_vectors(export_models, words_corpus, tmp_path):
    out = tmp_path / "emb.pt"
    _run(["export", export_models / "emb", "--out", out])
    ex = load_experiment(export_models / "emb", device="cpu", quiet=True)
    feats = torch.randn(4, 33, 40)
    lengths = torch.tensor([33, 20, 9, 30])
    with torch.no_grad():
        want = ex.model.embed(feats, lengths)
        got = torch.jit.load(str(out))(feats, lengths)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=0)
    meta = json.loads((tmp_path / "emb.pt.json").read_text())
    assert meta["cmvn"] == "segment" and list(meta["outputs"]) == ["vectors"]


def test_onnx_ctc_gives_the_original_log_posteriors(export_models, digits_corpus, tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    out = tmp_path / "ctc.onnx"
    _run(["export", export_models / "ctc", "--format", "onnx", "--out", out])
    ex = load_experiment(export_models / "ctc", device="cpu", quiet=True)
    feats, lengths = _batch(export_models / "ctc", digits_corpus / "test", 4)
    with torch.no_grad():
        want, want_len = ex.model(feats, lengths)
    got, got_len = ort.InferenceSession(str(out)).run(
        None, {"feats": feats.numpy(), "lengths": lengths.numpy()}
    )
    assert got.shape == tuple(want.shape)
    assert np.array_equal(got_len, want_len.numpy())
    np.testing.assert_allclose(got, want.numpy(), atol=1e-4, rtol=0)


def test_onnx_without_the_onnx_package_says_what_to_install(export_models, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx raises ImportError
    res = _run(
        ["export", export_models / "ctc", "--format", "onnx", "--out", tmp_path / "m.onnx"], 1
    )
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "pip install" in errors[0] and "speechseq[export]" in errors[0]
    assert not (tmp_path / "m.onnx").exists()


def test_an_unknown_format_is_a_usage_error(export_models, tmp_path):
    res = _run(["export", export_models / "ctc", "--format", "tflite", "--out", tmp_path / "m"], 2)
    assert "--format tflite" in res.output and "torchscript" in res.output


def test_a_model_dir_without_final_pt_is_one_error(export_models, tmp_path):
    exp = tmp_path / "ctc"
    shutil.copytree(export_models / "ctc", exp)
    (exp / "final.pt").unlink()
    res = _run(["export", exp, "--out", tmp_path / "m.pt"], 1)
    assert "final.pt" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "m.pt").exists()


def test_the_onnx_graph_declares_its_inputs_outputs_and_opset(export_models, tmp_path):
    onnx = pytest.importorskip("onnx")
    out = tmp_path / "ctc.onnx"
    _run(["export", export_models / "ctc", "--format", "onnx", "--out", out])
    model = onnx.load(str(out))

    def dims(values):
        return {
            v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in values
        }

    meta = json.loads(out.with_name("ctc.onnx.json").read_text())
    assert dims(model.graph.input) == {"feats": ["N", "T", meta["input_dim"]], "lengths": ["N"]}
    outputs = dims(model.graph.output)
    assert list(outputs) == list(meta["outputs"])
    assert outputs["log_probs"][:2] == ["N", "T_out"] and len(outputs["log_probs"]) == 3
    assert all(
        shape[0] == "N" and len(shape) == 1 for n, shape in outputs.items() if n != "log_probs"
    )
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [17]
    assert meta["onnx_opset"] == 17


def test_the_json_of_a_global_cmvn_model_holds_mean_and_std(tmp_path):
    from pathlib import Path
    from types import SimpleNamespace

    from speechseq.core.export import CMVN_NOTES, describe

    stats = np.array([[20.0, 40.0, 10.0], [50.0, 170.0, 0.0]])  # 10 frames: mean 2, 4
    ex = SimpleNamespace(
        path=tmp_path,
        meta={"task": "ctc", "input_dim": 2},
        weights_digest="0123",
        frontend=SimpleNamespace(cmvn="global", global_stats=stats),
    )
    meta = describe(ex, "torchscript", Path("m.pt"), {"log_probs": "x"}, {"units": ["a"]})
    assert meta["global_mean"] == [2.0, 4.0]
    assert meta["global_std"] == pytest.approx([1.0, 1.0])  # 50/10 - 4, 170/10 - 16
    assert meta["cmvn"] == "global" and meta["cmvn_note"] == CMVN_NOTES["global"]
    assert meta["features"] is None and meta["units"] == ["a"] and "onnx_opset" not in meta
    assert meta["file"] == "m.pt" and meta["model_dir"] == str(tmp_path.resolve())
    # a variance below the floor is floored, not negative
    ex.frontend.global_stats = np.array([[10.0, 10.0], [10.0, 0.0]])
    assert describe(ex, "onnx", Path("m.onnx"), {}, {})["global_std"] == [pytest.approx(1e-5)]
    # a task that normalises its own input says so instead
    seg = describe(ex, "onnx", Path("m.onnx"), {}, {"normalisation": "per segment"})
    assert seg["cmvn"] == "segment" and "cmvn_note" not in seg and seg["onnx_opset"] == 17


def test_the_json_beside_an_exported_model_is_all_a_user_needs(export_models, tmp_path, capsys):
    from speechseq.core.config import read_yaml
    from speechseq.core.export import CMVN_NOTES, export_experiment

    exp, out = export_models / "ctc", tmp_path / "ctc.pt"
    meta = export_experiment(exp, "torchscript", out)
    assert capsys.readouterr().err == ""  # loaded quietly
    ex = load_experiment(exp, device="cpu", quiet=True)
    part = ex.task.exportable(ex.model)
    assert meta == {
        "format": "torchscript",
        "file": "ctc.pt",
        "model_dir": str(exp.resolve()),
        "task": "ctc",
        "weights_sha1": ex.weights_digest,
        "inputs": {
            "feats": "float32 [N, T, 40]: features, normalised as 'cmvn' says, rows zero-padded to T",
            "lengths": "int64 [N]: valid frames per row (10 ms frames)",
        },
        "input_dim": 40,
        "outputs": part.outputs,
        "features": read_yaml(exp / "feats.yaml"),
        "cmvn": "utterance",
        "cmvn_note": CMVN_NOTES["utterance"],
        "batching": "any batch size and lengths: packed sequences are traced as operations on "
        "'lengths'",
        **part.info,
    }
    assert (tmp_path / "ctc.pt.json").read_text() == json.dumps(meta, indent=2) + "\n"


def test_describe_names_a_normalisation_it_has_no_note_for(tmp_path):
    from pathlib import Path
    from types import SimpleNamespace

    from speechseq.core.export import describe

    ex = SimpleNamespace(
        path=tmp_path,
        meta={"task": "ctc", "input_dim": 2},
        weights_digest="0123",
        frontend=SimpleNamespace(cmvn="speaker", global_stats=np.ones((2, 3))),
    )
    meta = describe(ex, "torchscript", Path("m.pt"), {}, {})
    assert "global_mean" not in meta  # statistics are written only for global CMVN
    ex.frontend.cmvn = "custom"
    assert describe(ex, "torchscript", Path("m.pt"), {}, {})["cmvn_note"] == "custom"


def test_a_task_that_cannot_be_exported_says_which_can(toy_exp, tmp_path):
    from speechseq.core.export import export_experiment
    from speechseq.errors import SpeechseqError, UsageError

    exp = tmp_path / "exp"
    shutil.copytree(toy_exp, exp)
    (exp / "config.yaml").write_text("train: {}\n")
    with pytest.raises(SpeechseqError) as err:
        export_experiment(exp, "torchscript", tmp_path / "m.pt")
    assert str(err.value) == (
        f"{exp}: a model of task 'frame-toy' cannot be exported — export takes CTC acoustic "
        "models (train-ctc) and embedders (train-embedder)"
    )
    with pytest.raises(UsageError) as err:
        export_experiment(exp, "tflite", tmp_path / "m.pt")
    assert str(err.value) == "--format tflite: unknown — choose one of torchscript, onnx"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp"]
