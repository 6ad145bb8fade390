"""Fixtures of the std tests."""

from __future__ import annotations

import numpy as np
import pytest

from speechseq.cli.main import app
from speechseq.std.index import SegmentRow
from tests.std.helpers import CLUSTERS, DIM, QUERIES, K, N, clustered, runner, snapshot, write_vecs


@pytest.fixture
def vecs(tmp_path):
    old, new = write_vecs(tmp_path / "old", 20, 8), write_vecs(tmp_path / "new", 30, 8, seed=1)
    idx = tmp_path / "idx"
    assert runner.invoke(app, ["index", "build", str(old), "--out", str(idx)]).exit_code == 0
    before = snapshot(idx)
    assert runner.invoke(app, ["index", "build", str(new), "--out", str(idx)]).exit_code == 0
    after = snapshot(idx)
    assert before != after
    return tmp_path, before, after


@pytest.fixture(scope="module")
def clustered_data():
    """Vectors around cluster centres, queries, their exact cosine neighbours, segment rows."""
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((CLUSTERS, DIM))
    x, q = clustered(N, rng, centres), clustered(QUERIES, rng, centres)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    exact = np.argsort(-(qn @ xn.T), axis=1)[:, :K]  # brute-force cosine neighbours
    segments = [SegmentRow(f"seg{i:05d}", f"utt{i % 50}", 0.0, 0.5) for i in range(N)]
    return x, q, exact, segments
