"""Modified Kneser-Ney n-gram LM: hand-computed discounts and probabilities, normalisation, ARPA."""

from __future__ import annotations

import math

import pytest

from speechseq.errors import SpeechseqError
from speechseq.lm.ngram import (
    BOS,
    EOS,
    UNK,
    NgramLM,
    modified_kn_discounts,
    read_sentences,
    train_ngram,
)

# The hand-checked corpus. Padded bigrams and their counts:
#   <s> a: 4   a b: 4   b a: 2   a c: 2   c </s>: 3   b </s>: 1   b c: 1
CORPUS = [s.split() for s in ["a b a b", "a b a c", "a c", "a b c"]]


def test_modified_kn_discounts_formula():
    # n1=2 n2=2 n3=1 n4=2: Y = 2/(2+2*2) = 1/3
    # D1 = 1 - 2Y n2/n1 = 1 - 2/3 = 1/3; D2 = 2 - 3Y n3/n2 = 2 - 1/2 = 1.5; D3+ = 3 - 4Y n4/n3 = 3 - 8/3 = 1/3
    assert modified_kn_discounts({1: 2, 2: 2, 3: 1, 4: 2}) == pytest.approx((1 / 3, 1.5, 1 / 3))


def test_modified_kn_discounts_none_when_counts_of_counts_are_zero_or_discounts_invalid():
    assert modified_kn_discounts({1: 3, 2: 0, 3: 1, 4: 1}) is None  # n2 = 0: division by zero
    assert modified_kn_discounts({}) is None
    # n1=6 n2=2 n3=1: Y = 0.6, D2 = 2 - 3*0.6*1/2 = 1.1 fine, but n1=6 n2=1 n3=1 gives D2 = 2 - 3*0.75 < 0
    assert modified_kn_discounts({1: 6, 2: 1, 3: 1, 4: 0}) is None


def test_bigram_discounts_come_from_counts_of_counts():
    lm = train_ngram(CORPUS, order=2)
    # bigram count-of-counts: n1=2 (b </s>, b c), n2=2 (b a, a c), n3=1 (c </s>), n4=2 (<s> a, a b)
    assert lm.discounts[2] == pytest.approx((1 / 3, 1.5, 1 / 3))
    # unigram continuation counts (distinct left words): a {<s>,b}=2, b {a}=1, c {a,b}=2, </s> {b,c}=2
    # -> n1=1 n2=3 n3=0: modified KN impossible, fallback (0.5, 1, 1.5) with a note
    assert lm.discounts[1] == (0.5, 1.0, 1.5)
    assert any("order 1" in n for n in lm.notes)


def test_bigram_probabilities_by_hand():
    lm = train_ngram(CORPUS, order=2)
    # unigrams: total continuation count 7; gamma() = (0.5*1 + 1.0*3)/7 = 0.5; V = {a,b,c,</s>,<unk>}: 1/5
    # p(a) = (2-1)/7 + 0.5/5 = 17/70;  p(b) = (1-0.5)/7 + 0.1 = 6/35;  p(<unk>) = 0.5/5 = 0.1
    assert 10 ** lm.logprob("a") == pytest.approx(17 / 70)
    assert 10 ** lm.logprob("b") == pytest.approx(6 / 35)
    assert 10 ** lm.logprob(UNK) == pytest.approx(0.1)
    # context a: a b 4 (D3+=1/3), a c 2 (D2=1.5); total 6; gamma(a) = (1.5 + 1/3)/6 = 11/36
    # p(b|a) = (4 - 1/3)/6 + 11/36 * 6/35 = 11/18 + 11/210
    assert 10 ** lm.logprob("b", ["a"]) == pytest.approx(11 / 18 + 11 / 210)
    # p(c|a) = (2 - 1.5)/6 + 11/36 * 17/70
    assert 10 ** lm.logprob("c", ["a"]) == pytest.approx(1 / 12 + 11 / 36 * 17 / 70)
    # context b: b a 2, b </s> 1, b c 1; total 4; gamma(b) = (1.5 + 2/3)/4 = 13/24
    # p(</s>|b) = (1 - 1/3)/4 + 13/24 * p(</s>) = 1/6 + 13/24 * 17/70
    assert 10 ** lm.logprob(EOS, ["b"]) == pytest.approx(1 / 6 + 13 / 24 * 17 / 70)
    # unseen bigram b b backs off: gamma(b) * p(b) = 13/24 * 6/35
    assert 10 ** lm.logprob("b", ["b"]) == pytest.approx(13 / 24 * 6 / 35)
    # sentence start: <s> a 4 only; gamma(<s>) = (1/3)/4; p(a|<s>) = (4 - 1/3)/4 + 1/12 * 17/70
    assert 10 ** lm.logprob("a", [BOS]) == pytest.approx(11 / 12 + 17 / 840)


