"""Translation under the core task contract: speech -> text (``st``) and text -> text (``mt``).

Both train an attention decoder (:mod:`speechseq.st.model`) with label-smoothed
cross-entropy under teacher forcing (optionally scheduled sampling, its rate raised per epoch
by :meth:`Seq2SeqTask.on_epoch_start`); the dev metric is corpus BLEU (sacrebleu) of greedy
output. The speech task may add a CTC loss on the source-language transcript through a head
on the encoder (``ctc_weight`` > 0: multi-task, Weiss et al. 2017); with ``ctc_weight`` 0
no transcript is read at all.

Batch fields: ``feats`` (speech features, or source word ids for ``mt``), ``targets``
(``<sos> ... <eos>`` token ids, padded with ``<pad>`` = 0) and, for multi-task,
``ctc_targets`` (source-language CTC unit ids, padded with -1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from speechseq.core.config import sections_of
from speechseq.core.encoder import EncoderConfig
from speechseq.core.task import Task
from speechseq.core.trainer import TrainConfig
from speechseq.decode.seq2seq import (
    Seq2SeqDecodeOptions,
    Seq2SeqDecoder,
    greedy_batch,
    output_limit,
)
from speechseq.errors import SpeechseqError
from speechseq.features.config import FeatureSource
from speechseq.features.reader import CMVN_MODES
from speechseq.metrics.bleu import translation_scores
from speechseq.ranges import FREE, check_fields, integer, number, one_of, setting
from speechseq.st.model import DecoderConfig, SpeechTranslator, TextTranslator
from speechseq.text.target_vocab import TargetVocab
from speechseq.text.units import Units
from speechseq.text.vocab import Specials, Vocabulary

TARGET_LANGS = ("fr", "de", "es")
CTC_UNITS_DIR = "ctc_units"  # EXP/ctc_units/: the auxiliary CTC head's units (units.txt, bpe.model)


@dataclass(frozen=True)
class STOptions:
    target: str = setting("fr", FREE)  # target language: the data dirs' text.<target>
    units: str = setting("bpe", one_of("char", "bpe"))  # target tokens
    bpe_size: int = setting(200, integer(ge=8))  # sentencepiece vocabulary size of bpe targets
    label_smoothing: float = setting(0.1, number(ge=0, lt=1))
    # scheduled sampling: the probability of feeding the model's own previous token, reached
    # linearly over sampling_epochs epochs (0 = teacher forcing throughout)
    sampling_prob: float = setting(0.0, number(ge=0, le=1))
    sampling_epochs: int = setting(5, integer(ge=1))
    # weight of the auxiliary CTC loss on the English transcript (data dir's text); 0 = none,
    # and no transcript is read (translation without any source text)
    ctc_weight: float = setting(0.0, number(ge=0, lt=1))
    ctc_units: str = setting("bpe", one_of("char", "bpe"))  # units of the auxiliary CTC head
    ctc_bpe_size: int = setting(100, integer(ge=8))
    cmvn: str = setting("utterance", one_of(*CMVN_MODES))  # speech only
    spec_augment: bool = True  # speech only: time and frequency masks on training batches
    source_embed: int = setting(128, integer(ge=1))  # text only: source word embedding size

    def __post_init__(self):
        check_fields(self, "st")


def _st_encoder() -> EncoderConfig:
    # x8 fewer frames: stack2, then halved twice between three pyramidal BLSTM layers (LAS)
    return EncoderConfig(subsample="stack2", hidden=192, layers=3, pyramidal=True, dropout=0.2)


def _mt_encoder() -> EncoderConfig:
    return EncoderConfig(subsample="none", hidden=192, layers=2, pyramidal=False, dropout=0.2)


@dataclass(frozen=True)
class STConfig:
    encoder: EncoderConfig = field(default_factory=_st_encoder)  # the shared encoder
    decoder: DecoderConfig = field(default_factory=DecoderConfig)  # the attention decoder
    train: TrainConfig = field(default_factory=TrainConfig)  # the shared trainer
    st: STOptions = field(default_factory=STOptions)  # translation choices
    features: FeatureSource = field(default_factory=FeatureSource)  # stored or on the fly


@dataclass(frozen=True)
class MTConfig:
    encoder: EncoderConfig = field(default_factory=_mt_encoder)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    st: STOptions = field(default_factory=STOptions)


SOURCE_SPECIALS = Specials(pad=0, unk=1)


def build_source_vocab(texts: list[str]) -> Vocabulary:
    """The MT source words: ``<pad> <unk>`` then every training word, sorted."""
    words = sorted({w for t in texts for w in t.split()})
    if not words:
        raise SpeechseqError("no source text to build the MT source vocabulary from")
    return Vocabulary(["<pad>", "<unk>", *words], SOURCE_SPECIALS)


class Seq2SeqTask(Task):
    """What speech and text translation share: loss, dev BLEU, decoding."""

    metric_name = "bleu"
    metric_mode = "max"
    pad_values = {"feats": 0.0, "targets": 0, "ctc_targets": -1}

    def __init__(
        self, cfg, input_dim: int, vocab: TargetVocab, max_ratio: float, spec_augment=None
    ):
        self.cfg, self.input_dim, self.vocab = cfg, input_dim, vocab
        self.max_ratio = max_ratio  # tokens per encoder frame: the output length guard
        self.spec_augment = spec_augment
        self.sampling_prob = 0.0

    # -- training ------------------------------------------------------------------------------

    def on_epoch_start(self, epoch: int, model: nn.Module) -> None:
        o = self.cfg.st
        self.sampling_prob = o.sampling_prob * min(1.0, epoch / o.sampling_epochs)

    def _forward(self, model, batch, sampling_prob: float):
        feats, lengths = batch["feats"], batch["lengths"]
        if self.spec_augment is not None and model.training:
            feats = self.spec_augment(feats, lengths=lengths)
        targets = batch["targets"]
        return model(feats, lengths, targets[:, :-1], sampling_prob), targets[:, 1:]

    def _losses(self, model, batch, sampling_prob: float):
        (logits, _, memory, mem_lengths), gold = self._forward(model, batch, sampling_prob)
        ce = nn.functional.cross_entropy(
            logits.float().transpose(1, 2),
            gold,
            ignore_index=self.vocab.pad,
            label_smoothing=self.cfg.st.label_smoothing,
        )
        valid = gold != self.vocab.pad
        acc = float(((logits.argmax(-1) == gold) & valid).sum()) / max(int(valid.sum()), 1)
        stats = {"ce": float(ce.detach()), "acc": acc}
        loss = ce
        w = self.cfg.st.ctc_weight
        if w > 0 and getattr(model, "ctc", None) is not None and "ctc_targets" in batch:
            log_probs = model.ctc(memory).float().log_softmax(-1)
            tl = batch["ctc_targets_lengths"]
            flat = torch.cat([batch["ctc_targets"][k, : int(tl[k])] for k in range(len(tl))])
            ctc = nn.functional.ctc_loss(
                log_probs.transpose(0, 1),
                flat,
                mem_lengths,
                tl,
                blank=0,
                reduction="sum",
                zero_infinity=True,
            ) / len(tl)
            stats["ctc"] = float(ctc.detach())
            loss = (1 - w) * ce + w * ctc
        return loss, stats

    def loss(self, model, batch):
        return self._losses(model, batch, self.sampling_prob)

    def evaluate(self, model, batches) -> dict[str, float]:
        """Dev loss (teacher forcing) and BLEU / chrF of greedy translations."""
        refs, hyps, loss_sum, acc_sum, n = {}, {}, 0.0, 0.0, 0
        for batch in batches:
            loss, stats = self._losses(model, batch, 0.0)
            k = len(batch["utt_ids"])
            loss_sum += float(loss) * k
            acc_sum += stats["acc"] * k
            n += k
            for utt, text in zip(batch["utt_ids"], self.translate_batch(model, batch), strict=True):
                hyps[utt] = text
            for j, utt in enumerate(batch["utt_ids"]):
                refs[utt] = self.vocab.decode(batch["targets"][j].tolist())
        s = translation_scores(refs, hyps)
        return {
            "loss": loss_sum / max(n, 1),
            "bleu": s.bleu,
            "chrf": s.chrf,
            "acc": acc_sum / max(n, 1),
        }

    def translate_batch(self, model, batch) -> list[str]:
        """Greedy translations of a batch (the dev metric; ``beam 1`` of the decoder)."""
        memory, mem_lengths = model.encode(batch["feats"], batch["lengths"])
        limits = [
            output_limit(int(s), Seq2SeqDecodeOptions(beam=1), self.max_ratio) for s in mem_lengths
        ]
        ids = greedy_batch(
            model.decoder, memory, mem_lengths, self.vocab.sos, self.vocab.eos, limits
        )
        return [self.vocab.decode(x) for x in ids]

    def meta(self) -> dict[str, Any]:
        return {
            "input_dim": self.input_dim,
            "num_tokens": len(self.vocab),
            "target": self.cfg.st.target,
            "max_ratio": self.max_ratio,
            "cmvn": self.cfg.st.cmvn,
        }

    # -- inference -----------------------------------------------------------------------------

    def outputs(self, model, batch) -> list[np.ndarray]:
        """The encoder's output ``[S, D]`` per utterance: what the decoder attends over."""
        memory, lengths = model.encode(batch["feats"], batch["lengths"])
        m = memory.float().cpu().numpy()
        return [m[k, : int(lengths[k])] for k in range(m.shape[0])]

    def decoder(
        self, options: Seq2SeqDecodeOptions, model: nn.Module | None = None
    ) -> Seq2SeqDecoder:
        if not isinstance(options, Seq2SeqDecodeOptions):
            raise SpeechseqError(
                f"a {self.name} model is decoded by beam search over its attention decoder: "
                f"--lm, --lexicon, --lm-weight and --word-bonus are for CTC models"
            )
        if model is None:
            raise SpeechseqError("a translation decoder needs the model it decodes with")
        return Seq2SeqDecoder(
            self.vocab, model.decoder, options, self.max_ratio, f"text.{self.cfg.st.target}"
        )

    @classmethod
    def _vocab(cls, exp: Path, meta: dict) -> TargetVocab:
        vocab = TargetVocab.load(exp)
        if len(vocab) != meta["num_tokens"]:
            raise SpeechseqError(
                f"{exp}: tokens.txt has {len(vocab)} tokens but the model outputs {meta['num_tokens']} — "
                f"tokens.txt does not belong to this model; restore it from training"
            )
        return vocab


