"""Fixtures of the cli tests."""

from __future__ import annotations

import errno
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from speechseq import fileio
from speechseq.cli.main import app
from tests.cli.helpers import NO_SPACE, TINY_CTC, TINY_EMB, runner


@pytest.fixture(scope="module")
def shared(digits_corpus, words_corpus, tmp_path_factory):
    root = tmp_path_factory.mktemp("catalogue")
    (root / "ctc.yaml").write_text(TINY_CTC)
    (root / "emb.yaml").write_text(TINY_EMB)
    d, w = digits_corpus, words_corpus
    _ok(
        [
            "train-ctc",
            d / "train",
            "--dev",
            d / "dev",
            "--out",
            root / "ctc",
            "--config",
            root / "ctc.yaml",
        ]
    )
    _ok(["train-embedder", w / "train", "--out", root / "emb", "--config", root / "emb.yaml"])
    _ok(
        [
            "embed",
            root / "emb",
            w / "archive",
            "--out",
            root / "vecs",
            "--device",
            "cpu",
            "--widths",
            "0.4",
            "--hop",
            "0.2",
        ]
    )
    _ok(["index", "build", root / "vecs", "--out", root / "idx"])
    return root


@pytest.fixture
def env(shared, digits_corpus, words_corpus, tmp_path):
    return Env(
        digits_corpus,
        words_corpus,
        shared / "ctc",
        shared / "emb",
        shared / "vecs",
        shared / "idx",
        tmp_path,
    )


@dataclass
class Env:
    digits: Path  # tiny digits corpus with 40-dim fbank features (train/dev/test)
    words: Path  # tiny words corpus (train/archive/queries)
    ctc: Path  # a tiny CTC model directory (read-only: copy it before changing it)
    emb: Path  # a tiny embedder
    vecs: Path  # embed output of the words archive
    idx: Path  # an index of those vectors
    tmp: Path  # this case's own directory

    def copy(self, src: Path, name: str) -> Path:
        dst = self.tmp / name
        shutil.copytree(src, dst)
        return dst

    def point_audio(self, data: Path, index: int, to: Path) -> str:
        """Make the ``index``-th wav.scp entry of ``data`` name ``to``; returns its utterance id."""
        lines = (data / "wav.scp").read_text().splitlines()
        utt = lines[index].split()[0]
        lines[index] = f"{utt} {to}"
        (data / "wav.scp").write_text("\n".join(lines) + "\n")
        return utt


def _ok(args):
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res


@pytest.fixture
def full_disk(monkeypatch):
    """Every file speechseq.fileio opens for writing is on a full disk."""
    real_open = open

    def full_open(file, mode="r", **kwargs):
        f = real_open(file, mode, **kwargs)
        return _FullDisk(f) if "w" in mode else f

    monkeypatch.setattr(fileio, "open", full_open, raising=False)


class _FullDisk:
    """A file whose writes fail as on a full disk (no file name, like a real failed write)."""

    def __init__(self, f):
        self.f = f

    def write(self, *_args):
        raise OSError(errno.ENOSPC, NO_SPACE)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()
