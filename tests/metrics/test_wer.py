"""WER/CER: Kaldi's alignment tie-breaking, counts, the %WER line and per-utterance details."""

from __future__ import annotations

import pytest

from speechseq.errors import SpeechseqError
from speechseq.metrics.wer import (
    ErrorStats,
    align,
    error_stats,
    kaldi_wer_line,
    per_spk_lines,
    per_spk_stats,
    per_utt_lines,
    utt_stats,
)


def test_align_counts_one_of_each_error():
    ali = align("the cat sat on the mat".split(), "the bat sat the mat too".split())
    assert [op for op, _, _ in ali] == ["C", "S", "C", "D", "C", "C", "I"]
    assert ali[1] == ("S", "cat", "bat")
    assert ali[3] == ("D", "on", None)
    assert ali[6] == ("I", None, "too")


def test_align_breaks_ties_like_kaldi_substitution_last_then_deletion():
    # ref "a b" vs hyp "c": S(a,c)+D(b) and D(a)+S(b,c) both cost 2; Kaldi's trace-back from the end
    # takes the substitution first, so the deletion comes first in time.
    assert align(["a", "b"], ["c"]) == [("D", "a", None), ("S", "b", "c")]
    assert align(["a"], ["b", "c"]) == [("I", None, "b"), ("S", "a", "c")]


def test_align_empty_sides():
    assert align([], ["x"]) == [("I", None, "x")]
    assert align(["x"], []) == [("D", "x", None)]
    assert align([], []) == []


def test_kaldi_wer_line_matches_compute_wer_exactly():
    stats = ErrorStats(ref_len=1995, ins=10, dels=22, subs=52)
    assert kaldi_wer_line(stats) == "%WER 4.21 [ 84 / 1995, 10 ins, 22 del, 52 sub ]"
    assert (
        kaldi_wer_line(ErrorStats(ref_len=3), "CER") == "%CER 0.00 [ 0 / 3, 0 ins, 0 del, 0 sub ]"
    )


def test_error_stats_sum_over_utterances():
    refs = {"u1": "a b c", "u2": "d e"}
    hyps = {"u1": "a x c y", "u2": "e"}
    s = error_stats(refs, hyps)
    assert (s.ref_len, s.ins, s.dels, s.subs, s.errors) == (5, 1, 1, 1, 3)
    assert s.rate == pytest.approx(0.6)
    assert s.utts == 2 and s.utt_errors == 2
    assert sum([utt_stats(refs[u], hyps[u]) for u in refs]) == s


def test_cer_ignores_spaces_like_espnet():
    s = error_stats({"u1": "ab cd"}, {"u1": "abc e"}, unit="char")
    assert (s.ref_len, s.subs, s.ins, s.dels) == (4, 1, 0, 0)
    assert kaldi_wer_line(s, "CER") == "%CER 25.00 [ 1 / 4, 0 ins, 0 del, 1 sub ]"


def test_missing_hypothesis_counts_as_deletions_and_is_reported():
    s = error_stats({"u1": "a b", "u2": "c d e"}, {"u1": "a b"})
    assert s.dels == 3 and s.missing == ("u2",)
    assert kaldi_wer_line(s) == "%WER 60.00 [ 3 / 5, 0 ins, 3 del, 0 sub ] [PARTIAL]"


def test_hypothesis_without_reference_is_an_error():
    with pytest.raises(SpeechseqError, match="u9"):
        error_stats({"u1": "a"}, {"u1": "a", "u9": "b"})


def test_per_utt_lines_kaldi_format():
    lines = per_utt_lines({"u1": "the cat sat"}, {"u1": "the bat sat down"})
    assert lines == [
        "u1 ref  the  cat  sat   ***",
        "u1 hyp  the  bat  sat  down",
        "u1 op    C    S    C     I ",
        "u1 #csid 2 1 1 0",
    ]


def test_per_utt_lines_missing_hypothesis_is_all_deletions():
    lines = per_utt_lines({"u1": "a b"}, {})
    assert lines[1] == "u1 hyp  ***  ***"
    assert lines[3] == "u1 #csid 0 0 0 2"


