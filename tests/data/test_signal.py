"""Speaker-space and channel perturbations on tones and simple signals (speechseq.data.signal)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal as sps

from speechseq.data import signal as sig
from speechseq.data.audio import resample
from tests.data.helpers import SR, tone


def peak_hz(x: np.ndarray, sr: int = SR) -> float:
    """Frequency of the strongest component: Hann window, 8x zero padding, parabolic peak."""
    n = 8 * len(x)
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)), n))
    i = int(np.argmax(spec[1:-1])) + 1
    a, b, c = np.log(spec[i - 1 : i + 2] + 1e-20)
    return (i + 0.5 * (a - c) / (a - 2 * b + c)) * sr / n


def level_db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2) + 1e-30)


def vowel(f0_hz: float = 125.0, formant_hz: float = 1000.0, dur_s: float = 0.5) -> np.ndarray:
    """A pulse train at ``f0_hz`` through one resonance at ``formant_hz``: harmonics of f0 under
    an envelope that peaks at the formant."""
    x = np.zeros(int(dur_s * SR))
    x[:: int(SR / f0_hz)] = 1.0
    r = 0.97
    a = [1, -2 * r * np.cos(2 * np.pi * formant_hz / SR), r * r]
    y = sps.lfilter([1.0], a, x)
    return (0.3 * y / np.max(np.abs(y))).astype(np.float32)


def harmonic_levels(x: np.ndarray, f0_hz: float, sr: int = SR) -> np.ndarray:
    """Magnitude at each multiple of ``f0_hz`` below 4 kHz (index 0: the fundamental)."""
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    hz = np.fft.rfftfreq(len(x), 1 / sr)
    return np.array([spec[np.argmin(np.abs(hz - h * f0_hz))] for h in range(1, int(4000 / f0_hz))])


# --- speaker space -----------------------------------------------------------------------------


@pytest.mark.parametrize("factor", [0.85, 1.15])
def test_vtlp_moves_a_tone_by_the_factor_and_keeps_the_duration(factor):
    x = tone(1000, 0.5)
    y = sig.vtlp(x, SR, factor)
    assert len(y) == len(x)
    assert peak_hz(y[2000:-2000]) == pytest.approx(1000 * factor, rel=0.003)


def test_vtlp_above_the_cutoff_follows_the_piecewise_linear_warp():
    f = 7000.0  # above VTLP_CUTOFF * 8 kHz / 1.15
    want = float(sig.vtlp_warp(np.array(f), SR, 1.15))
    assert 7000 < want < 7000 * 1.15 and want < SR / 2
    assert peak_hz(sig.vtlp(tone(f, 0.5), SR, 1.15)[2000:-2000]) == pytest.approx(want, rel=0.003)
    hz = np.linspace(0, SR / 2, 101)
    np.testing.assert_allclose(sig.vtlp_unwarp(sig.vtlp_warp(hz, SR, 0.87), SR, 0.87), hz)


@pytest.mark.parametrize("semitones", [3.0, -4.0])
@pytest.mark.parametrize("keep_formants", [True, False])
def test_pitch_shift_moves_a_tone_by_two_to_the_s_over_12(semitones, keep_formants):
    x = tone(500, 0.5)
    y = sig.pitch_shift(x, SR, semitones, keep_formants=keep_formants)
    assert len(y) == len(x)
    assert peak_hz(y[2000:-2000]) == pytest.approx(500 * 2 ** (semitones / 12), rel=0.003)


def test_pitch_shift_keeps_the_formant_where_vtlp_moves_it():
    x = vowel(125, 1000)
    shifted = harmonic_levels(sig.pitch_shift(x, SR, 12.0), 250)  # harmonics of 250 Hz now
    strongest = 250 * (1 + int(np.argmax(shifted)))
    assert strongest == 1000  # the formant stays at 1 kHz
    warped = harmonic_levels(sig.vtlp(x, SR, 1.2), 150)
    assert 150 * (1 + int(np.argmax(warped))) == 1200  # partials and formant both x1.2


def test_formant_shift_moves_the_envelope_and_keeps_the_harmonics():
    x = vowel(125, 1000)
    before = harmonic_levels(x, 125)
    after = harmonic_levels(sig.formant_shift(x, SR, 1.25), 125)
    assert 125 * (1 + int(np.argmax(before))) == 1000
    assert 125 * (1 + int(np.argmax(after))) == 1250
    assert peak_hz(sig.formant_shift(tone(500, 0.5), SR, 0.9)[2000:-2000]) == pytest.approx(
        500, rel=0.003
    )


@pytest.mark.parametrize("factor", [1.25, 0.8])
def test_tempo_keeps_the_frequency_and_scales_the_duration(factor):
    x = np.concatenate([np.zeros(3200, np.float32), tone(440, 0.4), np.zeros(3200, np.float32)])
    y = sig.change_tempo(x, SR, factor)
    assert len(y) == round(len(x) / factor)
    loud = np.flatnonzero(np.abs(y) > 0.25)
    # WSOLA may shift a frame by up to 16 ms to line up periods
    assert loud[0] / SR == pytest.approx(0.2 / factor, abs=0.02)
    assert (loud[-1] - loud[0]) / SR == pytest.approx(0.4 / factor, abs=0.035)
    assert peak_hz(y[loud[0] + 400 : loud[-1] - 400]) == pytest.approx(440, rel=0.003)


def test_identity_factors_return_the_input():
    x = tone(300, 0.1)
    for y in (sig.vtlp(x, SR, 1.0), sig.pitch_shift(x, SR, 0), sig.change_tempo(x, SR, 1.0)):
        np.testing.assert_array_equal(y, x)


# --- channels ------------------------------------------------------------------------------


def test_telephone_band_removes_100_hz_and_5_khz_and_keeps_1_khz():
    def gain_db(f):
        x = tone(f, 0.5)
        return level_db(sig.telephone_band(x, SR)[2000:-2000]) - level_db(x[2000:-2000])

    assert abs(gain_db(1000)) < 1.0
    assert gain_db(100) < -30
    assert gain_db(5000) < -40


def test_g711_mu_law_round_trip_error_is_within_half_a_segment_step():
    x = np.concatenate([np.linspace(-1, 1, 20001), 0.01 * np.linspace(-1, 1, 2001)])
    x = x.astype(np.float32)
    err = np.abs(sig.g711(x, "mu") - x)
    # a step is 1/16 of the segment's lower edge: half a step <= (|x| + bias) / 32
    bound = (np.abs(x) + 132 / 32768) / 32 + 4 / 32768  # + 16-bit rounding and >> 2
    assert np.all(err <= bound)
    assert err.max() > 0.01  # it is coding: the large samples are coarse
    small = np.abs(x) < 0.01
    assert err[small].max() < 4e-4  # and the small ones fine, unlike 8-bit linear (4e-3)


def test_g711_matches_the_reference_coder_bit_for_bit():
    """On every 14-bit (mu-law) sample and every non-negative 13-bit (A-law) sample; coders
    differ in how a negative sample on an A-law decision boundary, or a 16-bit sample between
    14-bit ones, rounds (one code)."""
    audioop = pytest.importorskip("audioop", reason="audioop left the standard library in 3.13")
    for law, enc, dec, pcm in (
        ("mu", audioop.lin2ulaw, audioop.ulaw2lin, np.arange(-8192, 8192) * 4),
        ("a", audioop.lin2alaw, audioop.alaw2lin, np.arange(0, 4096) * 8),
    ):
        pcm = pcm.astype(np.int16)
        ref = np.frombuffer(dec(enc(pcm.tobytes(), 2), 2), np.int16)
        got = np.round(sig.g711(pcm / 32768, law) * 32768).astype(np.int16)
        np.testing.assert_array_equal(got, ref)
        assert len(np.unique(got)) == (128 if law == "a" else 255)  # every code (+0 = -0)


def test_hard_clip_cuts_at_the_level_below_the_peak():
    x = tone(200, 0.1, amp=0.8)
    y = sig.hard_clip(x, 6.0)
    level = 0.8 * 10 ** (-6 / 20)
    assert np.max(np.abs(y)) == pytest.approx(np.max(np.abs(x)) * 10 ** (-6 / 20), rel=1e-6)
    below = np.abs(x) < level * 0.99
    np.testing.assert_array_equal(y[below], x[below])
    assert np.mean(np.abs(y) >= level * 0.999) > 0.3  # a third of a 6 dB-clipped sine is flat
    np.testing.assert_array_equal(sig.hard_clip(x, 0.0), x)


def test_rpe_ltp_codec_keeps_a_vowel_recognisable_and_is_lossy():
    x = vowel(125, 1000, 1.0)
    y = sig.rpe_ltp_codec(x, SR)
    assert len(y) == len(x)
    ref = resample(resample(x, SR, 8000), 8000, SR)  # what survives 8 kHz at all
    lag = int(np.argmax(np.correlate(y[4000:8000], ref[4000:8000], "full"))) - 3999
    assert abs(lag) < 40
    a, b = ref[2000:-2000], np.roll(y, -lag)[2000:-2000]
    snr = level_db(a) - level_db(a - b * (a @ b) / (b @ b))
    assert 10.0 < snr < 35.0  # close (28 dB on this steady vowel), but not the input
    levels = harmonic_levels(y[2000:-2000], 125)
    assert 125 * (1 + int(np.argmax(levels))) == 1000
    assert level_db(sig.rpe_ltp_codec(tone(5000, 0.5), SR)[2000:-2000]) < level_db(tone(5000)) - 40


def test_eq_bands_have_their_gain_at_their_frequency():
    def gain_db(bands, f):
        x = tone(f, 0.5)
        return level_db(sps.sosfilt(sig.eq_sos(bands, SR), x)[4000:]) - level_db(x[4000:])

    assert gain_db([("peak", 2000, 6.0, 1.0)], 2000) == pytest.approx(6.0, abs=0.1)
    assert gain_db([("peak", 2000, 6.0, 1.0)], 200) == pytest.approx(0.0, abs=0.3)
    assert gain_db([("hp", 300, 0, 0.7)], 100) == pytest.approx(-19.1, abs=0.5)  # 12 dB/octave
    assert gain_db([("highshelf", 3000, -6, 0.7)], 7000) == pytest.approx(-6.0, abs=0.7)
    assert gain_db([("lowshelf", 250, 4, 0.7)], 60) == pytest.approx(4.0, abs=0.5)
    assert gain_db([("lp", 10000, 0, 0.7)], 1000) == pytest.approx(0.0, abs=0.1)


def test_drawn_microphones_vary_within_their_class_and_keep_the_level():
    rng = np.random.default_rng(0)
    a, b = sig.draw_mic("dynamic", rng), sig.draw_mic("dynamic", rng)
    assert a != b and [k for k, *_ in a] == ["hp", "peak", "lp"]
    for (_, f0, g0, _), (_, f, g, _) in zip(sig.MIC_CLASSES["dynamic"], a, strict=True):
        assert f0 * 2**-0.25 <= f <= f0 * 2**0.25 and abs(g - g0) <= 2
    x = vowel()
    for mic in sig.MIC_CLASSES:
        y = sig.mic_response(x, SR, sig.draw_mic(mic, rng))
        assert level_db(y) == pytest.approx(level_db(x), abs=0.01)
        assert not np.allclose(y, x, atol=1e-3)


@pytest.mark.parametrize("sr", [8000, 22050, 44100])
def test_perturbations_keep_the_length_at_any_rate(sr):
    x = tone(440, 0.3, sr=sr) + tone(2000, 0.3, sr=sr, amp=0.1)
    for f in (
        lambda x: sig.telephone_band(x, sr),
        lambda x: sig.rpe_ltp_codec(x, sr),
        lambda x: sig.vtlp(x, sr, 0.9),
        lambda x: sig.pitch_shift(x, sr, 1.0),
        lambda x: sig.formant_shift(x, sr, 1.1),
        lambda x: sig.mic_response(x, sr, sig.MIC_CLASSES["dynamic"]),
    ):
        y = f(x)
        assert y.dtype == np.float32 and len(y) == len(x) and np.all(np.isfinite(y))
    assert len(sig.change_tempo(x, sr, 1.1)) == round(len(x) / 1.1)
    assert len(sig.telephone_band(x[:1], sr)) == 1
