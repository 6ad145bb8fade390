"""WFST search over a graph (decode/graph.py) on the hand-checked 3-word lang's HCLG: the lattice's
best path at LM weight 1 is the Viterbi path; rescoring at another LM weight / word bonus equals
searching a graph reweighted the same way; Kaldi's text form; GraphDecoder over a graph dir
(scaled likelihoods, lattices searched once for a grid, its errors) and lat.txt.gz."""

from __future__ import annotations

import gzip

import kaldifst
import numpy as np
import pytest

from speechseq.decode.graph import (
    GraphDecodeOptions,
    GraphDecoder,
    Hypothesis,
    lattice,
    load_graph,
    viterbi,
    write_lattices,
)
from speechseq.errors import SpeechseqError, UsageError


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


def decoder(lang, graph_dir, **kw) -> GraphDecoder:
    options = GraphDecodeOptions(graph=str(graph_dir), **kw)
    return GraphDecoder(options, np.zeros(lang.topo.num_pdfs), lang.digest)


def test_options_name_the_decode_dir():
    assert GraphDecodeOptions(graph="exp/graph_tg").tag() == "graph_graph_tg_ac0.1_beam13"
    o = GraphDecodeOptions(graph="g", acoustic_scale=0.5, beam=9.5, lattice=True, lattice_beam=6)
    assert o.tag() == "graph_g_ac0.5_beam9.5_lat6_lmwt1_wb0"
    o = GraphDecodeOptions(graph="g", lattice=True, lm_weight=2.5, word_bonus=-1)
    assert o.tag().endswith("_lat8_lmwt2.5_wb-1")


def test_the_graph_dir_is_read_with_its_words(lang, graph_dir):
    fst, words, info = load_graph(graph_dir)
    assert fst.num_states > 0 and info["num_pdfs"] == lang.topo.num_pdfs
    assert {words[lang.words[w]] for w in ("one", "two", "three")} == {"one", "two", "three"}
    assert words[0] == "<eps>" and len(words) == len(lang.words)


@pytest.mark.parametrize("missing", ["HCLG.fst", "graph.json"])
def test_a_dir_without_the_graph_is_one_error_saying_how_to_make_it(graph_dir, missing):
    (graph_dir / missing).unlink()
    with pytest.raises(SpeechseqError) as e:
        load_graph(graph_dir)
    assert str(e.value) == (
        f"{graph_dir}: not a graph dir (needs HCLG.fst and graph.json) — make one with "
        f"speechseq mkgraph LANG EXP --out {graph_dir}"
    )


def test_a_graph_of_another_lang_or_size_is_refused(lang, graph_dir):
    o = GraphDecodeOptions(graph=str(graph_dir))
    with pytest.raises(
        SpeechseqError, match=r"another lang \(digest .*\) than the model's \(abc\)"
    ):
        GraphDecoder(o, np.zeros(lang.topo.num_pdfs), "abc")
    n = lang.topo.num_pdfs
    with pytest.raises(SpeechseqError) as e:
        GraphDecoder(o, np.zeros(n + 1), lang.digest)
    assert str(e.value) == (
        f"{graph_dir}: the graph has {n} pdfs, the model {n + 1} — rebuild the graph for this model"
    )


def test_scores_are_scaled_log_likelihoods(lang, graph_dir):
    priors = np.log(np.linspace(1, 2, lang.topo.num_pdfs) / 10)
    dec = GraphDecoder(
        GraphDecodeOptions(graph=str(graph_dir), acoustic_scale=0.5), priors, lang.digest
    )
    post = noisy(lang, 0)
    np.testing.assert_allclose(
        dec.scores(post), 0.5 * (post - priors.astype(np.float32)), rtol=1e-6
    )


def test_decode_is_the_viterbi_path_and_a_lattice_at_weight_one_agrees(lang, hclg, graph_dir):
    plain = decoder(lang, graph_dir, acoustic_scale=1.0, beam=40)
    lat = decoder(lang, graph_dir, acoustic_scale=1.0, beam=40, lattice=True, lattice_beam=20)
    words = {i: w for w, i in lang.words.items()}
    for seed in range(4):
        post = noisy(lang, seed)
        best = viterbi(hclg, post, beam=40)
        expected = [words[i] for i in best.words]
        h = plain.decode(post)
        assert h.words == expected and h.text == " ".join(expected) and h.lattice is None
        assert h.cost == pytest.approx(best.cost, abs=1e-3)
        hl = lat.decode(post)
        assert hl.words == expected and hl.text == h.text and hl.lattice is not None
        assert hl.cost == pytest.approx(best.cost, abs=1e-3)


