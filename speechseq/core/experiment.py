"""The experiment directory ``exp/<model>/``: resolved config, the command that made it,
feature settings, and :func:`load_experiment` — config, task, vocabulary, checkpoint,
device, model and front end from that directory alone."""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import kaldiio
import numpy as np
import torch
from torch import nn

from speechseq.core import checkpoint as ckpt
from speechseq.core.config import from_dict, read_yaml, to_dict, write_yaml
from speechseq.core.device import resolve_device
from speechseq.core.task import Task, task_class
from speechseq.errors import SpeechseqError
from speechseq.features.cmvn import GLOBAL_KEY
from speechseq.features.frontend import GLOBAL_STATS_NAME, FrontEnd
from speechseq.fileio import atomic_write

T = TypeVar("T")


def resolve_config(
    cls: type[T], path: str | os.PathLike | None, sections: dict[str, dict[str, Any]] | None = None
) -> T:
    """Defaults of ``cls``, then the YAML file at ``path``, then ``sections`` (command-line options, ``None`` = not given)."""
    data = read_yaml(path) if path else {}
    for section, values in (sections or {}).items():
        given = {k: v for k, v in values.items() if v is not None}
        if given:
            data.setdefault(section, {})
            if not isinstance(data[section], dict):
                raise SpeechseqError(f"{path}: section '{section}' must be a mapping")
            data[section].update(given)
    return from_dict(cls, data, str(path) if path else "config")


def write_header(exp: Path, cfg, extra: dict[str, Any], argv: list[str] | None = None) -> None:
    """Write ``config.yaml`` (resolved config plus ``extra``, e.g. data paths) and ``cmd.sh``."""
    exp.mkdir(parents=True, exist_ok=True)
    write_yaml(exp / "config.yaml", {**to_dict(cfg), **extra})
    argv = argv if argv is not None else ["speechseq", *sys.argv[1:]]
    with atomic_write(exp / "cmd.sh") as f:
        f.write("#!/usr/bin/env bash\n# the command that produced this directory\n")
        f.write(f"cd {shlex.quote(os.getcwd())}\n{shlex.join(argv)}\n")


def copy_feature_config(data_dir: Path, exp: Path) -> None:
    """Keep the data's feature settings beside the model so raw audio can be featurised the same way."""
    src = Path(data_dir) / "conf" / "feats.yaml"
    if src.is_file():
        shutil.copyfile(src, exp / "feats.yaml")


def load_exp_config(cls: type[T], exp: Path) -> tuple[T, dict[str, Any]]:
    """(config dataclass, the whole YAML mapping) from ``exp/config.yaml``."""
    path = Path(exp) / "config.yaml"
    if not path.is_file():
        raise SpeechseqError(
            f"{exp}: no config.yaml — not a speechseq model directory (train one with speechseq train-*)"
        )
    data = read_yaml(path)
    fields = {f for f in cls.__dataclass_fields__}
    return from_dict(cls, {k: v for k, v in data.items() if k in fields}, str(path)), data


def save_global_stats(exp: Path, stats: np.ndarray) -> None:
    """Keep the training set's global CMVN statistics beside the model (cmvn "global")."""
    tmp = exp / f".{GLOBAL_STATS_NAME}.tmp"
    kaldiio.save_ark(str(tmp), {GLOBAL_KEY: np.asarray(stats, dtype=np.float64)})
    os.replace(tmp, exp / GLOBAL_STATS_NAME)


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
            f"{final_path}: a {meta.get('task')} model, not a {task} model — give a model directory of the right kind"
        )
    cls = task_class(meta, str(final_path))
    the_task = cls.from_experiment(exp, config, meta)
    dev = resolve_device(device, quiet=quiet)
    model = the_task.build_model()
    try:
        model.load_state_dict(final["model"])
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
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
