"""Retrieval metrics: AP, MAP, P@k, P@N and hit relevance against a reference CTM."""

import pytest

from speechseq.data.kaldi_dir import CtmEntry
from speechseq.metrics.retrieval import (
    average_precision,
    evaluate_queries,
    hit_is_relevant,
    mean_average_precision,
    precision_at_k,
    precision_at_n,
    relevance_of,
)
from speechseq.std.nms import Hit


def test_average_precision_of_hand_made_ranking():
    assert average_precision([1, 0, 1, 0], 2) == pytest.approx((1 + 2 / 3) / 2)
    assert average_precision([0, 1], 3) == pytest.approx((1 / 2) / 3)  # two never found
    assert average_precision([], 1) == 0.0


def test_mean_average_precision_averages_queries():
    assert mean_average_precision([([1, 0, 1, 0], 2), ([0, 1], 1)]) == pytest.approx(
        ((1 + 2 / 3) / 2 + 0.5) / 2
    )


def test_precision_at_k_and_at_n():
    ranking = [1, 0, 1, 1, 0]
    assert precision_at_k(ranking, 10) == pytest.approx(0.3)  # missing ranks are misses
    assert precision_at_k(ranking, 2) == pytest.approx(0.5)
    assert precision_at_n(ranking, 3) == pytest.approx(2 / 3)


def test_average_precision_rejects_more_hits_than_occurrences():
    with pytest.raises(ValueError, match="num_relevant"):
        average_precision([1, 1, 1], 2)


def test_hit_relevance_needs_half_of_the_occurrence_and_matches_it_once():
    occ = {"u1": [CtmEntry("u1", "1", 1.00, 0.40, "hello")]}  # 1.00 .. 1.40
    assert hit_is_relevant(Hit("u1", 1.15, 1.60, 0.9), occ)  # covers 0.25 / 0.40
    assert not hit_is_relevant(Hit("u1", 1.25, 1.60, 0.9), occ)  # covers 0.15 / 0.40
    assert not hit_is_relevant(Hit("u2", 1.00, 1.40, 0.9), occ)  # other recording
    hits = [Hit("u1", 1.0, 1.4, 0.9), Hit("u1", 1.05, 1.4, 0.8), Hit("u1", 5.0, 5.4, 0.7)]
    assert relevance_of(hits, occ) == [True, False, False]


def test_evaluate_queries_scores_against_reference_ctm():
    ref = [
        CtmEntry("u1", "1", 0.5, 0.4, "cat"),
        CtmEntry("u2", "1", 2.0, 0.4, "cat"),
        CtmEntry("u2", "1", 3.0, 0.3, "dog"),
    ]
    results = {
        "q1": [
            Hit("u2", 2.0, 2.4, 0.9),
            Hit("u2", 3.0, 3.3, 0.8),
            Hit("u1", 0.5, 0.9, 0.7),
        ],  # 1,0,1
        "q2": [Hit("u1", 0.5, 0.9, 0.9), Hit("u2", 3.0, 3.3, 0.5)],  # 0,1
    }
    out = evaluate_queries(results, {"q1": "cat", "q2": "dog", "q3": "bird"}, ref)
    ap1, ap2 = (1 + 2 / 3) / 2, 1 / 2
    assert out["map"] == pytest.approx((ap1 + ap2) / 2)
    assert out["p_at_10"] == pytest.approx((0.2 + 0.1) / 2)
    assert out["p_at_n"] == pytest.approx((0.5 + 0.0) / 2)
    assert out["num_queries"] == 2 and out["num_without_occurrences"] == 1
    assert [r["query_id"] for r in out["queries"]] == ["q1", "q2", "q3"] and out["queries"][2][
        "ap"
    ] is None
