"""CTC units: char / phone / bpe encode-decode round trips, files, errors, lexicon spellings."""

from __future__ import annotations

import json

import pytest

from speechseq.errors import SpeechseqError
from speechseq.text.lexicon import Lexicon
from speechseq.text.units import BLANK, WORD_SEP, Units

TEXTS = ["THE CAT SAT ON THE MAT", "A DOG RAN TO THE PARK", "HELLO WORLD"]


def test_char_units_round_trip_with_word_separator():
    u = Units.build("char", TEXTS)
    assert u.kind == "char" and u.symbols[:2] == [BLANK, WORD_SEP] and u.blank == 0
    assert u.word_boundary == 1 and len(u) == 2 + len(set("".join(TEXTS).replace(" ", "")))
    ids = u.encode("THE  CAT")
    assert ids == [u.symbols.index(c) for c in "THE"] + [1] + [u.symbols.index(c) for c in "CAT"]
    for t in TEXTS:
        assert u.decode(u.encode(t)) == t
    assert u.decode([0] + ids + [0]) == "THE CAT"  # blanks are dropped


def test_char_unknown_character_names_it():
    u = Units.build("char", TEXTS)
    with pytest.raises(SpeechseqError, match="character 'Q'"):
        u.encode("QUIT")


def test_char_training_text_with_separator_is_an_error():
    with pytest.raises(SpeechseqError, match="word separator"):
        Units.build("char", ["A | B"])


def test_units_save_writes_kaldi_token_list_and_load_restores(tmp_path):
    u = Units.build("char", TEXTS)
    u.save(tmp_path)
    lines = (tmp_path / "units.txt").read_text().splitlines()
    assert lines[0] == "<blank> 0" and lines[1] == "| 1" and len(lines) == len(u)
    back = Units.load(tmp_path)
    assert back.symbols == u.symbols and back.kind == "char"
    assert Units.load(tmp_path / "units.txt").encode("THE CAT") == u.encode("THE CAT")


def test_load_bad_units_txt_names_file_and_line(tmp_path):
    Units.build("char", TEXTS).save(tmp_path)
    (tmp_path / "units.txt").write_text("<blank> 0\n| 1\nA 3\n")
    with pytest.raises(SpeechseqError, match=r"units\.txt:3: expected 'SYMBOL 2'"):
        Units.load(tmp_path)


def test_phone_units_round_trip_through_reverse_lexicon(lexicon, tmp_path):
    u = Units.build("phone", TEXTS, lexicon=lexicon)
    assert u.kind == "phone" and u.word_boundary == 1
    ids = u.encode("THE CAT")
    assert ids == u.ids_of(
        ["DH", "AH", WORD_SEP, "K", "AE", "T"]
    )  # first pronunciation, | between words
    for t in TEXTS:
        assert u.decode(u.encode(t)) == t
    u.save(tmp_path / "exp")
    back = Units.load(tmp_path / "exp")
    assert back.symbols == u.symbols
    assert back.decode(u.encode("A DOG RAN TO THE PARK")) == "A DOG RAN TO THE PARK"


def test_phone_decode_prefers_training_words_and_marks_unknown_groups(lexicon):
    u = Units.build("phone", ["TWO CAT"], lexicon=lexicon)
    assert u.decode(u.encode("TO")) == "TWO"  # homophone: the training text's word wins
    assert u.decode(u.ids_of(["K", "AE", WORD_SEP, "M", "AE", "T"])) == "<unk> MAT"


def test_phone_oov_error_lists_all_words_and_the_fix(lexicon):
    with pytest.raises(SpeechseqError) as e:
        Units.build("phone", ["THE BLORP ZAX CAT", "QUUX"], lexicon=lexicon)
    msg = str(e.value)
    assert "3 word(s)" in msg and "BLORP" in msg and "ZAX" in msg and "QUUX" in msg
    assert "add them to the lexicon" in msg and "grapheme fallback" in msg


def test_phone_oov_error_is_capped_at_twenty_words(lexicon):
    words = " ".join(f"W{chr(65 + i)}{chr(65 + j)}" for i in range(5) for j in range(5))
    with pytest.raises(SpeechseqError, match="25 word.*and 5 more"):
        Units.build("phone", [words], lexicon=lexicon)


def test_phone_grapheme_fallback_spells_oov_words_and_says_so(lexicon):
    with pytest.warns(UserWarning, match="letter by letter"):
        u = Units.build("phone", ["THE BLORP CAT"], lexicon=lexicon, grapheme_fallback=True)
    assert u.encode("BLORP") == u.ids_of(["B", "L", "AA", "R", "P"])
    assert u.decode(u.encode("THE BLORP CAT")) == "THE BLORP CAT"
    assert u.notes and "BLORP" in u.notes[0]


def test_phone_units_from_cmudict_follow_the_text_case():
    u = Units.build("phone", ["THE CAT SAT"])
    assert u.decode(u.encode("THE CAT")) == "THE CAT"
    assert (
        u.decode(u.encode("dog")) == "DOG"
    )  # any CMUdict word, written in the training text's case


