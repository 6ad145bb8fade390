"""Encoder options: subsampling front ends, pyramidal layers, initialisations, final_state."""

import pytest
import torch

from speechseq.core.encoder import Encoder, EncoderConfig, FrameStack
from speechseq.errors import SpeechseqError

DIM = 13


def _enc(**kw) -> Encoder:
    cfg = {"hidden": 8, "layers": 1, "dropout": 0.0, "subsample": "none", **kw}
    torch.manual_seed(0)
    return Encoder(DIM, EncoderConfig(**cfg)).eval()


def _conv_out(t: int) -> int:
    """Frames left after two unpadded 3-wide stride-2 convolutions (floor((t - 3) / 2) + 1, twice)."""
    for _ in range(2):
        t = (t - 3) // 2 + 1
    return t


def test_conv2d4_output_length_matches_subsampled_lengths():
    enc = _enc(subsample="conv2d4", conv_channels=4)
    lengths = torch.tensor([7, 8, 9, 10, 23, 40, 41, 42])
    x = torch.randn(len(lengths), int(lengths.max()), DIM)
    h, out = enc(x, lengths)
    want = torch.tensor([_conv_out(int(t)) for t in lengths])
    assert out.tolist() == want.tolist() == enc.subsampled_lengths(lengths).tolist()
    assert h.shape[1] == int(want.max())
    for k, t in enumerate(lengths.tolist()):  # each alone: the conv itself gives that many frames
        h1, _ = enc(x[k : k + 1, :t], lengths[k : k + 1])
        assert h1.shape[1] == want[k]


@pytest.mark.parametrize("factor", [1, 2, 3, 4])
def test_stack_n_concatenates_n_frames_with_stride_n(factor):
    x = torch.arange(2 * 10 * 3, dtype=torch.float32).reshape(2, 10, 3)
    lengths = torch.tensor([10, 7])
    y, out = FrameStack(factor)(x, lengths)
    assert y.shape == (2, -(-10 // factor), 3 * factor)
    assert out.tolist() == [-(-10 // factor), -(-7 // factor)]
    for j in range(10 // factor):  # a full group: its frames side by side, in order
        torch.testing.assert_close(y[0, j], x[0, j * factor : (j + 1) * factor].reshape(-1))
    enc = _enc(subsample=f"stack{factor}")
    assert enc.subsampled_lengths(lengths).tolist() == out.tolist()
    assert enc(torch.randn(2, 10, DIM), lengths)[1].tolist() == out.tolist()


def test_pyramidal_layers_halve_time_between_layers():
    enc = _enc(layers=3, pyramidal=True)
    lengths = torch.tensor([20, 13, 9])
    h, out = enc(torch.randn(3, 20, DIM), lengths)
    assert h.shape[1] == 5  # 20 -> 10 -> 5
    assert out.tolist() == [5, 3, 2] == enc.subsampled_lengths(lengths).tolist()
    # the second layer reads frame pairs of the first: its input is twice as wide
    assert enc.layers[1].input_size == 2 * enc.layers[0].hidden_size * 2
    assert (h[1, 3:] == 0).all() and (h[2, 2:] == 0).all()  # padding stays padding
    assert _enc(layers=3).subsampled_lengths(lengths).tolist() == [20, 13, 9]


def test_irnn_is_a_relu_rnn_with_identity_recurrent_weights():
    enc = _enc(rnn="rnn", irnn=True, layers=2, hidden=6)
    for rnn in enc.layers:
        assert rnn.nonlinearity == "relu"
        for name, p in rnn.named_parameters():
            if name.startswith("weight_hh"):
                torch.testing.assert_close(p.data, torch.eye(6), rtol=0, atol=0)
            elif name.startswith("bias"):
                assert (p == 0).all()
    plain = _enc(rnn="rnn", hidden=6)
    assert plain.layers[0].nonlinearity == "tanh"
    assert not torch.equal(plain.layers[0].weight_hh_l0.data, torch.eye(6))
    with pytest.raises(SpeechseqError, match="irnn is for the vanilla RNN only"):
        _enc(rnn="lstm", irnn=True)


def test_lstm_forget_gate_bias_is_forget_bias_and_the_other_gates_zero():
    h = 5
    enc = _enc(rnn="lstm", hidden=h, layers=2, forget_bias=2.5)
    for rnn in enc.layers:
        for suffix in ("l0", "l0_reverse"):
            total = getattr(rnn, f"bias_ih_{suffix}") + getattr(rnn, f"bias_hh_{suffix}")
            # PyTorch's gate order: input, forget, cell, output
            assert (total[h : 2 * h] == 2.5).all()
            assert (total[:h] == 0).all() and (total[2 * h :] == 0).all()


@pytest.mark.parametrize("bidirectional, dim", [(True, 16), (False, 8)])
def test_output_dim_is_hidden_times_directions(bidirectional, dim):
    enc = _enc(hidden=8, layers=2, bidirectional=bidirectional, subsample="stack2")
    h, _ = enc(torch.randn(2, 11, DIM), torch.tensor([11, 6]))
    assert enc.output_dim == dim == h.shape[-1]


@pytest.mark.parametrize("rnn", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_final_state_of_a_padded_sequence_equals_it_run_alone(rnn, bidirectional):
    enc = _enc(rnn=rnn, bidirectional=bidirectional, layers=2, subsample="stack2")
    lengths = torch.tensor([30, 17, 9])
    x = torch.randn(3, 30, DIM)
    x[torch.arange(30) >= lengths[:, None]] = 0.0  # zero padding, as the collate pads
    h, out = enc(x, lengths)
    batched = enc.final_state(h, out)
    for k, t in enumerate(lengths.tolist()):
        h1, out1 = enc(x[k : k + 1, :t], lengths[k : k + 1])
        torch.testing.assert_close(batched[k], enc.final_state(h1, out1)[0])
        # ... which is the last frame forward and the first frame backward
        half = enc.cfg.hidden
        torch.testing.assert_close(batched[k, :half], h1[0, -1, :half])
        if bidirectional:
            torch.testing.assert_close(batched[k, half:], h1[0, 0, half:])
