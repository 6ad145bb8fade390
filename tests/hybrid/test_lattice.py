"""Lattices over a graph (decode/graph.py): the best path at LM weight 1 is the Viterbi path;
rescoring at another LM weight / word bonus equals searching a graph reweighted the same way;
Kaldi's text form; through the CLI, a grid of LM weights from one search."""

from __future__ import annotations

import gzip
import json

import kaldifst
import numpy as np
import pytest

from speechseq.decode.graph import lattice, viterbi
from tests.hybrid.helpers import ok, one_error


def noisy(lang, seed: int) -> np.ndarray:
    """Scores of a random word string, blurred so that the graph's costs matter."""
    rng = np.random.default_rng(seed)
    words = rng.choice(["one", "two", "three"], rng.integers(1, 4))
    topo = lang.topo
    phones = [p for w in words for p in lang.lexicon.pronunciations(w)[0]]
    seq = [topo.pdf_of(p, s) for p in phones for s in range(topo.states[p]) for _ in range(3)]
    sc = np.full((len(seq), topo.num_pdfs), -2.0, np.float32)
    sc[np.arange(len(seq)), seq] = 0.0
    return sc + rng.normal(0, 1.5, sc.shape).astype(np.float32)


def reweighted(fst: kaldifst.StdVectorFst, lm_weight: float, word_bonus: float):
    """The oracle: a copy of the graph with every cost times lm_weight, minus the bonus per word."""
    out = kaldifst.StdVectorFst()
    for _ in range(fst.num_states):
        out.add_state()
    out.start = fst.start
    for s in range(fst.num_states):
        it = kaldifst.ArcIterator(fst, s)
        while not it.done:
            a = it.value
            w = lm_weight * float(a.weight.value) - word_bonus * (a.olabel != 0)
            out.add_arc(
                s, kaldifst.StdArc(a.ilabel, a.olabel, kaldifst.TropicalWeight(w), a.nextstate)
            )
            it.next()
        final = float(fst.final(s).value)
        if np.isfinite(final):
            out.set_final(s, kaldifst.TropicalWeight(lm_weight * final))
    return out


def test_lattice_best_path_at_weight_one_is_the_viterbi_path(lang, hclg):
    for seed in range(8):
        sc = noisy(lang, seed)
        best = viterbi(hclg, sc, beam=40)
        words, cost = lattice(hclg, sc, beam=40, lattice_beam=20).best_path()
        assert words == best.words
        assert cost == pytest.approx(best.cost, abs=1e-3)


def test_rescoring_equals_searching_a_reweighted_graph(lang, hclg):
    changed = 0
    for seed in range(8):
        sc = noisy(lang, seed)
        lat = lattice(hclg, sc, beam=60, lattice_beam=60)
        base = lat.best_path()[0]
        for w, b in ((0.0, 0.0), (0.3, 0.0), (3.0, 0.0), (1.0, 4.0), (1.0, -4.0), (2.0, 1.5)):
            words, cost = lat.best_path(w, b)
            oracle = viterbi(reweighted(hclg, w, b), sc, beam=60)
            assert words == oracle.words, (seed, w, b)
            assert cost == pytest.approx(oracle.cost, abs=1e-3)
            changed += words != base
    assert changed >= 3  # the weights do move the best path: the test could fail


def test_kaldi_text_form_unscales_the_acoustic_costs(lang, hclg):
    sc = noisy(lang, 3)
    lat = lattice(hclg, sc, beam=40, lattice_beam=10)
    text = lat.kaldi_text("utt1", acoustic_scale=0.25)
    lines = text.rstrip("\n").split("\n")
    assert lines[0] == "utt1" and text.endswith("\n\n")
    arcs = [x.split() for x in lines[1:] if len(x.split()) == 5]
    finals = [x.split() for x in lines[1:] if len(x.split()) == 2]
    assert len(arcs) == len(lat.src) and len(finals) == len(lat.finals)
    ac = np.array([float(a[4].split(",")[1]) for a in arcs])
    np.testing.assert_allclose(ac * 0.25, lat.acoustic, rtol=1e-4, atol=1e-4)


def test_decode_lattice_grid_through_the_cli(hybrid, digits_corpus):
    exp, d = hybrid / "exp", digits_corpus
    ok(["mkgraph", hybrid / "lang", exp, "--lm", hybrid / "lm.arpa", "--out", exp / "lgraph"])
    ok(["decode", exp, d / "test", "--graph", exp / "lgraph", "--device", "cpu",
        "--out", hybrid / "plain"])  # fmt: skip
    out = ok(["decode", exp, d / "test", "--graph", exp / "lgraph", "--device", "cpu",
              "--lattice", "--lm-weight", "1,4", "--word-bonus", "0,3"])  # fmt: skip
    dirs = sorted(exp.glob("decode_test_graph_lgraph_*_lat8_*"))
    assert [p.name.split("_lat8_")[1] for p in dirs] == [
        "lmwt1_wb0", "lmwt1_wb3", "lmwt4_wb0", "lmwt4_wb3"
    ]  # fmt: skip
    assert out.count("%WER") == 4
    # the point (1, 0) is the plain search's answer; the lattices are Kaldi text arks
    assert (dirs[0] / "hyp.txt").read_text() == (hybrid / "plain" / "hyp.txt").read_text()
    lat = gzip.decompress((dirs[0] / "lat.txt.gz").read_bytes()).decode()
    utts = [b.split("\n", 1)[0] for b in lat.strip("\n").split("\n\n")]
    assert utts == sorted(utts)
    assert json.loads((dirs[0] / "results.json").read_text())["options"]["lattice"] is True
    assert len(utts) == len((d / "test" / "text").read_text().splitlines())
    # a bigger word bonus never gives fewer words
    words = [
        sum(len(x.split()) - 1 for x in (p / "hyp.txt").read_text().splitlines()) for p in dirs
    ]
    assert words[1] >= words[0] and words[3] >= words[2]


def test_lm_weight_over_a_graph_without_lattice_is_a_usage_error(hybrid, digits_corpus):
    exp = hybrid / "exp"
    ok(["mkgraph", hybrid / "lang", exp, "--lm", hybrid / "lm.arpa", "--out", exp / "ugraph"])
    one_error(["decode", exp, digits_corpus / "test", "--graph", exp / "ugraph",
               "--lm-weight", "1,2"], 2, "add --lattice")  # fmt: skip
    one_error(["decode", exp, digits_corpus / "test", "--lattice"], 2, "add --graph")
