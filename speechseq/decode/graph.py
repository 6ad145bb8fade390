"""WFST search over a decoding graph (HCLG) with kaldi-decoder's FasterDecoder.

The graph's input labels are ``column + 1`` of a per-frame score matrix ``[T, P]`` (natural
log-likelihoods, larger is better), its output labels word ids of the ``words.txt`` beside
it. :func:`viterbi` returns the best path: the words and, per frame, the column it used —
what decoding and forced alignment both need. The hybrid task's scores are scaled
log-likelihoods ``acoustic_scale * (log p(s|x) - log p(s))``
(:meth:`GraphDecoder.scores`).
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import kaldi_decoder
import kaldifst
import numpy as np

from speechseq.errors import SpeechseqError, UsageError
from speechseq.fileio import atomic_write


@dataclass(frozen=True)
class GraphDecodeOptions:
    graph: str = ""  # the graph dir (speechseq mkgraph): HCLG.fst, words.txt, graph.json
    beam: float = 13.0  # search beam (cost units: -log likelihood x acoustic scale)
    max_active: int = 7000  # most states kept per frame
    acoustic_scale: float = 0.1  # weight of the acoustic scores against the graph's costs
    lattice: bool = False  # keep a lattice per utterance (LatticeSimpleDecoder) and rescore it
    lattice_beam: float = 8.0  # with lattice: keep paths within this cost of the best one
    # with lattice: scale of the graph's costs (LM, lexicon, transitions) against the acoustic
    # costs, which stay at acoustic_scale (Kaldi's LMWT = lm_weight / acoustic_scale)
    lm_weight: float = 1.0
    word_bonus: float = 0.0  # with lattice: taken off a path's cost per word (Kaldi's word
    # insertion penalty with the sign turned: a bonus > 0 favours more words)

    def tag(self) -> str:
        tag = f"graph_{Path(self.graph).name}_ac{self.acoustic_scale:g}_beam{self.beam:g}"
        if self.lattice:
            tag += f"_lat{self.lattice_beam:g}_lmwt{self.lm_weight:g}_wb{self.word_bonus:g}"
        return tag


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
    opts = kaldi_decoder.FasterDecoderOptions(beam=beam, max_active=max_active)
    dec = _search(kaldi_decoder.FasterDecoder(fst, opts), scores)
    if dec is None or not dec.reached_final():
        return None
    ok, lat = dec.get_best_path()
    if not ok:
        return None
    return _read_path(lat, len(scores))


def _search(dec, scores: np.ndarray):
    """``dec`` (a kaldi-decoder decoder) after searching ``scores [T, P]``; None for no frames."""
    scores = np.ascontiguousarray(scores, dtype=np.float32)
    if scores.ndim != 2 or len(scores) == 0:
        return None
    dec.decode(kaldi_decoder.DecodableCtc(scores))
    return dec


def _read_path(lat, num_frames: int) -> BestPath:
    """The linear lattice of a best path, read from its text form (state order = path order)."""
    arcs: dict[int, tuple[int, int, int, float]] = {}
    finals: dict[int, float] = {}
    start = lat.start
    for line in str(lat).splitlines():
        parts = line.split()
        if len(parts) >= 4:
            g, a = (float(x) for x in parts[4].split(",")) if len(parts) > 4 else (0.0, 0.0)
            arcs[int(parts[0])] = (int(parts[1]), int(parts[2]), int(parts[3]), g + a)
        elif parts:  # the final state, with its cost when not zero
            finals[int(parts[0])] = (
                sum(float(x) for x in parts[1].split(",")) if len(parts) > 1 else 0.0
            )
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
    cost += finals.get(s, 0.0)
    if len(cols) != num_frames:
        raise SpeechseqError(f"internal: best path has {len(cols)} frames, scores {num_frames}")
    return BestPath(words, np.asarray(cols, dtype=np.int64), word_frames, cost)


class RawLattice(NamedTuple):
    """A raw lattice read once from kaldi-decoder: per arc ``src, dst, ilabel, olabel`` and
    its ``graph`` / ``acoustic`` costs (the acoustic cost as searched, i.e. already times the
    acoustic scale); ``finals``: state -> (graph, acoustic) final cost."""

    start: int
    src: np.ndarray  # int [A]
    dst: np.ndarray  # int [A]
    ilabel: np.ndarray  # int [A]: score column + 1, 0 = epsilon
    olabel: np.ndarray  # int [A]: word id, 0 = epsilon
    graph: np.ndarray  # float [A]
    acoustic: np.ndarray  # float [A]
    finals: dict[int, tuple[float, float]]

    @staticmethod
    def parse(lat: kaldifst.Lattice) -> RawLattice:
        rows, finals = [], {}
        for line in str(lat).splitlines():
            parts = line.split()
            if len(parts) >= 4:
                g, a = (float(x) for x in parts[4].split(",")) if len(parts) > 4 else (0.0, 0.0)
                rows.append((int(parts[0]), int(parts[1]), int(parts[2]), int(parts[3]), g, a))
            elif parts:  # a final state; OpenFst prints a state without arcs as not final
                g, a = (float(x) for x in parts[1].split(",")) if len(parts) > 1 else (0.0, 0.0)
                if np.isfinite(g + a):
                    finals[int(parts[0])] = (g, a)
        cols = list(zip(*rows, strict=True)) if rows else [()] * 6
        ints = [np.asarray(c, dtype=np.int64) for c in cols[:4]]
        floats = [np.asarray(c, dtype=np.float64) for c in cols[4:]]
        return RawLattice(lat.start, *ints, *floats, finals)

    def best_path(self, lm_weight: float = 1.0, word_bonus: float = 0.0) -> tuple[list[int], float]:
        """Word ids of the best path with graph costs times ``lm_weight`` and ``word_bonus``
        taken off per word, and that path's total cost; ``([], inf)`` for an empty lattice."""
        if not self.finals:
            return [], float("inf")
        graph = lm_weight * self.graph - word_bonus * (self.olabel != 0)
        fst = kaldifst.Lattice()
        last = max(
            int(self.src.max(initial=0)), int(self.dst.max(initial=0)), self.start, *self.finals
        )
        for _ in range(last + 1):
            fst.add_state()
        fst.start = self.start
        for s, d, i, o, g, a in zip(
            self.src.tolist(), self.dst.tolist(), self.ilabel.tolist(), self.olabel.tolist(),
            graph.tolist(), self.acoustic.tolist(), strict=True,
        ):  # fmt: skip
            fst.add_arc(s, kaldifst.LatticeArc(i, o, kaldifst.LatticeWeight(g, a), d))
        for s, (g, a) in self.finals.items():
            fst.set_final(s, kaldifst.LatticeWeight(lm_weight * g, a))
        ok, _, words, weight = kaldifst.get_linear_symbol_sequence(kaldifst.shortest_path(fst))
        if not ok:
            raise SpeechseqError("internal: the best path of a lattice is not linear")
        return list(words), float(weight.value1 + weight.value2)

    def kaldi_text(self, key: str, acoustic_scale: float) -> str:
        """Kaldi's text form of a Lattice (``lattice-copy ark,t:``) under ``key``, with the
        acoustic costs unscaled as Kaldi's decoders write them (input labels are score
        columns + 1, not transition ids)."""
        inv = 1.0 / acoustic_scale if acoustic_scale else 1.0
        lines = [key]
        for s, d, i, o, g, a in zip(
            self.src.tolist(), self.dst.tolist(), self.ilabel.tolist(), self.olabel.tolist(),
            self.graph.tolist(), self.acoustic.tolist(), strict=True,
        ):  # fmt: skip
            lines.append(f"{s} {d} {i} {o} {g:.6g},{a * inv:.6g}")
        lines += [f"{s} {g:.6g},{a * inv:.6g}" for s, (g, a) in sorted(self.finals.items())]
        return "\n".join(lines) + "\n\n"


