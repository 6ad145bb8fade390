import numpy as np
import pytest

from speechseq.features import add_deltas, apply_cmvn, cmvn_stats, normalise_utterance


def test_cmvn_stats_use_kaldi_layout():
    feats = np.array([[1.0, 2.0], [3.0, 6.0]], dtype=np.float32)
    stats = cmvn_stats(feats)
    assert stats.dtype == np.float64
    np.testing.assert_array_equal(stats, [[4.0, 8.0, 2.0], [10.0, 40.0, 0.0]])


def test_apply_cmvn_gives_zero_mean_and_unit_variance():
    rng = np.random.default_rng(0)
    feats = (rng.standard_normal((500, 5)) * [1, 2, 3, 4, 5] + [10, -3, 0, 7, 1]).astype(np.float32)
    out = apply_cmvn(feats, cmvn_stats(feats))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(0), 1, atol=1e-4)


def test_apply_cmvn_without_variance_only_removes_the_mean():
    feats = np.array([[1.0, 5.0], [3.0, 9.0]], dtype=np.float32)
    np.testing.assert_allclose(
        apply_cmvn(feats, cmvn_stats(feats), norm_vars=False), [[-1, -2], [1, 2]]
    )


def test_apply_cmvn_rejects_stats_of_another_dimension():
    with pytest.raises(ValueError, match="expected \\(2, 4\\)"):
        apply_cmvn(np.zeros((3, 3), np.float32), np.ones((2, 6)))


def test_normalise_utterance_of_a_constant_column_stays_finite():
    feats = np.ones((10, 2), dtype=np.float32)
    assert np.isfinite(normalise_utterance(feats)).all()


def test_add_deltas_of_a_ramp_has_unit_slope_and_zero_curvature_inside():
    feats = np.arange(20, dtype=np.float32)[:, None] * [1.0, 3.0]
    out = add_deltas(feats, order=2)
    assert out.shape == (20, 6)
    np.testing.assert_array_equal(out[:, :2], feats)
    np.testing.assert_allclose(out[4:-4, 2:4], np.tile([1.0, 3.0], (12, 1)), atol=1e-5)
    np.testing.assert_allclose(out[4:-4, 4:6], 0.0, atol=1e-5)


def test_add_deltas_agrees_with_kaldi_native_fbank():
    knf = pytest.importorskip("kaldi_native_fbank")
    feats = np.random.default_rng(1).standard_normal((37, 4)).astype(np.float32)
    for order in (1, 2, 3):
        ref = knf.compute_deltas(knf.DeltaOptions(order=order, window=2), feats)
        np.testing.assert_allclose(add_deltas(feats, order), ref, atol=1e-5)


def test_add_deltas_of_a_single_frame_repeats_it():
    out = add_deltas(np.array([[2.0, 4.0]], dtype=np.float32), order=2)
    np.testing.assert_allclose(out, [[2.0, 4.0, 0, 0, 0, 0]], atol=1e-6)
