"""Attention decoder and its searches: masking, beam 1 = greedy, the length guard, an exhaustive oracle."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from speechseq.decode.seq2seq import (
    Hyp,
    Seq2SeqDecodeOptions,
    Seq2SeqDecoder,
    _done,
    beam_search,
    greedy_batch,
    output_limit,
)
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


def _ended(*scores):
    return [Hyp([], s, s, True, np.zeros((1, 1))) for s in scores]


def test_beam_search_stops_when_the_beam_th_ended_score_beats_the_best_live_one():
    # fewer ended hypotheses than the beam: never done
    assert not _done(_ended(-1.0), 2, -100.0, 3, Seq2SeqDecodeOptions(length_norm=1.0))
    # the beam-th best of the ended ones (-2, not -1 or -3) against the live best / its length
    ended = _ended(-1.0, -3.0, -2.0)
    norm1 = Seq2SeqDecodeOptions(length_norm=1.0)
    assert _done(ended, 2, -4.0, 2, norm1)  # -2 >= -4 / 2: equal counts as done
    assert not _done(ended, 2, -3.9, 2, norm1)  # -2 < -1.95
    assert _done(ended, 3, -6.0, 2, norm1)  # beam 3: -3 >= -3
    assert not _done(ended, 3, -5.9, 2, norm1)
    # no length normalisation: the live sum itself
    assert _done(ended, 2, -2.0, 5, Seq2SeqDecodeOptions(length_norm=0.0))
    assert not _done(ended, 2, -1.9, 5, Seq2SeqDecodeOptions(length_norm=0.0))
    # length_norm 0.5: -2 >= -4.5 / 9 ** 0.5 = -1.5 is false, -6 / 3 = -2 is true
    assert not _done(ended, 2, -4.5, 9, Seq2SeqDecodeOptions(length_norm=0.5))
    assert _done(ended, 2, -6.0, 9, Seq2SeqDecodeOptions(length_norm=0.5))


def test_the_length_guard_is_at_least_one_token_and_the_ratio_option_wins():
    assert output_limit(0, Seq2SeqDecodeOptions(), model_ratio=0.0) == 5
    assert output_limit(10, Seq2SeqDecodeOptions(max_len=1), model_ratio=3.0) == 1
    assert output_limit(10, Seq2SeqDecodeOptions(max_len_ratio=0.5), model_ratio=3.0) == 10
    assert output_limit(10, Seq2SeqDecodeOptions(), model_ratio=3.0) == 35
    assert output_limit(3, Seq2SeqDecodeOptions(), model_ratio=0.35) == 7  # ceil(1.05) + 5
    assert Seq2SeqDecodeOptions(beam=1).tag() == "greedy"
    assert Seq2SeqDecodeOptions(beam=0).tag() == "greedy"
    assert Seq2SeqDecodeOptions(beam=2).tag() == "beam2"


class _Vocab:
    sos, eos = 0, 1
    symbols = ["<sos>", "<eos>", "ab", "cd"]

    def decode(self, ids):
        return "".join(self.symbols[i] for i in ids)


class _ScriptedNet(ScriptedDecoder):
    def parameters(self):
        return iter([torch.zeros(1, dtype=torch.float64)])


def test_the_decoder_returns_the_best_hypothesis_text_tokens_nbest_and_attention():
    net = _ScriptedNet(vocab=4, seed=2)
    opts = Seq2SeqDecodeOptions(beam=4, nbest=3, length_norm=1.0)
    dec = Seq2SeqDecoder(_Vocab(), net, opts, model_ratio=1.0, reference="text.fr")
    out = dec.decode(np.zeros((2, 1), dtype=np.float32))
    hyps = beam_search(net, torch.zeros(1, 2, 1, dtype=torch.float64), 2, 0, 1, opts, 7)
    assert len(out.nbest) == 3 == len(hyps)
    assert out.nbest == [(_Vocab().decode(h.ids), h.score) for h in hyps]
    assert [s for _, s in out.nbest] == sorted((s for _, s in out.nbest), reverse=True)
    best = hyps[0]
    assert out.ids == best.ids and out.text == _Vocab().decode(best.ids)
    assert out.score == best.score and out.finished == best.finished
    assert out.tokens == [_Vocab.symbols[i] for i in best.ids] + (
        ["<eos>"] if best.finished else []
    )
    assert out.attention.shape == (len(out.tokens), 1)
    assert dec.reference == "text.fr" and dec.scoring == "bleu"


def test_an_unfinished_best_hypothesis_has_no_eos_token():
    net = _ScriptedNet(vocab=4, seed=0)
    net.table[:, :, 1] = -1e4  # <eos> never wins
    opts = Seq2SeqDecodeOptions(beam=2, max_len=3)
    out = Seq2SeqDecoder(_Vocab(), net, opts, model_ratio=1.0, reference="text.fr").decode(
        np.zeros((4, 1), dtype=np.float32)
    )
    assert not out.finished and len(out.ids) == 3 and out.tokens[-1] != "<eos>"
    assert len(out.tokens) == 3


def test_the_length_guard_counts_the_utterances_encoder_frames():
    net = _ScriptedNet(vocab=4, seed=0)
    net.table[:, :, 1] = -1e4  # <eos> never wins
    dec = Seq2SeqDecoder(
        _Vocab(), net, Seq2SeqDecodeOptions(beam=2), model_ratio=1.0, reference="x"
    )
    out = dec.decode(np.zeros((2, 3), dtype=np.float32))  # 2 frames of 3 dims: 2 + 5 tokens
    assert not out.finished and len(out.ids) == 7


def test_the_decoder_attends_over_every_frame_of_the_utterance():
    seen = []

    class _Recording(_ScriptedNet):
        def init_state(self, memory, lengths):
            seen.append((tuple(memory.shape), lengths.tolist()))
            return super().init_state(memory, lengths)

    dec = Seq2SeqDecoder(
        _Vocab(), _Recording(vocab=4, seed=0), Seq2SeqDecodeOptions(beam=2), 1.0, reference="x"
    )
    dec.decode(np.zeros((9, 3), dtype=np.float32))  # 9 frames of 3 dims: more frames than dims
    assert seen == [((1, 9, 3), [9])]
