"""Tiny generated audio and data dirs for the feature tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from speechseq.cli.main import app
from speechseq.data.audio import write_wav
from speechseq.features import compute_feats
from tests.features.helpers import CFG, NEW_ARGS, OLD, runner, same, snapshot

SR = 16000  # Hz


def chirp_with_noise(seconds: float = 3.0, seed: int = 0) -> np.ndarray:
    """A 100 Hz -> 3 kHz chirp plus white noise, float32 ``[num_samples]`` quantised to int16 steps."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    x = 0.3 * np.sin(
        2 * np.pi * (100 * t + 0.5 * (2900 / seconds) * t**2)
    ) + 0.05 * rng.standard_normal(t.size)
    return (np.round(x * 32767) / 32768).astype(np.float32)


def make_data_dir(root: Path, speakers=("spkA", "spkB"), per_speaker: int = 3) -> Path:
    """A data dir with ``per_speaker`` short wavs per speaker (wav.scp, text, utt2spk, spk2utt)."""
    root.mkdir(parents=True, exist_ok=True)
    wav, text, utt2spk = [], [], []
    for k, spk in enumerate(speakers):
        for i in range(per_speaker):
            utt = f"{spk}-utt{i}"
            x = chirp_with_noise(0.4 + 0.15 * i, seed=10 * k + i) * (
                0.5 + k
            )  # speakers differ in level
            write_wav(root / "wav" / f"{utt}.wav", x, SR)
            wav.append(f"{utt} {root / 'wav' / f'{utt}.wav'}")
            text.append(f"{utt} hello world")
            utt2spk.append(f"{utt} {spk}")
    (root / "wav.scp").write_text("\n".join(wav) + "\n")
    (root / "text").write_text("\n".join(text) + "\n")
    (root / "utt2spk").write_text("\n".join(utt2spk) + "\n")
    spk2utt = [
        f"{spk} " + " ".join(f"{spk}-utt{i}" for i in range(per_speaker)) for spk in speakers
    ]
    (root / "spk2utt").write_text("\n".join(spk2utt) + "\n")
    return root


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return make_data_dir(tmp_path / "data")


@pytest.fixture
def feats_dir(data_dir):
    compute_feats(data_dir, CFG, progress=False)
    return data_dir


@pytest.fixture
def dirs(tmp_path):
    d = make_data_dir(tmp_path / "data", per_speaker=1)
    compute_feats(d, OLD, progress=False)
    old = snapshot(d)
    runner.invoke(app, ["compute-feats", str(d), *NEW_ARGS])
    new = snapshot(d)
    assert not same(old, new)
    return d, old, new
