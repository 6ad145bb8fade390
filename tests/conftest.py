"""Shared pytest fixtures: tiny generated data, no network."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def digits_corpus(tmp_path_factory):
    """A tiny synthetic digits corpus (40 utterances) with 40-dim fbank features, made once."""
    from speechseq.features import FeatureConfig, compute_feats
    from speechseq.synth.corpus import synthesize_corpus

    root = tmp_path_factory.mktemp("digits")
    synthesize_corpus(
        "digits",
        root,
        num_utts=40,
        seed=3,
        num_train_speakers=6,
        num_heldout_speakers=2,
        log=lambda m: None,
    )
    cfg = FeatureConfig(type="fbank", num_mel_bins=40, dither=0.0)
    for s in ("train", "dev", "test"):
        compute_feats(root / s, cfg, progress=False)
    return root


@pytest.fixture(scope="session")
def words_corpus(tmp_path_factory):
    """A tiny synthetic words corpus (train/archive/queries) with 40-dim fbank features."""
    from speechseq.features import FeatureConfig, compute_feats
    from speechseq.synth.corpus import synthesize_corpus

    root = tmp_path_factory.mktemp("words")
    synthesize_corpus(
        "words",
        root,
        num_utts=60,
        seed=5,
        num_train_speakers=8,
        num_heldout_speakers=3,
        log=lambda m: None,
    )
    cfg = FeatureConfig(type="fbank", num_mel_bins=40, dither=0.0)
    for s in ("train", "archive", "queries"):
        compute_feats(root / s, cfg, progress=False)
    return root