def test_a_grid_searches_each_utterance_once_and_rescores(lang, graph_dir, monkeypatch):
    import speechseq.decode.graph as graph_module

    calls = []
    real = graph_module.lattice
    monkeypatch.setattr(graph_module, "lattice", lambda *a, **k: calls.append(1) or real(*a, **k))
    base = decoder(lang, graph_dir, acoustic_scale=1.0, beam=60, lattice=True, lattice_beam=60)
    posts = [noisy(lang, s) for s in range(6)]
    first = [base.decode(p) for p in posts]
    assert len(calls) == 6
    assert [base.decode(p).lattice for p in posts] == [h.lattice for h in first]
    changed = 0
    for w, b in ((0.0, 0.0), (3.0, 0.0), (1.0, 4.0)):
        other = base.with_weights(w, b)
        assert (other.options.lm_weight, other.options.word_bonus) == (w, b)
        assert base.options.lm_weight == 1.0  # the base keeps its own options
        for p, h in zip(posts, first, strict=True):
            r = other.decode(p)
            assert r.lattice is h.lattice
            assert r.words == [
                {i: x for x, i in lang.words.items()}[i] for i in h.lattice.best_path(w, b)[0]
            ]
            changed += r.words != h.words
    assert len(calls) == 6 and changed >= 2
    # another array with the same values is another utterance: searched again
    base.decode(posts[0].copy())
    assert len(calls) == 7


def test_lm_weights_need_lattices(lang, graph_dir):
    with pytest.raises(UsageError) as e:
        decoder(lang, graph_dir).with_weights(2.0, 0.0)
    assert str(e.value) == (
        "--lm-weight / --word-bonus over a graph rescore lattices — add --lattice "
        "(the graph's LM weight is otherwise fixed at 1)"
    )
    d = decoder(lang, graph_dir).with_options(beam=5.0)
    assert d.options.beam == 5.0 and d.options.graph.endswith("graph")


@pytest.mark.parametrize("lat", [False, True])
def test_no_frames_or_no_surviving_path_is_an_empty_hypothesis(lang, graph_dir, lat):
    d = decoder(lang, graph_dir, lattice=lat)
    empty = np.zeros((0, lang.topo.num_pdfs), np.float32)
    assert d.decode(empty) == Hypothesis("", [], float("inf"))
    # a graph of one arc, so two frames cannot reach its final state
    fst = kaldifst.StdVectorFst()
    fst.add_state(), fst.add_state()
    fst.start = 0
    fst.add_arc(0, kaldifst.StdArc(1, 1, kaldifst.TropicalWeight(0.0), 1))
    fst.set_final(1, kaldifst.TropicalWeight(0.0))
    fst.write(str(graph_dir / "HCLG.fst"))
    d = decoder(lang, graph_dir, lattice=lat)
    word_1 = {i: w for w, i in lang.words.items()}[1]
    assert d.decode(noisy(lang, 1)[:1]).words == [word_1]  # one frame: the arc's word
    assert d.decode(noisy(lang, 1)[:2]) == Hypothesis("", [], float("inf"))


def test_lattices_file_is_a_gzipped_kaldi_text_ark_sorted_by_utterance(lang, graph_dir, tmp_path):
    d = decoder(lang, graph_dir, acoustic_scale=0.5, beam=40, lattice=True)
    hyps = {"u2": d.decode(noisy(lang, 2)), "u1": d.decode(noisy(lang, 1))}
    hyps["u0"] = Hypothesis("", [], float("inf"))
    write_lattices(tmp_path / "lat.txt.gz", hyps, 0.5)
    text = gzip.decompress((tmp_path / "lat.txt.gz").read_bytes()).decode()
    assert text == "u0\n\n" + hyps["u1"].lattice.kaldi_text("u1", 0.5) + hyps[
        "u2"
    ].lattice.kaldi_text("u2", 0.5)