def lattice(
    fst: kaldifst.StdVectorFst, scores: np.ndarray, beam: float = 13.0, lattice_beam: float = 8.0
) -> RawLattice | None:
    """The raw lattice of ``fst`` through ``scores [T, P]`` (scaled log-likelihoods), or None
    when no path reaches a final state within the beam (the decoder would otherwise hand back
    the partial paths of the last frame, as Kaldi's with --allow-partial: words that need not
    make a sentence of the graph)."""
    config = kaldi_decoder.LatticeSimpleDecoderConfig(beam=beam, lattice_beam=lattice_beam)
    dec = _search(kaldi_decoder.LatticeSimpleDecoder(fst, config), scores)
    if dec is None or not np.isfinite(dec.final_relative_cost()):
        return None
    ok, lat = dec.get_raw_lattice()
    if not ok or lat.num_states == 0:
        return None
    return RawLattice.parse(lat)


class Hypothesis(NamedTuple):
    text: str
    words: list[str]
    cost: float
    lattice: RawLattice | None = None  # the utterance's lattice, with lattice=True
    final: bool = True  # False: no path reached a final state within the beam (text empty)


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

        self._lattices: dict[int, tuple[np.ndarray, RawLattice | None]] = {}

    def with_options(self, **kw) -> GraphDecoder:
        """The same decoder with other options; lattices already made are shared, so a grid of
        LM weights searches each utterance once."""
        out = object.__new__(GraphDecoder)
        out.__dict__.update(self.__dict__)
        out.options = replace(self.options, **kw)
        return out

    def with_weights(self, lm_weight: float, word_bonus: float) -> GraphDecoder:
        if not self.options.lattice:
            raise UsageError(
                "--lm-weight / --word-bonus over a graph rescore lattices — add --lattice "
                "(the graph's LM weight is otherwise fixed at 1)"
            )
        return self.with_options(lm_weight=lm_weight, word_bonus=word_bonus)

    def scores(self, log_posteriors: np.ndarray) -> np.ndarray:
        """``acoustic_scale * (log p(s|x) - log p(s))``: scaled log-likelihoods ``[T, P]``."""
        return self.options.acoustic_scale * (np.asarray(log_posteriors) - self.log_priors)

    def decode(self, log_posteriors: np.ndarray) -> Hypothesis:
        o = self.options
        if o.lattice:
            return self._decode_lattice(log_posteriors)
        best = viterbi(self.fst, self.scores(log_posteriors), o.beam, o.max_active)
        if best is None:
            return Hypothesis("", [], float("inf"), final=False)
        words = [self.words[i] for i in best.words]
        return Hypothesis(" ".join(words), words, best.cost)

    def _decode_lattice(self, log_posteriors: np.ndarray) -> Hypothesis:
        o = self.options
        cached = self._lattices.get(id(log_posteriors))
        if cached is None or cached[0] is not log_posteriors:
            lat = lattice(self.fst, self.scores(log_posteriors), o.beam, o.lattice_beam)
            cached = self._lattices[id(log_posteriors)] = (log_posteriors, lat)
        lat = cached[1]
        if lat is None:
            return Hypothesis("", [], float("inf"), final=False)
        ids, cost = lat.best_path(o.lm_weight, o.word_bonus)
        words = [self.words[i] for i in ids]
        return Hypothesis(" ".join(words), words, cost, lat)


def write_lattices(path: str | os.PathLike, hyps: dict, acoustic_scale: float) -> None:
    """``lat.txt.gz``: the decoded utterances' lattices in Kaldi's text ark form, sorted by id
    (read with ``lattice-copy "ark,t:gunzip -c lat.txt.gz|" ark:-``); an utterance with no
    surviving path gets an empty lattice."""
    text = "".join(
        hyps[u].lattice.kaldi_text(u, acoustic_scale) if hyps[u].lattice else f"{u}\n\n"
        for u in sorted(hyps)
    )
    with atomic_write(path, mode="wb", encoding=None) as f:
        f.write(gzip.compress(text.encode()))


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