def test_trigram_probabilities_by_hand():
    lm = train_ngram(CORPUS, order=3)
    # trigram counts: <s> a b 3, a b a 2, a c </s> 2, and six seen once -> n1=6 n2=2 n3=1 n4=0
    # Y = 6/10 = 0.6: D1 = 1 - 2*0.6*2/6 = 0.6, D2 = 2 - 3*0.6*1/2 = 1.1, D3+ = 3 - 0 = 3
    assert lm.discounts[3] == pytest.approx((0.6, 1.1, 3.0))
    # bigram level now holds continuation counts: a b {<s>,b}=2, a c {b,<s>}=2 (others 1 or raw <s> a=4)
    # -> n1=3 n2=3 n3=0: fallback (0.5, 1, 1.5); context a: total 4, gamma(a) = (1+1)/4 = 0.5
    assert lm.discounts[2] == (0.5, 1.0, 1.5)
    p2_b = 0.25 + 0.5 * 6 / 35  # p(b|a) = (2-1)/4 + gamma(a) p(b)
    p2_c = 0.25 + 0.5 * 17 / 70
    assert 10 ** lm.logprob("b", ["a"]) == pytest.approx(p2_b)
    # context <s> a: <s> a b 3 (D3+=3), <s> a c 1 (D1=0.6); total 4; gamma = (3 + 0.6)/4 = 0.9
    assert 10 ** lm.logprob("b", [BOS, "a"]) == pytest.approx(0 + 0.9 * p2_b)
    assert 10 ** lm.logprob("c", [BOS, "a"]) == pytest.approx((1 - 0.6) / 4 + 0.9 * p2_c)
    # unseen trigram <s> a a: gamma(<s> a) * gamma(a) * p(a)
    assert 10 ** lm.logprob("a", [BOS, "a"]) == pytest.approx(0.9 * 0.5 * 17 / 70)


def _contexts(lm: NgramLM) -> set[tuple[str, ...]]:
    ctx = {g for n in range(1, lm.order) for g in lm.ngrams(n) if g[-1] != EOS}
    return ctx | {(), ("never-seen",), ("a", "never-seen"), (BOS, "b")}


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_probabilities_sum_to_one_in_every_context(order, tmp_path):
    corpus = CORPUS + [s.split() for s in ["c c b a", "b", "a b c a b c a"]]
    lm = train_ngram(corpus, order=order)
    lm.write_arpa(tmp_path / "lm.arpa")
    back = NgramLM.read_arpa(tmp_path / "lm.arpa")
    predictable = sorted(lm.vocab - {BOS})
    for model in (lm, back):
        for h in _contexts(lm):
            total = sum(10 ** model.logprob(w, h) for w in predictable)
            assert total == pytest.approx(1.0, abs=1e-6), (order, h)


def test_arpa_round_trip_keeps_every_ngram(tmp_path):
    lm = train_ngram(CORPUS, order=3)
    lm.write_arpa(tmp_path / "lm.arpa")
    text = (tmp_path / "lm.arpa").read_text()
    assert text.startswith("\n\\data\\\nngram 1=6\nngram 2=")
    assert "-99\t<s>\t" in text and text.rstrip().endswith("\\end\\")
    back = NgramLM.read_arpa(tmp_path / "lm.arpa")
    assert back.order == 3 and back.counts() == lm.counts() and back.vocab == lm.vocab
    for n in (1, 2, 3):
        for g, (p, b) in lm.ngrams(n).items():
            p2, b2 = back.ngrams(n)[g]
            assert p2 == pytest.approx(p, abs=1e-8) and b2 == pytest.approx(b, abs=1e-8)
    sent = "a b c a".split()
    assert back.sentence_logprob(sent) == pytest.approx(lm.sentence_logprob(sent), abs=1e-7)


def test_sentence_logprob_is_the_sum_of_word_scores():
    lm = train_ngram(CORPUS, order=3)
    expected = lm.logprob("a", [BOS]) + lm.logprob("c", [BOS, "a"]) + lm.logprob(EOS, ["a", "c"])
    assert lm.sentence_logprob(["a", "c"]) == pytest.approx(expected)
    state = lm.begin_state()
    lp, state = lm.score(state, "a")
    assert state == (BOS, "a")
    lp2, state = lm.score(state, "c")
    assert lm.end_score(state) == pytest.approx(lm.logprob(EOS, ["a", "c"]))


