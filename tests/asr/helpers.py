"""Helpers shared by the asr tests and their fixtures (test modules never import each other)."""

from speechseq.asr.ctc import CTCConfig, CTCOptions
from speechseq.core.encoder import EncoderConfig
from speechseq.core.trainer import TrainConfig

TINY = CTCConfig(
    encoder=EncoderConfig(subsample="stack3", hidden=64, layers=2, dropout=0.0),
    train=TrainConfig(
        max_epochs=2, max_frames=4000, lr=3e-3, warmup_steps=5, device="cpu", checkpoint_every=0
    ),
    ctc=CTCOptions(units="char", cmvn="utterance", spec_augment=False),
)
