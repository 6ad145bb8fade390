"""Decoding an attention encoder-decoder: greedy (batched) and beam search with length normalisation.

The decoder network is duck-typed (the translation models of :mod:`speechseq.st.model`
provide it): ``init_state(memory, mem_lengths)``, ``step(tokens, state, memory, keys, mask)
-> (logits, state, weights)``, ``attention.keys(memory)``, and states with ``select(idx)``.

Beam search (one utterance, ``beam`` hypotheses as one batch): every step extends each live
hypothesis by every token and takes the ``2 x beam`` best sums of log probabilities; an
``<eos>`` among the ``beam`` best moves that hypothesis to the finished list, scored
``sum / len ** length_norm`` (``len`` counts ``<eos>``; ``length_norm`` 0 = raw sum, which
favours short outputs), and the ``beam`` best others live on (as fairseq does, so the beam
never shrinks). The search stops when ``beam`` hypotheses have finished and the best live
one, normalised by its length so far, scores below all of them; or at the length guard: ``max_len``
tokens, from ``max_len_ratio`` tokens per encoder frame (so a model that never emits
``<eos>`` still stops; such hypotheses are returned, marked ``finished=False``).
With ``beam`` 1 the search is greedy search exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from speechseq.errors import SpeechseqError
from speechseq.ranges import integer, number, setting


@dataclass(frozen=True)
class Seq2SeqDecodeOptions:
    beam: int = setting(5, integer(ge=1))  # hypotheses kept; 1 = greedy
    length_norm: float = setting(1.0, number(ge=0))  # score / len ** this
    max_len_ratio: float = setting(
        0.0, number(ge=0)
    )  # tokens per encoder frame (0: the model's own, from training)
    max_len: int = setting(400, integer(ge=1))  # hard cap on output tokens
    nbest: int = setting(1, integer(ge=1))  # hypotheses returned (<= beam)

    def tag(self) -> str:
        """A decode dir name: ``greedy`` or ``beam5``."""
        return "greedy" if self.beam <= 1 else f"beam{self.beam}"


@dataclass(frozen=True)
class Hyp:
    ids: list[int]  # output tokens, <eos> excluded
    score: float  # the length-normalised score the hypotheses were ranked by
    logp: float  # the sum of token log probabilities (<eos> included when finished)
    finished: bool  # False: stopped by the length guard, no <eos>
    attention: np.ndarray  # [len(ids) (+1 for <eos>), S] weights per output step


def output_limit(num_frames: int, options: Seq2SeqDecodeOptions, model_ratio: float) -> int:
    """The length guard for an utterance of ``num_frames`` encoder frames."""
    ratio = options.max_len_ratio or model_ratio
    return max(1, min(options.max_len, math.ceil(ratio * num_frames) + 5))


@torch.no_grad()
def greedy_batch(
    decoder, memory, mem_lengths, sos: int, eos: int, max_lens: list[int]
) -> list[list[int]]:
    """Greedy decoding of a batch: the argmax token each step until ``<eos>`` or the guard."""
    n, s, _ = memory.shape
    mask = torch.arange(s, device=memory.device)[None, :] < mem_lengths[:, None]
    keys = decoder.attention.keys(memory)
    state = decoder.init_state(memory, mem_lengths)
    prev = torch.full((n,), sos, dtype=torch.long, device=memory.device)
    out: list[list[int]] = [[] for _ in range(n)]
    done = [False] * n
    for t in range(max(max_lens)):
        logits, state, _ = decoder.step(prev, state, memory, keys, mask)
        prev = logits.argmax(dim=-1)
        for k, tok in enumerate(prev.tolist()):
            if done[k]:
                continue
            if tok == eos or t >= max_lens[k]:
                done[k] = True
            else:
                out[k].append(tok)
        if all(done):
            break
    return out


@torch.no_grad()
def beam_search(
    decoder,
    memory,
    mem_length: int,
    sos: int,
    eos: int,
    options: Seq2SeqDecodeOptions,
    max_len: int,
) -> list[Hyp]:
    """The ``options.nbest`` best hypotheses for one utterance's ``memory [1, S, D]``."""
    if memory.shape[0] != 1:
        raise SpeechseqError("beam_search decodes one utterance at a time (memory [1, S, D])")
    beam = options.beam
    dev = memory.device
    lengths = torch.tensor([mem_length], device=dev)
    mem = memory[:, :mem_length]
    keys = decoder.attention.keys(mem)
    mask = torch.ones(1, mem_length, dtype=torch.bool, device=dev)
    state = decoder.init_state(mem, lengths)
    tokens: list[list[int]] = [[]]
    atts: list[list[np.ndarray]] = [[]]
    scores = torch.zeros(1, device=dev)
    finished: list[Hyp] = []
    prev = torch.tensor([sos], device=dev)
    for _ in range(max_len):
        k = len(tokens)
        logits, state, weights = decoder.step(
            prev, state, mem.expand(k, -1, -1), keys.expand(k, -1, -1), mask.expand(k, -1)
        )
        logp = torch.log_softmax(logits.float(), dim=-1)
        total = (scores[:, None] + logp).flatten()
        # 2 x beam candidates, so that beam live ones remain when some of them end
        top = torch.topk(total, min(2 * beam, total.numel()))
        vocab = logp.shape[1]
        w = weights.float().cpu().numpy()
        keep_rows, keep_tokens, keep_scores = [], [], []
        for rank, (score, flat) in enumerate(
            zip(top.values.tolist(), top.indices.tolist(), strict=True)
        ):
            row, tok = divmod(flat, vocab)
            if tok == eos:
                if rank < beam:  # an end among the beam best (so beam 1 is greedy search)
                    n = len(tokens[row]) + 1
                    finished.append(
                        Hyp(
                            list(tokens[row]),
                            score / n**options.length_norm,
                            score,
                            True,
                            np.stack([*atts[row], w[row]]),
                        )
                    )
            elif len(keep_rows) < beam:
                keep_rows.append(row)
                keep_tokens.append(tok)
                keep_scores.append(score)
        if not keep_rows or _done(finished, beam, max(keep_scores), len(tokens[0]) + 1, options):
            break
        idx = torch.tensor(keep_rows, device=dev)
        state = state.select(idx)
        tokens = [tokens[r] + [tok] for r, tok in zip(keep_rows, keep_tokens, strict=True)]
        atts = [atts[r] + [w[r]] for r in keep_rows]
        scores = torch.tensor(keep_scores, device=dev)
        prev = torch.tensor(keep_tokens, device=dev)
    else:  # the length guard: the live hypotheses end here, unfinished
        for toks, att, sc in zip(tokens, atts, scores.tolist(), strict=True):
            finished.append(
                Hyp(
                    list(toks),
                    sc / max(len(toks), 1) ** options.length_norm,
                    sc,
                    False,
                    np.stack(att),
                )
            )
    finished.sort(key=lambda h: -h.score)
    return finished[: options.nbest]


