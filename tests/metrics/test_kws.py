"""NIST term-weighted value, same-different AP, and the NIST/Kaldi keyword-search files."""

import numpy as np
import pytest

from speechseq.errors import SpeechseqError
from speechseq.metrics.kws import (
    BETA,
    Detection,
    Occurrence,
    pair_trials,
    read_ecf,
    read_kwlist,
    read_kwslist,
    read_rttm,
    same_different_ap,
    term_weighted_value,
    write_ecf,
    write_kwlist,
    write_kwslist,
    write_rttm,
)

TERMS = {"KW-1": "cat", "KW-2": "dog", "KW-3": "emu"}  # emu is never spoken
REF = [
    Occurrence("f1", 1.0, 0.5, "cat"),  # midpoint 1.25
    Occurrence("f2", 10.0, 0.4, "cat"),  # midpoint 10.2
    Occurrence("f1", 5.0, 0.5, "dog"),
]
DETS = [
    Detection("KW-1", "f1", 1.1, 0.4, 0.9, True),  # cat, correct (midpoints 0.05 s apart)
    Detection("KW-1", "f1", 30.0, 0.5, 0.8, True),  # cat, false alarm
    Detection("KW-1", "f2", 10.1, 0.3, 0.3, False),  # cat, correct but decided NO
    Detection("KW-2", "f1", 5.0, 0.5, 0.7, True),  # dog, correct
    Detection("KW-3", "f1", 2.0, 0.5, 0.6, True),  # emu: the term is left out of the average
]


def test_atwv_and_mtwv_of_a_hand_worked_example():
    r = term_weighted_value(DETS, REF, TERMS, speech_s=100.0)
    # At the system's decisions: cat 1 of 2 found, 1 false alarm in 100 - 2 trials; dog found.
    cat = 0.5 + BETA * 1 / 98
    assert r.atwv == pytest.approx(1 - (cat + 0.0) / 2)
    assert r.atwv == pytest.approx(-4.351530, abs=1e-5)
    # Best threshold 0.9: cat 1 of 2 and no false alarm, dog missed -> 1 - (0.5 + 1) / 2
    assert r.mtwv == pytest.approx(0.25) and r.mtwv_threshold == 0.9
    assert r.not_in_reference == ["KW-3"]
    cat_row = next(t for t in r.terms if t.kwid == "KW-1")
    assert (cat_row.n_true, cat_row.n_correct, cat_row.n_fa) == (2, 1, 1)


def test_a_detection_too_far_from_its_occurrence_is_a_false_alarm():
    near = [Detection("KW-2", "f1", 5.2, 0.5, 1.0)]  # midpoint 0.2 s off: correct
    far = [Detection("KW-2", "f1", 5.6, 0.5, 1.0)]  # 0.6 s off: a false alarm and a miss
    terms = {"KW-2": "dog"}
    assert term_weighted_value(near, REF, terms, 100.0).atwv == pytest.approx(1.0)
    assert term_weighted_value(far, REF, terms, 100.0).atwv == pytest.approx(1 - (1 + BETA / 99))


def test_an_occurrence_is_matched_once_best_detection_first():
    twice = [Detection("KW-2", "f1", 5.0, 0.5, 0.9), Detection("KW-2", "f1", 5.05, 0.5, 0.4)]
    r = term_weighted_value(twice, REF, {"KW-2": "dog"}, 100.0)
    assert (r.terms[0].n_correct, r.terms[0].n_fa) == (1, 1)


def test_detections_of_a_term_not_in_the_list_are_an_error():
    with pytest.raises(SpeechseqError, match="'KW-9'.*not in the term list"):
        term_weighted_value([Detection("KW-9", "f1", 0, 1, 1)], REF, TERMS, 100.0)


def test_same_different_ap_by_hand():
    assert same_different_ap(np.array([0.9, 0.8, 0.7, 0.6]), np.array([1, 0, 1, 0])) == (
        pytest.approx((1 / 1 + 2 / 3) / 2)
    )
    assert same_different_ap(np.array([0.1, 0.9]), np.array([1, 0])) == pytest.approx(0.5)
    with pytest.raises(SpeechseqError, match="no pair"):
        same_different_ap(np.array([0.5]), np.array([0]))


