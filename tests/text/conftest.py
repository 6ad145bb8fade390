"""Fixtures of the text tests."""

from __future__ import annotations

import pytest

from speechseq.text.lexicon import Lexicon


@pytest.fixture
def lexicon(tmp_path):
    path = tmp_path / "lexicon.txt"
    path.write_text(LEXICON)
    return Lexicon.read(path)


LEXICON = """\
THE DH AH
THE DH IY
CAT K AE T
SAT S AE T
ON AA N
MAT M AE T
A AH
DOG D AO G
RAN R AE N
TO T UW
TWO T UW
PARK P AA R K
HELLO HH AH L OW
WORLD W ER L D
"""
