"""Loading a trained experiment directory: config, task (vocabulary included), checkpoint,
device, model and front end — one :func:`load_experiment` that every inference command uses."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kaldiio
import numpy as np
import torch
from torch import nn

from speechseq.core import checkpoint as ckpt
from speechseq.core.config import read_yaml
from speechseq.core.device import resolve_device
from speechseq.core.task import Task, task_class
from speechseq.errors import SpeechseqError
from speechseq.features.cmvn import GLOBAL_KEY
from speechseq.features.frontend import GLOBAL_STATS_NAME, FrontEnd
from speechseq.fileio import atomic_write


def save_global_stats(exp: Path, stats: np.ndarray) -> None:
    """Keep the training set's global CMVN statistics beside the model (cmvn "global")."""
    with atomic_write(exp / GLOBAL_STATS_NAME, "wb") as f:
        kaldiio.save_ark(f, {GLOBAL_KEY: np.asarray(stats, dtype=np.float64)})


@dataclass
class Experiment:
    """A trained model directory, loaded: what every inference command starts from."""

    path: Path  # the model directory
    config: dict[str, Any]  # its config.yaml
    meta: dict[str, Any]  # final.pt's metadata (task, input_dim, ...)
    task: Task  # rebuilt by the task's from_experiment (vocabulary / units included)
    model: nn.Module  # final.pt's weights, on ``device``, in eval mode
    device: torch.device
    frontend: FrontEnd  # audio / data dir -> the features and normalisation of training
    weights_digest: str  # sha1 of final.pt (first 16 hex digits): identifies the weights


def load_experiment(
    exp_dir: str | os.PathLike, device: str = "auto", task: str | None = None, quiet: bool = False
) -> Experiment:
    """Load ``exp_dir``: config.yaml, final.pt, the task named in it, the model on ``device``.

    ``task``: the task name the caller needs (e.g. ``"ctc"``); another is one clear error.
    """
    exp = Path(exp_dir)
    if not (exp / "config.yaml").is_file():
        raise SpeechseqError(
            f"{exp}: no config.yaml — not a speechseq model directory (train one with speechseq train-*)"
        )
    config = read_yaml(exp / "config.yaml")
    final_path = exp / "final.pt"
    final = ckpt.load(final_path)
    meta = dict(final.get("meta", {}))
    if task is not None and meta.get("task") != task:
        raise SpeechseqError(
            f"{final_path}: a model of task '{meta.get('task')}', not '{task}' — give a model "
            f"directory of the right kind"
        )
    cls = task_class(meta, str(final_path))
    the_task = cls.from_experiment(exp, config, meta)
    dev = resolve_device(device, quiet=quiet)
    model = the_task.build_model()
    try:
        model.load_state_dict(final["model"])
    except RuntimeError as e:
        lines = [ln.strip() for ln in str(e).strip().splitlines() if ln.strip()]
        first = next((ln for ln in lines[1:] if ln), lines[0] if lines else "")[:200]
        raise SpeechseqError(
            f"{final_path}: the weights do not fit the model that config.yaml describes ({first}) — "
            f"config.yaml and final.pt come from different runs; restore them from one run"
        ) from None
    model.to(dev).eval()
    cmvn = str(meta.get("cmvn") or _config_cmvn(config))
    frontend = FrontEnd.of_model_dir(exp, cmvn, int(meta["input_dim"]))
    digest = hashlib.sha1(final_path.read_bytes()).hexdigest()[:16]
    return Experiment(exp, config, meta, the_task, model, dev, frontend, digest)


def _config_cmvn(config: dict[str, Any]) -> str:
    """The normalisation of a model saved before final.pt recorded it: its config's, else none."""
    for section in config.values():
        if isinstance(section, dict) and "cmvn" in section:
            return str(section["cmvn"])
    return "none"
