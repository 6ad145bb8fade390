"""The field's keyword-search evaluations for query-by-example search results.

Glue between the hits of :mod:`speechseq.std.qbe` and the NIST scoring of
:mod:`speechseq.metrics.kws`: the query words become a NIST term list, each term's
detections are the hits of all its spoken examples (overlapping ones merged), a hit is a YES
decision when its score reaches the method's threshold (one chosen on dev queries: the MTWV
threshold of a dev run; without one, every returned hit), and the archive's CTM is the
reference. Writes the NIST
files (``ecf.xml``, ``kwlist.xml``, ``ref.rttm``, ``<method>/kwslist.xml``) so the scores can be
checked with NIST's F4DE or Kaldi's tools, and reports ATWV and MTWV. Same-different AP is
computed over the query segments themselves: every pair of queries is a trial.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from speechseq.data.kaldi_dir import CtmEntry
from speechseq.metrics.kws import (
    Detection,
    pair_trials,
    rttm_from_ctm,
    same_different_ap,
    term_weighted_value,
    write_ecf,
    write_kwlist,
    write_kwslist,
    write_rttm,
)
from speechseq.std.dtw import subsequence_dtw
from speechseq.std.nms import Hit, merge_hits


def term_list(words: Mapping[str, str]) -> dict[str, str]:
    """kwid -> word for the distinct words of the queries (``KW-0001`` ... in sorted order)."""
    return {f"KW-{k + 1:04d}": w for k, w in enumerate(sorted(set(words.values())))}


def detections(
    results: Mapping[str, Sequence[Hit]],
    words: Mapping[str, str],
    terms: Mapping[str, str],
    threshold: float | None = None,
) -> list[Detection]:
    """Each term's hits: those of all its queries, overlapping ones merged (best kept); the
    decision is YES when the score reaches ``threshold`` (None: every returned hit)."""
    kwid = {w: k for k, w in terms.items()}
    by_word: dict[str, list[Hit]] = {}
    for q, hits in results.items():
        by_word.setdefault(words[q], []).extend(hits)
    return [
        Detection(
            kwid[w],
            h.source,
            h.start_s,
            h.end_s - h.start_s,
            h.score,
            threshold is None or h.score >= threshold,
        )
        for w, hits in sorted(by_word.items())
        for h in merge_hits(hits)
    ]


def kws_scores(
    per_method: Mapping[str, Mapping[str, Sequence[Hit]]],
    words: Mapping[str, str],
    ref: Sequence[CtmEntry],
    durations: Mapping[str, float],
    out_dir: str | os.PathLike | None = None,
    thresholds: Mapping[str, float] | None = None,
) -> dict[str, dict]:
    """ATWV / MTWV per method (``per_method``: method -> query -> hits); writes the NIST files
    under ``out_dir`` when given. ``thresholds``: a method's YES threshold (chosen on a dev
    set: the MTWV threshold of a dev run); without one every returned hit is a YES."""
    terms = term_list(words)
    reference = rttm_from_ctm(ref)
    speech_s = float(sum(durations.values()))
    if out_dir is not None:
        out = Path(out_dir)
        write_ecf(out / "ecf.xml", durations)
        write_kwlist(out / "kwlist.xml", terms)
        write_rttm(out / "ref.rttm", reference)
    scores = {}
    for method, results in per_method.items():
        dets = detections(results, words, terms, (thresholds or {}).get(method))
        if out_dir is not None:
            write_kwslist(Path(out_dir) / method / "kwslist.xml", dets, f"speechseq-{method}")
        r = term_weighted_value(dets, reference, terms, speech_s)
        scores[method] = {
            "atwv": round(r.atwv, 4),
            "mtwv": round(r.mtwv, 4),
            "mtwv_threshold": r.mtwv_threshold,
            "terms": len(r.terms),
            "terms_not_in_reference": r.not_in_reference,
        }
    return scores


def same_different_embed(vectors: np.ndarray, labels: Sequence[str]) -> float | None:
    """Same-different AP of L2-normalised segment vectors (cosine similarity); None when no
    two segments share a word."""
    if len(set(labels)) == len(labels):
        return None
    return same_different_ap(*pair_trials(vectors, labels))


def same_different_dtw(feats: Sequence[np.ndarray], labels: Sequence[str]) -> float | None:
    """Same-different AP of DTW: a pair's score is minus the mean frame distance of the shorter
    segment aligned inside the longer (subsequence DTW); None when no two share a word."""
    if len(set(labels)) == len(labels):
        return None
    scores, same = [], []
    for i in range(len(feats)):
        for j in range(i + 1, len(feats)):
            a, b = (feats[i], feats[j]) if len(feats[i]) <= len(feats[j]) else (feats[j], feats[i])
            cost, _ = subsequence_dtw(a, b)
            scores.append(-float(cost.min()))
            same.append(labels[i] == labels[j])
    return same_different_ap(np.array(scores), np.array(same))
