"""Fixtures of the hybrid tests: the hand-checked 3-word lang, a tiny hybrid trained through the CLI."""

from __future__ import annotations

import pytest

from speechseq.hybrid import graph as G
from speechseq.hybrid.lang import Lang, LangOptions, prepare_lang
from speechseq.hybrid.topo import TransitionModel
from speechseq.lm.ngram import train_ngram
from speechseq.text.lexicon import Lexicon
from tests.hybrid.helpers import LEX, TINY_HYBRID, ok


@pytest.fixture(scope="module")
def lang(tmp_path_factory) -> Lang:
    """one W AH N / two T UW / three TH R IY: 2 states per phone, 1 for silence."""
    d = tmp_path_factory.mktemp("lang")
    (d / "lex.txt").write_text(LEX)
    prepare_lang(
        Lexicon.read(d / "lex.txt"), d / "lang", options=LangOptions(num_states=2, sil_states=1)
    )
    return Lang(d / "lang")


@pytest.fixture(scope="module")
def hybrid(digits_corpus, tmp_path_factory):
    """prepare-lang (CMUdict, the training words), train-hybrid with a tiny config, a bigram LM."""
    root = tmp_path_factory.mktemp("hybrid")
    d = digits_corpus
    (root / "conf.yaml").write_text(TINY_HYBRID)
    ok(["prepare-lang", "cmudict", root / "lang", "--words-from", d / "train" / "text"])
    ok(["train-hybrid", d / "train", "--dev", d / "dev", "--lang", root / "lang",
        "--out", root / "exp", "--config", root / "conf.yaml"])  # fmt: skip
    ok(
        [
            "lm",
            "train",
            d / "train" / "text",
            "--kaldi-text",
            "--order",
            "2",
            "--out",
            root / "lm.arpa",
        ]
    )
    return root


@pytest.fixture(scope="module")
def hclg(lang):
    """A bigram that prefers "two one" strongly, so the LM weight changes the best path."""
    lm = train_ngram([["two", "one"]] * 30 + [["three"], ["one", "three", "two"]], order=2)
    return G.make_hclg(lang, G.g_from_arpa(lm, lang, "lm.arpa"), TransitionModel(lang.topo))
