"""Lang dir, L.fst, H, G (ARPA, grammar) and HCLG on a 3-word lexicon, checked by hand;
decoding planted paths through synthetic score matrices."""

from __future__ import annotations

import math

import kaldifst
import numpy as np
import pytest

from speechseq.decode.graph import viterbi
from speechseq.errors import SpeechseqError
from speechseq.hybrid import graph as G
from speechseq.hybrid.grammar import grammar_fst
from speechseq.hybrid.lang import Lang, prepare_lang
from speechseq.hybrid.topo import TransitionModel
from speechseq.lm.ngram import train_ngram
from speechseq.text.lexicon import Lexicon
from tests.hybrid.helpers import LEX


def arcs(fst, s):
    out = []
    it = kaldifst.ArcIterator(fst, s)
    while not it.done:
        a = it.value
        out.append((a.ilabel, a.olabel, round(float(a.weight.value), 4), a.nextstate))
        it.next()
    return sorted(out)


def planted(lang: Lang, words: str, frames: int = 3, sil: bool = False):
    """The pdf sequence of ``words`` (first pronunciation, ``frames`` per HMM state) and a
    score matrix that prefers it by 5 nats a frame."""
    topo = lang.topo
    phones = [p for w in words.split() for p in lang.lexicon.pronunciations(w)[0]]
    if sil:
        phones = ["SIL", *phones, "SIL"]
    seq = [topo.pdf_of(p, s) for p in phones for s in range(topo.states[p]) for _ in range(frames)]
    sc = np.full((len(seq), topo.num_pdfs), -5.0, np.float32)
    sc[np.arange(len(seq)), seq] = 0.0
    return np.array(seq), sc


def test_lang_tables_and_phone_sets(lang):
    assert lang.phones == {
        "<eps>": 0, "SIL": 1, "AH": 2, "IY": 3, "N": 4, "R": 5, "T": 6, "TH": 7, "UW": 8, "W": 9, "#0": 10,
    }  # fmt: skip
    assert lang.words == {"<eps>": 0, "one": 1, "three": 2, "two": 3, "#0": 4, "<s>": 5, "</s>": 6}
    assert (lang.path / "phones" / "disambig.txt").read_text() == "#0\n"
    assert lang.topo.num_pdfs == 1 + 8 * 2
    assert lang.topo.pdf_of("AH", 1) == 2


def test_l_fst_states_arcs_and_silence_weights(lang):
    L = lang.l_fst()
    # start, loop, after-word-silence state + 2 + 1 + 2 inner word states
    assert L.num_states == 8
    p = -math.log(0.5)
    start = arcs(L, L.start)
    assert start == sorted([(0, 0, round(p, 4), 1), (1, 0, round(p, 4), 1)])
    # "two": T:two from the loop, then UW back to the loop or to the silence state
    loop = arcs(L, 1)
    t_arc = [a for a in loop if a[0] == lang.phones["T"]]
    assert t_arc[0][1] == lang.words["two"]
    assert sorted(a[3] for a in arcs(L, t_arc[0][3])) == [1, 2]
    assert arcs(L, 2) == [(1, 0, 0.0, 1)]


def test_l_disambig_marks_prefixes_and_homophones(tmp_path):
    (tmp_path / "lex.txt").write_text("a AH\nab AH B\nuh AH\n")
    prepare_lang(Lexicon.read(tmp_path / "lex.txt"), tmp_path / "lang")
    lines = (tmp_path / "lang" / "lexicon_disambig.txt").read_text().splitlines()
    assert lines == ["a AH #1", "ab AH B", "uh AH #2"]
    assert Lang(tmp_path / "lang").disambig_phones == [
        Lang(tmp_path / "lang").phones[s] for s in ("#0", "#1", "#2")
    ]


def test_missing_word_is_one_error_listing_it(tmp_path):
    (tmp_path / "lex.txt").write_text(LEX)
    with pytest.raises(
        SpeechseqError,
        match=r"data/text: 1 word\(s\) are not in the lexicon .*: four — .*--grapheme-fallback",
    ):
        prepare_lang(
            Lexicon.read(tmp_path / "lex.txt"),
            tmp_path / "lang",
            words=["one", "four"],
            words_from="data/text",
        )
    prepare_lang(
        Lexicon.read(tmp_path / "lex.txt"),
        tmp_path / "lang",
        words=["one", "four"],
        grapheme_fallback=True,
    )
    assert "four F O U R" in (tmp_path / "lang" / "lexicon.txt").read_text()


def test_h_maps_each_state_entered_to_its_pdf(lang):
    H = G.make_h(lang)
    root = arcs(H, H.start)
    t = lang.phones["T"]
    first = [a for a in root if a[1] == t]
    assert first == [(lang.topo.pdf_of("T", 0) + 1, t, 0.0, first[0][3])]
    assert arcs(H, first[0][3]) == [(lang.topo.pdf_of("T", 1) + 1, 0, 0.0, H.start)]
    # disambiguation symbol #0 passes through after the pdfs
    assert (lang.topo.num_pdfs + 1, lang.phones["#0"], 0.0, H.start) in root


