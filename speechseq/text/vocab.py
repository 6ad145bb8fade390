"""Vocabularies: symbols <-> ids, with the special symbols each model declares.

A vocabulary is saved as two files side by side (``NAME`` is ``units`` for CTC units,
``tokens`` for sequence-to-sequence targets):

- ``NAME.txt``, Kaldi's token-list format (like Kaldi's ``units.txt`` and icefall's
  ``tokens.txt``): one ``SYMBOL ID`` line per symbol, ids 0, 1, 2, ... in order;
- ``NAME.json``, which symbol is which special, every field written out (``null`` where
  absent), beside whatever else the owner stores there::

      {"specials": {"blank": "<blank>", "sos": null, "eos": null, "unk": null, "pad": null}}
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from speechseq.data.kaldi_dir import read_table_lines
from speechseq.errors import SpeechseqError, where
from speechseq.fileio import atomic_write


@dataclass(frozen=True)
class Specials:
    """Ids of a vocabulary's special symbols; None where the vocabulary has no such symbol."""

    blank: int | None = None  # CTC blank: emitted between and around labels, dropped by decoding
    sos: int | None = None  # start of sequence: an attention decoder's first input
    eos: int | None = None  # end of sequence: a decoder's last target; it stops there
    unk: int | None = None  # stands for every symbol the vocabulary lacks (encode maps them here)
    pad: int | None = None  # fills a batch of targets to one length; never a target to learn

    def declared(self) -> dict[str, int]:
        """``{name: id}`` of the specials present, in field order."""
        return {k: v for k, v in asdict(self).items() if v is not None}


SPECIAL_NAMES = tuple(f.name for f in fields(Specials))


