"""Retrieval metrics: AP, MAP, P@k, P@N and hit relevance against a reference CTM."""

import pytest

from speechseq.data.kaldi_dir import CtmEntry
from speechseq.errors import SpeechseqError
from speechseq.metrics.retrieval import (
    average_precision,
    evaluate_queries,
    hit_is_relevant,
    mean_average_precision,
    occurrences_by_word,
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


def test_bad_arguments_are_named_in_the_error():
    with pytest.raises(ValueError, match="num_relevant must be >= 1, got 0"):
        average_precision([0], 0)
    with pytest.raises(ValueError, match="k must be >= 1, got 0"):
        precision_at_k([1], 0)
    with pytest.raises(ValueError, match="mean_average_precision needs at least one query"):
        mean_average_precision([])


def test_a_hit_covering_exactly_min_overlap_is_relevant():
    occ = {"u1": [CtmEntry("u1", "1", 1.0, 0.5, "cat")]}  # 1.0 .. 1.5
    assert hit_is_relevant(Hit("u1", 1.25, 2.0, 0.9), occ)  # 0.25 / 0.5, exactly half


def test_zero_duration_occurrence_is_relevant_when_its_time_lies_in_the_hit():
    occ = {"u1": [CtmEntry("u1", "1", 1.0, 0.0, "cat")]}
    assert hit_is_relevant(Hit("u1", 0.5, 1.5, 0.9), occ)
    assert hit_is_relevant(Hit("u1", 0.5, 1.0, 0.9), occ)  # ends exactly at it
    assert not hit_is_relevant(Hit("u1", 1.2, 1.5, 0.9), occ)


def test_a_tie_in_overlap_matches_the_earlier_occurrence():
    # both occurrences are fully covered by the first hit; it takes the first listed, so the
    # second hit, which covers only that one, is a duplicate
    occ = {"u1": [CtmEntry("u1", "1", 1.0, 0.5, "cat"), CtmEntry("u1", "1", 1.0, 0.0, "cat")]}
    hits = [Hit("u1", 1.0, 1.5, 0.9), Hit("u1", 1.25, 1.5, 0.8)]
    assert relevance_of(hits, occ) == [True, False]


def test_a_matched_occurrence_is_skipped_not_the_rest_of_the_recording():
    occ = {"u1": [CtmEntry("u1", "1", 1.0, 0.4, "cat"), CtmEntry("u1", "1", 3.0, 0.4, "cat")]}
    hits = [Hit("u1", 1.0, 1.4, 0.9), Hit("u1", 3.0, 3.4, 0.8)]
    assert relevance_of(hits, occ) == [True, True]


def test_occurrences_are_listed_in_time_order():
    ctm = [CtmEntry("u1", "1", 3.0, 0.2, "cat"), CtmEntry("u1", "1", 1.0, 0.2, "cat")]
    assert [e.start_s for e in occurrences_by_word(ctm)["cat"]["u1"]] == [1.0, 3.0]


def test_evaluate_queries_rows_and_min_overlap():
    ref = [CtmEntry("u1", "1", 1.0, 0.5, "cat")]
    hits = {"q1": [Hit("u1", 1.2, 2.0, 0.9)]}  # covers 0.3 / 0.5 of the occurrence
    out = evaluate_queries(hits, {"q1": "cat", "q2": "dog"}, ref)
    assert out["queries"] == [
        {
            "query_id": "q1",
            "word": "cat",
            "num_relevant": 1,
            "num_hits": 1,
            "num_found": 1,
            "ap": 1.0,
            "p_at_10": 0.1,
            "p_at_n": 1.0,
        },
        {
            "query_id": "q2",
            "word": "dog",
            "num_relevant": 0,
            "num_hits": 0,
            "num_found": 0,
            "ap": None,
            "p_at_10": None,
            "p_at_n": None,
        },
    ]
    strict = evaluate_queries(hits, {"q1": "cat"}, ref, min_overlap=0.7)
    assert strict["queries"][0]["num_found"] == 0 and strict["map"] == 0.0


def test_evaluate_queries_without_any_occurrence_has_nan_means():
    out = evaluate_queries({}, {"q1": "dog"}, [CtmEntry("u1", "1", 1.0, 0.5, "cat")])
    assert out["num_queries"] == 0 and out["num_without_occurrences"] == 1
    assert all(out[k] != out[k] for k in ("map", "p_at_10", "p_at_n"))  # NaN


def test_evaluate_queries_rejects_results_of_a_query_without_a_word():
    with pytest.raises(SpeechseqError) as err:
        evaluate_queries({"q2": [], "q3": []}, {"q1": "cat"}, [])
    assert "results for query 'q2' (2 in all)" in str(err.value)
    assert "give every searched query its word" in str(err.value)
