"""Helpers shared by the index tests (test modules never import each other)."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
from typer.testing import CliRunner

from speechseq.std.index import IndexStore, SegmentRow

VISIBLE = ("index.faiss", "segments.tsv", "meta.json", "embed.json")


def unit_vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def rows(n: int, prefix: str = "seg") -> list[SegmentRow]:
    return [SegmentRow(f"{prefix}{i:05d}", f"utt{i % 7}", 0.1 * i, 0.1 * i + 0.5) for i in range(n)]


def assert_clean(idx):
    gens = sorted(p.name for p in idx.iterdir() if p.name.startswith("gen-"))
    assert len(gens) == 1 and os.readlink(idx / "current") == gens[0]
    assert sorted(p.name for p in idx.iterdir()) == sorted(["current", gens[0], *VISIBLE])
    assert all((idx / n).is_symlink() for n in VISIBLE)


def old_layout(idx):
    """An index as speechseq wrote it before generations: the plain files in IDX/."""
    gen = idx / os.readlink(idx / "current")
    for name in VISIBLE:
        (idx / name).unlink()
        shutil.copy(gen / name, idx / name)
    (idx / "current").unlink()
    shutil.rmtree(gen)


runner = CliRunner()


def snapshot(idx):
    """(segment rows, vectors, meta, embed.json) of the committed index; None when there is none."""
    if not any((idx / n).exists() for n in VISIBLE):
        return None
    store = IndexStore.open(idx)
    vectors = store.index.reconstruct_n(0, len(store))
    settings = json.loads(store.files["embed.json"].read_text())
    assert settings["embedder_id"] == store.embedder_id
    return store.segments, vectors.tolist(), store.meta["num_vectors"], settings


def write_vecs(d, n, dim, embedder="model-a@1", seed=0, meta_dim=None):
    """A directory as `speechseq embed` writes it."""
    d.mkdir(parents=True)
    np.save(d / "vectors.npy", unit_vectors(n, dim, seed))
    with open(d / "segments.tsv", "w") as f:
        f.write("segment_id\tsource\tstart_s\tend_s\n")
        for r in rows(n, f"s{seed}_"):
            f.write(f"{r.segment_id}\t{r.source}\t{r.start_s:.3f}\t{r.end_s:.3f}\n")
    meta = {"embedder_id": embedder, "model": "/m", "dim": meta_dim or dim, "count": n}
    meta |= {"segments": "window", "window_s": [0.5], "hop_s": 0.1, "audio": f"/audio{seed}"}
    (d / "meta.json").write_text(json.dumps(meta))
    return d


# the recall tests' clustered vectors: count, dimension, clusters, queries, neighbours kept
N, DIM, CLUSTERS, QUERIES, K = 3000, 32, 30, 100, 10


def clustered(n: int, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    """Points around random cluster centres (noise comparable to the spread of the centres)."""
    x = centres[rng.integers(0, len(centres), size=n)] + 0.5 * rng.standard_normal((n, DIM))
    return x.astype(np.float32)
