"""Candidate segments of recordings, and a reader that serves their features.

Three segmenters, as in spoken-term search: word timings from a CTM (synth corpora or
``speechseq align``), voice-activity regions, and sliding windows of several widths for
untranscribed audio. Each segment's features are mean/variance normalised over the
segment itself, so an archive window and a spoken query are normalised the same way.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from speechseq.data.kaldi_dir import CtmEntry
from speechseq.errors import SpeechseqError
from speechseq.fileio import atomic_dir

FRAME_SHIFT_S = 0.01  # features are 10 ms frames
SILENCE_PEAK_DBFS = -60.0  # a query whose loudest sample is quieter than this holds no speech


@dataclass(frozen=True)
class SegmentSpec:
    segment_id: str
    source: str  # utterance id (data dir) or file path (folder)
    start_s: float
    end_s: float
    label: str = ""  # the word, when known (CTM segments)


def write_vectors(
    out_dir: str | os.PathLike, vectors: np.ndarray, segments: Sequence, meta: dict
) -> None:
    """Write the directory ``speechseq embed`` makes: ``vectors.npy`` (float32 ``[N, dim]``),
    ``segments.tsv`` (``segment_id source start_s end_s``, row i the span of vector i) and
    ``meta.json``. Built under a temporary name and renamed into place whole, so a run that is
    killed leaves the previous directory (or none), never vectors without their table.

    ``segments``: N objects with ``segment_id``, ``source``, ``start_s``, ``end_s`` (a
    :class:`SegmentSpec`, or a row read back from such a table).
    """
    with atomic_dir(out_dir) as tmp:
        np.save(tmp / "vectors.npy", vectors)
        with open(tmp / "segments.tsv", "w", encoding="utf-8") as f:
            f.write("segment_id\tsource\tstart_s\tend_s\n")
            for s in segments:
                f.write(f"{s.segment_id}\t{s.source}\t{s.start_s:.3f}\t{s.end_s:.3f}\n")
        with open(tmp / "meta.json", "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=2)


def parse_widths(text: str) -> list[float]:
    try:
        widths = [float(w) for w in text.split(",") if w.strip()]
    except ValueError:
        raise SpeechseqError(
            f"window widths '{text}': give seconds separated by commas, e.g. 0.3,0.5,0.7"
        ) from None
    if not widths or min(widths) <= 0:
        raise SpeechseqError(f"window widths '{text}': give positive seconds separated by commas")
    return widths


def window_segments(
    source: str, duration_s: float, widths_s: list[float], hop_s: float
) -> list[SegmentSpec]:
    """Sliding windows of each width every ``hop_s`` seconds (windows past the end are dropped).

    A recording shorter than a width gets one window covering all of it, once however many
    widths it is shorter than: every window of the list has its own span and segment id.
    """
    out, seen = [], set()
    for w in widths_s:
        if duration_s <= w:
            starts = [0.0]
        else:
            starts = np.arange(0.0, duration_s - w + 1e-9, hop_s).tolist()
        for s in starts:
            e = min(s + w, duration_s)
            seg_id = f"{_safe(source)}_{s:07.2f}_{e:07.2f}"
            if seg_id not in seen:  # the whole recording again, for another width
                seen.add(seg_id)
                out.append(SegmentSpec(seg_id, source, round(s, 3), round(e, 3)))
    return out


def word_cover(start_s: float, end_s: float, words: Sequence[CtmEntry]) -> float:
    """The largest share of one word's duration that the span ``[start_s, end_s)`` covers
    (0 without words): search counts a hit on a word when this reaches one half."""
    best = 0.0
    for w in words:
        inter = min(end_s, w.end_s) - max(start_s, w.start_s)
        if inter > 0:
            best = max(best, inter / w.dur_s if w.dur_s > 0 else 1.0)
    return best


def negative_windows(
    ctm: Sequence[CtmEntry],
    durations_s: dict[str, float],
    widths_s: list[float],
    hop_s: float,
    num: int,
    seed: int,
) -> list[SegmentSpec]:
    """``num`` sliding windows (:func:`window_segments` of each utterance in ``durations_s``)
    that cover less than half of every ctm word of their utterance (see :func:`word_cover`):
    pieces of words, the end of one word and the start of the next, silence. Drawn without
    replacement by ``seed`` (all of them when there are fewer), in utterance order; their ids
    are the windows' (``<utt>_<start>_<end>``), their label empty.
    """
    by_utt: dict[str, list[CtmEntry]] = {}
    for e in ctm:
        by_utt.setdefault(e.utt, []).append(e)
    pool = [
        w
        for utt, dur in durations_s.items()
        for w in window_segments(utt, dur, widths_s, hop_s)
        if word_cover(w.start_s, w.end_s, by_utt.get(utt, ())) < 0.5
    ]
    if num >= len(pool):
        return pool
    keep = np.sort(np.random.default_rng(seed).choice(len(pool), num, replace=False))
    return [pool[k] for k in keep]


def vad_segments(
    source: str, audio: np.ndarray, sr: int, top_db: float = 30.0, min_dur_s: float = 0.1
) -> list[SegmentSpec]:
    """Voice-activity regions: stretches within ``top_db`` of the recording's loudest frame."""
    import librosa

    out = []
    for a, b in librosa.effects.split(audio, top_db=top_db, frame_length=400, hop_length=160):
        s, e = a / sr, b / sr
        if e - s >= min_dur_s:
            out.append(
                SegmentSpec(
                    f"{_safe(source)}_{s:07.2f}_{e:07.2f}", source, round(s, 3), round(e, 3)
                )
            )
    return out


