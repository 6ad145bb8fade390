"""Read a ``speechseq embed`` output directory: ``vectors.npy``, ``segments.tsv``, ``meta.json``.

Kept apart from :mod:`speechseq.std.qbe` (which loads the embedder, and so torch) so that
plotting and index building can read vectors without importing torch.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from speechseq.errors import SpeechseqError
from speechseq.std.index import SegmentRow


def read_vectors(vecs_dir: str | os.PathLike):
    """(vectors [N, D], segment rows, meta) from a ``speechseq embed`` output directory."""

    d = Path(vecs_dir)
    for name in ("vectors.npy", "segments.tsv", "meta.json"):
        if not (d / name).is_file():
            raise SpeechseqError(
                f"{d / name}: not found — VECS must be a directory written by speechseq embed"
            )
    try:
        vectors = np.load(d / "vectors.npy")
    except Exception as e:
        raise SpeechseqError(
            f"{d / 'vectors.npy'}: unreadable ({e}) — re-run speechseq embed"
        ) from None
    try:
        meta = json.loads((d / "meta.json").read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SpeechseqError(
            f"{d / 'meta.json'}: unreadable ({e}) — re-run speechseq embed"
        ) from None
    if vectors.ndim != 2:
        raise SpeechseqError(
            f"{d / 'vectors.npy'}: holds an array of shape {vectors.shape}, not [N, dim] — re-run speechseq embed"
        )
    missing = [k for k in ("embedder_id", "dim") if not isinstance(meta, dict) or k not in meta]
    if missing:
        raise SpeechseqError(
            f"{d / 'meta.json'}: lacks {', '.join(missing)} — VECS must be a directory written by speechseq embed"
        )
    if int(meta["dim"]) != vectors.shape[1]:
        raise SpeechseqError(
            f"{d / 'vectors.npy'}: holds {vectors.shape[1]}-dim vectors but {d / 'meta.json'} says dim "
            f"{meta['dim']} — the files come from different runs; re-run speechseq embed"
        )
    rows = []
    lines = (d / "segments.tsv").read_text(encoding="utf-8").splitlines()
    for lineno, line in enumerate(lines[1:], start=2):
        f = line.split("\t")
        if len(f) != 4:
            raise SpeechseqError(
                f"{d / 'segments.tsv'}:{lineno}: expected 4 tab-separated fields — re-run speechseq embed"
            )
        rows.append(SegmentRow(f[0], f[1], float(f[2]), float(f[3])))
    if len(rows) != vectors.shape[0]:
        raise SpeechseqError(
            f"{d}: {vectors.shape[0]} vectors but {len(rows)} segments — re-run speechseq embed"
        )
    return vectors.astype(np.float32, copy=False), rows, meta
