"""CTC forced alignment: per-frame labels, unit spans, word spans and CTM entries.

Frames are the CTC model's output frames; the caller passes their duration ``frame_shift_s``
(e.g. 0.03 s for a model that stacks 3 frames of 10 ms). A span is
``(label, start_frame, end_frame)`` with ``end_frame`` exclusive.

CTC alignments are peaky: a unit often occupies a single frame surrounded by blanks. The
convention here is the plain one: a unit spans the frames labelled with it; a word starts at
the first frame of its first unit and ends after the last frame of its last unit (its
duration is at least one frame). Blank frames between words belong to no word, so a CTM
made from these spans has gaps and word ends that are early compared with human marks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from speechseq.data.kaldi_dir import CtmEntry
from speechseq.errors import SpeechseqError

Span = tuple  # (label, start_frame, end_frame_exclusive); label a unit id or a word


def frames_required(targets: Sequence[int]) -> int:
    """Fewest CTC frames that can emit ``targets``: one per unit plus a blank between repeats."""
    repeats = sum(1 for a, b in zip(targets, targets[1:], strict=False) if a == b)
    return len(targets) + repeats


def forced_align(log_probs: np.ndarray, targets: Sequence[int], blank: int = 0) -> list[int]:
    """The most likely CTC path of ``targets`` through ``log_probs [T, V]``: one unit id per frame.

    Every frame gets either ``blank`` or a unit of ``targets``, in order (Viterbi, via
    ``torchaudio.functional.forced_align``). Raises :class:`SpeechseqError` when ``targets``
    cannot fit into ``T`` frames or contains the blank or an id outside ``[0, V)``.
    """
    import torch
    import torchaudio.functional as taf

    log_probs = np.asarray(log_probs, dtype=np.float32)
    if log_probs.ndim != 2:
        raise ValueError(f"log_probs must be [T, V], got shape {log_probs.shape}")
    T, V = log_probs.shape
    targets = [int(u) for u in targets]
    bad = [u for u in targets if u == blank or not 0 <= u < V]
    if bad:
        raise SpeechseqError(
            f"target unit id {bad[0]} cannot be aligned: targets must be non-blank unit ids in "
            f"1..{V - 1} (blank is {blank}); check that the units match the model"
        )
    if not targets:
        return [blank] * T
    need = frames_required(targets)
    if T < need:
        raise SpeechseqError(
            f"{len(targets)} target units need at least {need} frames (one per unit plus one blank "
            f"between each of the {need - len(targets)} repeated neighbours) but the posteriors "
            f"have only {T} frames; the transcript is too long for the audio, or the model "
            "subsamples too much for it — fix the transcript or drop the utterance"
        )
    emissions = torch.from_numpy(np.ascontiguousarray(log_probs)).unsqueeze(0)
    tgt = torch.tensor([targets], dtype=torch.int32)
    labels, _ = taf.forced_align(emissions, tgt, blank=blank)
    return labels[0].tolist()


def unit_spans(frame_labels: Sequence[int], blank: int = 0) -> list[Span]:
    """Runs of one non-blank label in a CTC path: ``[(unit_id, start_frame, end_frame)]``.

    In a CTC path two equal neighbouring units are always separated by a blank, so each run
    is one unit of the target sequence.
    """
    spans: list[Span] = []
    prev = blank
    start = 0
    for t, u in enumerate(frame_labels):
        if u != prev:
            if prev != blank:
                spans.append((prev, start, t))
            start = t
            prev = u
    if prev != blank:
        spans.append((prev, start, len(frame_labels)))
    return spans


def _group_by_boundary(spans: Sequence[Span], word_boundary: int) -> list[list[Span]]:
    groups: list[list[Span]] = [[]]
    for span in spans:
        if span[0] == word_boundary:
            groups.append([])
        else:
            groups[-1].append(span)
    return [g for g in groups if g]


def _group_by_word_start(spans: Sequence[Span], symbols: Sequence[str]) -> list[list[Span]]:
    groups: list[list[Span]] = []
    for span in spans:
        if not groups or symbols[span[0]].startswith("▁"):
            groups.append([])
        groups[-1].append(span)
    return [g for g in groups if g]


def _group_by_spelling(
    spans: Sequence[Span], words: Sequence[str], spellings: dict[str, list[list[int]]]
) -> list[list[Span]] | None:
    """Split ``spans`` into ``words`` by their spellings (first spelling that fits); None if none fit."""
    groups: list[list[Span]] = []
    pos = 0
    units = [s[0] for s in spans]
    for word in words:
        for ids in spellings.get(word, []):
            if units[pos : pos + len(ids)] == list(ids):
                groups.append(list(spans[pos : pos + len(ids)]))
                pos += len(ids)
                break
        else:
            return None
    return groups if pos == len(spans) else None


def word_spans(
    spans: Sequence[Span],
    words: Sequence[str],
    word_boundary: int | None = None,
    symbols: Sequence[str] | None = None,
    spellings: dict[str, list[list[int]]] | None = None,
) -> list[Span]:
    """Group unit spans into ``[(word, start_frame, end_frame)]``, one per word of ``words``.

    How words are found, first that applies:

    - ``word_boundary`` (char/phone units): a word is a run of units between boundary units;
    - ``symbols`` (the unit symbols; BPE): a word starts at a piece beginning with ``▁``;
    - ``spellings`` (word -> unit-id sequences): consecutive units matching each word's spelling;
    - a single word takes all units.

    A word spans from its first unit's first frame to its last unit's end frame (exclusive).
    Raises :class:`SpeechseqError` when the units do not split into ``len(words)`` words.
    """
    words = list(words)
    if not spans:
        if words:
            raise SpeechseqError(f"no aligned units for the {len(words)} words '{' '.join(words)}'")
        return []
    how = "one word"
    if word_boundary is not None:
        groups, how = _group_by_boundary(spans, word_boundary), "word-boundary units"
    elif symbols is not None:
        groups, how = _group_by_word_start(spans, symbols), "'▁' word-start pieces"
    elif spellings is not None:
        groups, how = _group_by_spelling(spans, words, spellings), "lexicon spellings"
    else:
        groups = [list(spans)] if len(words) == 1 else None
        if groups is None:
            raise SpeechseqError(
                f"cannot split units into {len(words)} words without a word-boundary unit, "
                "unit symbols or spellings; pass one of them"
            )
    if groups is None or len(groups) != len(words):
        found = "no split" if groups is None else f"{len(groups)} words"
        raise SpeechseqError(
            f"the aligned units give {found} by {how} but the transcript has {len(words)} "
            f"words ('{' '.join(words)}'); the transcript and the unit sequence must agree"
        )
    return [(w, g[0][1], g[-1][2]) for w, g in zip(words, groups, strict=True)]


def to_ctm(
    utt_id: str, spans: Sequence[Span], frame_shift_s: float, offset_s: float = 0.0
) -> list[CtmEntry]:
    """CTM entries (channel ``1``) for ``[(label, start_frame, end_frame)]`` spans.

    ``start_s = offset_s + start_frame * frame_shift_s``, ``dur_s = (end - start) * frame_shift_s``.
    """
    return [
        CtmEntry(
            utt_id, "1", offset_s + start * frame_shift_s, (end - start) * frame_shift_s, str(w)
        )
        for w, start, end in spans
    ]
