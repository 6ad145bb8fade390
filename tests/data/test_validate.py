"""validate_data_dir: one test per check."""

from __future__ import annotations

from speechseq.data.kaldi_dir import CtmEntry, write_ctm, write_table
from speechseq.data.validate import Problem, data_dir_stats, format_problems, validate_data_dir
from tests.data.helpers import tone, write_audio


def messages(d, **kw) -> list[str]:
    return [str(p) for p in validate_data_dir(d, **kw)]


def one(d, needle, **kw) -> str:
    hits = [m for m in messages(d, **kw) if needle in m]
    assert hits, f"no problem with {needle!r} in {messages(d, **kw)}"
    return hits[0]


def test_validate_accepts_good_dir(data_dir):
    assert validate_data_dir(data_dir) == []
    stats = data_dir_stats(data_dir)
    assert (stats.num_utts, stats.num_spks) == (6, 3)
    assert stats.hours * 3600 == 1.2


def test_validate_accepts_good_segmented_dir(seg_dir):
    assert validate_data_dir(seg_dir) == []


def test_problem_prints_file_line_message_fix():
    assert (
        str(Problem("d/text", 3, "empty transcript", "write it"))
        == "d/text:3: empty transcript — write it"
    )


def test_validate_rejects_unsorted_utt2spk(data_dir):
    (data_dir / "utt2spk").write_text("a-2 a\na-1 a\nb-1 b\nb-2 b\nb-3 b\nc-1 c\n")
    m = one(data_dir, "not sorted")
    assert m.startswith(f"{data_dir}/utt2spk:2: not sorted in C order: 'a-1' comes after 'a-2'")
    assert "LC_ALL=C sort" in m


def test_validate_rejects_duplicate_ids(data_dir):
    with open(data_dir / "text", "a") as f:
        f.write("c-1 again\n")
    assert one(data_dir, "duplicate").startswith(
        f"{data_dir}/text:7: duplicate id 'c-1' (first on line 6)"
    )


def test_validate_reports_utt_missing_from_text(data_dir):
    write_table(data_dir / "text", {"a-1": "x", "a-2": "y", "b-1": "z", "b-2": "w", "b-3": "v"})
    assert "utterance 'c-1' (utt2spk line 6) is missing" in one(data_dir, "c-1")


def test_validate_reports_text_utt_not_in_utt2spk(data_dir):
    with open(data_dir / "text", "a") as f:
        f.write("z-9 extra\n")
    assert one(data_dir, "z-9").startswith(f"{data_dir}/text:7: utterance 'z-9' is not in utt2spk")


def test_validate_reports_empty_transcript(data_dir):
    (data_dir / "text").write_text("a-1 hello\na-2\nb-1 x\nb-2 y\nb-3 z\nc-1 w\n")
    assert one(data_dir, "empty transcript").startswith(
        f"{data_dir}/text:2: empty transcript for 'a-2'"
    )


def test_validate_reports_spk2utt_disagreeing_with_utt2spk(data_dir):
    (data_dir / "spk2utt").write_text("a a-1\nb b-1 b-2 b-3\nc a-2 c-1\n")
    assert one(data_dir, "spk2utt:1").endswith(
        "rebuild spk2utt from utt2spk: run speechseq data fix " + str(data_dir)
    )


def test_validate_reports_missing_spk2utt(data_dir):
    (data_dir / "spk2utt").unlink()
    assert "spk2utt: file not found" in one(data_dir, "spk2utt")


def test_validate_reports_speakers_not_prefix_of_utts(data_dir):
    write_table(
        data_dir / "utt2spk",
        {"a-1": "z", "a-2": "a", "b-1": "b", "b-2": "b", "b-3": "b", "c-1": "c"},
    )
    write_table(data_dir / "spk2utt", {"z": "a-1", "a": "a-2", "b": "b-1 b-2 b-3", "c": "c-1"})
    assert "making speaker-ids prefixes of utt-ids" in one(data_dir, "sort consistently")


def test_validate_reports_segment_past_recording_end(seg_dir):
    write_table(
        seg_dir / "segments",
        {"s-1": "rec1 0.00 0.30", "s-2": "rec1 0.30 0.60", "s-3": "rec1 0.60 1.50"},
    )
    m = one(seg_dir, "past the end")
    assert m.startswith(
        f"{seg_dir}/segments:3: segment 's-3' ends at 1.500 s, past the end of recording 'rec1' (1.000 s)"
    )


def test_validate_reports_segment_end_before_start(seg_dir):
    write_table(
        seg_dir / "segments",
        {"s-1": "rec1 0.00 0.30", "s-2": "rec1 0.50 0.40", "s-3": "rec1 0.60 0.90"},
    )
    assert one(seg_dir, "bad times").startswith(f"{seg_dir}/segments:2: bad times for 's-2'")


def test_validate_reports_segment_recording_not_in_wav_scp(seg_dir):
    write_table(
        seg_dir / "segments",
        {"s-1": "rec1 0.00 0.30", "s-2": "rec2 0.30 0.60", "s-3": "rec1 0.60 0.90"},
    )
    assert "recording 'rec2' of 's-2' is not in wav.scp" in one(seg_dir, "rec2")


def test_validate_reports_recording_no_segment_uses(seg_dir):
    wav = (seg_dir / "wav.scp").read_text().split()[1]
    write_table(seg_dir / "wav.scp", {"rec1": wav, "rec2": wav})
    assert "recording 'rec2' is used by no segment" in one(seg_dir, "rec2")


