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
    assert [n.split(" cannot")[0] for n in lm.notes] == [
        "order 1: count-of-counts n1..n4 = [1, 3, 0, 0]"
    ]


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


_UNIGRAMS = "\\1-grams:\n-0.5\ta\n-0.5\t</s>\n-99\t<s>\n"


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "\\data\\\nngram 1=3\n\\data\\\n",
            "bad.arpa:3: a second \\data\\ header — an ARPA file has one",
        ),
        (
            "\\data\\\nngram 1=3\n\n\\x-grams:\n",
            "bad.arpa:4: section header '\\\\x-grams:' — expected \\N-grams:",
        ),
        (
            "\\data\\\nngram 1=3\n\n\\2-grams:\n",
            "bad.arpa:4: section \\2-grams: has no 'ngram 2=COUNT' line in \\data\\",
        ),
        ("\\data\\\nfoo 1=3\n", "bad.arpa:2: 'foo 1=3' in \\data\\ — expected 'ngram N=COUNT'"),
        (
            "\\data\\\nngram 1 1=3\n",
            "bad.arpa:2: 'ngram 1 1=3' in \\data\\ — expected 'ngram N=COUNT'",
        ),
        ("\\data\\\nngram x=3\n", "bad.arpa:2: 'ngram x=3' in \\data\\ — expected 'ngram N=COUNT'"),
        ("\\data\\\nngram 1=x\n", "bad.arpa:2: 'ngram 1=x' in \\data\\ — expected 'ngram N=COUNT'"),
        (
            "\\data\\\nngram 1=1\n\n\\1-grams:\n0.5\ta\n",
            "bad.arpa:5: '0.5\\ta' — log10 probabilities must be finite and <= 0",
        ),
        (
            "\\data\\\nngram 1=1\n\n\\1-grams:\n-0.5\ta\tinf\n",
            "bad.arpa:5: '-0.5\\ta\\tinf' — log10 probabilities must be finite and <= 0",
        ),
        ("ngram 1=3\n", "bad.arpa: no \\data\\ header — not an ARPA language model"),
        ("\\data\\\nngram 1=0\n\n\\1-grams:\n\\end\\\n", "bad.arpa: the model has no n-grams"),
    ],
)
def test_read_arpa_rejects_a_malformed_file_naming_file_line_and_rule(tmp_path, text, message):
    path = tmp_path / "bad.arpa"
    path.write_text(text)
    with pytest.raises(SpeechseqError) as err:
        NgramLM.read_arpa(path)
    assert str(err.value).endswith(message)
    assert str(err.value).startswith(str(tmp_path))


def test_read_arpa_skips_text_around_the_model_and_takes_the_highest_order(tmp_path):
    path = tmp_path / "lm.arpa"
    path.write_text(
        "written by hand\n\\data\\\nngram 1=3\nngram 2=1\n\n"
        + _UNIGRAMS.replace("-0.5\ta", "0\ta")  # log10 p = 0 is allowed
        + "\n\\2-grams:\n-0.1\ta </s>\n\\end\\\ntrailing notes\n"
    )
    lm = NgramLM.read_arpa(path)
    assert lm.order == 2
    assert lm.score((), "a")[0] == 0.0


def test_modified_kn_discounts_follow_chen_and_goodman():
    y = 10 / (10 + 2 * 4)
    assert modified_kn_discounts({1: 10, 2: 4, 3: 2, 4: 1}) == pytest.approx(
        (1 - 2 * y * 4 / 10, 2 - 3 * y * 2 / 4, 3 - 4 * y * 1 / 2)
    )
    assert modified_kn_discounts({1: 1, 2: 1, 3: 1}) is not None  # n1 = 1 is enough
    assert modified_kn_discounts({1: 4, 2: 1, 3: 1}) is None  # D2 = 0 exactly is refused


_TRIGRAM_ARPA = (
    "\\data\\\nngram 1=5\nngram 2=2\nngram 3=1\n\n"
    "\\1-grams:\n-0.5\ta\n-0.6\tb\n-0.7\tc\n-0.8\t</s>\n-99\t<s>\n\n"
    "\\2-grams:\n-0.2\ta b\n-0.3\tb c\n\n\\3-grams:\n-0.1\ta b c\n\n\\end\\\n"
)


def test_states_keep_every_context_an_arpa_model_can_extend_even_without_back_off(tmp_path):
    # no back-off weights at all: the contexts (a), (b) and (a b) are kept because longer
    # n-grams extend them, and a state is trimmed one word at a time on the left
    (tmp_path / "lm.arpa").write_text(_TRIGRAM_ARPA)
    lm = NgramLM.read_arpa(tmp_path / "lm.arpa")
    assert lm.score((), "a") == (-0.5, ("a",))
    assert lm.score(("a",), "b") == (-0.2, ("a", "b"))
    assert lm.score(("a", "b"), "c") == (-0.1, ())
    assert lm.score(("a", "b"), "b") == (-0.6, ("b",))


