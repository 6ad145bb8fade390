"""Attention decoder and its searches: masking, beam 1 = greedy, the length guard, an exhaustive oracle."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from speechseq.decode.seq2seq import Seq2SeqDecodeOptions, beam_search, greedy_batch, output_limit
from speechseq.st.model import AttentionDecoder, DecoderConfig, DecoderState

SOS, EOS = 2, 3


def _decoder(attention="location", vocab=9, mem=6, seed=0) -> AttentionDecoder:
    torch.manual_seed(seed)
    cfg = DecoderConfig(
        embed=8, hidden=12, attention=attention, attention_dim=8, loc_kernel=3, dropout=0.0
    )
    return AttentionDecoder(vocab, mem, cfg).eval()


@pytest.mark.parametrize("attention", ["location", "additive"])
def test_attention_weights_sum_to_one_and_ignore_padding(attention):
    dec = _decoder(attention)
    memory = torch.randn(3, 7, 6)
    lengths = torch.tensor([7, 4, 1])
    tokens = torch.randint(4, 9, (3, 5))
    with torch.no_grad():
        logits, weights = dec(memory, lengths, tokens)
    assert logits.shape == (3, 5, 9) and weights.shape == (3, 5, 7)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 5))
    assert float(weights[1, :, 4:].abs().max()) == 0.0  # beyond utterance 1's 4 frames
    assert float(weights[2, :, 1:].abs().max()) == 0.0
    torch.testing.assert_close(weights[2, :, 0], torch.ones(5))
    # padding holds garbage: changing it changes nothing
    memory2 = memory.clone()
    memory2[1, 4:] = 100.0
    with torch.no_grad():
        logits2, _ = dec(memory2, lengths, tokens)
    torch.testing.assert_close(logits2[1], logits[1])


def test_beam_one_equals_greedy():
    dec = _decoder()
    torch.manual_seed(1)
    for n in range(5):
        memory = torch.randn(1, 5 + n, 6)
        lengths = torch.tensor([5 + n])
        greedy = greedy_batch(dec, memory, lengths, SOS, EOS, [12])[0]
        hyp = beam_search(dec, memory, 5 + n, SOS, EOS, Seq2SeqDecodeOptions(beam=1), 12)[0]
        assert hyp.ids == greedy


def test_greedy_batch_equals_one_by_one():
    dec = _decoder()
    memory = torch.randn(3, 6, 6)
    lengths = torch.tensor([6, 3, 5])
    batch = greedy_batch(dec, memory, lengths, SOS, EOS, [10, 10, 10])
    for k in range(3):
        one = greedy_batch(
            dec, memory[k : k + 1, : int(lengths[k])], lengths[k : k + 1], SOS, EOS, [10]
        )[0]
        assert batch[k] == one


def test_a_model_that_never_ends_stops_at_the_length_guard():
    dec = _decoder()
    with torch.no_grad():
        dec.output.bias[EOS] = -1e4  # <eos> is never chosen
    memory = torch.randn(1, 4, 6)
    limit = output_limit(4, Seq2SeqDecodeOptions(), model_ratio=2.0)
    assert limit == math.ceil(2.0 * 4) + 5
    hyps = beam_search(dec, memory, 4, SOS, EOS, Seq2SeqDecodeOptions(beam=3, nbest=3), limit)
    assert hyps and all(not h.finished and len(h.ids) == limit for h in hyps)
    assert (
        greedy_batch(dec, memory, torch.tensor([4]), SOS, EOS, [limit])
        and len(greedy_batch(dec, memory, torch.tensor([4]), SOS, EOS, [limit])[0]) == limit
    )
    # the hard cap wins over the ratio
    assert output_limit(1000, Seq2SeqDecodeOptions(max_len=7), model_ratio=2.0) == 7


class ScriptedDecoder:
    """A fake decoder whose next-token log probabilities depend on the previous token and the step."""

    def __init__(self, vocab=4, seed=0):
        rng = np.random.default_rng(seed)
        self.table = torch.log_softmax(torch.tensor(rng.normal(size=(8, vocab, vocab)) * 2), dim=-1)
        self.attention = self

    def keys(self, memory):
        return memory

    def init_state(self, memory, lengths):
        return _StepState(torch.zeros(memory.shape[0], dtype=torch.long))

    def step(self, tokens, state, memory, keys, mask):
        t = state.t
        return (
            self.table[t, tokens.clamp(max=self.table.shape[1] - 1)],
            _StepState(t + 1),
            torch.ones(len(tokens), 1),
        )


class _StepState:
    def __init__(self, t):
        self.t = t

    def select(self, idx):
        return _StepState(self.t[idx])


def _brute_force(table, eos, max_len, norm):
    """Best normalised score over every token sequence ending in eos (or cut at max_len)."""
    vocab = table.shape[1]
    best = (-math.inf, None)
    for n in range(1, max_len + 1):
        for seq in itertools.product([v for v in range(vocab) if v != eos], repeat=n - 1):
            prev, lp = SOS % vocab, 0.0
            for t, tok in enumerate((*seq, eos)):
                lp += float(table[t, prev, tok])
                prev = tok
            score = lp / n**norm
            if score > best[0]:
                best = (score, list(seq))
    return best


@pytest.mark.parametrize("norm", [0.0, 1.0])
def test_beam_search_is_exact_when_the_beam_holds_every_hypothesis(norm):
    eos, max_len = 1, 4
    dec = ScriptedDecoder(vocab=3, seed=2)
    score, seq = _brute_force(dec.table, eos, max_len, norm)
    opts = Seq2SeqDecodeOptions(beam=27, length_norm=norm)
    hyps = beam_search(dec, torch.zeros(1, 1, 1), 1, SOS % 3, eos, opts, max_len + 1)
    finished = [h for h in hyps if h.finished]
    assert finished[0].ids == seq
    assert finished[0].score == pytest.approx(score, abs=1e-5)  # float32 sums


def test_scheduled_sampling_feeds_back_the_models_own_tokens():
    dec = _decoder()
    memory, lengths = torch.randn(2, 5, 6), torch.tensor([5, 3])
    tokens = torch.full((2, 6), 5)
    tokens[:, 0] = SOS
    with torch.no_grad():
        sampled, _ = dec(memory, lengths, tokens, sampling_prob=1.0)
        forced, _ = dec(memory, lengths, tokens, sampling_prob=0.0)
        # stepping by hand with argmax feedback gives the sampled logits
        keys, mask = dec.attention.keys(memory), torch.arange(5)[None] < lengths[:, None]
        state: DecoderState = dec.init_state(memory, lengths)
        prev, by_hand = tokens[:, 0], []
        for _ in range(6):
            lg, state, _ = dec.step(prev, state, memory, keys, mask)
            by_hand.append(lg)
            prev = lg.argmax(-1)
    torch.testing.assert_close(sampled, torch.stack(by_hand, 1))
    assert not torch.allclose(sampled, forced)
