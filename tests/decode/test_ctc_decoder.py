"""CTCDecoder, the strategy object `speechseq decode` uses for CTC models: options and their
decode-dir names, greedy vs beam, the LM and lexicon read once from files and shared by
``with_weights``, the word-start pieces of BPE units — in process, on hand-made posteriors."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from speechseq.decode.ctc import CTCDecodeOptions, CTCDecoder, Decoded, _stem, prefix_beam_search
from speechseq.errors import SpeechseqError
from speechseq.lm.ngram import train_ngram
from speechseq.text.units import Units

SYMBOLS = ["<blank>", "|", "a", "c", "d", "g", "o", "t"]


def posteriors(text: str, p: float = 0.9) -> np.ndarray:
    """Peaky log posteriors spelling ``text`` (``_`` = a blank frame, ``|`` = word boundary)."""
    V = len(SYMBOLS)
    out = np.full((len(text), V), (1 - p) / (V - 1))
    for t, ch in enumerate(text):
        out[t, SYMBOLS.index("<blank>" if ch == "_" else ch)] = p
    return np.log(out).astype(np.float32)


def char_units() -> Units:
    return Units("char", SYMBOLS)


def test_options_name_their_decode_dir():
    assert CTCDecodeOptions().tag() == "greedy" and CTCDecodeOptions().greedy
    assert CTCDecodeOptions(beam=0).tag() == "greedy"
    assert CTCDecodeOptions(beam=10).tag() == "beam10" and not CTCDecodeOptions(beam=10).greedy
    lex = CTCDecodeOptions(beam=1, lexicon="data/local/lexicon.txt", word_bonus=2.0)
    assert not lex.greedy and lex.tag() == "beam1_lex-lexicon_b2"
    lm = CTCDecodeOptions(beam=8, lm="exp/lm/3gram.arpa.gz", lm_weight=0.75, word_bonus=0.5)
    assert lm.tag() == "beam8_lm-3gram_w0.75_b0.5"
    both = CTCDecodeOptions(beam=0, lm="lm.arpa", lexicon="lex.txt")
    assert both.tag() == "beam1_lex-lex_lm-lm_w0.5_b1"
    defaults = CTCDecodeOptions()
    assert (defaults.beam, defaults.lm_weight, defaults.word_bonus) == (1, 0.5, 1.0)


def test_stem_drops_directories_and_known_suffixes():
    assert _stem("exp/lm/tg.arpa.gz") == "tg"
    assert _stem("C:\\lm\\big.txt") == "big"
    assert _stem("lexicons/words/") == "words"
    assert _stem("model.bin") == "model.bin"
    assert _stem(".arpa") == "x"


def test_greedy_and_beam_decoders_give_ids_and_text():
    units = char_units()
    lp = posteriors("ca_t|_d_o_gg")
    g = CTCDecoder(units, CTCDecodeOptions()).decode(lp)
    assert g == Decoded([3, 2, 7, 1, 4, 6, 5], "cat dog")
    b = CTCDecoder(units, CTCDecodeOptions(beam=4)).decode(lp)
    assert b.ids == g.ids and b.text == "cat dog"
    assert (
        CTCDecoder(units, CTCDecodeOptions()).lm,
        CTCDecoder(units, CTCDecodeOptions()).trie,
    ) == (None, None)


def test_lm_and_lexicon_are_read_from_files_once_and_shared_by_with_weights(tmp_path):
    units = char_units()
    (tmp_path / "lexicon.txt").write_text("cat c a t\ndog d o g\n")
    lm = train_ngram([["dog", "cat"]] * 3 + [["cat"]], order=2)
    lm.write_arpa(tmp_path / "lm.arpa")
    o = CTCDecodeOptions(
        beam=4, lm=str(tmp_path / "lm.arpa"), lexicon=str(tmp_path / "lexicon.txt")
    )
    dec = CTCDecoder(units, o)
    assert dec.lm is not None and dec.lm.order == 2 and dec.trie is not None
    other = dec.with_weights(2.0, -1.0)
    assert other.lm is dec.lm and other.trie is dec.trie
    assert (other.options.lm_weight, other.options.word_bonus) == (2.0, -1.0)
    assert other.options.beam == 4 and dec.options.lm_weight == 0.5
    # the lexicon and the LM find the two words, the boundary unit between them
    h = dec.decode(posteriors("ca_t|dog"))
    assert h.text == "cat dog" and [SYMBOLS[i] for i in h.ids] == list("cat|dog")
    # the decoder passes its weights to the search: a large word penalty keeps one word
    lp = posteriors("ca_t|dog", p=0.6)
    expected = prefix_beam_search(
        lp, beam=4, blank=0, word_boundary=1, lm=dec.lm, lm_weight=2.0, word_bonus=-1.0,
        lexicon_trie=dec.trie, units_to_word=lambda ids: units.decode(list(ids)),
    )[0]  # fmt: skip
    assert other.decode(lp).text == " ".join(expected.words)


def test_a_lexicon_for_units_without_word_boundary_is_refused(tmp_path):
    (tmp_path / "lexicon.txt").write_text("cat c a t\n")
    bpe = SimpleNamespace(word_boundary=None, kind="bpe")
    with pytest.raises(SpeechseqError) as e:
        CTCDecoder(bpe, CTCDecodeOptions(beam=2, lexicon=str(tmp_path / "lexicon.txt")))
    assert (
        str(e.value)
        == "--lexicon needs units with a word boundary (char or phone); this model uses bpe"
    )


def test_bpe_pieces_that_start_a_word_are_word_starts_for_the_search(monkeypatch):
    import speechseq.decode.ctc as ctc

    seen = {}

    def spy(log_probs, **kw):
        seen.update(kw)
        return [SimpleNamespace(ids=[2, 3], words=None)]

    monkeypatch.setattr(ctc, "prefix_beam_search", spy)
    bpe = SimpleNamespace(
        word_boundary=None, blank=0, word_start_units=[2, 5], decode=lambda ids: f"text{list(ids)}"
    )
    out = CTCDecoder(bpe, CTCDecodeOptions(beam=3, word_bonus=0.25)).decode(np.zeros((2, 6)))
    assert out == Decoded([2, 3], "text[2, 3]")
    assert seen["word_start_units"] == {2, 5} and seen["word_boundary"] is None
    assert (seen["beam"], seen["blank"], seen["word_bonus"], seen["lm_weight"]) == (3, 0, 0.25, 0.5)
    char = SimpleNamespace(word_boundary=1, blank=0, word_start_units=None, decode=lambda ids: "")
    CTCDecoder(char, CTCDecodeOptions(beam=0, lexicon="", lm="")).decode(np.zeros((2, 6)))
    assert seen["beam"] == 3  # beam 0 with nothing else is greedy: the search is not called
    monkeypatch.setattr(ctc, "greedy", lambda lp, blank: [])
    CTCDecoder(char, CTCDecodeOptions(beam=2)).decode(np.zeros((2, 6)))
    assert seen["word_start_units"] is None and seen["beam"] == 2


def test_an_lm_without_a_lexicon_names_words_by_their_spelling(tmp_path):
    """No lexicon: the LM's words are spelled out of the units (units_to_word), so an LM that
    prefers "dog" over "dot" turns a doubtful last letter into "g"."""
    units = char_units()
    lm = train_ngram([["cat", "dog"]] * 5, order=2)
    lm.write_arpa(tmp_path / "lm.arpa")
    lp = posteriors("ca_t|do_g")
    lp[-1] = np.log(np.full(len(SYMBOLS), 0.02))
    # the last frame: "t" a little likelier than "g" (the acoustics say "dot")
    lp[-1, SYMBOLS.index("g")], lp[-1, SYMBOLS.index("t")] = np.log(0.44), np.log(0.46)
    plain = CTCDecoder(units, CTCDecodeOptions(beam=8)).decode(lp)
    assert plain.text == "cat dot"
    o = CTCDecodeOptions(beam=8, lm=str(tmp_path / "lm.arpa"), lm_weight=1.0, word_bonus=0.0)
    d = CTCDecoder(units, o).decode(lp)
    assert d.text == "cat dog" and [SYMBOLS[i] for i in d.ids] == list("cat|dog")


def test_each_misuse_of_the_search_is_one_message():
    lp = posteriors("cat")
    lm = train_ngram([["cat"]], order=1)
    cases = [
        (dict(log_probs=lp[0]), ValueError, "log_probs must be [T, V], got shape (8,)"),
        (
            dict(log_probs=lp, lexicon_trie=object()),
            SpeechseqError,
            "the lexicon constraint needs units with a word-boundary unit (char or phone "
            "units); decode BPE models without --lexicon",
        ),
        (
            dict(log_probs=lp, word_boundary=1, word_start_units={2}),
            ValueError,
            "give word_boundary (char/phone) or word_start_units (bpe), not both",
        ),
        (
            dict(log_probs=lp, lm=lm),
            SpeechseqError,
            "a word LM needs to know where words end: pass word_boundary (char/phone units) or "
            "word_start_units (bpe pieces starting with '▁')",
        ),
        (
            dict(log_probs=lp, lm=lm, word_boundary=1),
            ValueError,
            "units_to_word is needed to name words for the LM when there is no lexicon",
        ),
    ]
    for kwargs, cls, message in cases:
        with pytest.raises(cls) as e:
            prefix_beam_search(**kwargs)
        assert str(e.value) == message
