"""``train_st`` (speech -> target text) and ``train_mt`` (English text -> target text) through the shared Trainer."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import torch

from speechseq.core.batching import FeatDataset
from speechseq.core.encoder import Encoder
from speechseq.core.experiment import (
    copy_feature_config,
    experiment_run,
    load_exp_config,
    write_header,
)
from speechseq.core.loading import save_global_stats
from speechseq.core.trainer import Trainer, TrainState
from speechseq.data.kaldi_dir import DataDir
from speechseq.errors import SpeechseqError
from speechseq.features.augment import spec_augment
from speechseq.features.frontend import train_dev_readers
from speechseq.st.task import (
    CTC_UNITS_DIR,
    MTConfig,
    MTTask,
    STConfig,
    STTask,
    build_source_vocab,
)
from speechseq.text.target_vocab import TargetVocab, build_target_vocab
from speechseq.text.units import Units
from speechseq.text.vocab import Vocabulary

GUARD = 1.5  # the output length guard allows this many times the training data's tokens per frame


def target_texts(data: DataDir, lang: str, utt_ids: list[str]) -> dict[str, str]:
    """``text.<lang>`` of every utterance; a missing file names the translations the dir has."""
    path = data.file(f"text.{lang}")
    if not path.is_file():
        have = sorted(p.name.partition(".")[2] for p in data.path.glob("text.*") if p.is_file())
        raise SpeechseqError(
            f"{path}: file not found — translation into '{lang}' needs the reference translations "
            f"text.{lang} in the data dir"
            + (f" (it has text.{', text.'.join(have)}: pass --target {have[0]})" if have else "")
        )
    return data.texts_for(utt_ids, f"translation into '{lang}'", name=f"text.{lang}")


def _encode(vocab: TargetVocab, texts: dict[str, str], where: str) -> dict[str, list[int]]:
    out = {}
    for utt, t in texts.items():
        ids = vocab.encode(t)
        if len(ids) <= 2:
            raise SpeechseqError(f"{where}: utterance {utt} has an empty translation — remove it")
        out[utt] = ids
    return out


def _encode_source(units: Units, texts: dict[str, str], where: str) -> dict[str, list[int]]:
    out = {}
    for utt, t in texts.items():
        try:
            out[utt] = units.encode(t)
        except SpeechseqError as e:
            raise SpeechseqError(f"{where}: utterance {utt}: {e}") from None
    return out


def _target_vocab(cfg, texts: list[str], exp: Path, resume: bool) -> TargetVocab:
    if resume and (exp / "tokens.json").is_file():
        vocab = TargetVocab.load(exp)
        if vocab.kind != cfg.st.units:
            raise SpeechseqError(
                f"{exp}/tokens.json: the model being resumed uses {vocab.kind} targets, not {cfg.st.units} — "
                f"resume with the same settings, or train into a new --out directory"
            )
        return vocab
    vocab = build_target_vocab(texts, cfg.st.units, cfg.st.bpe_size)
    vocab.save(exp)
    return vocab


def _check_resume(cls, cfg, exp: Path, resume: bool) -> None:
    if resume and (exp / "config.yaml").is_file():
        old, _ = load_exp_config(cls, exp)
        if (old.encoder, old.decoder, old.st.target) != (cfg.encoder, cfg.decoder, cfg.st.target):
            raise SpeechseqError(
                f"{exp}/config.yaml: the model being resumed has other encoder / decoder / target settings "
                f"— resume with the same --config and --target, or train into a new --out directory"
            )


def _max_ratio(targets: dict[str, list[int]], frames: dict[str, int]) -> float:
    """The most output tokens per encoder frame in the training data, times :data:`GUARD`."""
    return GUARD * max(len(targets[u]) / max(frames[u], 1) for u in targets)


def train_st(
    train_dir: str | os.PathLike,
    dev_dir: str | os.PathLike,
    exp_dir: str | os.PathLike,
    cfg: STConfig,
    resume: bool = False,
    argv: list[str] | None = None,
    quiet: bool = False,
    overwrite: bool = False,
) -> TrainState:
    """Train a speech translation model from ``train_dir`` (features + ``text.<target>``)."""
    with experiment_run(exp_dir, resume, overwrite, argv) as exp:
        return _train_st(train_dir, dev_dir, exp, cfg, resume, argv, quiet)


def _train_st(train_dir, dev_dir, exp: Path, cfg: STConfig, resume, argv, quiet) -> TrainState:
    train, dev = DataDir(train_dir), DataDir(dev_dir)
    o = cfg.st
    tr_reader, dv_reader, global_stats = train_dev_readers(
        train.path, dev.path, o.cmvn, cfg.features, cfg.train.num_workers or 1
    )
    tr_utts, dv_utts = list(tr_reader.utt_ids), list(dv_reader.utt_ids)
    tr_text = target_texts(train, o.target, tr_utts)
    dv_text = target_texts(dev, o.target, dv_utts)
    exp.mkdir(parents=True, exist_ok=True)
    _check_resume(STConfig, cfg, exp, resume)
    vocab = _target_vocab(cfg, list(tr_text.values()), exp, resume)
    tr_targets = _encode(vocab, tr_text, str(train.file(f"text.{o.target}")))
    dv_targets = _encode(vocab, dv_text, str(dev.file(f"text.{o.target}")))
    fields_tr, fields_dv = {"targets": tr_targets}, {"targets": dv_targets}
    ctc_units = None
    if o.ctc_weight > 0:  # multi-task: the English transcript through a CTC head
        why = f"the auxiliary CTC loss (st.ctc_weight {o.ctc_weight})"
        src_tr, src_dv = train.texts_for(tr_utts, why), dev.texts_for(dv_utts, why)
        # in their own directory: bpe units and bpe targets would both write bpe.model
        if resume and (exp / CTC_UNITS_DIR / "units.txt").is_file():
            ctc_units = Units.load(exp / CTC_UNITS_DIR)
        else:
            ctc_units = Units.build(o.ctc_units, list(src_tr.values()), bpe_size=o.ctc_bpe_size)
            ctc_units.save(exp / CTC_UNITS_DIR)
        fields_tr["ctc_targets"] = _encode_source(ctc_units, src_tr, str(train.file("text")))
        fields_dv["ctc_targets"] = _encode_source(ctc_units, src_dv, str(dev.file("text")))
    probe = Encoder(tr_reader.dim, cfg.encoder)
    frames = dict(
        zip(
            tr_utts,
            probe.subsampled_lengths(
                torch.tensor([tr_reader.num_frames(u) for u in tr_utts])
            ).tolist(),
            strict=True,
        )
    )
    max_ratio = _max_ratio(tr_targets, frames)
    write_header(
        exp,
        cfg,
        {
            "data": {
                "train": str(train.path.resolve()),
                "dev": str(dev.path.resolve()),
                "feature_dim": tr_reader.dim,
            },
            "target_kind": vocab.kind,
            "transcripts_used": o.ctc_weight > 0,
        },
        argv,
    )
    copy_feature_config(train.path, exp, cfg.features.settings if cfg.features.on_the_fly else None)
    if global_stats is not None:
        save_global_stats(exp, global_stats)
    augment = functools.partial(spec_augment) if o.spec_augment else None
    task = STTask(cfg, tr_reader.dim, vocab, max_ratio, spec_augment=augment, ctc_units=ctc_units)
    trainer = Trainer(task, cfg.train, exp, quiet=quiet)
    train_loader, dev_loader = trainer.loaders(
        FeatDataset(tr_reader, tr_utts, fields=fields_tr),
        FeatDataset(dv_reader, dv_utts, fields=fields_dv),
    )
    return trainer.fit(train_loader, dev_loader, resume=resume)


class TokenReader:
    """Source word ids per utterance, served like a feature reader (``feats`` of the MT task)."""

    def __init__(self, ids: dict[str, np.ndarray]):
        self.ids = ids
        self.utt_ids = list(ids)
        self.dim = 0

    def __getitem__(self, utt: str) -> np.ndarray:
        return self.ids[utt]

    def __len__(self) -> int:
        return len(self.ids)

    def num_frames(self, utt: str) -> int:
        return len(self.ids[utt])


def train_mt(
    train_dir: str | os.PathLike,
    dev_dir: str | os.PathLike,
    exp_dir: str | os.PathLike,
    cfg: MTConfig,
    resume: bool = False,
    argv: list[str] | None = None,
    quiet: bool = False,
    overwrite: bool = False,
) -> TrainState:
    """Train a text translation model on the English ``text`` -> ``text.<target>`` pairs of two data dirs."""
    with experiment_run(exp_dir, resume, overwrite, argv) as exp:
        return _train_mt(train_dir, dev_dir, exp, cfg, resume, argv, quiet)


def _train_mt(train_dir, dev_dir, exp: Path, cfg: MTConfig, resume, argv, quiet) -> TrainState:
    train, dev = DataDir(train_dir), DataDir(dev_dir)
    o = cfg.st
    why = "text translation"
    tr_utts = list(_table_keys(train, o.target))
    dv_utts = list(_table_keys(dev, o.target))
    src_tr, src_dv = train.texts_for(tr_utts, why), dev.texts_for(dv_utts, why)
    tr_text, dv_text = target_texts(train, o.target, tr_utts), target_texts(dev, o.target, dv_utts)
    exp.mkdir(parents=True, exist_ok=True)
    _check_resume(MTConfig, cfg, exp, resume)
    vocab = _target_vocab(cfg, list(tr_text.values()), exp, resume)
    if resume and (exp / "source.txt").is_file():
        source = Vocabulary.load(exp, "source")
    else:
        source = build_source_vocab(list(src_tr.values()))
        source.save(exp, "source")
    task = MTTask(cfg, source, vocab, 1.0)
    tr_ids = {u: task.source_ids(t)[0] for u, t in src_tr.items()}
    dv_ids = {u: task.source_ids(t)[0] for u, t in src_dv.items()}
    tr_targets = _encode(vocab, tr_text, str(train.file(f"text.{o.target}")))
    dv_targets = _encode(vocab, dv_text, str(dev.file(f"text.{o.target}")))
    task.max_ratio = _max_ratio(tr_targets, {u: len(v) for u, v in tr_ids.items()})
    write_header(
        exp,
        cfg,
        {
            "data": {"train": str(train.path.resolve()), "dev": str(dev.path.resolve())},
            "target_kind": vocab.kind,
        },
        argv,
    )
    trainer = Trainer(task, cfg.train, exp, quiet=quiet)
    train_loader, dev_loader = trainer.loaders(
        FeatDataset(TokenReader(tr_ids), tr_utts, fields={"targets": tr_targets}),
        FeatDataset(TokenReader(dv_ids), dv_utts, fields={"targets": dv_targets}),
    )
    return trainer.fit(train_loader, dev_loader, resume=resume)


def _table_keys(data: DataDir, lang: str) -> list[str]:
    if data.text is None:
        raise SpeechseqError(
            f"{data.file('text')}: file not found — text translation needs the English transcripts"
        )
    return list(data.text)
