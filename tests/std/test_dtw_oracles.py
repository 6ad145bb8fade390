"""Subsequence DTW against librosa's implementation.

Conventions matched: librosa's ``dtw(X=query.T, Y=doc.T, metric="cosine", subseq=True)`` has
the query on the rows (all of it used) and a free start on the document; its default steps
(1,1), (0,1), (1,0) with ``weights_add=0, weights_mul=1`` add the distance of the cell entered,
as ours do, and ``D[-1, j]`` is the accumulated (unnormalised) cost of the best path ending at
document frame j. Ours divides that by the number of cells on the path, so the oracle
backtracks librosa's path from every end frame and divides by its length. The two break ties
between (0,1) and (1,0) in different orders; with continuous random features ties do not occur.
"""

from __future__ import annotations

import numpy as np
import pytest

librosa = pytest.importorskip("librosa")

from speechseq.std.dtw import subsequence_dtw  # noqa: E402


def librosa_per_end(query: np.ndarray, doc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each document end frame: the average cost of the best path ending there, and its
    start frame, from librosa's accumulated costs and backtracking."""
    D, _, steps = librosa.sequence.dtw(
        X=query.T, Y=doc.T, metric="cosine", subseq=True, backtrack=True, return_steps=True
    )
    avg, start = np.empty(len(doc)), np.empty(len(doc), dtype=int)
    for j in range(len(doc)):
        path = librosa.sequence.dtw_backtracking(steps, subseq=True, start=j)  # end first
        assert tuple(path[0]) == (len(query) - 1, j) and path[-1][0] == 0
        avg[j], start[j] = D[-1, j] / len(path), path[-1][1]
    return avg, start


@pytest.mark.parametrize("seed", range(6))
def test_subsequence_dtw_equals_librosa_at_every_end_frame(seed):
    rng = np.random.default_rng(seed)
    tq, td = int(rng.integers(2, 9)), int(rng.integers(10, 30))
    doc = rng.standard_normal((td, 4))
    query = rng.standard_normal((tq, 4))
    if seed % 2:  # half the cases: a stretched, noisy copy of part of the document
        a = int(rng.integers(0, td - 4))
        query = np.repeat(doc[a : a + 4], 2, axis=0) + 0.3 * rng.standard_normal((8, 4))
    cost, start = subsequence_dtw(query, doc)
    want_cost, want_start = librosa_per_end(query, doc)
    np.testing.assert_allclose(cost, want_cost, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(start, want_start)
    assert int(np.argmin(cost)) == int(np.argmin(want_cost))  # the best end position
