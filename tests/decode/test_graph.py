"""WFST search over a graph (decode/graph.py) on the hand-checked 3-word lang's HCLG: the lattice's
best path at LM weight 1 is the Viterbi path; rescoring at another LM weight / word bonus equals
searching a graph reweighted the same way; Kaldi's text form; GraphDecoder over a graph dir
(scaled likelihoods, lattices searched once for a grid, its errors) and lat.txt.gz."""

from __future__ import annotations

import gzip
import json

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
    failed = Hypothesis("", [], float("inf"), final=False)  # listed as no_final_state
    assert d.decode(empty) == failed
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
    assert d.decode(noisy(lang, 1)[:1]).final
    assert d.decode(noisy(lang, 1)[:2]) == failed


def test_lattices_file_is_a_gzipped_kaldi_text_ark_sorted_by_utterance(lang, graph_dir, tmp_path):
    d = decoder(lang, graph_dir, acoustic_scale=0.5, beam=40, lattice=True)
    hyps = {"u2": d.decode(noisy(lang, 2)), "u1": d.decode(noisy(lang, 1))}
    hyps["u0"] = Hypothesis("", [], float("inf"))
    write_lattices(tmp_path / "lat.txt.gz", hyps, 0.5)
    text = gzip.decompress((tmp_path / "lat.txt.gz").read_bytes()).decode()
    assert text == "u0\n\n" + hyps["u1"].lattice.kaldi_text("u1", 0.5) + hyps[
        "u2"
    ].lattice.kaldi_text("u2", 0.5)


def hand_lattice(dead_end: bool) -> kaldifst.Lattice:
    """Start 3; 3 -5-> 0 -> 1 (final, graph 2) and 1 -7-> 2 (final, graph 3), with either a
    dead end 0 -> 5 (the highest state is an arc's destination) or an unreachable 5 -> 0 (the
    highest is an arc's source)."""
    lat = kaldifst.Lattice()
    for _ in range(6):
        lat.add_state()
    lat.start = 3

    def arc(s, i, o, g, a, d):
        lat.add_arc(s, kaldifst.LatticeArc(i, o, kaldifst.LatticeWeight(g, a), d))

    arc(3, 2, 5, 0.5, 1.5, 0)
    arc(0, 3, 0, 0.0, 0.0, 1)
    arc(1, 0, 7, 0.25, 0.0, 2)
    if dead_end:
        arc(0, 1, 6, 0.0, 0.0, 5)
    else:
        arc(5, 1, 9, 0.0, 0.0, 0)
    lat.set_final(1, kaldifst.LatticeWeight(2.0, 0.5))
    lat.set_final(2, kaldifst.LatticeWeight(3.0, 0.0))
    return lat


@pytest.mark.parametrize("dead_end", [True, False])
def test_a_raw_lattice_is_read_arc_by_arc_and_rescored_by_hand(dead_end):
    from speechseq.decode.graph import RawLattice

    lat = RawLattice.parse(hand_lattice(dead_end))
    assert lat.start == 3
    extra = (0, 5, 1, 6) if dead_end else (5, 0, 1, 9)
    assert list(zip(lat.src, lat.dst, lat.ilabel, lat.olabel, strict=True)) == [
        (3, 0, 2, 5), (0, 1, 3, 0), *([extra] if dead_end else []), (1, 2, 0, 7),
        *([] if dead_end else [extra]),
    ]  # fmt: skip
    assert lat.src.dtype == np.int64 and lat.graph.dtype == np.float64
    pairs = zip(lat.src.tolist(), lat.dst.tolist(), strict=True)
    by_arc = dict(zip(pairs, zip(lat.graph, lat.acoustic, strict=True), strict=True))
    assert by_arc[(3, 0)] == (0.5, 1.5) and by_arc[(0, 1)] == (0.0, 0.0)
    assert by_arc[(1, 2)] == (0.25, 0.0)
    assert lat.finals == {1: (2.0, 0.5), 2: (3.0, 0.0)}
    # paths: [5] costs graph 2.5 + acoustic 2.0; [5, 7] graph 3.75 + acoustic 1.5
    assert lat.best_path() == ([5], pytest.approx(4.5))
    assert lat.best_path(0.5) == ([5], pytest.approx(3.25))
    assert lat.best_path(0.2) == ([5, 7], pytest.approx(2.25))
    assert lat.best_path(1.0, 1.0) == ([5, 7], pytest.approx(3.25))  # 5.25 - 2 < 4.5 - 1
    assert lat.best_path(1.0, -1.0) == ([5], pytest.approx(5.5))


