"""Candidate segments: sliding windows, and the silence check of spoken queries."""

import numpy as np
import pytest

from speechseq.data.kaldi_dir import CtmEntry
from speechseq.embed.segments import (
    check_speech,
    negative_windows,
    peak_dbfs,
    window_segments,
    word_cover,
)
from speechseq.errors import SpeechseqError


@pytest.mark.parametrize("duration_s", [0.05, 0.25, 0.3, 0.45, 0.6, 2.0])
def test_windows_have_unique_ids_and_spans_inside_the_recording(duration_s):
    segs = window_segments("a/b.wav", duration_s, [0.3, 0.6], 0.1)
    assert len({s.segment_id for s in segs}) == len(segs)
    assert len({(s.start_s, s.end_s) for s in segs}) == len(segs)
    assert all(0.0 <= s.start_s < s.end_s <= round(duration_s, 3) for s in segs)


def test_a_recording_shorter_than_every_width_gets_one_window_of_its_length():
    (seg,) = window_segments("clip", 0.25, [0.3, 0.6, 1.0], 0.1)
    assert (seg.start_s, seg.end_s) == (0.0, 0.25)


def test_a_recording_between_the_widths_gets_the_short_windows_and_itself_once():
    segs = window_segments("clip", 0.45, [0.3, 0.6, 1.0], 0.1)
    assert [(s.start_s, s.end_s) for s in segs] == [(0.0, 0.3), (0.1, 0.4), (0.0, 0.45)]


def test_peak_level_and_the_silence_check():
    assert peak_dbfs(np.zeros(100, np.float32)) == -np.inf
    assert peak_dbfs(np.array([0.5, -1.0], np.float32)) == 0.0
    loud = np.array([0.0, 0.1], np.float32)
    assert check_speech(loud, "q.wav") is loud
    with pytest.raises(
        SpeechseqError, match=r"query q.wav: no speech found \(peak level -80.0 dBFS"
    ):
        check_speech(np.full(100, 1e-4, np.float32), "q.wav")


def test_word_cover_is_the_largest_share_of_one_word():
    ctm = [CtmEntry("u", "1", 1.0, 0.4, "a"), CtmEntry("u", "1", 1.5, 0.2, "b")]
    assert word_cover(0.0, 0.9, ctm) == 0.0
    assert word_cover(1.2, 1.6, ctm) == pytest.approx(0.5)  # half of a; half of b
    assert word_cover(1.3, 1.65, ctm) == pytest.approx(0.75)  # three quarters of b
    assert word_cover(0.5, 3.0, ctm) == pytest.approx(1.0)
    assert word_cover(0.0, 1.0, []) == 0.0


def test_negative_windows_cover_less_than_half_of_every_word():
    ctm = [
        CtmEntry(u, "1", s, d, w)
        for u, s, d, w in [("u1", 0.2, 0.4, "a"), ("u1", 0.7, 0.3, "b"), ("u2", 0.1, 0.8, "c")]
    ]
    durations = {"u1": 1.2, "u2": 1.0}
    pool = negative_windows(ctm, durations, [0.2, 0.4], 0.05, 10_000, seed=0)
    everything = [w for u, d in durations.items() for w in window_segments(u, d, [0.2, 0.4], 0.05)]
    by_utt = {u: [e for e in ctm if e.utt == u] for u in durations}
    want = [w for w in everything if word_cover(w.start_s, w.end_s, by_utt[w.source]) < 0.5]
    assert 0 < len(pool) < len(everything) and pool == want  # asked for more: all of them
    some = negative_windows(ctm, durations, [0.2, 0.4], 0.05, 5, seed=3)
    assert len(some) == 5 and all(w in want for w in some)
    assert some == negative_windows(ctm, durations, [0.2, 0.4], 0.05, 5, seed=3)
    assert some != negative_windows(ctm, durations, [0.2, 0.4], 0.05, 5, seed=4)
