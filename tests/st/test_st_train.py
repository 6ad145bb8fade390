"""A tiny speech translation model learns a few utterances by heart: greedy and beam output score BLEU 100."""

from __future__ import annotations

import pytest

from speechseq.core.encoder import EncoderConfig
from speechseq.core.loading import load_experiment
from speechseq.core.trainer import TrainConfig
from speechseq.data.ops import subset_data_dir
from speechseq.decode.run import decode_data
from speechseq.decode.seq2seq import Seq2SeqDecodeOptions
from speechseq.st.model import DecoderConfig
from speechseq.st.task import STConfig, STOptions
from speechseq.st.training import train_st

OVERFIT = STConfig(
    encoder=EncoderConfig(subsample="stack2", hidden=48, layers=2, pyramidal=True, dropout=0.0),
    decoder=DecoderConfig(embed=16, hidden=48, attention_dim=16, dropout=0.0),
    train=TrainConfig(
        max_epochs=32,  # dev BLEU 100 from epoch 25 on (constant lr)
        max_frames=4000,
        lr=0.02,
        min_lr_ratio=1.0,
        warmup_steps=5,
        device="cpu",
        checkpoint_every=0,
    ),
    st=STOptions(units="char", label_smoothing=0.0, spec_augment=False),
)


def test_a_tiny_model_overfits_four_utterances_to_bleu_100(translate_corpus, tmp_path):
    four = tmp_path / "four"
    subset_data_dir(translate_corpus / "train", four, num_utts=4)
    state = train_st(four, four, tmp_path / "exp", OVERFIT, quiet=True)
    assert state.best_metric == pytest.approx(100.0)
    (greedy,) = decode_data(tmp_path / "exp", four, Seq2SeqDecodeOptions(beam=1), quiet=True)
    (beam,) = decode_data(tmp_path / "exp", four, Seq2SeqDecodeOptions(beam=4), quiet=True)
    assert greedy["bleu"] == pytest.approx(100.0) and beam["bleu"] == pytest.approx(100.0)
    assert not greedy["stopped_by_length_guard"]  # every output ended with <eos>
    ex = load_experiment(tmp_path / "exp", "cpu", quiet=True)
    assert ex.task.name == "st" and ex.task.vocab.kind == "char"
