"""Tied context-dependent states: a phonetic decision tree per HMM state of each phone.

A context tree maps ``(left phone, phone, right phone, HMM state)`` to a pdf. The monophone
tree (:meth:`ContextTree.monophone`, context width 1) gives each state of each phone its own
pdf, numbered as :class:`~speechseq.hybrid.topo.Topology` numbers them, so every model trained
before triphones keeps its meaning. A triphone tree (width 3) is built as Kaldi's
``build-tree`` builds one, in outline (Young, Odell & Woodland 1994):

- statistics: from a state alignment, each frame gets its phone's left and right neighbour
  (across word boundaries; the utterance's edges count as silence) and its HMM state; frames
  are pooled per ``(left, phone, right, state)`` into counts, sums and sums of squares
  (:func:`accumulate_tree_stats`);
- questions: sets of phones found by clustering the phones top-down on their pooled means
  (Kaldi's ``cluster-phones``), plus every single phone (:func:`phone_questions`);
- growing: each ``(phone, state)`` is a root; the split anywhere that most raises the
  likelihood of the data under one diagonal Gaussian per leaf is made first, "is the left
  (right) phone in set Q", until ``max_leaves`` leaves or no split gains ``min_gain`` with at
  least ``min_frames`` frames each side (:func:`build_tree`). Silence is not split (its states
  stay context independent), as the stats of silence hardly depend on its neighbours.

The tree is stored as JSON (``tree.json``) in the model directories that use it; a model
directory without one is monophone. Written here rather than taken from a library: kaldifst
has Kaldi's graph operations but not its tree building, and no kept dependency builds trees.
"""

from __future__ import annotations

import heapq
import json
import math
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from speechseq.errors import SpeechseqError
from speechseq.fileio import atomic_write
from speechseq.hybrid.lang import SIL
from speechseq.hybrid.topo import Topology

LOG_2PI = math.log(2 * math.pi)
TREE_NAME = "tree.json"


