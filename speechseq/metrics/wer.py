"""Word and character error rates, scored and printed the way Kaldi's compute-wer does.

The counts and the ``%WER`` line are ``compute-wer --mode=all``'s: :func:`edit_counts` is
Kaldi's own C++ ``LevenshteinEditDistance`` (``util/edit-distance-inl.h``) through
``kaldialign``. ``align`` gives the per-utterance details (Kaldi's ``align-text``): a
Levenshtein alignment with Kaldi's ``LevenshteinAlignment`` tie-breaking — the trace-back
starts at the end of both sequences and, among equally cheap predecessors, prefers a match
or substitution, then a deletion, then an insertion. It is written here, not taken from
kaldialign, because kaldialign's copy of ``LevenshteinAlignment`` compares with ``<`` where
Kaldi has ``<=`` and so splits ties the other way (``a b`` / ``c``: kaldialign gives
``S D``, Kaldi's align-text ``D S``). ``edit_counts`` and ``align`` give the same total, but
on ties the split into insertions, deletions and substitutions can differ between them (in
Kaldi too: compute-wer and align-text use the two functions). A reference utterance without a hypothesis is scored against an empty hypothesis (all
deletions) and the line ends in ``[PARTIAL]``. Character error rate (``unit="char"``) aligns
the characters of each transcript with spaces removed, like ESPnet's CER.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import kaldialign

from speechseq.errors import SpeechseqError

EPS = "***"  # the empty side of an insertion or deletion in per-utterance lines (Kaldi's score_kaldi.sh)


def align(ref: list[str], hyp: list[str]) -> list[tuple[str, str | None, str | None]]:
    """Minimum-edit alignment as ``(op, ref_token, hyp_token)`` with op in C, S, I, D.

    ``ref_token`` is None for an insertion, ``hyp_token`` None for a deletion. Ties are broken
    like Kaldi: tracing back from the end, match/substitution first, then deletion, then insertion.
    """
    m_len, n_len = len(ref), len(hyp)
    # e[m][n]: edit distance between ref[:m] and hyp[:n]
    e = [[0] * (n_len + 1) for _ in range(m_len + 1)]
    for n in range(n_len + 1):
        e[0][n] = n
    for m in range(1, m_len + 1):
        row, prev = e[m], e[m - 1]
        row[0] = m
        r = ref[m - 1]
        for n in range(1, n_len + 1):
            sub_or_ok = prev[n - 1] + (r != hyp[n - 1])
            row[n] = min(sub_or_ok, prev[n] + 1, row[n - 1] + 1)
    out: list[tuple[str, str | None, str | None]] = []
    m, n = m_len, n_len
    while m or n:
        if m and n:
            sub_or_ok = e[m - 1][n - 1] + (ref[m - 1] != hyp[n - 1])
            dele, ins = e[m - 1][n] + 1, e[m][n - 1] + 1
            if sub_or_ok <= min(dele, ins):
                op = "C" if ref[m - 1] == hyp[n - 1] else "S"
                out.append((op, ref[m - 1], hyp[n - 1]))
                m, n = m - 1, n - 1
                continue
            step = "D" if dele <= ins else "I"
        else:
            step = "D" if m else "I"
        if step == "D":
            out.append(("D", ref[m - 1], None))
            m -= 1
        else:
            out.append(("I", None, hyp[n - 1]))
            n -= 1
    out.reverse()
    return out


def edit_counts(ref: list[str], hyp: list[str]) -> tuple[int, int, int]:
    """``(ins, dels, subs)`` of a minimum-edit alignment, split as Kaldi's compute-wer splits them.

    Kaldi's own ``LevenshteinEditDistance`` (C++, through kaldialign), which compute-wer counts
    with: a forward pass over the hypothesis in which each cell takes a match or substitution
    only when it is strictly cheaper than both other moves, else a deletion when strictly
    cheaper than an insertion, else an insertion. The total is :func:`align`'s; on ties the
    split can differ from it.
    """
    d = kaldialign.edit_distance(ref, hyp)
    return int(d["ins"]), int(d["del"]), int(d["sub"])


@dataclass(frozen=True)
class ErrorStats:
    """Error counts over one or more utterances; ``a + b`` and ``sum([...], ErrorStats())`` add them."""

    ref_len: int = 0  # reference tokens (words or characters)
    ins: int = 0
    dels: int = 0
    subs: int = 0
    utts: int = 0  # reference utterances scored
    utt_errors: int = 0  # utterances with at least one error (Kaldi's %SER numerator)
    missing: tuple[
        str, ...
    ] = ()  # reference utterances that had no hypothesis (scored as all deletions)

    @property
    def errors(self) -> int:
        return self.ins + self.dels + self.subs

    @property
    def rate(self) -> float:
        """errors / ref_len (a fraction, not percent); 0 for no errors on an empty reference, else inf."""
        if self.ref_len == 0:
            return 0.0 if self.errors == 0 else float("inf")
        return self.errors / self.ref_len

    def __add__(self, other: ErrorStats) -> ErrorStats:
        if not isinstance(other, ErrorStats):
            return NotImplemented
        return ErrorStats(
            self.ref_len + other.ref_len,
            self.ins + other.ins,
            self.dels + other.dels,
            self.subs + other.subs,
            self.utts + other.utts,
            self.utt_errors + other.utt_errors,
            self.missing + other.missing,
        )

    def __radd__(self, other):  # sum() starts from 0
        if other == 0:
            return self
        return self.__add__(other)


def tokens(text: str, unit: str) -> list[str]:
    """Words (whitespace-separated) or characters without whitespace."""
    if unit == "word":
        return text.split()
    if unit == "char":
        return [c for c in text if not c.isspace()]
    raise SpeechseqError(f"error unit '{unit}' is not known — use 'word' or 'char'")


def utt_stats(ref: str, hyp: str, unit: str = "word") -> ErrorStats:
    """Error counts of one hypothesis against its reference (split as compute-wer splits them)."""
    r = tokens(ref, unit)
    ins, dels, subs = edit_counts(r, tokens(hyp, unit))
    return ErrorStats(len(r), ins, dels, subs, 1, int(ins + dels + subs > 0))


def _check_keys(refs: dict[str, str], hyps: dict[str, str]) -> None:
    extra = [u for u in hyps if u not in refs]
    if extra:
        listed = ", ".join(extra[:10]) + (f" and {len(extra) - 10} more" if len(extra) > 10 else "")
        raise SpeechseqError(
            f"{len(extra)} hypothesis utterance(s) have no reference transcript: {listed} — "
            f"score against the data dir the hypotheses were decoded from, or remove them from the hypotheses"
        )


def _scored_utts(
    refs: dict[str, str], hyps: dict[str, str], unit: str
) -> Iterator[tuple[str, ErrorStats]]:
    """``(utt, counts)`` for each reference; one without a hypothesis scores as all deletions
    and is listed in ``missing``."""
    _check_keys(refs, hyps)
    for utt, ref in refs.items():
        s = utt_stats(ref, hyps.get(utt, ""), unit)
        yield utt, (s if utt in hyps else replace(s, missing=(utt,)))


def error_stats(refs: dict[str, str], hyps: dict[str, str], unit: str = "word") -> ErrorStats:
    """Total error counts of ``hyps`` against ``refs`` (utterance id -> transcript).

    A reference without a hypothesis counts as all deletions and is listed in ``missing``;
    a hypothesis without a reference is an error.
    """
    return sum((s for _, s in _scored_utts(refs, hyps, unit)), ErrorStats())


def kaldi_wer_line(stats: ErrorStats, name: str = "WER") -> str:
    """``%WER 4.21 [ 84 / 1995, 10 ins, 22 del, 52 sub ]`` exactly as Kaldi's compute-wer prints it.

    ``[PARTIAL]`` is appended when some reference utterances had no hypothesis.
    """
    line = (
        f"%{name} {100 * stats.rate:.2f} [ {stats.errors} / {stats.ref_len}, "
        f"{stats.ins} ins, {stats.dels} del, {stats.subs} sub ]"
    )
    return line + (" [PARTIAL]" if stats.missing else "")


def _cjustify(s: str, width: int) -> str:
    """Centre ``s`` in ``width`` columns, the extra space on the left (wer_per_utt_details.pl)."""
    right = (width - len(s)) // 2
    return " " * (width - len(s) - right) + s + " " * right


def per_utt_lines(refs: dict[str, str], hyps: dict[str, str], unit: str = "word") -> list[str]:
    """Kaldi's per-utterance alignment details (align-text | wer_per_utt_details.pl), 4 lines per utterance.

    ``utt ref  a  b  ***`` / ``utt hyp  a  x  c`` / ``utt op   C  S  I`` / ``utt #csid 1 1 1 0``;
    each column is centred to the widest of its ref, hyp and op tokens; ``***`` fills the empty side.
    """
    _check_keys(refs, hyps)
    lines = []
    for utt, ref in refs.items():
        ali = align(tokens(ref, unit), tokens(hyps.get(utt, ""), unit))
        rs, hs, os_ = [], [], []
        for op, r, h in ali:
            r, h = r if r is not None else EPS, h if h is not None else EPS
            w = max(len(r), len(h), len(op))
            rs.append(_cjustify(r, w))
            hs.append(_cjustify(h, w))
            os_.append(_cjustify(op, w))
        ops = [op for op, _, _ in ali]
        lines.append(f"{utt} ref  " + "  ".join(rs))
        lines.append(f"{utt} hyp  " + "  ".join(hs))
        lines.append(f"{utt} op   " + "  ".join(os_))
        lines.append(
            f"{utt} #csid {ops.count('C')} {ops.count('S')} {ops.count('I')} {ops.count('D')}"
        )
    return lines


def read_per_utt(path: str | os.PathLike) -> dict[str, tuple[int, int]]:
    """utt -> (errors, reference words) from a decode's ``per_utt`` (the ``#csid`` lines of
    :func:`per_utt_lines`)."""
    path = Path(path)
    if not path.is_file():
        raise SpeechseqError(
            f"{path}: not found — give decode dirs of `speechseq decode` (they hold per_utt)"
        )
    out: dict[str, tuple[int, int]] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        parts = line.split()
        if len(parts) < 2 or parts[1] != "#csid":
            continue
        try:
            c, s, i, d = (int(x) for x in parts[2:])
        except ValueError:
            raise SpeechseqError(
                f"{path}:{n}: '#csid' needs four counts (correct, substituted, inserted, deleted) — "
                "rescore the decode dir with `speechseq decode`"
            ) from None
        out[parts[0]] = (s + i + d, c + s + d)
    if not out:
        raise SpeechseqError(f"{path}: no '#csid' lines — not a per_utt file of `speechseq decode`")
    return out


def per_spk_stats(
    refs: dict[str, str], hyps: dict[str, str], utt2spk: dict[str, str], unit: str = "word"
) -> dict[str, ErrorStats]:
    """Error counts per speaker (speakers in sorted order; they add up to :func:`error_stats`);
    utterances not in ``utt2spk`` count under the speaker ``<unknown>``."""
    by_spk: dict[str, ErrorStats] = {}
    for utt, s in _scored_utts(refs, hyps, unit):
        spk = utt2spk.get(utt, "<unknown>")
        by_spk[spk] = by_spk.get(spk, ErrorStats()) + s
    return dict(sorted(by_spk.items()))


def per_spk_lines(by_spk: dict[str, ErrorStats]) -> list[str]:
    """Kaldi's ``per_spk`` table (wer_per_spk_details.pl): a ``raw`` counts row and a ``sys``
    percentages row per speaker, then ``SUM``."""
    cols = ("#SENT", "#WORD", "Corr", "Sub", "Ins", "Del", "Err", "S.Err")
    width = max([len("SPEAKER"), len("SUM"), *map(len, by_spk)]) + 2
    lines = ["SPEAKER".ljust(width) + "id".rjust(5) + "".join(c.rjust(11) for c in cols)]
    for spk, s in [*by_spk.items(), ("SUM", sum(by_spk.values(), ErrorStats()))]:
        corr = s.ref_len - s.subs - s.dels
        raw = (s.utts, s.ref_len, corr, s.subs, s.ins, s.dels, s.errors, s.utt_errors)
        lines.append(spk.ljust(width) + "raw".rjust(5) + "".join(f"{v:11d}" for v in raw))
        pct = [100 * v / max(s.ref_len, 1) for v in (corr, s.subs, s.ins, s.dels, s.errors)]
        pct.append(100 * s.utt_errors / max(s.utts, 1))
        lines.append(
            spk.ljust(width)
            + "sys".rjust(5)
            + f"{s.utts:11d}{s.ref_len:11d}"
            + "".join(f"{v:11.2f}" for v in pct)
        )
    return lines
