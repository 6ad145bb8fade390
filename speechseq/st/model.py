"""Attention encoder-decoder networks for speech translation (speech in) and text translation (words in).

One decoder serves both: an LSTM that reads the previous token and the previous context
vector (input feeding, Luong et al. 2015), attends over the encoder's output with additive
(Bahdanau et al. 2015) or location-aware attention (Chorowski et al. 2015: the previous step's
weights, convolved, join the energy), and predicts the next token from the state and the new
context. ``<sos>`` starts a sentence and predicting ``<eos>`` ends it.

Shapes: encoder output ``memory: [N, S, D]`` with ``mem_lengths: [N]``; decoder input tokens
``[N, L]`` -> logits ``[N, L, V]`` and attention weights ``[N, L, S]`` (each row sums to one
over the first ``mem_lengths[n]`` frames and is zero beyond).

- :class:`SpeechTranslator`: the shared encoder (:class:`speechseq.core.encoder.Encoder`,
  pyramidal for ~x8 fewer frames) + the decoder, and an optional CTC head on the encoder
  for an auxiliary loss on the source-language transcript (Weiss et al. 2017).
- :class:`TextTranslator`: word embeddings fed to the same shared encoder (no subsampling) +
  the same decoder: the MT half of the cascade baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from speechseq.core.encoder import Encoder, EncoderConfig
from speechseq.ranges import check_fields, integer, number, one_of, setting


@dataclass(frozen=True)
class DecoderConfig:
    embed: int = setting(128, integer(ge=1))  # target token embedding size
    hidden: int = setting(256, integer(ge=1))  # LSTM units per layer
    layers: int = setting(1, integer(ge=1))  # stacked LSTM cells
    attention: str = setting("location", one_of("location", "additive"))
    attention_dim: int = setting(128, integer(ge=1))  # size of the attention energy layer
    loc_channels: int = setting(10, integer(ge=1))  # location-aware: filters over previous weights
    loc_kernel: int = setting(
        15, integer(ge=1)
    )  # location-aware: filter width (encoder frames, odd)
    dropout: float = setting(0.2, number(ge=0, lt=1))  # on embeddings and before the output layer

    def __post_init__(self):
        check_fields(self, "decoder")


class DecoderState(NamedTuple):
    h: list[torch.Tensor]  # per layer [N, H]
    c: list[torch.Tensor]  # per layer [N, H]
    context: torch.Tensor  # [N, D]: the last context vector (fed back with the next token)
    weights: torch.Tensor  # [N, S]: the last attention weights (for location-aware attention)

    def select(self, idx: torch.Tensor) -> DecoderState:
        """The states of rows ``idx`` (beam search reorders hypotheses with this)."""
        return DecoderState(
            [x[idx] for x in self.h], [x[idx] for x in self.c], self.context[idx], self.weights[idx]
        )


def length_mask(lengths: torch.Tensor, size: int) -> torch.Tensor:
    """``[N, size]`` bool: True at positions below each length."""
    return torch.arange(size, device=lengths.device)[None, :] < lengths[:, None]


class Attention(nn.Module):
    """Additive attention, optionally location-aware; padded frames get weight 0."""

    def __init__(self, mem_dim: int, query_dim: int, cfg: DecoderConfig):
        super().__init__()
        self.mem_proj = nn.Linear(mem_dim, cfg.attention_dim)
        self.query_proj = nn.Linear(query_dim, cfg.attention_dim, bias=False)
        self.v = nn.Linear(cfg.attention_dim, 1, bias=False)
        self.location = cfg.attention == "location"
        if self.location:
            k = cfg.loc_kernel | 1  # odd, so the filter is centred
            self.loc_conv = nn.Conv1d(1, cfg.loc_channels, k, padding=k // 2, bias=False)
            self.loc_proj = nn.Linear(cfg.loc_channels, cfg.attention_dim, bias=False)

    def keys(self, memory: torch.Tensor) -> torch.Tensor:
        """The memory's projection, computed once per utterance."""
        return self.mem_proj(memory)

    def forward(self, query, keys, memory, mask, prev_weights):
        """``query [N, Q]``, ``keys [N, S, A]``, ``memory [N, S, D]``, ``mask [N, S]``,
        ``prev_weights [N, S]`` -> ``(context [N, D], weights [N, S])``."""
        e = keys + self.query_proj(query)[:, None, :]
        if self.location:
            f = self.loc_conv(prev_weights[:, None, :]).transpose(1, 2)  # [N, S, channels]
            e = e + self.loc_proj(f)
        energy = self.v(torch.tanh(e)).squeeze(-1).masked_fill(~mask, float("-inf"))
        weights = torch.softmax(energy, dim=-1)
        return torch.bmm(weights[:, None, :], memory).squeeze(1), weights


