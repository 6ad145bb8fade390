"""Shared pytest fixtures: tiny generated data, no network."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import socket  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture
def free_port() -> int:
    """A TCP port nothing listens on now (bound to port 0, read back, released): for torchrun."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _synth_corpus(root, task: str, num_utts: int, seed: int, train_spk: int, heldout_spk: int):
    """A tiny synthetic corpus of ``task`` with 40-dim fbank features (dither 0) in every set."""
    from speechseq.features import FeatureConfig, compute_feats
    from speechseq.synth.corpus import synthesize_corpus

    synthesize_corpus(
        task,
        root,
        num_utts=num_utts,
        seed=seed,
        num_train_speakers=train_spk,
        num_heldout_speakers=heldout_spk,
        log=lambda m: None,
    )
    cfg = FeatureConfig(type="fbank", num_mel_bins=40, dither=0.0)
    for s in sorted(p.name for p in root.iterdir() if (p / "wav.scp").is_file()):
        compute_feats(root / s, cfg, progress=False)
    return root


@pytest.fixture(scope="session")
def digits_corpus(tmp_path_factory):
    """Digits: 40 utterances in train/dev/test, made once per session."""
    return _synth_corpus(
        tmp_path_factory.mktemp("digits"), "digits", 40, seed=3, train_spk=6, heldout_spk=2
    )


@pytest.fixture(scope="session")
def words_corpus(tmp_path_factory):
    """Words: 60 utterances in train/archive/queries, made once per session."""
    return _synth_corpus(
        tmp_path_factory.mktemp("words"), "words", 60, seed=5, train_spk=8, heldout_spk=3
    )


@pytest.fixture(scope="session")
def command_runner(tmp_path_factory):
    """Runs speechseq commands in forks of one subprocess (tests/faults.py)."""
    from tests.faults import CommandRunner

    runner = CommandRunner(tmp_path_factory.mktemp("runs"))
    yield runner
    runner.close()


@pytest.fixture(scope="session")
def translate_corpus(tmp_path_factory):
    """Translate: 40 utterances in train/dev/test with text.fr / text.de / text.es, made once per session."""
    return _synth_corpus(
        tmp_path_factory.mktemp("translate"), "translate", 40, seed=7, train_spk=6, heldout_spk=2
    )


@pytest.fixture(scope="module")
def lang(tmp_path_factory):
    """A hybrid lang dir: one W AH N / two T UW / three TH R IY, 2 states per phone, 1 for silence."""
    from speechseq.hybrid.lang import Lang, LangOptions, prepare_lang
    from speechseq.text.lexicon import Lexicon
    from tests.hybrid.helpers import LEX

    d = tmp_path_factory.mktemp("lang")
    (d / "lex.txt").write_text(LEX)
    prepare_lang(
        Lexicon.read(d / "lex.txt"), d / "lang", options=LangOptions(num_states=2, sil_states=1)
    )
    return Lang(d / "lang")


@pytest.fixture(scope="module")
def hclg(lang):
    """A bigram that prefers "two one" strongly, so the LM weight changes the best path."""
    from speechseq.hybrid import graph as G
    from speechseq.hybrid.topo import TransitionModel
    from speechseq.lm.ngram import train_ngram

    lm = train_ngram([["two", "one"]] * 30 + [["three"], ["one", "three", "two"]], order=2)
    return G.make_hclg(lang, G.g_from_arpa(lm, lang, "lm.arpa"), TransitionModel(lang.topo))


@pytest.fixture(scope="session")
def tiny_model(digits_corpus, tmp_path_factory):
    """A tiny character CTC model (tests/asr/helpers.py TINY) trained on ``digits_corpus`` once
    per session; read-only: copy it before changing it."""
    from speechseq.asr.training import train_ctc
    from tests.asr.helpers import TINY

    exp = tmp_path_factory.mktemp("exp") / "ctc"
    train_ctc(digits_corpus / "train", digits_corpus / "dev", exp, TINY, quiet=True)
    return exp


@pytest.fixture(scope="session")
def tiny_embedder(words_corpus, tmp_path_factory):
    """A tiny segment autoencoder (tests/cli/helpers.py TINY_EMB, 1 epoch) trained on
    ``words_corpus`` once per session; read-only: copy it before changing it."""
    from typer.testing import CliRunner

    from speechseq.cli.main import app
    from tests.cli.helpers import TINY_EMB

    root = tmp_path_factory.mktemp("embedder")
    (root / "emb.yaml").write_text(TINY_EMB)
    args = ["train-embedder", str(words_corpus / "train"), "--out", str(root / "emb")]
    res = CliRunner().invoke(app, [*args, "--config", str(root / "emb.yaml")])
    assert res.exit_code == 0, res.output
    return root / "emb"
