"""The shared sequence encoder: subsampling, then recurrent layers.

One module serves the CTC model, the hybrid frame classifier, the autoencoder's encoder
and the translation encoder, built with different :class:`EncoderConfig` settings.

Shapes: input ``x: [N, T, C]`` (batch, 10 ms frames, feature dim) with ``lengths: [N]``;
output ``h: [N, T', D]`` with ``lengths': [N]`` where ``T'`` is ``T`` divided by the
subsampling (and by 2 per pyramidal layer) and ``D = hidden * (2 if bidirectional else 1)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from speechseq.errors import SpeechseqError
from speechseq.ranges import Check, check_fields, integer, number, one_of, setting


def _subsample_ok(value: str) -> bool:
    return value in ("none", "conv2d4") or (
        value.startswith("stack") and value[5:].isdigit() and int(value[5:]) >= 1
    )


@dataclass(frozen=True)
class EncoderConfig:
    # none | stackN (concatenate N frames, stride N) | conv2d4 (two stride-2 convs)
    subsample: str = setting("stack3", Check(_subsample_ok, "none, stackN (N >= 1) or conv2d4"))
    conv_channels: int = setting(32, integer(ge=1))  # channels of the conv2d4 front end
    rnn: str = setting("lstm", one_of("lstm", "gru", "rnn"))  # rnn: vanilla, tanh or ReLU (irnn)
    hidden: int = setting(256, integer(ge=1))  # units per direction per layer
    layers: int = setting(3, integer(ge=1))  # recurrent layers
    bidirectional: bool = True  # read the sequence both ways
    pyramidal: bool = (
        False  # halve time between recurrent layers (concatenate frame pairs), as in LAS
    )
    # dropout after the front end and between recurrent layers
    dropout: float = setting(0.1, number(ge=0, lt=1))
    irnn: bool = False  # vanilla RNN only: ReLU units with identity-initialised recurrent weights (Le et al. 2015)
    # LSTM only: initial forget-gate bias, positive so memory is kept early in training
    forget_bias: float = setting(1.0, number())

    def __post_init__(self):
        check_fields(self, "encoder")


def _check(cfg: EncoderConfig) -> None:
    if cfg.irnn and cfg.rnn != "rnn":
        raise SpeechseqError(
            "encoder.irnn is for the vanilla RNN only — set encoder.rnn: rnn or irnn: false"
        )


class FrameStack(nn.Module):
    """Concatenate ``factor`` consecutive frames: ``[N, T, C] -> [N, ceil(T/factor), C*factor]``."""

    def __init__(self, factor: int):
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor, lengths: torch.Tensor):
        n, t, c = x.shape
        pad = (-t) % self.factor
        if pad:
            x = nn.functional.pad(x, (0, 0, 0, pad))
        x = x.reshape(n, (t + pad) // self.factor, c * self.factor)
        return x, torch.div(lengths + self.factor - 1, self.factor, rounding_mode="floor")


class Conv2dSubsample(nn.Module):
    """Two 3x3 stride-2 convolutions with ReLU: time and frequency each shrink about 4x."""

    def __init__(self, input_dim: int, channels: int, out_dim: int):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, channels, 3, stride=2),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, stride=2),
            nn.ReLU(),
        )
        freq = ((input_dim - 3) // 2 + 1 - 3) // 2 + 1
        self.proj = nn.Linear(channels * freq, out_dim)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor):
        y = self.conv(x.unsqueeze(1))  # [N, ch, T', F']
        n, ch, t, f = y.shape
        y = self.proj(y.transpose(1, 2).reshape(n, t, ch * f))
        lengths = (
            torch.div(
                torch.div(lengths - 3, 2, rounding_mode="floor") + 1 - 3, 2, rounding_mode="floor"
            )
            + 1
        )
        return y, lengths.clamp(min=1)


class Encoder(nn.Module):
    """Subsampling front end and ``layers`` recurrent layers over packed sequences."""

    def __init__(self, input_dim: int, cfg: EncoderConfig):
        super().__init__()
        _check(cfg)
        self.cfg = cfg
        if cfg.subsample == "none":
            self.front, dim = None, input_dim
        elif cfg.subsample == "conv2d4":
            dim = cfg.hidden
            self.front = Conv2dSubsample(input_dim, cfg.conv_channels, dim)
        else:
            factor = int(cfg.subsample[5:])
            self.front, dim = FrameStack(factor), input_dim * factor
        rnn_cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cfg.rnn]
        extra = {"nonlinearity": "relu" if cfg.irnn else "tanh"} if cfg.rnn == "rnn" else {}
        dirs = 2 if cfg.bidirectional else 1
        self.layers = nn.ModuleList()
        for i in range(cfg.layers):
            self.layers.append(
                rnn_cls(dim, cfg.hidden, batch_first=True, bidirectional=cfg.bidirectional, **extra)
            )
            dim = cfg.hidden * dirs
            if cfg.pyramidal and i < cfg.layers - 1:
                dim *= 2
        self.dropout = nn.Dropout(cfg.dropout)
        self.output_dim = cfg.hidden * dirs
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for rnn in self.layers:
            for name, p in rnn.named_parameters():
                if self.cfg.rnn == "rnn" and self.cfg.irnn and name.startswith("weight_hh"):
                    nn.init.eye_(p)
                elif self.cfg.rnn == "rnn" and self.cfg.irnn and name.startswith("weight_ih"):
                    nn.init.normal_(p, std=0.001)
                elif self.cfg.rnn == "rnn" and self.cfg.irnn and name.startswith("bias"):
                    nn.init.zeros_(p)
                elif self.cfg.rnn == "lstm" and name.startswith("bias"):
                    h = self.cfg.hidden
                    nn.init.zeros_(p)
                    if name.startswith("bias_ih"):
                        p.data[h : 2 * h] = self.cfg.forget_bias  # gate order i, f, g, o

    def subsampled_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Output lengths for input lengths, without running the network."""
        if isinstance(self.front, FrameStack):
            lengths = torch.div(
                lengths + self.front.factor - 1, self.front.factor, rounding_mode="floor"
            )
        elif isinstance(self.front, Conv2dSubsample):
            lengths = (((lengths - 3) // 2 + 1 - 3) // 2 + 1).clamp(min=1)
        if self.cfg.pyramidal:
            for _ in range(self.cfg.layers - 1):
                lengths = torch.div(lengths, 2, rounding_mode="floor").clamp(min=1)
        return lengths

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x: [N, T, C]``, ``lengths: [N]`` -> ``h: [N, T', D]``, ``lengths: [N]``."""
        if self.front is not None:
            x, lengths = self.front(x, lengths)
        x = self.dropout(x)
        for i, rnn in enumerate(self.layers):
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            y, _ = rnn(packed)
            x, _ = pad_packed_sequence(y, batch_first=True)
            if self.cfg.pyramidal and i < len(self.layers) - 1:
                n, t, d = x.shape
                t2 = t // 2
                x = x[:, : 2 * t2].reshape(n, t2, 2 * d)
                lengths = torch.div(lengths, 2, rounding_mode="floor").clamp(min=1)
            if i < len(self.layers) - 1:
                x = self.dropout(x)
        return x, lengths.to(x.device)

    def final_state(self, h: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """One vector per sequence ``[N, D]``: the last valid frame of the forward direction and
        the first frame of the backward direction (the states that have read the whole segment)."""
        idx = (lengths - 1).clamp(min=0).to(h.device)
        last = h[torch.arange(h.shape[0], device=h.device), idx]
        if not self.cfg.bidirectional:
            return last
        half = self.cfg.hidden
        return torch.cat([last[:, :half], h[:, 0, half:]], dim=-1)
