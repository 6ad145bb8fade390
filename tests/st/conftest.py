"""Fixtures of the st tests."""

from __future__ import annotations

import pytest

from tests.st.helpers import DEC, ENC, ST, TRAIN, run, without


@pytest.fixture(scope="module")
def st_setup(translate_corpus, tmp_path_factory):
    root = tmp_path_factory.mktemp("st")
    (root / "st.yaml").write_text(ENC + DEC + TRAIN + ST)
    # (a) translation without any transcript: the English text is not even in the data dirs
    train = without(translate_corpus / "train", root / "train_notext", "text")
    dev = without(translate_corpus / "dev", root / "dev_notext", "text")
    res = run(
        [
            "train-st",
            train,
            "--dev",
            dev,
            "--out",
            root / "st",
            "--config",
            root / "st.yaml",
            "--target",
            "de",
        ]
    )
    return root, res
