"""Fixtures of the embed tests."""

import pytest

from tests.embed.helpers import run_ok, tiny_config


@pytest.fixture(scope="module")
def search_setup(words_corpus, tmp_path_factory):
    root = tmp_path_factory.mktemp("std")
    cfg = root / "emb.yaml"
    cfg.write_text(
        "encoder: {subsample: none, rnn: gru, hidden: 16, layers: 1, dropout: 0.0}\n"
        "train: {max_epochs: 2, max_frames: 3000, warmup_steps: 2, device: cpu, checkpoint_every: 0}\n"
        "embed: {dim: 16, decoder_hidden: 16, variant: dsa, same_word_weight: 0.5}\n"
    )
    run_ok(
        [
            "train-embedder",
            str(words_corpus / "train"),
            "--out",
            str(root / "emb"),
            "--config",
            str(cfg),
        ]
    )
    run_ok(
        [
            "embed",
            str(root / "emb"),
            str(words_corpus / "archive"),
            "--out",
            str(root / "vecs"),
            "--device",
            "cpu",
            "--widths",
            "0.3,0.6",
            "--hop",
            "0.1",
        ]
    )
    run_ok(["index", "build", str(root / "vecs"), "--out", str(root / "idx")])
    return root


@pytest.fixture(scope="module")
def words_ctc(words_corpus, tmp_path_factory):
    root = tmp_path_factory.mktemp("pgctc")
    (root / "c.yaml").write_text(
        "encoder: {subsample: none, rnn: gru, hidden: 16, layers: 1, dropout: 0.0}\n"
        "train: {max_epochs: 1, max_frames: 3000, warmup_steps: 2, device: cpu, checkpoint_every: 0}\n"
        "ctc: {spec_augment: false}\n"
    )
    d = words_corpus
    run_ok(
        [
            "train-ctc",
            str(d / "train"),
            "--dev",
            str(d / "train"),
            "--out",
            str(root / "ctc"),
            "--config",
            str(root / "c.yaml"),
        ]
    )
    return root / "ctc"


@pytest.fixture(scope="module")
def contrastive_setup(words_corpus, tmp_path_factory):
    root = tmp_path_factory.mktemp("awe")
    tiny_config(root / "c.yaml", "embed: {dim: 16, examples_per_word: 2}\n")
    res = run_ok(
        [
            "train-embedder",
            str(words_corpus / "train"),
            "--out",
            str(root / "emb"),
            "--config",
            str(root / "c.yaml"),
            "--objective",
            "contrastive",
            "--dev",
            str(words_corpus / "train"),  # the tiny corpus's every-20th segments repeat no word
        ]
    )
    return root, res


TINY_SEG = (
    "encoder: {subsample: none, rnn: gru, hidden: 16, layers: 1, dropout: 0.0}\n"
    "train: {max_epochs: 2, max_frames: 4000, warmup_steps: 2, device: cpu, checkpoint_every: 0}\n"
)


@pytest.fixture(scope="module")
def segmenter(words_corpus, tmp_path_factory):
    """A 2-epoch word-boundary detector (train-segmenter) on ``words_corpus``; read-only."""
    root = tmp_path_factory.mktemp("seg")
    (root / "seg.yaml").write_text(TINY_SEG)
    res = run_ok(
        [
            "train-segmenter",
            str(words_corpus / "train"),
            "--out",
            str(root / "seg"),
            "--config",
            str(root / "seg.yaml"),
        ]
    )
    assert "best dev boundary F-score" in res.stdout + res.stderr
    return root / "seg"