def _done(finished: list[Hyp], beam: int, best_live: float, live_len: int, o) -> bool:
    """``beam`` hypotheses have ended and the best live one, normalised by its length now,
    scores below the beam-th best ended one (the stopping rule of Hugging Face's beam search:
    a live hypothesis rarely overtakes it, as every further token lowers its sum)."""
    if len(finished) < beam:
        return False
    kth = sorted((h.score for h in finished), reverse=True)[beam - 1]
    return kth >= best_live / live_len**o.length_norm


@dataclass(frozen=True)
class Translation:
    ids: list[int]  # tokens of the best hypothesis
    text: str
    score: float
    finished: bool  # False when the length guard stopped it
    nbest: list[tuple[str, float]]  # (text, score) best first
    attention: np.ndarray  # [output steps, encoder frames] of the best hypothesis
    tokens: list[
        str
    ]  # the output step of each attention row: token symbols, then <eos> if finished


class Seq2SeqDecoder:
    """Greedy or beam search of an attention decoder over one utterance's encoder output.

    ``vocab``: the target vocabulary (``sos``, ``eos``, ``decode``); ``decoder``: the model's
    decoder network; ``model_ratio``: tokens per encoder frame allowed by default (from
    training). ``decode(memory [S, D])`` (a numpy array, as ``Task.outputs`` gives it).
    """

    scoring = "bleu"  # decode/run.py scores the output against text.<lang> with BLEU and chrF

    def __init__(
        self, vocab, decoder, options: Seq2SeqDecodeOptions, model_ratio: float, reference: str
    ):
        self.vocab, self.net, self.options = vocab, decoder, options
        self.model_ratio = model_ratio
        self.reference = reference  # the data-dir file holding reference translations (text.fr)

    def decode(self, memory: np.ndarray) -> Translation:
        param = next(self.net.parameters())
        mem = torch.as_tensor(memory, dtype=param.dtype, device=param.device)[None]
        limit = output_limit(mem.shape[1], self.options, self.model_ratio)
        hyps = beam_search(
            self.net, mem, mem.shape[1], self.vocab.sos, self.vocab.eos, self.options, limit
        )
        best = hyps[0]
        symbols = self.vocab.symbols
        tokens = [symbols[i] for i in best.ids] + (["<eos>"] if best.finished else [])
        return Translation(
            best.ids,
            self.vocab.decode(best.ids),
            best.score,
            best.finished,
            [(self.vocab.decode(h.ids), h.score) for h in hyps],
            best.attention,
            tokens,
        )
