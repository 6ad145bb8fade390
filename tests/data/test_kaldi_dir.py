"""Tables, segments, CTM and DataDir."""

from __future__ import annotations

import pytest

from speechseq.data.kaldi_dir import (
    CtmEntry,
    DataDir,
    Segment,
    read_ctm,
    read_segments,
    read_table,
    write_ctm,
    write_table,
)
from speechseq.errors import SpeechseqError


def test_write_table_sorts_in_c_order(tmp_path):
    write_table(tmp_path / "t", {"b": "1", "B": "2", "a": [3, 4], "_x": 0.5})
    assert (tmp_path / "t").read_text() == "B 2\n_x 0.500\na 3 4\nb 1\n"


def test_read_table_rejects_duplicate_ids(tmp_path):
    (tmp_path / "t").write_text("a 1\na 2\n")
    with pytest.raises(SpeechseqError, match=r"t:2: duplicate id 'a'"):
        read_table(tmp_path / "t")


def test_read_table_rejects_non_utf8_naming_line(tmp_path):
    (tmp_path / "text").write_bytes(b"a hello\nb caf\xe9\n")
    with pytest.raises(SpeechseqError, match=r"text:2: not valid UTF-8.*iconv"):
        read_table(tmp_path / "text")


def test_read_table_rejects_missing_file(tmp_path):
    with pytest.raises(SpeechseqError, match="file not found"):
        read_table(tmp_path / "nope")


def test_read_table_keeps_rest_of_line_as_value(tmp_path):
    (tmp_path / "wav.scp").write_text("r1 sox a.wav -t wav - |\n")
    assert read_table(tmp_path / "wav.scp") == {"r1": "sox a.wav -t wav - |"}


def test_read_segments_names_line_of_bad_number(tmp_path):
    (tmp_path / "segments").write_text("u1 r 0 1\nu2 r x 2\n")
    with pytest.raises(SpeechseqError, match=r"segments:2: start 'x' is not a number"):
        read_segments(tmp_path / "segments")


def test_ctm_round_trips(tmp_path):
    entries = [CtmEntry("u2", "1", 0.5, 0.2, "b"), CtmEntry("u1", "1", 0.0, 0.3, "a", 0.9)]
    write_ctm(tmp_path / "ctm", entries)
    assert read_ctm(tmp_path / "ctm") == sorted(entries, key=lambda e: e.utt)
    assert (tmp_path / "ctm").read_text().splitlines()[0] == "u1 1 0.000 0.300 a 0.90"


def test_data_dir_reads_tables(data_dir):
    d = DataDir(data_dir)
    assert d.utt_ids[:2] == ["a-1", "a-2"]
    assert d.spk2utt["b"] == ["b-1", "b-2", "b-3"]
    assert d.utt2dur["c-1"] == pytest.approx(0.2)
    assert d.text["b-2"] == "four"
    spec = d.audio_spec("a-1")
    assert (spec.start_s, spec.end_s, spec.channel, spec.channel_from) == (0.0, None, "mix", None)


def test_data_dir_audio_spec_honours_segments(seg_dir):
    d = DataDir(seg_dir)
    assert d.segments["s-2"] == Segment("rec1", 0.3, 0.6)
    spec = d.audio_spec("s-2")
    assert spec.entry.endswith("rec1.wav") and (spec.start_s, spec.end_s) == (0.3, 0.6)
    with pytest.raises(SpeechseqError, match="no segment for utterance 'zz'"):
        d.audio_spec("zz")


def test_data_dir_utt2dur_names_line_of_bad_value(data_dir):
    (data_dir / "utt2dur").write_text("a-1 0.2\na-2 abc\n")
    with pytest.raises(SpeechseqError, match=r"utt2dur:2: value 'abc' is not a number"):
        _ = DataDir(data_dir).utt2dur


def test_data_dir_lists_translation_languages(data_dir):
    write_table(data_dir / "text.fr", {"a-1": "bonjour"})
    d = DataDir(data_dir)
    assert d.languages() == ["fr"] and d.translation("fr") == {"a-1": "bonjour"}