def test_per_spk_table_sums_to_the_total():
    refs = {"a1": "one two three", "a2": "four", "b1": "five six"}
    hyps = {"a1": "one too three", "a2": "four four", "b1": "six"}
    by_spk = per_spk_stats(refs, hyps, {"a1": "A", "a2": "A", "b1": "B"})
    assert by_spk["A"] == ErrorStats(4, 1, 0, 1, 2, 2)
    assert by_spk["B"] == ErrorStats(2, 0, 1, 0, 1, 1)
    lines = per_spk_lines(by_spk)
    assert lines[0].split() == "SPEAKER id #SENT #WORD Corr Sub Ins Del Err S.Err".split()
    assert lines[1].split() == ["A", "raw", "2", "4", "3", "1", "1", "0", "2", "2"]
    assert lines[2].split() == [
        "A",
        "sys",
        "2",
        "4",
        "75.00",
        "25.00",
        "25.00",
        "0.00",
        "50.00",
        "100.00",
    ]
    total = error_stats(refs, hyps)
    assert lines[-2].split()[:4] == ["SUM", "raw", "3", "6"]
    assert int(lines[-2].split()[8]) == total.errors == 3


def test_per_spk_table_layout_and_unknown_speaker_row():
    # c1 has no speaker in utt2spk; one word in one utterance so a wrong denominator shows
    refs = {"a1": "one two three", "b1": "five six", "c1": "seven"}
    hyps = {"a1": "one too three", "b1": "six", "c1": "eleven"}
    by_spk = per_spk_stats(refs, hyps, {"a1": "A", "b1": "BB"})
    assert list(by_spk) == ["<unknown>", "A", "BB"]
    h = "      #SENT      #WORD       Corr        Sub        Ins        Del        Err      S.Err"
    assert per_spk_lines(by_spk) == [
        "SPEAKER       id" + h,
        "<unknown>    raw          1          1          0          1          0          0          1          1",
        "<unknown>    sys          1          1       0.00     100.00       0.00       0.00     100.00     100.00",
        "A            raw          1          3          2          1          0          0          1          1",
        "A            sys          1          3      66.67      33.33       0.00       0.00      33.33     100.00",
        "BB           raw          1          2          1          0          0          1          1          1",
        "BB           sys          1          2      50.00       0.00       0.00      50.00      50.00     100.00",
        "SUM          raw          3          6          3          2          0          1          3          3",
        "SUM          sys          3          6      50.00      33.33       0.00      16.67      50.00     100.00",
    ]


def test_per_spk_table_of_no_speakers_is_a_zero_sum_row():
    lines = per_spk_lines({})
    assert lines[1].split() == ["SUM", "raw"] + ["0"] * 8
    assert lines[2].split() == ["SUM", "sys", "0", "0"] + ["0.00"] * 6


def test_error_stats_of_no_utterances_is_empty_error_stats():
    assert error_stats({}, {}) == ErrorStats()


def test_per_utt_column_is_as_wide_as_a_long_reference_word():
    assert per_utt_lines({"u1": "elephant"}, {"u1": ""}) == [
        "u1 ref  elephant",
        "u1 hyp     ***  ",
        "u1 op       D   ",
        "u1 #csid 0 0 0 1",
    ]


def test_align_breaks_a_deletion_insertion_tie_towards_deletion_from_the_end():
    assert align("a b a".split(), "b a b".split()) == [
        ("I", None, "b"),
        ("C", "a", "a"),
        ("C", "b", "b"),
        ("D", "a", None),
    ]


def test_many_hypotheses_without_reference_list_ten_and_count_the_rest():
    hyps = {f"x{i:02d}": "a" for i in range(11)}
    with pytest.raises(SpeechseqError) as err:
        error_stats({}, hyps)
    listed = ", ".join(f"x{i:02d}" for i in range(10))
    assert f"have no reference transcript: {listed} and 1 more — " in str(err.value)
    with pytest.raises(SpeechseqError) as err:
        error_stats({}, {f"x{i:02d}": "a" for i in range(10)})
    assert f"transcript: {listed} — " in str(err.value)


def test_unknown_error_unit_names_the_known_units():
    with pytest.raises(
        SpeechseqError, match="error unit 'phone' is not known — use 'word' or 'char'"
    ):
        error_stats({"u1": "a"}, {"u1": "a"}, unit="phone")
