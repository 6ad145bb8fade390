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