class ContextTree:
    """Per-root decision trees; see the module docstring.

    ``roots[(phone, state)]`` is a node: ``int`` (a pdf id, a leaf) or
    ``[position, phone set, yes node, no node]`` with ``position`` 0 (left) or 2 (right)."""

    def __init__(self, topo: Topology, width: int, roots: dict[tuple[str, int], object]):
        if width not in (1, 3):
            raise SpeechseqError(f"internal: context width {width}; 1 or 3")
        self.topo, self.width, self.roots = topo, width, roots
        leaves: dict[int, tuple[str, int]] = {}
        for (phone, state), node in roots.items():
            for pdf in _leaves(node):
                leaves[pdf] = (phone, state)
        self.num_pdfs = len(leaves)
        if sorted(leaves) != list(range(self.num_pdfs)):
            raise SpeechseqError("internal: a context tree's pdfs are not 0..N-1")
        self.pdf_phone = [leaves[p][0] for p in range(self.num_pdfs)]
        self.pdf_state = [leaves[p][1] for p in range(self.num_pdfs)]

    @classmethod
    def monophone(cls, topo: Topology) -> ContextTree:
        return cls(
            topo, 1, {(p, s): topo.pdf_of(p, s) for p in topo.phones for s in range(topo.states[p])}
        )

    def pdf(self, left: str | None, phone: str, right: str | None, state: int) -> int:
        """The pdf of ``state`` of ``phone`` between ``left`` and ``right`` (None: the utterance's edge)."""
        node = self.roots[(phone, state)]
        ctx = (left or SIL, None, right or SIL)
        while not isinstance(node, int):
            pos, members, yes, no = node
            node = yes if ctx[pos] in members else no
        return node

    def to_json(self) -> dict:
        def enc(node):
            if isinstance(node, int):
                return node
            pos, members, yes, no = node
            return [pos, sorted(members), enc(yes), enc(no)]

        return {
            "width": self.width,
            "roots": [[p, s, enc(n)] for (p, s), n in self.roots.items()],
        }

    def save(self, path: str | os.PathLike) -> None:
        with atomic_write(path) as f:
            json.dump(self.to_json(), f)

    @classmethod
    def load(cls, topo: Topology, path: str | os.PathLike) -> ContextTree:
        try:
            raw = json.loads(Path(path).read_text())

            def dec(node):
                if isinstance(node, int):
                    return node
                pos, members, yes, no = node
                return [int(pos), frozenset(members), dec(yes), dec(no)]

            roots = {(str(p), int(s)): dec(n) for p, s, n in raw["roots"]}
            width = int(raw["width"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise SpeechseqError(f"{path}: not a context tree ({e}) — retrain the model") from None
        want = {(p, s) for p in topo.phones for s in range(topo.states[p])}
        if set(roots) != want:
            raise SpeechseqError(
                f"{path}: the tree's phones and states differ from the lang's topology — "
                "the model was trained with another lang; use that lang"
            )
        return cls(topo, width, roots)


def _leaves(node) -> Iterable[int]:
    if isinstance(node, int):
        yield node
    else:
        yield from _leaves(node[2])
        yield from _leaves(node[3])


def model_tree(model_dir: str | os.PathLike, topo: Topology) -> ContextTree:
    """The tree of a model directory: its ``tree.json``, or monophone when it has none."""
    path = Path(model_dir) / TREE_NAME
    return ContextTree.load(topo, path) if path.is_file() else ContextTree.monophone(topo)


# ---- statistics ------------------------------------------------------------------------------


class TreeStats:
    """Frame count, sum and sum of squares per ``(left, phone, right, state)``."""

    def __init__(self, dim: int):
        self.dim = dim
        self.index: dict[tuple[str, str, str, int], int] = {}
        self._n: list[float] = []
        self._s1: list[np.ndarray] = []
        self._s2: list[np.ndarray] = []

    def add(self, keys: list[tuple[str, str, str, int]], x: np.ndarray) -> None:
        """Frames ``x [T, D]``, one key each."""
        x = np.asarray(x, dtype=np.float64)
        ids = np.empty(len(keys), dtype=np.int64)
        for t, k in enumerate(keys):
            i = self.index.get(k)
            if i is None:
                i = self.index[k] = len(self._n)
                self._n.append(0.0)
                self._s1.append(np.zeros(self.dim))
                self._s2.append(np.zeros(self.dim))
            ids[t] = i
        for i in np.unique(ids):
            rows = x[ids == i]
            self._n[i] += len(rows)
            self._s1[i] += rows.sum(axis=0)
            self._s2[i] += (rows**2).sum(axis=0)

    def arrays(self) -> tuple[list[tuple[str, str, str, int]], np.ndarray, np.ndarray, np.ndarray]:
        keys = sorted(self.index, key=self.index.get)
        return keys, np.asarray(self._n), np.asarray(self._s1), np.asarray(self._s2)


def phone_segments(
    pdfs: np.ndarray, pdf_phone: list[str], pdf_state: list[int]
) -> list[tuple[str, int, int]]:
    """``(phone, start, end)`` (frames, end exclusive) of a pdf alignment: a phone starts
    where the phone changes or its first state is entered from another pdf."""
    spans: list[list] = []
    prev = -1
    for t, p in enumerate(np.asarray(pdfs).tolist()):
        ph = pdf_phone[p]
        if not spans or ph != spans[-1][0] or (pdf_state[p] == 0 and p != prev):
            spans.append([ph, t, t + 1])
        else:
            spans[-1][2] = t + 1
        prev = p
    return [tuple(s) for s in spans]


def frame_contexts(
    pdfs: np.ndarray, pdf_phone: list[str], pdf_state: list[int]
) -> list[tuple[str, str, str, int]]:
    """``(left, phone, right, state)`` of every frame of a pdf alignment (phones as
    :func:`phone_segments` finds them; the utterance's edges are silence)."""
    seq = np.asarray(pdfs).tolist()
    segs = phone_segments(seq, pdf_phone, pdf_state)
    out = []
    for j, (ph, start, end) in enumerate(segs):
        left = segs[j - 1][0] if j > 0 else SIL
        right = segs[j + 1][0] if j + 1 < len(segs) else SIL
        out += [(left, ph, right, pdf_state[seq[t]]) for t in range(start, end)]
    return out


def convert_alignment(pdfs: np.ndarray, source, tree: ContextTree) -> np.ndarray:
    """A pdf alignment of ``source`` (a tree or a topology: ``pdf_phone``, ``pdf_state``) in ``tree``'s pdfs."""
    ctx = frame_contexts(pdfs, source.pdf_phone, source.pdf_state)
    return np.asarray([tree.pdf(a, c, b, s) for a, c, b, s in ctx], dtype=np.int64)


def accumulate_tree_stats(
    feats: dict[str, np.ndarray], ali: dict[str, np.ndarray], source
) -> TreeStats:
    """Tree statistics of the aligned utterances (``source``: the alignment's pdf map)."""
    stats = None
    for utt, a in ali.items():
        x = feats[utt]
        if stats is None:
            stats = TreeStats(x.shape[1])
        stats.add(frame_contexts(a, source.pdf_phone, source.pdf_state), x)
    if stats is None:
        raise SpeechseqError("no aligned utterance to build the tree from — realign")
    return stats


# ---- questions and growing ---------------------------------------------------------------------


def _loglike(n: np.ndarray, s1: np.ndarray, s2: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """Log-likelihood of each pool's frames under its own diagonal Gaussian (ML estimate)."""
    n = np.asarray(n, dtype=np.float64)
    safe = np.maximum(n, 1e-10)[..., None]
    var = np.maximum(s2 / safe - (s1 / safe) ** 2, floor)
    d = s1.shape[-1]
    ll = -0.5 * n * (np.log(var).sum(axis=-1) + d * (1 + LOG_2PI))
    return np.where(n > 0, ll, 0.0)


def phone_questions(stats: TreeStats, phones: list[str]) -> list[frozenset[str]]:
    """Phone sets to ask about: a top-down binary clustering of the phones on their pooled
    means (each split a 2-means from the farthest pair), every set it makes, and each phone alone."""
    keys, n, s1, _ = stats.arrays()
    dim = s1.shape[1]
    total = {p: [0.0, np.zeros(dim)] for p in phones}
    for k, (_, ph, _, _) in enumerate(keys):
        if ph in total:
            total[ph][0] += n[k]
            total[ph][1] += s1[k]
    seen = [p for p in phones if total[p][0] > 0]
    means = {p: total[p][1] / total[p][0] for p in seen}
    sets: set[frozenset[str]] = {frozenset([p]) for p in phones}

    def split(group: list[str]) -> None:
        if len(group) < 2:
            return
        sets.add(frozenset(group))
        x = np.stack([means[p] for p in group])
        d = ((x[:, None] - x[None]) ** 2).sum(-1)
        a, b = np.unravel_index(np.argmax(d), d.shape)
        ca, cb = x[a], x[b]
        for _ in range(10):
            to_a = ((x - ca) ** 2).sum(1) <= ((x - cb) ** 2).sum(1)
            if to_a.all() or not to_a.any():
                to_a = np.arange(len(group)) == a
            ca, cb = x[to_a].mean(0), x[~to_a].mean(0)
        split([p for p, t in zip(group, to_a, strict=True) if t])
        split([p for p, t in zip(group, to_a, strict=True) if not t])

    split(seen)
    sets.discard(frozenset(phones))
    return sorted(sets, key=lambda s: (len(s), sorted(s)))


def build_tree(
    stats: TreeStats,
    topo: Topology,
    questions: list[frozenset[str]],
    max_leaves: int,
    min_frames: float = 100.0,
    min_gain: float = 0.0,
    var_floor: np.ndarray | None = None,
) -> ContextTree:
    """Grow the triphone tree (see the module docstring); pdfs numbered root by root."""
    keys, n, s1, s2 = stats.arrays()
    if var_floor is None:
        tot = n.sum()
        var_floor = 0.01 * np.maximum(s2.sum(0) / tot - (s1.sum(0) / tot) ** 2, 1e-10)
    phone_ids = {p: i for i, p in enumerate(topo.phones)}
    qmat = np.zeros((len(questions), len(topo.phones)))
    for qi, q in enumerate(questions):
        for p in q:
            if p in phone_ids:
                qmat[qi, phone_ids[p]] = 1.0
    ctx = np.asarray([[phone_ids[k[0]], phone_ids[k[2]]] for k in keys], dtype=np.int64)
    by_root: dict[tuple[str, int], list[int]] = {}
    for i, k in enumerate(keys):
        by_root.setdefault((k[1], k[3]), []).append(i)

    def best_split(idx: np.ndarray):
        """(gain, position, question index, yes mask) of the best split of a pool of keys."""
        if len(idx) < 2:
            return None
        parent = _loglike(n[idx].sum(), s1[idx].sum(0), s2[idx].sum(0), var_floor)
        best = None
        for col, pos in ((0, 0), (1, 2)):
            member = qmat[:, ctx[idx, col]]  # [Q, K]
            ny, nn_ = member @ n[idx], (1 - member) @ n[idx]
            ly = _loglike(ny, member @ s1[idx], member @ s2[idx], var_floor)
            ln = _loglike(nn_, (1 - member) @ s1[idx], (1 - member) @ s2[idx], var_floor)
            gain = np.where((ny >= min_frames) & (nn_ >= min_frames), ly + ln - parent, -np.inf)
            q = int(np.argmax(gain))
            if np.isfinite(gain[q]) and (best is None or gain[q] > best[0]):
                best = (float(gain[q]), pos, q, member[q] > 0)
        return best

    # nodes: a leaf is ("leaf", key indices); grown in place into [pos, set, yes, no]
    trees: dict[tuple[str, int], list] = {}
    heap: list = []
    counter = 0
    for p in topo.phones:
        for s in range(topo.states[p]):
            idx = np.asarray(by_root.get((p, s), []), dtype=np.int64)
            node = ["leaf", idx]
            trees[(p, s)] = node
            if p != SIL:
                cand = best_split(idx)
                if cand is not None and cand[0] > min_gain:
                    heapq.heappush(heap, (-cand[0], counter, node, cand))
                    counter += 1
    leaves = len(trees)
    while heap and leaves < max_leaves:
        _, _, node, (gain, pos, q, yes_mask) = heapq.heappop(heap)
        idx = node[1]
        children = []
        for part in (idx[yes_mask], idx[~yes_mask]):
            child = ["leaf", part]
            cand = best_split(part)
            if cand is not None and cand[0] > min_gain:
                heapq.heappush(heap, (-cand[0], counter, child, cand))
                counter += 1
            children.append(child)
        node[:] = [pos, questions[q], children[0], children[1]]
        leaves += 1

    next_pdf = 0

    def number(node):
        nonlocal next_pdf
        if node[0] == "leaf":
            next_pdf += 1
            return next_pdf - 1
        return [node[0], frozenset(node[1]), number(node[2]), number(node[3])]

    roots = {}
    for p in topo.phones:
        for s in range(topo.states[p]):
            roots[(p, s)] = number(trees[(p, s)])
    return ContextTree(topo, 3, roots)
