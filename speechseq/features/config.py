"""Feature settings: one frozen dataclass, saved as ``DATA/conf/feats.yaml``.

The defaults are Kaldi's (``compute-fbank-feats`` / ``compute-mfcc-feats``), except
``num_mel_bins`` for fbank (80, the usual choice for neural models; Kaldi's is 23).
A model directory keeps a copy of the file, so features for a raw wav can be computed
later exactly as for training (with ``dither=0``: dither is for training data only).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from speechseq.errors import SpeechseqError, UsageError
from speechseq.fileio import atomic_write
from speechseq.ranges import check_fields, integer, number, one_of, setting

FEATURE_TYPES = ("fbank", "mfcc")
WINDOW_TYPES = ("povey", "hamming", "hanning", "rectangular", "blackman")
CONFIG_NAME = "conf/feats.yaml"  # relative to the data dir
FIX = f"fix the compute-feats option or {CONFIG_NAME}"  # how to mend a value out of its range


@dataclass(frozen=True)
class FeatureConfig:
    type: str = setting("fbank", one_of(*FEATURE_TYPES))  # fbank (log mel filterbank) | mfcc
    sample_rate: int = setting(16000, integer(ge=1))  # Hz; audio is resampled to it on reading
    frame_length_ms: float = setting(25.0, number(gt=0))  # window length
    frame_shift_ms: float = setting(10.0, number(gt=0))  # hop between frames
    # std of Gaussian noise added to each frame (int16 scale); 0 = none
    dither: float = setting(1.0, number(ge=0))
    # dither seed; the noise of an utterance depends only on (seed, utt id)
    seed: int = setting(0, integer(ge=0))
    preemph_coeff: float = setting(0.97, number(ge=0, le=1))  # x[i] -= coeff * x[i-1] in a frame
    remove_dc_offset: bool = True  # subtract each frame's mean
    # povey (hann ** 0.85) | hamming | hanning | rectangular | blackman
    window_type: str = setting("povey", one_of(*WINDOW_TYPES))
    blackman_coeff: float = setting(0.42, number())  # only for the blackman window
    snip_edges: bool = True  # True: only frames that fit in the audio; False: reflect at the edges
    round_to_power_of_two: bool = True  # pad each frame to a power of two for the FFT (400 -> 512)
    # triangular mel filters; None = 80 for fbank, 23 for mfcc
    num_mel_bins: int | None = setting(None, integer(ge=3))
    low_freq: float = setting(20.0, number(ge=0))  # Hz, lower edge of the first mel bin
    # Hz, upper edge of the last bin; <= 0 means Nyquist + high_freq
    high_freq: float = setting(0.0, number())
    num_ceps: int = setting(13, integer(ge=1))  # mfcc only: cepstra kept after the DCT
    cepstral_lifter: float = setting(22.0, number(ge=0))  # mfcc only: lifter Q (0 = none)
    use_energy: bool | None = (
        None  # add log frame energy (mfcc: replaces c0); None = False fbank, True mfcc
    )
    raw_energy: bool = True  # energy before pre-emphasis and window (Kaldi's default)
    # floor on the energy (absolute, not log); 0 = none
    energy_floor: float = setting(0.0, number(ge=0))

    def __post_init__(self):
        if self.type not in FEATURE_TYPES:
            raise UsageError(
                f"feature type '{self.type}' is unknown — use one of {', '.join(FEATURE_TYPES)}"
            )
        if self.num_mel_bins is None:
            object.__setattr__(self, "num_mel_bins", 80 if self.type == "fbank" else 23)
        if self.use_energy is None:
            object.__setattr__(self, "use_energy", self.type == "mfcc")
        check_fields(self, fix=FIX)
        if self.frame_length_samples < 2 or self.frame_shift_samples < 1:
            raise UsageError(
                f"a frame of {self.frame_length_ms} ms at {self.sample_rate} Hz is too short — use a longer frame"
            )
        nyquist = self.sample_rate / 2
        if not 0 <= self.low_freq < self.high_freq_hz <= nyquist:
            raise UsageError(
                f"mel range {self.low_freq}..{self.high_freq_hz} Hz is not inside 0..{nyquist} Hz "
                f"(low < high) — fix low_freq/high_freq"
            )
        if self.type == "mfcc" and not 1 <= self.num_ceps <= self.num_mel_bins:
            raise UsageError(
                f"num_ceps {self.num_ceps} must be between 1 and num_mel_bins ({self.num_mel_bins}) — lower it"
            )

    @property
    def frame_length_samples(self) -> int:
        return int(self.sample_rate * 0.001 * self.frame_length_ms)

    @property
    def frame_shift_samples(self) -> int:
        return int(self.sample_rate * 0.001 * self.frame_shift_ms)

    @property
    def fft_size(self) -> int:
        n = self.frame_length_samples
        return 1 << (n - 1).bit_length() if self.round_to_power_of_two else n

    @property
    def high_freq_hz(self) -> float:
        return self.high_freq if self.high_freq > 0 else self.sample_rate / 2 + self.high_freq

    @property
    def dim(self) -> int:
        """Feature dimension C of ``compute_features`` output."""
        if self.type == "mfcc":
            return self.num_ceps
        return self.num_mel_bins + (1 if self.use_energy else 0)


@dataclass(frozen=True)
class FeatureSource:
    """Where a training command's features come from (the ``features:`` config section)."""

    # True: computed from wav.scp per utterance in the data-loader workers (no feats.scp, no
    # disk); False: the data dirs' stored features (speechseq compute-feats)
    on_the_fly: bool = False
    # with on_the_fly: the settings (the keys of a data dir's conf/feats.yaml); not used otherwise
    settings: FeatureConfig = dataclasses.field(default_factory=FeatureConfig)


