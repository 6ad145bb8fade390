"""Audio I/O: read any format soundfile reads, at any rate, resampled to the target rate.

``read_audio`` takes a wav.scp entry: a path, or ``command |`` (the command's standard
output is audio, as in Kaldi). Samples are float32 in [-1, 1], shape ``[num_samples]``.

Multi-channel audio is never quietly cut to its first channel: ``channel`` is a 0-based
index or ``"mix"`` (the average of the channels, the default). A data dir's
``reco2file_and_channel`` chooses the channel of the recordings it lists
(:meth:`speechseq.data.kaldi_dir.DataDir.audio_spec` gives an :class:`AudioSpec`).

A pipe entry runs a shell command. ``SPEECHSEQ_NO_PIPES=1`` in the environment (or
``speechseq --no-pipes``, which sets it) refuses them: for data from elsewhere.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from speechseq.errors import SpeechseqError, UsageError
from speechseq.fileio import atomic_write

DEFAULT_SR = 16000  # Hz
MIX = "mix"  # the channel choice that averages all channels of the audio
# Set (to anything but "", 0, false or no): wav.scp pipe entries are refused.
NO_PIPES_ENV = "SPEECHSEQ_NO_PIPES"

Channel = int | str  # a 0-based channel index, or MIX


@dataclass(frozen=True)
class AudioSpec:
    """Where an utterance's samples are: a wav.scp entry, a span of it, and which channel."""

    entry: str  # wav.scp value: a path, or "command |"
    start_s: float = 0.0  # seconds into the recording
    end_s: float | None = None  # seconds; None: to the end of the recording
    channel: Channel = MIX  # 0-based index, or "mix" (the average of the channels)
    # "FILE:LINE (channel X)" of the reco2file_and_channel line that chose ``channel``;
    # None when the caller chose it (--channel)
    channel_from: str | None = None


