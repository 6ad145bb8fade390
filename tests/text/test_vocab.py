"""Vocabularies: symbols <-> ids, declared specials, Kaldi token-list files and their errors."""

from __future__ import annotations

import ast
import graphlib
import json
from pathlib import Path

import pytest

import speechseq.text
from speechseq.errors import SpeechseqError
from speechseq.text.vocab import Specials, Vocabulary, read_token_list

SYMBOLS = ["<pad>", "<unk>", "<sos>", "<eos>", "a", "b", "c"]
SPECIALS = Specials(pad=0, unk=1, sos=2, eos=3)


def test_encode_decode_symbols_and_unknown_symbols_become_unk():
    v = Vocabulary(SYMBOLS, SPECIALS)
    assert v.encode(["a", "c", "zz"]) == [4, 6, 1]
    assert v.decode([2, 4, 1, 3, 0]) == ["<sos>", "a", "<unk>", "<eos>", "<pad>"]
    assert v.decode([2, 4, 1, 3, 0], skip_specials=True) == ["a", "<unk>"]  # unk is content


def test_encode_without_unk_names_the_unknown_symbol():
    v = Vocabulary(["<blank>", "a"], Specials(blank=0))
    with pytest.raises(SpeechseqError, match="symbol 'q' is not one of the 2 symbols"):
        v.encode(["a", "q"])


def test_decode_id_outside_the_vocabulary_is_an_error():
    with pytest.raises(SpeechseqError, match=r"id 7 is outside the vocabulary \(ids 0\.\.6\)"):
        Vocabulary(SYMBOLS, SPECIALS).decode([4, 7])


def test_duplicate_symbol_is_an_error_naming_both_ids():
    with pytest.raises(SpeechseqError, match=r"symbol 'a' has two ids \(1 and 2\)"):
        Vocabulary(["<blank>", "a", "a"])


def test_specials_must_be_in_range_and_distinct_except_sos_eos():
    with pytest.raises(SpeechseqError, match="special eos has id 9"):
        Vocabulary(SYMBOLS, Specials(eos=9))
    with pytest.raises(SpeechseqError, match="specials unk and pad share id 0"):
        Vocabulary(SYMBOLS, Specials(unk=0, pad=0))
    v = Vocabulary(["<blank>", "<sos/eos>", "a"], Specials(blank=0, sos=1, eos=1))  # ESPnet's way
    assert v.specials.declared() == {"blank": 0, "sos": 1, "eos": 1}


def test_require_names_the_missing_special():
    v = Vocabulary(["<blank>", "a"], Specials(blank=0))
    v.require("blank")
    with pytest.raises(SpeechseqError, match="declares no sos, eos special"):
        v.require("blank", "sos", "eos")


def test_save_writes_token_list_and_specials_json_and_load_restores(tmp_path):
    v = Vocabulary(SYMBOLS, SPECIALS)
    v.save(tmp_path, "tokens", {"kind": "char"})
    assert (tmp_path / "tokens.txt").read_text().splitlines()[:2] == ["<pad> 0", "<unk> 1"]
    meta = json.loads((tmp_path / "tokens.json").read_text())
    assert meta["kind"] == "char"
    assert meta["specials"] == {
        "blank": None,
        "sos": "<sos>",
        "eos": "<eos>",
        "unk": "<unk>",
        "pad": "<pad>",
    }
    back = Vocabulary.load(tmp_path, "tokens")
    assert back.symbols == SYMBOLS and back.specials == SPECIALS


def test_load_without_specials_json_uses_the_default_or_says_what_is_missing(tmp_path):
    (tmp_path / "units.txt").write_text("<blank> 0\na 1\n")
    v = Vocabulary.load(tmp_path, "units", default_specials={"blank": "<blank>"})
    assert v.specials == Specials(blank=0)
    with pytest.raises(SpeechseqError, match=r"units\.json: missing, or without 'specials'"):
        Vocabulary.load(tmp_path, "units")


def test_load_special_symbol_absent_from_token_list_names_the_json(tmp_path):
    Vocabulary(SYMBOLS, SPECIALS).save(tmp_path)
    (tmp_path / "tokens.txt").write_text("<pad> 0\n<unk> 1\n<sos> 2\na 3\n")
    with pytest.raises(
        SpeechseqError, match=r"tokens\.json: special eos is '<eos>', which is not in"
    ):
        Vocabulary.load(tmp_path)


def test_read_token_list_names_file_and_line_of_a_bad_id(tmp_path):
    path = tmp_path / "tokens.txt"
    path.write_text("<blank> 0\na 1\nb 5\n")
    with pytest.raises(SpeechseqError, match=r"tokens\.txt:3: expected 'SYMBOL 2'"):
        read_token_list(path)
    path.write_text("<blank> 0\na\n")
    with pytest.raises(SpeechseqError, match=r"tokens\.txt:2: expected 'SYMBOL 1'"):
        read_token_list(path)


def test_read_token_list_duplicate_symbol_names_both_lines(tmp_path):
    path = tmp_path / "tokens.txt"
    path.write_text("<blank> 0\na 1\nb 2\na 3\n")
    with pytest.raises(
        SpeechseqError, match=r"tokens\.txt:4: symbol 'a' is listed again \(first on line 2\)"
    ):
        read_token_list(path)


def test_text_modules_import_one_way():
    """No import cycle among speechseq.text modules (lexicon once imported units and back)."""
    pkg = Path(speechseq.text.__file__).parent
    imports = {}
    for path in pkg.glob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "speechseq.text."
            ):
                names.add(node.module.rsplit(".", 1)[1])
        imports[path.stem] = names
    assert "units" not in imports["lexicon"]
    list(graphlib.TopologicalSorter(imports).static_order())  # raises CycleError on a cycle
