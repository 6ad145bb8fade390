"""compute-feats commits its files as one: a kill or failure at any step leaves the old set or the new.

Old features are 40-dim fbank, new ones 13-dim MFCC, so every file tells which run it is from.
"""

from __future__ import annotations

import errno
import os
import shutil

import kaldiio
import pytest

from speechseq import fileio
from speechseq.cli.main import app
from speechseq.features import FeatureReader, compute_feats
from tests.faults import kill_at_every_step
from tests.features.helpers import NEW_ARGS, OLD, runner, same, snapshot

VISIBLE = ("feats.scp", "utt2num_frames", "cmvn.ark", "conf/feats.yaml")


def assert_clean(d):
    """One generation, linked from every visible name; no temporaries, no old-layout arks."""
    store = d / "feats"
    gens = sorted(p.name for p in store.iterdir() if p.name != "current")
    assert len(gens) == 1 and os.readlink(store / "current") == gens[0], sorted(store.iterdir())
    for name in VISIBLE:
        assert (d / name).is_symlink(), name
    assert not os.path.lexists(d / "bad_utts")
    assert [p for p in d.rglob("*") if p.name.endswith(".tmp")] == []
    assert list(store.glob("raw_*.ark")) == []


def old_layout(d):
    """Features as speechseq wrote them before generations: plain files, arks in DATA/feats/."""
    gen = (d / "feats" / os.readlink(d / "feats" / "current")).resolve()
    for ark in gen.glob("raw_*.ark"):
        shutil.move(ark, d / "feats" / ark.name)
    for name in VISIBLE:
        data = (d / name).read_bytes()
        (d / name).unlink()
        (d / name).write_bytes(
            data.replace(f"{gen}/".encode(), f"{(d / 'feats').resolve()}/".encode())
        )
    (d / "feats" / "current").unlink()
    shutil.rmtree(gen)


def copied_layout(d):
    """The data dir as a copy that followed the links leaves it: plain files, `current` a directory."""
    current = d / "feats" / "current"
    gen = current.resolve()
    current.unlink()
    shutil.copytree(gen, current)
    for name in VISIBLE:
        data = (d / name).read_bytes()
        (d / name).unlink()
        (d / name).write_bytes(data)


def _reset(d, layout):
    def reset():
        for name in (*VISIBLE, "bad_utts"):
            if os.path.lexists(d / name):
                (d / name).unlink()
        shutil.rmtree(d / "feats", ignore_errors=True)
        if layout != "none":
            compute_feats(d, OLD, progress=False)
        if layout == "old layout":
            old_layout(d)
        if layout == "copied":
            copied_layout(d)

    return reset


@pytest.mark.parametrize(
    "layout, steps",
    [
        ("none", 5),  # 4 links (pointing nowhere until the commit) + the commit
        ("generations", 1),  # the commit
        ("old layout", 6),  # adopt the plain files: commit them as they are, 4 links; + the commit
        ("copied", 7),  # as "old layout", after moving the plain directory `current` aside
    ],
)
def test_compute_feats_killed_at_every_step_leaves_old_or_new_features(
    dirs, command_runner, layout, steps
):
    d, old, new = dirs
    before = old if layout != "none" else None
    seen = []

    def after_kill(n):
        state = snapshot(d)
        assert same(state, before) or same(state, new), f"killed at step {n}: a mix"
        seen.append("old" if same(state, before) else "new")
        result = runner.invoke(app, ["compute-feats", str(d), *NEW_ARGS])  # the rerun
        assert result.exit_code == 0, result.output
        assert same(snapshot(d), new)
        assert_clean(d)

    n = kill_at_every_step(
        command_runner, ["compute-feats", str(d), *NEW_ARGS], _reset(d, layout), after_kill
    )
    assert n == steps  # every one of them was a kill point above
    assert seen == ["old"] * steps  # the commit is the last step: before it, the old state
    assert same(snapshot(d), new)
    assert_clean(d)


@pytest.mark.parametrize("layout", ["none", "generations", "old layout", "copied"])
def test_compute_feats_failing_at_every_step_keeps_the_old_features(dirs, monkeypatch, layout):
    d, old, _ = dirs
    before = old if layout != "none" else None
    reset = _reset(d, layout)
    for n in range(1, 9):
        reset()
        monkeypatch.setenv(fileio.FAULT_ENV, f"{n}:enospc")
        monkeypatch.setattr(fileio, "_steps_done", 0)
        result = runner.invoke(app, ["compute-feats", str(d), *NEW_ARGS])
        monkeypatch.delenv(fileio.FAULT_ENV)
        if result.exit_code == 0:
            break
        assert result.exit_code == 1
        assert "could not write the new features: No space left on device" in result.stderr
        assert same(snapshot(d), before)
    assert n > 1


def test_disk_full_while_writing_arks_says_the_old_features_were_kept(dirs, monkeypatch):
    d, old, _ = dirs
    _reset(d, "generations")()

    def full(f, array):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(kaldiio.matio, "write_array", full)
    result = runner.invoke(app, ["compute-feats", str(d), *NEW_ARGS])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {d}: could not write the new features")
    assert (
        "No space left on device" in lines[0] and "kept the previous features unchanged" in lines[0]
    )
    assert same(snapshot(d), old)
    assert sorted(p.name for p in (d / "feats").iterdir()) == ["current", "gen-0001"]


def test_a_data_dir_rewritten_by_data_fix_is_adopted_whole(dirs):
    """`data fix` replaces the links of the tables it rewrites by plain files; both read."""
    d, old, new = dirs
    _reset(d, "generations")()
    with open(d / "utt2spk", "a") as f:
        f.write("zz-unknown spkA\n")  # an utterance without audio: data fix drops it
    result = runner.invoke(app, ["data", "fix", str(d)])
    assert result.exit_code == 0, result.output
    assert not (d / "feats.scp").is_symlink() and (d / "conf/feats.yaml").is_symlink()
    assert same(snapshot(d), old)
    result = runner.invoke(app, ["compute-feats", str(d), *NEW_ARGS])
    assert result.exit_code == 0, result.output
    assert same(snapshot(d), new)
    assert_clean(d)


def test_feature_reader_reads_one_generation(dirs):
    """A reader resolves `current` once: a commit after it is made does not mix into it."""
    d, old, _ = dirs
    _reset(d, "generations")()
    reader = FeatureReader(d, cmvn="none")
    gen = (d / "feats" / "current").resolve()
    assert all(str(p).startswith(str(gen)) for p in reader._files.values())
