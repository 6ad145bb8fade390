"""The lang directory (Kaldi's ``data/lang``) from a lexicon: symbol tables, phone sets,
disambiguation symbols, the HMM topology and L.fst with optional silence between words.

Layout written by :func:`prepare_lang` (all text but the FSTs, which are OpenFst binaries)::

    LANG/phones.txt        <eps> 0, SIL 1, the lexicon's phones, #0 #1 ... (disambiguation)
    LANG/words.txt         <eps> 0, the words (sorted), #0, <s>, </s>
    LANG/lexicon.txt       WORD PHONE ... (the pronunciations used)
    LANG/lexicon_disambig.txt   the same with #1, #2 ... where a pronunciation is a prefix of
                           another or shared by two words
    LANG/phones/{silence,nonsilence,optional_silence,disambig}.txt
    LANG/topo              states per phone (text, see :mod:`speechseq.hybrid.topo`)
    LANG/L.fst, L_disambig.fst   phones in, words out (word label on the first phone)
    LANG/lang.json         the settings (silence probability, states, source lexicon)

Phones are position-independent (no ``_B``/``_E`` markers) and the silence phone is ``SIL``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import kaldifst

from speechseq.data.kaldi_dir import read_table_lines
from speechseq.errors import SpeechseqError, UsageError, where
from speechseq.fileio import atomic_dir, atomic_write
from speechseq.hybrid.topo import Topology
from speechseq.text.lexicon import Lexicon

SIL = "SIL"
EPS = "<eps>"
BOS, EOS = "<s>", "</s>"


@dataclass(frozen=True)
class LangOptions:
    sil_prob: float = 0.5  # probability of optional silence between words (0: none, <1)
    num_states: int = 3  # HMM states of each non-silence phone
    sil_states: int = 3  # HMM states of the silence phone
    source: str = ""  # the lexicon it came from (cmudict, a path)


def read_symbols(path: str | os.PathLike) -> dict[str, int]:
    """A Kaldi symbol table ``SYMBOL ID`` per line -> ``{symbol: id}``."""
    table: dict[str, int] = {}
    for tl in read_table_lines(path):
        parts = [tl.key, *tl.value.split()]
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            raise SpeechseqError(
                f"{where(path, tl.lineno)}: a symbol table line is 'SYMBOL ID' — rebuild it with speechseq prepare-lang"
            )
        table[parts[0]] = int(parts[1])
    return table


def write_symbols(path: Path, symbols: list[str]) -> None:
    with atomic_write(path) as f:
        for i, s in enumerate(symbols):
            f.write(f"{s} {i}\n")


class Lang:
    """A lang directory, loaded: symbol tables, phone sets, topology, lexicon."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not (self.path / "lang.json").is_file():
            raise SpeechseqError(
                f"{self.path}: not a lang directory (no lang.json) — make one with speechseq prepare-lang"
            )
        self.phones = read_symbols(self.path / "phones.txt")
        self.words = read_symbols(self.path / "words.txt")
        self.options = LangOptions(**json.loads((self.path / "lang.json").read_text()))
        self.topo = Topology.read(self.path / "topo")
        self.phone_of_id = {i: p for p, i in self.phones.items()}
        self.word_of_id = {i: w for w, i in self.words.items()}
        self.lexicon = Lexicon.read(self.path / "lexicon.txt")

    @property
    def disambig_phones(self) -> list[int]:
        return [i for p, i in self.phones.items() if p.startswith("#")]

    @property
    def digest(self) -> str:
        """What identifies this lang for a model and a graph: phones, words and topology."""
        h = hashlib.sha1()
        for name in ("phones.txt", "words.txt", "topo"):
            h.update((self.path / name).read_bytes())
        return h.hexdigest()[:16]

    def word_ids(self, text: str, what: str) -> list[int]:
        """Word ids of a transcript; a word outside words.txt is an error naming ``what``."""
        out = []
        for w in text.split():
            i = self.words.get(w)
            if i is None or w in (EPS, BOS, EOS) or w.startswith("#"):
                raise SpeechseqError(
                    f"{what}: word '{w}' is not in {self.path}/words.txt — add it to the lexicon "
                    f"and rerun speechseq prepare-lang (or --grapheme-fallback)"
                )
            out.append(i)
        return out

    def l_fst(self, disambig: bool = False) -> kaldifst.StdVectorFst:
        name = "L_disambig.fst" if disambig else "L.fst"
        return kaldifst.StdVectorFst.read(str(self.path / name))


