"""Checkpoint files: loading errors, averaging, rotation."""

from __future__ import annotations

import pytest
import torch

from speechseq.core import checkpoint as ckpt
from speechseq.errors import SpeechseqError


def test_average_means_float_weights_and_keeps_the_last_integer_buffer(tmp_path):
    for i, (w, n) in enumerate([(1.0, 3), (2.0, 5)]):
        ckpt.save({"model": {"w": torch.tensor([w]), "n": torch.tensor(n)}}, tmp_path / f"{i}.pt")
    avg = ckpt.average([tmp_path / "0.pt", tmp_path / "1.pt"])
    assert avg["w"].dtype == torch.float32 and avg["w"].item() == 1.5
    assert avg["n"].dtype == torch.int64 and avg["n"].item() == 5


def test_a_torn_checkpoint_is_named_with_the_first_line_of_the_reason(tmp_path):
    path = tmp_path / "epoch-1.pt"
    ckpt.save({"model": {"w": torch.zeros(100)}}, path)
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(SpeechseqError) as err:
        ckpt.load(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: not a readable checkpoint (")
    assert "\n" not in msg and "Error: " in msg.split(") — ")[0]
    with pytest.raises(SpeechseqError, match="checkpoint not found — train a model first"):
        ckpt.load(tmp_path / "missing.pt")
