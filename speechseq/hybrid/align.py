"""Forced alignment over transcript graphs, the monophone GMM trainer, and alignment files.

Any scorer gives per-frame log-likelihoods ``[T, P]`` (a GMM's, or an LSTM's scaled
posteriors over priors); :class:`Aligner` keeps each transcript's graph (H o L o words,
self-loops added from the current transition model) and returns the best path: a pdf per
frame and the frame each word starts. From these come phone and word spans
(:func:`phone_spans`, :func:`word_spans`) and CTM lines.

Alignments are stored as Kaldi does after ``ali-to-pdf``: an ark of int32 vectors (one
pdf per 10 ms frame) keyed by utterance, ``ali.ark``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import kaldifst
import kaldiio
import numpy as np

from speechseq.data.kaldi_dir import CtmEntry
from speechseq.decode.graph import BestPath, viterbi
from speechseq.errors import SpeechseqError
from speechseq.fileio import atomic_write
from speechseq.hybrid import graph as G
from speechseq.hybrid.gmm import VAR_FLOOR, DiagGmm, GmmStats, equal_alignment, mix_up
from speechseq.hybrid.lang import SIL, Lang
from speechseq.hybrid.topo import TransitionModel
from speechseq.hybrid.tree import (
    ContextTree,
    accumulate_tree_stats,
    build_tree,
    convert_alignment,
    phone_questions,
    phone_segments,
)

ALIGN_BEAM = 100.0  # nats at acoustic scale 1 (Kaldi: beam 10 at scale 0.1)
RETRY_BEAM = 400.0


class Aligner:
    """Transcript graphs of a set of utterances, compiled once; :meth:`align` per utterance."""

    def __init__(
        self, lang: Lang, texts: dict[str, str], what: str, tree: ContextTree | None = None
    ):
        self.lang = lang
        self.tree = tree or ContextTree.monophone(lang.topo)
        self._base = {}
        for utt, text in texts.items():
            ids = lang.word_ids(text, f"{what}: utterance {utt}")
            if not ids:
                raise SpeechseqError(
                    f"{what}: utterance {utt} has an empty transcript — remove it (speechseq data fix)"
                )
            self._base[utt] = (ids, None)
        self._trans: TransitionModel | None = None
        self._graphs: dict[str, object] = {}
        self._pdfs: dict[str, np.ndarray] = {}

    def set_transitions(self, trans: TransitionModel) -> None:
        self._trans = trans
        self._graphs.clear()

    def graph(self, utt: str):
        g = self._graphs.get(utt)
        if g is None:
            g = self._graphs[utt] = G.training_graph(
                self.lang, self._base[utt][0], self._trans, self.tree
            )
        return g

    def pdfs(self, utt: str) -> np.ndarray:
        """The pdfs ``utt``'s transcript graph can visit (the same whatever the transitions)."""
        p = self._pdfs.get(utt)
        if p is None:
            g, labels = self.graph(utt), set()
            for s in range(g.num_states):
                it = kaldifst.ArcIterator(g, s)
                while not it.done:
                    labels.add(it.value.ilabel)
                    it.next()
            p = self._pdfs[utt] = np.asarray(sorted(x - 1 for x in labels if x > 0))
        return p

    def gmm_scores(self, utt: str, gmm: DiagGmm, x: np.ndarray) -> np.ndarray:
        """``gmm``'s log-likelihoods of ``x`` for the pdfs of ``utt``'s graph (0 elsewhere)."""
        return gmm.loglikes(x, self.pdfs(utt))

    @property
    def utts(self) -> list[str]:
        return list(self._base)

    def word_ids(self, utt: str) -> list[int]:
        return self._base[utt][0]

    def align(self, utt: str, loglikes: np.ndarray, scale: float = 1.0) -> BestPath | None:
        """Best path of ``utt``'s transcript through ``scale * loglikes``; None if none fits."""
        scores = scale * np.asarray(loglikes, dtype=np.float32)
        g = self.graph(utt)
        return viterbi(g, scores, ALIGN_BEAM) or viterbi(g, scores, RETRY_BEAM)


def phone_spans(pdfs: np.ndarray, pdf_map) -> list[tuple[str, int, int]]:
    """``(phone, start, end)`` (frames, end exclusive) of a pdf alignment: a phone starts
    where its first state is entered from another pdf, or where the phone changes.
    ``pdf_map``: the alignment's tree, or a lang (monophone pdfs)."""
    pm = pdf_map.topo if isinstance(pdf_map, Lang) else pdf_map
    return phone_segments(pdfs, pm.pdf_phone, pm.pdf_state)