def test_write_arpa_gives_a_back_off_field_only_to_extendable_contexts(tmp_path):
    (tmp_path / "lm.arpa").write_text(_TRIGRAM_ARPA)
    lm = NgramLM.read_arpa(tmp_path / "lm.arpa")
    assert lm.counts() == [6, 2, 1]  # <unk> added
    assert set(lm.ngrams(2)) == {("a", "b"), ("b", "c")}
    lm.write_arpa(tmp_path / "out.arpa")
    assert (tmp_path / "out.arpa").read_text() == (
        "\n\\data\\\nngram 1=6\nngram 2=2\nngram 3=1\n\n"
        "\\1-grams:\n-0.8\t</s>\n-99\t<s>\n-100\t<unk>\n-0.5\ta\t0\n-0.6\tb\t0\n-0.7\tc\n\n"
        "\\2-grams:\n-0.2\ta b\t0\n-0.3\tb c\n\n\\3-grams:\n-0.1\ta b c\n\n\\end\\\n"
    )


def test_perplexity_is_ten_to_minus_the_mean_log10_prob_per_word_and_end():
    lm = train_ngram([["a", "b"], ["b", "a", "b"]], order=2)
    sents = [["a"], ["b", "a"]]
    total = lm.sentence_logprob(["a"]) + lm.sentence_logprob(["b", "a"])
    assert lm.perplexity(sents) == pytest.approx(10 ** (-total / 5))
    with pytest.raises(SpeechseqError, match="perplexity needs at least one sentence"):
        lm.perplexity([])


def test_train_ngram_defaults_to_a_trigram():
    assert train_ngram([["a", "b"]]).order == 3


@pytest.mark.parametrize("discounts", [(0.5, 1.0), (0.0, 1.0, 1.5), (1.5, 1.0, 1.5)])
def test_fixed_discounts_must_be_three_with_0_below_dk_at_most_k(discounts):
    with pytest.raises(SpeechseqError, match="give three numbers D1 D2 D3\\+ with 0 < Dk <= k"):
        train_ngram([["a", "b"]], order=2, discounts=discounts)


def test_fixed_discounts_may_equal_k():
    lm = train_ngram([["a", "b"], ["b"]], order=2, discounts=(1.0, 2.0, 3.0))
    assert lm.order == 2


@pytest.mark.parametrize("bad", [BOS, EOS, ""])
def test_a_padding_symbol_or_empty_word_in_a_sentence_is_named(bad):
    with pytest.raises(SpeechseqError, match=f"sentence 2: word {bad!r} cannot appear"):
        train_ngram([["a"], ["b", bad, "c"]])


def test_unigram_model_gives_bos_no_back_off_weight():
    lm = train_ngram([["a", "b"]], order=1)
    assert lm.ngrams(1)[(BOS,)] == (-99.0, 0.0)


def test_fallback_note_lists_the_count_of_counts():
    lm = train_ngram([["a", "b"]], order=1)
    assert lm.notes[0].startswith("order 1: count-of-counts n1..n4 = [3, 0, 0, 0] cannot give")
    assert lm.notes[0].endswith("using D1=0.5 D2=1.0 D3+=1.5")


def test_read_sentences_counts_every_empty_line(tmp_path):
    (tmp_path / "t.txt").write_text("a b\n\n\nc\n")
    assert read_sentences(tmp_path / "t.txt") == ([["a", "b"], ["c"]], 2)
    (tmp_path / "e.txt").write_text("\n")
    with pytest.raises(SpeechseqError, match="no sentences — the language model needs"):
        read_sentences(tmp_path / "e.txt")


def test_read_arpa_reads_gzip_by_suffix_and_names_a_binary_file(tmp_path):
    import gzip

    with gzip.open(tmp_path / "lm.arpa.gz", "wt", encoding="utf-8") as f:
        f.write(_TRIGRAM_ARPA)
    assert NgramLM.read_arpa(tmp_path / "lm.arpa.gz").order == 3
    (tmp_path / "lm.arpa").write_bytes(gzip.compress(_TRIGRAM_ARPA.encode()))
    with pytest.raises(SpeechseqError, match="lm.arpa: not UTF-8 text .* gzip files need the .gz"):
        NgramLM.read_arpa(tmp_path / "lm.arpa")
