"""Search hits and non-maximum suppression of overlapping hits within one recording.

Sliding windows of several lengths around one spoken word all match a query, so a raw
ranked list repeats the same occurrence many times. :func:`merge_hits` keeps the best
hit of each overlapping group.
"""

from __future__ import annotations

from collections.abc import Iterable

from speechseq.metrics.retrieval import Hit


def overlap_fraction(a: Hit, b: Hit) -> float:
    """Intersection of the two spans over the shorter span, in [0, 1].

    Intersection over the *shorter* span (not IoU) is used because a short window that lies
    wholly inside a longer one covers the same word: its fraction is 1, while IoU would be
    small and keep both. Zero-length spans overlap fully when they lie inside the other span.
    """
    inter = min(a.end_s, b.end_s) - max(a.start_s, b.start_s)
    shorter = min(a.dur_s, b.dur_s)
    if shorter <= 0.0:
        return 1.0 if inter >= 0.0 else 0.0
    return max(0.0, inter) / shorter


def sort_hits(hits: Iterable[Hit]) -> list[Hit]:
    """Best score first; ties broken by source, start and segment id so the order is stable."""
    return sorted(hits, key=lambda h: (-h.score, h.source, h.start_s, h.segment_id))


def merge_hits(hits: Iterable[Hit], max_overlap: float = 0.5) -> list[Hit]:
    """Greedy non-maximum suppression, per source.

    Hits are visited best first; a hit is dropped when it overlaps an already kept hit of
    the same source by more than ``max_overlap`` (intersection over the shorter span, see
    :func:`overlap_fraction`). Returns the kept hits, best first.
    """
    if not 0.0 <= max_overlap <= 1.0:
        raise ValueError(f"max_overlap must lie in [0, 1], got {max_overlap}")
    kept: list[Hit] = []
    kept_by_source: dict[str, list[Hit]] = {}
    for hit in sort_hits(hits):
        same = kept_by_source.setdefault(hit.source, [])
        if any(overlap_fraction(hit, k) > max_overlap for k in same):
            continue
        same.append(hit)
        kept.append(hit)
    return kept
