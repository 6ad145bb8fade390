"""Bootstrap intervals of WER and of a ratio of two test sets' WERs (speechseq.metrics.bootstrap)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from speechseq.errors import SpeechseqError
from speechseq.metrics.bootstrap import wer_interval, wer_ratio
from speechseq.metrics.wer import error_stats, per_utt_lines, read_per_utt

ROOT = Path(__file__).resolve().parents[2]
WORDS = "zero one two three four five six seven eight nine".split()


def decode_dir(path: Path, refs: dict[str, str], hyps: dict[str, str]) -> Path:
    path.mkdir(parents=True)
    (path / "per_utt").write_text("\n".join(per_utt_lines(refs, hyps)) + "\n", encoding="utf-8")
    return path


def corpus(
    n: int, error_rate: float, seed: int, prefix: str = "u"
) -> tuple[dict[str, str], dict[str, str]]:
    """n utterances of 5 words; each word substituted with probability error_rate."""
    rng = np.random.default_rng(seed)
    refs, hyps = {}, {}
    for i in range(n):
        ref = list(rng.choice(WORDS, 5))
        hyp = [w if rng.random() >= error_rate else WORDS[(WORDS.index(w) + 1) % 10] for w in ref]
        refs[f"{prefix}{i:04d}"], hyps[f"{prefix}{i:04d}"] = " ".join(ref), " ".join(hyp)
    return refs, hyps


def test_read_per_utt_counts_errors_and_reference_words(tmp_path):
    refs = {"a": "one two three", "b": "four five"}
    hyps = {"a": "one too three extra", "b": "five"}
    d = decode_dir(tmp_path / "dec", refs, hyps)
    # a: 1 substitution + 1 insertion over 3 words; b: 1 deletion over 2 words
    assert read_per_utt(d / "per_utt") == {"a": (2, 3), "b": (1, 2)}


def test_read_per_utt_errors_name_the_file_and_line(tmp_path):
    with pytest.raises(SpeechseqError, match="not found"):
        read_per_utt(tmp_path / "missing" / "per_utt")
    bad = tmp_path / "per_utt"
    bad.write_text("a ref one\na #csid 1 0 x 0\n", encoding="utf-8")
    with pytest.raises(SpeechseqError, match=r"per_utt:2: '#csid' needs four counts"):
        read_per_utt(bad)
    bad.write_text("a ref one\n", encoding="utf-8")
    with pytest.raises(SpeechseqError, match="no '#csid' lines"):
        read_per_utt(bad)


def test_interval_holds_the_pooled_wer_and_collapses_when_every_utterance_has_the_same_rate(
    tmp_path,
):
    refs, hyps = corpus(200, 0.15, seed=1)
    d = decode_dir(tmp_path / "d1", refs, hyps)
    w = wer_interval([d / "per_utt"], samples=2000)
    assert w.value == pytest.approx(100 * error_stats(refs, hyps).rate)
    assert w.low < w.value < w.high
    # every utterance one error in five words: any resample gives 20%
    same = {u: r.split()[0] + " x " + " ".join(r.split()[2:]) for u, r in refs.items()}
    d2 = decode_dir(tmp_path / "d2", refs, same)
    w2 = wer_interval([d2 / "per_utt"], samples=500)
    assert w2.value == w2.low == w2.high == pytest.approx(20.0)


def test_decodes_of_one_set_pool_their_counts_and_must_score_the_same_utterances(tmp_path):
    refs, h1 = corpus(50, 0.1, seed=2)
    _, h2 = corpus(50, 0.3, seed=2)
    d1, d2 = decode_dir(tmp_path / "s1", refs, h1), decode_dir(tmp_path / "s2", refs, h2)
    pooled = wer_interval([d1 / "per_utt", d2 / "per_utt"], samples=200).value
    e1, e2 = error_stats(refs, h1), error_stats(refs, h2)
    assert pooled == pytest.approx(100.0 * (e1.errors + e2.errors) / (e1.ref_len + e2.ref_len))
    other_refs, other_hyps = corpus(50, 0.1, seed=2, prefix="v")
    d3 = decode_dir(tmp_path / "s3", other_refs, other_hyps)
    with pytest.raises(SpeechseqError, match="scores other utterances"):
        wer_interval([d1 / "per_utt", d3 / "per_utt"])


def test_ratio_and_the_share_of_replicates_under_a_target(tmp_path):
    a = decode_dir(tmp_path / "a", *corpus(400, 0.10, seed=3))
    b = decode_dir(tmp_path / "b", *corpus(400, 0.30, seed=4))
    r = wer_ratio([a / "per_utt"], [b / "per_utt"], samples=2000, target=2.0)
    assert r.ratio.value == pytest.approx(r.wer_b.value / r.wer_a.value)
    assert r.ratio.low < r.ratio.value < r.ratio.high
    assert 2.0 < r.ratio.low and r.p_at_most < 0.01  # three times the errors: never within 2x
    assert wer_ratio([a / "per_utt"], [b / "per_utt"], samples=2000, target=4.0).p_at_most > 0.99
    same = wer_ratio([a / "per_utt"], [a / "per_utt"], samples=2000, target=1.0)
    assert same.ratio.value == pytest.approx(1.0) and same.ratio.low < 1.0 < same.ratio.high
    assert 0.3 < same.p_at_most < 0.7


def test_a_larger_test_set_narrows_the_interval(tmp_path):
    small = decode_dir(tmp_path / "small", *corpus(100, 0.2, seed=5))
    large = decode_dir(tmp_path / "large", *corpus(1600, 0.2, seed=5))
    ws = wer_interval([small / "per_utt"], samples=4000)
    wl = wer_interval([large / "per_utt"], samples=4000)
    # 16x the utterances: about a quarter of the width
    assert 0.15 < (wl.high - wl.low) / (ws.high - ws.low) < 0.4


def test_ratio_refuses_too_few_samples_and_an_error_free_first_set(tmp_path):
    refs, _ = corpus(20, 0.0, seed=6)
    clean = decode_dir(tmp_path / "clean", refs, refs)
    noisy = decode_dir(tmp_path / "noisy", *corpus(20, 0.2, seed=6))
    with pytest.raises(SpeechseqError, match="too few"):
        wer_ratio([noisy / "per_utt"], [noisy / "per_utt"], samples=10)
    with pytest.raises(SpeechseqError, match="no errors in the first set"):
        wer_ratio([clean / "per_utt"], [noisy / "per_utt"], samples=100)


def run_script(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, str(ROOT / "benchmarks" / "engine_ratio.py"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env)


def test_engine_ratio_script_prints_both_sets_and_the_ratio(tmp_path):
    a = decode_dir(tmp_path / "a", *corpus(60, 0.1, seed=7))
    b = decode_dir(tmp_path / "b", *corpus(60, 0.3, seed=8, prefix="p"))
    p = run_script(
        "--a",
        str(a),
        "--b",
        str(b),
        "--names",
        "espeak",
        "piper",
        "--target",
        "2",
        "--samples",
        "500",
    )
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[1].split()[:3] == ["espeak", "1", "60"] and lines[2].split()[:3] == [
        "piper",
        "1",
        "60",
    ]
    assert lines[3].startswith("ratio piper / espeak: ") and "P(ratio <= 2) = " in lines[3]
    missing = run_script("--a", str(tmp_path / "nowhere"), "--b", str(b))
    assert missing.returncode == 1
    assert (
        missing.stderr.strip().startswith("error: ")
        and "nowhere/per_utt: not found" in missing.stderr
    )
