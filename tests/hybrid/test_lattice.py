"""Lattices of a hybrid model through the CLI: a grid of LM weights and word bonuses from one
search, Kaldi text arks (the lattice code itself is tested in tests/decode/test_graph.py)."""

from __future__ import annotations

import gzip
import json

from tests.hybrid.helpers import ok, one_error


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
