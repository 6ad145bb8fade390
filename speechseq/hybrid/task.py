"""The hybrid acoustic model: the shared (B)LSTM encoder estimating HMM-state (pdf)
posteriors, trained by frame-level cross-entropy on state alignments.

``HybridModel.forward(feats [N, T, C], lengths [N]) -> (log_probs [N, T, P], lengths [N])``:
natural-log posteriors log p(s|x) over the ``P`` pdfs at the input frame rate. With
``encoder.subsample: stackK`` the network runs at 1/K of the frame rate and each output is
repeated K times (cut to T), so labels and decoding stay at 10 ms frames.

Decoding divides by the state priors (relative frequencies of the pdfs in the training
alignments, ``EXP/priors.txt``): scaled log-likelihoods
``acoustic_scale * (log p(s|x) - log p(s))`` (:class:`speechseq.decode.graph.GraphDecoder`).
A model directory also holds ``trans.json`` (transition model) and ``lang.json`` (the path and
digest of the lang it was trained with), which mkgraph and align read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from speechseq.core.config import sections_of
from speechseq.core.encoder import Encoder, EncoderConfig
from speechseq.core.task import Task
from speechseq.core.trainer import TrainConfig
from speechseq.decode.graph import GraphDecodeOptions, GraphDecoder
from speechseq.errors import SpeechseqError
from speechseq.features.augment import augment_from
from speechseq.features.config import stored_feature_config
from speechseq.features.reader import CMVN_MODES
from speechseq.fileio import atomic_write
from speechseq.ranges import FREE, check_fields, integer, number, one_of, setting

PRIORS_NAME = "priors.txt"
LANG_NAME = "lang.json"


@dataclass(frozen=True)
class HybridOptions:
    # utterance | speaker | global | none: mean/variance normalisation of the LSTM's input
    cmvn: str = setting("utterance", one_of(*CMVN_MODES))
    mono_iters: int = setting(10, integer(ge=1))  # GMM: alignment + re-estimation passes
    mono_gauss: int = setting(400, integer(ge=1))  # GMM: Gaussians in all after splitting
    # tied triphone states: 0 keeps monophone pdfs; N > 0 builds a phonetic decision tree of at
    # most N leaves on the monophone GMM's alignments and trains a triphone GMM (EXP/tri) whose
    # alignments the LSTMs learn
    tri_leaves: int = setting(0, integer(ge=0))
    tri_iters: int = setting(10, integer(ge=1))  # triphone GMM: alignment + re-estimation passes
    tri_gauss: int = setting(2000, integer(ge=1))  # triphone GMM: Gaussians in all after splitting
    # tree: a split leaves at least this many frames on each side
    tri_min_frames: int = setting(100, integer(ge=1))
    realign: bool = True  # train a second LSTM on the first LSTM's alignments
    # a phone CTC model dir (train-ctc --units phone, on features of the same settings): its
    # forced alignments start the chain instead of the monophone GMM ("" = the GMM)
    ctc_bootstrap: str = setting("", FREE)
    prior_floor: float = setting(1e-5, number(gt=0, lt=1))  # smallest state prior
    # SpecAugment on the LSTM's training batches (the frames keep their state labels; a masked
    # stretch is told from its context), as train-ctc's; off by default
    spec_augment: bool = False
    freq_masks: int = setting(2, integer(ge=0))  # SpecAugment: frequency masks per utterance
    freq_width: int = setting(15, integer(ge=0))  # SpecAugment: widest frequency mask (bins)
    # SpecAugment: time masks per utterance (each at most 20% of it)
    time_masks: int = setting(2, integer(ge=0))
    time_width: int = setting(20, integer(ge=0))  # SpecAugment: widest time mask (10 ms frames)
    # VTLP of the LSTM's fbank batches, as train-ctc's ctc.vtlp (each utterance warped by its own
    # factor in 1 +- vtlp, anew every epoch; the frames keep their state labels); 0 = off
    vtlp: float = setting(0.0, number(ge=0, lt=0.5))

    def __post_init__(self):
        check_fields(self, "hybrid")


def frame_encoder() -> EncoderConfig:
    """The default encoder of a frame classifier (the hybrid, the word-boundary segmenter): one
    output per 10 ms frame, 2 x BLSTM 128."""
    return EncoderConfig(subsample="none", hidden=128, layers=2, dropout=0.1)


def _default_train() -> TrainConfig:
    return TrainConfig(max_epochs=10, max_frames=6000, warmup_steps=100)


@dataclass(frozen=True)
class HybridConfig:
    encoder: EncoderConfig = field(default_factory=frame_encoder)  # the shared encoder
    train: TrainConfig = field(default_factory=_default_train)  # the shared trainer
    hybrid: HybridOptions = field(default_factory=HybridOptions)  # hybrid-specific choices


def repeat_factor(enc: EncoderConfig) -> int:
    """Output frames repeat this many times to reach the input rate (stackK: K, none: 1)."""
    if enc.subsample == "none":
        return 1
    if enc.subsample.startswith("stack") and not enc.pyramidal:
        return int(enc.subsample[5:])
    raise SpeechseqError(
        f"encoder.subsample {enc.subsample} (pyramidal {enc.pyramidal}): the hybrid model needs "
        f"frame-level outputs — use subsample none or stackK without pyramidal layers"
    )


class HybridModel(nn.Module):
    def __init__(self, input_dim: int, num_pdfs: int, enc: EncoderConfig):
        super().__init__()
        self.factor = repeat_factor(enc)
        self.encoder = Encoder(input_dim, enc)
        self.output = nn.Linear(self.encoder.output_dim, num_pdfs)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor):
        h, _ = self.encoder(feats, lengths)
        logits = self.output(h).float()
        if self.factor > 1:
            logits = logits.repeat_interleave(self.factor, dim=1)
        t = feats.shape[1]
        if logits.shape[1] < t:  # the encoder pads only to its longest output
            logits = nn.functional.pad(logits, (0, 0, 0, t - logits.shape[1]))
        return logits[:, :t].log_softmax(dim=-1), lengths


def frame_stats(log_probs, targets) -> tuple[torch.Tensor, int, int]:
    """(summed cross-entropy, frames, correct frames) over frames with a label (>= 0)."""
    t = targets[:, : log_probs.shape[1]]
    mask = t >= 0
    ce = nn.functional.nll_loss(
        log_probs.reshape(-1, log_probs.shape[-1]), t.reshape(-1), ignore_index=-1, reduction="sum"
    )
    correct = int(((log_probs.argmax(-1) == t) & mask).sum())
    return ce, int(mask.sum()), correct


class HybridTask(Task):
    """Frame cross-entropy on pdf alignments under the core contract (:mod:`speechseq.core.task`)."""

    name = "hybrid"
    data_fields = ("text",)
    metric_name = "frame_err"
    metric_mode = "min"

    def __init__(
        self,
        cfg: HybridConfig,
        input_dim: int,
        num_pdfs: int,
        log_priors=None,
        lang_digest="",
        features=None,  # the training features' FeatureConfig (hybrid.vtlp needs it)
        features_from: str = "DATA/conf/feats.yaml",  # where they were looked for
    ):
        self.cfg, self.input_dim, self.num_pdfs = cfg, input_dim, num_pdfs
        self.log_priors = None if log_priors is None else np.asarray(log_priors, dtype=np.float32)
        self.lang_digest = lang_digest
        self.spec_augment = augment_from(cfg.hybrid, features, features_from)
        repeat_factor(cfg.encoder)

    def build_model(self) -> HybridModel:
        return HybridModel(self.input_dim, self.num_pdfs, self.cfg.encoder)

    def meta(self) -> dict:
        return {
            "input_dim": self.input_dim,
            "num_pdfs": self.num_pdfs,
            "cmvn": self.cfg.hybrid.cmvn,
            "lang_digest": self.lang_digest,
        }

    @classmethod
    def from_experiment(cls, exp: Path, config: dict, meta: dict) -> HybridTask:
        cfg = sections_of(HybridConfig, config, f"{exp}/config.yaml")
        counts = read_priors(exp / PRIORS_NAME, int(meta["num_pdfs"]))
        return cls(
            cfg,
            int(meta["input_dim"]),
            int(meta["num_pdfs"]),
            log_priors(counts, cfg.hybrid.prior_floor),
            str(meta.get("lang_digest", "")),
            features=stored_feature_config(exp / "feats.yaml"),
            features_from=str(exp / "feats.yaml"),
        )

    def loss(self, model, batch):
        feats, lengths = batch["feats"], batch["lengths"]
        if self.spec_augment is not None and model.training:
            feats = self.spec_augment(feats, lengths=lengths)
        log_probs, _ = model(feats, lengths)
        ce, frames, correct = frame_stats(log_probs, batch["targets"])
        return ce / max(frames, 1), {"frame_acc": correct / max(frames, 1)}

    def evaluate(self, model, batches) -> dict[str, float]:
        ce_sum, frames, correct = 0.0, 0, 0
        for batch in batches:
            log_probs, _ = model(batch["feats"], batch["lengths"])
            ce, n, c = frame_stats(log_probs, batch["targets"])
            ce_sum, frames, correct = ce_sum + float(ce), frames + n, correct + c
        return {"loss": ce_sum / max(frames, 1), "frame_err": 1 - correct / max(frames, 1)}

    def outputs(self, model, batch) -> list[np.ndarray]:
        """Log-posteriors ``[T, P]`` per utterance (natural log)."""
        log_probs, lengths = model(batch["feats"], batch["lengths"])
        lp = log_probs.float().cpu().numpy()
        return [lp[k, : int(lengths[k])] for k in range(lp.shape[0])]

    def decoder(self, options: GraphDecodeOptions, model: nn.Module | None = None) -> GraphDecoder:
        if not isinstance(options, GraphDecodeOptions) or not options.graph:
            raise SpeechseqError(
                "a hybrid model decodes over a graph — give --graph EXP/graph (speechseq mkgraph LANG EXP --out EXP/graph)"
            )
        return GraphDecoder(options, self.log_priors, self.lang_digest)


def log_priors(counts: np.ndarray, floor: float) -> np.ndarray:
    """log p(s) from alignment counts, each prior at least ``floor`` (then renormalised)."""
    p = np.asarray(counts, dtype=np.float64)
    p = np.maximum(p / max(p.sum(), 1.0), floor)
    return np.log(p / p.sum())


def write_priors(path: Path, counts: np.ndarray) -> None:
    with atomic_write(path) as f:
        f.writelines(f"{int(c)}\n" for c in counts)


def read_priors(path: Path, num_pdfs: int) -> np.ndarray:
    try:
        counts = np.array([float(x) for x in path.read_text().split()])
    except FileNotFoundError:
        raise SpeechseqError(
            f"{path}: not found — the model directory is incomplete; retrain it"
        ) from None
    except ValueError:
        raise SpeechseqError(f"{path}: not a list of counts — restore it from training") from None
    if len(counts) != num_pdfs:
        raise SpeechseqError(
            f"{path}: {len(counts)} priors for a model of {num_pdfs} pdfs — restore it from training"
        )
    return counts


def write_lang_info(exp: Path, lang_path: Path, digest: str) -> None:
    with atomic_write(exp / LANG_NAME) as f:
        json.dump({"lang": str(Path(lang_path).resolve()), "lang_digest": digest}, f)
