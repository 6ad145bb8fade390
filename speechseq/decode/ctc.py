"""CTC decoding of one utterance's posteriors: greedy, and prefix beam search with an
optional word n-gram LM and lexicon constraint.

Every function takes ``log_probs: [T, V]``, the natural-log CTC posteriors of one utterance
(already cut to its length), with unit 0 the blank unless told otherwise.

Prefix beam search (Hannun et al. 2014, "First-pass large vocabulary continuous speech
recognition using bi-directional recurrent DNNs") keeps, for every prefix (collapsed unit
sequence), the log probability of all paths that produce it ending in blank (``p_b``) and
ending in its last unit (``p_nb``). A repeated unit extends the prefix only after a blank.

What is supported:

- **char / phone units with a word-boundary unit** (``word_boundary``, e.g. ``|``): a word ends
  when a prefix emits the boundary unit, or at the end of the utterance. A word LM (``lm``)
  scores it then; a lexicon trie (``lexicon_trie``) keeps every partial word on a path of the
  trie, and lets the boundary (or the end) close a word only at a node that ends a word.
  A boundary with no word before it (leading or doubled ``|``) is allowed and scores nothing.
- **BPE units** (no boundary unit; a word starts at a piece beginning with ``▁``): the
  unconstrained search, and the word LM when ``word_start_units`` (the ids of the ``▁``
  pieces) and ``units_to_word`` are given: a word is scored when the next word starts, and
  the last word at the end. No lexicon constraint for BPE (a word has many segmentations).

Scores: ``Hypothesis.score = am_score + lm_weight * lm_score + word_bonus * len(words)``
where ``am_score`` is the CTC log probability of the prefix (natural log, summed over its
paths) and ``lm_score`` the LM log probability converted to natural log (log10 × ln 10),
including ``</s>``. Prefixes are ranked by the same sum during the search; the LM only
counts completed words (no look-ahead into partial words).

Speed: per frame only the ``top_k`` most likely non-blank units above ``prune_logp`` are
tried as extensions, and a frame whose blank probability exceeds ``blank_skip`` only updates
the existing prefixes (no new prefix can gain more than 1 - blank_skip there). The inner loop
runs on Python floats and integer prefix ids: faster than numpy for small vocabularies.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np

from speechseq.errors import SpeechseqError
from speechseq.lm.ngram import NgramLM
from speechseq.text.lexicon import Lexicon

NEG_INF = float("-inf")
LN10 = math.log(10.0)  # log10 LM scores times this are natural-log scores


def greedy(log_probs: np.ndarray, blank: int = 0) -> list[int]:
    """Best-path decoding of ``log_probs [T, V]``: argmax per frame, repeats merged, blanks removed."""
    if len(log_probs) == 0:
        return []
    best = np.asarray(log_probs).argmax(axis=1).tolist()
    out: list[int] = []
    prev = -1
    for u in best:
        if u != prev and u != blank:
            out.append(u)
        prev = u
    return out


# ---------------------------------------------------------------------------------------------
# Lexicon trie


@dataclass
class TrieNode:
    children: dict[int, TrieNode] = field(default_factory=dict)  # unit id -> next node
    words: list[str] = field(default_factory=list)  # words whose spelling ends here (homophones)


@dataclass
class LexiconTrie:
    """The unit spellings of a vocabulary as a trie: root -> unit -> ... -> node ending words."""

    root: TrieNode
    num_words: int  # distinct words
    num_spellings: int  # (word, spelling) pairs

    def lookup(self, ids: Sequence[int]) -> list[str]:
        """Words spelled exactly ``ids`` (empty if none)."""
        node = self.root
        for u in ids:
            node = node.children.get(u)
            if node is None:
                return []
        return list(node.words)


def build_lexicon_trie(
    spellings: dict[str, list[list[int]]], blank: int = 0, word_boundary: int | None = None
) -> LexiconTrie:
    """Trie of ``spellings`` (word -> its unit-id sequences, e.g. ``Units.spellings(lexicon)``).

    Raises :class:`SpeechseqError` naming the word when a spelling is empty or contains the
    blank or the word-boundary unit.
    """
    root = TrieNode()
    n = 0
    for word, prons in spellings.items():
        for ids in prons:
            if not ids:
                raise SpeechseqError(
                    f"lexicon word '{word}': empty unit spelling — every word needs at least one "
                    "unit; fix the lexicon entry"
                )
            bad = [u for u in ids if u == blank or u == word_boundary]
            if bad:
                raise SpeechseqError(
                    f"lexicon word '{word}': spelling {list(ids)} contains the blank or "
                    f"word-boundary unit {bad[0]} — a word is spelled with ordinary units only; "
                    "fix the lexicon entry"
                )
            node = root
            for u in ids:
                node = node.children.setdefault(int(u), TrieNode())
            if word not in node.words:
                node.words.append(word)
            n += 1
    return LexiconTrie(root=root, num_words=len(spellings), num_spellings=n)


# ---------------------------------------------------------------------------------------------
# Prefix beam search


@dataclass
class Hypothesis:
    ids: list[int]  # collapsed unit ids (word-boundary units included, no blanks)
    score: float  # am_score + lm_weight * lm_score + word_bonus * len(words)
    am_score: float  # natural-log CTC probability of ids, summed over all its paths
    lm_score: float  # natural-log LM probability of words incl. </s> (0 without an LM)
    words: list[str] | None  # the words scored / found in the lexicon; None when not tracked


class _Ctx(NamedTuple):
    """Completed-word state of a prefix, shared by all prefixes that extend the same words."""

    bonus: (
        float  # lm_weight * lm_nats + word_bonus * len(words): added to the CTC score for ranking
    )
    lm_state: Any  # the LM state after the completed words
    lm_nats: float  # natural-log LM score of the completed words
    words: tuple[str, ...]  # completed words
    start: int  # position in the prefix where the word being spelled starts


def _lse(a: float, b: float) -> float:
    """log(exp(a) + exp(b)) for floats, -inf safe."""
    if a < b:
        a, b = b, a
    if b == NEG_INF:
        return a
    return a + math.log1p(math.exp(b - a))


def _candidates(
    log_probs: np.ndarray, blank: int, top_k: int, prune_logp: float
) -> list[list[int]]:
    """Per frame, the up-to-``top_k`` most likely non-blank units with log prob >= ``prune_logp``."""
    T, V = log_probs.shape
    masked = np.array(log_probs, dtype=np.float64, copy=True)
    masked[:, blank] = NEG_INF
    masked[masked < prune_logp] = NEG_INF
    k = min(top_k, V - 1)
    if k <= 0:
        return [[] for _ in range(T)]
    if k < V - 1:
        idx = np.argpartition(-masked, k - 1, axis=1)[:, :k]
    else:
        idx = np.broadcast_to(np.arange(V), (T, V))
    keep = np.take_along_axis(masked, idx, axis=1) > NEG_INF
    return [
        [int(u) for u, ok in zip(row, ok_row, strict=True) if ok]
        for row, ok_row in zip(idx.tolist(), keep.tolist(), strict=True)
    ]


class _WordTracker:
    """Word-level scoring of the search: names a completed word and adds its LM score."""

    def __init__(self, lm, lm_weight, word_bonus, trie, units_to_word):
        self.lm = lm
        self.lm_weight = lm_weight
        self.word_bonus = word_bonus
        self.root = trie.root if trie is not None else None
        self.units_to_word = units_to_word

    def begin(self) -> _Ctx:
        state = self.lm.begin_state() if self.lm is not None else None
        return _Ctx(0.0, state, 0.0, (), 0)

    def names(self, node: TrieNode | None, word_ids: Callable[[], Sequence[int]]) -> list[str]:
        """The words the units being spelled can be ([] if none: a non-word of the trie)."""
        if self.root is not None:
            return node.words
        return [self.units_to_word(word_ids())]

    def complete(self, ctx: _Ctx, names: Sequence[str], start: int) -> _Ctx:
        """``ctx`` with the best-scoring of ``names`` completed; the next word starts at ``start``."""
        state, lm_nats, name = ctx.lm_state, ctx.lm_nats, names[0]
        if self.lm is not None:
            best = None
            for candidate in names:
                lp10, new_state = self.lm.score(ctx.lm_state, candidate)
                if best is None or lp10 > best[0]:
                    best = (lp10, new_state, candidate)
            lm_nats += best[0] * LN10
            state, name = best[1], best[2]
        words = (*ctx.words, name)
        bonus = self.lm_weight * lm_nats + self.word_bonus * len(words)
        return _Ctx(bonus, state, lm_nats, words, start)

    def end(self, ctx: _Ctx) -> _Ctx:
        """``ctx`` with ``</s>`` scored."""
        if self.lm is None:
            return ctx
        lm_nats = ctx.lm_nats + self.lm.end_score(ctx.lm_state) * LN10
        bonus = self.lm_weight * lm_nats + self.word_bonus * len(ctx.words)
        return ctx._replace(bonus=bonus, lm_nats=lm_nats)


def prefix_beam_search(
    log_probs: np.ndarray,
    beam: int = 10,
    blank: int = 0,
    prune_logp: float = -10.0,
    word_boundary: int | None = None,
    lm=None,
    lm_weight: float = 0.5,
    word_bonus: float = 0.0,
    lexicon_trie: LexiconTrie | None = None,
    units_to_word: Callable[[Sequence[int]], str] | None = None,
    word_start_units: Collection[int] | None = None,
    top_k: int | None = None,
    blank_skip: float | None = 0.999,
) -> list[Hypothesis]:
    """CTC prefix beam search over ``log_probs [T, V]``; the ``beam`` best hypotheses, best first.

    ``prune_logp``: a unit is tried as an extension at a frame only if its natural-log
    posterior there is at least this. ``top_k``: at most this many units per frame
    (default ``max(beam, 4)``). ``blank_skip``: frames whose blank probability exceeds it
    only update existing prefixes (None: never skip).

    Word-level scoring (see the module docstring): ``lm`` with ``score(state, word) ->
    (log10_prob, state)``, ``begin_state()`` and ``end_score(state)``; the completed word is
    ``units_to_word(unit_ids)`` or, with ``lexicon_trie``, the trie's word (the best-scoring
    one when several words share a spelling). ``word_boundary`` is the id of the word
    separator unit (char/phone); ``word_start_units`` the ids of BPE pieces that start a word.
    With a lexicon trie, hypotheses that end inside a non-word are dropped, unless every
    hypothesis does (then they are kept, their unfinished word left out of ``words``).
    """
    log_probs = np.asarray(log_probs)
    if log_probs.ndim != 2:
        raise ValueError(f"log_probs must be [T, V], got shape {log_probs.shape}")
    T, V = log_probs.shape
    beam = max(int(beam), 1)
    top_k = max(beam, 4) if top_k is None else max(int(top_k), 1)
    if lexicon_trie is not None and word_boundary is None:
        raise SpeechseqError(
            "the lexicon constraint needs units with a word-boundary unit (char or phone units); "
            "decode BPE models without --lexicon"
        )
    if word_boundary is not None and word_start_units is not None:
        raise ValueError("give word_boundary (char/phone) or word_start_units (bpe), not both")
    words_by_unit = word_boundary is not None or word_start_units is not None
    track = lm is not None or lexicon_trie is not None
    if lm is not None and not words_by_unit:
        raise SpeechseqError(
            "a word LM needs to know where words end: pass word_boundary (char/phone units) or "
            "word_start_units (bpe pieces starting with '▁')"
        )
    if track and lexicon_trie is None and units_to_word is None:
        raise ValueError(
            "units_to_word is needed to name words for the LM when there is no lexicon"
        )
    tracker = _WordTracker(lm, lm_weight, word_bonus, lexicon_trie, units_to_word)
    root = tracker.root
    starts = frozenset(word_start_units) if word_start_units is not None else frozenset()
    skip_logp = math.log(blank_skip) if blank_skip is not None else math.inf

    # Every prefix ever made has an integer id (0: the empty prefix) and, per id: its parent,
    # last unit, length, completed-word context and trie node of the word being spelled.
    parent = [-1]
    last_unit = [-1]
    depth = [0]
    ctxs: list[_Ctx | None] = [tracker.begin() if track else None]
    nodes: list[TrieNode | None] = [root]
    child: dict[int, int] = {}  # prefix id * V + unit -> prefix id (-1: forbidden)

    def word_ids(pid: int) -> list[int]:
        """Units of the word prefix ``pid`` is spelling."""
        out = []
        for _ in range(depth[pid] - ctxs[pid].start):
            out.append(last_unit[pid])
            pid = parent[pid]
        return out[::-1]

    def word_context(pid: int, c: int) -> tuple[_Ctx, TrieNode | None] | None:
        """Context and trie node after appending ``c`` to prefix ``pid``; None if forbidden."""
        ctx, node, d = ctxs[pid], nodes[pid], depth[pid]
        in_word = d > ctx.start
        if c == word_boundary:
            if not in_word:  # a boundary with no word before it (leading or doubled)
                return ctx._replace(start=d + 1), node
            names = tracker.names(node, lambda: word_ids(pid))
            return (tracker.complete(ctx, names, d + 1), root) if names else None
        if c in starts and in_word:
            ctx = tracker.complete(ctx, tracker.names(node, lambda: word_ids(pid)), d)
        if root is not None:
            node = node.children.get(c)
            if node is None:
                return None
        return ctx, node

    def child_of(pid: int, c: int) -> int:
        key = pid * V + c
        cid = child.get(key)
        if cid is None:
            cid = -1
            ctx_node = word_context(pid, c) if track else (None, None)
            if ctx_node is not None:
                cid = len(parent)
                parent.append(pid)
                last_unit.append(c)
                depth.append(depth[pid] + 1)
                ctxs.append(ctx_node[0])
                nodes.append(ctx_node[1])
            child[key] = cid
        return cid

    rows = log_probs.tolist()
    cands = _candidates(log_probs, blank, top_k, prune_logp)
    beams: dict[int, tuple[float, float]] = {0: (0.0, NEG_INF)}  # prefix id -> (p_b, p_nb)
    for t in range(T):
        row = rows[t]
        lp_blank = row[blank]
        if lp_blank > skip_logp:
            # Blank-dominated frame: existing prefixes only (blank, or their last unit again).
            beams = {
                pid: (
                    _lse(pb, pnb) + lp_blank,
                    pnb + row[last_unit[pid]] if pid else NEG_INF,
                )
                for pid, (pb, pnb) in beams.items()
            }
            continue
        next_b: dict[int, float] = {}
        next_nb: dict[int, float] = {}
        for pid, (pb, pnb) in beams.items():
            total = _lse(pb, pnb)
            next_b[pid] = total + lp_blank  # only a prefix itself ends in a blank after it
            last = last_unit[pid]
            if pid:  # the last unit again, no blank between: same prefix
                s = pnb + row[last]
                old = next_nb.get(pid)
                next_nb[pid] = s if old is None else _lse(old, s)
            for c in cands[t]:
                cid = child_of(pid, c)
                if cid < 0:
                    continue
                # A repeated unit makes a new prefix only after a blank.
                s = (pb if c == last else total) + row[c]
                old = next_nb.get(cid)
                next_nb[cid] = s if old is None else _lse(old, s)
        scored = []
        for pid in next_b.keys() | next_nb.keys():
            pb = next_b.get(pid, NEG_INF)
            pnb = next_nb.get(pid, NEG_INF)
            rank = _lse(pb, pnb)
            if track:
                rank += ctxs[pid].bonus
            scored.append((rank, pid, pb, pnb))
        best = heapq.nlargest(beam, scored) if len(scored) > beam else scored
        beams = {pid: (pb, pnb) for _, pid, pb, pnb in best}

    # Close the last word of each prefix, add </s>, and sort.

    def ids_of(pid: int) -> list[int]:
        out = []
        while pid > 0:
            out.append(last_unit[pid])
            pid = parent[pid]
        return out[::-1]

    done: list[Hypothesis] = []  # hypotheses that end at a word end (or not tracked)
    unfinished: list[Hypothesis] = []
    # A prefix of probability 0 (e.g. a repeated unit with no frame left for the blank it needs)
    # fills the beam only when fewer possible prefixes exist; leave it out.
    possible = {pid: v for pid, v in beams.items() if _lse(*v) > NEG_INF} or beams
    for pid, (pb, pnb) in possible.items():
        am = _lse(pb, pnb)
        if not track:
            done.append(Hypothesis(ids_of(pid), am, am, 0.0, None))
            continue
        ctx, ok = ctxs[pid], True
        if depth[pid] > ctx.start:  # close the last word
            names = tracker.names(nodes[pid], lambda pid=pid: word_ids(pid))
            if names:
                ctx = tracker.complete(ctx, names, depth[pid])
            else:
                ok = False  # ends inside a non-word of the lexicon
        ctx = tracker.end(ctx)
        hyp = Hypothesis(ids_of(pid), am + ctx.bonus, am, ctx.lm_nats, list(ctx.words))
        (done if ok else unfinished).append(hyp)
    hyps = done or unfinished
    hyps.sort(key=lambda h: h.score, reverse=True)
    return hyps[:beam]


# -- the strategy object ------------------------------------------------------------------------


@dataclass(frozen=True)
class CTCDecodeOptions:
    beam: int = 1  # prefix beam width; 1 with no LM and no lexicon = greedy
    lm: str = ""  # word n-gram LM in ARPA format ("" = none)
    lexicon: str = ""  # Kaldi lexicon.txt: words only from it ("" = free spelling)
    lm_weight: float = 0.5  # weight of the LM's natural-log score
    word_bonus: float = 1.0  # added per word (only with an LM or a lexicon)

    @property
    def greedy(self) -> bool:
        return self.beam <= 1 and not self.lm and not self.lexicon

    def tag(self) -> str:
        """A name for a decode dir made with these options: ``greedy``,
        ``beam10``, ``beam10_lex-lexicon_lm-3gram_w0.5_b1.0``."""
        if self.greedy:
            return "greedy"
        parts = [f"beam{max(self.beam, 1)}"]
        if self.lexicon:
            parts.append(f"lex-{_stem(self.lexicon)}")
        if self.lm:
            parts.append(f"lm-{_stem(self.lm)}_w{self.lm_weight:g}_b{self.word_bonus:g}")
        elif self.lexicon:
            parts.append(f"b{self.word_bonus:g}")
        return "_".join(parts)


def _stem(path: str) -> str:
    name = path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    for ext in (".gz", ".arpa", ".txt"):
        name = name.removesuffix(ext)
    return name or "x"


@dataclass(frozen=True)
class Decoded:
    ids: list[int]  # unit ids of the best hypothesis
    text: str  # its words, space-separated


class CTCDecoder:
    """CTC greedy or prefix beam search (+ lexicon, word LM) over one utterance's posteriors.

    ``units`` is the model's unit set (:class:`speechseq.text.units.Units`); the LM and the
    lexicon are read once, so :meth:`with_weights` makes a decoder for another LM weight /
    word bonus without reading them again (for grids over cached posteriors).
    """

    def __init__(self, units, options: CTCDecodeOptions, _resources=None):
        self.units, self.options = units, options
        self.lm, self.trie = _resources if _resources is not None else self._load(units, options)

    @staticmethod
    def _load(units, o: CTCDecodeOptions):
        lm = NgramLM.read_arpa(o.lm) if o.lm else None
        trie = None
        if o.lexicon:
            if units.word_boundary is None:
                raise SpeechseqError(
                    f"--lexicon needs units with a word boundary (char or phone); this model uses {units.kind}"
                )
            trie = build_lexicon_trie(units.spellings(Lexicon.read(o.lexicon)))
        return lm, trie

    def with_weights(self, lm_weight: float, word_bonus: float) -> CTCDecoder:
        o = replace(self.options, lm_weight=lm_weight, word_bonus=word_bonus)
        return CTCDecoder(self.units, o, _resources=(self.lm, self.trie))

    def decode(self, log_probs: np.ndarray) -> Decoded:
        """Best hypothesis for ``log_probs: [T, V]``."""
        units, o = self.units, self.options
        if o.greedy:
            ids = greedy(log_probs, units.blank)
            return Decoded(ids, units.decode(ids))
        word_starts = set(units.word_start_units or ()) if units.word_boundary is None else None
        best = prefix_beam_search(
            log_probs,
            beam=max(o.beam, 1),
            blank=units.blank,
            word_boundary=units.word_boundary,
            lm=self.lm,
            lm_weight=o.lm_weight,
            word_bonus=o.word_bonus,
            lexicon_trie=self.trie,
            units_to_word=lambda ids: units.decode(list(ids)),
            word_start_units=word_starts,
        )[0]
        return Decoded(
            best.ids, " ".join(best.words) if best.words is not None else units.decode(best.ids)
        )
