"""Sequence-to-sequence targets: char and bpe round trips with sos/eos, unk, files."""

from __future__ import annotations

import pytest

from speechseq.errors import SpeechseqError
from speechseq.text.target_vocab import TargetVocab, build_target_vocab

TEXTS = ["the cat sat on the mat", "a dog ran to the park", "hello world"]


def test_char_targets_have_fixed_specials_and_round_trip():
    v = build_target_vocab(TEXTS, kind="char")
    assert v.symbols[:5] == ["<pad>", "<unk>", "<sos>", "<eos>", "<space>"]
    assert (v.pad, v.unk, v.sos, v.eos) == (0, 1, 2, 3)
    ids = v.encode("the  cat")
    assert ids[0] == v.sos and ids[-1] == v.eos and ids.count(4) == 1  # one <space>
    assert v.encode("the cat", add_sos_eos=False) == ids[1:-1]
    for t in TEXTS:
        assert v.decode(v.encode(t)) == t
    assert v.decode(ids + [v.pad, v.pad]) == "the cat"  # padding is dropped


def test_char_unknown_characters_map_to_unk():
    v = build_target_vocab(TEXTS, kind="char")
    ids = v.encode("the Qat", add_sos_eos=False)
    assert ids.count(v.unk) == 1 and ids[-2:] == v.encode("at", add_sos_eos=False)
    assert v.decode(ids) == "the <unk>at"


def test_bpe_targets_train_with_sos_eos_and_round_trip():
    v = build_target_vocab(TEXTS * 4, kind="bpe", bpe_size=60)
    assert v.symbols[:4] == ["<pad>", "<unk>", "<sos>", "<eos>"]
    assert 20 < len(v) <= 60
    assert v._sp.bos_id() == v.sos and v._sp.eos_id() == v.eos  # sentencepiece's own ids
    for t in TEXTS + ["the dog sat"]:
        ids = v.encode(t)
        assert ids[0] == v.sos and ids[-1] == v.eos and v.unk not in ids
        assert set(ids[1:-1]).isdisjoint({v.pad, v.sos, v.eos})
        assert v.decode(ids) == t


def test_bpe_unknown_characters_map_to_unk():
    v = build_target_vocab(TEXTS * 4, kind="bpe", bpe_size=60)
    ids = v.encode("the QZ cat", add_sos_eos=False)
    assert v.unk in ids
    assert v.decode(ids) == "the <unk> cat"


@pytest.mark.parametrize("kind", ["char", "bpe"])
def test_save_load_round_trip(tmp_path, kind):
    v = build_target_vocab(TEXTS * 4, kind=kind, bpe_size=60)
    v.save(tmp_path)
    lines = (tmp_path / "tokens.txt").read_text().splitlines()
    assert lines[:4] == ["<pad> 0", "<unk> 1", "<sos> 2", "<eos> 3"] and len(lines) == len(v)
    assert (tmp_path / "bpe.model").is_file() == (kind == "bpe")
    back = TargetVocab.load(tmp_path)
    assert back.kind == kind and back.symbols == v.symbols
    assert back.vocab.specials == v.vocab.specials
    assert back.encode("hello the cat") == v.encode("hello the cat")


def test_load_bpe_with_a_foreign_token_list_is_an_error(tmp_path):
    build_target_vocab(TEXTS * 4, kind="bpe", bpe_size=60).save(tmp_path / "a")
    build_target_vocab(["x y z"] * 4, kind="bpe", bpe_size=60).save(tmp_path / "b")
    (tmp_path / "a" / "bpe.model").write_bytes((tmp_path / "b" / "bpe.model").read_bytes())
    with pytest.raises(SpeechseqError, match="do not match the sentencepiece model"):
        TargetVocab.load(tmp_path / "a")


def test_load_without_tokens_json_says_what_is_missing(tmp_path):
    build_target_vocab(TEXTS).save(tmp_path)
    (tmp_path / "tokens.json").unlink()
    with pytest.raises(SpeechseqError, match=r"tokens\.json: missing"):
        TargetVocab.load(tmp_path)


def test_build_errors_name_the_problem():
    with pytest.raises(SpeechseqError, match="target kind 'phone'"):
        build_target_vocab(TEXTS, kind="phone")
    with pytest.raises(SpeechseqError, match="texts are empty"):
        build_target_vocab(["  "])
    with pytest.raises(SpeechseqError, match="set bpe_size to at least"):
        build_target_vocab(TEXTS, kind="bpe", bpe_size=5)