class AttentionDecoder(nn.Module):
    """LSTM decoder with input feeding and attention over an encoder's output."""

    def __init__(self, vocab_size: int, mem_dim: int, cfg: DecoderConfig):
        super().__init__()
        self.cfg, self.mem_dim = cfg, mem_dim
        self.embed = nn.Embedding(vocab_size, cfg.embed)
        self.cells = nn.ModuleList(
            nn.LSTMCell(cfg.embed + mem_dim if i == 0 else cfg.hidden, cfg.hidden)
            for i in range(cfg.layers)
        )
        self.attention = Attention(mem_dim, cfg.hidden, cfg)
        self.pre_output = nn.Linear(cfg.hidden + mem_dim, cfg.hidden)
        self.output = nn.Linear(cfg.hidden, vocab_size)
        self.dropout = nn.Dropout(cfg.dropout)

    def init_state(self, memory: torch.Tensor, mem_lengths: torch.Tensor) -> DecoderState:
        n, s, _ = memory.shape
        zeros = memory.new_zeros(n, self.cfg.hidden)
        first = length_mask(mem_lengths, s).float()
        first = first / first.sum(dim=1, keepdim=True)  # uniform start for location features
        return DecoderState(
            [zeros] * self.cfg.layers,
            [zeros] * self.cfg.layers,
            memory.new_zeros(n, self.mem_dim),
            first,
        )

    def step(self, tokens, state: DecoderState, memory, keys, mask):
        """One step: ``tokens [N]`` (the previous outputs) -> ``(logits [N, V], state, weights [N, S])``."""
        x = torch.cat([self.dropout(self.embed(tokens)), state.context], dim=-1)
        hs, cs = [], []
        for i, cell in enumerate(self.cells):
            h, c = cell(x, (state.h[i], state.c[i]))
            hs.append(h)
            cs.append(c)
            x = h
        context, weights = self.attention(x, keys, memory, mask, state.weights)
        out = torch.tanh(self.pre_output(torch.cat([x, context], dim=-1)))
        logits = self.output(self.dropout(out))
        return logits, DecoderState(hs, cs, context, weights), weights

    def forward(self, memory, mem_lengths, tokens, sampling_prob: float = 0.0):
        """Teacher forcing over ``tokens [N, L]`` (``<sos>`` first): logits ``[N, L, V]`` for the
        next token at each position and the attention weights ``[N, L, S]``. With
        ``sampling_prob`` > 0 each step's input is, with that probability per sentence, the
        model's own previous prediction instead of the reference (scheduled sampling, Bengio
        et al. 2015)."""
        mask = length_mask(mem_lengths, memory.shape[1])
        keys = self.attention.keys(memory)
        state = self.init_state(memory, mem_lengths)
        logits, weights = [], []
        prev = tokens[:, 0]
        for t in range(tokens.shape[1]):
            if t > 0:
                prev = tokens[:, t]
                if sampling_prob > 0:
                    own = logits[-1].detach().argmax(dim=-1)
                    use_own = torch.rand(prev.shape, device=prev.device) < sampling_prob
                    prev = torch.where(use_own, own, prev)
            lg, state, w = self.step(prev, state, memory, keys, mask)
            logits.append(lg)
            weights.append(w)
        return torch.stack(logits, dim=1), torch.stack(weights, dim=1)


class SpeechTranslator(nn.Module):
    """Speech features -> the shared encoder -> attention decoder (+ an optional CTC head)."""

    def __init__(
        self,
        input_dim: int,
        vocab_size: int,
        enc: EncoderConfig,
        dec: DecoderConfig,
        ctc_units: int = 0,
    ):
        super().__init__()
        self.encoder = Encoder(input_dim, enc)
        self.decoder = AttentionDecoder(vocab_size, self.encoder.output_dim, dec)
        self.ctc = nn.Linear(self.encoder.output_dim, ctc_units) if ctc_units else None

    def encode(self, feats, lengths):
        return self.encoder(feats, lengths)

    def forward(self, feats, lengths, tokens, sampling_prob: float = 0.0):
        """-> ``(logits [N, L, V], attention [N, L, S], memory, mem_lengths)``."""
        memory, mem_lengths = self.encode(feats, lengths)
        logits, weights = self.decoder(memory, mem_lengths, tokens, sampling_prob)
        return logits, weights, memory, mem_lengths


class TextTranslator(nn.Module):
    """Source word ids ``[N, S]`` -> embeddings -> the shared encoder -> the same attention decoder."""

    def __init__(
        self, source_size: int, vocab_size: int, embed: int, enc: EncoderConfig, dec: DecoderConfig
    ):
        super().__init__()
        self.embed = nn.Embedding(source_size, embed, padding_idx=0)
        self.encoder = Encoder(embed, enc)
        self.decoder = AttentionDecoder(vocab_size, self.encoder.output_dim, dec)
        self.ctc = None

    def encode(self, feats, lengths):
        """``feats``: source ids ``[N, S]`` (as collated: float or int) -> ``(memory, lengths)``."""
        return self.encoder(self.embed(feats.long()), lengths)

    def forward(self, feats, lengths, tokens, sampling_prob: float = 0.0):
        memory, mem_lengths = self.encode(feats, lengths)
        logits, weights = self.decoder(memory, mem_lengths, tokens, sampling_prob)
        return logits, weights, memory, mem_lengths
