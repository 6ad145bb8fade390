"""HMM topology and transition model.

Every phone is a left-to-right HMM: states ``0 .. n-1``, each with a self-loop and a
transition to the next state (the last one's leaves the phone). Each state of each phone
has its own pdf (monophone): ``pdf_of(phone, state)``, numbered phone by phone in the
topology's order (SIL first).

The transition model keeps one self-loop probability per pdf (the forward probability is
its complement), 0.75 at the start as Kaldi's default topology, re-estimated from state
alignments by counting (:meth:`TransitionModel.estimate`).

The ``topo`` file is plain text, one phone per line: ``PHONE NUM_STATES``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from speechseq.data.kaldi_dir import read_table_lines
from speechseq.errors import SpeechseqError, where
from speechseq.fileio import atomic_write

INIT_LOOP_PROB = 0.75  # self-loop probability before any re-estimation
MIN_PROB = 0.01  # floor on a re-estimated transition probability


@dataclass
class Topology:
    phones: list[str]  # phones with HMMs, SIL first, in pdf order
    states: dict[str, int]  # phone -> number of HMM states
    _first: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        pdf = 0
        for p in self.phones:
            self._first[p] = pdf
            pdf += self.states[p]
        self.num_pdfs = pdf
        self.pdf_phone = [p for p in self.phones for _ in range(self.states[p])]
        self.pdf_state = [s for p in self.phones for s in range(self.states[p])]

    def pdf_of(self, phone: str, state: int) -> int:
        return self._first[phone] + state

    def write(self, path: Path) -> None:
        with atomic_write(path) as f:
            f.writelines(f"{p} {self.states[p]}\n" for p in self.phones)

    @classmethod
    def read(cls, path: str | os.PathLike) -> Topology:
        phones, states = [], {}
        for tl in read_table_lines(path):
            n = tl.value.strip()
            if not n.isdigit() or int(n) < 1:
                raise SpeechseqError(
                    f"{where(path, tl.lineno)}: a topo line is 'PHONE NUM_STATES' (>= 1) — rebuild the lang with speechseq prepare-lang"
                )
            phones.append(tl.key)
            states[tl.key] = int(n)
        return cls(phones, states)


class TransitionModel:
    """Self-loop probability per pdf; ``loop_prob[pdf]``, forward = 1 - loop. ``topo``: what
    numbers the pdfs, a :class:`Topology` (monophone) or a context tree
    (:class:`speechseq.hybrid.tree.ContextTree`); only its ``num_pdfs`` is read."""

    def __init__(self, topo, loop_prob: np.ndarray | None = None):
        self.topo = topo
        self.loop_prob = (
            np.full(topo.num_pdfs, INIT_LOOP_PROB) if loop_prob is None else np.asarray(loop_prob)
        )

    def estimate(self, alignments: list[np.ndarray]) -> None:
        """Re-estimate from pdf alignments (one int array per utterance): a frame followed by
        the same pdf took the self-loop, any other (or the utterance end) left the state."""
        loops = np.zeros(self.topo.num_pdfs)
        leaves = np.zeros(self.topo.num_pdfs)
        for ali in alignments:
            a = np.asarray(ali)
            if len(a) == 0:
                continue
            same = a[1:] == a[:-1]
            np.add.at(loops, a[:-1][same], 1)
            np.add.at(leaves, a[:-1][~same], 1)
            leaves[a[-1]] += 1
        seen = loops + leaves > 0
        p = np.where(seen, loops / np.maximum(loops + leaves, 1), self.loop_prob)
        self.loop_prob = np.clip(p, MIN_PROB, 1 - MIN_PROB)

    def save(self, path: Path) -> None:
        with atomic_write(path) as f:
            json.dump({"loop_prob": [round(float(x), 6) for x in self.loop_prob]}, f)

    @classmethod
    def load(cls, topo, path: Path) -> TransitionModel:
        lp = np.asarray(json.loads(Path(path).read_text())["loop_prob"])
        if len(lp) != topo.num_pdfs:
            raise SpeechseqError(
                f"{path}: {len(lp)} pdfs but the lang's topology has {topo.num_pdfs} — "
                f"the model was trained with another lang; use that lang"
            )
        return cls(topo, lp)
