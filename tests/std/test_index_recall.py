"""Approximate FAISS indexes against exact search on clustered vectors (like embeddings of
repeated words): recall@10 of HNSW and IVF-PQ with their default parameters."""

from __future__ import annotations

import numpy as np
import pytest

from speechseq.std.index import SegmentRow, build_index

N, DIM, CLUSTERS, QUERIES, K = 3000, 32, 30, 100, 10


def clustered(n: int, rng: np.random.Generator, centres: np.ndarray) -> np.ndarray:
    """Points around random cluster centres (noise comparable to the spread of the centres)."""
    x = centres[rng.integers(0, len(centres), size=n)] + 0.5 * rng.standard_normal((n, DIM))
    return x.astype(np.float32)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((CLUSTERS, DIM))
    x, q = clustered(N, rng, centres), clustered(QUERIES, rng, centres)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    exact = np.argsort(-(qn @ xn.T), axis=1)[:, :K]  # brute-force cosine neighbours
    segments = [SegmentRow(f"seg{i:05d}", f"utt{i % 50}", 0.0, 0.5) for i in range(N)]
    return x, q, exact, segments


def recall_at_k(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(e)) / K for f, e in zip(found, exact, strict=True)]))


def test_flat_index_is_exact_search(data):
    x, q, exact, segments = data
    _, idx = build_index(x, segments, None, "m", "flat").search(q, top_k=K)
    assert recall_at_k(idx, exact) == 1.0


@pytest.mark.parametrize("kind", ["hnsw", "ivfpq"])
def test_approximate_index_recall_at_10_against_exact_search(data, kind):
    x, q, exact, segments = data
    store = build_index(x, segments, None, "m", kind)
    assert store.meta["index_type"] == kind
    scores, idx = store.search(q, top_k=K)
    assert recall_at_k(idx, exact) >= 0.9
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
