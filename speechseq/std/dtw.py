"""Subsequence DTW: the classic query-by-example baseline (no training, no index).

The query's frames are aligned to any stretch of a document's frames ("segmental" or
subsequence DTW: free start and free end in the document, the whole query must be used).

- Frame distance: cosine distance ``1 - cos(q_i, d_j)`` in [0, 2], all pairs at once with
  one matmul. Features should be mean-normalised per utterance (CMVN, as ``compute-feats``
  writes them) so that cosine compares spectral shape rather than loudness; the function
  itself does not normalise, so a query cut from a document matches it exactly.
- Steps: (1,0) next query frame on the same document frame, (0,1) next document frame on
  the same query frame, (1,1) both; each step adds the distance of the cell it enters.
  The predecessor is the one with the smallest accumulated cost (ties: diagonal first).
- Normalisation: the accumulated cost is divided by the number of cells on the path, so
  a score is an average frame distance that does not favour short matches.

The dynamic programme runs over cells with numba (a dependency of librosa).
"""

from __future__ import annotations

from collections.abc import Mapping

import numba
import numpy as np

from speechseq.errors import SpeechseqError
from speechseq.std.nms import Hit, merge_hits, sort_hits


def cosine_distances(query: np.ndarray, doc: np.ndarray) -> np.ndarray:
    """``1 - cos`` between every query frame and every document frame: ``[Tq, Td]`` float64."""
    q = np.asarray(query, dtype=np.float64)
    d = np.asarray(doc, dtype=np.float64)
    qn = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    dn = d / np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-12)
    return np.clip(1.0 - qn @ dn.T, 0.0, 2.0)


@numba.njit(cache=True)
def _dp(dist):  # dist: [Tq, Td] -> (cost [Td], length [Td], start [Td])
    tq, td = dist.shape
    cost = np.empty(td)
    length = np.empty(td, np.int64)
    start = np.empty(td, np.int64)
    prev_cost = np.empty(td)
    prev_len = np.empty(td, np.int64)
    prev_start = np.empty(td, np.int64)
    for j in range(td):  # first query frame: a match may start at any document frame
        cost[j] = dist[0, j]
        length[j] = 1
        start[j] = j
    for i in range(1, tq):
        prev_cost[:] = cost
        prev_len[:] = length
        prev_start[:] = start
        for j in range(td):
            best, blen, bstart = prev_cost[j], prev_len[j], prev_start[j]  # (1,0)
            if j > 0:
                if prev_cost[j - 1] <= best:  # (1,1), preferred on ties
                    best, blen, bstart = prev_cost[j - 1], prev_len[j - 1], prev_start[j - 1]
                if cost[j - 1] < best:  # (0,1): this row, already updated
                    best, blen, bstart = cost[j - 1], length[j - 1], start[j - 1]
            cost[j] = best + dist[i, j]
            length[j] = blen + 1
            start[j] = bstart
    return cost, length, start


def subsequence_dtw(query: np.ndarray, doc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best alignment of the whole query ending at each document frame.

    ``query: [Tq, C]``, ``doc: [Td, C]``. Returns ``cost: [Td]`` (average cosine distance
    along the best path that ends at document frame j, lower is better) and
    ``start: [Td]`` (the document frame where that path starts, inclusive).
    """
    query = np.asarray(query)
    doc = np.asarray(doc)
    if query.ndim != 2 or doc.ndim != 2 or query.shape[1] != doc.shape[1]:
        raise ValueError(
            f"query [Tq, C] and doc [Td, C] must share C; got {query.shape} and {doc.shape}"
        )
    if len(query) == 0 or len(doc) == 0:
        raise ValueError(
            f"query and doc need at least one frame; got {query.shape} and {doc.shape}"
        )
    cost, length, start = _dp(cosine_distances(query, doc))
    return cost / length, start


def _local_minima(cost: np.ndarray) -> np.ndarray:
    """Indices j where ``cost[j]`` is no larger than both neighbours (plateaus: first frame)."""
    left = np.concatenate(([np.inf], cost[:-1]))
    right = np.concatenate((cost[1:], [np.inf]))
    return np.flatnonzero((cost < left) & (cost <= right))


def dtw_search(
    query_feats: np.ndarray,
    docs: Mapping[str, np.ndarray],
    frame_shift_s: float = 0.01,
    top_k: int = 10,
    max_overlap: float = 0.5,
) -> list[Hit]:
    """Search every document for the query; return the ``top_k`` best hits, best first.

    ``query_feats: [Tq, C]``; ``docs``: source id -> ``feats: [T, C]`` (same features).
    Candidates are the local minima of each document's cost curve; overlapping candidates
    in one document are merged by :func:`merge_hits`. A hit spans the start frame to the end
    frame inclusive: ``start_s = start * frame_shift_s``, ``end_s = (end + 1) * frame_shift_s``;
    its score is the negative average cosine distance (higher is better, at most 0).
    """
    hits: list[Hit] = []
    for source, feats in docs.items():
        try:
            cost, start = subsequence_dtw(query_feats, feats)
        except ValueError as err:
            raise SpeechseqError(
                f"document '{source}': {err}; give query and documents the same features"
            ) from None
        ends = _local_minima(cost)
        ends = ends[np.argsort(cost[ends], kind="stable")][: 20 * top_k]  # enough for NMS
        cands = [
            Hit(
                source,
                float(start[j] * frame_shift_s),
                float((j + 1) * frame_shift_s),
                float(-cost[j]),
            )
            for j in ends
        ]
        hits.extend(merge_hits(cands, max_overlap=max_overlap)[:top_k])
    return sort_hits(hits)[:top_k]
