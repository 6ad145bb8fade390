"""`index build` and IndexStore.save commit the index files as one: old index or new, never a mix."""

from __future__ import annotations

import errno
import os
import shutil

import pytest

from speechseq import fileio
from speechseq.cli.main import app
from speechseq.std import index as index_mod
from speechseq.std.index import INDEX_NAMES, IndexStore, IndexStoreError, build_index
from tests.faults import kill_at_every_step
from tests.std.helpers import (
    assert_clean,
    old_layout,
    rows,
    runner,
    snapshot,
    unit_vectors,
    write_vecs,
)


def copied_layout(idx):
    """The index as a copy that followed the links leaves it (shutil.copytree, cp -rL)."""
    copy = idx.with_name("copy")
    shutil.copytree(idx, copy)
    shutil.rmtree(idx)
    copy.rename(idx)


def _reset(tmp_path, layout):
    idx = tmp_path / "idx"

    def reset():
        shutil.rmtree(idx, ignore_errors=True)
        if layout != "none":
            res = runner.invoke(app, ["index", "build", str(tmp_path / "old"), "--out", str(idx)])
            assert res.exit_code == 0, res.output
        if layout == "old layout":
            old_layout(idx)
        if layout == "copied":
            copied_layout(idx)

    return reset


@pytest.mark.parametrize(
    "layout, steps",
    [
        ("none", 5),  # 4 links (pointing nowhere until the commit) + the commit
        ("generations", 1),  # the commit
        ("old layout", 6),  # adopt the plain files (commit them as they are, 4 links) + the commit
        ("copied", 7),  # as "old layout", after moving the plain directory `current` aside
    ],
)
def test_index_build_killed_at_every_step_leaves_old_or_new_index(
    vecs, command_runner, layout, steps
):
    tmp_path, old, new = vecs
    idx = tmp_path / "idx"
    before = old if layout != "none" else None
    args = ["index", "build", str(tmp_path / "new"), "--out", str(idx)]

    def after_kill(n):
        state = snapshot(idx)
        assert state == before, f"killed at step {n}: not the old index"
        res = runner.invoke(app, args)  # the rerun
        assert res.exit_code == 0, res.output
        assert snapshot(idx) == new
        assert_clean(idx)

    assert kill_at_every_step(command_runner, args, _reset(tmp_path, layout), after_kill) == steps
    assert snapshot(idx) == new
    assert_clean(idx)


def test_index_build_failing_at_every_step_keeps_the_old_index(vecs, monkeypatch):
    tmp_path, old, new = vecs
    reset = _reset(tmp_path, "old layout")
    args = ["index", "build", str(tmp_path / "new"), "--out", str(tmp_path / "idx")]
    for n in range(1, 7):
        reset()
        monkeypatch.setenv(fileio.FAULT_ENV, f"{n}:enospc")
        monkeypatch.setattr(fileio, "_steps_done", 0)
        res = runner.invoke(app, args)
        monkeypatch.delenv(fileio.FAULT_ENV)
        assert res.exit_code == 1 and "kept the previous index unchanged" in res.stderr
        assert snapshot(tmp_path / "idx") == old
    reset()
    assert runner.invoke(app, args).exit_code == 0 and snapshot(tmp_path / "idx") == new


def test_disk_full_while_writing_the_index_keeps_the_old_one(vecs, monkeypatch):
    tmp_path, old, _ = vecs
    _reset(tmp_path, "generations")()

    def full(index, path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(index_mod, "_write_faiss", full)
    idx = tmp_path / "idx"
    res = runner.invoke(app, ["index", "build", str(tmp_path / "new"), "--out", str(idx)])
    assert res.exit_code == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {idx}: could not write the new index")
    assert "No space left on device" in lines[0] and "kept the previous index unchanged" in lines[0]
    assert snapshot(idx) == old
    assert_clean(idx)


def test_save_carries_embed_json_and_refuses_a_stale_store(vecs):
    tmp_path, _, _ = vecs
    idx = tmp_path / "idx"
    first, second = IndexStore.open(idx), IndexStore.open(idx)
    first.add(unit_vectors(2, 8, seed=7), rows(2, "x"), first.embedder_id)
    first.save()
    assert (idx / "embed.json").is_file() and len(IndexStore.open(idx)) == 32
    second.add(unit_vectors(2, 8, seed=8), rows(2, "y"), second.embedder_id)
    with pytest.raises(IndexStoreError, match="changed since it was opened"):
        second.save()  # it would drop what `first` added
    assert len(IndexStore.open(idx)) == 32
    assert_clean(idx)


def test_build_into_a_new_directory_has_no_embed_json(tmp_path):
    build_index(unit_vectors(5, 4), rows(5), tmp_path / "idx", "m", "flat")
    names = sorted(p.name for p in (tmp_path / "idx").iterdir())
    assert names == ["current", "gen-0001", "index.faiss", "meta.json", "segments.tsv"]
    assert set(INDEX_NAMES) - set(names) == {"embed.json"}


def test_index_build_refuses_vectors_whose_dimension_meta_json_contradicts(tmp_path):
    vecs = write_vecs(tmp_path / "v", 10, 8, meta_dim=16)
    res = runner.invoke(app, ["index", "build", str(vecs), "--out", str(tmp_path / "idx")])
    assert res.exit_code == 1
    assert "holds 8-dim vectors but" in res.stderr and "says dim 16" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "idx").exists()
