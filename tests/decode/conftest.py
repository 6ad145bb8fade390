"""Fixtures of the decoder tests (the 3-word lang and its HCLG are in tests/conftest.py)."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def graph_dir(lang, hclg, tmp_path):
    """A graph dir as speechseq mkgraph writes it, for the 3-word lang."""
    g = tmp_path / "graph"
    g.mkdir()
    hclg.write(str(g / "HCLG.fst"))
    (g / "words.txt").write_bytes((lang.path / "words.txt").read_bytes())
    info = {"lang_digest": lang.digest, "num_pdfs": lang.topo.num_pdfs}
    (g / "graph.json").write_text(json.dumps(info))
    return g
