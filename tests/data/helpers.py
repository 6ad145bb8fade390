"""Builders of tiny audio files and data directories for the data tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from speechseq.data.kaldi_dir import spk2utt_from_utt2spk, write_table

SR = 16000  # Hz


def tone(freq_hz: float = 440.0, dur_s: float = 0.2, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    """A sine tone, float32 ``[dur_s * sr]``."""
    t = np.arange(int(round(dur_s * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq_hz * t)).astype(np.float32)


def write_audio(path: Path, x: np.ndarray, sr: int = SR, subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x, sr, subtype=subtype)
    return path


def build_dir(root: Path, utts: dict[str, tuple[str, str]], dur_s: float = 0.2) -> Path:
    """A data dir at ``root`` from ``{utt: (spk, transcript)}``, one wav per utterance."""
    root.mkdir(parents=True, exist_ok=True)
    wav = {}
    for i, utt in enumerate(utts):
        wav[utt] = str(write_audio(root / "wav" / f"{utt}.wav", tone(300 + 50 * i, dur_s)))
    utt2spk = {u: s for u, (s, _) in utts.items()}
    write_table(root / "wav.scp", wav)
    write_table(root / "text", {u: t for u, (_, t) in utts.items()})
    write_table(root / "utt2spk", utt2spk)
    write_table(root / "spk2utt", spk2utt_from_utt2spk(utt2spk))
    write_table(root / "utt2dur", {u: dur_s for u in utts})
    return root


STEREO_UTTS = ("s-1", "s-2")


def make_dir(root: Path, audio: dict[str, Path]) -> Path:
    """A data dir of one utterance per recording, speaker 's'."""
    root.mkdir(parents=True, exist_ok=True)
    write_table(root / "wav.scp", {u: str(p) for u, p in audio.items()})
    utt2spk = dict.fromkeys(audio, "s")
    write_table(root / "utt2spk", utt2spk)
    write_table(root / "spk2utt", spk2utt_from_utt2spk(utt2spk))
    write_table(root / "text", dict.fromkeys(audio, "hello"))
    return root


def speech_on_channel_1(path: Path, seed: int = 0) -> np.ndarray:
    """A stereo PCM_16 wav: silence on channel 0, a noisy tone ("speech") on channel 1.
    Returns the samples as read back, float32 ``[num_samples, 2]``."""
    rng = np.random.default_rng(seed)
    speech = tone(300 + 100 * seed, 0.5) + 0.05 * rng.standard_normal(SR // 2).astype(np.float32)
    write_audio(path, np.stack([np.zeros_like(speech), speech], axis=1))
    return sf.read(path, dtype="float32", always_2d=True)[0]
