"""Output units of CTC models: characters, phones (through a lexicon) or sentencepiece BPE pieces.

Units are a :class:`~speechseq.text.vocab.Vocabulary` whose one special is the CTC blank
``<blank>``, always id 0 (no sos, eos, unk or pad). Character and phone units also have a
word separator ``|`` between words, so a decoder can find word ends (``word_boundary``).

A unit set is saved in a directory (``exp/<model>/``) as ``units.txt`` in Kaldi's token-list
format (``<blank> 0``, then ``SYMBOL ID`` lines), ``units.json`` (kind, options and the
specials), and ``bpe.model`` (bpe) or ``lexicon.txt`` (phone: the lexicon used, words of the
training text first so they win when a phone sequence maps back to several words). A
``units.json`` written before specials were recorded (or none at all) still loads.

Case: if every letter of the training text is upper case (Kaldi's habit) or every one is
lower case, words are looked up case-insensitively and written in that case; otherwise
they are kept as written.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from pathlib import Path

from speechseq.errors import SpeechseqError, where
from speechseq.text.bpe import train_bpe
from speechseq.text.lexicon import Lexicon
from speechseq.text.vocab import (
    BuiltOnVocabulary,
    Specials,
    Vocabulary,
    read_json,
    read_token_list,
    specials_from_json,
)

BLANK = "<blank>"
WORD_SEP = "|"  # the word separator unit of char and phone units
UNK_WORD = "<unk>"  # what phone decoding writes for a phone group that is no word of the lexicon
KINDS = ("char", "phone", "bpe")
CTC_SPECIALS = Specials(blank=0)  # the blank is unit 0; CTC needs no sos, eos, unk or pad

# Grapheme fallback: each letter spoken as one ARPAbet phone (or two), a crude guess that
# keeps out-of-lexicon words trainable; other characters are dropped.
LETTER_TO_PHONES = {
    "a": ["AE"], "b": ["B"], "c": ["K"], "d": ["D"], "e": ["EH"], "f": ["F"], "g": ["G"], "h": ["HH"],
    "i": ["IH"], "j": ["JH"], "k": ["K"], "l": ["L"], "m": ["M"], "n": ["N"], "o": ["AA"], "p": ["P"],
    "q": ["K"], "r": ["R"], "s": ["S"], "t": ["T"], "u": ["AH"], "v": ["V"], "w": ["W"], "x": ["K", "S"],
    "y": ["Y"], "z": ["Z"],
}  # fmt: skip


def text_case(texts: list[str]) -> str:
    """'upper' if every cased letter is upper case, 'lower' if every one is lower, else 'keep'."""
    letters = "".join(texts)
    has_upper = any(c.isupper() for c in letters)
    has_lower = any(c.islower() for c in letters)
    if has_upper and not has_lower:
        return "upper"
    if has_lower and not has_upper:
        return "lower"
    return "keep"


def grapheme_pronunciation(word: str) -> list[str]:
    """Letter-by-letter phones for a word that is not in the lexicon ([] if it has no letters a-z)."""
    return [p for c in word.lower() for p in LETTER_TO_PHONES.get(c, [])]


class Units(BuiltOnVocabulary):
    """A CTC unit inventory with ``encode`` (text -> ids) and ``decode`` (ids -> text).

    ``vocab`` is its :class:`Vocabulary` (symbols and specials: the blank at id 0).
    """

    def __init__(
        self,
        kind: str,
        symbols: list[str],
        case: str = "keep",
        lexicon: Lexicon | None = None,
        sp_model: bytes | None = None,
        grapheme_fallback: bool = False,
        notes: list[str] | None = None,
    ):
        if kind not in KINDS:
            raise SpeechseqError(f"unit kind '{kind}' is not known — use one of {', '.join(KINDS)}")
        if not symbols or symbols[0] != BLANK:
            raise SpeechseqError(
                f"the first unit must be {BLANK!r} (the CTC blank, id 0), not "
                f"{symbols[0] if symbols else 'nothing'!r}"
            )
        self.kind = kind
        self.vocab = Vocabulary(symbols, CTC_SPECIALS)
        self.case = case
        self.grapheme_fallback = grapheme_fallback
        self.notes = notes or []  # what a person should know about how the units were built
        self.word_boundary: int | None = (
            self.vocab.id_of(WORD_SEP) if kind in ("char", "phone") else None
        )
        self._lexicon = lexicon
        self._sp_model = sp_model
        self._sp = None
        if kind == "bpe":
            import sentencepiece as spm  # optional dependency, needed only for bpe

            self._sp = spm.SentencePieceProcessor(model_proto=sp_model)
        if kind == "phone":
            self._reverse: dict[tuple[str, ...], str] = {}
            for word, prons in lexicon.items():
                for pron in prons:
                    self._reverse.setdefault(tuple(pron), word)

    @property
    def blank(self) -> int:
        """Id of the CTC blank (0)."""
        return self.vocab.specials.blank

    @property
    def word_start_units(self) -> list[int] | None:
        """Ids of the bpe pieces that begin a word (sentencepiece's '▁' prefix); None for char/phone."""
        if self.kind != "bpe":
            return None
        return [i for i, s in enumerate(self.symbols) if s.startswith("\u2581")]

    @property
    def lexicon(self) -> Lexicon | None:
        """The lexicon of phone units (None for other kinds)."""
        return self._lexicon

    # ---- building -------------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        kind: str,
        texts: list[str],
        lexicon: Lexicon | None = None,
        bpe_size: int = 200,
        workdir: str | os.PathLike | None = None,
        grapheme_fallback: bool = False,
        keep_stress: bool = False,
    ) -> Units:
        """Build units from the training transcripts ``texts``.

        ``lexicon`` (phone; default CMUdict, stress stripped unless ``keep_stress``);
        ``bpe_size``: sentencepiece vocabulary size (an upper bound: ``hard_vocab_limit=False``);
        ``grapheme_fallback`` (phone): spell out-of-lexicon words letter by letter instead of failing.
        ``workdir`` is accepted for callers but unused: sentencepiece trains in memory and
        :meth:`save` writes its model.
        """
        if kind not in KINDS:
            raise SpeechseqError(f"unit kind '{kind}' is not known — use one of {', '.join(KINDS)}")
        if not any(t.split() for t in texts):
            raise SpeechseqError("no training text to build units from — the transcripts are empty")
        case = text_case(texts)
        if kind == "char":
            return cls._build_char(texts, case)
        if kind == "phone":
            if lexicon is None:
                lexicon = Lexicon.from_cmudict(keep_stress=keep_stress)
            return cls._build_phone(texts, case, lexicon, grapheme_fallback)
        return cls._build_bpe(texts, case, bpe_size)

    @classmethod
    def _build_char(cls, texts: list[str], case: str) -> Units:
        chars = sorted({c for t in texts for c in t if not c.isspace()})
        if WORD_SEP in chars:
            raise SpeechseqError(
                f"the training text contains '{WORD_SEP}', which char units use as the word separator — "
                f"remove it from the transcripts (speechseq data fix) or use bpe units"
            )
        return cls("char", [BLANK, WORD_SEP, *chars], case=case)

    @classmethod
    def _build_phone(
        cls, texts: list[str], case: str, lexicon: Lexicon, grapheme_fallback: bool
    ) -> Units:
        freq = Counter(_norm(w, case) for t in texts for w in t.split())
        oov = [w for w, _ in freq.most_common() if w not in lexicon]
        notes = []
        extra: dict[str, list[list[str]]] = {}
        if oov and not grapheme_fallback:
            listed = ", ".join(oov[:20]) + (f" and {len(oov) - 20} more" if len(oov) > 20 else "")
            raise SpeechseqError(
                f"{len(oov)} word(s) of the training text are not in the lexicon ({lexicon.source}): {listed} — "
                f"add them to the lexicon (pass --lexicon with a Kaldi lexicon.txt) or use grapheme fallback "
                f"(ctc.grapheme_fallback: true) to spell them letter by letter"
            )
        if oov:
            unspellable = [w for w in oov if not grapheme_pronunciation(w)]
            if unspellable:
                raise SpeechseqError(
                    f"{len(unspellable)} out-of-lexicon word(s) have no letters a-z to spell: "
                    f"{', '.join(unspellable[:20])} — add them to the lexicon"
                )
            extra = {w: [grapheme_pronunciation(w)] for w in oov}
            notes.append(
                f"{len(oov)} word(s) not in the lexicon ({lexicon.source}) are spelled letter by letter "
                f"(grapheme fallback): {', '.join(oov[:20])}{' ...' if len(oov) > 20 else ''}"
            )
            warnings.warn(notes[-1], stacklevel=3)
        # the units' own lexicon: training words first (most frequent first), then the rest; one case
        entries: dict[str, list[list[str]]] = {}
        for w, _ in freq.most_common():
            entries[w] = extra[w] if w in extra else lexicon.pronunciations(w)
        for w, prons in lexicon.items():
            key = _norm(w, case)
            if key not in entries:
                entries[key] = [list(p) for p in prons]
            elif (
                key not in freq
            ):  # spellings that differ only in case: one word, all pronunciations
                entries[key] += [list(p) for p in prons if p not in entries[key]]
        lex = Lexicon(entries, source=lexicon.source)
        phones = sorted({p for prons in entries.values() for pron in prons for p in pron})
        bad = [p for p in phones if p in (BLANK, WORD_SEP)]
        if bad:
            raise SpeechseqError(
                f"lexicon {lexicon.source} uses the reserved phone symbol '{bad[0]}' — rename that phone"
            )
        return cls(
            "phone",
            [BLANK, WORD_SEP, *phones],
            case=case,
            lexicon=lex,
            grapheme_fallback=bool(oov) or grapheme_fallback,
            notes=notes,
        )

    @classmethod
    def _build_bpe(cls, texts: list[str], case: str, bpe_size: int) -> Units:
        import sentencepiece as spm  # optional dependency, needed only for bpe

        # no bos/eos: a CTC model never emits them; sentencepiece's <unk> (its id 0) is unit 1
        proto = train_bpe(texts, bpe_size, "ctc.bpe_size", unk_id=0, bos_id=-1, eos_id=-1)
        sp = spm.SentencePieceProcessor(model_proto=proto)
        symbols = [BLANK] + [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
        return cls("bpe", symbols, case=case, sp_model=proto)

    # ---- encoding and decoding -----------------------------------------------------------------

    def normalize_word(self, word: str) -> str:
        """``word`` in the case convention of the training text."""
        return _norm(word, self.case)

    def ids_of(self, symbols: list[str]) -> list[int] | None:
        """Ids of unit symbols; None if any symbol is not a unit."""
        ids = [self.vocab.id_of(s) for s in symbols]
        return None if None in ids else ids

    def try_encode(self, text: str) -> list[int] | None:
        try:
            return self.encode(text)
        except SpeechseqError:
            return None

    def encode(self, text: str) -> list[int]:
        """Unit ids of a transcript (words separated by ``|`` for char and phone units).

        An unknown character (char, bpe) or an out-of-lexicon word (phone, without grapheme
        fallback) is an error naming it; the caller adds the utterance id.
        """
        words = [self.normalize_word(w) for w in text.split()]
        if self.kind == "char":
            ids: list[int] = []
            for w in words:
                if ids:
                    ids.append(self.word_boundary)
                for c in w:
                    i = self.vocab.id_of(c)
                    if i is None or i in (self.blank, self.word_boundary):
                        raise SpeechseqError(
                            f"character {c!r} (in '{w}') is not one of the {len(self) - 2} characters of the training "
                            f"text — remove or replace it in the transcript, or add it to the training text"
                        )
                    ids.append(i)
            return ids
        if self.kind == "phone":
            ids = []
            for w in words:
                prons = self._lexicon.pronunciations(w)
                phones = (
                    prons[0]
                    if prons
                    else (grapheme_pronunciation(w) if self.grapheme_fallback else [])
                )
                if not phones:
                    raise SpeechseqError(
                        f"word '{w}' is not in the lexicon — add it to the lexicon or use grapheme fallback "
                        f"(ctc.grapheme_fallback: true)"
                    )
                if ids:
                    ids.append(self.word_boundary)
                unit_ids = self.ids_of(phones)
                if unit_ids is None:
                    bad = next(p for p in phones if p not in self.vocab)
                    raise SpeechseqError(
                        f"word '{w}': phone '{bad}' is not one of the model's phone units"
                    )
                ids.extend(unit_ids)
            return ids
        pieces = self._sp.encode(" ".join(words), out_type=int)
        if 0 in pieces:  # sentencepiece's <unk>
            unknown = sorted({c for c in "".join(words) if self._sp.piece_to_id(c) == 0})
            raise SpeechseqError(
                f"character(s) {', '.join(repr(c) for c in unknown) or '?'} are not in the bpe model — "
                f"remove or replace them in the transcript, or add them to the training text"
            )
        return [p + 1 for p in pieces]

    def decode(self, ids: list[int]) -> str:
        """Text of a unit-id sequence (blanks are dropped; words separated by single spaces).

        Phone units map each ``|``-delimited phone group back to a word of the lexicon,
        ``<unk>`` where no word has that pronunciation.
        """
        ids = [int(i) for i in ids if int(i) != self.blank]
        if self.kind == "bpe":
            return self._sp.decode([i - 1 for i in ids])
        if self.kind == "char":
            return " ".join(
                "".join(self.symbols[i] if i != self.word_boundary else " " for i in ids).split()
            )
        words, group = [], []
        for i in ids + [self.word_boundary]:
            if i == self.word_boundary:
                if group:
                    words.append(self._reverse.get(tuple(group), UNK_WORD))
                group = []
            else:
                group.append(self.symbols[i])
        return " ".join(words)

    def spellings(self, lexicon: Lexicon) -> dict[str, list[list[int]]]:
        """Each word of ``lexicon`` as unit-id sequences, keyed by the word as :meth:`decode` writes it.

        char: its letters; phone: each pronunciation's phones; bpe: its sentencepiece pieces.
        Words (or pronunciations) that the units cannot express are left out: a decoder could
        never produce them. Raises if no word at all can be expressed.
        """
        out: dict[str, list[list[int]]] = {}
        for word, prons in lexicon.items():
            key = self.normalize_word(word)
            seqs = out.get(key, [])
            if self.kind == "phone":
                cands = [self.ids_of(pron) for pron in prons]
            else:
                cands = [self.ids_of(list(key)) if self.kind == "char" else self.try_encode(key)]
            for ids in cands:
                if ids and ids not in seqs:
                    seqs.append(ids)
            if seqs:
                out[key] = seqs
        if not out:
            example = lexicon.words[0] if len(lexicon) else "?"
            raise SpeechseqError(
                f"lexicon {lexicon.source}: no word can be written with the model's {self.kind} units "
                f"(e.g. '{example}') — use a lexicon in the model's alphabet or phone set"
            )
        return out

    # ---- files --------------------------------------------------------------------------------------

    def save(self, directory: str | os.PathLike) -> None:
        """Write ``units.txt``, ``units.json`` and ``bpe.model`` or ``lexicon.txt`` into ``directory``."""
        if self.kind == "phone":
            Path(directory).mkdir(parents=True, exist_ok=True)
            self._lexicon.write(Path(directory) / "lexicon.txt")
        meta = {
            "kind": self.kind,
            "case": self.case,
            "grapheme_fallback": self.grapheme_fallback,
            "notes": self.notes,
        }
        self._save_files(directory, "units", meta)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Units:
        """Load units saved by :meth:`save`: ``path`` is the directory or its ``units.txt``.

        Without ``units.json`` the kind is inferred: bpe if ``bpe.model`` is there, phone if
        ``lexicon.txt`` is, else char. Without its ``specials`` the blank is ``<blank>``.
        """
        p = Path(path)
        txt = p / "units.txt" if p.is_dir() else p
        d = txt.parent
        if not txt.is_file():
            raise SpeechseqError(
                f"{txt}: no units.txt — the model directory needs the units saved at training"
            )
        symbols = read_token_list(txt)
        if symbols[0] != BLANK:
            raise SpeechseqError(
                f"{where(txt, 1)}: the first unit must be '{BLANK} 0' (the CTC blank) — restore units.txt from training"
            )
        meta_path = d / "units.json"
        if meta_path.is_file():
            meta = read_json(meta_path)
        else:
            kind = (
                "bpe"
                if (d / "bpe.model").is_file()
                else "phone"
                if (d / "lexicon.txt").is_file()
                else "char"
            )
            meta = {"kind": kind, "case": "keep"}
        kind = meta.get("kind")
        if kind not in KINDS:
            raise SpeechseqError(
                f"{meta_path}: unit kind {kind!r} is not known — use one of {', '.join(KINDS)}"
            )
        specials = specials_from_json(
            meta.get("specials", {"blank": BLANK}), symbols, meta_path, txt
        )
        if specials != CTC_SPECIALS:
            raise SpeechseqError(
                f"{meta_path}: CTC units have one special, the blank '{BLANK}' at id 0, but it declares "
                f"{specials.declared()} — restore units.json from training"
            )
        kwargs = {
            "case": meta.get("case", "keep"),
            "grapheme_fallback": bool(meta.get("grapheme_fallback", False)),
            "notes": list(meta.get("notes", [])),
        }
        if kind == "char" and (len(symbols) < 2 or symbols[1] != WORD_SEP):
            raise SpeechseqError(
                f"{txt}: char units need '{WORD_SEP} 1' (the word separator) — restore units.txt from training"
            )
        if kind == "bpe":
            model = d / "bpe.model"
            if not model.is_file():
                raise SpeechseqError(
                    f"{model}: missing — bpe units need the sentencepiece model saved beside units.txt"
                )
            units = cls("bpe", symbols, sp_model=model.read_bytes(), **kwargs)
            pieces = [BLANK] + [units._sp.id_to_piece(i) for i in range(units._sp.get_piece_size())]
            if pieces != symbols:
                raise SpeechseqError(
                    f"{txt}: the symbols do not match {model} — restore both from the same training run"
                )
            return units
        if kind == "phone":
            lex_path = d / "lexicon.txt"
            if not lex_path.is_file():
                raise SpeechseqError(
                    f"{lex_path}: missing — phone units need the lexicon saved beside units.txt"
                )
            lex = Lexicon.read(lex_path)
            unknown = sorted(set(lex.phones) - set(symbols))
            if unknown:
                raise SpeechseqError(
                    f"{lex_path}: phones {', '.join(unknown[:10])} are not in {txt} — restore both from the same training run"
                )
            return cls("phone", symbols, lexicon=lex, **kwargs)
        return cls("char", symbols, **kwargs)


def _norm(word: str, case: str) -> str:
    return word.upper() if case == "upper" else word.lower() if case == "lower" else word
