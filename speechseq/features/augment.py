"""Training-batch augmentation of features: SpecAugment masks and VTLP on the mel axis.

SpecAugment (Park et al., 2019): defaults are those of ESPnet's and SpeechBrain's LibriSpeech
recipes for 80 mel bins: two frequency masks of up to 27 bins and two time masks of up to 40
frames (0.4 s), each time mask also capped at 20% of the utterance so short utterances keep most
frames. No time warping. Masked values are set to ``mask_value`` (0 = the mean after CMVN).

:class:`MelVTLP` is vocal tract length perturbation as Jaitly & Hinton (2013) trained with it:
every utterance of every batch gets its own warp factor, drawn anew each epoch, instead of one
per speaker fixed in an augmented copy of the audio (``speechseq data augment --vtlp``). The
warp is the audio one (:func:`speechseq.data.signal.vtlp_warp`) applied to the log mel
filterbank: each output bin reads the input at the frequency the warp sends to its centre,
linearly interpolated between the two nearest bins. Neither ESPnet nor SpeechBrain nor lhotse
warps stored filterbank features, hence our own.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import torch

from speechseq.errors import UsageError
from speechseq.features.config import FeatureConfig
from speechseq.features.kaldi import mel_points, mel_scale

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


def mel_centers_hz(cfg: FeatureConfig) -> np.ndarray:
    """Centre frequencies (Hz) of the mel bins of ``cfg``, where :func:`kaldi.mel_matrix` puts
    its filters' peaks (the inverse of :func:`kaldi.mel_scale`)."""
    return 700.0 * (np.exp(mel_points(cfg)[1:-1] / 1127.0) - 1.0)


class MelVTLP:
    """VTLP of log mel filterbank batches: ``(feats [N, T, C], lengths) -> warped copy``.

    Each utterance gets a factor drawn uniformly from ``1 +- max_warp``; a spectral peak at
    ``f`` moves to ``vtlp_warp(f, factor)`` (up by ``factor`` below 80% of Nyquist, the band
    edge fixed). ``cfg``: the features' settings (fbank only; with ``use_energy`` column 0 is the
    energy and stays as it is). Works on normalised features as on raw ones: the interpolation
    is linear per frame.
    """

    def __init__(self, cfg: FeatureConfig, max_warp: float, rng: torch.Generator | None = None):
        if cfg.type != "fbank":
            raise UsageError(
                f"vtlp warps mel filterbank features, and these are {cfg.type} — set vtlp: 0, or train on "
                "fbank features (compute-feats --type fbank)"
            )
        if not 0 < max_warp < 0.5:
            raise UsageError(
                f"vtlp {max_warp}: use a warp between 0 and 0.5 (0.1: factors 0.9-1.1)"
            )
        # deferred to here: speechseq.data.signal imports scipy.signal (about a second), and
        # every command that reads features imports this module
        from speechseq.data.signal import vtlp_unwarp

        self.unwarp = vtlp_unwarp
        self.sr = cfg.sample_rate
        self.offset = 1 if cfg.use_energy else 0
        self.centers = mel_centers_hz(cfg)
        self.mel = mel_points(cfg)[1:-1]
        self.max_warp = max_warp
        self.rng = rng

    def source_index(self, factor: float) -> np.ndarray:
        """For each output bin, the fractional input bin it reads (clamped to the bins)."""
        src = mel_scale(self.unwarp(self.centers, self.sr, factor))
        return np.interp(src, self.mel, np.arange(len(self.mel), dtype=np.float64))

    def __call__(self, feats: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``feats [N, T, C]`` each warped by its own random factor in ``1 +- max_warp``."""
        u = torch.rand(feats.shape[0], generator=self.rng, dtype=torch.float64)
        return self.warp(feats, (1.0 + self.max_warp * (2.0 * u - 1.0)).tolist())

    def warp(self, feats: torch.Tensor, factors: list[float]) -> torch.Tensor:
        """``feats [N, T, C]``, utterance ``n`` warped by ``factors[n]``."""
        n, _, c = feats.shape
        m = len(self.centers)
        if c != self.offset + m or len(factors) != n:
            raise ValueError(
                f"feats {tuple(feats.shape)}, {len(factors)} factors: expected {self.offset + m} columns, {n} factors"
            )
        idx = torch.from_numpy(np.stack([self.source_index(f) for f in factors]))  # [N, M]
        lo = idx.floor().long().clamp_(max=m - 1)
        hi = (lo + 1).clamp_(max=m - 1)
        frac = (idx - lo).to(feats.device, feats.dtype)[:, None, :]
        mel = feats[..., self.offset :]
        t = mel.shape[1]
        at_lo = mel.gather(2, lo.to(feats.device)[:, None, :].expand(-1, t, -1))
        at_hi = mel.gather(2, hi.to(feats.device)[:, None, :].expand(-1, t, -1))
        warped = at_lo + (at_hi - at_lo) * frac
        return torch.cat([feats[..., : self.offset], warped], dim=2) if self.offset else warped


def augment_from(
    options, features: FeatureConfig | None = None, where: str = "DATA/conf/feats.yaml"
) -> Callable | None:
    """The training batches' augmentation of a task's options section: SpecAugment
    (``spec_augment``, ``freq_masks``, ``freq_width``, ``time_masks``, ``time_width``) after
    :class:`MelVTLP` when the section has ``vtlp`` > 0 (which needs ``features``, the training
    features' settings; ``where``: the file they were looked for in). A callable ``(feats [N, T, C], lengths=[N]) -> augmented copy``, or None
    when neither is on."""
    steps = []
    vtlp = options.vtlp
    if vtlp > 0:
        if features is None:
            raise UsageError(
                f"{where}: not found — vtlp needs the training features' settings (written by compute-feats) to "
                "know where the mel bins lie; compute the features with speechseq, or set vtlp: 0"
            )
        steps.append(MelVTLP(features, vtlp))
    if options.spec_augment:
        steps.append(
            functools.partial(
                spec_augment,
                num_freq_masks=options.freq_masks,
                freq_width=options.freq_width,
                num_time_masks=options.time_masks,
                time_width=options.time_width,
            )
        )
    if not steps:
        return None
    if len(steps) == 1:
        return steps[0]

    def chain(feats, lengths=None):
        for step in steps:
            feats = step(feats, lengths=lengths)
        return feats

    return chain
