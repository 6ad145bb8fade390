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


# A speaker's frames, chosen so that mean and standard deviation are whole numbers:
#   column 0: 2 6 2 6      -> sum 16, sum of squares 80,  mean 4,  var 80/4 - 4**2 = 4, std 2
#   column 1: 10 10 16 16  -> sum 52, sum of squares 712, mean 13, var 712/4 - 13**2 = 9, std 3
#   column 2: 5 5 5 5      -> sum 20, sum of squares 100, mean 5,  var 0 (floored at 1e-10)
SPEAKER_FRAMES = [[2, 10, 5], [6, 10, 5], [2, 16, 5], [6, 16, 5]]
SPEAKER_STATS = [[16.0, 52.0, 20.0, 4.0], [80.0, 712.0, 100.0, 0.0]]  # Kaldi: sums+count, squares+0
UTTERANCE = [[4, 13, 5], [8, 7, 6], [0, 19, 5]]  # another utterance of that speaker


def test_cmvn_stats_of_a_speaker_by_hand():
    np.testing.assert_array_equal(cmvn_stats(np.array(SPEAKER_FRAMES, np.float32)), SPEAKER_STATS)


def test_apply_cmvn_with_kaldi_stats_read_from_an_ark_by_hand(tmp_path):
    import kaldiio

    from speechseq.data.cmvn_stats import read_cmvn_ark

    # written by kaldiio as Kaldi's compute-cmvn-stats would (a binary double matrix per speaker)
    kaldiio.save_ark(str(tmp_path / "cmvn.ark"), {"spk1": np.array(SPEAKER_STATS)})
    stats = read_cmvn_ark(tmp_path / "cmvn.ark")["spk1"]
    feats = np.array(UTTERANCE, np.float32)
    # (x - mean) / std per column; the constant column's std is sqrt(1e-10) = 1e-5
    np.testing.assert_allclose(
        apply_cmvn(feats, stats), [[0, 0, 0], [2, -2, 1e5], [-2, 2, 0]], rtol=1e-6
    )
    np.testing.assert_allclose(
        apply_cmvn(feats, stats, norm_vars=False), [[0, 0, 0], [4, -6, 1], [-4, 6, 0]]
    )
