"""A word-boundary detector that cuts archives and spoken queries where words begin and end.

Why: query-by-example search compares a query's vector with vectors of archive segments, and
both are cut blind. Fixed-width windows over the archive and a query trimmed at 30 dB cut words
loosely: with one embedder on the synthetic words corpus (recipes/synth_std/RESULTS), MAP is
0.22 with windows and trimmed queries, 0.37 with the archive cut at the true word edges, 0.62
with both sides cut there. This detector learns where words begin and end from the training
set's word timings (its ``ctm``), without the words themselves, so it cuts any speech — words it
never heard included — as a query and the archive's occurrences of it are cut alike.

The model is the hybrid's frame classifier (:class:`speechseq.hybrid.task.HybridModel`: the
shared encoder and a linear layer, log-posteriors at 10 ms frames) with two classes: 1 on the
frames within ``segmenter.tolerance`` frames of a word's start or end, 0 elsewhere, trained with
frame cross-entropy under the core contract. A boundary is a peak of the boundary posterior
above ``threshold`` (at least ``min_gap_s`` from the next); candidate segments are the spans
from each boundary to the next ``span`` ones, ``min_dur_s`` to ``max_dur_s`` long (a span over
two or three boundaries covers a word whose inner boundary was a false alarm). A query is cut
from its first boundary to its last.

No kept library detects word boundaries in untranscribed speech (Kaldi, ESPnet and SpeechBrain
find them by aligning a transcript), hence this module.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.signal import find_peaks

from speechseq.core.batching import FeatDataset
from speechseq.core.config import sections_of
from speechseq.core.encoder import EncoderConfig
from speechseq.core.experiment import copy_feature_config, experiment_run, write_header
from speechseq.core.loading import load_experiment
from speechseq.core.task import Task
from speechseq.core.trainer import TrainConfig, Trainer, TrainState
from speechseq.data.kaldi_dir import CtmEntry, DataDir
from speechseq.decode.run import network_outputs
from speechseq.errors import SpeechseqError, UsageError
from speechseq.features.reader import CMVN_MODES, ArrayReader, FeatureReader
from speechseq.fileio import atomic_write
from speechseq.hybrid.task import HybridModel, frame_encoder, frame_stats, repeat_factor
from speechseq.ranges import check_fields, integer, one_of, setting

FRAME_S = 0.01  # the features' frame shift: labels and boundaries are at 10 ms frames


@dataclass(frozen=True)
class SegmenterOptions:
    # utterance | speaker | global | none: mean/variance normalisation of the input
    cmvn: str = setting("utterance", one_of(*CMVN_MODES))
    tolerance: int = setting(2, integer(ge=0))  # frames each side of a word edge labelled 1

    def __post_init__(self):
        check_fields(self, "segmenter")


def _default_train() -> TrainConfig:
    return TrainConfig(max_epochs=10, max_frames=8000, warmup_steps=100)


@dataclass(frozen=True)
class SegmenterConfig:
    encoder: EncoderConfig = field(default_factory=frame_encoder)  # the shared encoder
    train: TrainConfig = field(default_factory=_default_train)  # the shared trainer
    segmenter: SegmenterOptions = field(default_factory=SegmenterOptions)


def boundary_labels(words: Sequence[CtmEntry], num_frames: int, tolerance: int) -> np.ndarray:
    """Frame labels of one utterance: 1 within ``tolerance`` frames of a word's start or end."""
    labels = np.zeros(num_frames, dtype=np.int64)
    for w in words:
        for t in (w.start_s, w.start_s + w.dur_s):
            k = int(round(t / FRAME_S))
            labels[max(0, k - tolerance) : max(0, min(num_frames, k + tolerance + 1))] = 1
    return labels


def peaks(prob: np.ndarray, threshold: float, min_gap_s: float) -> np.ndarray:
    """Boundary times (s): the peaks of the boundary posterior above ``threshold``, at least
    ``min_gap_s`` apart (the higher peak kept)."""
    if len(prob) == 0:
        return np.zeros(0)
    # a plateau's peak is its middle frame; pad so that a peak on the first or last frame counts
    padded = np.concatenate([[-1.0], prob, [-1.0]])
    distance = max(1, int(round(min_gap_s / FRAME_S)))
    at, _ = find_peaks(padded, height=threshold, distance=distance)
    return (at - 1) * FRAME_S


def candidate_spans(
    times: Sequence[float], span: int, min_dur_s: float, max_dur_s: float
) -> list[tuple[float, float]]:
    """Spans from each boundary to each of the next ``span`` ones, ``min_dur_s``-``max_dur_s`` long."""
    out = []
    for i, a in enumerate(times):
        for b in times[i + 1 : i + 1 + span]:
            if min_dur_s <= b - a <= max_dur_s:
                out.append((float(a), float(b)))
    return out


