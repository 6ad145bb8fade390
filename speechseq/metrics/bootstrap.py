"""Bootstrap confidence intervals of WER, and of the ratio of two test sets' WERs.

Kaldi's ``compute-wer-bootci`` (Bisani & Ney, "Bootstrap estimates for confidence intervals in
ASR performance evaluation", ICASSP 2004) resamples a test set's utterances with replacement
and reads the 2.5th and 97.5th percentiles of the WER over the replicates. It compares two
systems on the SAME utterances; the leave-one-engine-out figure compares one model on two
test sets (espeak's held-out voices, Piper's speakers), so here each set is resampled on its
own and the ratio of the two WERs is read over the pairs of replicates. Several decodes of one
set (one per training seed) are pooled — errors and reference words summed — with one
resample of the set's utterances shared by all of them, so a replicate keeps the seeds paired.

Our own code: Kaldi's tool is a C++ binary of its source tree (no wheel), and sacrebleu's
paired bootstrap is for BLEU/chrF. The inputs are the ``per_utt`` files every ``speechseq
decode`` writes (Kaldi's ``#csid`` lines, read by :func:`speechseq.metrics.wer.read_per_utt`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speechseq.errors import SpeechseqError
from speechseq.metrics.wer import read_per_utt


@dataclass(frozen=True)
class Interval:
    """A statistic on the full data and the 2.5 / 97.5 percentiles over bootstrap replicates."""

    value: float
    low: float
    high: float


def _counts(paths: list[str | os.PathLike]) -> np.ndarray:
    """(utterances, 2) errors and reference words summed over decodes of the same utterances."""
    tables = [read_per_utt(Path(p)) for p in paths]
    utts = sorted(tables[0])
    for p, t in zip(paths[1:], tables[1:], strict=True):
        if sorted(t) != utts:
            raise SpeechseqError(
                f"{p}: scores other utterances than {paths[0]} — the decodes pooled for one set must be of one test set"
            )
    return np.array(
        [[sum(t[u][k] for t in tables) for k in (0, 1)] for u in utts], dtype=np.float64
    )


def _replicates(counts: np.ndarray, samples: int, rng: np.random.Generator) -> np.ndarray:
    """WER (%) of ``samples`` resamples of the utterances, with replacement."""
    if samples < 100:
        raise SpeechseqError(f"samples {samples}: too few for a 95% interval — use 1000 or more")
    idx = rng.integers(0, len(counts), size=(samples, len(counts)))
    errors, words = counts[idx, 0].sum(axis=1), counts[idx, 1].sum(axis=1)
    return 100.0 * errors / np.maximum(words, 1)


def _interval(value: float, reps: np.ndarray) -> Interval:
    low, high = np.percentile(reps, [2.5, 97.5])
    return Interval(value, float(low), float(high))


def _wer(counts: np.ndarray) -> float:
    return 100.0 * counts[:, 0].sum() / max(counts[:, 1].sum(), 1)


@dataclass(frozen=True)
class RatioResult:
    wer_a: Interval
    wer_b: Interval
    ratio: Interval  # WER of b over WER of a
    p_at_most: float | None  # share of replicates with ratio <= the target, when one is given
    utts: tuple[int, int]  # utterances in set a and in set b


def wer_interval(paths: list[str | os.PathLike], samples: int = 10000, seed: int = 0) -> Interval:
    """Pooled WER (%) of the decodes in ``paths`` (one test set) with its 95% bootstrap interval."""
    counts = _counts(paths)
    return _interval(_wer(counts), _replicates(counts, samples, np.random.default_rng(seed)))


def wer_ratio(
    paths_a: list[str | os.PathLike],
    paths_b: list[str | os.PathLike],
    samples: int = 10000,
    seed: int = 0,
    target: float | None = None,
) -> RatioResult:
    """WER(b) / WER(a), each set pooled over its decodes, with 95% bootstrap intervals."""
    a, b = _counts(paths_a), _counts(paths_b)
    wa, wb = _wer(a), _wer(b)
    if wa == 0:
        raise SpeechseqError(
            f"{paths_a[0]}: no errors in the first set — the ratio of the WERs is undefined"
        )
    rng = np.random.default_rng(seed)
    reps_a, reps_b = _replicates(a, samples, rng), _replicates(b, samples, rng)
    ratios = reps_b / np.maximum(reps_a, 1e-9)  # a replicate of a may still draw no errors
    p = None if target is None else float(np.mean(ratios <= target))
    return RatioResult(
        _interval(wa, reps_a),
        _interval(wb, reps_b),
        _interval(wb / wa, ratios),
        p,
        (len(a), len(b)),
    )
