"""Tied triphone states: frame contexts, tree growing on planted statistics, H o C o L with a
tree on the 3-word lexicon (planted paths decoded, contexts told apart), the tree's file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from speechseq.decode.graph import viterbi
from speechseq.errors import SpeechseqError
from speechseq.hybrid import graph as G
from speechseq.hybrid.align import Aligner, phone_spans, word_spans
from speechseq.hybrid.grammar import grammar_fst
from speechseq.hybrid.topo import TransitionModel
from speechseq.hybrid.tree import (
    ContextTree,
    TreeStats,
    build_tree,
    convert_alignment,
    frame_contexts,
    model_tree,
    phone_questions,
)


def test_frame_contexts_cross_words_and_tell_a_repeated_phone_apart(lang):
    topo = lang.topo  # 2 states per phone, 1 for SIL
    t, uw, sil = topo.pdf_of("T", 0), topo.pdf_of("UW", 0), topo.pdf_of("SIL", 0)
    t1, uw1 = topo.pdf_of("T", 1), topo.pdf_of("UW", 1)
    # SIL | T T' | UW UW' | UW UW' (a second UW: its first state entered again) | SIL
    ali = [sil, t, t1, uw, uw, uw1, uw, uw1, sil]
    ctx = frame_contexts(np.array(ali), topo.pdf_phone, topo.pdf_state)
    assert ctx == [
        ("SIL", "SIL", "T", 0),
        ("SIL", "T", "UW", 0),
        ("SIL", "T", "UW", 1),
        ("T", "UW", "UW", 0),
        ("T", "UW", "UW", 0),
        ("T", "UW", "UW", 1),
        ("UW", "UW", "SIL", 0),
        ("UW", "UW", "SIL", 1),
        ("UW", "SIL", "SIL", 0),
    ]


def planted_stats(lang, rng):
    """UW's state 0 sounds different after T (mean +3) than after TH or W; everything else one Gaussian."""
    stats = TreeStats(2)
    topo = lang.topo
    for left in ("T", "TH", "W"):
        x = rng.normal(0, 1, (400, 2)) + (3.0 if left == "T" else 0.0)
        stats.add([(left, "UW", "SIL", 0)] * len(x), x)
    for p in topo.phones:
        for s in range(topo.states[p]):
            if (p, s) != ("UW", 0):
                x = rng.normal(0, 1, (300, 2))
                stats.add([("SIL", p, "SIL", s)] * len(x), x)
    return stats


def test_tree_splits_on_the_context_that_matters_and_stops_at_max_leaves(lang):
    rng = np.random.default_rng(0)
    stats = planted_stats(lang, rng)
    qs = [frozenset(["T"]), frozenset(["TH"]), frozenset(["W"]), frozenset(["T", "TH"])]
    tree = build_tree(stats, lang.topo, qs, max_leaves=lang.topo.num_pdfs + 1)
    assert tree.width == 3 and tree.num_pdfs == lang.topo.num_pdfs + 1
    after_t = tree.pdf("T", "UW", "SIL", 0)
    assert after_t != tree.pdf("TH", "UW", "SIL", 0) == tree.pdf("W", "UW", None, 0)
    assert tree.pdf_phone[after_t] == "UW" and tree.pdf_state[after_t] == 0
    # unseen contexts still map to a leaf of their own root
    assert tree.pdf_phone[tree.pdf("AH", "UW", "N", 1)] == "UW"
    # no leaf to spare: the monophone-sized tree, one pdf per state
    mono_sized = build_tree(stats, lang.topo, qs, max_leaves=lang.topo.num_pdfs)
    assert mono_sized.num_pdfs == lang.topo.num_pdfs
    # a split needs min_frames on each side: 400 frames after T are not enough for 500
    assert (
        build_tree(stats, lang.topo, qs, max_leaves=99, min_frames=500).num_pdfs
        == lang.topo.num_pdfs
    )


def test_questions_cluster_phones_and_include_each_phone(lang):
    rng = np.random.default_rng(1)
    stats = TreeStats(2)
    for p in lang.topo.phones:
        centre = np.array([10.0, 0.0]) if p in ("T", "TH") else np.zeros(2)
        stats.add([("SIL", p, "SIL", 0)] * 50, rng.normal(0, 0.1, (50, 2)) + centre)
    qs = phone_questions(stats, list(lang.topo.phones))
    assert frozenset(["T", "TH"]) in qs
    assert all(frozenset([p]) in qs for p in lang.topo.phones)
    assert frozenset(lang.topo.phones) not in qs