def test_pair_trials_of_vectors():
    v = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    scores, same = pair_trials(v, ["a", "a", "b"])
    assert scores.tolist() == [1.0, 0.0, 0.0] and same.tolist() == [True, False, False]
    assert same_different_ap(scores, same) == 1.0


def test_nist_files_round_trip(tmp_path):
    write_rttm(tmp_path / "ref.rttm", REF)
    assert read_rttm(tmp_path / "ref.rttm") == REF
    write_ecf(tmp_path / "ecf.xml", {"f1": 60.0, "f2": 40.0})
    assert read_ecf(tmp_path / "ecf.xml") == {"f1": 60.0, "f2": 40.0}
    write_kwlist(tmp_path / "kwlist.xml", TERMS)
    assert read_kwlist(tmp_path / "kwlist.xml") == TERMS
    write_kwslist(tmp_path / "kwslist.xml", DETS, "test")
    back = read_kwslist(tmp_path / "kwslist.xml")
    assert back == [Detection(d.kwid, d.file, d.tbeg, d.dur, d.score, d.decision) for d in DETS]
    text = (tmp_path / "kwslist.xml").read_text()
    assert '<detected_kwlist kwid="KW-1"' in text and 'decision="NO"' in text


def test_bad_nist_files_are_one_clear_error(tmp_path):
    (tmp_path / "bad.xml").write_text("<kwlist><kw kwid='a'>")
    with pytest.raises(SpeechseqError, match="bad.xml: not well-formed XML"):
        read_kwlist(tmp_path / "bad.xml")
    write_ecf(tmp_path / "ecf.xml", {"f1": 1.0})
    with pytest.raises(SpeechseqError, match="a <ecf> file, not a <kwlist> file"):
        read_kwlist(tmp_path / "ecf.xml")
    (tmp_path / "r.rttm").write_text("LEXEME f1 1 x 0.5 cat <NA> lex <NA>\n")
    with pytest.raises(SpeechseqError, match="r.rttm:1: tbeg and dur must be numbers"):
        read_rttm(tmp_path / "r.rttm")


def test_the_nist_files_are_written_exactly_as_f4de_and_kaldi_read_them(tmp_path):
    write_ecf(tmp_path / "ecf.xml", {"f1": 60.0, "f2": 40.25})
    assert (tmp_path / "ecf.xml").read_text() == (
        '<ecf source_signal_duration="100.250" version="1">\n'
        '  <excerpt audio_filename="f1" channel="1" tbeg="0.000" dur="60.000" '
        'source_type="synthetic" />\n'
        '  <excerpt audio_filename="f2" channel="1" tbeg="0.000" dur="40.250" '
        'source_type="synthetic" />\n'
        "</ecf>\n"
    )
    write_kwlist(tmp_path / "kwlist.xml", {"KW-1": "cat"})
    assert (tmp_path / "kwlist.xml").read_text() == (
        '<kwlist ecf_filename="ecf.xml" version="1" language="english">\n'
        '  <kw kwid="KW-1">\n    <kwtext>cat</kwtext>\n  </kw>\n</kwlist>\n'
    )
    write_kwslist(tmp_path / "kwslist.xml", DETS[1:3], "sys1")
    assert (tmp_path / "kwslist.xml").read_text() == (
        '<kwslist kwlist_filename="kwlist.xml" language="english" system_id="sys1">\n'
        '  <detected_kwlist kwid="KW-1" search_time="1" oov_count="0">\n'
        '    <kw file="f1" channel="1" tbeg="30.000" dur="0.500" score="0.800000" decision="YES" />\n'
        '    <kw file="f2" channel="1" tbeg="10.100" dur="0.300" score="0.300000" decision="NO" />\n'
        "  </detected_kwlist>\n</kwslist>\n"
    )
    write_rttm(tmp_path / "ref.rttm", REF[:1])
    assert (tmp_path / "ref.rttm").read_text() == "LEXEME f1 1 1.000 0.500 cat <NA> lex <NA>\n"