def test_unknown_words_score_as_unk_and_perplexity_is_finite():
    lm = train_ngram(CORPUS, order=3)
    assert UNK in lm.vocab
    lp_unk, st_unk = lm.score(lm.begin_state(), UNK)
    lp_x, st_x = lm.score(lm.begin_state(), "zebra")
    assert lp_x == lp_unk and st_x == st_unk
    assert -3 < lp_unk < 0  # a small but real probability: gamma(...) shares of the uniform mass
    ppl = lm.perplexity([["a", "zebra", "c"], ["c", "a"]])
    assert math.isfinite(ppl) and ppl > 1


def test_state_is_trimmed_to_a_context_the_model_can_extend():
    lm = train_ngram(CORPUS, order=3)
    _, state = lm.score(
        lm.begin_state(), "zebra"
    )  # neither "<s> <unk>" nor "<unk>" starts an n-gram
    assert state == ()
    _, state = lm.score(("c",), EOS)
    assert state == ()


def test_tiny_corpus_falls_back_to_default_discounts_without_dividing_by_zero():
    lm = train_ngram([["hello"]], order=3)
    assert all(d == (0.5, 1.0, 1.5) for d in lm.discounts.values())
    assert len(lm.notes) == 3
    assert 10 ** lm.logprob("hello", [BOS]) > 0.5


def test_fixed_discounts_and_bad_arguments():
    lm = train_ngram(CORPUS, order=2, discounts=(0.5, 1.0, 1.5))
    assert lm.discounts[2] == (0.5, 1.0, 1.5) and not lm.notes
    with pytest.raises(SpeechseqError, match="order"):
        train_ngram(CORPUS, order=0)
    with pytest.raises(SpeechseqError, match="sentence 2"):
        train_ngram([["a"], ["b", "</s>"]])
    with pytest.raises(SpeechseqError, match="no sentences"):
        train_ngram([])


def test_read_arpa_errors_name_file_and_line(tmp_path):
    path = tmp_path / "bad.arpa"
    path.write_text("\\data\\\nngram 1=2\n\n\\1-grams:\n-1.0\ta\n-0.5\n\\end\\\n")
    with pytest.raises(SpeechseqError, match=r"bad\.arpa:6: 1-gram line has 1 fields"):
        NgramLM.read_arpa(path)
    path.write_text("\\data\\\nngram 1=3\n\n\\1-grams:\n-1.0\ta\n-0.5\tb\n\\end\\\n")
    with pytest.raises(
        SpeechseqError, match=r"bad\.arpa:4: \\data\\ declares 3 1-grams but the file has 2"
    ):
        NgramLM.read_arpa(path)
    path.write_text("\\data\\\nngram 1=1\n\n\\1-grams:\n-1.0\ta\n")
    with pytest.raises(SpeechseqError, match="no \\\\end\\\\"):
        NgramLM.read_arpa(path)
    path.write_text("\\data\\\nngram 1=1\n\n\\1-grams:\nabc\ta\n\\end\\\n")
    with pytest.raises(SpeechseqError, match=r"bad\.arpa:5: .* must be numbers"):
        NgramLM.read_arpa(path)
    with pytest.raises(SpeechseqError, match="no such ARPA file"):
        NgramLM.read_arpa(tmp_path / "missing.arpa")


def test_arpa_without_unk_gets_a_floor_probability(tmp_path):
    path = tmp_path / "small.arpa"
    path.write_text("\\data\\\nngram 1=3\n\n\\1-grams:\n-0.3\ta\n-0.3\t</s>\n-99\t<s>\n\n\\end\\\n")
    lm = NgramLM.read_arpa(path)
    assert lm.order == 1
    assert lm.score((), "zzz")[0] == -100.0
    assert any("<unk>" in n for n in lm.notes)


def test_read_sentences_plain_and_kaldi_text(tmp_path):
    plain = tmp_path / "corpus.txt"
    plain.write_text("a b\n\nc d e\n")
    assert read_sentences(plain) == ([["a", "b"], ["c", "d", "e"]], 1)
    kaldi = tmp_path / "text"
    kaldi.write_text("utt1 a b\nutt2 c\n")
    assert read_sentences(kaldi, kaldi_text=True) == ([["a", "b"], ["c"]], 0)
    plain.write_text("a b\nc </s> d\n")
    with pytest.raises(SpeechseqError, match=r"corpus\.txt:2: </s> inside a sentence"):
        read_sentences(plain)