class STTask(Seq2SeqTask):
    """Speech translation: features in, target-language tokens out."""

    name = "st"
    data_fields = ("text.<lang>",)

    def __init__(
        self,
        cfg: STConfig,
        input_dim,
        vocab,
        max_ratio,
        spec_augment=None,
        ctc_units: Units | None = None,
    ):
        super().__init__(cfg, input_dim, vocab, max_ratio, spec_augment)
        self.ctc_units = ctc_units

    def build_model(self) -> SpeechTranslator:
        return SpeechTranslator(
            self.input_dim,
            len(self.vocab),
            self.cfg.encoder,
            self.cfg.decoder,
            ctc_units=len(self.ctc_units) if self.ctc_units is not None else 0,
        )

    def meta(self) -> dict[str, Any]:
        return {
            **super().meta(),
            "ctc_units": len(self.ctc_units) if self.ctc_units is not None else 0,
        }

    @classmethod
    def from_experiment(cls, exp: Path, config: dict, meta: dict) -> STTask:
        cfg = sections_of(STConfig, config, f"{exp}/config.yaml")
        units = Units.load(exp / CTC_UNITS_DIR) if int(meta.get("ctc_units", 0)) else None
        return cls(
            cfg,
            int(meta["input_dim"]),
            cls._vocab(exp, meta),
            float(meta["max_ratio"]),
            ctc_units=units,
        )


