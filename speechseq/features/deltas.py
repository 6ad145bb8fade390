"""Delta features, as Kaldi's ``add-deltas`` (``DeltaFeatures`` in feature-functions.cc)."""

from __future__ import annotations

import functools

import numpy as np

DELTA_WINDOW = 2  # frames each side; Kaldi's default


@functools.lru_cache(maxsize=8)
def delta_scales(order: int, window: int = DELTA_WINDOW) -> tuple[np.ndarray, ...]:
    """Regression filters for orders 0..order; filter i has ``2 * i * window + 1`` taps.

    Order 1 is ``j / sum(k^2)`` for j = -window..window; each higher order is the previous
    one convolved with it.
    """
    first = np.arange(-window, window + 1, dtype=np.float64)
    first /= np.square(first).sum()
    scales = [np.ones(1)]
    for _ in range(order):
        scales.append(np.convolve(scales[-1], first))
    return tuple(scales)


def add_deltas(feats: np.ndarray, order: int = 2, window: int = DELTA_WINDOW) -> np.ndarray:
    """``feats: [T, C]`` -> float32 ``[T, C * (order + 1)]``: ``[x, delta, delta-delta, ...]``.

    Frames beyond the ends repeat the first/last frame (Kaldi's edge handling).
    """
    feats = np.asarray(feats, dtype=np.float32)
    if order < 0:
        raise ValueError(f"delta order must be >= 0, got {order}")
    if order == 0:
        return feats
    t, c = feats.shape
    out = np.empty((t, c * (order + 1)), dtype=np.float32)
    out[:, :c] = feats
    reach = order * window
    idx = np.clip(np.arange(-reach, t + reach), 0, t - 1)
    padded = feats[idx].astype(np.float64)  # [T + 2 reach, C]
    for i, scale in enumerate(delta_scales(order, window)[1:], start=1):
        half = (len(scale) - 1) // 2
        acc = np.zeros((t, c), dtype=np.float64)
        for j, w in enumerate(scale):
            if w != 0.0:
                start = reach - half + j
                acc += w * padded[start : start + t]
        out[:, i * c : (i + 1) * c] = acc
    return out
