"""WFST search over a decoding graph (HCLG) with kaldi-decoder's FasterDecoder.

The graph's input labels are ``column + 1`` of a per-frame score matrix ``[T, P]`` (natural
log-likelihoods, larger is better), its output labels word ids of the ``words.txt`` beside
it. :func:`viterbi` returns the best path: the words and, per frame, the column it used —
what decoding and forced alignment both need. The hybrid task's scores are scaled
log-likelihoods ``acoustic_scale * (log p(s|x) - log p(s))``
(:meth:`GraphDecoder.scores`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import kaldi_decoder
import kaldifst
import numpy as np

from speechseq.errors import SpeechseqError


@dataclass(frozen=True)
class GraphDecodeOptions:
    graph: str = ""  # the graph dir (speechseq mkgraph): HCLG.fst, words.txt, graph.json
    beam: float = 13.0  # search beam (cost units: -log likelihood x acoustic scale)
    max_active: int = 7000  # most states kept per frame
    acoustic_scale: float = 0.1  # weight of the acoustic scores against the graph's costs

    def tag(self) -> str:
        return f"graph_{Path(self.graph).name}_ac{self.acoustic_scale:g}_beam{self.beam:g}"


class BestPath(NamedTuple):
    words: list[int]  # output labels (word ids), in order
    columns: np.ndarray  # int [T]: the score column (pdf) each frame used
    word_frames: list[int]  # frame at which each word's label was emitted
    cost: float  # graph + acoustic cost of the path


def viterbi(
    fst: kaldifst.StdVectorFst,
    scores: np.ndarray,
    beam: float = 13.0,
    max_active: int = 7000,
) -> BestPath | None:
    """Best path of ``fst`` through ``scores [T, P]`` (log-likelihoods, already scaled);
    None when no path reaches a final state within the beam."""
    scores = np.ascontiguousarray(scores, dtype=np.float32)
    if scores.ndim != 2 or len(scores) == 0:
        return None
    dec = kaldi_decoder.FasterDecoder(
        fst, kaldi_decoder.FasterDecoderOptions(beam=beam, max_active=max_active)
    )
    dec.decode(kaldi_decoder.DecodableCtc(scores))
    if not dec.reached_final():
        return None
    ok, lat = dec.get_best_path()
    if not ok:
        return None
    return _read_path(lat, len(scores))


def _read_path(lat, num_frames: int) -> BestPath:
    """The linear lattice of a best path, read from its text form (state order = path order)."""
    arcs: dict[int, tuple[int, int, int, float]] = {}
    start = lat.start
    for line in str(lat).splitlines():
        parts = line.split()
        if len(parts) >= 4:
            g, a = (float(x) for x in parts[4].split(",")) if len(parts) > 4 else (0.0, 0.0)
            arcs[int(parts[0])] = (int(parts[1]), int(parts[2]), int(parts[3]), g + a)
    words, word_frames, cols, cost = [], [], [], 0.0
    s = start
    while s in arcs:
        nxt, ilabel, olabel, c = arcs.pop(s)
        cost += c
        if olabel:
            words.append(olabel)
            word_frames.append(len(cols))
        if ilabel:
            cols.append(ilabel - 1)
        s = nxt
    if len(cols) != num_frames:
        raise SpeechseqError(f"internal: best path has {len(cols)} frames, scores {num_frames}")
    return BestPath(words, np.asarray(cols, dtype=np.int64), word_frames, cost)


class Hypothesis(NamedTuple):
    text: str
    words: list[str]
    cost: float


class GraphDecoder:
    """Decodes per-utterance log-posteriors ``[T, P]`` over a graph dir, with state priors."""

    def __init__(self, options: GraphDecodeOptions, log_priors: np.ndarray, lang_digest: str):
        self.options = options
        self.log_priors = np.asarray(log_priors, dtype=np.float32)
        self.fst, self.words, info = load_graph(options.graph)
        if info.get("lang_digest") != lang_digest:
            raise SpeechseqError(
                f"{options.graph}: the graph was built from another lang (digest {info.get('lang_digest')}) "
                f"than the model's ({lang_digest}) — rebuild it with speechseq mkgraph LANG EXP using the model's lang"
            )
        if int(info.get("num_pdfs", -1)) != len(self.log_priors):
            raise SpeechseqError(
                f"{options.graph}: the graph has {info.get('num_pdfs')} pdfs, the model {len(self.log_priors)} — "
                f"rebuild the graph for this model"
            )

    def with_options(self, **kw) -> GraphDecoder:
        out = object.__new__(GraphDecoder)
        out.__dict__.update(self.__dict__)
        out.options = replace(self.options, **kw)
        return out

    def scores(self, log_posteriors: np.ndarray) -> np.ndarray:
        """``acoustic_scale * (log p(s|x) - log p(s))``: scaled log-likelihoods ``[T, P]``."""
        return self.options.acoustic_scale * (np.asarray(log_posteriors) - self.log_priors)

    def decode(self, log_posteriors: np.ndarray) -> Hypothesis:
        o = self.options
        best = viterbi(self.fst, self.scores(log_posteriors), o.beam, o.max_active)
        if best is None:
            return Hypothesis("", [], float("inf"))
        words = [self.words[i] for i in best.words]
        return Hypothesis(" ".join(words), words, best.cost)


def load_graph(graph_dir: str | os.PathLike) -> tuple[kaldifst.StdVectorFst, dict[int, str], dict]:
    """``(HCLG, {word id: word}, graph.json)`` of a graph dir made by speechseq mkgraph."""
    g = Path(graph_dir)
    if not (g / "HCLG.fst").is_file() or not (g / "graph.json").is_file():
        raise SpeechseqError(
            f"{g}: not a graph dir (needs HCLG.fst and graph.json) — make one with speechseq mkgraph LANG EXP --out {g}"
        )
    info = json.loads((g / "graph.json").read_text())
    words = {}
    for line in (g / "words.txt").read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) == 2:
            words[int(parts[1])] = parts[0]
    return kaldifst.StdVectorFst.read(str(g / "HCLG.fst")), words, info
