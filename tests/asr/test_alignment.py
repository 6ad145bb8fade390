"""CTC forced alignment, unit and word spans, CTM entries."""

from __future__ import annotations

import math

import numpy as np
import pytest

from speechseq.asr.alignment import forced_align, frames_required, to_ctm, unit_spans, word_spans
from speechseq.data.kaldi_dir import CtmEntry
from speechseq.errors import SpeechseqError

SYMBOLS = ["<blank>", "|", "a", "b", "c", "o", "t"]
ID = {s: i for i, s in enumerate(SYMBOLS)}


def peaks(T: int, at: dict[int, str], V: int = len(SYMBOLS), p: float = 0.8) -> np.ndarray:
    """log_probs [T, V]: blank-dominated frames, and ``p`` on a unit at frames ``at``."""
    probs = np.full((T, V), 0.02)
    probs[:, 0] = 1.0
    for t, sym in at.items():
        probs[t, ID[sym]] = p * 10
    probs /= probs.sum(axis=1, keepdims=True)
    return np.log(probs).astype(np.float32)


def test_forced_align_puts_units_where_posteriors_peak():
    # "cab|to" with peaks at frames 2, 5, 6, 9, 12, 14; targets include the word boundary.
    at = {2: "c", 5: "a", 6: "b", 9: "|", 12: "t", 14: "o"}
    lp = peaks(18, at)
    targets = [ID[s] for s in "cab|to"]
    labels = forced_align(lp, targets)
    assert len(labels) == 18
    assert set(labels) <= {0, *targets}
    spans = unit_spans(labels)
    assert [(u, s) for u, s, _ in spans] == [(ID[sym], t) for t, sym in sorted(at.items())]
    assert all(e == s + 1 for _, s, e in spans)  # peaky: one frame each


def test_forced_align_follows_targets_against_the_posteriors():
    # The posteriors say "cat", the transcript says "cab": the 't' frame is labelled 'b'.
    lp = peaks(8, {1: "c", 3: "a", 5: "t"})
    labels = forced_align(lp, [ID["c"], ID["a"], ID["b"]])
    assert [u for u, _, _ in unit_spans(labels)] == [ID["c"], ID["a"], ID["b"]]


def test_forced_align_separates_repeated_units_with_a_blank():
    lp = peaks(3, {0: "a", 2: "a"})
    assert forced_align(lp, [ID["a"], ID["a"]]) == [ID["a"], 0, ID["a"]]
    assert frames_required([ID["a"], ID["a"], ID["b"]]) == 4


def test_forced_align_rejects_targets_longer_than_the_frames():
    lp = peaks(3, {0: "a", 2: "a"})
    with pytest.raises(SpeechseqError, match=r"need at least 4 frames.*only 3 frames"):
        forced_align(lp, [ID["a"], ID["a"], ID["b"]])
    with pytest.raises(SpeechseqError, match="non-blank unit ids"):
        forced_align(lp, [0, ID["a"]])
    with pytest.raises(SpeechseqError, match="non-blank unit ids"):
        forced_align(lp, [len(SYMBOLS)])


def test_unit_spans_merges_runs_and_drops_blanks():
    labels = [0, 3, 3, 0, 0, 2, 0, 2, 2]
    assert unit_spans(labels) == [(3, 1, 3), (2, 5, 6), (2, 7, 9)]
    assert unit_spans([0, 0]) == []


def test_word_spans_split_at_boundary_units():
    spans = [
        (ID["c"], 2, 3),
        (ID["a"], 5, 7),
        (ID["|"], 9, 10),
        (ID["t"], 12, 13),
        (ID["o"], 14, 15),
    ]
    assert word_spans(spans, ["ca", "to"], word_boundary=ID["|"]) == [("ca", 2, 7), ("to", 12, 15)]


def test_word_spans_bpe_words_start_at_marker_pieces():
    pieces = ["<blank>", "▁ca", "b", "▁to"]
    spans = [(1, 0, 1), (2, 3, 4), (3, 6, 8)]
    assert word_spans(spans, ["cab", "to"], symbols=pieces) == [("cab", 0, 4), ("to", 6, 8)]


def test_word_spans_by_spellings_without_boundary():
    spans = [(ID["c"], 0, 1), (ID["a"], 2, 3), (ID["t"], 4, 5), (ID["a"], 7, 8)]
    spellings = {"cat": [[ID["c"], ID["a"], ID["t"]]], "a": [[ID["a"]]]}
    assert word_spans(spans, ["cat", "a"], spellings=spellings) == [("cat", 0, 5), ("a", 7, 8)]


def test_word_spans_rejects_word_count_mismatch():
    spans = [(ID["c"], 0, 1), (ID["|"], 2, 3), (ID["a"], 4, 5)]
    with pytest.raises(SpeechseqError, match="2 words.*transcript has 3 words"):
        word_spans(spans, ["c", "a", "t"], word_boundary=ID["|"])


def test_to_ctm_converts_frames_to_seconds():
    entries = to_ctm("utt1", [("cab", 2, 7), ("to", 12, 15)], frame_shift_s=0.03, offset_s=1.0)
    assert [e.word for e in entries] == ["cab", "to"]
    assert all(isinstance(e, CtmEntry) and e.utt == "utt1" and e.channel == "1" for e in entries)
    assert math.isclose(entries[0].start_s, 1.06) and math.isclose(entries[0].dur_s, 0.15)
    assert math.isclose(entries[1].start_s, 1.36) and math.isclose(entries[1].end_s, 1.45)