def word_spans(
    best: BestPath, lang: Lang, tree: ContextTree | None = None
) -> list[tuple[str, int, int]]:
    """``(word, start, end)`` of a best path: its phones (:func:`phone_spans`) matched to the
    words' pronunciations in order, silence between words skipped, as Kaldi's
    lattice-align-words-lexicon does. Not from where the word labels sit on the path: with
    a context transducer a word's label comes one phone early (C reads a phone's right
    neighbour before it emits the phone), and determinization may move labels too."""
    phones = phone_spans(best.columns, tree or lang)
    words = [lang.word_of_id[w] for w in best.words]
    matched = _match_words(words, phones, lang)
    if matched is None:
        raise SpeechseqError(
            f"internal: the phones of a best path ({' '.join(p for p, _, _ in phones)}) do not spell "
            f"its words ({' '.join(words)}) with {lang.path}/lexicon.txt"
        )
    return matched


def _match_words(words, phones, lang: Lang):
    """Each word over the next phones that spell one of its pronunciations (silence skipped
    before it); None if no way through uses every phone."""
    out: list[tuple[str, int, int]] = []

    def walk(i: int, j: int) -> bool:
        while j < len(phones) and phones[j][0] == SIL:
            j += 1
        if i == len(words):
            return j == len(phones)
        for pron in lang.lexicon.pronunciations(words[i]):
            k = j + len(pron)
            if pron and k <= len(phones) and [p for p, _, _ in phones[j:k]] == pron:
                out.append((words[i], phones[j][1], phones[k - 1][2]))
                if walk(i + 1, k):
                    return True
                out.pop()
        return False

    return out if walk(0, 0) else None


def write_alignments(path: str | os.PathLike, ali: dict[str, np.ndarray]) -> None:
    """An ark of int32 pdf vectors, keyed by utterance (sorted), written atomically."""
    with atomic_write(path, "wb") as f:
        kaldiio.save_ark(f, {u: np.asarray(a, dtype=np.int32) for u, a in sorted(ali.items())})


def read_alignments(path: str | os.PathLike) -> dict[str, np.ndarray]:
    try:
        return {u: np.asarray(a, dtype=np.int64) for u, a in kaldiio.load_ark(str(path))}
    except FileNotFoundError:
        raise SpeechseqError(
            f"{path}: alignments not found — run the alignment step first"
        ) from None


def check_alignments(
    ali: dict[str, np.ndarray],
    num_frames: Callable[[str], int],
    utts: Iterable[str],
    path: str,
    num_pdfs: int,
) -> list[str]:
    """The utterances of ``utts`` that have an alignment; an alignment whose length differs
    from the features, or with a pdf outside the model, is an error naming it."""
    have = []
    for u in utts:
        a = ali.get(u)
        if a is None:
            continue
        if len(a) != num_frames(u):
            raise SpeechseqError(
                f"{path}: utterance {u} has {len(a)} aligned frames but {num_frames(u)} feature frames — "
                f"the alignments were made from other features; realign with the current features"
            )
        if len(a) and (a.min() < 0 or a.max() >= num_pdfs):
            raise SpeechseqError(
                f"{path}: utterance {u} has pdf {int(a.max())} outside 0..{num_pdfs - 1} — "
                f"the alignments belong to another lang; realign with this lang"
            )
        have.append(u)
    return have


def ctm_entries(utt: str, spans, shift_s: float = 0.01) -> list[CtmEntry]:
    return [CtmEntry(utt, "1", s * shift_s, (e - s) * shift_s, w) for w, s, e in spans]


# ---- bootstrapping from a phone CTC model --------------------------------------------------------


# How much of a blank frame's probability a phone may claim (silence claims all of it): below 1,
# blank stretches between words go to silence and words start at their first spike. On 40 dev
# utterances of a small digits corpus (a 2 x 96 BLSTM phone CTC model), word starts against
# the synthesiser's timings: mean error 81 ms with 1.0, 52 ms with 0.7, 45 ms with 0.5, 38 ms
# with 0.2 (the CTC model's own forced alignment: 42 ms); ends 122-127 ms with any.
PHONE_BLANK_WEIGHT = 0.2


