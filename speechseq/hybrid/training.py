"""``train_hybrid``: the chain GMM -> align -> LSTM -> re-align -> LSTM, each step resumable;
and alignment of a data dir with a trained hybrid model (``speechseq align``).

Layout of ``EXP``::

    EXP/mono/    gmm.npz trans.json lang.json history.json ali_train.ark ali_dev.ark .done
    EXP/ctc_ali/ instead of mono/ with hybrid.ctc_bootstrap (a phone CTC model dir): the
                 alignments of that model's posteriors, trans.json lang.json .done
    EXP/tri/     with hybrid.tri_leaves > 0: the triphone tree built on mono's (or ctc_ali's) alignments and
                 a triphone GMM (tree.json gmm.npz trans.json ... as mono/); the LSTMs then
                 learn its tied states (every later model dir carries the tree.json)
    EXP/lstm1/   an LSTM trained on mono's alignments (a full model dir), ali_*.ark, .done
    EXP/         the final LSTM (config.yaml final.pt priors.txt trans.json lang.json ...),
                 trained on lstm1's alignments (or mono's / ctc_ali's with hybrid.realign false)

A step whose ``.done`` exists is skipped on a rerun; an LSTM step interrupted after a
checkpoint continues from it.

The bootstrap (the GMM, or the phone CTC model) may read other features than the LSTMs, as
Kaldi's nnet3 recipes train on ``data/train_hires`` with alignments from the GMM's
``data/train``: ``bootstrap_train`` / ``bootstrap_dev`` are data dirs of the same utterances with
the same frame rate (checked: every utterance, the same number of frames).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from speechseq.core.batching import FeatDataset
from speechseq.core.experiment import copy_feature_config, experiment_run, write_header
from speechseq.core.loading import load_experiment
from speechseq.core.trainer import Trainer, TrainState
from speechseq.data.kaldi_dir import DataDir, write_ctm
from speechseq.decode.graph import GraphDecoder
from speechseq.decode.run import decode_grid, network_outputs, search_grid
from speechseq.errors import SpeechseqError
from speechseq.features.config import CONFIG_NAME, load_feature_config, stored_feature_config
from speechseq.features.frontend import check_same_settings
from speechseq.features.reader import FeatureReader
from speechseq.fileio import atomic_dir, atomic_write
from speechseq.hybrid.align import (
    Aligner,
    MonoOptions,
    TriOptions,
    check_alignments,
    ctc_columns,
    ctc_pdf_scores,
    ctm_entries,
    phone_spans,
    read_alignments,
    train_mono,
    train_tri,
    word_spans,
    write_alignments,
)
from speechseq.hybrid.gmm import DiagGmm
from speechseq.hybrid.lang import Lang
from speechseq.hybrid.task import (
    LANG_NAME,
    PRIORS_NAME,
    HybridConfig,
    HybridTask,
    log_priors,
    write_lang_info,
    write_priors,
)
from speechseq.hybrid.topo import TransitionModel
from speechseq.hybrid.tree import TREE_NAME, model_tree

DONE = ".done"


def _mono_step(train: DataDir, dev: DataDir, lang: Lang, out: Path, cfg: HybridConfig, log) -> None:
    """The monophone GMM and its train / dev alignments, built whole under a temporary name."""
    if (out / DONE).is_file():
        log(f"{out}: done, skipping")
        return
    opts = MonoOptions(num_iters=cfg.hybrid.mono_iters, max_gauss=cfg.hybrid.mono_gauss)
    dv = FeatureReader(dev.path, cmvn="utterance", deltas=opts.deltas)
    dv_texts = dev.texts_for(list(dv.utt_ids), "hybrid training")
    dv_aligner = Aligner(
        lang, dv_texts, str(dev.file("text"))
    )  # bad dev words: fail before training
    feats, texts = _gmm_data(train, opts.deltas)
    gmm, trans, ali, history = train_mono(lang, feats, texts, opts, str(train.file("text")), log)
    _save_gmm(out, lang, gmm, trans, ali, history, dv, dv_aligner)


def _gmm_data(train: DataDir, deltas: int, keep=None):
    """A GMM's training features (per-utterance CMVN, ``deltas``) and transcripts: the
    utterances with a transcript (and in ``keep``, when given)."""
    reader = FeatureReader(train.path, cmvn="utterance", deltas=deltas)
    utts = [u for u in reader.utt_ids if keep is None or u in keep]
    texts = train.texts_for(utts, "hybrid training")
    return {u: reader[u] for u in utts}, texts


def _save_gmm(out, lang, gmm, trans, ali, history, dv, dv_aligner, tree=None) -> None:
    """Align dev with a trained GMM, then write its dir whole under a temporary name."""
    dv_aligner.set_transitions(trans)
    dv_ali = {}
    for u in dv_aligner.utts:
        best = dv_aligner.align(u, dv_aligner.gmm_scores(u, gmm, dv[u]))
        if best is not None:
            dv_ali[u] = best.columns
    with atomic_dir(out) as tmp:
        if tree is not None:
            tree.save(tmp / TREE_NAME)
        gmm.save(tmp / "gmm.npz")
        trans.save(tmp / "trans.json")
        write_lang_info(tmp, lang.path, lang.digest)
        write_alignments(tmp / "ali_train.ark", ali)
        write_alignments(tmp / "ali_dev.ark", dv_ali)
        with atomic_write(tmp / "history.json") as f:
            json.dump(history, f, indent=1)
        (tmp / DONE).touch()


def _tri_step(
    train: DataDir, dev: DataDir, lang: Lang, mono: Path, out: Path, cfg: HybridConfig, log
) -> None:
    """The triphone tree and GMM from the monophone alignments of ``mono`` (the GMM's, or the
    CTC bootstrap's), and its train / dev alignments, built whole under a temporary name."""
    if (out / DONE).is_file():
        log(f"{out}: done, skipping")
        return
    h = cfg.hybrid
    opts = TriOptions(
        num_leaves=h.tri_leaves,
        num_iters=h.tri_iters,
        max_gauss=h.tri_gauss,
        min_frames=h.tri_min_frames,
    )
    mono_ali = read_alignments(mono / "ali_train.ark")
    feats, texts = _gmm_data(train, opts.deltas, keep=mono_ali)
    tree, gmm, trans, ali, history = train_tri(
        lang, feats, texts, {u: mono_ali[u] for u in feats}, lang.topo, opts,
        str(train.file("text")), log,
    )  # fmt: skip
    dv = FeatureReader(dev.path, cmvn="utterance", deltas=opts.deltas)
    dv_texts = dev.texts_for(list(dv.utt_ids), "hybrid training")
    dv_aligner = Aligner(lang, dv_texts, str(dev.file("text")), tree)
    _save_gmm(out, lang, gmm, trans, ali, history, dv, dv_aligner, tree)


def _ctc_step(train: DataDir, dev: DataDir, lang: Lang, out: Path, ctc_dir: str, log) -> None:
    """Instead of the GMM: train / dev state alignments by forced alignment over a phone CTC
    model's posteriors (:func:`~speechseq.hybrid.align.ctc_pdf_scores`), with transition
    probabilities estimated from them; built whole under a temporary name."""
    if (out / DONE).is_file():
        log(f"{out}: done, skipping")
        return
    ex = load_experiment(ctc_dir, "auto", quiet=True)
    units = getattr(ex.task, "units", None)
    if ex.task.name != "ctc" or units is None or units.kind != "phone":
        raise SpeechseqError(
            f"{ctc_dir}: a {ex.task.name} model{f' of {units.kind} units' if units else ''} — "
            "hybrid.ctc_bootstrap needs a CTC model of phone units (train-ctc --units phone)"
        )
    columns = ctc_columns(lang, units.symbols, ctc_dir)
    trans = TransitionModel(lang.topo)
    alignments = {}
    for data, name in ((train, "ali_train.ark"), (dev, "ali_dev.ark")):
        reader = ex.frontend.data_reader(data.path)
        texts = data.texts_for(list(reader.utt_ids), "hybrid training")
        aligner = Aligner(lang, texts, str(data.file("text")))
        aligner.set_transitions(trans)
        ali, failed = {}, []
        for u, lp in network_outputs(ex, reader, [u for u in reader.utt_ids if u in texts]):
            scores = ctc_pdf_scores(
                lp, columns, reader.num_frames(u), units.blank, units.word_boundary
            )
            best = aligner.align(u, scores)
            if best is None:
                failed.append(u)
            else:
                ali[u] = best.columns
        log(
            f"{out}: {len(ali)} utterances of {data.path} aligned with {ctc_dir}, {len(failed)} not"
        )
        alignments[name] = ali
    trans.estimate(list(alignments["ali_train.ark"].values()))
    with atomic_dir(out) as tmp:
        trans.save(tmp / "trans.json")
        write_lang_info(tmp, lang.path, lang.digest)
        for name, ali in alignments.items():
            write_alignments(tmp / name, ali)
        (tmp / DONE).touch()


def _lstm_step(
    train: DataDir,
    dev: DataDir,
    lang: Lang,
    ali_dir: Path,
    out: Path,
    cfg: HybridConfig,
    argv,
    quiet: bool,
    log,
    overwrite: bool = False,
) -> TrainState | None:
    if (out / DONE).is_file():
        log(f"{out}: done, skipping")
        return None
    resume = (out / "checkpoints").is_dir() and any((out / "checkpoints").iterdir())
    with experiment_run(out, resume=resume, overwrite=overwrite and not resume, argv=argv) as exp:
        tr = FeatureReader(train.path, cmvn=cfg.hybrid.cmvn)
        dv = FeatureReader(dev.path, cmvn=cfg.hybrid.cmvn)
        tree = model_tree(ali_dir, lang.topo)
        trans = TransitionModel.load(tree, ali_dir / "trans.json")
        num_pdfs = tree.num_pdfs
        tr_ali_path, dv_ali_path = ali_dir / "ali_train.ark", ali_dir / "ali_dev.ark"
        tr_ali, dv_ali = read_alignments(tr_ali_path), read_alignments(dv_ali_path)
        tr_utts = check_alignments(tr_ali, tr.num_frames, tr.utt_ids, str(tr_ali_path), num_pdfs)
        dv_utts = check_alignments(dv_ali, dv.num_frames, dv.utt_ids, str(dv_ali_path), num_pdfs)
        if not tr_utts or not dv_utts:
            raise SpeechseqError(
                f"{ali_dir}: no alignments for the training or dev utterances — realign"
            )
        counts = np.bincount(np.concatenate([tr_ali[u] for u in tr_utts]), minlength=num_pdfs)
        write_header(exp, cfg, {"data": {"train": str(train.path.resolve()), "dev": str(dev.path.resolve()),
                                         "lang": str(lang.path.resolve()), "alignments": str(ali_dir.resolve()),
                                         "feature_dim": tr.dim}}, argv)  # fmt: skip
        copy_feature_config(train.path, exp)
        write_priors(exp / PRIORS_NAME, counts)
        trans.estimate([tr_ali[u] for u in tr_utts])
        trans.save(exp / "trans.json")
        if tree.width > 1:
            tree.save(exp / TREE_NAME)
        write_lang_info(exp, lang.path, lang.digest)
        task = HybridTask(
            cfg,
            tr.dim,
            num_pdfs,
            log_priors(counts, cfg.hybrid.prior_floor),
            lang.digest,
            features=stored_feature_config(exp / "feats.yaml"),
            features_from=str(train.path / CONFIG_NAME),
        )
        trainer = Trainer(task, cfg.train, exp, quiet=quiet)
        loaders = trainer.loaders(
            FeatDataset(tr, tr_utts, {u: tr_ali[u] for u in tr_utts}),
            FeatDataset(dv, dv_utts, {u: dv_ali[u] for u in dv_utts}),
        )
        state = trainer.fit(*loaders, resume=resume)
    return state


def _realign_step(model_dir: Path, train: DataDir, dev: DataDir, log) -> None:
    if (model_dir / "ali_dev.ark").is_file() and (model_dir / "ali_train.ark").is_file():
        log(f"{model_dir}: alignments done, skipping")
        return
    for data, name in ((train, "ali_train.ark"), (dev, "ali_dev.ark")):
        ali, _, _, failed = align_model(model_dir, data)
        if failed:
            log(
                f"{model_dir}: {len(failed)} utterance(s) of {data.path} could not be aligned: {', '.join(failed[:5])}"
            )
        write_alignments(model_dir / name, {u: b.columns for u, b in ali.items()})


def check_same_frames(lstm: DataDir, boot: DataDir) -> None:
    """Every utterance of ``lstm`` is in ``boot`` with as many feature frames, so alignments
    made on ``boot``'s features label ``lstm``'s frames; one error naming the first that is not."""
    have = FeatureReader(boot.path, cmvn="none")
    want = FeatureReader(lstm.path, cmvn="none")
    known = set(have.utt_ids)
    for u in want.utt_ids:
        if u not in known:
            raise SpeechseqError(
                f"{boot.path}/feats.scp: no utterance {u} of {lstm.path} — the bootstrap data dir must "
                "hold the same utterances as the LSTM's (the same data dir with other features)"
            )
        if have.num_frames(u) != want.num_frames(u):
            raise SpeechseqError(
                f"{boot.path}: utterance {u} has {have.num_frames(u)} frames, {want.num_frames(u)} in "
                f"{lstm.path} — compute both feature sets with the same frame length and shift"
            )


def train_hybrid(
    train_dir: str | os.PathLike,
    dev_dir: str | os.PathLike,
    lang_dir: str | os.PathLike,
    exp_dir: str | os.PathLike,
    cfg: HybridConfig,
    overwrite: bool = False,
    argv: list[str] | None = None,
    quiet: bool = False,
    log: Callable[[str], None] = print,
    bootstrap_train_dir: str | os.PathLike | None = None,
    bootstrap_dev_dir: str | os.PathLike | None = None,
) -> TrainState | None:
    """The chain (see the module docstring); returns the final LSTM's training state.
    ``bootstrap_train_dir`` / ``bootstrap_dev_dir`` (both or neither): the GMM's (or the CTC
    bootstrap's) features of the same utterances; by default the LSTMs' own."""
    train, dev, lang, exp = DataDir(train_dir), DataDir(dev_dir), Lang(lang_dir), Path(exp_dir)
    pairs = [(train, dev)]
    boot_train, boot_dev = train, dev
    if bootstrap_train_dir is not None:
        boot_train, boot_dev = DataDir(bootstrap_train_dir), DataDir(bootstrap_dev_dir)
        check_same_frames(train, boot_train)
        check_same_frames(dev, boot_dev)
        pairs.append((boot_train, boot_dev))
    for tr, dv in pairs:
        if (tr.path / CONFIG_NAME).is_file():
            check_same_settings(
                dv.path, load_feature_config(tr.path), str(tr.path / CONFIG_NAME), "train"
            )
    if overwrite and exp.exists():
        shutil.rmtree(exp)
    if (exp / LANG_NAME).is_file():
        recorded = json.loads((exp / LANG_NAME).read_text()).get("lang_digest")
        if recorded != lang.digest:
            raise SpeechseqError(
                f"{exp}: was trained with another lang (digest {recorded}, {lang.path} is {lang.digest}) — "
                f"use that lang, --overwrite, or another --out"
            )
    if cfg.hybrid.ctc_bootstrap:
        ali_dir = exp / "ctc_ali"
        _ctc_step(boot_train, boot_dev, lang, ali_dir, cfg.hybrid.ctc_bootstrap, log)
    else:
        ali_dir = exp / "mono"
        _mono_step(boot_train, boot_dev, lang, ali_dir, cfg, log)
    if cfg.hybrid.tri_leaves > 0:
        _tri_step(boot_train, boot_dev, lang, ali_dir, exp / "tri", cfg, log)
        ali_dir = exp / "tri"
    if cfg.hybrid.realign:
        _lstm_step(train, dev, lang, ali_dir, exp / "lstm1", cfg, argv, quiet, log)
        (exp / "lstm1" / DONE).touch()
        _realign_step(exp / "lstm1", train, dev, log)
        ali_dir = exp / "lstm1"
    if (exp / "final.pt").is_file() and (exp / DONE).is_file():
        log(f"{exp}: done, skipping")
        return None
    state = _lstm_step(train, dev, lang, ali_dir, exp, cfg, argv, quiet, log)
    (exp / DONE).touch()
    return state


# ---- alignment with a trained model ---------------------------------------------------------


def model_lang(model_dir: Path) -> Lang:
    """The lang a model directory was trained with (its lang.json), checked by digest."""
    path = model_dir / LANG_NAME
    if not path.is_file():
        raise SpeechseqError(
            f"{model_dir}: no {LANG_NAME} — not a hybrid model directory (speechseq train-hybrid)"
        )
    info = json.loads(path.read_text())
    lang = Lang(info["lang"])
    if lang.digest != info.get("lang_digest"):
        raise SpeechseqError(
            f"{info['lang']}: the lang changed since {model_dir} was trained (digest {lang.digest}, "
            f"model {info.get('lang_digest')}) — restore it or retrain"
        )
    return lang


def align_model(model_dir: str | os.PathLike, data: DataDir, device: str = "auto"):
    """Align ``data``'s transcripts with a hybrid model dir (an LSTM's final.pt, or a GMM's
    gmm.npz): ``({utt: BestPath}, lang, tree, failed utterances)``."""
    model_dir = Path(model_dir)
    lang = model_lang(model_dir)
    tree = model_tree(model_dir, lang.topo)
    trans = TransitionModel.load(tree, model_dir / "trans.json")
    if (model_dir / "final.pt").is_file():
        ex = load_experiment(model_dir, device, quiet=True)
        if ex.task.name != "hybrid":
            raise SpeechseqError(f"{model_dir}: a {ex.task.name} model, not a hybrid one")
        reader = ex.frontend.data_reader(data.path)
        priors = ex.task.log_priors

        def scores():
            for u, lp in network_outputs(ex, reader, list(reader.utt_ids)):
                yield u, lp - priors
    else:
        gmm = DiagGmm.load(model_dir / "gmm.npz")
        reader = FeatureReader(data.path, cmvn="utterance", deltas=MonoOptions().deltas)

        def scores():
            for u in reader.utt_ids:
                yield u, gmm.loglikes(reader[u])

    texts = data.texts_for(list(reader.utt_ids), "forced alignment")
    aligner = Aligner(lang, texts, str(data.file("text")), tree)
    aligner.set_transitions(trans)
    out, failed = {}, []
    for u, sc in scores():
        if u not in texts:
            continue
        best = aligner.align(u, sc)
        if best is None:
            failed.append(u)
        else:
            out[u] = best
    return out, lang, tree, failed


def align_data(
    model_dir: str | os.PathLike,
    data_dir: str | os.PathLike,
    out_ctm: str | os.PathLike,
    device: str = "auto",
) -> dict:
    """Word CTM at ``out_ctm``, phone CTM (``*.phones.ctm``) and pdf alignments (``*.ali.ark``) beside it."""
    data = DataDir(data_dir)
    ali, lang, tree, failed = align_model(model_dir, data, device)
    if not ali:
        raise SpeechseqError(f"{data.path}: no utterance could be aligned with {model_dir}")
    out = Path(out_ctm)
    base = out.with_suffix("") if out.suffix == ".ctm" else out
    words, phones = [], []
    for u, best in ali.items():
        words += ctm_entries(u, word_spans(best, lang, tree))
        phones += ctm_entries(u, phone_spans(best.columns, tree))
    write_ctm(out, words)
    write_ctm(f"{base}.phones.ctm", phones)
    write_alignments(f"{base}.ali.ark", {u: b.columns for u, b in ali.items()})
    return {
        "aligned": len(ali),
        "failed": failed,
        "words": str(out),
        "phones": f"{base}.phones.ctm",
        "states": f"{base}.ali.ark",
    }


def decode_gmm(
    model_dir, data_dir, options, out_dir=None, lm_weights=None, word_bonuses=None
) -> list[dict]:
    """Decode a data dir with a GMM model dir (EXP/mono) over a graph: the same decode dirs
    (hyp.txt, wer, per_utt, per_spk, results.json, lattices) as ``speechseq decode``."""
    model_dir, data = Path(model_dir), DataDir(data_dir)
    grid = decode_grid(options, lm_weights, word_bonuses, "hybrid")
    lang = model_lang(model_dir)
    gmm = DiagGmm.load(model_dir / "gmm.npz")
    decoder = GraphDecoder(options, np.zeros(gmm.num_pdfs, dtype=np.float32), lang.digest)
    reader = FeatureReader(data.path, cmvn="utterance", deltas=MonoOptions().deltas)
    utts = list(reader.utt_ids)
    if not utts:
        raise SpeechseqError(f"{data.path}: no utterances to decode")
    t0 = time.perf_counter()
    loglikes = {u: gmm.loglikes(reader[u]) for u in utts}
    am_s = time.perf_counter() - t0
    audio_s = sum(reader.num_frames(u) for u in utts) * 0.01
    return search_grid(model_dir, data, decoder, loglikes, grid, am_s, audio_s, out_dir)
