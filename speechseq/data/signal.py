"""Perturbation of clean (synthetic) speech: speed, tempo, vocal tract length, pitch, formants,
channel, reverberation, noise.

All functions take float32 ``x: [num_samples]`` (with ``sr`` in Hz, and a numpy Generator where
they draw) and return float32. Times in the speed- or tempo-perturbed signal are the clean times
divided by the factor.

Speaker space. :func:`vtlp` warps the frequency axis of the short-time spectrum (every partial
and the envelope move together, ``f -> factor * f`` below a cut-off, as Jaitly & Hinton 2013 and
Kaldi's piecewise-linear VTLN warp), :func:`pitch_shift` moves the partials by ``2**(s/12)``
and keeps the spectral envelope (the formants), :func:`formant_shift` moves the envelope and
keeps the partials (the pitch). The three share :func:`_warp_spectrum`, a phase-locked
phase vocoder (Laroche & Dolson 1999, "New phase-vocoder techniques for pitch-shifting,
harmonizing and other exotic effects"): each spectral peak's region of bins is moved as a
whole and its phase advanced at the moved frequency, so partials stay coherent. It is written
here because librosa has no frequency warp, and ``librosa.effects.pitch_shift`` (resampling a
phase-vocoder time-stretch) moves the formants with the pitch (``pitch_shift(...,
keep_formants=False)`` does the same with our vocoder). The STFT pair is torch's: librosa's
compiles numba code on first use (~20 s in a fresh environment). :func:`change_tempo` is WSOLA (Verhelst &
Roelands 1993, the algorithm of ``sox tempo``) rather than ``librosa.effects.time_stretch``,
whose phase vocoder without phase locking smears speech into a phasey, reverberant sound.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from speechseq.data.audio import resample


def speed_resample(x: np.ndarray, in_sr: int, out_sr: int, speed: float) -> np.ndarray:
    """Resample to ``out_sr`` and change speed by ``speed`` (like ``sox speed``): the result
    is ``1/speed`` times as long, with pitch and formants scaled by ``speed``."""
    return resample(x, int(round(in_sr * speed)), out_sr)


# --- speaker space: vocal tract length, pitch, formants, tempo ------------------------------

VTLP_CUTOFF = 0.8  # the warp is linear up to this fraction of the Nyquist frequency (see vtlp_warp)
ENVELOPE_LIFTER_S = 0.0015  # cepstral lifter of the spectral envelope: quefrencies under 1.5 ms
ENVELOPE_ITERATIONS = 20  # of the true-envelope estimate
PITCH_RANGE_HZ = (60.0, 400.0)  # where the envelope's lifter looks for a cepstral pitch peak
CEPSTRAL_PEAK_MIN = 0.25  # a frame with a cepstral peak above this is voiced
MAX_ENVELOPE_GAIN_DB = 24.0  # envelope corrections are clamped to +-24 dB (spectral valleys)


def vtlp_warp(freq_hz: np.ndarray, sr: int, factor: float) -> np.ndarray:
    """Piecewise-linear frequency warp of Jaitly & Hinton 2013 (Kaldi's VTLN warp with the lower
    cut-off at 0 Hz): ``f -> factor * f`` up to ``b = VTLP_CUTOFF * nyquist * min(1, 1/factor)``,
    then the straight line from ``(b, factor * b)`` to ``(nyquist, nyquist)``, so the band edge
    stays put and nothing folds over."""
    nyq = sr / 2
    b = VTLP_CUTOFF * nyq * min(1.0, 1.0 / factor)
    f = np.asarray(freq_hz, np.float64)
    upper = factor * b + (f - b) * (nyq - factor * b) / (nyq - b)
    return np.where(f <= b, factor * f, upper)


def vtlp_unwarp(freq_hz: np.ndarray, sr: int, factor: float) -> np.ndarray:
    """The inverse of :func:`vtlp_warp` (also piecewise linear)."""
    nyq = sr / 2
    b = VTLP_CUTOFF * nyq * min(1.0, 1.0 / factor)
    return np.interp(np.asarray(freq_hz, np.float64), [0.0, factor * b, nyq], [0.0, b, nyq])


def _stft_size(sr: int) -> tuple[int, int]:
    """(FFT size, hop) in samples: a ~64 ms window, so the harmonics of a low voice (~80 Hz) are
    resolved into separate peaks, with 4x overlap."""
    n_fft = 1 << int(np.ceil(np.log2(0.064 * sr)))
    return n_fft, n_fft // 4


def _log_envelope(mag: np.ndarray, sr: int, n_fft: int) -> np.ndarray:
    """Spectral envelope (formants without the harmonic fine structure) of ``mag: [bins,
    frames]`` as natural-log magnitude: the "true envelope" of Roebel & Rodet 2005, cepstral
    smoothing repeated on the maximum of the spectrum and the last smoothing, so the envelope
    runs through the harmonic peaks instead of averaging the valleys between them. The lifter
    keeps quefrencies under half the pitch period where a frame has a clear cepstral pitch
    peak (Roebel's order ``sr / (2 f0)``), else under ``ENVELOPE_LIFTER_S``."""
    floor = 1e-5 * np.max(mag, axis=0, keepdims=True) + 1e-10
    log_mag = np.log(mag + floor)
    ceps = np.fft.irfft(log_mag, n=n_fft, axis=0)
    q_lo, q_hi = int(sr / PITCH_RANGE_HZ[1]), min(int(sr / PITCH_RANGE_HZ[0]), n_fft // 2)
    period = q_lo + np.argmax(ceps[q_lo:q_hi], axis=0)  # [frames], samples
    voiced = np.max(ceps[q_lo:q_hi], axis=0) > CEPSTRAL_PEAK_MIN
    keep = np.maximum(int(ENVELOPE_LIFTER_S * sr), np.where(voiced, period // 2, 0))
    q = np.arange(n_fft)[:, None]
    lifter = (q < keep) | (q > n_fft - keep)  # [n_fft, frames]
    env = log_mag
    for _ in range(ENVELOPE_ITERATIONS):
        ceps = np.fft.irfft(np.maximum(log_mag, env), n=n_fft, axis=0)
        env = np.fft.rfft(ceps * lifter, axis=0).real
    return env


def _warp_spectrum(x: np.ndarray, sr: int, partial_warp=None, envelope_warp=None) -> np.ndarray:
    """Move the partials of ``x`` by ``partial_warp`` (Hz -> Hz, None: keep them) and the
    spectral envelope by ``envelope_warp`` (an ``(warp, unwarp)`` pair of Hz -> Hz functions;
    None: the envelope moves with the partials). The output's RMS is the input's.

    Phase-locked phase vocoder (Laroche & Dolson 1999): in every frame each bin belongs to its
    nearest magnitude peak; the peak's instantaneous frequency ``f`` (from the phase advance)
    goes to ``f' = partial_warp(f)``, its region of bins moves by ``round(f'/bin) - peak`` bins
    and is rotated by a phase that advances ``2 pi (f' - f) hop / sr`` per frame from the
    rotation the same bin's region had in the previous frame.
    """
    x = np.asarray(x, np.float32)
    n = len(x)
    n_fft, hop = _stft_size(sr)
    if n == 0 or not np.any(x):
        return x.copy()
    padded = np.pad(x, (0, max(0, n_fft - n)))
    spec = _stft(padded, n_fft, hop)
    mag = np.abs(spec)
    bins, frames = spec.shape
    bin_hz = sr / n_fft
    k = np.arange(bins)
    if envelope_warp is not None:
        env = _log_envelope(mag, sr, n_fft)
        _, unwarp = envelope_warp
        src = np.clip(unwarp(k * bin_hz) / bin_hz, 0, bins - 1)  # whose envelope lands on k
        i0 = np.minimum(src.astype(np.int64), bins - 2)
        w = (src - i0)[:, None]
        moved = env[i0] * (1 - w) + env[i0 + 1] * w  # the envelope moved by envelope_warp
    if partial_warp is None:
        if envelope_warp is None:
            return x.copy()
        out = spec * np.exp(np.clip(moved - env, *_gain_limits()))
    else:
        expected = 2 * np.pi * k * hop / n_fft  # phase advance of each bin's centre frequency
        phase = np.angle(spec)
        dphi = np.diff(phase, axis=1, prepend=phase[:, :1]) - expected[:, None]
        dphi -= 2 * np.pi * np.round(dphi / (2 * np.pi))
        inst_hz = (expected[:, None] + dphi) * sr / (2 * np.pi * hop)
        inst_hz[:, 0] = k * bin_hz
        out = np.zeros_like(spec)
        rot_prev = np.zeros(bins)  # rotation of each bin's region in the previous frame
        lo, hi = _gain_limits()
        for t in range(frames):
            m = mag[:, t]
            peaks = np.flatnonzero((m[1:-1] > m[:-2]) & (m[1:-1] >= m[2:])) + 1
            if len(peaks) == 0:
                peaks = np.array([int(np.argmax(m))])
            owner = np.searchsorted((peaks[:-1] + peaks[1:]) / 2, k)  # index into peaks
            f = inst_hz[peaks, t]
            f_new = partial_warp(f)
            shift = np.rint(f_new / bin_hz).astype(np.int64) - peaks
            rot = np.mod(rot_prev[peaks] + 2 * np.pi * (f_new - f) * hop / sr, 2 * np.pi)
            dest = k + shift[owner]
            val = spec[:, t] * np.exp(1j * rot[owner])
            ok = (dest >= 0) & (dest < bins)
            if envelope_warp is not None:
                # the envelope at the destination, moved by envelope_warp, over the source's
                g = np.clip(moved[np.clip(dest, 0, bins - 1), t] - env[:, t], lo, hi)
                val = val * np.exp(g)
            col = np.zeros(bins, spec.dtype)
            np.add.at(col, dest[ok], val[ok])
            out[:, t] = col
            rot_prev = rot[owner]
    y = _istft(out, n_fft, hop, len(padded))
    return _match_rms(y[:n], x)


def _stft(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Complex STFT ``[bins, frames]`` with librosa's defaults (periodic Hann window, centred
    frames, zero padding) through torch: librosa's own STFT pair compiles numba code on its
    first call, ~20 s in a fresh environment, for each process that augments."""
    import torch

    spec = torch.stft(
        torch.from_numpy(np.ascontiguousarray(x, np.float32)),
        n_fft,
        hop_length=hop,
        window=torch.hann_window(n_fft),
        center=True,
        pad_mode="constant",
        return_complex=True,
    )
    return spec.numpy()


def _istft(spec: np.ndarray, n_fft: int, hop: int, length: int) -> np.ndarray:
    """Inverse of :func:`_stft` (weighted overlap-add), ``length`` samples."""
    import torch

    y = torch.istft(
        torch.from_numpy(np.ascontiguousarray(spec)),
        n_fft,
        hop_length=hop,
        window=torch.hann_window(n_fft),
        center=True,
        length=length,
    )
    return y.numpy()


def _gain_limits() -> tuple[float, float]:
    g = MAX_ENVELOPE_GAIN_DB * np.log(10) / 20
    return -g, g


def _match_rms(y: np.ndarray, like: np.ndarray) -> np.ndarray:
    ry = np.sqrt(np.mean(np.square(y, dtype=np.float64)))
    rx = np.sqrt(np.mean(np.square(like, dtype=np.float64)))
    return (y * (rx / ry if ry > 0 else 0.0)).astype(np.float32)


def vtlp(x: np.ndarray, sr: int, factor: float) -> np.ndarray:
    """Vocal tract length perturbation: warp the whole short-time spectrum (partials and
    envelope) by :func:`vtlp_warp`, so a tone at ``f`` below the cut-off comes out at
    ``factor * f``; ``factor`` > 1 sounds like a shorter vocal tract. Duration kept."""
    if factor == 1.0:
        return np.asarray(x, np.float32).copy()
    return _warp_spectrum(x, sr, partial_warp=lambda f: vtlp_warp(f, sr, factor))


def pitch_shift(x: np.ndarray, sr: int, semitones: float, keep_formants: bool = True) -> np.ndarray:
    """Shift the pitch by ``semitones`` (every partial times ``2 ** (semitones / 12)``) without
    changing the duration. With ``keep_formants`` the spectral envelope stays where it was (a
    new voice source on the same vocal tract); without, it moves with the partials (as
    ``librosa.effects.pitch_shift``, here by the same phase-locked vocoder)."""
    if semitones == 0:
        return np.asarray(x, np.float32).copy()
    ratio = 2.0 ** (semitones / 12)
    if not keep_formants:  # the envelope moves with the partials
        return _warp_spectrum(x, sr, partial_warp=lambda f: f * ratio)
    # partials moved past the Nyquist frequency are dropped
    return _warp_spectrum(
        x, sr, partial_warp=lambda f: f * ratio, envelope_warp=(lambda f: f, lambda f: f)
    )


def formant_shift(x: np.ndarray, sr: int, factor: float) -> np.ndarray:
    """Move the spectral envelope (formants) by :func:`vtlp_warp` with ``factor`` and keep the
    partials (the pitch) where they are. Duration kept."""
    if factor == 1.0:
        return np.asarray(x, np.float32).copy()
    return _warp_spectrum(
        x,
        sr,
        envelope_warp=(
            lambda f: vtlp_warp(f, sr, factor),
            lambda f: vtlp_unwarp(f, sr, factor),
        ),
    )


def change_tempo(x: np.ndarray, sr: int, factor: float) -> np.ndarray:
    """Change the tempo by ``factor`` without changing the pitch: the result has
    ``round(len(x) / factor)`` samples (``factor`` > 1 is faster, as ``sox tempo``).

    WSOLA (Verhelst & Roelands 1993): 32 ms Hann frames are overlap-added at a fixed 16 ms
    synthesis hop; each is read from the input near ``factor`` times its output position, at
    the offset (within +-16 ms) whose waveform best continues the previous frame (the largest
    cross-correlation with the input that naturally followed it), so periods line up.
    """
    x = np.asarray(x, np.float32)
    out_len = int(round(len(x) / factor))
    if factor == 1.0 or len(x) == 0:
        return x.copy()
    win_len = 2 * int(round(0.016 * sr))
    hop = win_len // 2  # synthesis hop
    tol = hop
    win = np.hanning(win_len + 1)[:win_len]  # periodic Hann: sums to 1 at 50% overlap
    pad = win_len + tol
    xp = np.pad(x.astype(np.float64), (pad, pad + int(np.ceil(3 * hop * factor)) + 2 * win_len))
    num_frames = out_len // hop + 2
    y = np.zeros(num_frames * hop + win_len)
    wsum = np.zeros_like(y)
    delta = 0
    for i in range(num_frames):
        # frame i of the output is centred at output sample i*hop - win_len/2 ... (+pad offset)
        ana = pad - win_len // 2 + int(round(i * hop * factor)) + delta
        y[i * hop : i * hop + win_len] += win * xp[ana : ana + win_len]
        wsum[i * hop : i * hop + win_len] += win
        natural = xp[ana + hop : ana + hop + win_len]
        nxt = pad - win_len // 2 + int(round((i + 1) * hop * factor))
        region = xp[nxt - tol : nxt + tol + win_len]
        cc = np.correlate(region, natural, mode="valid")  # 2*tol+1 offsets
        delta = int(np.argmax(cc)) - tol if np.max(cc) > 0 else 0  # silence: stay on the grid
    y = y / np.maximum(wsum, 1e-3)
    start = win_len // 2
    return y[start : start + out_len].astype(np.float32)


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


# --- channels: telephone band, G.711, an RPE-LTP codec, clipping, microphones ---------------

TELEPHONE_SR = 8000  # Hz, the rate of the telephone network and of G.711 and GSM


def telephone_band(
    x: np.ndarray, sr: int, low_hz: float = 300.0, high_hz: float = 3400.0
) -> np.ndarray:
    """A telephone line: resample to 8 kHz, band-pass ``low_hz``-``high_hz`` (Butterworth,
    4th order at each edge, as the 300-3400 Hz mask of ITU-T G.712), resample back to ``sr``."""
    sos = signal.butter(4, [low_hz, high_hz], btype="bandpass", fs=TELEPHONE_SR, output="sos")
    return at_8k(x, sr, lambda y: signal.sosfilt(sos, y))


def at_8k(x: np.ndarray, sr: int, fn) -> np.ndarray:
    """``fn`` applied to ``x`` resampled to 8 kHz, resampled back to ``sr`` and cut or padded
    to ``len(x)`` samples (resampling rounds the length)."""
    x = np.asarray(x, np.float32)
    if len(x) == 0:
        return x.copy()
    y = resample(x, sr, TELEPHONE_SR) if sr != TELEPHONE_SR else x
    if len(y) == 0:  # shorter than one sample at 8 kHz
        return np.zeros_like(x)
    y = np.asarray(fn(y), np.float32)
    y = resample(y, TELEPHONE_SR, sr) if sr != TELEPHONE_SR else y
    return np.pad(y[: len(x)], (0, max(0, len(x) - len(y))))


def g711(x: np.ndarray, law: str = "mu") -> np.ndarray:
    """Round trip through ITU-T G.711 8-bit companding, ``law`` "mu" (North America, Japan) or
    "a" (Europe), by libsndfile's G.711 coder (a WAV of subtype ULAW/ALAW written and read
    back in memory); samples are first quantised to 16 bits, and beyond full scale saturate.
    Memoryless, so any sample rate works; a telephone call is 8 kHz (:func:`telephone_band`)."""
    import io

    import soundfile as sf

    subtype = {"mu": "ULAW", "a": "ALAW"}.get(law)
    if subtype is None:
        raise ValueError(f"unknown G.711 law {law!r}: give 'mu' or 'a'")
    x = np.asarray(x, np.float32)
    if len(x) == 0:
        return x.copy()
    pcm = np.clip(np.round(x.astype(np.float64) * 32768), -32768, 32767).astype(np.int16)
    buf = io.BytesIO()
    sf.write(buf, pcm, TELEPHONE_SR, format="WAV", subtype=subtype)
    buf.seek(0)
    return (sf.read(buf, dtype="int16")[0] / 32768).astype(np.float32)


# GSM 06.10 full-rate quantisers: log-area-ratio coding (A, B and ranges of its table 5.1), the
# long-term-prediction gains, the RPE weighting filter and the 3-bit pulse levels.
_LAR_A = np.array([20.0, 20.0, 20.0, 20.0, 13.637, 15.0, 8.334, 8.824])
_LAR_B = np.array([0.0, 0.0, 4.0, -5.0, 0.184, -3.5, -0.666, -2.235])
_LAR_MIN = np.array([-32, -32, -16, -16, -8, -8, -4, -4])
_LTP_GAINS = np.array([0.1, 0.35, 0.65, 1.0])
_LTP_BOUNDS = np.array([0.2, 0.5, 0.8])
_RPE_H = np.array([-134, -374, 0, 2054, 5741, 8192, 5741, 2054, 0, -374, -134]) / 8192
_RPE_LEVELS = np.array([-7, -5, -3, -1, 1, 3, 5, 7]) / 8
_PREEMPHASIS = 28180 / 32768  # 0.86


def _lar(k: np.ndarray) -> np.ndarray:
    """GSM's piecewise-linear approximation of the log-area ratio of reflection coefficients."""
    a = np.abs(k)
    return np.sign(k) * np.where(a < 0.675, a, np.where(a < 0.95, 2 * a - 0.675, 8 * a - 6.375))


def _lar_inverse(lar: np.ndarray) -> np.ndarray:
    a = np.abs(lar)
    return np.sign(lar) * np.where(
        a < 0.675, a, np.where(a < 1.225, (a + 0.675) / 2, (a + 6.375) / 8)
    )


def _levinson(acf: np.ndarray, order: int) -> np.ndarray:
    """Reflection coefficients ``[order]`` of the autocorrelation ``acf`` (Levinson-Durbin)."""
    a = np.zeros(order + 1)
    a[0] = 1.0
    err = acf[0]
    ks = np.zeros(order)
    for i in range(1, order + 1):
        if err <= 0:
            break
        k = -(acf[i] + a[1:i] @ acf[i - 1 : 0 : -1]) / err
        a[1:i] = a[1:i] + k * a[i - 1 : 0 : -1]
        a[i] = k
        ks[i - 1] = k
        err *= 1 - k * k
    return ks


def _step_up(ks: np.ndarray) -> np.ndarray:
    """Prediction-error filter ``A(z) = [1, a1, ..., ap]`` of reflection coefficients."""
    a = np.array([1.0])
    for k in ks:
        a = np.concatenate([a, [0.0]]) + k * np.concatenate([a, [0.0]])[::-1]
    return a


def rpe_ltp_codec(x: np.ndarray, sr: int) -> np.ndarray:
    """Round trip through a GSM-like speech codec at 8 kHz: the RPE-LTP scheme of GSM 06.10 full
    rate (13 kbit/s: 260 bits per 20 ms frame) in floating point, not bit-exact with the
    standard (nor with ``libgsm``). Per 20 ms frame: pre-emphasis, order-8 LPC by
    autocorrelation, reflection coefficients coded as GSM's 36-bit log-area ratios (without
    GSM's interpolation of them across frame edges); per 5 ms sub-frame: long-term (pitch)
    prediction from the decoded residual, lag 40-120 samples (7 bits) and gain quantised to
    GSM's four values (2 bits); the rest low-passed by GSM's weighting filter and decimated by
    3 on the best of 4 grids (2 bits), 13 pulses coded by APCM: a 6-bit logarithmic block
    maximum and 3 bits a pulse. The decoder rebuilds the residual, runs the LPC synthesis
    filter and de-emphasis, and the result is resampled back to ``sr``."""
    return at_8k(x, sr, _rpe_ltp_8k)


def _rpe_ltp_8k(x8: np.ndarray) -> np.ndarray:
    n = len(x8)
    if n == 0:
        return x8.copy()
    s = signal.lfilter([1.0, -_PREEMPHASIS], [1.0], np.asarray(x8, np.float64))
    num_frames = -(-n // 160)
    s = np.pad(s, (0, num_frames * 160 - n))
    out = np.zeros_like(s)
    past_in, past_out = np.zeros(8), np.zeros(8)  # most recent first, for lfiltic
    history = np.zeros(120)  # decoded residual, for the long-term predictor
    for f in range(num_frames):
        frame = s[f * 160 : (f + 1) * 160]
        acf = np.array([frame[: 160 - i] @ frame[i:] for i in range(9)])
        ks = _levinson(acf * np.r_[1 + 1e-9, np.ones(8)], 8) if acf[0] > 0 else np.zeros(8)
        larc = np.clip(
            np.round(_LAR_A * _lar(np.clip(ks, -0.999, 0.999)) + _LAR_B), _LAR_MIN, -_LAR_MIN - 1
        )
        a = _step_up(_lar_inverse((larc - _LAR_B) / _LAR_A))
        d, _ = signal.lfilter(a, [1.0], frame, zi=signal.lfiltic(a, [1.0], [], past_in))
        past_in = frame[::-1][:8]
        residual = np.zeros(160)
        for j in range(4):
            dj = d[j * 40 : (j + 1) * 40]
            windows = np.lib.stride_tricks.sliding_window_view(history, 40)  # start s: lag 120-s
            corr = windows @ dj
            best = int(np.argmax(corr))
            energy = windows[best] @ windows[best]
            gain = corr[best] / energy if energy > 0 and corr[best] > 0 else 0.0
            pred = _LTP_GAINS[np.searchsorted(_LTP_BOUNDS, gain)] * windows[best]
            xw = np.convolve(dj - pred, _RPE_H, mode="same")
            grid = int(np.argmax([np.sum(xw[m::3][:13] ** 2) for m in range(4)]))
            pulses = xw[grid::3][:13]
            xmax = float(np.max(np.abs(pulses)))
            ep = np.zeros(40)
            if xmax > 0:
                xmax_q = 2.0 ** (np.clip(np.ceil(4 * np.log2(xmax)), -63, 0) / 4)
                q = np.clip(np.floor((pulses / xmax_q + 1) * 4), 0, 7).astype(np.int64)
                ep[grid : grid + 37 : 3] = _RPE_LEVELS[q] * xmax_q
            residual[j * 40 : (j + 1) * 40] = ep + pred
            history = np.concatenate([history, ep + pred])[-120:]
        y, _ = signal.lfilter([1.0], a, residual, zi=signal.lfiltic([1.0], a, past_out))
        past_out = y[::-1][:8]
        out[f * 160 : (f + 1) * 160] = y
    return signal.lfilter([1.0], [1.0, -_PREEMPHASIS], out[:n]).astype(np.float32)


def hard_clip(x: np.ndarray, clip_db: float) -> np.ndarray:
    """Saturate like an overdriven recording: cut every sample at ``clip_db`` dB below the
    peak (``clip_db`` >= 0; 0 leaves the signal as it is)."""
    x = np.asarray(x, np.float32)
    level = float(np.max(np.abs(x))) * 10 ** (-clip_db / 20) if len(x) else 0.0
    return np.clip(x, -level, level)


# (kind, frequency Hz, gain dB, Q) of parametric-EQ bands: "hp"/"lp" 2nd-order high/low-pass,
# "peak" a peaking band, "lowshelf"/"highshelf" shelves (RBJ audio-EQ cookbook biquads).
EqBand = tuple[str, float, float, float]

# Frequency-response shapes of microphone classes, after the published response curves of typical
# devices (not measurements of any one): the band edges, presence peaks and shelves are what set
# them apart. Each draw moves every frequency by up to +-1/4 octave and every gain by +-2 dB.
MIC_CLASSES: dict[str, tuple[EqBand, ...]] = {
    # close-talking electret on a boom: proximity bass lift, mild presence rise
    "headset": (("hp", 100, 0, 0.7), ("lowshelf", 250, 3, 0.7), ("peak", 3000, 3, 1.0)),
    # handheld dynamic vocal microphone (SM58-like): bass roll-off, presence peak at 5 kHz,
    # falling above 10 kHz
    "dynamic": (("hp", 80, 0, 0.7), ("peak", 5000, 5, 1.2), ("lp", 10000, 0, 0.7)),
    # laptop array behind a small port: little bass, a port resonance, early top roll-off
    "laptop": (
        ("hp", 250, 0, 0.7),
        ("peak", 1200, -3, 1.0),
        ("peak", 4000, 5, 2.0),
        ("lp", 6500, 0, 0.7),
    ),
    # smartphone MEMS microphone: flat with a rise towards its resonance
    "phone": (("hp", 120, 0, 0.7), ("highshelf", 5000, 3, 0.7)),
    # cheap webcam electret: narrow band with a strong mid peak
    "webcam": (("hp", 300, 0, 0.8), ("peak", 2500, 7, 1.5), ("lp", 5000, 0, 0.7)),
    # lavalier on the chest: chest resonance near 700 Hz, highs lost off-axis
    "lavalier": (("hp", 70, 0, 0.7), ("peak", 700, 4, 1.5), ("highshelf", 3000, -4, 0.7)),
    # conference-room boundary microphone at a distance: thin bass, dull top
    "boundary": (("hp", 150, 0, 0.7), ("highshelf", 4000, -6, 0.7)),
}


def _biquad(kind: str, freq_hz: float, gain_db: float, q: float, sr: int) -> np.ndarray:
    """One second-order section ``[b0, b1, b2, 1, a1, a2]`` (RBJ audio-EQ cookbook)."""
    w = 2 * np.pi * freq_hz / sr
    cw, alpha, amp = np.cos(w), np.sin(w) / (2 * q), 10 ** (gain_db / 40)
    if kind == "hp":
        b, a = [(1 + cw) / 2, -(1 + cw), (1 + cw) / 2], [1 + alpha, -2 * cw, 1 - alpha]
    elif kind == "lp":
        b, a = [(1 - cw) / 2, 1 - cw, (1 - cw) / 2], [1 + alpha, -2 * cw, 1 - alpha]
    elif kind == "peak":
        b = [1 + alpha * amp, -2 * cw, 1 - alpha * amp]
        a = [1 + alpha / amp, -2 * cw, 1 - alpha / amp]
    elif kind in ("lowshelf", "highshelf"):
        s = 1 if kind == "lowshelf" else -1
        r = 2 * np.sqrt(amp) * alpha
        b = [
            amp * ((amp + 1) - s * (amp - 1) * cw + r),
            s * 2 * amp * ((amp - 1) - s * (amp + 1) * cw),
            amp * ((amp + 1) - s * (amp - 1) * cw - r),
        ]
        a = [
            (amp + 1) + s * (amp - 1) * cw + r,
            -s * 2 * ((amp - 1) + s * (amp + 1) * cw),
            (amp + 1) + s * (amp - 1) * cw - r,
        ]
    else:
        raise ValueError(f"unknown EQ band kind {kind!r}")
    return np.concatenate([b, a]) / a[0]


def eq_sos(bands, sr: int) -> np.ndarray:
    """Second-order sections ``[num_bands, 6]`` of parametric-EQ ``bands`` at ``sr``; bands
    whose frequency is at or above 0.45 ``sr`` (a low-pass the rate already imposes, or a
    shelf past the band) are left out."""
    rows = [_biquad(k, f, g, q, sr) for k, f, g, q in bands if f < 0.45 * sr]
    return np.array(rows) if rows else np.array([[1.0, 0, 0, 1.0, 0, 0]])


def draw_mic(mic: str, rng: np.random.Generator) -> tuple[EqBand, ...]:
    """The EQ bands of one microphone of class ``mic`` (see :data:`MIC_CLASSES`)."""
    return tuple(
        (k, f * 2 ** rng.uniform(-0.25, 0.25), g + (rng.uniform(-2, 2) if g else 0.0), q)
        for k, f, g, q in MIC_CLASSES[mic]
    )


def mic_response(x: np.ndarray, sr: int, bands) -> np.ndarray:
    """Filter ``x`` through the parametric EQ ``bands`` (e.g. from :func:`draw_mic`), keeping
    its RMS level."""
    x = np.asarray(x, np.float32)
    if len(x) == 0:
        return x.copy()
    return _match_rms(signal.sosfilt(eq_sos(bands, sr), x), x)
