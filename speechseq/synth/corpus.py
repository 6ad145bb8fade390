"""The corpus driver: plan utterances (text, speaker) without audio, then render and write
Kaldi data directories.

``plan_corpus`` is pure and fast (tests check speakers and held-out sentences with it);
``synthesize_corpus`` renders every planned utterance with its speaker's engine (espeak-ng,
or Piper: :mod:`speechseq.synth.piper`), perturbs it with its speaker's settings and writes
one data directory per set, each built in a temporary directory and renamed into place (an
existing set directory is replaced).

A Piper utterance draws its own VITS settings: length scale (speaking rate) 0.8-1.25, noise
scale 0.4-0.9 and duration noise (noise_w) 0.5-1.1; its speaker's VTLP factor and pitch shift
then make the one voice many. The sentences of a seed are the same for every engine, so a
Piper test set says the espeak test set's sentences in other voices.

Determinism: each utterance's random numbers come from ``(seed, task, set, index)``, each
speaker's from ``(seed, speaker)``, so the output does not depend on ``-j``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from speechseq.data.audio import DEFAULT_SR
from speechseq.data.kaldi_dir import CtmEntry, spk2utt_from_utt2spk, write_ctm, write_table
from speechseq.errors import SpeechseqError, UsageError
from speechseq.fileio import atomic_dir, atomic_write
from speechseq.parallel import process_map
from speechseq.synth import tasks
from speechseq.synth.espeak import synth, trim_spans, word_spans
from speechseq.synth.voices import ENGINES, Speaker, make_speakers

TASKS = ("digits", "commands", "words", "translate", "commands-std")
MIN_HELDOUT_UTTS = 10  # per held-out set
MIN_TRAIN_UTTS = 10
MIN_UTTS = 2 * MIN_HELDOUT_UTTS + MIN_TRAIN_UTTS
# spoken-term search corpora: an archive of held-out voices and queries of its terms by others
SEARCH_TASKS = ("words", "commands-std")
SET_NAMES = {t: ("train", "archive", "queries") for t in SEARCH_TASKS}  # others: train, dev, test
MIN_QUERY_LETTERS = 4  # a commands-std query word: content words, not "to", "at", "the"
# Speaker variety decides how well models trained on this corpus generalise to new voices:
# on digits, 200 training speakers instead of 48 (same 1200 utterances) took test WER from 21% to 9.5%.
DEFAULT_TRAIN_SPEAKERS = 200
DEFAULT_HELDOUT_SPEAKERS = 16  # per held-out set (dev, test, archive, queries)


@dataclass(frozen=True)
class UttPlan:
    utt: str  # utterance id, <spk>-<index>
    spk: str
    index: int  # position within its set
    words: tuple[str, ...]  # transcript words
    slots: tuple[str, ...] | None = None  # BIO tag per word (commands)
    targets: dict[str, str] | None = None  # translations by language (translate)


@dataclass
class CorpusPlan:
    task: str
    seed: int
    sets: dict[str, list[UttPlan]]  # set name -> utterances, in id order
    speakers: dict[str, list[Speaker]]  # set name -> speakers
    speaker_by_id: dict[str, Speaker] = field(default_factory=dict)

    def __post_init__(self):
        self.speaker_by_id = {s.spk: s for spks in self.speakers.values() for s in spks}


def set_names(task: str) -> tuple[str, str, str]:
    return SET_NAMES.get(task, ("train", "dev", "test"))


def split_sizes(num_utts: int) -> tuple[int, int, int]:
    """(train, dev, test) utterance counts: about 80/10/10, at least 10 in dev and test."""
    if num_utts < MIN_UTTS:
        raise UsageError(
            f"--num-utts {num_utts} is too small: dev and test need {MIN_HELDOUT_UTTS} utterances "
            f"each and train at least {MIN_TRAIN_UTTS} — use --num-utts {MIN_UTTS} or more"
        )
    held = max(MIN_HELDOUT_UTTS, int(round(num_utts * 0.1)))
    return num_utts - 2 * held, held, held


def _rng(seed: int, *parts: str | int) -> np.random.Generator:
    key = [seed] + [p if isinstance(p, int) else zlib.crc32(p.encode()) for p in parts]
    return np.random.default_rng(key)


def _sentence(task: str, rng: np.random.Generator):
    """(words, slots, targets) of one sentence of ``task``."""
    if task == "digits":
        return tasks.digits_sentence(rng), None, None
    if task in ("commands", "commands-std"):
        words, slots = tasks.commands_sentence(rng)
        return words, tuple(slots), None
    if task == "words":
        return tasks.words_sentence(rng), None, None
    if task == "translate":
        words, targets = tasks.translate_sentence(rng)
        return words, None, targets
    raise UsageError(f"unknown task '{task}' — choose one of: {', '.join(TASKS)}")


def _query_term(task: str, archive: list[UttPlan], rng: np.random.Generator) -> list[str]:
    """A query of a search corpus: a term the archive holds. ``words``: one of its words.
    ``commands-std``: as often one word of ``MIN_QUERY_LETTERS`` letters or more as two words
    that follow one another in an archive sentence, each of 3 letters or more (terms inside
    running speech: "denver", "new york", "five thirty")."""
    if task == "words":
        archive_words = sorted({w for u in archive for w in u.words})
        return [archive_words[int(rng.integers(len(archive_words)))]]
    if rng.random() < 0.5:
        pairs = sorted(
            {
                (a, b)
                for u in archive
                for a, b in zip(u.words[:-1], u.words[1:], strict=True)
                if min(len(a), len(b)) >= 3
            }
        )
        if pairs:
            return list(pairs[int(rng.integers(len(pairs)))])
    singles = sorted({w for u in archive for w in u.words if len(w) >= MIN_QUERY_LETTERS})
    return [singles[int(rng.integers(len(singles)))]]


def plan_corpus(
    task: str,
    num_utts: int = 1000,
    seed: int = 0,
    num_train_speakers: int = DEFAULT_TRAIN_SPEAKERS,
    num_heldout_speakers: int = DEFAULT_HELDOUT_SPEAKERS,
    engine: str = "espeak",
) -> CorpusPlan:
    """Texts and speakers of every utterance, no audio; ``engine``: espeak | piper | mix
    (see :mod:`speechseq.synth.voices`).

    Held-out sets are planned first; a train sentence that equals a held-out one is drawn
    again (dev and test are kept apart from each other the same way), so no test sentence
    appears in train. For ``words`` the held-out share goes to the archive (utterances) and
    the queries (single words that occur in the archive, by other speakers); ``commands-std``
    is the same with the commands grammar's sentences, and its queries are words and two-word
    terms of the archive's sentences (:func:`_query_term`). Speakers are
    dealt round-robin; a set has no more speakers than utterances.
    """
    if task not in TASKS:
        raise UsageError(f"unknown task '{task}' — choose one of: {', '.join(TASKS)}")
    n_train, n_dev, n_test = split_sizes(num_utts)
    train_set, dev_set, test_set = set_names(task)
    counts = {dev_set: n_dev, test_set: n_test, train_set: n_train}
    spk_counts = {
        dev_set: min(num_heldout_speakers, n_dev),
        test_set: min(num_heldout_speakers, n_test),
        train_set: min(num_train_speakers, n_train),
    }
    speakers = make_speakers(seed, spk_counts, engine)
    sets: dict[str, list[UttPlan]] = {}
    taken: set[tuple[str, ...]] = set()
    for name in (dev_set, test_set, train_set):
        spks = speakers[name]
        utts = []
        for i in range(counts[name]):
            spk = spks[i % len(spks)].spk
            rng = _rng(seed, task, name, i)
            if task in SEARCH_TASKS and name == test_set:
                words, slots, targets = _query_term(task, sets[dev_set], rng), None, None
            else:
                for _ in range(1000):
                    words, slots, targets = _sentence(task, rng)
                    if tuple(words) not in taken:
                        break
                else:
                    raise RuntimeError(
                        f"{task}: could not draw a new {name} sentence in 1000 tries"
                    )
            if not (task in SEARCH_TASKS and name == test_set):
                taken.add(tuple(words))
            utts.append(UttPlan(f"{spk}-{i:05d}", spk, i, tuple(words), slots, targets))
        sets[name] = sorted(utts, key=lambda u: u.utt)
    ordered = {n: sets[n] for n in (train_set, dev_set, test_set)}
    return CorpusPlan(task, seed, ordered, {n: speakers[n] for n in ordered})


# --- rendering ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    audio: np.ndarray  # float32 [num_samples] at 16 kHz
    word_times: list[tuple[float, float]]  # (start_s, dur_s) per word
    dry: np.ndarray | None = None  # the same without room and noise (render_utt's dry=True)


def _speak_espeak(spoken: list[str], speaker: Speaker) -> tuple[np.ndarray, int, list]:
    syn = synth(" ".join(spoken), speaker.voice)
    spans = trim_spans(
        syn.samples, word_spans(spoken, syn.word_events, syn.end_sample), syn.sample_rate
    )
    return syn.samples, syn.sample_rate, spans


def _speak_piper(spoken: list[str], rng: np.random.Generator) -> tuple[np.ndarray, int, list]:
    # deferred: onnx and onnxruntime load only when a Piper speaker speaks
    from speechseq.synth import piper

    length_scale, noise_scale, noise_w = (
        rng.uniform(0.8, 1.25),
        rng.uniform(0.4, 0.9),
        rng.uniform(0.5, 1.1),
    )
    syn = piper.engine().synth(spoken, rng, length_scale, noise_scale, noise_w)
    return syn.samples, syn.sample_rate, trim_spans(syn.samples, syn.word_spans, syn.sample_rate)


def render_utt(
    utt: UttPlan, speaker: Speaker, seed: int, task: str, set_name: str, dry: bool = False
) -> Rendered:
    """Speak one planned utterance and apply its speaker's perturbation (16 kHz).

    ``dry``: also return the utterance before its speaker's room response and noise (the
    same samples otherwise, the same length and word times; ``audio`` is unchanged by it),
    as a close-talking microphone beside the distant one would record it."""
    # deferred: data.signal imports scipy.signal, too slow (~0.5 s) for `speechseq --help`
    from speechseq.data import signal as perturb

    rng = _rng(seed, task, set_name, utt.index, "audio")
    spk_rng = _rng(seed, "speaker", speaker.spk)
    spoken = [tasks.SPOKEN.get(w, w) for w in utt.words]
    if speaker.engine == "piper":
        x, in_sr, spans = _speak_piper(spoken, _rng(seed, task, set_name, utt.index, "piper"))
    else:
        x, in_sr, spans = _speak_espeak(spoken, speaker)
    sr = DEFAULT_SR
    y = perturb.speed_resample(x, in_sr, sr, speaker.speed)
    if speaker.vtlp != 1.0 or speaker.pitch_shift_st != 0.0:
        n = len(y)
        if speaker.vtlp != 1.0:
            y = perturb.vtlp(y, sr, speaker.vtlp)
        if speaker.pitch_shift_st != 0.0:
            y = perturb.pitch_shift(y, sr, speaker.pitch_shift_st)
        y = np.pad(np.asarray(y[:n], dtype=np.float32), (0, max(0, n - len(y))))  # times stay
    lead_s, trail_s = rng.uniform(0.05, 0.3, size=2)
    y = np.concatenate(
        [np.zeros(int(lead_s * sr), np.float32), y, np.zeros(int(trail_s * sr), np.float32)]
    )
    lead_s = int(lead_s * sr) / sr
    y = perturb.channel_tilt(y, speaker.tilt)
    y_dry = y
    if speaker.reverb_rt60_s > 0:
        y = perturb.reverberate(y, sr, speaker.reverb_rt60_s, spk_rng)
    gain = 10 ** (rng.uniform(-14, -3) / 20)
    y = y * (gain / (float(np.max(np.abs(y))) or 1.0))
    y = perturb.add_noise(y, speaker.snr_db + rng.uniform(-2, 2), speaker.noise, sr, rng)
    y = np.clip(y, -1.0, 1.0).astype(np.float32)
    if dry:
        y_dry = (y_dry * (gain / (float(np.max(np.abs(y_dry))) or 1.0))).astype(np.float32)
    dur_s = len(y) / sr
    scale = 1.0 / (in_sr * speaker.speed)
    times = []
    for s, e in spans:
        start_s = min(lead_s + s * scale, dur_s - 0.002)
        times.append((start_s, max(0.001, min((e - s) * scale, dur_s - start_s))))
    return Rendered(y, times, y_dry if dry else None)


def _render_job(job) -> tuple[str, float, list[tuple[float, float]]]:
    """Pool worker: render, write the wav (and the dry one, when given a path for it), return
    (utt, duration_s, word times)."""
    import soundfile as sf

    utt, speaker, seed, task, set_name, wav_path, dry_path = job
    r = render_utt(utt, speaker, seed, task, set_name, dry=dry_path is not None)
    sf.write(wav_path, r.audio, DEFAULT_SR, subtype="PCM_16", format="WAV")
    if dry_path is not None:
        sf.write(dry_path, r.dry, DEFAULT_SR, subtype="PCM_16", format="WAV")
    return utt.utt, len(r.audio) / DEFAULT_SR, r.word_times


@dataclass
class SynthSummary:
    sets: dict[str, tuple[int, int, float]]  # set -> (utterances, speakers, hours)
    elapsed_s: float
    num_utts: int

    @property
    def utts_per_s(self) -> float:
        return self.num_utts / max(self.elapsed_s, 1e-9)


SPEAKER_COLUMNS = tuple(Speaker.__dataclass_fields__)


def _write_set(
    tmp: Path, final: Path, plan: CorpusPlan, name: str, results
) -> tuple[int, int, float]:
    utts = plan.sets[name]
    by_id = {u.utt: u for u in utts}
    write_table(
        tmp / "wav.scp", {u.utt: str((final / "wav" / f"{u.utt}.wav").resolve()) for u in utts}
    )
    write_table(tmp / "text", {u.utt: " ".join(u.words) for u in utts})
    utt2spk = {u.utt: u.spk for u in utts}
    write_table(tmp / "utt2spk", utt2spk)
    write_table(tmp / "spk2utt", {k: v for k, v in spk2utt_from_utt2spk(utt2spk).items()})
    write_table(tmp / "utt2dur", {utt: f"{dur:.4f}" for utt, (dur, _) in results.items()})
    ctm = []
    for utt, (_, times) in results.items():
        for word, (start_s, dur_s) in zip(by_id[utt].words, times, strict=True):
            ctm.append(CtmEntry(utt, "1", start_s, dur_s, word))
    write_ctm(tmp / "ctm", ctm)
    if plan.task in ("commands", "commands-std") and all(u.slots for u in utts):
        write_table(tmp / "slots", {u.utt: list(u.slots) for u in utts})
    if plan.task == "translate":
        for lang in tasks.LANGS:
            write_table(tmp / f"text.{lang}", {u.utt: u.targets[lang] for u in utts})
    with atomic_write(tmp / "speakers.tsv") as f:
        f.write("\t".join(SPEAKER_COLUMNS) + "\n")
        for s in plan.speakers[name]:
            f.write("\t".join(str(getattr(s, c)) for c in SPEAKER_COLUMNS) + "\n")
    hours = sum(d for d, _ in results.values()) / 3600
    return len(utts), len(plan.speakers[name]), hours


def synthesize_corpus(
    task: str,
    out: str | os.PathLike,
    num_utts: int = 1000,
    seed: int = 0,
    num_jobs: int = 1,
    num_train_speakers: int = DEFAULT_TRAIN_SPEAKERS,
    num_heldout_speakers: int = DEFAULT_HELDOUT_SPEAKERS,
    log: Callable[[str], None] | None = None,
    engine: str = "espeak",
    dry_out: str | os.PathLike | None = None,
) -> SynthSummary:
    """Write ``out/<set>/`` for every set of ``task``; see the module docstring."""
    if engine not in ENGINES:
        raise UsageError(f"unknown engine '{engine}' — choose one of: {', '.join(ENGINES)}")
    plan = plan_corpus(task, num_utts, seed, num_train_speakers, num_heldout_speakers, engine)
    return write_corpus(plan, out, num_jobs, log, dry_out)


def write_corpus(
    plan: CorpusPlan,
    out: str | os.PathLike,
    num_jobs: int = 1,
    log: Callable[[str], None] | None = None,
    dry_out: str | os.PathLike | None = None,
) -> SynthSummary:
    """Render every utterance of ``plan`` and write ``out/<set>/`` for each of its sets.

    ``dry_out``: also ``dry_out/<set>/``, a data dir of the same utterances (ids, text, word
    timings, lengths) recorded dry — before each speaker's room response and noise — as
    Kaldi's AMI recipe has the close-talking (ihm) beside the distant microphone (sdm) and aligns
    the distant speech with alignments made on the close-talking. The synthetic word timings
    are the dry signal's, so a model aligned on reverberant speech places word ends late by the
    room's decay; trained on the dry copy's alignments it learns where the words end.

    A plan with Piper speakers first checks that Piper can run here (one error line naming
    the packages to install), before anything is written.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr))
    if any(s.engine == "piper" for s in plan.speaker_by_id.values()):
        # deferred: onnx and onnxruntime load only when a Piper speaker speaks
        from speechseq.synth import piper

        piper.check_available()
    out = Path(out)
    if dry_out is not None and Path(dry_out).resolve() == out.resolve():
        raise UsageError(
            f"--dry-out {dry_out}: give another folder than OUT ({out}) for the dry copy"
        )
    for folder in (out, dry_out):  # before anything is written beside it
        if folder is not None and Path(folder).exists() and not Path(folder).is_dir():
            raise SpeechseqError(f"{folder}: a file, not a folder — give a folder for the corpus")
    seed, task = plan.seed, plan.task
    t0 = time.perf_counter()
    summary: dict[str, tuple[int, int, float]] = {}
    with process_map(num_jobs) as imap:
        for name, utts in plan.sets.items():
            final = out / name
            dry_final = Path(dry_out) / name if dry_out is not None else None
            for d in (final, dry_final):
                if d is not None and d.exists():
                    log(f"replacing existing {d}")
            with contextlib.ExitStack() as stack:
                tmp = stack.enter_context(atomic_dir(final))
                dry_tmp = stack.enter_context(atomic_dir(dry_final)) if dry_final else None
                for d in (tmp, dry_tmp):
                    if d is not None:
                        (d / "wav").mkdir()
                jobs = [
                    (
                        u,
                        plan.speaker_by_id[u.spk],
                        seed,
                        task,
                        name,
                        str(tmp / "wav" / f"{u.utt}.wav"),
                        str(dry_tmp / "wav" / f"{u.utt}.wav") if dry_tmp else None,
                    )
                    for u in utts
                ]
                it = imap(_render_job, jobs, chunksize=8)
                results = {utt: (dur, times) for utt, dur, times in it}
                summary[name] = _write_set(tmp, final, plan, name, results)
                if dry_tmp is not None:
                    _write_set(dry_tmp, dry_final, plan, name, results)
    return SynthSummary(summary, time.perf_counter() - t0, sum(len(u) for u in plan.sets.values()))