def parse_channel(value: str | int) -> Channel:
    """``"mix"`` or a channel index (``"1"`` -> 1); anything else is a usage error."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value >= 0:
            return value
    elif isinstance(value, str):
        text = value.strip().lower()
        if text == MIX:
            return MIX
        if text.isascii() and text.isdigit():
            return int(text)
    raise UsageError(
        f"--channel {value}: give a channel number (0 = the first channel) or mix "
        f"(the average of the channels)"
    )


def pipes_refused() -> bool:
    """Whether wav.scp pipe entries are refused (``SPEECHSEQ_NO_PIPES`` set)."""
    return os.environ.get(NO_PIPES_ENV, "").strip().lower() not in ("", "0", "false", "no")


def refuse_pipes() -> Callable[[], None]:
    """Refuse pipe entries from now on, in this process and the workers it starts (it sets
    ``SPEECHSEQ_NO_PIPES=1``, which they inherit); returns a function that restores the
    previous setting."""
    old = os.environ.get(NO_PIPES_ENV)
    os.environ[NO_PIPES_ENV] = "1"

    def restore() -> None:
        if old is None:
            os.environ.pop(NO_PIPES_ENV, None)
        else:
            os.environ[NO_PIPES_ENV] = old

    return restore


PIPES_FIX = (
    "write the audio to files and put their paths in wav.scp, or run without --no-pipes "
    f"(and {NO_PIPES_ENV} unset) if you trust this data"
)


def is_pipe(entry: str) -> bool:
    """Whether a wav.scp entry is a command (``... |``) rather than a path."""
    return entry.strip().endswith("|")


def _open(spec: str, what: str):
    """A file object or path for soundfile, from a wav.scp entry."""
    spec = spec.strip()
    if is_pipe(spec):
        if pipes_refused():
            raise SpeechseqError(
                f"{what}: '{spec}' is a pipe (a shell command) and pipes are refused "
                f"(--no-pipes or {NO_PIPES_ENV}=1) — {PIPES_FIX}"
            )
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
    channel: Channel = MIX,
    start_s: float = 0.0,
    end_s: float | None = None,
    what: str | None = None,
    allow_resample: bool = True,
    channel_from: str | None = None,
) -> np.ndarray:
    """Read audio as float32 ``[num_samples]`` at ``target_sr`` Hz (None: keep the file's rate).

    ``channel`` picks one channel of multi-channel audio (0-based), or ``"mix"`` averages
    them; ``channel_from`` says where that choice came from (see :func:`select_channel`).
    ``start_s``/``end_s`` cut a segment (seconds). ``what`` names the item in error messages
    (an utterance id, or the path). With ``allow_resample=False`` a file at another rate is
    an error.
    """
    x, sr = read_audio_native(spec, channel, start_s, end_s, what, channel_from)
    what = what or str(spec)
    if target_sr is not None and sr != target_sr:
        if not allow_resample:
            raise SpeechseqError(
                f"{what}: sample rate is {sr} Hz, expected {target_sr} Hz — resample the audio "
                f"(e.g. sox in.wav -r {target_sr} out.wav) or allow resampling"
            )
        x = resample(x, sr, target_sr)
    return x


def read_spec(
    spec: AudioSpec,
    target_sr: int | None = DEFAULT_SR,
    what: str | None = None,
    allow_resample: bool = True,
) -> np.ndarray:
    """:func:`read_audio` of an :class:`AudioSpec` (span and channel as it says)."""
    return read_audio(
        spec.entry,
        target_sr,
        spec.channel,
        spec.start_s,
        spec.end_s,
        what,
        allow_resample,
        spec.channel_from,
    )


def read_spec_native(spec: AudioSpec, what: str | None = None) -> tuple[np.ndarray, int]:
    """:func:`read_audio_native` of an :class:`AudioSpec`: (samples, the file's rate in Hz)."""
    return read_audio_native(
        spec.entry, spec.channel, spec.start_s, spec.end_s, what, spec.channel_from
    )


def read_audio_native(
    spec: str | os.PathLike,
    channel: Channel = MIX,
    start_s: float = 0.0,
    end_s: float | None = None,
    what: str | None = None,
    channel_from: str | None = None,
) -> tuple[np.ndarray, int]:
    """Read audio at the file's own rate: (float32 ``[num_samples]``, sample rate in Hz)."""
    data, sr = read_audio_channels(spec, start_s, end_s, what)
    return select_channel(data, channel, what or str(spec), str(spec), channel_from), sr


def select_channel(
    data: np.ndarray,
    channel: Channel,
    what: str,
    entry: str,
    channel_from: str | None = None,
) -> np.ndarray:
    """One channel (or the average, ``"mix"``) of ``data: [num_samples, num_channels]``.

    A channel the audio does not have is an error naming ``what`` (and the wav.scp
    ``entry``), the channel count and the fix. When ``channel_from`` is set (the
    reco2file_and_channel line that chose the channel), one-channel audio is read as it is:
    a Kaldi wav.scp entry usually extracts that channel itself (``sph2pipe -c 2 ... |``).
    """
    channel = parse_channel(channel)
    n = data.shape[1]
    if n == 1 and (channel == MIX or channel == 0 or channel_from is not None):
        return np.ascontiguousarray(data[:, 0])
    if channel == MIX:
        return data.mean(axis=1, dtype=np.float64).astype(np.float32)
    if channel < n:
        return np.ascontiguousarray(data[:, channel])
    where = what if what == entry.strip() else f"{what} ({entry.strip()})"
    if channel_from is not None:
        fix = (
            "fix that line of reco2file_and_channel (A or 1 is the first channel, B or 2 "
            "the second), or remove it"
        )
        raise SpeechseqError(
            f"{where}: {channel_from} names channel index {channel}, but the audio has {n} "
            f"channel(s) — {fix}"
        )
    raise SpeechseqError(
        f"{where}: channel {channel} asked for, but the audio has {n} channel(s) — give "
        f"--channel {'0' if n == 1 else f'0 to {n - 1}'}, or --channel mix (the average of the "
        f"channels)"
    )


def read_audio_channels(
    spec: str | os.PathLike,
    start_s: float = 0.0,
    end_s: float | None = None,
    what: str | None = None,
) -> tuple[np.ndarray, int]:
    """Every channel at the file's own rate: (float32 ``[num_samples, num_channels]``, Hz)."""
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
    return data, int(sr)


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
    sr, frames, _ = audio_header(spec, what)
    return sr, frames / sr


def audio_header(spec: str, what: str | None = None) -> tuple[int, int, int]:
    """(sample rate in Hz, samples per channel, channels) from the header, as :func:`audio_info`."""
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
    return info.samplerate, info.frames, info.channels


def write_wav(path: str | os.PathLike, x: np.ndarray, sr: int = DEFAULT_SR) -> None:
    """Write float samples ``[num_samples]`` as 16-bit PCM WAV, atomically."""
    with atomic_write(path, "wb") as f:
        sf.write(f, np.clip(x, -1.0, 1.0), sr, subtype="PCM_16", format="WAV")