def tri_tree(lang, rng=None):
    return build_tree(
        planted_stats(lang, rng or np.random.default_rng(0)),
        lang.topo,
        [frozenset(["T"]), frozenset(["TH"])],
        max_leaves=lang.topo.num_pdfs + 1,
    )


def planted_tri(lang, tree, words, frames=3):
    """The triphone pdf sequence of ``words`` (silence at both ends) and scores preferring it."""
    phones = ["SIL", *[p for w in words.split() for p in lang.lexicon.pronunciations(w)[0]], "SIL"]
    seq = []
    for j, p in enumerate(phones):
        left = phones[j - 1] if j else None
        right = phones[j + 1] if j + 1 < len(phones) else None
        seq += [
            tree.pdf(left, p, right, s) for s in range(lang.topo.states[p]) for _ in range(frames)
        ]
    sc = np.full((len(seq), tree.num_pdfs), -5.0, np.float32)
    sc[np.arange(len(seq)), seq] = 0.0
    return np.array(seq), sc


def test_hclg_with_a_tree_decodes_planted_triphone_paths(lang, tmp_path):
    tree = tri_tree(lang)
    (tmp_path / "g.txt").write_text("<main> = (one | two | three)+\n")
    hclg = G.make_hclg(lang, grammar_fst(tmp_path / "g.txt", lang), TransitionModel(tree), tree)
    for words in ("two two", "three two one", "one"):
        seq, sc = planted_tri(lang, tree, words)
        best = viterbi(hclg, sc)
        assert [lang.word_of_id[w] for w in best.words] == words.split()
        assert list(best.columns) == list(seq)


def test_alignment_with_a_tree_uses_the_context_dependent_state(lang):
    tree = tri_tree(lang)
    after_t = tree.pdf("T", "UW", None, 0)
    other = tree.pdf("W", "UW", None, 0)
    aligner = Aligner(lang, {"u": "two two"}, "text", tree)
    aligner.set_transitions(TransitionModel(tree))
    seq, sc = planted_tri(lang, tree, "two two")
    best = aligner.align("u", sc)
    assert list(best.columns) == list(seq)
    assert after_t in best.columns and other not in best.columns
    phones = phone_spans(best.columns, tree)
    assert [p for p, _, _ in phones] == ["SIL", "T", "UW", "T", "UW", "SIL"]
    # words over their phones (with C on the path the word labels come a phone early)
    assert word_spans(best, lang, tree) == [
        ("two", phones[1][1], phones[2][2]),
        ("two", phones[3][1], phones[4][2]),
    ]
    # the monophone alignment converted through the tree gives the same pdfs
    mono = np.array(
        [lang.topo.pdf_of(p, s) for p in ("SIL", "T", "UW", "T", "UW", "SIL")
         for s in range(lang.topo.states[p]) for _ in range(3)]
    )  # fmt: skip
    assert list(convert_alignment(mono, lang.topo, tree)) == list(seq)


def test_monophone_tree_numbers_pdfs_as_the_topology(lang):
    mono = ContextTree.monophone(lang.topo)
    assert mono.num_pdfs == lang.topo.num_pdfs
    assert all(
        mono.pdf("T", p, "W", s) == lang.topo.pdf_of(p, s)
        for p in lang.topo.phones
        for s in range(lang.topo.states[p])
    )


def test_tree_file_round_trip_and_bad_tree(lang, tmp_path):
    tree = tri_tree(lang)
    tree.save(tmp_path / "tree.json")
    back = model_tree(tmp_path, lang.topo)
    assert back.width == 3 and back.num_pdfs == tree.num_pdfs
    assert back.pdf("T", "UW", "SIL", 0) == tree.pdf("T", "UW", "SIL", 0)
    assert model_tree(tmp_path / "none", lang.topo).width == 1
    raw = json.loads((tmp_path / "tree.json").read_text())
    raw["roots"] = raw["roots"][1:]
    (tmp_path / "tree.json").write_text(json.dumps(raw))
    with pytest.raises(SpeechseqError, match=r"tree.json: the tree's phones and states differ"):
        model_tree(tmp_path, lang.topo)
    (tmp_path / "tree.json").write_text("{")
    with pytest.raises(SpeechseqError, match=r"tree.json: not a context tree"):
        model_tree(tmp_path, lang.topo)
