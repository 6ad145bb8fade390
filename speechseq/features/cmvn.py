"""Cepstral mean and variance normalisation (CMVN) with Kaldi's statistics format.

Statistics are a float64 matrix ``[2, C + 1]``: row 0 is the sum of the feature vectors
followed by the frame count, row 1 the sum of their squares followed by 0 (what Kaldi's
``compute-cmvn-stats`` writes). ``DATA/cmvn.ark`` holds one entry per speaker id plus one
entry for the whole data dir under :data:`GLOBAL_KEY`. The statistics themselves
(:func:`cmvn_stats`, :data:`GLOBAL_KEY`, reading and writing ``cmvn.ark``) live in
:mod:`speechseq.data.cmvn_stats`, so that ``speechseq data subset|split|combine`` can keep
them right; this module applies them.
"""

from __future__ import annotations

import numpy as np

from speechseq.data.cmvn_stats import GLOBAL_KEY, cmvn_stats

__all__ = ["GLOBAL_KEY", "VAR_FLOOR", "apply_cmvn", "cmvn_stats", "normalise_utterance"]

VAR_FLOOR = 1e-10  # Kaldi's floor on the variance in apply-cmvn


def apply_cmvn(feats: np.ndarray, stats: np.ndarray, norm_vars: bool = True) -> np.ndarray:
    """Normalise ``feats: [T, C]`` with ``stats: [2, C + 1]`` (Kaldi's apply-cmvn): float32 ``[T, C]``.

    Subtracts the mean; with ``norm_vars`` also divides by the standard deviation
    (variance floored at 1e-10).
    """
    feats = np.asarray(feats)
    stats = np.asarray(stats, dtype=np.float64)
    dim = feats.shape[1]
    if stats.shape != (2, dim + 1):
        raise ValueError(
            f"CMVN stats have shape {stats.shape}, expected (2, {dim + 1}) for {dim}-dim features"
        )
    count = stats[0, -1]
    if count <= 0:
        raise ValueError("CMVN stats have a frame count of 0")
    mean = stats[0, :-1] / count
    out = feats.astype(np.float64) - mean
    if norm_vars:
        var = np.maximum(stats[1, :-1] / count - mean**2, VAR_FLOOR)
        out /= np.sqrt(var)
    return out.astype(np.float32)


def normalise_utterance(feats: np.ndarray, norm_vars: bool = True) -> np.ndarray:
    """Per-utterance CMVN of ``feats: [T, C]`` (for a single wav with no speaker statistics)."""
    return apply_cmvn(feats, cmvn_stats(feats), norm_vars=norm_vars)
