"""``train_embedder``: a data dir's segments in, a segment-embedder model directory out.

One trainer and one batcher for both objectives: the contrastive one only asks the shared
loader for grouped batches (several examples of each word, by different speakers).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from speechseq.core.batching import FeatDataset, Groups
from speechseq.core.experiment import copy_feature_config, experiment_run, write_header
from speechseq.core.trainer import Trainer, TrainState
from speechseq.data.audio import read_spec
from speechseq.data.kaldi_dir import DataDir, write_table
from speechseq.embed.model import NEGATIVE, EmbedConfig, EmbedTask, variant_name
from speechseq.embed.segments import (
    FRAME_SHIFT_S,
    SegmentReader,
    SegmentSpec,
    ctm_segments,
    negative_windows,
    parse_widths,
    vad_segments,
    window_segments,
)
from speechseq.errors import SpeechseqError
from speechseq.features.reader import FeatureReader


def data_segments(data: DataDir, reader, how: str, opts) -> list[SegmentSpec]:
    """Training segments of a data dir by ``how`` (ctm | vad | window)."""
    if how == "ctm":
        ctm = data.ctm
        if ctm is None:
            raise SpeechseqError(
                f"{data.file('ctm')}: file not found — --segments ctm needs word timings; make them with "
                f"speechseq align, or use --segments window or vad"
            )
        have = set(reader.utt_ids)
        ctm = [e for e in ctm if e.utt in have]
        segs, dropped = ctm_segments(ctm, opts.min_dur_s, opts.max_dur_s)
        if dropped:
            print(
                f"{data.path}: left out {dropped} of {len(ctm)} ctm words outside {opts.min_dur_s}-{opts.max_dur_s} s"
            )
        return segs
    if how == "window":
        widths = parse_widths(opts.window_s)
        return [
            s
            for u in reader.utt_ids
            for s in window_segments(u, reader.num_frames(u) * 0.01, widths, opts.hop_s)
        ]
    if how == "vad":
        out = []
        for u in reader.utt_ids:
            x = read_spec(data.audio_spec(u), 16000, what=u)
            out += vad_segments(u, x, 16000)
        return out
    raise SpeechseqError(f"--segments {how}: use ctm, vad or window")


NEGATIVE_LABEL = "<negative>"  # a window negative's label in the experiment's train_segments


def segment_reader(
    reader, segments: list[SegmentSpec], jitter_s: float = 0.0, unjittered=frozenset()
) -> SegmentReader:
    load = functools.lru_cache(maxsize=512)(reader.__getitem__)
    return SegmentReader(
        load,
        segments,
        {u: reader.num_frames(u) for u in {s.source for s in segments}},
        jitter_frames=int(round(jitter_s / FRAME_SHIFT_S)),
        unjittered=unjittered,
    )


def training_negatives(data: DataDir, reader, segs: list[SegmentSpec], cfg: EmbedConfig):
    """The contrastive objective's window negatives (:func:`negative_windows`):
    ``embed.window_negatives`` per training word segment, from the utterances those come from."""
    opts = cfg.embed
    utts = {s.source for s in segs}
    durations = {u: reader.num_frames(u) * FRAME_SHIFT_S for u in reader.utt_ids if u in utts}
    ctm = [e for e in data.ctm if e.utt in utts]
    num = int(round(opts.window_negatives * len(segs)))
    return negative_windows(
        ctm, durations, parse_widths(opts.window_s), opts.hop_s, num, cfg.train.seed
    )


def train_embedder(
    train_dir: str | os.PathLike,
    exp_dir: str | os.PathLike,
    cfg: EmbedConfig,
    dev_dir: str | os.PathLike | None = None,
    resume: bool = False,
    argv: list[str] | None = None,
    quiet: bool = False,
    overwrite: bool = False,
) -> TrainState:
    """Train a segment embedder (``cfg.embed.objective``: autoencoder or contrastive) on
    ``train_dir``'s segments; dev: ``dev_dir`` or every 20th segment.

    ``exp_dir`` belongs to this run: one holding another run needs ``resume`` or ``overwrite``.
    """
    with experiment_run(exp_dir, resume, overwrite, argv) as exp:
        return _train_embedder(train_dir, exp, cfg, dev_dir, resume, argv, quiet)


def _train_embedder(
    train_dir, exp: Path, cfg: EmbedConfig, dev_dir, resume, argv, quiet
) -> TrainState:
    if cfg.embed.variant not in ("sa", "dsa"):
        raise SpeechseqError(
            f"--variant {cfg.embed.variant}: use sa (autoencoder) or dsa (denoising)"
        )
    train = DataDir(train_dir)
    reader = FeatureReader(train.path, cmvn="none")
    segs = data_segments(train, reader, cfg.embed.segments, cfg.embed)
    if dev_dir is not None:
        dev = DataDir(dev_dir)
        dv_reader = FeatureReader(dev.path, cmvn="none")
        dv_segs = data_segments(dev, dv_reader, cfg.embed.segments, cfg.embed)
    else:
        dv_reader, dv_segs = reader, segs[::20]
        held = {s.segment_id for s in dv_segs}
        segs = [s for s in segs if s.segment_id not in held]
    if len(segs) < 2 or not dv_segs:
        raise SpeechseqError(
            f"{train.path}: only {len(segs)} training segments — give more data or another --segments"
        )
    negs = training_negatives(train, reader, segs, cfg) if cfg.embed.window_negatives > 0 else []
    if cfg.embed.window_negatives > 0 and not negs:
        raise SpeechseqError(
            f"{train.path}: no window of {cfg.embed.window_s} s (every {cfg.embed.hop_s} s) of the "
            "training utterances covers less than half of every word, so there are no window "
            "negatives — give shorter embed.window_s, or embed.window_negatives 0"
        )
    exp.mkdir(parents=True, exist_ok=True)
    write_header(
        exp,
        cfg,
        {
            "data": {
                "train": str(train.path.resolve()),
                "dev": str(dev_dir) if dev_dir else None,
                "feature_dim": reader.dim,
            }
        },
        argv,
    )
    copy_feature_config(train.path, exp)
    write_table(
        exp / "train_segments",
        {s.segment_id: f"{s.source} {s.start_s:.3f} {s.end_s:.3f} {s.label}".strip() for s in segs}
        | {
            s.segment_id: f"{s.source} {s.start_s:.3f} {s.end_s:.3f} {NEGATIVE_LABEL}" for s in negs
        },
    )
    words = sorted({s.label for s in segs + dv_segs}) if cfg.embed.segments == "ctm" else None
    task = EmbedTask(cfg, reader.dim, words)
    trainer = Trainer(task, cfg.train, exp, quiet=quiet)
    trainer.log(
        f"{len(segs)} training segments, {len(dv_segs)} dev segments ({cfg.embed.segments}, variant {variant_name(cfg.embed)})"
    )
    if negs:
        trainer.log(
            f"{len(negs)} window negatives (windows of {cfg.embed.window_s} s covering less "
            "than half of every word), in the training batches as negatives only"
        )
    tr_reader = segment_reader(
        reader, segs + negs, cfg.embed.jitter_s, frozenset(s.segment_id for s in negs)
    )
    dv = segment_reader(dv_reader, dv_segs)
    tr_fields, dv_fields, groups = {}, {}, None
    if cfg.embed.same_word_weight > 0 and cfg.embed.segments != "ctm":
        raise SpeechseqError(
            "the same-word variant (embed.same_word_weight > 0) needs word labels: use --segments ctm"
        )
    if cfg.embed.segments == "ctm":  # word labels: the same-word terms, dev SD-AP, grouped batches
        vocab = {w: k for k, w in enumerate(words)}
        tr_fields["word"] = {s.segment_id: vocab[s.label] for s in segs}
        tr_fields["word"].update({s.segment_id: NEGATIVE for s in negs})
        dv_fields["word"] = {s.segment_id: vocab[s.label] for s in dv_segs}
    if cfg.embed.objective == "contrastive":
        spk = train.utt2spk
        groups = Groups(
            {s.segment_id: s.label for s in segs},
            cfg.embed.examples_per_word,
            {s.segment_id: spk.get(s.source, s.source) for s in segs + negs},
            extras=[s.segment_id for s in negs],  # a few in every batch, no one's partners
        )
    train_set = FeatDataset(tr_reader, tr_reader.utt_ids, fields=tr_fields, groups=groups)
    train_loader, dev_loader = trainer.loaders(
        train_set, FeatDataset(dv, dv.utt_ids, fields=dv_fields)
    )
    if cfg.embed.objective == "contrastive" and len(dv_segs) == len({s.label for s in dv_segs}):
        trainer.log(
            f"dev: no word occurs twice among the {len(dv_segs)} dev segments — same-different AP "
            "cannot choose the epoch, final.pt will be the last epoch's (give --dev with repeated words)"
        )
    if groups is not None:
        sampler = train_loader.batch_sampler
        trainer.log(
            f"contrastive batches: {len(sampler.members)} words with >= 2 examples, "
            f"{cfg.embed.examples_per_word} examples per word per batch; left out "
            f"{sampler.left_out} segments of words spoken once"
        )
    return trainer.fit(train_loader, dev_loader, resume=resume)
