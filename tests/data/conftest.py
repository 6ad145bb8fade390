"""Fixtures: tiny data directories with short generated audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from speechseq.data.audio import NO_PIPES_ENV
from speechseq.data.kaldi_dir import (
    CtmEntry,
    read_table,
    spk2utt_from_utt2spk,
    write_ctm,
    write_table,
)
from speechseq.features import FeatureConfig, compute_feats
from tests.data.helpers import (
    STEREO_UTTS,
    build_dir,
    make_dir,
    speech_on_channel_1,
    tone,
    write_audio,
)

UTTS = {
    "a-1": ("a", "hello world"),
    "a-2": ("a", "good morning"),
    "b-1": ("b", "one two three"),
    "b-2": ("b", "four"),
    "b-3": ("b", "five six"),
    "c-1": ("c", "seven"),
}


@pytest.fixture
def data_dir(tmp_path) -> Path:
    """Six utterances of 0.2 s by three speakers (a: 2, b: 3, c: 1)."""
    return build_dir(tmp_path / "d", UTTS)


@pytest.fixture
def seg_dir(tmp_path) -> Path:
    """One 1.0 s recording 'rec1' cut into three segments of speaker 's'."""
    d = tmp_path / "seg"
    d.mkdir()
    wav = write_audio(d / "rec1.wav", tone(440, 1.0))
    write_table(d / "wav.scp", {"rec1": str(wav)})
    write_table(
        d / "segments", {"s-1": "rec1 0.00 0.30", "s-2": "rec1 0.30 0.60", "s-3": "rec1 0.60 0.95"}
    )
    write_table(d / "text", {"s-1": "one", "s-2": "two", "s-3": "three"})
    utt2spk = {"s-1": "s", "s-2": "s", "s-3": "s"}
    write_table(d / "utt2spk", utt2spk)
    write_table(d / "spk2utt", spk2utt_from_utt2spk(utt2spk))
    return d


@pytest.fixture
def feats_dir(tmp_path) -> Path:
    """``data_dir`` with 23-dim fbank features, cmvn.ark, conf/feats.yaml and a
    reco2file_and_channel (each recording its own file, channel A).

    Dither 1 (seeded, so reproducible): without it some mel bins of the pure tones are
    constant and their variance is 0."""
    d = build_dir(tmp_path / "f", UTTS)
    write_table(d / "reco2file_and_channel", {u: f"{u} A" for u in UTTS})
    compute_feats(d, FeatureConfig(type="fbank", num_mel_bins=23, dither=1.0), progress=False)
    return d


@pytest.fixture
def src(tmp_path):
    d = build_dir(tmp_path / "src", AUGMENT_UTTS, dur_s=0.5)
    write_ctm(d / "ctm", [CtmEntry(u, "1", 0.1, 0.2, t) for u, (_, t) in AUGMENT_UTTS.items()])
    return d


AUGMENT_UTTS = {f"s{k}-{i}": (f"s{k}", f"word{i}") for k in range(2) for i in range(3)}


@pytest.fixture
def stereo(tmp_path) -> tuple[Path, dict[str, np.ndarray]]:
    """A data dir of two stereo recordings with the speech on channel 1, and their samples."""
    samples = {
        u: speech_on_channel_1(tmp_path / "wav" / f"{u}.wav", k) for k, u in enumerate(STEREO_UTTS)
    }
    return make_dir(
        tmp_path / "stereo", {u: tmp_path / "wav" / f"{u}.wav" for u in STEREO_UTTS}
    ), samples


@pytest.fixture
def piped(data_dir, monkeypatch):
    """``data_dir`` with utterance b-1 read through ``cat ... |``; pipes allowed to start with."""
    monkeypatch.setenv(NO_PIPES_ENV, "0")  # and restored after the test, whatever the CLI set
    wav = read_table(data_dir / "wav.scp")
    wav["b-1"] = f"cat {wav['b-1']} |"
    write_table(data_dir / "wav.scp", wav)
    return data_dir