def ctc_columns(lang: Lang, symbols: list[str], where: str) -> np.ndarray:
    """For each pdf of ``lang``, the column of a phone CTC model's output (``symbols``, the
    blank first) that scores it: the pdf's phone (matched case-insensitively); -1 for silence.
    A phone of the lang that the model lacks is an error naming it."""
    index = {sym.upper(): i for i, sym in enumerate(symbols)}
    cols, missing = [], []
    for ph in lang.topo.pdf_phone:
        if ph == SIL:
            cols.append(-1)
        elif ph.upper() in index:
            cols.append(index[ph.upper()])
        else:
            cols.append(-1)
            missing.append(ph)
    if missing:
        raise SpeechseqError(
            f"{where}: the CTC model has no unit for phone(s) {', '.join(sorted(set(missing)))} of "
            f"{lang.path} — bootstrap from a model trained with --units phone on the same lexicon"
        )
    return np.asarray(cols)


def ctc_pdf_scores(
    log_probs: np.ndarray, columns: np.ndarray, num_frames: int, blank: int, word_sep: int | None
) -> np.ndarray:
    """Per-frame pdf scores ``[num_frames, P]`` from a phone CTC model's log-posteriors ``[T', V]``
    (T' frames at the model's rate, repeated to the features' 10 ms rate): a phone's states score
    ``log(P(phone) + w P(blank))`` with ``w`` = :data:`PHONE_BLANK_WEIGHT`, silence
    ``log(P(word separator) + P(blank))``. CTC marks each phone with a spike and fills the rest
    with blanks, so a forced alignment over these scores puts every phone over its spike and
    silence over the separator's; blank frames inside a word go to its phones (by the transition
    probabilities), those between words to silence where the lexicon allows it."""
    lp = np.asarray(log_probs, dtype=np.float64)
    k = max(1, round(num_frames / max(len(lp), 1)))
    lp = np.repeat(lp, k, axis=0)[:num_frames]
    if len(lp) < num_frames:
        lp = np.concatenate([lp, np.repeat(lp[-1:], num_frames - len(lp), axis=0)])
    sil = lp[:, word_sep] if word_sep is not None else np.full(num_frames, -np.inf)
    cols = np.where(columns < 0, 0, columns)
    phone = np.logaddexp(lp[:, cols], np.log(PHONE_BLANK_WEIGHT) + lp[:, [blank]])
    silence = np.logaddexp(sil, lp[:, blank])[:, None]
    return np.where(columns[None, :] < 0, silence, phone).astype(np.float32)


# ---- the monophone GMM -------------------------------------------------------------------------


@dataclass(frozen=True)
class MonoOptions:
    num_iters: int = 10  # alignment + re-estimation passes after the flat start
    max_gauss: int = 400  # Gaussians in all, reached by splitting over the first iterations
    deltas: int = 2  # delta orders added to the features (2: deltas and delta-deltas)


def flat_start(
    lang: Lang, feats: dict[str, np.ndarray], aligner: Aligner
) -> tuple[DiagGmm, np.ndarray]:
    """One Gaussian per pdf from equal alignments (silence at both ends); returns it and the variance floor."""
    topo = lang.topo
    allx = np.concatenate(list(feats.values()))
    mean, var = allx.mean(axis=0), allx.var(axis=0)
    floor = VAR_FLOOR * var
    gmm = DiagGmm.single(np.tile(mean, (topo.num_pdfs, 1)), np.tile(var, (topo.num_pdfs, 1)))
    stats = GmmStats(gmm)
    for utt, x in feats.items():
        phones = [SIL]
        for w in aligner.word_ids(utt):
            phones += lang.lexicon.pronunciations(lang.word_of_id[w])[0]
        phones.append(SIL)
        seq = [topo.pdf_of(p, s) for p in phones for s in range(topo.states[p])]
        ali = equal_alignment(seq, len(x))
        if ali is not None:
            stats.add(x, ali)
    return stats.estimate(floor), floor


def train_mono(
    lang: Lang,
    feats: dict[str, np.ndarray],
    texts: dict[str, str],
    options: MonoOptions,
    what: str,
    log: Callable[[str], None] = print,
) -> tuple[DiagGmm, TransitionModel, dict[str, np.ndarray], list[dict]]:
    """Flat start, then ``num_iters`` of align / re-estimate / split. Returns the GMM, the
    transition model, the last alignments and one record per iteration (``loglike``: the
    mean per-frame log-likelihood of the aligned data, acoustic part; ``objective``: the
    Viterbi path's log-probability per frame with the transitions; ``gauss``; ``failed``)."""
    aligner = Aligner(lang, texts, what)
    trans = TransitionModel(lang.topo)
    aligner.set_transitions(trans)
    gmm, floor = flat_start(lang, feats, aligner)
    return viterbi_train(gmm, trans, aligner, feats, options, floor, what, "mono", log)