def test_validate_reports_missing_audio_file_even_without_audio_check(data_dir):
    (data_dir / "wav" / "b-2.wav").unlink()
    m = one(data_dir, "not found", check_audio=False)
    assert m.startswith(f"{data_dir}/wav.scp:4: audio file") and "b-2.wav of 'b-2' not found" in m


def test_validate_reports_truncated_audio(data_dir):
    p = data_dir / "wav" / "a-2.wav"
    p.write_bytes(p.read_bytes()[:200])
    assert one(data_dir, "truncated").startswith(f"{data_dir}/wav.scp:2: recording 'a-2'")
    assert not [m for m in messages(data_dir, check_audio=False) if "truncated" in m]


def test_validate_reports_unreadable_audio_with_two_jobs(data_dir):
    (data_dir / "wav" / "c-1.wav").write_bytes(b"garbage" * 30)
    assert "cannot read audio" in one(data_dir, "c-1", num_jobs=2)


def test_validate_warns_about_mixed_sample_rates(data_dir):
    write_audio(data_dir / "wav" / "c-1.wav", tone(440, 0.2, sr=8000), sr=8000)
    problems = validate_data_dir(data_dir)
    assert [p.warning for p in problems] == [True]
    assert "sample rates differ: 5 at 16000 Hz" in str(problems[0])
    assert format_problems(problems)[0].startswith("warning: ")


def test_validate_reports_utt2dur_not_matching_audio(data_dir):
    write_table(
        data_dir / "utt2dur",
        {u: 0.2 if u != "b-1" else 3.0 for u in ["a-1", "a-2", "b-1", "b-2", "b-3", "c-1"]},
    )
    assert one(data_dir, "utt2dur:3").startswith(
        f"{data_dir}/utt2dur:3: 'b-1' is 3.000 s here but its audio is 0.200 s"
    )


def test_validate_reports_bad_utt2num_frames_value(data_dir):
    write_table(
        data_dir / "utt2num_frames",
        {u: 20 for u in ["a-1", "a-2", "b-1", "b-2", "b-3"]} | {"c-1": "x"},
    )
    assert one(data_dir, "utt2num_frames:6").endswith(
        "value 'x' of 'c-1' is not a positive integer — fix the line"
    )


def test_validate_reports_missing_feats_archive(data_dir):
    write_table(
        data_dir / "feats.scp",
        {
            u: f"{data_dir}/feats.ark:{i * 10}"
            for i, u in enumerate(["a-1", "a-2", "b-1", "b-2", "b-3", "c-1"])
        },
    )
    assert f"archive {data_dir}/feats.ark of 'a-1' not found" in one(data_dir, "feats.ark")


def test_validate_reports_translation_missing_utt(data_dir):
    write_table(data_dir / "text.fr", {"a-1": "bonjour"})
    assert "text.fr" in one(data_dir, "'a-2' (utt2spk line 2) is missing")


def test_validate_reports_slot_count_not_matching_words(data_dir):
    write_table(
        data_dir / "slots",
        {
            "a-1": "O",
            "a-2": "O O",
            "b-1": "B-num I-num I-num",
            "b-2": "B-num",
            "b-3": "O O",
            "c-1": "O",
        },
    )
    assert one(data_dir, "slots:1").endswith(
        "'a-1' has 1 tags but text has 2 words — give one BIO tag per word"
    )


def test_validate_reports_bad_slot_tag(data_dir):
    write_table(
        data_dir / "slots",
        {
            "a-1": "O O",
            "a-2": "O X",
            "b-1": "B-num I-num I-num",
            "b-2": "B-num",
            "b-3": "O O",
            "c-1": "O",
        },
    )
    assert "'a-2' has tag 'X'" in one(data_dir, "slots:2")


def test_validate_reports_ctm_utt_not_in_dir(data_dir):
    utts = ["a-1", "a-2", "b-1", "b-2", "b-3", "c-1", "zz"]
    write_ctm(data_dir / "ctm", [CtmEntry(u, "1", 0.0, 0.1, "w") for u in utts])
    assert "utterance 'zz' is not in utt2spk" in one(data_dir, "ctm")


def test_validate_reports_non_utf8_text(data_dir):
    (data_dir / "text").write_bytes(b"a-1 caf\xe9\n")
    assert one(data_dir, "UTF-8").startswith(f"{data_dir}/text:1: not valid UTF-8")


def test_validate_collects_all_problems_and_caps_printing(data_dir):
    (data_dir / "text").write_text("".join(f"x-{i:02d} extra\n" for i in range(30)))
    problems = validate_data_dir(data_dir, check_audio=False)
    assert len(problems) == 36  # 30 extra ids, 6 missing
    lines = format_problems(problems, max_per_kind=5)
    assert len(lines) == 12 and "25 more problem(s)" in lines[-2]


def test_validate_reports_not_a_directory(tmp_path):
    assert "not a directory" in messages(tmp_path / "nope")[0]


def test_validate_decodes_pipe_entries(data_dir):
    wav = (data_dir / "wav.scp").read_text().splitlines()
    wav[0] = wav[0].replace(" /", " cat /") + " |"
    wav[1] = "a-2 false |"
    (data_dir / "wav.scp").write_text("\n".join(wav) + "\n")
    problems = [str(p) for p in validate_data_dir(data_dir)]
    assert (
        len(problems) == 1
        and "wav.scp:2: recording 'a-2': the command 'false' failed" in problems[0]
    )
