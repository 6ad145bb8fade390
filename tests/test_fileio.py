"""FileSet: files of a directory committed together as generations behind one `current` link."""

from __future__ import annotations

import os

import pytest

from speechseq.fileio import FileSet, WriteFailed

NAMES = ("a.txt", "sub/b.txt", "c.txt")


def write(files: FileSet, **texts: str) -> None:
    with files.write(carry=["c.txt"]) as gen:
        for name, text in texts.items():
            (gen / f"{name}.txt").write_text(text)


def read(files: FileSet) -> dict[str, str]:
    return {n: p.read_text() for n, p in files.committed().paths.items()}


def test_a_write_is_seen_whole_through_fixed_links(tmp_path):
    files = FileSet(tmp_path, NAMES, "store")
    assert read(files) == {}
    write(files, a="1", b="1", c="1")
    assert read(files) == {"a.txt": "1", "sub/b.txt": "1", "c.txt": "1"}
    assert os.readlink(tmp_path / "sub/b.txt") == "../store/current/b.txt"
    assert (tmp_path / "sub/b.txt").read_text() == "1"  # what any other program reads
    write(files, a="2", b="2")  # c.txt is carried over; b.txt ...
    assert read(files) == {"a.txt": "2", "sub/b.txt": "2", "c.txt": "1"}
    write(files, a="3")  # ... and a name the new generation lacks is gone
    assert read(files) == {"a.txt": "3", "c.txt": "1"} and not os.path.lexists(
        tmp_path / "sub/b.txt"
    )
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == ["current", "gen-0003"]


def test_a_snapshot_names_one_generation(tmp_path):
    files = FileSet(tmp_path, NAMES, "store")
    write(files, a="1", b="1")
    snap = files.committed()
    assert {p.parent for p in snap.paths.values()} == {snap.generation}


def test_a_failed_write_leaves_the_committed_set_and_no_generation(tmp_path):
    files = FileSet(tmp_path, NAMES, "store")
    write(files, a="1", b="1")
    with pytest.raises(ValueError), files.write() as gen:
        (gen / "a.txt").write_text("2")
        raise ValueError("the block failed")
    assert read(files) == {"a.txt": "1", "sub/b.txt": "1"}
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == ["current", "gen-0001"]


def test_a_second_writer_is_refused_while_one_writes(tmp_path):
    files = FileSet(tmp_path, NAMES, "store", what="things")
    with files.write() as gen:
        (gen / "a.txt").write_text("1")
        with pytest.raises(WriteFailed, match="another speechseq command is writing the things"):
            write(files, a="2")
    assert read(files) == {"a.txt": "1"}


def test_leftovers_of_killed_runs_are_removed_by_the_next_write(tmp_path):
    files = FileSet(tmp_path, NAMES, "store", garbage=("old_*.bin",))
    write(files, a="1")
    store = tmp_path / "store"
    (store / "gen-0007").mkdir()  # a generation never committed
    (store / "gen-0007" / "a.txt").write_text("half")
    os.symlink("gen-0007", store / ".current.99.tmp")
    (store / "old_1.bin").write_text("an ark of the layout before generations")
    (tmp_path / ".a.txt.x1y2.tmp").write_text("an atomic_write temporary")
    write(files, a="2")
    assert read(files) == {"a.txt": "2"}
    assert sorted(p.name for p in store.iterdir()) == ["current", "gen-0002"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "store"]


def test_the_fault_hook_fails_exactly_the_nth_step_on_the_named_file(tmp_path, monkeypatch):
    import errno

    from speechseq import fileio
    from speechseq.fileio import atomic_write

    monkeypatch.setattr(fileio, "_steps_done", 0)
    monkeypatch.setenv(fileio.FAULT_ENV, "2:enospc:b.txt")
    for name in ("a.txt", "b.txt", "a.txt"):  # a.txt is not counted
        with atomic_write(tmp_path / name) as f:
            f.write("1")
    with pytest.raises(OSError) as err:
        with atomic_write(tmp_path / "b.txt") as f:
            f.write("2")
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(tmp_path / "b.txt")
    assert err.value.strerror == "No space left on device"
    assert (tmp_path / "b.txt").read_text() == "1"
    with atomic_write(tmp_path / "b.txt") as f:  # the third step passes again
        f.write("3")
    assert (tmp_path / "b.txt").read_text() == "3"