def test_nist_files_from_other_tools_read_as_meant(tmp_path):
    # an ECF with two excerpts of one file (summed); a kwslist without decisions (all YES)
    # and with lower-case ones; an RTTM with other line types and a bare 6-field LEXEME line
    (tmp_path / "ecf.xml").write_text(
        '<ecf source_signal_duration="3" version="1"><excerpt audio_filename="f1" dur="1.5"/>'
        '<excerpt audio_filename="f1" dur="0.5"/><excerpt audio_filename="f2" dur="1"/></ecf>'
    )
    assert read_ecf(tmp_path / "ecf.xml") == {"f1": 2.0, "f2": 1.0}
    (tmp_path / "kws.xml").write_text(
        '<kwslist><detected_kwlist kwid="K"><kw file="a" tbeg="1" dur="2" score="0.5"/>'
        '<kw file="a" tbeg="3" dur="1" score="0.4" decision="no"/>'
        '<kw file="a" tbeg="5" dur="1" score="0.3" decision="yes"/></detected_kwlist></kwslist>'
    )
    assert [d.decision for d in read_kwslist(tmp_path / "kws.xml")] == [True, False, True]
    (tmp_path / "r.rttm").write_text(
        "SPKR-INFO f1 1 <NA> <NA> <NA> unknown s1 <NA>\n\n"
        "LEXEME f1 1 0.5 0.25 cat\n"
        "SPEAKER f1 1 0 9 <NA> <NA> s1 <NA>\n"
        "LEXEME f2 1 1 1 dog <NA> lex <NA>\n"
    )
    assert read_rttm(tmp_path / "r.rttm") == [
        Occurrence("f1", 0.5, 0.25, "cat"),
        Occurrence("f2", 1.0, 1.0, "dog"),
    ]


def test_each_bad_nist_file_is_its_own_message(tmp_path):
    def message(fn, name, text):
        (tmp_path / name).write_text(text)
        with pytest.raises(SpeechseqError) as e:
            fn(tmp_path / name)
        return str(e.value)

    p = tmp_path
    assert message(read_ecf, "e.xml", '<ecf><excerpt audio_filename="f1"/></ecf>') == (
        f"{p / 'e.xml'}: excerpt 'f1' has no numeric dur"
    )
    assert message(read_kwlist, "k.xml", "<kwlist><kw kwid='a'/></kwlist>") == (
        f"{p / 'k.xml'}: every <kw> needs a kwid and a <kwtext>"
    )
    assert message(read_kwlist, "k2.xml", "<kwlist><kw><kwtext>x</kwtext></kw></kwlist>") == (
        f"{p / 'k2.xml'}: every <kw> needs a kwid and a <kwtext>"
    )
    assert (
        message(
            read_kwslist,
            "s.xml",
            '<kwslist><detected_kwlist kwid="K"><kw file="a"/></detected_kwlist></kwslist>',
        )
        == f"{p / 's.xml'}: a <kw> of 'K' lacks a numeric tbeg, dur or score"
    )
    assert message(read_rttm, "r.rttm", "LEXEME f1 1 0.5 0.2\n") == (
        f"{p / 'r.rttm'}:1: a LEXEME line needs file, channel, tbeg, dur and word"
    )
    for fn in (read_rttm, read_ecf):
        with pytest.raises(SpeechseqError) as e:
            fn(p / "absent")
        assert str(e.value) == f"{p / 'absent'}: file not found — check the path"


def test_the_reference_from_a_ctm_keeps_utterance_times_and_words():
    from speechseq.data.kaldi_dir import CtmEntry
    from speechseq.metrics.kws import rttm_from_ctm

    ctm = [CtmEntry("u1", 1, 0.5, 0.25, "cat"), CtmEntry("u2", 1, 1.0, 0.5, "dog")]
    assert rttm_from_ctm(ctm) == [
        Occurrence("u1", 0.5, 0.25, "cat"),
        Occurrence("u2", 1.0, 0.5, "dog"),
    ]