class MTTask(Seq2SeqTask):
    """Text translation: source words in (``feats`` holds their ids), target tokens out."""

    name = "mt"
    data_fields = ("text", "text.<lang>")
    pad_values = {"feats": 0, "targets": 0}

    def __init__(self, cfg: MTConfig, source: Vocabulary, vocab: TargetVocab, max_ratio: float):
        super().__init__(cfg, 0, vocab, max_ratio)
        self.source = source

    def build_model(self) -> TextTranslator:
        return TextTranslator(
            len(self.source),
            len(self.vocab),
            self.cfg.st.source_embed,
            self.cfg.encoder,
            self.cfg.decoder,
        )

    def meta(self) -> dict[str, Any]:
        return {**super().meta(), "source_words": len(self.source)}

    def source_ids(self, text: str) -> tuple[np.ndarray, list[str]]:
        """Source ids of ``text`` and the words the model has never seen (encoded as ``<unk>``)."""
        words = text.split()
        unseen = [w for w in words if w not in self.source]
        return np.asarray(self.source.encode(words), dtype=np.int64), unseen

    @classmethod
    def from_experiment(cls, exp: Path, config: dict, meta: dict) -> MTTask:
        cfg = sections_of(MTConfig, config, f"{exp}/config.yaml")
        source = Vocabulary.load(exp, "source")
        if len(source) != meta["source_words"]:
            raise SpeechseqError(
                f"{exp}/source.txt has {len(source)} words but the model reads {meta['source_words']} — "
                f"restore it from training"
            )
        return cls(cfg, source, cls._vocab(exp, meta), float(meta["max_ratio"]))