@dataclass(frozen=True)
class TriOptions:
    num_leaves: int = 300  # tied states (pdfs) at most: the tree's leaves
    num_iters: int = 10  # alignment + re-estimation passes after the tree is built
    max_gauss: int = 2000  # Gaussians in all, reached by splitting
    deltas: int = 2  # as the monophone GMM's features
    min_frames: float = 100.0  # a split leaves at least this many frames on each side


def train_tri(
    lang: Lang,
    feats: dict[str, np.ndarray],
    texts: dict[str, str],
    ali: dict[str, np.ndarray],
    source,
    options: TriOptions,
    what: str,
    log: Callable[[str], None] = print,
) -> tuple[ContextTree, DiagGmm, TransitionModel, dict[str, np.ndarray], list[dict]]:
    """Kaldi's train_deltas.sh, in outline: tree statistics of the frames of alignments
    ``ali`` (``source``: their pdf map, e.g. the monophone lang), phone questions, a tree of
    at most ``num_leaves`` leaves; one Gaussian per leaf from the converted alignments; then
    ``num_iters`` of align (over triphone transcript graphs) / re-estimate / split."""
    stats = accumulate_tree_stats(feats, ali, source)
    questions = phone_questions(stats, list(lang.topo.phones))
    tree = build_tree(stats, lang.topo, questions, options.num_leaves, options.min_frames)
    log(
        f"tri: tree of {tree.num_pdfs} leaves from {len(stats.index)} seen contexts, {len(questions)} questions"
    )
    converted = {u: convert_alignment(a, source, tree) for u, a in ali.items()}
    allx = np.concatenate(list(feats.values()))
    floor = VAR_FLOOR * allx.var(axis=0)
    dim = allx.shape[1]
    first = GmmStats(DiagGmm.single(np.zeros((tree.num_pdfs, dim)), np.ones((tree.num_pdfs, dim))))
    for u, a in converted.items():
        first.add(feats[u], a)
    gmm = first.estimate(floor)
    trans = TransitionModel(tree)
    trans.estimate(list(converted.values()))
    aligner = Aligner(lang, texts, what, tree)
    aligner.set_transitions(trans)
    gmm, trans, ali, history = viterbi_train(
        gmm, trans, aligner, feats, options, floor, what, "tri", log
    )
    return tree, gmm, trans, ali, history


def viterbi_train(gmm, trans, aligner, feats, options, floor, what, name, log):
    """``options.num_iters`` of align / re-estimate (Gaussians, transitions) / split towards
    ``options.max_gauss``; see :func:`train_mono` for what it returns."""
    history = []
    ali: dict[str, np.ndarray] = {}
    for it in range(1, options.num_iters + 1):
        ali, objective, frames, failed = {}, 0.0, 0, []
        for utt, x in feats.items():
            best = aligner.align(utt, aligner.gmm_scores(utt, gmm, x))
            if best is None:
                failed.append(utt)
                continue
            ali[utt] = best.columns
            objective -= best.cost
            frames += len(x)
        if not ali:
            raise SpeechseqError(
                f"{what}: no utterance could be aligned — check that the transcripts match the audio"
            )
        stats = GmmStats(gmm)
        for utt, a in ali.items():
            stats.add(feats[utt], a)
        trans.estimate(list(ali.values()))
        aligner.set_transitions(trans)
        gmm = stats.estimate(floor)
        record = {
            "iter": it,
            "loglike": round(stats.loglike / max(stats.frames, 1), 4),
            "objective": round(objective / max(frames, 1), 4),
            "gauss": gmm.num_gauss,
            "failed": len(failed),
        }
        history.append(record)
        log(
            f"{name} iter {it}: log-likelihood per frame {record['loglike']:.3f}, "
            f"objective {record['objective']:.3f}, {gmm.num_gauss} Gaussians, {len(failed)} not aligned"
        )
        if it < options.num_iters:
            target = gmm.num_gauss + max(0, options.max_gauss - gmm.num_gauss) // max(
                1, (options.num_iters * 2) // 3 - it + 1
            )
            pdf_occ = np.bincount(gmm.pdf, weights=stats.occ, minlength=gmm.num_pdfs)
            gmm = mix_up(gmm, min(target, options.max_gauss), pdf_occ)
    return gmm, trans, ali, history