def test_a_higher_scoring_detection_takes_the_occurrence_and_a_tie_in_distance_takes_the_later():
    # listed low score first: the 0.9 detection must still be the one that is correct
    dets = [Detection("KW-2", "f1", 6.0, 0.5, 0.4), Detection("KW-2", "f1", 5.0, 0.5, 0.9)]
    r = term_weighted_value(dets, REF, {"KW-2": "dog"}, 100.0)
    assert r.mtwv_threshold == 0.9 and r.mtwv == pytest.approx(1.0)
    # a detection midway between two occurrences of its word (mids 0.5 and 1.5, it at 1.0)
    # takes the later one, so a weaker detection near the earlier one (0.25) is correct too
    ref = [Occurrence("f", 0.0, 1.0, "x"), Occurrence("f", 1.0, 1.0, "x")]
    both = [Detection("K", "f", 0.5, 1.0, 0.9), Detection("K", "f", 0.0, 0.5, 0.8)]
    assert term_weighted_value(both, ref, {"K": "x"}, 10.0).terms[0].n_correct == 2


def test_twv_edge_cases():
    with pytest.raises(SpeechseqError) as e:
        term_weighted_value([], REF, TERMS, 0.0)
    assert str(e.value) == "the ECF has 0.0 s of speech — ATWV needs a positive duration"
    # half a second of speech is still a duration; with no scored term TWV is 0
    r = term_weighted_value([], REF, {"KW-3": "emu"}, 0.5)
    assert (r.atwv, r.mtwv, r.speech_s, r.terms) == (0.0, 0.0, 0.5, [])
    # no detection at all: every threshold-free TWV is 1 - mean P_miss = 0, at threshold inf
    r = term_weighted_value([], REF, {"KW-1": "cat"}, 100.0)
    assert r.mtwv == 0.0 and r.mtwv_threshold == float("inf")
    row = r.terms[0]
    assert (row.text, row.p_miss, row.p_fa) == ("cat", 1.0, 0.0)
    # equal TWV at two thresholds: the higher (first reached) threshold is kept
    dets = [Detection("KW-1", "f1", 1.0, 0.5, 0.9), Detection("KW-1", "f2", 50.0, 0.5, 0.5)]
    r = term_weighted_value(dets, REF, {"KW-1": "cat"}, 2.0 + 1e-12)  # a false alarm costs ~all
    assert r.mtwv_threshold == 0.9
    fa = term_weighted_value(dets[1:], REF, {"KW-1": "cat"}, 100.0).terms[0]
    assert fa.p_fa == pytest.approx(1 / 98)


