"""An error raised in a DataLoader worker process comes out as the main process would raise it."""

from __future__ import annotations

import errno

import kaldiio
import numpy as np
import pytest

from speechseq.core.batching import FeatDataset, make_loader, unwrap_worker_error
from speechseq.errors import SpeechseqError
from speechseq.features.reader import FeatureReader


def _feats_dir(root):
    """A data dir with features of two utterances in one ark (no audio needed)."""
    root.mkdir()
    feats = {"u1": np.ones((30, 4), np.float32), "u2": np.zeros((40, 4), np.float32)}
    kaldiio.save_ark(str(root / "raw.ark"), feats, scp=str(root / "feats.scp"))
    (root / "utt2num_frames").write_text("u1 30\nu2 40\n")
    return root


def _first_error(reader, num_workers):
    with pytest.raises(SpeechseqError) as e:
        for _ in make_loader(FeatDataset(reader), 1000, False, num_workers=num_workers):
            pass
    return str(e.value)


def test_a_missing_ark_read_in_a_worker_is_the_original_one_line_message(tmp_path):
    data = _feats_dir(tmp_path / "d")
    reader = FeatureReader(data, cmvn="utterance")
    (data / "raw.ark").unlink()  # after the reader read the first matrix's dim
    in_worker = _first_error(reader, num_workers=1)
    assert in_worker == _first_error(reader, num_workers=0)  # as without workers
    assert len(in_worker.splitlines()) == 1
    assert in_worker.startswith(f"{data / 'feats.scp'}: cannot load 'u1' from ")
    assert "Caught" not in in_worker and "Traceback" not in in_worker


def test_an_os_error_in_a_worker_keeps_its_errno_and_file_name(tmp_path):
    class Unreadable:
        utt_ids = ["u1"]

        def num_frames(self, utt):
            return 10

        def __getitem__(self, utt):
            return np.load(tmp_path / "missing.npy")

    with pytest.raises(FileNotFoundError) as e:
        for _ in make_loader(FeatDataset(Unreadable()), 1000, False, num_workers=1):
            pass
    assert (e.value.errno, e.value.filename) == (errno.ENOENT, str(tmp_path / "missing.npy"))


def test_an_error_not_from_a_worker_is_left_as_it_is():
    err = SpeechseqError("data/feats.scp: cannot load 'u1' — rerun compute-feats")
    assert unwrap_worker_error(err) is err
