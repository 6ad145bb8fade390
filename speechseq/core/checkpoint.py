"""Checkpoints: atomic writes, rotation, resume lookup, and averaging.

``EXP/checkpoints/step-<S>.pt`` are written every N steps, ``epoch-<E>.pt`` at the end
of each epoch; ``best.pt`` holds the weights with the best dev metric. A checkpoint is a
dict with ``model``, ``optimizer``, ``scheduler``, ``scaler``, ``state`` (the trainer's
counters and history) and ``rng`` (every random generator), so ``--resume`` continues
exactly where the run stopped.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch

from speechseq.errors import SpeechseqError
from speechseq.fileio import atomic_write

_NAME = re.compile(r"^(step|epoch)-(\d+)\.pt$")


def save(obj, path: str | os.PathLike) -> None:
    with atomic_write(path, "wb") as f:
        torch.save(obj, f)


def load(path: str | os.PathLike, map_location="cpu", mmap: bool = False):
    path = Path(path)
    if not path.is_file():
        raise SpeechseqError(
            f"{path}: checkpoint not found — train a model first or check the path"
        )
    try:
        # weights_only: tensors and plain values only — a checkpoint from elsewhere cannot run code
        return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except Exception as e:  # torch raises many kinds for a torn or foreign file
        why = (str(e).strip().splitlines() or [""])[0][:160]
        raise SpeechseqError(
            f"{path}: not a readable checkpoint ({type(e).__name__}: {why}) — it is torn, not a "
            f"speechseq checkpoint, or holds objects other than tensors and plain values (refused: "
            f"loading them could run code); restore it from training or resume from an earlier one"
        ) from None


def listing(ckpt_dir: str | os.PathLike, kind: str) -> list[Path]:
    """``kind`` (step|epoch) checkpoints in ``ckpt_dir``, oldest first."""
    found = []
    for p in Path(ckpt_dir).glob(f"{kind}-*.pt"):
        m = _NAME.match(p.name)
        if m:
            found.append((int(m.group(2)), p))
    return [p for _, p in sorted(found)]


def run_id(path: Path) -> str:
    """The run that wrote checkpoint ``path`` ("" for checkpoints older than run ids)."""
    return str(load(path, mmap=True)["state"].get("run_id", ""))


def of_run(ckpt_dir: str | os.PathLike, kind: str, run: str) -> list[Path]:
    """``kind`` checkpoints written by run ``run``, oldest first."""
    return [p for p in listing(ckpt_dir, kind) if run_id(p) == run]


def rotate(ckpt_dir: str | os.PathLike, kind: str, keep: int, run: str) -> None:
    """Remove all but the newest ``keep`` ``kind`` checkpoints of run ``run``."""
    for p in of_run(ckpt_dir, kind, run)[:-keep] if keep > 0 else []:
        p.unlink(missing_ok=True)


def mark_latest(ckpt_dir: str | os.PathLike, path: Path) -> None:
    """Record ``path`` as the checkpoint ``--resume`` continues from."""
    with atomic_write(Path(ckpt_dir) / "latest") as f:
        f.write(path.name + "\n")


def latest(ckpt_dir: str | os.PathLike) -> Path | None:
    """The checkpoint written last (see :func:`mark_latest`), or None when none was marked.

    A marker that names a missing checkpoint is an error, not a silent restart."""
    marker = Path(ckpt_dir) / "latest"
    if not marker.is_file():
        return None
    path = Path(ckpt_dir) / marker.read_text().strip()
    if not path.is_file():
        raise SpeechseqError(
            f"{marker}: names {path.name}, which is missing — restore it, or point the marker at "
            f"another checkpoint of {ckpt_dir} (e.g. the newest epoch-N.pt), or retrain with --overwrite"
        )
    return path


def average(paths: list[Path]) -> dict[str, torch.Tensor]:
    """Element-wise mean of the model weights of several checkpoints (integer buffers from the last)."""
    avg: dict[str, torch.Tensor] = {}
    for p in paths:
        sd = load(p)["model"]
        for k, v in sd.items():
            if v.is_floating_point():
                avg[k] = avg[k] + v.double() if k in avg else v.double().clone()
            else:
                avg[k] = v
    return {k: (v / len(paths)).float() if v.is_floating_point() else v for k, v in avg.items()}
