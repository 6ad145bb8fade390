"""Property tests: an LM trained on any small corpus survives write_arpa and read_arpa."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from speechseq.lm.ngram import NgramLM, train_ngram  # noqa: E402

# Words: letters and digits of any script, with the apostrophes and hyphens of real text.
WORD = st.text(
    st.characters(categories=("L", "N"), include_characters="'-"), min_size=1, max_size=6
)


@st.composite
def corpora(draw):
    vocab = draw(st.lists(WORD, min_size=1, max_size=8, unique=True))
    sentence = st.lists(st.sampled_from(vocab), min_size=0, max_size=8)
    return draw(st.lists(sentence, min_size=1, max_size=15)), vocab


@settings(max_examples=60, deadline=None, database=None, derandomize=True)
@given(corpora(), st.integers(1, 4), st.lists(st.lists(WORD, max_size=6), min_size=1, max_size=4))
def test_arpa_round_trip_keeps_every_probability(corpus, order, probes):
    sentences, vocab = corpus
    lm = train_ngram(sentences, order=order)
    with tempfile.TemporaryDirectory() as tmp:
        lm.write_arpa(Path(tmp) / "lm.arpa")
        back = NgramLM.read_arpa(Path(tmp) / "lm.arpa")
    # An order with no n-grams (short sentences only) reads back as the order below it.
    counts = lm.counts()
    while counts[-1] == 0:
        counts.pop()
    assert back.order == len(counts) and back.counts() == counts and back.vocab == lm.vocab
    for n in range(1, order + 1):
        mine, theirs = lm.ngrams(n), back.ngrams(n)
        assert mine.keys() == theirs.keys()
        for g, (p, b) in mine.items():  # ARPA keeps 9 significant digits
            assert theirs[g] == pytest.approx((p, b), rel=1e-8, abs=1e-9), g
    # whole sentences: training ones, and probes that may hold unknown words (scored as <unk>)
    for words in [*sentences, *probes]:
        assert back.sentence_logprob(words) == pytest.approx(
            lm.sentence_logprob(words), rel=1e-7, abs=1e-7
        ), words