def feature_config_text(cfg: FeatureConfig) -> str:
    """``cfg`` as the YAML text of a feats.yaml (fully resolved)."""
    import yaml

    return (
        "# speechseq feature settings (speechseq.features.FeatureConfig); written by compute-feats\n"
        + yaml.safe_dump(dataclasses.asdict(cfg), sort_keys=False)
    )


def save_feature_config(path: str | os.PathLike, cfg: FeatureConfig) -> None:
    """Write ``cfg`` as YAML (fully resolved), atomically."""
    with atomic_write(path) as f:
        f.write(feature_config_text(cfg))


def stored_feature_config(path: str | os.PathLike) -> FeatureConfig | None:
    """The settings in the feats.yaml at ``path`` (a model dir's copy, or a data dir's
    conf/feats.yaml), or None when there is none (features made by Kaldi)."""
    return feature_config_from_yaml(path) if Path(path).is_file() else None


def feature_config_from_yaml(path: str | os.PathLike) -> FeatureConfig:
    """Read a ``feats.yaml`` written by :func:`save_feature_config`."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise SpeechseqError(
            f"{path}: file not found — run `speechseq compute-feats DATA` to write it"
        )
    try:
        d = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise SpeechseqError(
            f"{path}: not valid YAML ({e}) — rerun speechseq compute-feats"
        ) from None
    known = {f.name for f in dataclasses.fields(FeatureConfig)}
    unknown = sorted(set(d) - known) if isinstance(d, dict) else ["(not a mapping)"]
    if unknown:
        raise SpeechseqError(
            f"{path}: unknown feature setting(s) {', '.join(unknown)} — remove them or rerun compute-feats"
        )
    try:
        return FeatureConfig(**d)
    except UsageError as e:
        raise SpeechseqError(f"{path}: {e}") from None


def load_feature_config(data_dir: str | os.PathLike) -> FeatureConfig:
    """The settings the features of ``data_dir`` were computed with (``DATA/conf/feats.yaml``)."""
    return feature_config_from_yaml(Path(data_dir) / CONFIG_NAME)