def ctm_segments(
    ctm: list[CtmEntry], min_dur_s: float = 0.0, max_dur_s: float = 1e9
) -> tuple[list[SegmentSpec], int]:
    """One segment per CTM word within the duration limits; also returns how many were left out.

    Segment ``<utt>_w<k>`` is the k-th CTM line of ``utt`` (from 0, words left out counted):
    numbered within its utterance, so the part of a data dir that holds ``utt`` (``speechseq data
    split``) gives its words the ids the whole data dir gives them.
    """
    out, dropped = [], 0
    seen: dict[str, int] = {}
    for e in ctm:
        k = seen[e.utt] = seen.get(e.utt, -1) + 1
        if not min_dur_s <= e.dur_s <= max_dur_s:
            dropped += 1
            continue
        out.append(SegmentSpec(f"{e.utt}_w{k:05d}", e.utt, e.start_s, e.end_s, e.word))
    return out, dropped


def peak_dbfs(audio: np.ndarray) -> float:
    """Level of the loudest sample in dB relative to full scale (-inf for digital silence)."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def check_speech(audio: np.ndarray, what: str) -> np.ndarray:
    """``audio`` of a spoken query, or an error saying it holds no speech.

    A query whose loudest sample is below :data:`SILENCE_PEAK_DBFS` (digital silence, an
    unplugged microphone) has nothing to match: its features are constant, and its vector
    would be as close to one archive window as to another, returned as confident hits.
    """
    level = peak_dbfs(audio)
    if level < SILENCE_PEAK_DBFS:
        raise SpeechseqError(
            f"query {what}: no speech found (peak level {level:.1f} dBFS, below "
            f"{SILENCE_PEAK_DBFS:.0f} dBFS) — record the spoken term again (check the microphone "
            "and its level) or leave this query out"
        )
    return audio


def trim_silence(audio: np.ndarray, sr: int, top_db: float = 30.0) -> np.ndarray:
    """Cut leading and trailing silence from a spoken query (keeps all if it is all quiet)."""
    import librosa

    trimmed, _ = librosa.effects.trim(audio, top_db=top_db, frame_length=400, hop_length=160)
    return trimmed if len(trimmed) > int(0.05 * sr) else audio


def segment_cmvn(feats: np.ndarray) -> np.ndarray:
    """Mean and variance normalisation over the segment's own frames: ``[T, C] -> [T, C]``."""
    mu = feats.mean(axis=0, keepdims=True)
    sd = feats.std(axis=0, keepdims=True)
    return ((feats - mu) / np.maximum(sd, 1e-3)).astype(np.float32)


