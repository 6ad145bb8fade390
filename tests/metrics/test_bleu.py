"""BLEU and chrF through sacrebleu: a hand-computed corpus BLEU, perfect output, missing references."""

from __future__ import annotations

import math

import pytest

from speechseq.errors import SpeechseqError
from speechseq.metrics.bleu import translation_scores


def test_bleu_matches_a_hand_computation():
    # hyp "the cat sat on the mat" vs ref "the cat sat on a mat": n-gram precisions
    # 5/6, 3/5, 2/4, 1/3 and equal lengths (brevity penalty 1), so
    # BLEU = (5/6 * 3/5 * 2/4 * 1/3) ** (1/4)
    s = translation_scores({"u1": "the cat sat on a mat"}, {"u1": "the cat sat on the mat"})
    expected = 100 * (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25
    assert s.bleu == pytest.approx(expected, abs=1e-6)
    assert "nrefs:1" in s.bleu_signature and "tok:13a" in s.bleu_signature


def test_brevity_penalty_and_corpus_pooling():
    # two sentences pooled: counts add up before the precisions are taken
    refs = {"a": "one two three four", "b": "five six seven eight"}
    hyps = {"a": "one two three four", "b": "five six"}
    s = translation_scores(refs, hyps)
    p = [6 / 6, 4 / 4, 2 / 2, 1 / 1]  # every hypothesis n-gram is in its reference
    bp = math.exp(1 - 8 / 6)  # 6 hypothesis words against 8 reference words
    assert s.bleu == pytest.approx(100 * bp * math.prod(p) ** 0.25, abs=1e-6)


def test_perfect_translations_score_100_and_order_does_not_matter():
    refs = {"x": "vingt et un", "y": "einundzwanzig billets", "z": "je voudrais trois livres"}
    s = translation_scores(refs, dict(reversed(list(refs.items()))))
    assert s.bleu == pytest.approx(100.0) and s.chrf == pytest.approx(100.0)
    assert s.sentences == 3 and len(s.lines()) == 2 and s.lines()[0].startswith("BLEU = 100.00")


def test_a_hypothesis_without_reference_is_an_error_naming_it():
    with pytest.raises(SpeechseqError, match="no reference translation.*first: u9"):
        translation_scores({"u1": "a b"}, {"u1": "a b", "u9": "c"})


def test_the_chrf_line_and_signature_are_sacrebleus():
    from sacrebleu.metrics import CHRF

    refs, hyps = {"a": "je voudrais trois livres"}, {"a": "je voudrais deux livres"}
    s = translation_scores(refs, hyps)
    chrf = CHRF()
    expected = chrf.corpus_score([hyps["a"]], [[refs["a"]]])
    assert s.chrf_line == str(expected) and s.chrf_line.startswith("chrF2 = ")
    assert s.chrf_signature == str(chrf.get_signature()) and "|nc:6|nw:0|" in s.chrf_signature
    assert s.lines()[1] == f"{s.chrf_line} {s.chrf_signature}"
    assert s.chrf == pytest.approx(expected.score) and 0 < s.chrf < 100


def test_without_sacrebleu_the_error_says_how_to_install_it(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "sacrebleu.metrics", None)  # the import raises ImportError
    with pytest.raises(SpeechseqError) as e:
        translation_scores({"a": "x"}, {"a": "x"})
    assert str(e.value) == (
        "sacrebleu is not installed — pip install sacrebleu (it scores BLEU and chrF)"
    )
