import dataclasses

import numpy as np
import pytest
import torch

from speechseq.errors import SpeechseqError, UsageError
from speechseq.features import (
    FeatureConfig,
    compute_features,
    feature_config_from_yaml,
    save_feature_config,
)
from speechseq.features.kaldi import num_frames
from tests.features.conftest import SR, chirp_with_noise


def _knf(x: np.ndarray, opts, cls) -> np.ndarray:
    comp = cls(opts)
    comp.accept_waveform(SR, x * 32768)
    comp.input_finished()
    return np.stack([comp.get_frame(i) for i in range(comp.num_frames_ready)])


def test_fbank_agrees_with_kaldi_native_fbank():
    knf = pytest.importorskip("kaldi_native_fbank")
    x = chirp_with_noise(3.0)
    opts = knf.FbankOptions()
    opts.frame_opts.dither = 0.0
    opts.mel_opts.num_bins = 80
    ref = _knf(x, opts, knf.OnlineFbank)
    ours = compute_features(x, FeatureConfig(type="fbank", num_mel_bins=80, dither=0.0))
    assert ours.shape == ref.shape == (298, 80)
    assert ours.dtype == np.float32
    diff = np.abs(ours - ref)
    assert diff.mean() < 1e-4
    assert (diff > 1e-2).mean() <= 0.001


def test_mfcc_agrees_with_kaldi_native_fbank():
    knf = pytest.importorskip("kaldi_native_fbank")
    x = chirp_with_noise(2.0, seed=1)
    opts = knf.MfccOptions()
    opts.frame_opts.dither = 0.0
    ref = _knf(x, opts, knf.OnlineMfcc)
    ours = compute_features(x, FeatureConfig(type="mfcc", dither=0.0))
    assert ours.shape == ref.shape == (198, 13)
    assert np.abs(ours - ref).mean() < 1e-3
    assert np.abs(ours - ref).max() < 1e-2


def test_mfcc_agrees_with_torchaudio_compliance_kaldi():
    import torchaudio.compliance.kaldi as tk

    x = chirp_with_noise(2.0, seed=2)
    ref = tk.mfcc(
        torch.from_numpy(x * 32768)[None], dither=0.0, energy_floor=0.0, use_energy=True
    ).numpy()
    ours = compute_features(x, FeatureConfig(type="mfcc", dither=0.0))
    assert np.abs(ours - ref).mean() < 1e-3
    assert np.abs(ours - ref).max() < 1e-2


@pytest.mark.parametrize("window_type", ["hamming", "hanning", "rectangular"])
def test_fbank_without_snip_edges_agrees_with_torchaudio(window_type):
    import torchaudio.compliance.kaldi as tk

    x = chirp_with_noise(1.03, seed=3)
    cfg = FeatureConfig(
        num_mel_bins=40, dither=0.0, snip_edges=False, window_type=window_type, use_energy=True
    )
    ref = tk.fbank(
        torch.from_numpy(x * 32768)[None],
        num_mel_bins=40,
        dither=0.0,
        energy_floor=0.0,
        snip_edges=False,
        window_type=window_type,
        use_energy=True,
    ).numpy()
    ours = compute_features(x, cfg)
    assert ours.shape == ref.shape == (103, 41)
    assert np.abs(ours - ref).mean() < 1e-4


def test_num_frames_follows_kaldi():
    cfg = FeatureConfig()
    assert num_frames(399, cfg) == 0
    assert num_frames(400, cfg) == 1
    assert num_frames(16000, cfg) == 98
    assert num_frames(16000, dataclasses.replace(cfg, snip_edges=False)) == 100


def test_dither_depends_only_on_the_seed():
    x = chirp_with_noise(0.5)
    cfg = FeatureConfig(dither=1.0)
    a, b = compute_features(x, cfg, seed=7), compute_features(x, cfg, seed=7)
    c = compute_features(x, cfg, seed=8)
    clean = compute_features(x, dataclasses.replace(cfg, dither=0.0))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert 0 < np.abs(a - clean).mean() < 0.05  # small noise on loud audio


def test_audio_shorter_than_one_frame_is_an_error_naming_it():
    with pytest.raises(SpeechseqError, match="utt7: audio is 20.0 ms long, shorter than one frame"):
        compute_features(np.zeros(320, np.float32), FeatureConfig(dither=0.0), what="utt7")


def test_feature_config_resolves_type_defaults():
    assert FeatureConfig(type="fbank").dim == 80
    mfcc = FeatureConfig(type="mfcc")
    assert (mfcc.num_mel_bins, mfcc.use_energy, mfcc.dim) == (23, True, 13)


def test_feature_config_rejects_unknown_type():
    with pytest.raises(UsageError, match="feature type 'plp' is unknown"):
        FeatureConfig(type="plp")


def test_too_many_mel_bins_is_an_error():
    with pytest.raises(SpeechseqError, match="covers no FFT bin"):
        compute_features(chirp_with_noise(0.1), FeatureConfig(num_mel_bins=200, dither=0.0))


def test_feature_config_round_trips_through_yaml(tmp_path):
    cfg = FeatureConfig(type="mfcc", num_mel_bins=40, dither=0.5, seed=3)
    save_feature_config(tmp_path / "feats.yaml", cfg)
    assert feature_config_from_yaml(tmp_path / "feats.yaml") == cfg


def test_feature_config_yaml_with_unknown_key_is_an_error(tmp_path):
    (tmp_path / "feats.yaml").write_text("type: fbank\nnum_bins: 80\n")
    with pytest.raises(SpeechseqError, match="unknown feature setting"):
        feature_config_from_yaml(tmp_path / "feats.yaml")
