"""Exporting a trained model as a file that runs without speechseq: TorchScript or ONNX.

:func:`export_experiment` loads a model directory with :func:`~speechseq.core.loading.load_experiment`,
asks its task for the exportable part (:meth:`~speechseq.core.task.Task.exportable`: the CTC
network, an embedder's encoder and projection), traces it on CPU and writes

- ``OUT``: the TorchScript module (``torch.jit.load(OUT)``) or the ONNX graph (onnxruntime),
  inputs ``feats: float32 [N, T, C]`` (normalised as ``OUT.json`` says) and
  ``lengths: int64 [N]`` (valid frames per row; rows are zero-padded to ``T``);
- ``OUT.json``: what a user needs to feed it: input dimension, the feature settings of the
  training data (the model dir's feats.yaml), the normalisation, the outputs and their meaning,
  the units of a CTC model.

The recurrent layers run over packed sequences; tracing records the packing as operations on
``lengths``, so the exported file takes any batch size and any lengths (tests check batches
of other shapes than the tracing example against the original model).
"""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from speechseq.core.config import read_yaml
from speechseq.core.loading import load_experiment
from speechseq.errors import SpeechseqError, UsageError
from speechseq.fileio import atomic_write

FORMATS = ("torchscript", "onnx")
ONNX_OPSET = 17
INSTALL_ONNX = "pip install 'speechseq[export]'  (or: pip install onnx onnxruntime)"

CMVN_NOTES = {
    "utterance": "each utterance by its own statistics before the model: subtract the mean over "
    "its frames, divide by the standard deviation (variance floored at 1e-10), per feature bin",
    "speaker": "by per-speaker statistics (Kaldi apply-cmvn with norm_vars); a single recording "
    "counts as its own speaker: subtract its mean, divide by its standard deviation",
    "global": "by the training set's statistics: (feats - global_mean) / global_std, per bin",
    "none": "none: the features as computed",
}


def export_experiment(exp_dir: str | os.PathLike, fmt: str, out: str | os.PathLike) -> dict:
    """Write ``exp_dir``'s model to ``out`` in ``fmt`` (torchscript | onnx) and ``out.json``
    beside it; returns what the JSON holds."""
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt}: unknown — choose one of {', '.join(FORMATS)}")
    if fmt == "onnx":
        _require_onnx()
    exp_dir, out = Path(exp_dir), Path(out)
    ex = load_experiment(exp_dir, device="cpu", quiet=True)
    part = ex.task.exportable(ex.model)
    if part is None:
        raise SpeechseqError(
            f"{exp_dir}: a model of task '{ex.meta.get('task')}' cannot be exported — export "
            f"takes CTC acoustic models (train-ctc) and embedders (train-embedder)"
        )
    module = part.module.cpu().eval()
    dim = int(ex.meta["input_dim"])
    example = (torch.randn(2, 64, dim), torch.tensor([64, 41], dtype=torch.int64))
    names = list(part.outputs)
    data = _trace_torchscript(module, example) if fmt == "torchscript" else None
    if fmt == "onnx":
        data = _export_onnx(module, example, names)
    with atomic_write(out, "wb") as f:
        f.write(data)
    meta = describe(ex, fmt, out, part.outputs, part.info)
    with atomic_write(Path(f"{out}.json")) as f:
        f.write(json.dumps(meta, indent=2) + "\n")
    return meta


def describe(ex, fmt: str, out: Path, outputs: dict[str, str], info: dict[str, Any]) -> dict:
    """The JSON written beside an exported model."""
    cmvn = str(ex.frontend.cmvn)
    meta: dict[str, Any] = {
        "format": fmt,
        "file": out.name,
        "model_dir": str(ex.path.resolve()),
        "task": ex.meta.get("task"),
        "weights_sha1": ex.weights_digest,
        "inputs": {
            "feats": f"float32 [N, T, {int(ex.meta['input_dim'])}]: features, normalised as "
            "'cmvn' says, rows zero-padded to T",
            "lengths": "int64 [N]: valid frames per row (10 ms frames)",
        },
        "input_dim": int(ex.meta["input_dim"]),
        "outputs": outputs,
        "features": _features(ex.path),
        "cmvn": cmvn,
        "cmvn_note": CMVN_NOTES.get(cmvn, cmvn),
        "batching": "any batch size and lengths: packed sequences are traced as operations on "
        "'lengths'",
    }
    if fmt == "onnx":
        meta["onnx_opset"] = ONNX_OPSET
    if cmvn == "global" and ex.frontend.global_stats is not None:
        mean, std = _mean_std(np.asarray(ex.frontend.global_stats, dtype=np.float64))
        meta["global_mean"], meta["global_std"] = mean, std
    meta.update(info)
    if "normalisation" in info:  # the task normalises its input itself (an embedder's segments)
        meta.pop("cmvn_note")
        meta["cmvn"] = "segment"
    return meta


def _features(exp: Path) -> dict[str, Any] | None:
    path = exp / "feats.yaml"
    return read_yaml(path) if path.is_file() else None


def _mean_std(stats: np.ndarray) -> tuple[list[float], list[float]]:
    """Mean and standard deviation per bin from Kaldi CMVN stats ``[2, C + 1]``."""
    count = stats[0, -1]
    mean = stats[0, :-1] / count
    var = np.maximum(stats[1, :-1] / count - mean**2, 1e-10)
    return mean.tolist(), np.sqrt(var).tolist()


def _trace_torchscript(module: torch.nn.Module, example) -> bytes:
    with warnings.catch_warnings():  # the tracer's notes on packed sequences and deprecation
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(module, example, check_trace=False)
        buf = io.BytesIO()
        torch.jit.save(traced, buf)
    return buf.getvalue()


def _export_onnx(module: torch.nn.Module, example, names: list[str]) -> bytes:
    axes = {"feats": {0: "N", 1: "T"}, "lengths": {0: "N"}}
    for n in names:
        axes[n] = {0: "N"} if n != "log_probs" else {0: "N", 1: "T_out"}
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The TorchScript-based exporter: torch.export cannot yet trace packed sequences.
        torch.onnx.export(
            module,
            example,
            buf,
            input_names=["feats", "lengths"],
            output_names=names,
            dynamic_axes=axes,
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    return buf.getvalue()


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise SpeechseqError(
            f"--format onnx needs the onnx package, which is not installed — {INSTALL_ONNX}"
        ) from None
