import torch

from speechseq.features import spec_augment


def test_spec_augment_masks_whole_bins_and_frames_within_limits():
    feats = torch.ones(300, 80)
    out = spec_augment(feats, rng=torch.Generator().manual_seed(0))
    assert out.shape == feats.shape
    assert torch.equal(feats, torch.ones(300, 80))  # the input is not modified
    masked_bins = (out == 0).all(0).sum().item()
    masked_frames = (out == 0).all(1).sum().item()
    assert 0 < masked_bins <= 2 * 27
    assert 0 < masked_frames <= 2 * 40
    # every zero lies in a fully masked bin or a fully masked frame
    zero = out == 0
    assert torch.equal(zero, (out == 0).all(0)[None, :] | (out == 0).all(1)[:, None])


def test_spec_augment_is_reproducible_with_a_generator():
    feats = torch.randn(200, 80)
    a = spec_augment(feats, rng=torch.Generator().manual_seed(3))
    b = spec_augment(feats, rng=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_spec_augment_caps_time_masks_for_short_utterances():
    feats = torch.ones(20, 80)
    for seed in range(20):
        out = spec_augment(feats, num_freq_masks=0, rng=torch.Generator().manual_seed(seed))
        assert (out == 0).all(1).sum().item() <= 2 * 4  # 20% of 20 frames per mask


def test_spec_augment_on_a_batch_keeps_masks_inside_each_length():
    feats = torch.ones(3, 100, 80)
    lengths = torch.tensor([100, 50, 10])
    out = spec_augment(
        feats, num_freq_masks=0, lengths=lengths, rng=torch.Generator().manual_seed(1)
    )
    assert out.shape == feats.shape
    for k, n in enumerate(lengths.tolist()):
        assert (out[k, n:] == 1).all()


# --- VTLP of filterbank batches (MelVTLP) ---

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from speechseq.errors import UsageError  # noqa: E402
from speechseq.features.augment import MelVTLP, augment_from, mel_centers_hz  # noqa: E402
from speechseq.features.config import FeatureConfig  # noqa: E402
from speechseq.features.kaldi import compute_features  # noqa: E402


def _tone_fbank(freq_hz: float, cfg: FeatureConfig) -> np.ndarray:
    t = np.arange(cfg.sample_rate // 2) / cfg.sample_rate
    return compute_features((3000 * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32), cfg)


@pytest.mark.parametrize("use_energy", [False, True])
@pytest.mark.parametrize("freq, factor", [(1000, 1.1), (1000, 0.9), (2000, 1.15), (500, 0.85)])
def test_mel_vtlp_moves_a_tone_by_the_factor(freq, factor, use_energy):
    # the warped filterbank of a tone at f peaks in the bin of a real tone at factor * f, and
    # is close to that tone's filterbank across the band
    cfg = FeatureConfig(type="fbank", dither=0.0, use_energy=use_energy)
    centers = mel_centers_hz(cfg)
    x = torch.from_numpy(_tone_fbank(freq, cfg))[None]
    out = MelVTLP(cfg, 0.2).warp(x, [factor])[0]
    real = _tone_fbank(freq * factor, cfg)
    off = 1 if use_energy else 0
    peak = int(np.argmax(out[:, off:].mean(0).numpy()))
    assert peak == int(np.argmax(real[:, off:].mean(0)))
    assert peak != int(np.argmax(x[0, :, off:].mean(0).numpy()))  # it did move
    assert abs(centers[peak] - freq * factor) < 0.05 * freq * factor
    if use_energy:
        assert torch.equal(out[:, 0], x[0, :, 0])  # the energy column is left alone


def test_mel_vtlp_factor_one_is_the_identity_and_each_utterance_draws_its_own():
    cfg = FeatureConfig(type="fbank")
    x = torch.randn(3, 20, 80)
    v = MelVTLP(cfg, 0.1, rng=torch.Generator().manual_seed(0))
    assert torch.allclose(v.warp(x, [1.0, 1.0, 1.0]), x, atol=1e-6)
    same = torch.stack([x[0]] * 3)
    out = v(same)
    assert out.shape == same.shape
    assert not torch.allclose(out[0], out[1]) and not torch.allclose(out[1], out[2])


def test_augment_from_chains_vtlp_then_masks_and_needs_the_feature_settings():
    class Opts:
        spec_augment = True
        freq_masks, freq_width, time_masks, time_width = 2, 10, 1, 5
        vtlp = 0.1

    x = torch.randn(2, 50, 80)
    aug = augment_from(Opts(), FeatureConfig(type="fbank"))
    out = aug(x, lengths=torch.tensor([50, 40]))
    assert out.shape == x.shape and (out == 0).any()  # masked
    with pytest.raises(UsageError, match="feats.yaml"):
        augment_from(Opts())
    with pytest.raises(UsageError, match="mfcc"):
        augment_from(Opts(), FeatureConfig(type="mfcc"))
    Opts.spec_augment, Opts.vtlp = False, 0.0
    assert augment_from(Opts()) is None
