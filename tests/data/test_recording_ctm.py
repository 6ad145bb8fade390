"""recording_ctm: a CTM keyed by utterance moved into recording time (Kaldi's convert_ctm.pl)."""

from __future__ import annotations

import pytest

from speechseq.data.kaldi_dir import CtmEntry, DataDir, recording_ctm
from speechseq.errors import SpeechseqError


def _dir(tmp_path, r2fc: str | None = None):
    d = tmp_path / "d"
    d.mkdir()
    (d / "wav.scp").write_text("rec1 rec1.wav\n")
    (d / "segments").write_text("u1 rec1 0.50 2.00\nu2 rec1 3.25 4.00\n")
    (d / "utt2spk").write_text("u1 s\nu2 s\n")
    if r2fc is not None:
        (d / "reco2file_and_channel").write_text(r2fc)
    return DataDir(d)


ENTRIES = [CtmEntry("u1", "1", 0.1, 0.3, "one"), CtmEntry("u2", "1", 0.2, 0.4, "two", 0.9)]


def test_times_are_shifted_by_the_segment_start_and_keyed_by_recording(tmp_path):
    out = recording_ctm(_dir(tmp_path), ENTRIES)
    assert [(e.utt, e.channel, e.word, e.conf) for e in out] == [
        ("rec1", "1", "one", None),
        ("rec1", "1", "two", 0.9),
    ]
    assert [round(e.start_s, 6) for e in out] == [0.6, 3.45]
    assert [e.dur_s for e in out] == [0.3, 0.4]


def test_reco2file_and_channel_gives_the_file_and_channel(tmp_path):
    out = recording_ctm(_dir(tmp_path, "rec1 call7 B\n"), ENTRIES)
    assert {(e.utt, e.channel) for e in out} == {("call7", "B")}


def test_without_segments_the_entries_stay_as_they_are(tmp_path):
    d = tmp_path / "plain"
    d.mkdir()
    (d / "wav.scp").write_text("u1 u1.wav\nu2 u2.wav\n")
    (d / "utt2spk").write_text("u1 s\nu2 s\n")
    assert recording_ctm(DataDir(d), ENTRIES) == ENTRIES


def test_an_utterance_without_a_segment_is_named(tmp_path):
    with pytest.raises(SpeechseqError, match=r"segments: no segment for utterance 'u3' of the CTM"):
        recording_ctm(_dir(tmp_path), [CtmEntry("u3", "1", 0.0, 0.1, "x")])
