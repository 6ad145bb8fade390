"""The word-boundary detector (speechseq.std.segmenter): labels, peaks, spans and the F-score by
hand; train-segmenter, segment and the query cut through the CLI on the tiny words corpus."""

from __future__ import annotations

import numpy as np
import pytest

from speechseq.data.kaldi_dir import CtmEntry, read_segments
from speechseq.errors import SpeechseqError, UsageError
from speechseq.std.segmenter import (
    CutOptions,
    Segmenter,
    _boundary_f1,
    boundary_labels,
    candidate_spans,
    peaks,
)
from tests.embed.helpers import run_ok, runner


def run_fails(args):
    """Run a speechseq command in-process; it must fail with exit code 1 (bad input)."""
    from speechseq.cli.main import app

    res = runner.invoke(app, args)
    assert res.exit_code == 1, res.output
    return res


def test_labels_mark_the_frames_around_each_word_edge():
    words = [CtmEntry("u", "1", 0.10, 0.20, "a"), CtmEntry("u", "1", 0.30, 0.15, "b")]
    labels = boundary_labels(words, 50, tolerance=1)
    # edges at 0.10, 0.30 (end of a = start of b) and 0.45 s: frames 10, 30, 45, one each side
    assert np.flatnonzero(labels).tolist() == [9, 10, 11, 29, 30, 31, 44, 45, 46]
    # an edge on the first frame, and one past the end, stay inside the utterance
    edge = boundary_labels([CtmEntry("u", "1", 0.0, 0.6, "a")], 50, tolerance=2)
    assert np.flatnonzero(edge).tolist() == [0, 1, 2]


def test_peaks_above_the_threshold_and_apart():
    prob = np.zeros(60)
    prob[[0, 10, 12, 30, 50]] = [0.9, 0.8, 0.95, 0.4, 0.7]
    # 0.4 is under the threshold; 10 and 12 are 20 ms apart: the higher one (12) stays
    assert np.allclose(peaks(prob, 0.5, 0.05), [0.0, 0.12, 0.50])
    assert np.allclose(peaks(prob, 0.5, 0.01), [0.0, 0.10, 0.12, 0.50])
    assert np.allclose(peaks(prob, 0.3, 0.05), [0.0, 0.12, 0.30, 0.50])
    assert len(peaks(np.zeros(0), 0.5, 0.05)) == 0


def test_spans_reach_the_next_boundaries_within_the_durations():
    times = [0.0, 0.1, 0.4, 0.9, 2.5]
    assert candidate_spans(times, 1, 0.15, 1.5) == [(0.1, 0.4), (0.4, 0.9)]
    assert candidate_spans(times, 2, 0.15, 1.5) == [
        (0.0, 0.4),
        (0.1, 0.4),
        (0.1, 0.9),
        (0.4, 0.9),
    ]


def test_boundary_f_score_counts_each_true_boundary_once():
    labels = np.zeros(40, dtype=int)
    labels[[4, 5, 6, 20, 21, 22]] = 1  # true boundaries at frames 5 and 21
    prob = np.zeros(40)
    prob[[6, 30]] = 0.9  # one hit (6 is within 2 frames of 5), one false alarm
    assert _boundary_f1(prob, labels, 2) == (1, 2, 2)
    prob[[5, 6]] = [0.9, 0.8]  # two peaks near one true boundary: only one is a hit
    assert _boundary_f1(prob, labels, 2)[0] == 1


def test_cut_options_refuse_impossible_values():
    with pytest.raises(UsageError, match="--threshold"):
        CutOptions(threshold=1.5)
    with pytest.raises(UsageError, match="--span"):
        CutOptions(span=0)
    with pytest.raises(UsageError, match="--min-dur"):
        CutOptions(min_dur_s=1.0, max_dur_s=0.5)


def test_train_segmenter_records_the_boundary_f_score(segmenter):
    rows = (segmenter / "metrics.csv").read_text().splitlines()
    assert "dev_boundary_f1" in rows[0]
    assert len(rows) == 3  # a header and two epochs