def test_bpe_units_round_trip_and_reload(tmp_path):
    texts = TEXTS * 4
    u = Units.build("bpe", texts, bpe_size=60)
    assert u.kind == "bpe" and u.symbols[0] == BLANK and u.word_boundary is None
    assert 20 < len(u) <= 61
    for t in TEXTS + ["THE DOG SAT"]:
        ids = u.encode(t)
        assert 0 not in ids and u.decode(ids) == t
    u.save(tmp_path)
    assert (tmp_path / "bpe.model").is_file()
    back = Units.load(tmp_path)
    assert back.symbols == u.symbols and back.encode("HELLO THE CAT") == u.encode("HELLO THE CAT")
    assert Units.build("bpe", texts, bpe_size=60).symbols == u.symbols  # deterministic


def test_bpe_size_below_alphabet_is_a_clear_error():
    with pytest.raises(SpeechseqError, match="bpe_size 5"):
        Units.build("bpe", TEXTS, bpe_size=5)


def test_bpe_unknown_character_names_it():
    u = Units.build("bpe", TEXTS, bpe_size=40)
    with pytest.raises(SpeechseqError, match="'Q'"):
        u.encode("QUIT")


def test_bpe_word_start_units_are_the_pieces_with_the_word_marker():
    u = Units.build("bpe", TEXTS * 4, bpe_size=60)
    starts = set(u.word_start_units)
    assert starts and all(u.symbols[i].startswith("\u2581") for i in starts)
    ids = u.encode("THE CAT")
    assert ids[0] in starts
    assert Units.build("char", TEXTS).word_start_units is None


def test_spellings_for_char_and_phone_units(tmp_path):
    (tmp_path / "lexicon.txt").write_text("cat K AE T\ntack T AE K\nzz Z Z\nact AE K T\n")
    lex = Lexicon.read(tmp_path / "lexicon.txt")
    char = Units.build("char", ["CAT TACK"])
    sp = char.spellings(lex)
    assert sp["CAT"] == [char.encode("CAT")]  # keys in the training text's case
    assert "ZZ" not in sp and "ACT" in sp  # only words the units can write
    phone = Units.build("phone", ["cat tack"], lexicon=lex)
    sp = phone.spellings(lex)
    assert sp["cat"] == [phone.encode("cat")]
    assert sp["zz"] == [phone.ids_of(["Z", "Z"])]


def test_spellings_for_bpe_units():
    texts = ["the cat sat on the mat", "a cat and a hat"] * 5
    bpe = Units.build("bpe", texts, bpe_size=40)
    sp = bpe.spellings(Lexicon({"cat": [["K"]], "hat": [["H"]]}))
    assert bpe.decode(sp["cat"][0]) == "cat"


def test_spellings_error_when_no_word_fits():
    char = Units.build("char", ["abc"])
    with pytest.raises(SpeechseqError, match="no word can be written"):
        char.spellings(Lexicon({"xyz": [["X"]]}))


def test_units_json_records_the_blank_as_the_only_special(tmp_path):
    u = Units.build("char", TEXTS)
    u.save(tmp_path)
    meta = json.loads((tmp_path / "units.json").read_text())
    assert meta["kind"] == "char" and meta["specials"]["blank"] == BLANK
    assert [k for k, v in meta["specials"].items() if v is not None] == ["blank"]
    assert u.vocab.specials.declared() == {"blank": 0}


def test_old_format_char_dir_without_specials_loads(tmp_path):
    # as written before units.json recorded specials
    (tmp_path / "units.txt").write_text("<blank> 0\n| 1\nA 2\nB 3\nC 4\n")
    (tmp_path / "units.json").write_text(
        '{"kind": "char", "case": "upper", "grapheme_fallback": false, "notes": []}\n'
    )
    u = Units.load(tmp_path)
    assert u.kind == "char" and u.blank == 0 and u.word_boundary == 1
    assert u.encode("ab c") == [2, 3, 1, 4] and u.decode([0, 2, 3, 1, 4]) == "AB C"


def test_old_format_dirs_without_units_json_load_by_their_files(lexicon, tmp_path):
    (tmp_path / "char").mkdir()
    (tmp_path / "char" / "units.txt").write_text("<blank> 0\n| 1\na 2\n")
    assert Units.load(tmp_path / "char").kind == "char"
    phone = Units.build("phone", TEXTS, lexicon=lexicon)
    phone.save(tmp_path / "phone")
    (tmp_path / "phone" / "units.json").unlink()
    back = Units.load(tmp_path / "phone")
    assert back.kind == "phone" and back.decode(phone.encode("THE CAT")) == "THE CAT"


def test_old_format_bpe_dir_without_specials_loads(tmp_path):
    u = Units.build("bpe", TEXTS * 4, bpe_size=60)
    u.save(tmp_path)
    meta = json.loads((tmp_path / "units.json").read_text())
    del meta["specials"]
    (tmp_path / "units.json").write_text(json.dumps(meta))
    back = Units.load(tmp_path)
    assert back.kind == "bpe" and back.encode("HELLO THE CAT") == u.encode("HELLO THE CAT")


def test_units_json_declaring_other_specials_is_an_error(tmp_path):
    Units.build("char", TEXTS).save(tmp_path)
    meta = json.loads((tmp_path / "units.json").read_text())
    meta["specials"]["eos"] = "|"
    (tmp_path / "units.json").write_text(json.dumps(meta))
    with pytest.raises(SpeechseqError, match=r"units\.json: CTC units have one special"):
        Units.load(tmp_path)


def test_units_txt_without_blank_first_names_the_line(tmp_path):
    (tmp_path / "units.txt").write_text("| 0\n<blank> 1\n")
    with pytest.raises(SpeechseqError, match=r"units\.txt:1: the first unit must be '<blank> 0'"):
        Units.load(tmp_path)
