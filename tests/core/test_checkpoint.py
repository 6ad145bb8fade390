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


def _ckpt(d, name, run="r1", **extra):
    ckpt.save({"model": {"w": torch.zeros(1)}, "state": {"run_id": run, **extra}}, d / name)
    return d / name


def test_listing_orders_by_number_and_ignores_other_names(tmp_path):
    for name in ("step-10.pt", "step-9.pt", "step-100.pt", "epoch-2.pt", "step-x.pt", "step-3.ptx"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in ckpt.listing(tmp_path, "step")] == [
        "step-9.pt",
        "step-10.pt",
        "step-100.pt",
    ]
    assert [p.name for p in ckpt.listing(tmp_path, "epoch")] == ["epoch-2.pt"]
    assert ckpt.listing(tmp_path / "none", "step") == []


def test_rotation_keeps_the_newest_of_this_run_only(tmp_path):
    for n, run in ((1, "old"), (2, "r1"), (3, "r1"), (4, "r1"), (5, "old")):
        _ckpt(tmp_path, f"epoch-{n}.pt", run)
    assert ckpt.run_id(tmp_path / "epoch-1.pt") == "old"
    assert [p.name for p in ckpt.of_run(tmp_path, "epoch", "r1")] == [
        "epoch-2.pt",
        "epoch-3.pt",
        "epoch-4.pt",
    ]
    ckpt.rotate(tmp_path, "epoch", 2, "r1")
    assert [p.name for p in ckpt.listing(tmp_path, "epoch")] == [
        "epoch-1.pt", "epoch-3.pt", "epoch-4.pt", "epoch-5.pt"
    ]  # fmt: skip
    ckpt.rotate(tmp_path, "epoch", 0, "r1")  # keep 0: nothing is removed
    assert len(ckpt.listing(tmp_path, "epoch")) == 4
    ckpt.rotate(tmp_path, "epoch", 1, "old")
    assert [p.name for p in ckpt.listing(tmp_path, "epoch")] == [
        "epoch-3.pt",
        "epoch-4.pt",
        "epoch-5.pt",
    ]


def test_a_checkpoint_from_before_run_ids_has_the_empty_run(tmp_path):
    ckpt.save({"model": {}, "state": {"epoch": 1}}, tmp_path / "epoch-1.pt")
    assert ckpt.run_id(tmp_path / "epoch-1.pt") == ""
    assert [p.name for p in ckpt.of_run(tmp_path, "epoch", "")] == ["epoch-1.pt"]


def test_the_latest_marker_names_the_checkpoint_to_resume_from(tmp_path):
    assert ckpt.latest(tmp_path) is None
    path = _ckpt(tmp_path, "step-4.pt")
    ckpt.mark_latest(tmp_path, path)
    assert (tmp_path / "latest").read_text() == "step-4.pt\n"
    assert ckpt.latest(tmp_path) == path
    path.unlink()
    with pytest.raises(SpeechseqError) as e:
        ckpt.latest(tmp_path)
    assert str(e.value) == (
        f"{tmp_path / 'latest'}: names step-4.pt, which is missing — restore it, or point the marker "
        f"at another checkpoint of {tmp_path} (e.g. the newest epoch-N.pt), or retrain with --overwrite"
    )


def test_the_torn_message_quotes_the_first_line_of_the_reason_cut_at_160(tmp_path, monkeypatch):
    path = _ckpt(tmp_path, "epoch-1.pt")

    def torn(*a, **k):
        raise ValueError("x" * 200 + "\nsecond line")

    monkeypatch.setattr(torch, "load", torn)
    with pytest.raises(SpeechseqError) as e:
        ckpt.load(path)
    assert str(e.value) == (
        f"{path}: not a readable checkpoint (ValueError: {'x' * 160}) — it is torn, not a speechseq "
        "checkpoint, or holds objects other than tensors and plain values (refused: loading them "
        "could run code); restore it from training or resume from an earlier one"
    )
    monkeypatch.setattr(torch, "load", lambda *a, **k: (_ for _ in ()).throw(EOFError()))
    with pytest.raises(SpeechseqError, match=r"\(EOFError: \) — it is torn"):
        ckpt.load(path)


def test_load_maps_to_the_cpu_safely_by_default(tmp_path, monkeypatch):
    path = _ckpt(tmp_path, "epoch-1.pt")
    seen = {}
    real = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: seen.update(k) or real(*a, **k))
    ckpt.load(path)
    assert seen == {"map_location": "cpu", "weights_only": True, "mmap": False}
    ckpt.run_id(path)
    assert seen["mmap"] is True
