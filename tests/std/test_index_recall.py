"""Approximate FAISS indexes against exact search on clustered vectors (like embeddings of
repeated words): recall@10 of HNSW and IVF-PQ with their default parameters."""

from __future__ import annotations

import numpy as np
import pytest

from speechseq.std.index import build_index
from tests.std.helpers import K


def recall_at_k(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(e)) / K for f, e in zip(found, exact, strict=True)]))


def test_flat_index_is_exact_search(clustered_data):
    x, q, exact, segments = clustered_data
    _, idx = build_index(x, segments, None, "m", "flat").search(q, top_k=K)
    assert recall_at_k(idx, exact) == 1.0


@pytest.mark.parametrize("kind", ["hnsw", "ivfpq"])
def test_approximate_index_recall_at_10_against_exact_search(clustered_data, kind):
    x, q, exact, segments = clustered_data
    store = build_index(x, segments, None, "m", kind)
    assert store.meta["index_type"] == kind
    scores, idx = store.search(q, top_k=K)
    assert recall_at_k(idx, exact) >= 0.9
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
