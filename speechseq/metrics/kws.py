"""Keyword-search scoring as NIST defines it (STD 2006, OpenKWS), and same-different AP.

Term-weighted value (Fiscus et al. 2007, NIST STD 2006 evaluation plan; what Kaldi's
``compute-atwv`` and NIST's F4DE compute). For a decision threshold ``theta`` and every term
``t`` that occurs in the reference (terms that never occur are listed and left out)::

    P_miss(t) = 1 - N_correct(t) / N_true(t)
    P_FA(t)   = N_FA(t) / (T_speech - N_true(t))       # T_speech: seconds of speech, one trial a second
    TWV       = 1 - mean_t [ P_miss(t) + beta * P_FA(t) ],   beta = 999.9

A detection is correct when it lies in the same file as a reference occurrence of its term
and their midpoints are at most ``max_distance_s`` (0.5 s) apart; each occurrence is matched
at most once, best-scoring detection first. ATWV is the TWV of the system's own YES/NO
decisions (score >= the threshold it chose); MTWV the best TWV over every threshold.

Same-different average precision (Carlin et al. 2011): every pair of word segments is one
trial, "same" when both are the same word; pairs ranked by similarity (or by negative DTW
cost); the AP of that ranking.

Files, as NIST and Kaldi write them: the ECF (``<ecf source_signal_duration=...><excerpt
audio_filename=... tbeg=... dur=.../>``), the term list (``<kwlist><kw kwid=...><kwtext>``),
the RTTM reference (``LEXEME file 1 tbeg dur word <NA> lex <NA>``) and the system output
``kwslist.xml`` (``<kwslist><detected_kwlist kwid=...><kw file= channel= tbeg= dur= score=
decision=/>``). No kept library reads and scores these in Python (F4DE is Perl, Kaldi's tools
are C++ binaries), so they are written here.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from speechseq.data.kaldi_dir import CtmEntry
from speechseq.errors import SpeechseqError
from speechseq.fileio import atomic_write

BETA = 999.9  # NIST's cost of a false alarm relative to a miss (STD 2006, OpenKWS)
MAX_DISTANCE_S = 0.5  # midpoints of a detection and its reference at most this far apart
MAX_WORD_GAP_S = 0.5  # the words of a multi-word term: each at most this long after the last


@dataclass(frozen=True)
class Detection:
    """One putative hit of a term in the system output."""

    kwid: str  # the term's id in the term list
    file: str  # recording
    tbeg: float  # seconds from the start of the file
    dur: float  # seconds
    score: float  # higher is more confident
    decision: bool = True  # the system's own YES / NO

    @property
    def mid(self) -> float:
        return self.tbeg + self.dur / 2


@dataclass(frozen=True)
class Occurrence:
    """A reference occurrence of a word (an RTTM LEXEME line)."""

    file: str
    tbeg: float
    dur: float
    word: str

    @property
    def mid(self) -> float:
        return self.tbeg + self.dur / 2


@dataclass
class TermResult:
    kwid: str
    text: str
    n_true: int  # occurrences in the reference
    n_correct: int  # YES detections matched to an occurrence
    n_fa: int  # YES detections matched to none
    p_miss: float
    p_fa: float


@dataclass
class TWVResult:
    atwv: float  # TWV of the system's decisions
    mtwv: float  # the best TWV over thresholds
    mtwv_threshold: float  # the score threshold that gives it
    speech_s: float  # T_speech of the ECF
    terms: list[TermResult] = field(default_factory=list)  # at the system's decisions
    not_in_reference: list[str] = field(default_factory=list)  # term ids never spoken (left out)


# -- scoring --------------------------------------------------------------------------------------


def _match(dets: list[Detection], occs: list[Occurrence], max_distance_s: float) -> list[bool]:
    """For each detection (in the given order), whether it takes a not yet matched occurrence
    of the same file whose midpoint is within ``max_distance_s``; the nearest one is taken
    (the earlier one on a tie)."""
    by_file: dict[str, list[int]] = {}
    for k, o in enumerate(occs):
        by_file.setdefault(o.file, []).append(k)
    taken: set[int] = set()
    out = []
    for d in dets:
        best, best_dist = None, max_distance_s
        for k in by_file.get(d.file, ()):
            dist = abs(occs[k].mid - d.mid)
            if k not in taken and dist <= best_dist:
                best, best_dist = k, dist
        if best is not None:
            taken.add(best)
        out.append(best is not None)
    return out


def term_weighted_value(
    detections: Iterable[Detection],
    reference: Iterable[Occurrence],
    terms: Mapping[str, str],
    speech_s: float,
    beta: float = BETA,
    max_distance_s: float = MAX_DISTANCE_S,
) -> TWVResult:
    """ATWV (at the detections' own decisions) and MTWV of ``detections`` for ``terms``
    (kwid -> text) against ``reference`` occurrences, over ``speech_s`` seconds of speech. A
    term of several words occurs where its words follow one another (:func:`with_phrases`)."""
    if speech_s <= 0:
        raise SpeechseqError(f"the ECF has {speech_s} s of speech — ATWV needs a positive duration")
    multi = [t for t in terms.values() if len(t.split()) > 1]
    if multi:  # a multi-word term occurs where its words follow one another (NIST's rule)
        ctm = (CtmEntry(o.file, "1", o.tbeg, o.dur, o.word) for o in reference)
        reference = rttm_from_ctm(with_phrases(ctm, multi))
    by_word: dict[str, list[Occurrence]] = {}
    for o in reference:
        by_word.setdefault(o.word, []).append(o)
    by_term: dict[str, list[Detection]] = {k: [] for k in terms}
    for d in detections:
        if d.kwid not in by_term:
            raise SpeechseqError(f"detection of '{d.kwid}', which is not in the term list")
        by_term[d.kwid].append(d)
    scored = [k for k in terms if by_word.get(terms[k])]
    missing = [k for k in terms if not by_word.get(terms[k])]
    # Each term's detections best first, each marked correct or not, once for all thresholds.
    ranked: dict[str, list[tuple[float, bool, bool]]] = {}
    for k in scored:
        dets = sorted(by_term[k], key=lambda d: -d.score)
        hits = _match(dets, by_word[terms[k]], max_distance_s)
        ranked[k] = [(d.score, ok, d.decision) for d, ok in zip(dets, hits, strict=True)]

    def twv(yes) -> tuple[float, list[TermResult]]:
        if not scored:
            return 0.0, []
        rows, loss = [], 0.0
        for k in scored:
            n_true = len(by_word[terms[k]])
            chosen = [(ok) for s, ok, dec in ranked[k] if yes(s, dec)]
            n_correct = sum(chosen)
            n_fa = len(chosen) - n_correct
            p_miss = 1 - n_correct / n_true
            p_fa = n_fa / max(speech_s - n_true, 1e-9)
            loss += p_miss + beta * p_fa
            rows.append(TermResult(k, terms[k], n_true, n_correct, n_fa, p_miss, p_fa))
        return 1 - loss / len(scored), rows

    atwv, rows = twv(lambda s, dec: dec)
    best, best_theta = _best_threshold(
        ranked, {k: len(by_word[terms[k]]) for k in scored}, speech_s, beta
    )
    return TWVResult(atwv, best, best_theta, speech_s, rows, missing)


def _best_threshold(
    ranked: Mapping[str, list[tuple[float, bool, bool]]],
    n_true: Mapping[str, int],
    speech_s: float,
    beta: float,
) -> tuple[float, float]:
    """(MTWV, its threshold): the TWV of "YES when score >= theta" at every theta among the
    scores, in one pass over all detections best first (a matched detection set depends on
    the ranking, not the cut, so lowering theta past a detection changes only its term's loss:
    -1 / n_true when it is correct, +beta / (T_speech - n_true) when not). No detection a YES
    (theta = inf) gives TWV 0."""
    if not n_true:
        return 0.0, float("inf")
    events = sorted(((s, k, ok) for k, r in ranked.items() for s, ok, _ in r), key=lambda e: -e[0])
    loss = float(len(n_true))  # every term missed entirely: p_miss 1, no false alarm
    best, best_theta = 0.0, float("inf")
    for i, (score, k, ok) in enumerate(events):
        if ok:
            loss -= 1 / n_true[k]
        else:
            loss += beta / max(speech_s - n_true[k], 1e-9)
        if i + 1 < len(events) and events[i + 1][0] == score:
            continue  # a threshold admits every detection of its score at once
        value = 1 - loss / len(n_true)
        if value > best:
            best, best_theta = value, score
    return best, best_theta


def same_different_ap(scores: np.ndarray, same: np.ndarray) -> float:
    """Average precision of ``same`` pairs ranked by ``scores`` (higher = more alike)."""
    scores, same = np.asarray(scores, dtype=np.float64), np.asarray(same, dtype=bool)
    if scores.shape != same.shape or scores.ndim != 1:
        raise ValueError("scores and same must be 1-D arrays of the same length")
    n_same = int(same.sum())
    if n_same == 0:
        raise SpeechseqError("no pair of segments with the same word — same-different AP needs one")
    order = np.argsort(-scores, kind="stable")
    hits = same[order]
    ranks = np.flatnonzero(hits) + 1
    return float(np.mean(np.arange(1, n_same + 1) / ranks))


def pair_trials(vectors: np.ndarray, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Every pair ``i < j`` of L2-normalised ``vectors [N, D]``: (cosine similarity, same word)."""
    v = np.asarray(vectors, dtype=np.float64)
    i, j = np.triu_indices(len(labels), k=1)
    lab = np.asarray(labels)
    return np.einsum("nd,nd->n", v[i], v[j]), lab[i] == lab[j]


# -- NIST / Kaldi files ---------------------------------------------------------------------------


def with_phrases(entries: Iterable[CtmEntry], terms: Iterable[str]) -> list[CtmEntry]:
    """``entries`` (a reference CTM of single words) and, for every multi-word term among
    ``terms`` (words separated by spaces), one entry per occurrence of it: its words one after
    the other in one recording and channel, each starting at most ``MAX_WORD_GAP_S`` after the
    previous one ends (NIST's rule for multi-word keywords), spanning from the first word's
    start to the last one's end, with the term as its word."""
    entries = list(entries)
    phrases = sorted({tuple(t.split()) for t in terms if len(t.split()) > 1})
    if not phrases:
        return entries
    by_recording: dict[tuple[str, str], list[CtmEntry]] = {}
    for e in entries:
        by_recording.setdefault((e.utt, e.channel), []).append(e)
    out = list(entries)
    for (rec, channel), es in sorted(by_recording.items()):
        es = sorted(es, key=lambda e: e.start_s)
        words = [e.word for e in es]
        for phrase in phrases:
            n = len(phrase)
            for i in range(len(es) - n + 1):
                if tuple(words[i : i + n]) != phrase:
                    continue
                if all(
                    es[j + 1].start_s - es[j].end_s <= MAX_WORD_GAP_S for j in range(i, i + n - 1)
                ):
                    start, end = es[i].start_s, es[i + n - 1].end_s
                    out.append(CtmEntry(rec, channel, start, end - start, " ".join(phrase)))
    return out


def rttm_from_ctm(entries: Iterable[CtmEntry]) -> list[Occurrence]:
    return [Occurrence(e.utt, e.start_s, e.dur_s, e.word) for e in entries]


def write_rttm(path: str | os.PathLike, occurrences: Iterable[Occurrence]) -> None:
    with atomic_write(path) as f:
        for o in occurrences:
            f.write(f"LEXEME {o.file} 1 {o.tbeg:.3f} {o.dur:.3f} {o.word} <NA> lex <NA>\n")


def read_rttm(path: str | os.PathLike) -> list[Occurrence]:
    path = Path(path)
    out = []
    for n, line in enumerate(_lines(path), 1):
        f = line.split()
        if not f or f[0] != "LEXEME":
            continue
        if len(f) < 6:
            raise SpeechseqError(
                f"{path}:{n}: a LEXEME line needs file, channel, tbeg, dur and word"
            )
        try:
            out.append(Occurrence(f[1], float(f[3]), float(f[4]), f[5]))
        except ValueError:
            raise SpeechseqError(f"{path}:{n}: tbeg and dur must be numbers") from None
    return out


def write_ecf(path: str | os.PathLike, durations: Mapping[str, float]) -> None:
    root = ET.Element("ecf", source_signal_duration=f"{sum(durations.values()):.3f}", version="1")
    for file, dur in durations.items():
        ET.SubElement(
            root,
            "excerpt",
            audio_filename=file,
            channel="1",
            tbeg="0.000",
            dur=f"{dur:.3f}",
            source_type="synthetic",
        )
    _write_xml(path, root)


def read_ecf(path: str | os.PathLike) -> dict[str, float]:
    """audio file -> seconds of speech (summed over its excerpts)."""
    root = _read_xml(path, "ecf")
    out: dict[str, float] = {}
    for ex in root.iter("excerpt"):
        name = ex.get("audio_filename")
        try:
            dur = float(ex.get("dur", ""))
        except ValueError:
            raise SpeechseqError(f"{path}: excerpt '{name}' has no numeric dur") from None
        out[str(name)] = out.get(str(name), 0.0) + dur
    return out


def write_kwlist(path: str | os.PathLike, terms: Mapping[str, str]) -> None:
    root = ET.Element("kwlist", ecf_filename="ecf.xml", version="1", language="english")
    for kwid, text in terms.items():
        ET.SubElement(ET.SubElement(root, "kw", kwid=kwid), "kwtext").text = text
    _write_xml(path, root)


def read_kwlist(path: str | os.PathLike) -> dict[str, str]:
    root = _read_xml(path, "kwlist")
    out = {}
    for kw in root.iter("kw"):
        text = kw.findtext("kwtext")
        if not kw.get("kwid") or not text:
            raise SpeechseqError(f"{path}: every <kw> needs a kwid and a <kwtext>")
        out[kw.get("kwid")] = text.strip()
    return out


def write_kwslist(path: str | os.PathLike, detections: Iterable[Detection], system: str) -> None:
    root = ET.Element("kwslist", kwlist_filename="kwlist.xml", language="english", system_id=system)
    lists: dict[str, ET.Element] = {}
    for d in detections:
        if d.kwid not in lists:
            lists[d.kwid] = ET.SubElement(
                root, "detected_kwlist", kwid=d.kwid, search_time="1", oov_count="0"
            )
        ET.SubElement(
            lists[d.kwid],
            "kw",
            file=d.file,
            channel="1",
            tbeg=f"{d.tbeg:.3f}",
            dur=f"{d.dur:.3f}",
            score=f"{d.score:.6f}",
            decision="YES" if d.decision else "NO",
        )
    _write_xml(path, root)


def read_kwslist(path: str | os.PathLike) -> list[Detection]:
    root = _read_xml(path, "kwslist")
    out = []
    for lst in root.iter("detected_kwlist"):
        kwid = lst.get("kwid")
        for kw in lst.iter("kw"):
            try:
                out.append(
                    Detection(
                        str(kwid),
                        str(kw.get("file")),
                        float(kw.get("tbeg")),
                        float(kw.get("dur")),
                        float(kw.get("score")),
                        kw.get("decision", "YES").upper() == "YES",
                    )
                )
            except (TypeError, ValueError):
                raise SpeechseqError(
                    f"{path}: a <kw> of '{kwid}' lacks a numeric tbeg, dur or score"
                ) from None
    return out


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise SpeechseqError(f"{path}: file not found — check the path")
    return path.read_text(encoding="utf-8").splitlines()


def _read_xml(path: str | os.PathLike, tag: str) -> ET.Element:
    path = Path(path)
    if not path.is_file():
        raise SpeechseqError(f"{path}: file not found — check the path")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        raise SpeechseqError(f"{path}: not well-formed XML ({e}) — write it again") from None
    if root.tag != tag:
        raise SpeechseqError(f"{path}: a <{root.tag}> file, not a <{tag}> file")
    return root


def _write_xml(path: str | os.PathLike, root: ET.Element) -> None:
    ET.indent(root)
    with atomic_write(path) as f:
        f.write(ET.tostring(root, encoding="unicode") + "\n")
