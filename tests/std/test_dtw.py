"""Subsequence DTW finds a query planted inside a document."""

import numpy as np

from speechseq.std.dtw import dtw_search, subsequence_dtw


def test_subsequence_dtw_finds_planted_query_frames():
    rng = np.random.default_rng(0)
    doc = rng.standard_normal((300, 13))
    query = doc[120:160].copy()
    cost, start = subsequence_dtw(query, doc)
    end = int(np.argmin(cost))
    assert end == 159 and start[end] == 120
    assert cost[end] < 1e-9 and cost.shape == (300,)


def test_subsequence_dtw_matches_time_stretched_query():
    rng = np.random.default_rng(1)
    doc = rng.standard_normal((200, 13))
    query = np.repeat(doc[50:80], 2, axis=0) + 0.05 * rng.standard_normal((60, 13))  # spoken slower
    cost, start = subsequence_dtw(query, doc)
    end = int(np.argmin(cost))
    assert abs(end - 79) <= 1 and abs(start[end] - 50) <= 1


def test_dtw_search_ranks_document_with_query_first_in_seconds():
    rng = np.random.default_rng(2)
    docs = {f"utt{i}": rng.standard_normal((250, 13)) for i in range(3)}
    query = docs["utt1"][100:140] + 0.1 * rng.standard_normal((40, 13))
    hits = dtw_search(query, docs, frame_shift_s=0.01, top_k=5)
    assert hits[0].source == "utt1"
    assert abs(hits[0].start_s - 1.00) <= 0.02 and abs(hits[0].end_s - 1.40) <= 0.02
    assert len(hits) == 5 and all(a.score >= b.score for a, b in zip(hits, hits[1:], strict=False))