class Vocabulary:
    """An ordered list of symbols (id = position) and its :class:`Specials`.

    Symbols are unique and hold no white space (a token-list line is ``SYMBOL ID``).
    Specials have distinct ids, except that sos and eos may share one (ESPnet's ``<sos/eos>``).
    """

    def __init__(self, symbols: Sequence[str], specials: Specials = Specials()):
        self.symbols = list(symbols)
        self.specials = specials
        self._index: dict[str, int] = {}
        for i, s in enumerate(self.symbols):
            if not s or s.split() != [s]:
                raise SpeechseqError(
                    f"symbol {i} {s!r} is empty or holds white space — a token-list line is "
                    f"'SYMBOL ID'; give the symbol a name without spaces"
                )
            if s in self._index:
                raise SpeechseqError(
                    f"symbol {s!r} has two ids ({self._index[s]} and {i}) — each symbol gets one id; "
                    f"remove the second"
                )
            self._index[s] = i
        ids_seen: dict[int, str] = {}
        for name, i in specials.declared().items():
            if not 0 <= i < len(self.symbols):
                raise SpeechseqError(
                    f"special {name} has id {i}, outside the {len(self.symbols)} symbols — "
                    f"give it the id of one of the symbols"
                )
            other = ids_seen.get(i)
            if other is not None and {other, name} != {"sos", "eos"}:
                raise SpeechseqError(
                    f"specials {other} and {name} share id {i} ({self.symbols[i]!r}) — "
                    f"only sos and eos may share a symbol; give each its own"
                )
            ids_seen[i] = name

    def __len__(self) -> int:
        return len(self.symbols)

    def __contains__(self, symbol: str) -> bool:
        return symbol in self._index

    def __repr__(self) -> str:
        named = ", ".join(f"{k}={self.symbols[v]!r}" for k, v in self.specials.declared().items())
        return f"Vocabulary({len(self)} symbols; {named or 'no specials'})"

    def id_of(self, symbol: str) -> int | None:
        """The id of ``symbol``; None if it is not in the vocabulary."""
        return self._index.get(symbol)

    def require(self, *names: str, source: str = "the vocabulary") -> None:
        """Raise unless every special in ``names`` (e.g. ``"sos", "eos"``) is declared."""
        missing = [n for n in names if getattr(self.specials, n) is None]
        if missing:
            raise SpeechseqError(
                f"{source} declares no {', '.join(missing)} special — a model that uses it needs "
                f"{' and '.join(missing)} in the vocabulary; rebuild it with them"
            )

    def encode(self, symbols: Sequence[str]) -> list[int]:
        """Ids of ``symbols``; one the vocabulary lacks becomes unk, or is an error naming it if
        there is no unk."""
        unk = self.specials.unk
        ids = []
        for s in symbols:
            i = self._index.get(s, unk)
            if i is None:
                raise SpeechseqError(
                    f"symbol {s!r} is not one of the {len(self)} symbols and the vocabulary has no unk "
                    f"— remove or replace it, or rebuild the vocabulary from text that has it"
                )
            ids.append(i)
        return ids

    def decode(self, ids: Sequence[int], skip_specials: bool = False) -> list[str]:
        """Symbols of ``ids``; ``skip_specials`` drops blank, sos, eos and pad (unk is kept)."""
        skip = {self.specials.blank, self.specials.sos, self.specials.eos, self.specials.pad}
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.symbols):
                raise SpeechseqError(
                    f"id {i} is outside the vocabulary (ids 0..{len(self) - 1}) — the ids come from "
                    f"another model or vocabulary"
                )
            if not (skip_specials and i in skip):
                out.append(self.symbols[i])
        return out

    # ---- files --------------------------------------------------------------------------------------

    def specials_json(self) -> dict[str, str | None]:
        """``{name: symbol or None}`` for every special field: the ``specials`` entry of ``NAME.json``."""
        return {
            n: (None if (i := getattr(self.specials, n)) is None else self.symbols[i])
            for n in SPECIAL_NAMES
        }

    def save(
        self, directory: str | os.PathLike, name: str = "tokens", meta: dict | None = None
    ) -> None:
        """Write ``NAME.txt`` (token list) and ``NAME.json`` (``{"specials": ..., **meta}``)."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        write_json(d / f"{name}.json", {**(meta or {}), "specials": self.specials_json()})
        write_token_list(d / f"{name}.txt", self.symbols)

    @classmethod
    def load(
        cls,
        directory: str | os.PathLike,
        name: str = "tokens",
        default_specials: dict[str, str | None] | None = None,
    ) -> Vocabulary:
        """Read what :meth:`save` wrote. ``default_specials`` (``{name: symbol}``) stands in for a
        missing ``NAME.json`` or one without ``specials`` (files written before it existed)."""
        d = Path(directory)
        txt, meta_path = d / f"{name}.txt", d / f"{name}.json"
        symbols = read_token_list(txt)
        meta = read_json(meta_path) if meta_path.is_file() else {}
        names = meta.get("specials", default_specials)
        if names is None:
            raise SpeechseqError(
                f"{meta_path}: missing, or without 'specials' — it says which symbols of {txt} are "
                f"blank, sos, eos, unk and pad; restore it from the same run"
            )
        return cls(symbols, specials_from_json(names, symbols, meta_path, txt))


def specials_from_json(names: object, symbols: list[str], meta_path: Path, txt: Path) -> Specials:
    """:class:`Specials` from ``{name: symbol or None}``, each symbol looked up in ``symbols``."""
    if not isinstance(names, dict):
        raise SpeechseqError(
            f"{meta_path}: 'specials' must map names to symbols, e.g. "
            f'{{"blank": "<blank>", "sos": null}} — restore it from the same run'
        )
    unknown = sorted(set(names) - set(SPECIAL_NAMES))
    if unknown:
        raise SpeechseqError(
            f"{meta_path}: unknown special(s) {', '.join(unknown)} — the specials are "
            f"{', '.join(SPECIAL_NAMES)}"
        )
    index = {s: i for i, s in enumerate(symbols)}
    ids: dict[str, int] = {}
    for n, s in names.items():
        if s is None:
            continue
        if s not in index:
            raise SpeechseqError(
                f"{meta_path}: special {n} is {s!r}, which is not in {txt} — restore both files from "
                f"the same run"
            )
        ids[n] = index[s]
    return Specials(**ids)


def read_token_list(path: str | os.PathLike) -> list[str]:
    """Symbols of a Kaldi token list: ``SYMBOL ID`` lines with ids 0, 1, 2, ... in order."""
    path = Path(path)
    if not path.is_file():
        raise SpeechseqError(
            f"{path}: missing — the token list is written with the model; restore it from training"
        )
    symbols: list[str] = []
    first_line: dict[str, int] = {}
    for tl in read_table_lines(path):
        expected = len(symbols)
        if not tl.key or tl.value != str(expected):
            raise SpeechseqError(
                f"{where(path, tl.lineno)}: expected 'SYMBOL {expected}' — a token list gives each "
                f"symbol with ids 0, 1, 2, ... in order; restore it from training"
            )
        if tl.key in first_line:
            raise SpeechseqError(
                f"{where(path, tl.lineno)}: symbol {tl.key!r} is listed again (first on line "
                f"{first_line[tl.key]}) — each symbol has one id; restore the file from training"
            )
        first_line[tl.key] = tl.lineno
        symbols.append(tl.key)
    if not symbols:
        raise SpeechseqError(f"{path}: empty — a token list has one 'SYMBOL ID' line per symbol")
    return symbols


def write_token_list(path: str | os.PathLike, symbols: Sequence[str]) -> None:
    """Write ``SYMBOL ID`` lines (atomically), ids 0, 1, 2, ..."""
    with atomic_write(path) as f:
        for i, s in enumerate(symbols):
            f.write(f"{s} {i}\n")


def read_json(path: Path) -> dict:
    """A JSON object from ``path``; an error naming the file if it is not one."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SpeechseqError(f"{path}: not valid JSON ({e}) — restore it from training") from None
    if not isinstance(meta, dict):
        raise SpeechseqError(f"{path}: not a JSON object — restore it from training")
    return meta


def write_json(path: Path, obj: dict) -> None:
    with atomic_write(path) as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


class BuiltOnVocabulary:
    """What a unit set built on a :class:`Vocabulary` (CTC units, seq2seq targets) shares:
    its size, its symbols (an id is a position) and a readable repr. Subclasses set
    ``self.vocab`` and ``self.kind``."""

    vocab: Vocabulary
    kind: str
    _sp_model: bytes | None  # the sentencepiece model of bpe units

    def _save_files(self, directory: str | os.PathLike, name: str, meta: dict) -> None:
        """Write ``NAME.txt``, ``NAME.json`` (with ``meta``) and, for bpe, ``bpe.model``."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        if self.kind == "bpe":
            with atomic_write(d / "bpe.model", "wb") as f:
                f.write(self._sp_model)
        self.vocab.save(d, name, meta)

    def __len__(self) -> int:
        return len(self.vocab)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(kind={self.kind!r}, {len(self)} symbols)"

    @property
    def symbols(self) -> list[str]:
        """The symbols; a symbol's id is its position."""
        return self.vocab.symbols
