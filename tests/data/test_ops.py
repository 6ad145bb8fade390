"""fix, split, subset, combine."""

from __future__ import annotations

import pytest

from speechseq.data.kaldi_dir import CtmEntry, DataDir, read_table, write_ctm, write_table
from speechseq.data.ops import (
    combine_data_dirs,
    fix_data_dir,
    split_by_speaker,
    split_data_dir,
    split_parts,
    subset_data_dir,
)
from speechseq.data.validate import validate_data_dir
from speechseq.errors import SpeechseqError, UsageError
from tests.data.conftest import UTTS
from tests.data.helpers import build_dir


def test_fix_drops_utts_missing_from_text(data_dir):
    write_table(data_dir / "text", {u: t for u, (_, t) in UTTS.items() if u != "b-2"})
    report = fix_data_dir(data_dir)
    assert report.dropped == {"missing from text": ["b-2"]}
    assert "b-2" not in read_table(data_dir / "utt2spk")
    assert read_table(data_dir / "spk2utt")["b"] == "b-1 b-3"
    assert validate_data_dir(data_dir) == []
    assert (data_dir / ".backup" / "text").is_file()


def test_fix_drops_empty_transcripts(data_dir):
    (data_dir / "text").write_text("a-1 hello\na-2\nb-1 x\nb-2 y\nb-3 z\nc-1 w\n")
    assert fix_data_dir(data_dir).dropped == {"with an empty transcript": ["a-2"]}
    assert validate_data_dir(data_dir) == []


def test_fix_sorts_dedups_and_rebuilds_spk2utt(data_dir):
    (data_dir / "utt2spk").write_text("c-1 c\nb-1 b\na-1 a\na-2 a\nb-2 b\nb-3 b\na-1 a\n")
    (data_dir / "spk2utt").unlink()
    report = fix_data_dir(data_dir)
    assert any("second line for 'a-1'" in n for n in report.lines())
    assert (data_dir / "utt2spk").read_text().splitlines()[:2] == ["a-1 a", "a-2 a"]
    assert validate_data_dir(data_dir) == []


def test_fix_drops_bad_segments_and_unused_recordings(seg_dir):
    write_table(
        seg_dir / "segments",
        {"s-1": "rec1 0.00 0.30", "s-2": "rec1 0.50 0.40", "s-3": "rec1 0.60 0.90"},
    )
    report = fix_data_dir(seg_dir)
    assert list(report.dropped.values()) == [["s-2"]]
    assert validate_data_dir(seg_dir) == []


def test_fix_filters_ctm(data_dir):
    write_ctm(data_dir / "ctm", [CtmEntry(u, "1", 0, 0.1, "w") for u in [*UTTS, "zz"]])
    fix_data_dir(data_dir)
    assert "zz" not in {e.utt for e in DataDir(data_dir).ctm}


def test_fix_refuses_when_nothing_is_shared(data_dir):
    write_table(data_dir / "text", {"q-1": "x"})
    before = (data_dir / "utt2spk").read_text()
    with pytest.raises(SpeechseqError, match="no utterance is in every table"):
        fix_data_dir(data_dir)
    assert (data_dir / "utt2spk").read_text() == before


def test_split_keeps_speakers_whole(data_dir):
    parts = split_data_dir(data_dir, 2)
    assert parts == [data_dir / "split2" / "1", data_dir / "split2" / "2"]
    spk_sets = [set(read_table(p / "utt2spk").values()) for p in parts]
    assert not spk_sets[0] & spk_sets[1]
    assert sorted(len(read_table(p / "utt2spk")) for p in parts) == [3, 3]  # b | a + c
    for p in parts:
        assert validate_data_dir(p) == []
        assert read_table(p / "wav.scp").keys() == read_table(p / "text").keys()


def test_split_filters_recordings_with_segments(tmp_path, seg_dir):
    (seg_dir / "utt2spk").write_text("s-1 s\ns-2 s\ns-3 t\n")
    (seg_dir / "spk2utt").write_text("s s-1 s-2\nt s-3\n")
    parts = split_data_dir(seg_dir, 2)
    assert [len(read_table(p / "segments")) for p in parts] == [2, 1]
    assert all(list(read_table(p / "wav.scp")) == ["rec1"] for p in parts)