def test_kaldi_text_of_a_hand_lattice():
    from speechseq.decode.graph import RawLattice

    lat = RawLattice.parse(hand_lattice(True))
    assert lat.kaldi_text("u", 0.5) == (
        "u\n3 0 2 5 0.5,3\n0 1 3 0 0,0\n0 5 1 6 0,0\n1 2 0 7 0.25,0\n1 2,1\n2 3,0\n\n"
    )
    # an acoustic scale of 0 leaves the costs as they are
    assert lat.kaldi_text("u", 0.0).splitlines()[1] == "3 0 2 5 0.5,1.5"
    assert lat.kaldi_text("u", 0.0).splitlines()[5] == "1 2,0.5"


def test_an_empty_lattice_has_no_best_path():
    from speechseq.decode.graph import RawLattice

    lat = kaldifst.Lattice()
    lat.add_state()
    lat.start = 0
    raw = RawLattice.parse(lat)
    assert len(raw.src) == 0 and raw.src.dtype == np.int64 and raw.finals == {}
    assert raw.best_path() == ([], float("inf"))
    lat.set_final(0, kaldifst.LatticeWeight(1.0, 2.0))
    assert RawLattice.parse(lat).best_path(2.0) == ([], pytest.approx(4.0))


def test_viterbi_reads_the_frames_words_and_cost_of_the_best_path():
    fst = kaldifst.StdVectorFst()
    for _ in range(3):
        fst.add_state()
    fst.start = 0
    fst.add_arc(0, kaldifst.StdArc(1, 0, kaldifst.TropicalWeight(0.5), 1))
    fst.add_arc(1, kaldifst.StdArc(2, 4, kaldifst.TropicalWeight(0.0), 2))
    fst.set_final(2, kaldifst.TropicalWeight(0.75))
    scores = np.array([[-0.25, -9.0], [-9.0, -1.0]])  # float64: converted for the decoder
    best = viterbi(fst, scores)
    assert best.words == [4] and best.word_frames == [1]
    assert best.columns.tolist() == [0, 1] and best.columns.dtype == np.int64
    assert best.cost == pytest.approx(0.5 + 0.75 + 0.25 + 1.0)
    assert viterbi(fst, scores[:1]) is None  # the final state is two frames away
    assert viterbi(fst, np.zeros((0, 2))) is None


def test_the_decoder_searches_with_its_options(lang, graph_dir, monkeypatch):
    import speechseq.decode.graph as graph_module

    calls = []
    real_viterbi, real_lattice = graph_module.viterbi, graph_module.lattice

    def viterbi_spy(fst, scores, beam, max_active):
        calls.append(("viterbi", beam, max_active))
        return real_viterbi(fst, scores, beam, max_active)

    def lattice_spy(fst, scores, beam, lattice_beam):
        calls.append(("lattice", beam, lattice_beam))
        return real_lattice(fst, scores, beam, lattice_beam)

    monkeypatch.setattr(graph_module, "viterbi", viterbi_spy)
    monkeypatch.setattr(graph_module, "lattice", lattice_spy)
    post = noisy(lang, 5)
    decoder(lang, graph_dir, beam=21.0, max_active=333).decode(post)
    d = decoder(lang, graph_dir, beam=22.0, lattice=True, lattice_beam=7.0)
    h = d.with_weights(1.0, 3.0).decode(post)
    assert calls == [("viterbi", 21.0, 333), ("lattice", 22.0, 7.0)]
    assert h.words == [
        {i: w for w, i in lang.words.items()}[i] for i in h.lattice.best_path(1.0, 3.0)[0]
    ]
    assert h.cost == pytest.approx(h.lattice.best_path(1.0, 3.0)[1])


def test_a_graph_json_without_pdf_count_is_refused(lang, graph_dir):
    (graph_dir / "graph.json").write_text(json.dumps({"lang_digest": lang.digest}))
    with pytest.raises(SpeechseqError) as e:
        decoder(lang, graph_dir)
    assert str(e.value).startswith(f"{graph_dir}: the graph has None pdfs, the model ")
    (graph_dir / "graph.json").write_text(json.dumps({"lang_digest": "d1", "num_pdfs": 1}))
    with pytest.raises(SpeechseqError) as e:
        decoder(lang, graph_dir)
    assert str(e.value) == (
        f"{graph_dir}: the graph was built from another lang (digest d1) than the model's "
        f"({lang.digest}) — rebuild it with speechseq mkgraph LANG EXP using the model's lang"
    )
