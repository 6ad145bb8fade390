"""SpecAugment (Park et al., 2019): frequency and time masks on training features.

Defaults are those of ESPnet's and SpeechBrain's LibriSpeech recipes for 80 mel bins:
two frequency masks of up to 27 bins and two time masks of up to 40 frames (0.4 s), each
time mask also capped at 20% of the utterance so short utterances keep most frames.
No time warping. Masked values are set to ``mask_value`` (0 = the mean after CMVN).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch

NUM_FREQ_MASKS = 2
FREQ_WIDTH = 27  # bins, for 80-bin fbank (ESPnet: freq_mask_width_range 0-27)
NUM_TIME_MASKS = 2
TIME_WIDTH = 40  # frames of 10 ms (ESPnet: time_mask_width_range 0-40)
MAX_TIME_RATIO = 0.2  # a time mask covers at most this fraction of the utterance


def _masks(
    n: int,
    size: torch.Tensor,
    num: int,
    width: int,
    gen: torch.Generator | None,
    cap: torch.Tensor | None = None,
) -> torch.Tensor:
    """Boolean ``[n, L]`` with ``num`` random spans per row; ``size: [n]`` valid length per row."""
    length = int(size.max())
    maxw = torch.full((n,), width, dtype=torch.long)
    if cap is not None:
        maxw = torch.minimum(maxw, cap)
    maxw = torch.minimum(maxw, size)
    u = torch.rand(n, num, 2, generator=gen)
    widths = (u[..., 0] * (maxw[:, None] + 1)).long()  # [n, num], uniform in 0..maxw
    starts = (u[..., 1] * (size[:, None] - widths + 1)).long()  # [n, num], span inside 0..size
    pos = torch.arange(length)[None, None, :]
    inside = (pos >= starts[..., None]) & (pos < (starts + widths)[..., None])
    return inside.any(1)


def spec_augment(
    feats: torch.Tensor,
    num_freq_masks: int = NUM_FREQ_MASKS,
    freq_width: int = FREQ_WIDTH,
    num_time_masks: int = NUM_TIME_MASKS,
    time_width: int = TIME_WIDTH,
    rng: torch.Generator | None = None,
    lengths: torch.Tensor | None = None,
    max_time_ratio: float = MAX_TIME_RATIO,
    mask_value: float = 0.0,
) -> torch.Tensor:
    """Masked copy of ``feats``: ``[T, C]`` (one utterance) or ``[N, T, C]`` (a padded batch).

    Each utterance gets its own masks: ``num_freq_masks`` spans of 0..``freq_width`` bins and
    ``num_time_masks`` spans of 0..``time_width`` frames (at most ``max_time_ratio`` of its
    length). ``lengths: [N]`` gives the valid frames of a batch (default: all ``T``);
    ``rng`` is a ``torch.Generator`` (default: torch's global generator).
    """
    single = feats.dim() == 2
    x = feats.unsqueeze(0) if single else feats
    if x.dim() != 3:
        raise ValueError(f"feats must be [T, C] or [N, T, C], got shape {tuple(feats.shape)}")
    n, t, c = x.shape
    if lengths is None:
        lengths = torch.full((n,), t, dtype=torch.long)
    lengths = lengths.to("cpu", torch.long)
    mask = torch.zeros(n, t, c, dtype=torch.bool)
    if num_freq_masks > 0 and freq_width > 0 and c > 0:
        freq = _masks(n, torch.full((n,), c, dtype=torch.long), num_freq_masks, freq_width, rng)
        mask |= freq[:, None, :]
    if num_time_masks > 0 and time_width > 0 and t > 0:
        cap = (lengths.double() * max_time_ratio).long()
        time = _masks(n, lengths.clamp_min(1), num_time_masks, time_width, rng, cap)
        mask[:, : time.shape[1], :] |= time[:, :, None]
    out = x.masked_fill(mask.to(x.device), mask_value)
    return out.squeeze(0) if single else out


def augment_from(options) -> Callable | None:
    """The training batches' SpecAugment of a task's options section (``spec_augment``,
    ``freq_masks``, ``freq_width``, ``time_masks``, ``time_width``): a callable ``(feats [N, T,
    C], lengths=[N]) -> masked copy``, or None when ``spec_augment`` is off."""
    if not options.spec_augment:
        return None
    return functools.partial(
        spec_augment,
        num_freq_masks=options.freq_masks,
        freq_width=options.freq_width,
        num_time_masks=options.time_masks,
        time_width=options.time_width,
    )