def test_training_graph_accepts_the_transcript_with_and_without_silence(lang):
    tm = TransitionModel(lang.topo)
    tg = G.training_graph(lang, lang.word_ids("two one", "t"), tm)
    for sil in (False, True):
        seq, sc = planted(lang, "two one", sil=sil)
        best = viterbi(tg, sc)
        assert [lang.word_of_id[w] for w in best.words] == ["two", "one"]
        assert (best.columns == seq).all()


def test_self_loop_costs_follow_the_transition_model(lang):
    tm = TransitionModel(lang.topo)
    tm.loop_prob[:] = 0.9
    tg = G.training_graph(lang, lang.word_ids("two", "t"), tm)
    seq, sc = planted(lang, "two", frames=4)
    best = viterbi(tg, sc)
    # 4 states x (3 loops + 1 exit), no silence at either end (each 0.5), acoustic cost 0
    expected = 4 * (-3 * math.log(0.9) - math.log(0.1)) - 2 * math.log(0.5)
    assert best.cost == pytest.approx(expected, abs=1e-3)


def test_hclg_from_grammar_recovers_planted_path_and_only_four_digits(lang, tmp_path):
    (tmp_path / "g.txt").write_text("# four digits\n<d> = one | two | three\n<main> = <d>{4}\n")
    hclg = G.make_hclg(lang, grammar_fst(tmp_path / "g.txt", lang), TransitionModel(lang.topo))
    seq, sc = planted(lang, "two one three one")
    best = viterbi(hclg, sc)
    assert [lang.word_of_id[w] for w in best.words] == ["two", "one", "three", "one"]
    rng = np.random.default_rng(0)
    for n_words in (1, 2, 3, 5, 6):  # planted paths of other lengths, and noise
        words = " ".join(rng.choice(["one", "two", "three"], n_words))
        _, sc = planted(lang, words)
        sc = sc + rng.normal(0, 2, sc.shape).astype(np.float32)
        best = viterbi(hclg, sc)
        assert best is None or len(best.words) == 4


@pytest.mark.parametrize(
    "text, what",
    [
        ("<main> = one (two\n", r"g.txt:1: missing '\)'"),
        ("<d> = one\n<main> = <d> |\n", r"g.txt:2: an empty alternative"),
        ("main = one\n", r"g.txt:1: a rule is '<name> = expansion'"),
        ("<main> = one four\n", r"g.txt:1: word 'four' is not in"),
        ("<main> = <x>\n", r"g.txt:1: rule <x> is not defined"),
        ("<main> = one <main>\n", r"g.txt:1: rule <main> refers to itself"),
    ],
)
def test_bad_grammar_names_file_and_line(lang, tmp_path, text, what):
    (tmp_path / "g.txt").write_text(text)
    with pytest.raises(SpeechseqError, match=what):
        grammar_fst(tmp_path / "g.txt", lang)


def test_grammar_optional_and_repeated_items(lang, tmp_path):
    (tmp_path / "g.txt").write_text("<main> = [three] (one | two)+\n")
    hclg = G.make_hclg(lang, grammar_fst(tmp_path / "g.txt", lang), TransitionModel(lang.topo))
    for words in ("one", "three two two one", "two"):
        _, sc = planted(lang, words)
        assert [lang.word_of_id[w] for w in viterbi(hclg, sc).words] == words.split()


def test_hclg_from_arpa_recovers_planted_path(lang, tmp_path):
    lm = train_ngram([["two", "one"]] * 20 + [["three"]] * 2, order=2)
    hclg = G.make_hclg(lang, G.g_from_arpa(lm, lang, "lm.arpa"), TransitionModel(lang.topo))
    seq, sc = planted(lang, "three two one")
    assert [lang.word_of_id[w] for w in viterbi(hclg, sc).words] == ["three", "two", "one"]


def test_trigram_g_has_a_state_per_kept_history_and_decodes(lang):
    lm = train_ngram(
        [["two", "one", "three"], ["one", "two"], ["three", "three", "one"]] * 3, order=3
    )
    g = G.g_from_arpa(lm, lang, "lm.arpa")
    histories = {h for h in (k[:-1] for n in (2, 3) for k in lm.ngrams(n)) if h}
    assert g.num_states >= len(histories)
    hclg = G.make_hclg(lang, g, TransitionModel(lang.topo))
    _, sc = planted(lang, "three three one two")
    assert [lang.word_of_id[w] for w in viterbi(hclg, sc).words] == "three three one two".split()


def test_lm_with_words_outside_the_lang_is_refused(lang):
    lm = train_ngram([["one", "four"]], order=2)
    with pytest.raises(
        SpeechseqError, match=r"lm.arpa: 1 LM word\(s\) are not in .*words.txt: four"
    ):
        G.g_from_arpa(lm, lang, "lm.arpa")