def select_lexicon(
    lexicon: Lexicon, words: list[str] | None, grapheme_fallback: bool, words_from: str
) -> dict[str, list[list[str]]]:
    """The entries for ``words`` (all of the lexicon when None); missing words: one error
    listing them, or spelled letter by letter when ``grapheme_fallback``."""
    if words is None:
        return {w: [list(p) for p in prons] for w, prons in lexicon.items()}
    entries: dict[str, list[list[str]]] = {}
    missing = []
    for w in sorted(set(words)):
        prons = lexicon.pronunciations(w)
        if prons:
            entries[w] = prons
        elif grapheme_fallback:
            entries[w] = [[c.upper() for c in w if c.isalnum()] or ["SPN"]]
        else:
            missing.append(w)
    if missing:
        shown = ", ".join(missing[:20]) + (
            f" and {len(missing) - 20} more" if len(missing) > 20 else ""
        )
        raise SpeechseqError(
            f"{words_from}: {len(missing)} word(s) are not in the lexicon {lexicon.source}: {shown} — "
            f"add them to a lexicon.txt, or pass --grapheme-fallback to spell them letter by letter"
        )
    return entries


def add_disambig(entries: dict[str, list[list[str]]]) -> tuple[list[tuple[str, list[str]]], int]:
    """Pronunciations with ``#k`` appended where one is a prefix of another or shared by two
    words (Kaldi's add_lex_disambig.pl); returns ``(word, phones)`` lines and the highest k."""
    lines = [(w, list(p)) for w, prons in entries.items() for p in prons]
    counts = Counter(tuple(p) for _, p in lines)
    prefixes = {tuple(p[:k]) for _, p in lines for k in range(1, len(p))}
    used: Counter = Counter()
    out, top = [], 0
    for w, p in lines:
        t = tuple(p)
        if t in prefixes or counts[t] > 1:
            used[t] += 1
            top = max(top, used[t])
            out.append((w, p + [f"#{used[t]}"]))
        else:
            out.append((w, p))
    return out, top


def make_lexicon_fst(
    lines: list[tuple[str, list[str]]],
    phones: dict[str, int],
    words: dict[str, int],
    sil_prob: float,
) -> kaldifst.StdVectorFst:
    """L: phones in, words out, optional silence between words (probability ``sil_prob``).

    States: 0 start, 1 the loop (word boundary, final), 2 after a word that silence follows.
    From the start: silence with ``sil_prob`` or straight to the loop. Each pronunciation is a
    chain from the loop whose last arc returns to the loop (no silence, ``1 - sil_prob``) or to
    state 2 (``sil_prob``), from which SIL leads to the loop.
    """
    fst = kaldifst.StdVectorFst()
    start, loop = fst.add_state(), fst.add_state()
    fst.start = start
    fst.set_final(loop, 0.0)
    if sil_prob > 0:
        sil_state = fst.add_state()
        no_sil, with_sil = -math.log(1 - sil_prob), -math.log(sil_prob)
        fst.add_arc(start, kaldifst.StdArc(0, 0, no_sil, loop))
        fst.add_arc(start, kaldifst.StdArc(phones[SIL], 0, with_sil, loop))
        fst.add_arc(sil_state, kaldifst.StdArc(phones[SIL], 0, 0.0, loop))
    else:
        fst.add_arc(start, kaldifst.StdArc(0, 0, 0.0, loop))
    for word, pron in lines:
        src = loop
        for k, ph in enumerate(pron):
            olabel = words[word] if k == 0 else 0
            last = k == len(pron) - 1
            if not last:
                dst = fst.add_state()
                fst.add_arc(src, kaldifst.StdArc(phones[ph], olabel, 0.0, dst))
                src = dst
            elif sil_prob > 0:
                fst.add_arc(src, kaldifst.StdArc(phones[ph], olabel, no_sil, loop))
                fst.add_arc(src, kaldifst.StdArc(phones[ph], olabel, with_sil, sil_state))
            else:
                fst.add_arc(src, kaldifst.StdArc(phones[ph], olabel, 0.0, loop))
    kaldifst.arcsort(fst, sort_type="olabel")
    return fst