def test_same_different_ap_rejects_shapes_and_ranks_ties_in_input_order():
    with pytest.raises(ValueError, match="^scores and same must be 1-D arrays of the same length$"):
        same_different_ap(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="1-D arrays"):
        same_different_ap(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(SpeechseqError) as e:
        same_different_ap(np.array([0.5, 0.2]), np.array([0, 0]))
    assert str(e.value) == "no pair of segments with the same word — same-different AP needs one"
    # ties keep the input order (a stable sort), so a same pair listed first ranks first
    assert same_different_ap(np.ones(4), np.array([1, 0, 0, 0])) == 1.0
    assert same_different_ap(np.ones(4), np.array([0, 0, 0, 1])) == 0.25
    # integer scores and 0/1 labels as plain lists
    assert same_different_ap([3, 2, 1], [0, 2, 0]) == 0.5


def test_the_best_scoring_of_two_near_detections_is_the_correct_one():
    # both within 0.5 s of the one "dog" (mid 5.25); listed weaker first
    dets = [Detection("KW-2", "f1", 5.25, 0.5, 0.4), Detection("KW-2", "f1", 5.05, 0.4, 0.9)]
    r = term_weighted_value(dets, REF, {"KW-2": "dog"}, 100.0)
    assert r.mtwv == pytest.approx(1.0) and r.mtwv_threshold == 0.9
    assert (r.terms[0].n_correct, r.terms[0].n_fa) == (1, 1)  # at the system's YES decisions


def _ctm(utt: str, *words: tuple[str, float, float]):
    from speechseq.data.kaldi_dir import CtmEntry

    return [CtmEntry(utt, "1", start, dur, w) for w, start, dur in words]


def test_a_multi_word_term_occurs_where_its_words_follow_one_another():
    from speechseq.metrics.kws import with_phrases

    ref = [
        *_ctm("a", ("fly", 0.0, 0.3), ("to", 0.3, 0.1), ("new", 0.5, 0.2), ("york", 0.8, 0.3)),
        *_ctm("b", ("new", 0.0, 0.2), ("york", 0.8, 0.3)),  # 0.6 s apart: not the term
        *_ctm("c", ("york", 0.0, 0.2), ("new", 0.3, 0.3)),  # the other order
        *_ctm(
            "d", ("new", 2.0, 0.25), ("york", 2.5, 0.25), ("new", 0.0, 0.25), ("york", 0.75, 0.25)
        ),
    ]  # d: listed out of order; its first "new york" is exactly 0.5 s apart: still the term
    got = with_phrases(ref, ["new york", "york", "to new york"])
    assert got[: len(ref)] == ref  # the words themselves, unchanged
    extra = [(e.utt, e.channel, e.start_s, round(e.dur_s, 6), e.word) for e in got[len(ref) :]]
    assert extra == [
        ("a", "1", 0.5, 0.6, "new york"),
        ("a", "1", 0.3, 0.8, "to new york"),
        ("d", "1", 0.0, 1.0, "new york"),
        ("d", "1", 2.0, 0.75, "new york"),
    ]
    assert with_phrases(ref, ["new", "york"]) == ref  # no multi-word term: nothing added


def test_twv_of_a_two_word_term_counts_its_occurrences_not_its_words():
    terms = {"KW-1": "new york", "KW-2": "york"}
    ref = [
        Occurrence("a", 0.5, 0.2, "new"),
        Occurrence("a", 0.8, 0.3, "york"),  # "new york" 0.5-1.1, midpoint 0.8
        Occurrence("b", 3.0, 0.2, "york"),
    ]
    dets = [
        Detection("KW-1", "a", 0.6, 0.4, 0.9, True),  # midpoint 0.8: correct
        Detection("KW-2", "b", 3.0, 0.2, 0.8, True),  # correct
        Detection("KW-2", "a", 0.8, 0.3, 0.7, True),  # york inside "new york": correct too
    ]
    r = term_weighted_value(dets, ref, terms, speech_s=100.0)
    assert r.atwv == pytest.approx(1.0) and r.not_in_reference == []
    # without its first word the term never occurs: left out of the average, named
    r = term_weighted_value(dets[1:], ref[1:], terms, speech_s=100.0)
    assert r.not_in_reference == ["KW-1"] and r.atwv == pytest.approx(1.0)


def test_mtwv_is_the_best_atwv_over_every_threshold_among_the_scores():
    """The one-pass MTWV sweep against its definition: ATWV with "YES when score >= theta",
    scored afresh at each theta (scores with ties, several files, occurrences matched once)."""
    rng = np.random.default_rng(0)
    ref = [
        Occurrence(f"f{rng.integers(4)}", float(t), 0.4, w)
        for w in ("cat", "dog")
        for t in rng.uniform(0, 50, 6)
    ]
    terms = {"KW-1": "cat", "KW-2": "dog"}
    scores = [0.1, 0.2, 0.5, 0.7, 0.9]
    kwid = {w: k for k, w in terms.items()}
    dets = [  # each occurrence found, at a random score; false alarms far from any occurrence
        Detection(kwid[o.word], o.file, o.tbeg + 0.05, o.dur, float(rng.choice(scores)))
        for o in ref
    ]
    dets += [
        Detection(kw, "f9", float(t), 0.4, float(rng.choice(scores)))
        for kw in terms
        for t in rng.uniform(0, 50, 20)
    ]
    dets += [Detection("KW-1", o.file, o.tbeg, o.dur, 0.95) for o in ref[:2]]  # found twice
    r = term_weighted_value(dets, ref, terms, speech_s=20000.0)
    by_theta = {
        theta: term_weighted_value(
            [Detection(d.kwid, d.file, d.tbeg, d.dur, d.score, d.score >= theta) for d in dets],
            ref,
            terms,
            speech_s=20000.0,
        ).atwv
        for theta in {d.score for d in dets}
    }
    theta, best = max(by_theta.items(), key=lambda kv: (kv[1], kv[0]))
    assert best > 0  # the sweep has a positive value to find
    assert r.mtwv == pytest.approx(max(best, 0.0))
    assert r.mtwv_threshold == theta