def frames_of(seg: SegmentSpec, total_frames: int) -> tuple[int, int]:
    """Frame range ``[a, b)`` of a segment, at least 3 frames, inside ``[0, total_frames)``."""
    a = max(0, min(int(round(seg.start_s / FRAME_SHIFT_S)), total_frames - 1))
    b = max(a + 3, min(int(round(seg.end_s / FRAME_SHIFT_S)), total_frames))
    return a, min(b, total_frames)


class SegmentReader:
    """Serves segment features as a feature reader does utterances: ``reader[seg_id] -> [T, C]``.

    ``source_feats(source) -> [T, C]`` gives a whole recording's (un-normalised) features.
    ``jitter_frames > 0`` (training only): each read moves the segment's start and its end
    outwards by up to ``jitter_frames`` or inwards by up to half of that (a random whole
    number of frames from NumPy's global generator, which the Trainer seeds and checkpoints),
    inside the recording and at least 3 frames long, so an embedder learns words cut as
    loosely as a trimmed spoken query or a search window cuts them (a query trimmed at 30 dB
    holds on average 0.07 s more before its word and 0.15 s after, on the synth words corpus);
    ``num_frames`` is then the longest a read can be, so batch budgets still hold.
    Segments in ``unjittered`` (negative windows, which jitter could turn into words) keep
    their span.
    """

    def __init__(
        self,
        source_feats,
        segments: list[SegmentSpec],
        source_frames: dict[str, int],
        jitter_frames: int = 0,
        unjittered: frozenset[str] = frozenset(),
    ):
        self.source_feats = source_feats
        self.segments = {s.segment_id: s for s in segments}
        self.utt_ids = [s.segment_id for s in segments]
        self.jitter = jitter_frames
        self.unjittered = unjittered
        self._total = {s.segment_id: source_frames[s.source] for s in segments}
        self._frames = {}
        for s in segments:
            a, b = frames_of(s, source_frames[s.source])
            self._frames[s.segment_id] = (a, b)
        self._cache_key, self._cache = None, None

    def __len__(self) -> int:
        return len(self.utt_ids)

    def num_frames(self, seg_id: str) -> int:
        a, b = self._frames[seg_id]
        if self.jitter and seg_id not in self.unjittered:
            a, b = max(0, a - self.jitter), min(self._total[seg_id], b + self.jitter)
        return b - a

    def _span(self, seg_id: str) -> tuple[int, int]:
        a, b = self._frames[seg_id]
        if not self.jitter or seg_id in self.unjittered:
            return a, b
        total = self._total[seg_id]
        da = np.random.randint(-self.jitter, self.jitter // 2 + 1)  # < 0: earlier, outwards
        db = np.random.randint(-(self.jitter // 2), self.jitter + 1)  # > 0: later, outwards
        a2 = min(max(0, a + int(da)), max(total - 3, 0))
        b2 = min(max(a2 + 3, b + int(db)), total)
        return a2, b2

    def __getitem__(self, seg_id: str) -> np.ndarray:
        seg = self.segments[seg_id]
        if self._cache_key != seg.source:  # segments of one source come together; keep the last one
            self._cache_key, self._cache = (
                seg.source,
                np.asarray(self.source_feats(seg.source), dtype=np.float32),
            )
        a, b = self._span(seg_id)
        return segment_cmvn(self._cache[a:b])


def _safe(source: str) -> str:
    return source.replace("/", "_").replace(" ", "_")