def prepare_lang(
    lexicon: Lexicon,
    out: str | os.PathLike,
    words: list[str] | None = None,
    words_from: str = "",
    grapheme_fallback: bool = False,
    options: LangOptions = LangOptions(),
) -> Path:
    """Write the lang directory ``out`` (replaced whole) for ``words`` (default: every word of
    ``lexicon``); see the module docstring for its files."""
    if not 0 <= options.sil_prob < 1:
        raise UsageError(f"--sil-prob {options.sil_prob}: must be >= 0 and < 1")
    if options.num_states < 1 or options.sil_states < 1:
        raise UsageError("--num-states and --sil-states must be >= 1")
    entries = select_lexicon(lexicon, words, grapheme_fallback, words_from or "the word list")
    bad = [w for w in entries if w in (EPS, BOS, EOS, "#0") or w.startswith("#")]
    if bad:
        raise SpeechseqError(
            f"{lexicon.source}: '{bad[0]}' is reserved in words.txt — remove it from the lexicon"
        )
    nonsil = sorted({p for prons in entries.values() for pron in prons for p in pron} - {SIL})
    bad_ph = [p for p in nonsil if p.startswith("#") or p == EPS]
    if bad_ph:
        raise SpeechseqError(
            f"{lexicon.source}: phone '{bad_ph[0]}' is reserved (#k are disambiguation symbols) — rename it"
        )
    lines, top = add_disambig(entries)
    disambig = [f"#{k}" for k in range(top + 1)]  # #0 is G's back-off symbol
    phone_list = [EPS, SIL, *nonsil, *disambig]
    word_list = [EPS, *sorted(entries), "#0", BOS, EOS]
    phones = {p: i for i, p in enumerate(phone_list)}
    word_ids = {w: i for i, w in enumerate(word_list)}
    plain = [(w, p) for w, prons in entries.items() for p in prons]
    topo = Topology(
        phones=[SIL, *nonsil],
        states={SIL: options.sil_states, **{p: options.num_states for p in nonsil}},
    )
    with atomic_dir(out) as tmp:
        write_symbols(tmp / "phones.txt", phone_list)
        write_symbols(tmp / "words.txt", word_list)
        with atomic_write(tmp / "lexicon.txt") as f:
            f.writelines(f"{w} {' '.join(p)}\n" for w, p in plain)
        with atomic_write(tmp / "lexicon_disambig.txt") as f:
            f.writelines(f"{w} {' '.join(p)}\n" for w, p in lines)
        (tmp / "phones").mkdir()
        for name, items in (
            ("silence.txt", [SIL]),
            ("optional_silence.txt", [SIL]),
            ("nonsilence.txt", nonsil),
            ("disambig.txt", disambig),
        ):
            (tmp / "phones" / name).write_text("".join(f"{x}\n" for x in items))
        topo.write(tmp / "topo")
        l_fst = make_lexicon_fst(plain, phones, word_ids, options.sil_prob)
        l_fst.write(str(tmp / "L.fst"))
        l_dis = make_lexicon_fst(lines, phones, word_ids, options.sil_prob)
        # G's back-off symbol #0 passes through L as a word-level loop (Kaldi's fstaddselfloops)
        kaldifst.add_self_loops(l_dis, [phones["#0"]], [word_ids["#0"]])
        kaldifst.arcsort(l_dis, sort_type="olabel")
        l_dis.write(str(tmp / "L_disambig.fst"))
        (tmp / "lang.json").write_text(json.dumps(asdict(options), indent=2) + "\n")
    return Path(out)
