"""Retrieval metrics for spoken-term search: AP / MAP, P@k, P@N (R-precision).

A ranked list is a list of booleans, ``ranked_relevance[r]`` telling whether the hit at
rank r+1 is relevant. ``num_relevant`` is the number of true occurrences of the query word
in the searched collection (found or not).

Relevance of a hit (:func:`hit_is_relevant`): the hit must lie in the same recording as a
true occurrence of the query word (a reference CTM entry with the same word, compared
exactly) and cover at least ``min_overlap`` (default half) of that occurrence's duration.
Each occurrence is matched once: later, lower-ranked hits on an already matched
occurrence are not relevant (so duplicates count against precision, as they should).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from speechseq.data.kaldi_dir import CtmEntry
from speechseq.errors import SpeechseqError


@dataclass(frozen=True)
class Hit:
    """One match of a query in a recording."""

    source: str  # recording / utterance id the hit lies in
    start_s: float  # start of the matched span, seconds from the start of ``source``
    end_s: float  # end of the matched span, seconds
    score: float  # higher is better (cosine similarity, or negative DTW cost)
    segment_id: str = ""  # the indexed segment that produced the hit ("" for DTW hits)

    @property
    def dur_s(self) -> float:
        return self.end_s - self.start_s


def _check(ranked_relevance: Sequence[bool], num_relevant: int) -> None:
    if num_relevant < 1:
        raise ValueError(f"num_relevant must be >= 1, got {num_relevant}")
    found = sum(bool(r) for r in ranked_relevance)
    if found > num_relevant:
        raise ValueError(f"{found} relevant hits in the ranking but num_relevant is {num_relevant}")


def average_precision(ranked_relevance: Sequence[bool], num_relevant: int) -> float:
    """Mean over the ``num_relevant`` occurrences of the precision at the rank each was found.

    Occurrences never retrieved contribute 0. E.g. ``[1, 0, 1, 0]`` with 2 relevant:
    ``(1/1 + 2/3) / 2``.
    """
    _check(ranked_relevance, num_relevant)
    total, found = 0.0, 0
    for rank, rel in enumerate(ranked_relevance, start=1):
        if rel:
            found += 1
            total += found / rank
    return total / num_relevant


def mean_average_precision(queries: Iterable[tuple[Sequence[bool], int]]) -> float:
    """Mean of :func:`average_precision` over ``(ranked_relevance, num_relevant)`` pairs."""
    aps = [average_precision(r, n) for r, n in queries]
    if not aps:
        raise ValueError("mean_average_precision needs at least one query")
    return sum(aps) / len(aps)


def precision_at_k(ranked_relevance: Sequence[bool], k: int) -> float:
    """Relevant hits among the first ``k``, over ``k`` (missing ranks count as not relevant)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    return sum(bool(r) for r in ranked_relevance[:k]) / k


def precision_at_n(ranked_relevance: Sequence[bool], num_relevant: int) -> float:
    """P@N with N = ``num_relevant``, the number of true occurrences (R-precision)."""
    _check(ranked_relevance, num_relevant)
    return precision_at_k(ranked_relevance, num_relevant)


def hit_is_relevant(
    hit: Hit,
    occurrences_by_source: Mapping[str, Sequence[CtmEntry]],
    min_overlap: float = 0.5,
    used: set[tuple[str, int]] | None = None,
) -> bool:
    """Whether ``hit`` covers an unmatched true occurrence of the query word.

    ``occurrences_by_source``: recording id -> CTM entries of the query word only.
    The hit must overlap an occurrence in ``hit.source`` by at least ``min_overlap`` of the
    occurrence's duration (an occurrence of zero duration: its time must lie in the hit).
    Among qualifying occurrences the one with the largest overlap is taken. ``used`` holds
    ``(source, position)`` of occurrences already matched by better-ranked hits; the match
    is added to it, so pass the same set along one ranked list.
    """
    best, best_frac = None, -1.0
    for pos, occ in enumerate(occurrences_by_source.get(hit.source, ())):
        if used is not None and (hit.source, pos) in used:
            continue
        inter = min(hit.end_s, occ.end_s) - max(hit.start_s, occ.start_s)
        if occ.dur_s > 0:
            frac = max(0.0, inter) / occ.dur_s
        else:
            frac = 1.0 if inter >= 0 else 0.0
        if frac >= min_overlap and frac > best_frac:
            best, best_frac = pos, frac
    if best is None:
        return False
    if used is not None:
        used.add((hit.source, best))
    return True


def relevance_of(
    hits: Sequence[Hit],
    occurrences_by_source: Mapping[str, Sequence[CtmEntry]],
    min_overlap: float = 0.5,
) -> list[bool]:
    """Relevance of each hit of one ranked list (best first), each occurrence matched once."""
    used: set[tuple[str, int]] = set()
    return [hit_is_relevant(h, occurrences_by_source, min_overlap, used) for h in hits]


def occurrences_by_word(ref_ctm: Iterable[CtmEntry]) -> dict[str, dict[str, list[CtmEntry]]]:
    """word -> recording id -> its CTM entries, in time order."""
    out: dict[str, dict[str, list[CtmEntry]]] = {}
    for e in ref_ctm:
        out.setdefault(e.word, {}).setdefault(e.utt, []).append(e)
    for by_source in out.values():
        for entries in by_source.values():
            entries.sort(key=lambda e: e.start_s)
    return out


def evaluate_queries(
    results: Mapping[str, Sequence[Hit]],
    query_words: Mapping[str, str],
    ref_ctm: Iterable[CtmEntry],
    min_overlap: float = 0.5,
) -> dict:
    """Score ranked hits of many queries against a reference CTM.

    ``results``: query id -> hits, best first (a query with no entry has an empty ranking);
    ``query_words``: query id -> the word the query speaks; the CTM's first field is the
    recording id that hits name as ``source``. Returns ``{"map", "p_at_10",
    "p_at_n", "num_queries", "num_without_occurrences", "queries": [per-query dicts]}``.
    A query whose word never occurs in the reference cannot be scored: it is listed with
    ``ap`` None and left out of the means (and counted in ``num_without_occurrences``).
    """
    unknown = sorted(set(results) - set(query_words))
    if unknown:
        raise SpeechseqError(
            f"results for query '{unknown[0]}' ({len(unknown)} in all) but no word is given for it; "
            "give every searched query its word"
        )
    occ = occurrences_by_word(ref_ctm)
    rows, scored = [], []
    for qid in sorted(query_words):
        word = query_words[qid]
        by_source = occ.get(word, {})
        n = sum(len(v) for v in by_source.values())
        hits = list(results.get(qid, ()))
        rel = relevance_of(hits, by_source, min_overlap)
        row = {
            "query_id": qid,
            "word": word,
            "num_relevant": n,
            "num_hits": len(hits),
            "num_found": sum(rel),
        }
        if n == 0:
            row.update(ap=None, p_at_10=None, p_at_n=None)
        else:
            row.update(
                ap=average_precision(rel, n),
                p_at_10=precision_at_k(rel, 10),
                p_at_n=precision_at_n(rel, n),
            )
            scored.append(row)
        rows.append(row)

    def mean(key):
        return sum(r[key] for r in scored) / len(scored) if scored else float("nan")

    return {
        "map": mean("ap"),
        "p_at_10": mean("p_at_10"),
        "p_at_n": mean("p_at_n"),
        "num_queries": len(scored),
        "num_without_occurrences": len(rows) - len(scored),
        "queries": rows,
    }
