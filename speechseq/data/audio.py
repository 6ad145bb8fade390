"""Audio I/O: read any format soundfile reads, at any rate, resampled to the target rate.

``read_audio`` takes a wav.scp entry: a path, or ``command |`` (the command's standard
output is audio, as in Kaldi). Samples are float32 in [-1, 1], shape ``[num_samples]``.
"""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

from speechseq.errors import SpeechseqError
from speechseq.fileio import atomic_write

DEFAULT_SR = 16000  # Hz


def _open(spec: str, what: str):
    """A file object or path for soundfile, from a wav.scp entry."""
    spec = spec.strip()
    if spec.endswith("|"):
        cmd = spec[:-1].strip()
        proc = subprocess.run(cmd, shell=True, capture_output=True)
        if proc.returncode != 0:
            err = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
            raise SpeechseqError(
                f"{what}: the command '{cmd}' failed with exit code {proc.returncode} ({err[0]}) — "
                f"fix the command in wav.scp"
            )
        if not proc.stdout:
            raise SpeechseqError(f"{what}: the command '{cmd}' wrote no audio — fix the command in wav.scp")
        return io.BytesIO(proc.stdout)
    path = Path(spec)
    if not path.is_file():
        raise SpeechseqError(f"{what}: audio file {path} not found — fix the path in wav.scp or restore the file")
    if path.stat().st_size == 0:
        raise SpeechseqError(f"{what}: audio file {path} is empty (0 bytes) — re-create it or remove the utterance")
    return str(path)


def read_audio(
    spec: str | os.PathLike,
    target_sr: int | None = DEFAULT_SR,
    channel: int = 0,
    start_s: float = 0.0,
    end_s: float | None = None,
    what: str | None = None,
    allow_resample: bool = True,
) -> np.ndarray:
    """Read audio as float32 ``[num_samples]`` at ``target_sr`` Hz (None: keep the file's rate).

    ``channel`` picks one channel of multichannel audio; ``start_s``/``end_s`` cut a
    segment (seconds). ``what`` names the item in error messages (an utterance id, or
    the path). With ``allow_resample=False`` a file at another rate is an error.
    """
    spec = str(spec)
    what = what or spec
    src = _open(spec, what)
    try:
        info = sf.info(src)
        if isinstance(src, io.BytesIO):
            src.seek(0)
        sr = info.samplerate
        start = int(round(start_s * sr))
        stop = int(round(end_s * sr)) if end_s is not None else None
        if stop is not None and info.frames > 0 and stop > info.frames + int(0.05 * sr):
            raise SpeechseqError(
                f"{what}: segment ends at {end_s:.3f} s but the recording is {info.frames / sr:.3f} s long — "
                f"fix the end time in segments"
            )
        data, sr = sf.read(src, start=start, stop=stop, dtype="float32", always_2d=True)
    except sf.LibsndfileError as e:
        raise SpeechseqError(
            f"{what}: cannot read audio ({e.error_string if hasattr(e, 'error_string') else e}) — "
            f"the file is corrupt, truncated or not audio; re-create it or remove the utterance"
        ) from None
    except RuntimeError as e:
        raise SpeechseqError(f"{what}: cannot read audio ({e}) — re-create the file or remove the utterance") from None
    expected = (min(stop, info.frames) if stop is not None else info.frames) - start
    if info.frames > 0 and data.shape[0] < expected:
        raise SpeechseqError(
            f"{what}: audio is truncated ({data.shape[0]} of {expected} samples readable) — re-create the file"
        )
    if data.shape[0] == 0:
        raise SpeechseqError(f"{what}: audio has no samples — re-create it or remove the utterance")
    if not 0 <= channel < data.shape[1]:
        raise SpeechseqError(
            f"{what}: channel {channel} asked for, but the audio has {data.shape[1]} channel(s) — "
            f"choose a channel from 0 to {data.shape[1] - 1}"
        )
    x = np.ascontiguousarray(data[:, channel])
    if target_sr is not None and sr != target_sr:
        if not allow_resample:
            raise SpeechseqError(
                f"{what}: sample rate is {sr} Hz, expected {target_sr} Hz — resample the audio "
                f"(e.g. sox in.wav -r {target_sr} out.wav) or allow resampling"
            )
        x = resample(x, sr, target_sr)
    return x


def resample(x: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Band-limited resampling (soxr, high quality) of float32 ``[num_samples]``."""
    import soxr

    return soxr.resample(x, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)


def audio_duration(spec: str, what: str | None = None) -> float:
    """Duration in seconds without decoding the samples (pipes are run)."""
    src = _open(str(spec), what or str(spec))
    try:
        info = sf.info(src)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise SpeechseqError(f"{what or spec}: cannot read audio ({e}) — re-create the file") from None
    return info.frames / info.samplerate


def write_wav(path: str | os.PathLike, x: np.ndarray, sr: int = DEFAULT_SR) -> None:
    """Write float samples ``[num_samples]`` as 16-bit PCM WAV, atomically."""
    with atomic_write(path, "wb") as f:
        sf.write(f, np.clip(x, -1.0, 1.0), sr, subtype="PCM_16", format="WAV")
