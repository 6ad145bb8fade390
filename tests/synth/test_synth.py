"""The synthetic corpus generator: espeak binding, sentence generators, corpus plan, output."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from speechseq.cli.main import app
from speechseq.data.kaldi_dir import DataDir
from speechseq.errors import UsageError
from speechseq.synth import tasks
from speechseq.synth.corpus import plan_corpus, synthesize_corpus
from speechseq.synth.espeak import Voice, synth, trim_spans, word_spans


def test_espeak_speaks_with_word_starts_in_order():
    words = "leave boston at five thirty".split()
    s = synth(" ".join(words), Voice("en-us+m3"))
    assert s.sample_rate == 22050
    assert len(s.samples) > 0.5 * s.sample_rate and np.abs(s.samples).max() > 0.05
    spans = trim_spans(s.samples, word_spans(words, s.word_events, s.end_sample), s.sample_rate)
    assert len(spans) == len(words)
    starts = [a for a, _ in spans]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    assert all(a < b <= len(s.samples) for a, b in spans)


def test_espeak_same_text_same_samples_whatever_ran_before():
    v = Voice("en+caleb", 161, 56, 68, 4)  # a Klatt voice with breath noise
    a = synth("one two three", v).samples
    synth("something else entirely", Voice("en-gb-scotland+f2", 220, 70, 80, 3))
    assert np.array_equal(a, synth("one two three", v).samples)


def test_merged_word_event_still_gives_every_word_a_span():
    words = ["out", "of", "the", "way"]  # espeak-ng gives "out of" one event
    events = [(1, 0), (8, 5800), (12, 8300)]
    spans = word_spans(words, events, 15800)
    assert len(spans) == 4
    assert spans[0][0] == 0 and spans[1][1] == 5800  # "out" and "of" share 0..5800
    assert spans[0][1] == spans[1][0] > 0
    assert spans[2] == (5800, 8300) and spans[3] == (8300, 15800)
    real = synth("out of the way", Voice("en-us"))
    assert len(real.word_events) < 4
    assert len(word_spans(words, real.word_events, real.end_sample)) == 4


def test_no_speaker_in_two_sets_and_no_test_sentence_in_train():
    for task in ("digits", "commands", "translate", "words", "commands-std"):
        plan = plan_corpus(task, num_utts=300, seed=3)
        spk_sets = [{s.spk for s in spks} for spks in plan.speakers.values()]
        voices = [{(s.accent, s.variant) for s in spks} for spks in plan.speakers.values()]
        for i in range(3):
            for j in range(i + 1, 3):
                assert not spk_sets[i] & spk_sets[j]
                assert not voices[i] & voices[j]
        train, dev, test = plan.sets.values()
        if task == "commands-std":  # the archive's sentences are not the training ones
            assert not {u.words for u in train} & {u.words for u in dev}
        elif task != "words":
            train_texts = {u.words for u in train}
            assert not train_texts & {u.words for u in test}
            assert not train_texts & {u.words for u in dev}
        for utts in plan.sets.values():
            assert all(u.utt.startswith(u.spk + "-") for u in utts)


def test_default_plan_has_at_least_40_train_speakers():
    plan = plan_corpus("digits")
    train = plan.sets["train"]
    assert len(plan.speakers["train"]) >= 40
    assert len({u.spk for u in train}) >= 40
    assert len({(s.accent, s.variant) for s in plan.speakers["train"]}) >= 40


def test_split_is_about_80_10_10_and_too_few_is_a_usage_error():
    plan = plan_corpus("digits", num_utts=1000)
    assert [len(v) for v in plan.sets.values()] == [800, 100, 100]
    with pytest.raises(UsageError, match="--num-utts 30"):
        plan_corpus("digits", num_utts=25)
    with pytest.raises(UsageError, match="digits, commands, words, translate"):
        plan_corpus("nonsense", num_utts=100)


def test_german_numbers_reorder_in_translate_targets():
    rng = np.random.default_rng(0)
    found = False
    for _ in range(400):
        words, targets = tasks.translate_sentence(rng)
        assert set(targets) == {"fr", "de", "es"}
        assert all(t == t.lower() and t for t in targets.values())
        if words == ["twenty", "one"]:
            assert targets["de"] == "einundzwanzig"
        if "ninety" in words and "two" in words:
            assert "zweiundneunzig" in targets["de"]
            found = True
    assert found


def test_commands_give_one_bio_tag_per_word():
    rng = np.random.default_rng(5)
    for _ in range(200):
        words, tags = tasks.commands_sentence(rng)
        assert len(words) == len(tags)
        assert all(w == w.lower() and w.isalpha() for w in words)
        for prev, tag in zip(["O", *tags[:-1]], tags, strict=True):
            assert tag == "O" or tag[:2] in ("B-", "I-")
            if tag.startswith("I-"):
                assert prev[2:] == tag[2:]
    assert len(tasks.commands_vocabulary()) >= 250


def test_digits_use_both_oh_and_zero():
    rng = np.random.default_rng(0)
    words = [w for _ in range(200) for w in tasks.digits_sentence(rng)]
    assert {"oh", "zero"} <= set(words) and set(words) <= set(tasks.DIGIT_WORDS)


def _files(root):
    return {
        p.relative_to(root): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "wav.scp"
    }


def test_same_seed_same_corpus_different_seed_different(tmp_path):
    synthesize_corpus("digits", tmp_path / "a", num_utts=30, seed=1, log=lambda m: None)
    synthesize_corpus("digits", tmp_path / "b", num_utts=30, seed=1, log=lambda m: None)
    synthesize_corpus("digits", tmp_path / "c", num_utts=30, seed=2, log=lambda m: None)
    a, b, c = (_files(tmp_path / x) for x in "abc")
    assert a == b
    assert (tmp_path / "a/train/text").read_text() != (tmp_path / "c/train/text").read_text()
    assert a != c


def test_words_task_writes_train_archive_and_single_word_queries(tmp_path):
    synthesize_corpus("words", tmp_path, num_utts=30, seed=0, log=lambda m: None)
    archive, queries = DataDir(tmp_path / "archive"), DataDir(tmp_path / "queries")
    assert DataDir(tmp_path / "train").wav_scp
    assert all(len(t.split()) == 1 for t in queries.text.values())
    archive_words = {e.word for e in archive.ctm}
    assert all(t in archive_words for t in queries.text.values())
    spk = [set(DataDir(tmp_path / s).spk2utt) for s in ("train", "archive", "queries")]
    assert not (spk[0] & spk[1]) and not (spk[0] & spk[2]) and not (spk[1] & spk[2])


def test_commands_std_queries_are_words_and_two_word_terms_of_the_archive():
    plan = plan_corpus("commands-std", num_utts=600, seed=1)
    assert list(plan.sets) == ["train", "archive", "queries"]
    archive = plan.sets["archive"]
    pairs = {p for u in archive for p in zip(u.words[:-1], u.words[1:], strict=True)}
    words = {w for u in archive for w in u.words}
    sizes = [len(u.words) for u in plan.sets["queries"]]
    assert set(sizes) == {1, 2} and 0.3 < sizes.count(2) / len(sizes) < 0.7
    for u in plan.sets["queries"]:
        if len(u.words) == 2:
            assert u.words in pairs and min(map(len, u.words)) >= 3
        else:
            assert u.words[0] in words and len(u.words[0]) >= 4, u.words
    assert all(len(u.words) > 2 for u in archive)  # sentences: terms inside running speech


def test_commands_std_writes_an_archive_of_sentences_and_its_queries(tmp_path):
    synthesize_corpus("commands-std", tmp_path, num_utts=30, seed=0, log=lambda m: None)
    archive, queries = DataDir(tmp_path / "archive"), DataDir(tmp_path / "queries")
    assert (tmp_path / "archive" / "slots").is_file() and not (
        tmp_path / "queries" / "slots"
    ).exists()
    texts = [" ".join(archive.text[u].split()) for u in sorted(archive.text)]
    for q, term in queries.text.items():
        assert any(f" {term} " in f" {t} " for t in texts), (q, term)
        assert len([e for e in queries.ctm if e.utt == q]) == len(term.split())


def test_cli_synth_writes_consistent_data_dirs(tmp_path):
    out = tmp_path / "corpus"
    result = CliRunner().invoke(
        app, ["synth", "commands", str(out), "--num-utts", "40", "--seed", "4"]
    )
    assert result.exit_code == 0, result.output
    assert "utterances/s" in result.output
    for name in ("train", "dev", "test"):
        d = DataDir(out / name)
        utts = d.utt_ids
        assert set(d.wav_scp) == set(d.text) == set(utts) == set(d.utt2dur) == set(d.slots)
        assert list(d.utt2spk.values()) == sorted(d.utt2spk.values())  # sorted by utt = by spk
        ctm: dict[str, list] = {}
        for e in d.ctm:
            ctm.setdefault(e.utt, []).append(e)
        for utt in utts:
            x, sr = sf.read(d.wav_scp[utt])
            assert sr == 16000 and abs(len(x) / sr - d.utt2dur[utt]) < 1e-3
            words = d.text[utt].split()
            assert [e.word for e in ctm[utt]] == words
            assert len(d.slots[utt]) == len(words)
            assert all(0 <= e.start_s and e.end_s <= d.utt2dur[utt] + 1e-3 for e in ctm[utt])
        assert (out / name / "speakers.tsv").read_text().startswith("spk\taccent\tvariant")


def test_cli_synth_unknown_task_is_usage_error(tmp_path):
    result = CliRunner().invoke(app, ["synth", "poems", str(tmp_path / "x"), "--num-utts", "40"])
    assert result.exit_code == 2
    assert "digits, commands, words, translate" in result.output
    result = CliRunner().invoke(app, ["synth", "digits", str(tmp_path / "x"), "--num-utts", "12"])
    assert result.exit_code == 2 and "--num-utts 30" in result.output
    assert not (tmp_path / "x").exists()


def test_two_jobs_give_the_same_bytes_as_one(tmp_path):
    synthesize_corpus("digits", tmp_path / "a", num_utts=30, seed=7, num_jobs=1, log=lambda m: None)
    synthesize_corpus("digits", tmp_path / "b", num_utts=30, seed=7, num_jobs=2, log=lambda m: None)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")


def _synth_cli(out, *args):
    return CliRunner().invoke(app, ["synth", "digits", str(out), "--num-utts", "30", *args])


def test_dry_out_writes_the_same_utterances_without_room_and_noise(tmp_path):
    synthesize_corpus("digits", tmp_path / "plain", num_utts=30, seed=7, log=lambda m: None)
    result = _synth_cli(tmp_path / "a", "--seed", "7", "--dry-out", str(tmp_path / "d"))
    assert result.exit_code == 0, result.output
    assert _files(tmp_path / "a") == _files(tmp_path / "plain")  # the distant copy is unchanged
    for name in ("train", "dev", "test"):
        wet, dry = DataDir(tmp_path / "a" / name), DataDir(tmp_path / "d" / name)
        for f in ("text", "utt2spk", "utt2dur", "ctm", "speakers.tsv"):
            assert dry.file(f).read_text() == wet.file(f).read_text()
        ends = {}
        for line in dry.file("ctm").read_text().splitlines():
            utt, _, start, dur, _ = line.split()
            ends[utt] = max(ends.get(utt, 0.0), float(start) + float(dur))
        for utt, path in dry.wav_scp.items():
            assert str(tmp_path / "d") in path
            d, sr = sf.read(path)
            w, _ = sf.read(str(tmp_path / "a" / name / "wav" / f"{utt}.wav"))
            assert len(d) == len(w)
            # past the last word: silence when dry, noise when not
            after = int((ends[utt] + 0.06) * sr)
            if len(w) - after > 160:
                assert np.sqrt(np.mean(d[after:] ** 2)) < 1e-4 < np.sqrt(np.mean(w[after:] ** 2))


def test_dry_out_into_out_itself_is_a_usage_error(tmp_path):
    result = _synth_cli(tmp_path / "a", "--dry-out", str(tmp_path / "a"))
    assert result.exit_code == 2 and "another folder" in result.output
    assert not (tmp_path / "a").exists()
