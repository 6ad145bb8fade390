"""Audio I/O: read any format soundfile reads, at any rate, resampled to the target rate.

``read_audio`` takes a wav.scp entry: a path, or ``command |`` (the command's standard
output is audio, as in Kaldi). Samples are float32 in [-1, 1], shape ``[num_samples]``.
"""

from __future__ import annotations

import io
import os
import struct
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
            raise SpeechseqError(
                f"{what}: the command '{cmd}' wrote no audio — fix the command in wav.scp"
            )
        return io.BytesIO(proc.stdout)
    path = Path(spec)
    if not path.is_file():
        raise SpeechseqError(
            f"{what}: audio file {path} not found — fix the path (or its wav.scp entry) or restore the file"
        )
    if path.stat().st_size == 0:
        raise SpeechseqError(
            f"{what}: audio file {path} is empty (0 bytes) — re-create it or remove the utterance"
        )
    return str(path)


def _check_wav_complete(path: str, what: str) -> None:
    """Raise if a RIFF/WAVE file's header declares more sample data than the file holds.

    libsndfile quietly reads what is there of a truncated WAV, so a cut-off copy would
    otherwise pass as a shorter recording. Pipes are not checked (streaming writers put a
    placeholder size in the header).
    """
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return
        pos = 12
        for _ in range(64):  # chunks before 'data'; real files have a handful
            f.seek(pos)
            chunk = f.read(8)
            if len(chunk) < 8:
                return
            chunk_id, chunk_size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if chunk_id == b"data":
                have = size - (pos + 8)
                if chunk_size not in (0, 0xFFFFFFFF) and have < chunk_size:
                    raise SpeechseqError(
                        f"{what}: audio file {path} is truncated (header declares {chunk_size} bytes of "
                        f"samples, the file holds {have}) — re-create or re-copy the file"
                    )
                return
            pos += 8 + chunk_size + (chunk_size & 1)


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
    x, sr = read_audio_native(spec, channel, start_s, end_s, what)
    what = what or str(spec)
    if target_sr is not None and sr != target_sr:
        if not allow_resample:
            raise SpeechseqError(
                f"{what}: sample rate is {sr} Hz, expected {target_sr} Hz — resample the audio "
                f"(e.g. sox in.wav -r {target_sr} out.wav) or allow resampling"
            )
        x = resample(x, sr, target_sr)
    return x


def read_audio_native(
    spec: str | os.PathLike,
    channel: int = 0,
    start_s: float = 0.0,
    end_s: float | None = None,
    what: str | None = None,
) -> tuple[np.ndarray, int]:
    """Read audio at the file's own rate: (float32 ``[num_samples]``, sample rate in Hz)."""
    spec = str(spec)
    what = what or spec
    if start_s < 0 or (end_s is not None and end_s <= start_s):
        raise SpeechseqError(
            f"{what}: bad segment {start_s:.3f}-{end_s} s — times must satisfy 0 <= start < end; fix segments"
        )
    src = _open(spec, what)
    if isinstance(src, str):
        _check_wav_complete(src, what)
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
        msg = getattr(e, "error_string", None) or str(e)
        raise SpeechseqError(
            f"{what}: cannot read audio ({msg}) — the file is corrupt, truncated or not audio; "
            f"re-create it or remove the utterance"
        ) from None
    except RuntimeError as e:
        raise SpeechseqError(
            f"{what}: cannot read audio ({e}) — re-create the file or remove the utterance"
        ) from None
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
    return np.ascontiguousarray(data[:, channel]), int(sr)


def resample(x: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """Band-limited resampling (soxr, high quality) of float32 ``[num_samples]``."""
    import soxr

    return soxr.resample(x, orig_sr, target_sr, quality="HQ").astype(np.float32, copy=False)


def audio_duration(spec: str, what: str | None = None) -> float:
    """Duration in seconds without decoding the samples (pipes are run)."""
    return audio_info(spec, what)[1]


def audio_info(spec: str, what: str | None = None) -> tuple[int, float]:
    """(sample rate in Hz, duration in seconds) from the header, without decoding samples.

    A truncated WAV is an error here too. Pipes are run.
    """
    what = what or str(spec)
    src = _open(str(spec), what)
    if isinstance(src, str):
        _check_wav_complete(src, what)
    try:
        info = sf.info(src)
    except (sf.LibsndfileError, RuntimeError) as e:
        msg = getattr(e, "error_string", None) or str(e)
        raise SpeechseqError(
            f"{what}: cannot read audio ({msg}) — the file is corrupt or not audio; re-create it or remove it"
        ) from None
    if info.frames <= 0:
        raise SpeechseqError(f"{what}: audio has no samples — re-create it or remove the utterance")
    return info.samplerate, info.frames / info.samplerate


def write_wav(path: str | os.PathLike, x: np.ndarray, sr: int = DEFAULT_SR) -> None:
    """Write float samples ``[num_samples]`` as 16-bit PCM WAV, atomically."""
    with atomic_write(path, "wb") as f:
        sf.write(f, np.clip(x, -1.0, 1.0), sr, subtype="PCM_16", format="WAV")