def _boundary_f1(prob: np.ndarray, labels: np.ndarray, tolerance: int) -> tuple[int, int, int]:
    """(hits, predicted, reference) boundaries of one utterance: a reference boundary is the
    middle of a run of 1-labels; a peak above 0.5 within ``tolerance`` frames of one is a hit."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], labels, [0]])))
    ref = (edges[0::2] + edges[1::2] - 1) / 2
    pred = peaks(prob, 0.5, 2 * tolerance * FRAME_S + FRAME_S) / FRAME_S
    used = np.zeros(len(ref), dtype=bool)
    hits = 0
    for p in pred:
        d = np.abs(ref - p)
        d[used] = np.inf
        if len(d) and d.min() <= tolerance:
            used[int(d.argmin())] = True
            hits += 1
    return hits, len(pred), len(ref)


class SegmenterTask(Task):
    """Frame cross-entropy on word-boundary labels under the core contract; dev metric: the
    F-score of the boundaries found (peaks above 0.5 within ``tolerance`` frames of a true one)."""

    name = "segmenter"
    data_fields = ("ctm",)
    metric_name = "boundary_f1"
    metric_mode = "max"

    def __init__(self, cfg: SegmenterConfig, input_dim: int):
        self.cfg, self.input_dim = cfg, input_dim
        repeat_factor(cfg.encoder)

    def build_model(self) -> HybridModel:
        return HybridModel(self.input_dim, 2, self.cfg.encoder)

    def meta(self) -> dict:
        return {"input_dim": self.input_dim, "cmvn": self.cfg.segmenter.cmvn}

    @classmethod
    def from_experiment(cls, exp: Path, config: dict, meta: dict) -> SegmenterTask:
        return cls(
            sections_of(SegmenterConfig, config, f"{exp}/config.yaml"), int(meta["input_dim"])
        )

    def loss(self, model, batch):
        log_probs, _ = model(batch["feats"], batch["lengths"])
        ce, frames, correct = frame_stats(log_probs, batch["targets"])
        return ce / max(frames, 1), {"frame_acc": correct / max(frames, 1)}

    def evaluate(self, model, batches) -> dict[str, float]:
        ce_sum, frames, hits, pred, ref = 0.0, 0, 0, 0, 0
        tol = self.cfg.segmenter.tolerance
        for batch in batches:
            log_probs, lengths = model(batch["feats"], batch["lengths"])
            ce, n, _ = frame_stats(log_probs, batch["targets"])
            ce_sum, frames = ce_sum + float(ce), frames + n
            prob = log_probs[..., 1].exp().float().cpu().numpy()
            labels = batch["targets"].cpu().numpy()
            for k in range(prob.shape[0]):
                t = int(lengths[k])
                h, p, r = _boundary_f1(prob[k, :t], labels[k, :t], tol)
                hits, pred, ref = hits + h, pred + p, ref + r
        f1 = 2 * hits / max(pred + ref, 1)
        return {"loss": ce_sum / max(frames, 1), "boundary_f1": f1}

    def outputs(self, model, batch) -> list[np.ndarray]:
        """The boundary posterior ``[T]`` per utterance."""
        log_probs, lengths = model(batch["feats"], batch["lengths"])
        prob = log_probs[..., 1].exp().float().cpu().numpy()
        return [prob[k, : int(lengths[k])] for k in range(prob.shape[0])]


def _labelled(data: DataDir, reader: FeatureReader, tolerance: int) -> dict[str, np.ndarray]:
    ctm = data.ctm
    if ctm is None:
        raise SpeechseqError(
            f"{data.path}: no ctm — the segmenter learns word edges from word timings (synth "
            "writes a ctm; for other data, force-align it: speechseq align EXP DATA --out DATA/ctm)"
        )
    by_utt: dict[str, list[CtmEntry]] = {}
    for e in ctm:
        by_utt.setdefault(e.utt, []).append(e)
    missing = [u for u in reader.utt_ids if u not in by_utt]
    if missing:
        raise SpeechseqError(
            f"{data.file('ctm')}: utterance {missing[0]} ({len(missing)} in all) has no words — "
            "give every utterance its word timings, or subset the data dir to those that have them"
        )
    return {u: boundary_labels(by_utt[u], reader.num_frames(u), tolerance) for u in reader.utt_ids}


def train_segmenter(
    train_dir: str | os.PathLike,
    exp_dir: str | os.PathLike,
    cfg: SegmenterConfig,
    dev_dir: str | os.PathLike | None = None,
    resume: bool = False,
    argv: list[str] | None = None,
    quiet: bool = False,
    overwrite: bool = False,
) -> TrainState:
    """Train the word-boundary detector on ``train_dir``'s ctm; dev: ``dev_dir`` or every 20th
    training utterance."""
    with experiment_run(exp_dir, resume, overwrite, argv) as exp:
        train = DataDir(train_dir)
        tr = FeatureReader(train.path, cmvn=cfg.segmenter.cmvn)
        labels = _labelled(train, tr, cfg.segmenter.tolerance)
        if dev_dir is not None:
            dev = DataDir(dev_dir)
            dv = FeatureReader(dev.path, cmvn=cfg.segmenter.cmvn)
            dv_labels = _labelled(dev, dv, cfg.segmenter.tolerance)
            tr_utts, dv_utts = list(tr.utt_ids), list(dv.utt_ids)
        else:
            dv, dv_labels = tr, labels
            dv_utts = list(tr.utt_ids)[::20]
            tr_utts = [u for u in tr.utt_ids if u not in set(dv_utts)]
        if len(tr_utts) < 1 or not dv_utts:
            raise SpeechseqError(f"{train.path}: too few utterances to train and check a segmenter")
        if dv.dim != tr.dim:
            raise SpeechseqError(
                f"{dev_dir}: features of dimension {dv.dim}, the training set's are {tr.dim} — "
                "compute both with the same settings"
            )
        write_header(exp, cfg, {"data": {"train": str(train.path.resolve()),
                                         "dev": str(dev_dir) if dev_dir else None,
                                         "feature_dim": tr.dim}}, argv)  # fmt: skip
        copy_feature_config(train.path, exp)
        trainer = Trainer(SegmenterTask(cfg, tr.dim), cfg.train, exp, quiet=quiet)
        loaders = trainer.loaders(
            FeatDataset(tr, tr_utts, {u: labels[u] for u in tr_utts}),
            FeatDataset(dv, dv_utts, {u: dv_labels[u] for u in dv_utts}),
        )
        return trainer.fit(*loaders, resume=resume)


@dataclass(frozen=True)
class CutOptions:
    threshold: float = 0.3  # a boundary: a posterior peak above this
    min_gap_s: float = 0.05  # boundaries at least this far apart
    span: int = 2  # archive segments from each boundary to the next `span` ones
    min_dur_s: float = 0.15  # shortest archive segment
    max_dur_s: float = 1.5  # longest archive segment

    def __post_init__(self):
        if not 0 < self.threshold < 1:
            raise UsageError(f"--threshold {self.threshold}: give a probability between 0 and 1")
        if self.span < 1:
            raise UsageError(f"--span {self.span}: give 1 or more")
        if not 0 <= self.min_dur_s < self.max_dur_s:
            raise UsageError(
                f"--min-dur {self.min_dur_s} / --max-dur {self.max_dur_s}: give 0 <= min < max"
            )


class Segmenter:
    """A trained segmenter: boundary times of audio or of a data dir's utterances."""

    def __init__(
        self, exp_dir: str | os.PathLike, options: CutOptions = CutOptions(), device: str = "auto"
    ):
        self.ex = load_experiment(exp_dir, device, task=SegmenterTask.name, quiet=True)
        self.options = options

    def probs_of_audio(self, samples: np.ndarray) -> np.ndarray:
        fe = self.ex.frontend
        feats = fe.normalise(fe.audio_features(samples))
        [(_, prob)] = network_outputs(self.ex, ArrayReader({"x": feats}), ["x"])
        return prob

    def boundaries(self, prob: np.ndarray) -> np.ndarray:
        return peaks(prob, self.options.threshold, self.options.min_gap_s)

    def cut_query(self, samples: np.ndarray, sample_rate: int) -> np.ndarray | None:
        """The query from its first boundary to its last; None when fewer than two are found."""
        b = self.boundaries(self.probs_of_audio(samples))
        if len(b) < 2 or b[-1] - b[0] < 0.05:
            return None
        return samples[int(b[0] * sample_rate) : int(b[-1] * sample_rate)]

    def spans_of_data(self, data_dir: str | os.PathLike) -> dict[str, list[tuple[float, float]]]:
        """Candidate segments of every utterance of a data dir with ``feats.scp``."""
        # the model's feature settings and dimension checked, normalised as in training
        reader = self.ex.frontend.data_reader(DataDir(data_dir).path)
        o = self.options
        return {
            utt: candidate_spans(self.boundaries(prob), o.span, o.min_dur_s, o.max_dur_s)
            for utt, prob in network_outputs(self.ex, reader, list(reader.utt_ids))
        }


def write_segments_file(
    spans: dict[str, list[tuple[float, float]]], path: str | os.PathLike
) -> int:
    """Kaldi ``segments`` (``<seg> <utt> <start> <end>``) of the spans; returns their number."""
    n = 0
    with atomic_write(Path(path)) as f:
        for utt, ss in spans.items():
            for k, (a, b) in enumerate(ss):
                f.write(f"{utt}-b{k:04d} {utt} {a:.2f} {b:.2f}\n")
                n += 1
    return n
