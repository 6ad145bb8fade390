"""Fixtures of the hybrid tests: a tiny hybrid trained through the CLI (the hand-checked 3-word
lang and its HCLG, shared with tests/decode, are in tests/conftest.py)."""

from __future__ import annotations

import pytest

from tests.hybrid.helpers import TINY_HYBRID, ok


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