def test_split_parts_are_the_split_dirs_parts_in_order_and_a_missing_one_is_named(data_dir):
    made = split_data_dir(data_dir, 3)
    assert split_parts(data_dir / "split3") == made
    made[2].rename(data_dir / "split3" / "x")
    with pytest.raises(SpeechseqError, match=r"split3/3: no such part .* makes .*split3/1\.\.3"):
        split_parts(data_dir / "split3")
    with pytest.raises(SpeechseqError, match="not a split dir"):
        split_parts(data_dir)


def test_split_rejects_more_parts_than_speakers(data_dir):
    with pytest.raises(UsageError, match="cannot split 3 speaker"):
        split_data_dir(data_dir, 4)
    assert not (data_dir / "split4").exists()


def test_split_by_speaker_balances_utterance_counts():
    utt2spk = {f"{s}-{i}": s for s, n in {"a": 5, "b": 4, "c": 3, "d": 2}.items() for i in range(n)}
    parts = split_by_speaker(utt2spk, 2)
    sizes = sorted(sum(1 for s in utt2spk.values() if s in p) for p in parts)
    assert sizes == [7, 7]


def test_split_refuses_invalid_dir(data_dir):
    (data_dir / "utt2spk").write_text("a-2 a\na-1 a\n")
    with pytest.raises(SpeechseqError, match="not a valid data directory"):
        split_data_dir(data_dir, 1)


def test_subset_first_n_utts_in_c_order(tmp_path, data_dir):
    assert subset_data_dir(data_dir, tmp_path / "s", num_utts=3) == 3
    assert list(read_table(tmp_path / "s" / "text")) == ["a-1", "a-2", "b-1"]
    assert validate_data_dir(tmp_path / "s") == []


def test_subset_random_is_reproducible_with_seed(tmp_path, data_dir):
    subset_data_dir(data_dir, tmp_path / "r1", num_utts=3, random=True, seed=7)
    subset_data_dir(data_dir, tmp_path / "r2", num_utts=3, random=True, seed=7)
    assert read_table(tmp_path / "r1" / "utt2spk") == read_table(tmp_path / "r2" / "utt2spk")


def test_subset_by_speakers_list_and_file(tmp_path, data_dir):
    subset_data_dir(data_dir, tmp_path / "s", speakers="a,c")
    assert set(read_table(tmp_path / "s" / "spk2utt")) == {"a", "c"}
    (tmp_path / "spk.list").write_text("b\n")
    assert subset_data_dir(data_dir, tmp_path / "s2", speakers=str(tmp_path / "spk.list")) == 3


def test_subset_rejects_unknown_speaker(tmp_path, data_dir):
    with pytest.raises(SpeechseqError, match="speaker\\(s\\) zz not found"):
        subset_data_dir(data_dir, tmp_path / "s", speakers="a,zz")
    assert not (tmp_path / "s").exists()


def test_subset_rejects_too_many_utts(tmp_path, data_dir):
    with pytest.raises(UsageError, match="has 6 utterance"):
        subset_data_dir(data_dir, tmp_path / "s", num_utts=7)


def test_combine_unions_dirs(tmp_path):
    d1 = build_dir(tmp_path / "d1", {"a-1": ("a", "x"), "b-1": ("b", "y")})
    d2 = build_dir(tmp_path / "d2", {"a-2": ("a", "z"), "c-1": ("c", "w")})
    write_table(d1 / "text.fr", {"a-1": "x", "b-1": "y"})
    notes = combine_data_dirs(tmp_path / "all", [d1, d2])
    assert notes == [f"left out text.fr: not in {d2}"]
    assert read_table(tmp_path / "all" / "spk2utt")["a"] == "a-1 a-2"
    assert validate_data_dir(tmp_path / "all") == []


def test_combine_rejects_duplicate_ids(tmp_path):
    d1 = build_dir(tmp_path / "d1", {"a-1": ("a", "x")})
    d2 = build_dir(tmp_path / "d2", {"a-1": ("a", "y")})
    with pytest.raises(SpeechseqError, match=r"id 'a-1' is also in .*d1"):
        combine_data_dirs(tmp_path / "all", [d1, d2])
    assert not (tmp_path / "all").exists()


def test_fix_rejects_non_utf8_text_naming_line(data_dir):
    (data_dir / "text").write_bytes(b"a-1 ok\na-2 caf\xe9\n")
    with pytest.raises(SpeechseqError, match=r"text:2: not valid UTF-8"):
        fix_data_dir(data_dir)
