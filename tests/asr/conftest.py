"""Fixtures of the asr tests."""

import pytest

from speechseq.asr.training import train_ctc
from tests.asr.helpers import TINY


@pytest.fixture(scope="module")
def tiny_model(digits_corpus, tmp_path_factory):
    exp = tmp_path_factory.mktemp("exp") / "ctc"
    train_ctc(digits_corpus / "train", digits_corpus / "dev", exp, TINY, quiet=True)
    return exp
