"""speechseq data to-lhotse / from-lhotse: Kaldi data dirs to lhotse manifests and back.

lhotse is optional: these tests skip when it is not installed, except the one that checks
what a user without it is told."""

from __future__ import annotations

import gzip
import json
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from speechseq.cli.main import app
from speechseq.data.audio import read_audio
from speechseq.data.kaldi_dir import (
    CtmEntry,
    DataDir,
    read_ctm,
    read_segments,
    read_table,
    write_ctm,
    write_table,
)
from tests.data.helpers import speech_on_channel_1, tone, write_audio

runner = CliRunner()
TABLES = ("wav.scp", "text", "utt2spk", "spk2utt")


def _lhotse():
    return pytest.importorskip("lhotse", reason="lhotse is not installed (pip install lhotse)")


def _cli(*args):
    return runner.invoke(app, ["data", *map(str, args)])


def _read_jsonl_gz(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.mark.parametrize("command", ["to-lhotse", "from-lhotse"])
def test_without_lhotse_the_command_says_how_to_install_it_in_one_line(
    tmp_path, seg_dir, monkeypatch, command
):
    monkeypatch.setitem(sys.modules, "lhotse", None)  # import lhotse raises ImportError
    res = _cli(command, seg_dir, tmp_path / "out")
    assert res.exit_code == 1
    assert res.stderr.splitlines() == [
        "error: lhotse is not installed — it is an optional dependency: "
        "pip install 'speechseq[lhotse]' (or pip install lhotse)"
    ]
    assert not (tmp_path / "out").exists()


def test_to_lhotse_writes_recordings_and_supervisions_that_lhotse_reads(tmp_path, seg_dir):
    lhotse = _lhotse()
    write_ctm(seg_dir / "ctm", [CtmEntry("s-2", "1", 0.05, 0.2, "two")])
    res = _cli("to-lhotse", seg_dir, tmp_path / "m")
    assert res.exit_code == 0, res.output
    assert "1 recordings, 3 supervisions" in res.stderr
    recs = lhotse.load_manifest(tmp_path / "m" / "recordings.jsonl.gz")
    sups = lhotse.load_manifest(tmp_path / "m" / "supervisions.jsonl.gz")
    (rec,) = recs
    assert (rec.id, rec.sampling_rate, rec.num_samples, rec.duration) == ("rec1", 16000, 16000, 1.0)
    assert rec.sources[0].source == str((seg_dir / "rec1.wav").resolve())
    by_id = {s.id: s for s in sups}
    assert [(s.id, s.recording_id, s.start, s.duration, s.text, s.speaker) for s in sups] == [
        ("s-1", "rec1", 0.0, 0.3, "one", "s"),
        ("s-2", "rec1", 0.3, 0.3, "two", "s"),
        ("s-3", "rec1", 0.6, 0.35, "three", "s"),
    ]
    (word,) = by_id["s-2"].alignment["word"]
    assert (word.symbol, word.start, word.duration) == ("two", 0.35, 0.2)  # recording time
    lhotse.validate_recordings_and_supervisions(recs, sups)
    cut = lhotse.CutSet.from_manifests(recordings=recs, supervisions=sups).trim_to_supervisions()
    audio = {c.supervisions[0].id: c.load_audio()[0] for c in cut}
    ours = DataDir(seg_dir)
    spec = ours.audio_spec("s-3")
    mine = read_audio(spec.entry, start_s=spec.start_s, end_s=spec.end_s)
    assert abs(len(audio["s-3"]) - len(mine)) <= 1


def test_round_trip_keeps_the_tables_and_ctm(tmp_path, seg_dir):
    _lhotse()
    words = {"s-1": "one", "s-2": "two", "s-3": "three"}
    write_ctm(seg_dir / "ctm", [CtmEntry(u, "1", 0.1, 0.1, w) for u, w in words.items()])
    assert _cli("to-lhotse", seg_dir, tmp_path / "m").exit_code == 0
    res = _cli("from-lhotse", tmp_path / "m", tmp_path / "back")
    assert res.exit_code == 0, res.output
    for name in TABLES:
        want = read_table(seg_dir / name)
        if name == "wav.scp":
            want = {k: str((seg_dir / "rec1.wav").resolve()) for k in want}
        assert read_table(tmp_path / "back" / name) == want, name
    assert read_segments(tmp_path / "back" / "segments") == read_segments(seg_dir / "segments")
    assert read_ctm(tmp_path / "back" / "ctm") == read_ctm(seg_dir / "ctm")
    assert _cli("validate", tmp_path / "back").exit_code == 0


def test_whole_recordings_come_back_without_segments(tmp_path, data_dir):
    _lhotse()
    assert _cli("to-lhotse", data_dir, tmp_path / "m").exit_code == 0
    res = _cli("from-lhotse", tmp_path / "m", tmp_path / "back")
    assert res.exit_code == 0, res.output
    assert not (tmp_path / "back" / "segments").exists()
    assert read_table(tmp_path / "back" / "text") == read_table(data_dir / "text")
    assert read_table(tmp_path / "back" / "utt2dur") == {
        u: "0.200" for u in read_table(data_dir / "text")
    }


def test_reco2file_and_channel_goes_out_as_the_supervision_channel_and_back(tmp_path):
    _lhotse()
    d = tmp_path / "st"
    d.mkdir()
    speech_on_channel_1(d / "call.wav")
    write_table(d / "wav.scp", {"call-B": str(d / "call.wav")})
    write_table(d / "reco2file_and_channel", {"call-B": "call B"})
    write_table(d / "segments", {"spk-u1": "call-B 0.00 0.40"})
    write_table(d / "text", {"spk-u1": "hello"})
    write_table(d / "utt2spk", {"spk-u1": "spk"})
    write_table(d / "spk2utt", {"spk": "spk-u1"})
    assert _cli("to-lhotse", d, tmp_path / "m").exit_code == 0
    (sup,) = _read_jsonl_gz(tmp_path / "m" / "supervisions.jsonl.gz")
    assert sup["channel"] == 1 and sup["recording_id"] == "call-B"
    (rec,) = _read_jsonl_gz(tmp_path / "m" / "recordings.jsonl.gz")
    assert rec["sources"][0]["channels"] == [0, 1]
    res = _cli("from-lhotse", tmp_path / "m", tmp_path / "back")
    assert res.exit_code == 0, res.output
    assert read_table(tmp_path / "back" / "reco2file_and_channel") == {"call-B-B": "call-B B"}
    assert read_table(tmp_path / "back" / "segments") == {"spk-u1": "call-B-B 0.000 0.400"}
    assert DataDir(tmp_path / "back").audio_spec("spk-u1").channel == 1


def test_from_lhotse_reads_a_manifest_lhotse_wrote_itself(tmp_path):
    lhotse = _lhotse()
    wav = write_audio(tmp_path / "a.wav", tone(300, 0.5))
    rec = lhotse.Recording.from_file(wav, recording_id="rec-a")
    sups = [
        lhotse.SupervisionSegment("spk1-x", "rec-a", 0.0, 0.2, text="a b", speaker="spk1"),
        lhotse.SupervisionSegment("spk1-y", "rec-a", 0.25, 0.25, text="c", speaker="spk1"),
    ]
    (tmp_path / "m").mkdir()
    lhotse.RecordingSet.from_recordings([rec]).to_file(
        tmp_path / "m" / "corp_recordings_dev.jsonl.gz"
    )
    lhotse.SupervisionSet.from_segments(sups).to_file(
        tmp_path / "m" / "corp_supervisions_dev.jsonl.gz"
    )
    res = _cli("from-lhotse", tmp_path / "m", tmp_path / "d")
    assert res.exit_code == 0, res.output
    assert read_table(tmp_path / "d" / "segments") == {
        "spk1-x": "rec-a 0.000 0.200",
        "spk1-y": "rec-a 0.250 0.500",
    }
    assert read_table(tmp_path / "d" / "text") == {"spk1-x": "a b", "spk1-y": "c"}
    x = read_audio(str(wav), start_s=0.25, end_s=0.5)
    spec = DataDir(tmp_path / "d").audio_spec("spk1-y")
    np.testing.assert_array_equal(read_audio(spec.entry, start_s=spec.start_s, end_s=spec.end_s), x)


def _two_part_folder(lhotse, tmp_path):
    wav = write_audio(tmp_path / "a.wav", tone(300, 0.5))
    rec = lhotse.Recording.from_file(wav, recording_id="u1")
    m = tmp_path / "m"
    m.mkdir()
    for part, spk in (("dev", "zed"), ("test", "amy")):
        lhotse.RecordingSet.from_recordings([rec]).to_file(m / f"c_recordings_{part}.jsonl.gz")
        sup = lhotse.SupervisionSegment("u1", "u1", 0.0, 0.5, text="hi", speaker=spk)
        lhotse.SupervisionSet.from_segments([sup]).to_file(m / f"c_supervisions_{part}.jsonl.gz")
    return m


def test_several_parts_need_part_and_the_error_lists_them(tmp_path):
    m = _two_part_folder(_lhotse(), tmp_path)
    res = _cli("from-lhotse", m, tmp_path / "d")
    assert res.exit_code == 1
    assert res.stderr.splitlines() == [
        f"error: {m}: expected one recordings manifest, found c_recordings_dev.jsonl.gz, "
        "c_recordings_test.jsonl.gz — name the part with --part (e.g. --part dev-clean)"
    ]
    res = _cli("from-lhotse", m, tmp_path / "d", "--part", "test")
    assert res.exit_code == 0, res.output
    assert read_table(tmp_path / "d" / "utt2spk") == {"u1": "amy"}


def test_ids_that_do_not_sort_with_speakers_are_refused_and_speaker_prefix_fixes_it(tmp_path):
    lhotse = _lhotse()
    wav = write_audio(tmp_path / "a.wav", tone(300, 0.5))
    rec = lhotse.Recording.from_file(wav, recording_id="r")
    sups = [
        lhotse.SupervisionSegment("a", "r", 0.0, 0.2, text="x", speaker="zed"),
        lhotse.SupervisionSegment("b", "r", 0.2, 0.2, text="y", speaker="amy"),
    ]
    (tmp_path / "m").mkdir()
    lhotse.RecordingSet.from_recordings([rec]).to_file(tmp_path / "m" / "recordings.jsonl.gz")
    lhotse.SupervisionSet.from_segments(sups).to_file(tmp_path / "m" / "supervisions.jsonl.gz")
    res = _cli("from-lhotse", tmp_path / "m", tmp_path / "d")
    assert res.exit_code == 1
    (line,) = res.stderr.splitlines()
    assert "speakers do not sort consistently" in line and "rerun with --speaker-prefix" in line
    assert not (tmp_path / "d").exists()
    res = _cli("from-lhotse", tmp_path / "m", tmp_path / "d", "--speaker-prefix")
    assert res.exit_code == 0, res.output
    assert read_table(tmp_path / "d" / "utt2spk") == {"amy-b": "amy", "zed-a": "zed"}


def test_a_supervision_without_text_among_texted_ones_is_named(tmp_path):
    lhotse = _lhotse()
    wav = write_audio(tmp_path / "a.wav", tone(300, 0.5))
    rec = lhotse.Recording.from_file(wav, recording_id="r")
    sups = [
        lhotse.SupervisionSegment("s-a", "r", 0.0, 0.2, text="x", speaker="s"),
        lhotse.SupervisionSegment("s-b", "r", 0.2, 0.2, speaker="s"),
    ]
    (tmp_path / "m").mkdir()
    lhotse.RecordingSet.from_recordings([rec]).to_file(tmp_path / "m" / "recordings.jsonl.gz")
    lhotse.SupervisionSet.from_segments(sups).to_file(tmp_path / "m" / "supervisions.jsonl.gz")
    res = _cli("from-lhotse", tmp_path / "m", tmp_path / "d")
    assert res.exit_code == 1
    assert res.stderr.splitlines() == [
        f"error: {tmp_path / 'm' / 'supervisions.jsonl.gz'}: supervision 's-b' has no text while "
        "1 others have — give every supervision its text, or none (unlabelled audio)"
    ]


def test_a_manifest_that_is_not_lhotse_is_one_error_naming_it(tmp_path):
    _lhotse()
    m = tmp_path / "m"
    m.mkdir()
    (m / "recordings.jsonl.gz").write_bytes(b"not gzip")
    (m / "supervisions.jsonl.gz").write_bytes(b"not gzip")
    res = _cli("from-lhotse", m, tmp_path / "d")
    assert res.exit_code == 1
    (line,) = res.stderr.splitlines()
    assert line.startswith(
        f"error: {m / 'recordings.jsonl.gz'}: cannot read the lhotse recordings manifest"
    )
