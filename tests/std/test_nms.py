"""Non-maximum suppression of overlapping hits."""

from speechseq.std.nms import Hit, merge_hits


def test_merge_hits_keeps_best_of_overlapping_group_and_separate_hits():
    hits = [
        Hit("a", 1.00, 1.50, 0.80, "w1"),
        Hit("a", 1.10, 1.55, 0.90, "w2"),  # overlaps w1 by 0.4 of 0.45..0.5: merged into w2
        Hit("a", 1.20, 1.30, 0.70, "w3"),  # inside w2: merged
        Hit("a", 1.45, 2.00, 0.60, "w4"),  # overlaps w2 by 0.10/0.45 < 0.5: kept
        Hit("b", 1.10, 1.55, 0.50, "w5"),  # same times, other source: kept
    ]
    kept = merge_hits(hits, max_overlap=0.5)
    assert [h.segment_id for h in kept] == ["w2", "w4", "w5"]


def test_merge_hits_returns_hits_sorted_by_score():
    hits = [Hit("a", 0, 1, 0.1), Hit("a", 2, 3, 0.9), Hit("a", 4, 5, 0.5)]
    assert [h.score for h in merge_hits(hits)] == [0.9, 0.5, 0.1]
