"""Candidate segments: sliding windows, and the silence check of spoken queries."""

import numpy as np
import pytest

from speechseq.embed.segments import check_speech, peak_dbfs, window_segments
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
