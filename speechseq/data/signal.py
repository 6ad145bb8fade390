"""Speaker-level perturbation of clean espeak output: speed, channel, reverberation, noise.

All functions take float32 ``x: [num_samples]`` and a numpy Generator, and return float32.
Times in the speed-perturbed signal are the clean times divided by the speed factor.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from speechseq.data.audio import resample


def speed_resample(x: np.ndarray, in_sr: int, out_sr: int, speed: float) -> np.ndarray:
    """Resample to ``out_sr`` and change speed by ``speed`` (like ``sox speed``): the result
    is ``1/speed`` times as long, with pitch and formants scaled by ``speed``."""
    return resample(x, int(round(in_sr * speed)), out_sr)


def channel_tilt(x: np.ndarray, tilt: float) -> np.ndarray:
    """First-order filter: ``tilt`` > 0 a low-pass (duller), < 0 a pre-emphasis (brighter)."""
    if tilt >= 0:
        return signal.lfilter([1.0 - tilt], [1.0, -tilt], x).astype(np.float32)
    y = signal.lfilter([1.0, tilt], [1.0], x)
    return (y / (1.0 - tilt)).astype(np.float32)


def reverberate(x: np.ndarray, sr: int, rt60_s: float, rng: np.random.Generator) -> np.ndarray:
    """Convolve with a synthetic room response: direct path plus exponentially decaying noise
    (60 dB down after ``rt60_s``), starting 2-8 ms after the direct path. Length kept."""
    n = int(sr * rt60_s)
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * 10 ** (-3 * t / rt60_s)
    delay = int(sr * rng.uniform(0.002, 0.008))
    ir = np.zeros(n + delay)
    ir[0] = 1.0
    ir[delay:] += 0.4 * tail / np.sqrt(np.sum(tail**2) / sr * 10)
    y = signal.fftconvolve(x, ir)[: len(x)]
    return (y * np.sqrt(np.sum(x**2) / max(np.sum(y**2), 1e-12))).astype(np.float32)


def make_noise(kind: str, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of unit-power noise: white, pink (1/f), brown (1/f²) or babble-like
    (several speech-band noises with syllable-rate amplitude modulation)."""
    if kind == "white":
        y = rng.standard_normal(n)
    elif kind in ("pink", "brown"):
        spec = np.fft.rfft(rng.standard_normal(n))
        f = np.maximum(np.fft.rfftfreq(n, 1 / sr), 20.0)
        spec /= np.sqrt(f) if kind == "pink" else f
        y = np.fft.irfft(spec, n)
    elif kind == "babble":
        b, a = signal.butter(2, [200 / (sr / 2), 3500 / (sr / 2)], btype="band")
        y = np.zeros(n)
        t = np.arange(n) / sr
        for _ in range(6):
            env = 1.0 + 0.9 * np.sin(2 * np.pi * rng.uniform(2.5, 6.0) * t + rng.uniform(0, 6.3))
            y += signal.lfilter(b, a, rng.standard_normal(n)) * env
    else:
        raise ValueError(f"unknown noise type {kind}")
    return (y / max(np.sqrt(np.mean(y**2)), 1e-12)).astype(np.float32)


def speech_power(x: np.ndarray, sr: int) -> float:
    """Mean power of the 10 ms frames of ``x`` within 30 dB of the loudest (speech, not pauses)."""
    hop = sr // 100
    m = len(x) // hop
    frames = (x[: m * hop].reshape(m, hop) ** 2).mean(axis=1) if m else np.array([np.mean(x**2)])
    return frames[frames > frames.max() * 1e-3].mean() if frames.max() > 0 else 0.0


def add_noise(
    x: np.ndarray, snr_db: float, kind: str, sr: int, rng: np.random.Generator
) -> np.ndarray:
    """Add noise of ``kind`` (see :func:`make_noise`) so that :func:`speech_power` over noise
    power is ``snr_db``."""
    noise = make_noise(kind, len(x), sr, rng)
    return (x + noise * np.sqrt(speech_power(x, sr) / 10 ** (snr_db / 10))).astype(np.float32)


def add_noise_signal(x: np.ndarray, noise: np.ndarray, snr_db: float, sr: int) -> np.ndarray:
    """Like :func:`add_noise` with a given ``noise`` signal (same length as ``x``, any power)."""
    noise = np.asarray(noise, np.float64)
    noise = noise / max(np.sqrt(np.mean(noise**2)), 1e-12)
    return (x + noise * np.sqrt(speech_power(x, sr) / 10 ** (snr_db / 10))).astype(np.float32)