def test_segment_writes_spans_between_detected_boundaries(segmenter, words_corpus, tmp_path):
    out = tmp_path / "segments"
    # a low threshold: the 2-epoch model's posteriors are weak, but peaks exist
    run_ok(
        ["segment", str(segmenter), str(words_corpus / "archive"), "--out", str(out),
         "--threshold", "0.05", "--span", "2"]
    )  # fmt: skip
    table = read_segments(out)
    assert table
    utts = set((words_corpus / "archive" / "utt2spk").read_text().split()[0::2])
    for seg in table.values():
        assert seg.reco in utts
        assert 0.15 - 1e-9 <= seg.end_s - seg.start_s <= 1.5 + 1e-9
    # the same spans as the library computes, segment for segment
    spans = Segmenter(segmenter, CutOptions(threshold=0.05), "cpu").spans_of_data(
        words_corpus / "archive"
    )
    assert sum(len(s) for s in spans.values()) == len(table)


def test_a_cut_query_runs_from_its_first_boundary_to_its_last(segmenter, monkeypatch):
    from speechseq.std import qbe

    seg = Segmenter(segmenter, CutOptions(threshold=0.5), "cpu")
    x = np.arange(16000, dtype=np.float32)  # 1 s: 100 frames
    prob = np.zeros(100)
    prob[[20, 45, 70]] = 0.9  # boundaries at 0.20, 0.45 and 0.70 s
    monkeypatch.setattr(seg, "probs_of_audio", lambda samples: prob)
    assert np.array_equal(seg.cut_query(x, 16000), x[3200:11200])
    prob[[45, 70]] = 0.0  # one boundary: no cut
    assert seg.cut_query(x, 16000) is None
    # the query cutter of search and eval-std keeps such a query whole
    import speechseq.std.segmenter as sm

    monkeypatch.setattr(sm, "Segmenter", lambda *a, **k: seg)
    assert np.array_equal(qbe.query_cutter(str(segmenter), "cpu")(x), x)
    prob[70] = 0.9
    assert np.array_equal(qbe.query_cutter(str(segmenter), "cpu")(x), x[3200:11200])


def test_eval_std_with_the_query_segmenter(segmenter, search_setup, words_corpus, tmp_path):
    res = run_ok(
        ["eval-std", "--index", str(search_setup / "idx"), "--queries", str(words_corpus / "queries"),
         "--ref", str(words_corpus / "archive" / "ctm"), "--no-dtw", "--max-queries", "3",
         "--query-segmenter", str(segmenter), "--device", "cpu", "--out", str(tmp_path / "ev")]
    )  # fmt: skip
    assert res.stdout.splitlines()[1].split()[0] == "embed"


def test_train_segmenter_needs_word_timings(words_corpus, tmp_path):
    data = tmp_path / "train"
    run_ok(["data", "copy", str(words_corpus / "train"), str(data), "--feats"])
    (data / "ctm").unlink()
    res = run_fails(["train-segmenter", str(data), "--out", str(tmp_path / "seg")])
    assert "no ctm" in res.output and "speechseq align" in res.output
    assert not (tmp_path / "seg" / "final.pt").exists()


def test_segment_refuses_a_model_that_is_not_a_segmenter(search_setup, words_corpus, tmp_path):
    res = run_fails(
        ["segment", str(search_setup / "emb"), str(words_corpus / "archive"), "--out",
         str(tmp_path / "s")]
    )  # fmt: skip
    assert "not 'segmenter'" in res.output
    assert not (tmp_path / "s").exists()


def test_a_segmenter_must_be_at_the_queries_rate(segmenter, monkeypatch):
    from speechseq.std import qbe

    with pytest.raises(SpeechseqError, match="8000 Hz"):
        qbe.query_cutter(str(segmenter), "cpu", sample_rate=8000)


def test_segment_refuses_features_of_other_settings(segmenter, words_corpus, tmp_path):
    data = tmp_path / "archive"
    run_ok(["data", "copy", str(words_corpus / "archive"), str(data)])
    run_ok(["compute-feats", str(data), "--type", "mfcc"])
    res = run_fails(["segment", str(segmenter), str(data), "--out", str(tmp_path / "s")])
    assert "other settings" in res.output and "compute-feats" in res.output
    assert not (tmp_path / "s").exists()
