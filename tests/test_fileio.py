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


# --- atomic_write / atomic_dir in process -------------------------------------------------------


def test_atomic_write_gives_the_usual_permissions_and_leaves_no_temporary(tmp_path):
    from speechseq.fileio import atomic_write

    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "deep" / "t.txt") as f:  # parents are made
            f.write("é")
        with atomic_write(tmp_path / "b.bin", "wb") as f:
            f.write(b"\x00\x01")
    finally:
        os.umask(old)
    assert (tmp_path / "deep" / "t.txt").read_bytes() == "é".encode()
    assert (tmp_path / "deep" / "t.txt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.bin", "deep"]
    assert [p.name for p in (tmp_path / "deep").iterdir()] == ["t.txt"]


def test_atomic_write_that_fails_keeps_the_old_file_and_names_it_in_the_error(tmp_path):
    import errno

    from speechseq.fileio import atomic_write

    (tmp_path / "t.txt").write_text("old")
    with pytest.raises(KeyError), atomic_write(tmp_path / "t.txt") as f:
        f.write("new")
        raise KeyError("x")
    with pytest.raises(OSError) as err, atomic_write(tmp_path / "t.txt") as f:
        raise OSError(errno.ENOSPC, "No space left on device")  # as a failed write: no name
    assert type(err.value) is OSError and err.value.filename == str(tmp_path / "t.txt")
    assert err.value.errno == errno.ENOSPC and err.value.strerror == "No space left on device"
    with pytest.raises(PermissionError) as err, atomic_write(tmp_path / "t.txt") as f:
        raise PermissionError(errno.EACCES, "Permission denied", f.name)  # the temporary's name
    assert err.value.filename == str(tmp_path / "t.txt")  # the errno's subclass is kept
    other = OSError(errno.EIO, "Input/output error", "/elsewhere/file")
    with pytest.raises(OSError) as err, atomic_write(tmp_path / "t.txt"):
        raise other
    assert err.value is other  # a file other than ours: unchanged
    assert (tmp_path / "t.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["t.txt"]


def test_atomic_write_in_a_place_that_cannot_hold_files_names_the_file(tmp_path):
    from speechseq.fileio import atomic_write

    (tmp_path / "file").write_text("")
    with pytest.raises(OSError) as err, atomic_write(tmp_path / "file" / "t.txt"):
        pass
    assert str(tmp_path / "file") in str(err.value.filename)


def test_atomic_dir_replaces_or_refuses_an_existing_directory(tmp_path):
    from speechseq.fileio import atomic_dir

    old = os.umask(0o022)
    try:
        with atomic_dir(tmp_path / "d") as tmp:
            assert tmp.parent == tmp_path and tmp.name.startswith(".d.")
            (tmp / "x").write_text("1")
    finally:
        os.umask(old)
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o755
    with atomic_dir(tmp_path / "d") as tmp:
        (tmp / "y").write_text("2")
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["y"]
    with pytest.raises(FileExistsError), atomic_dir(tmp_path / "d", overwrite=False) as tmp:
        (tmp / "z").write_text("3")
    assert [p.name for p in (tmp_path / "d").iterdir()] == ["y"]
    assert [p.name for p in tmp_path.iterdir()] == ["d"]  # no temporary, no old copy


def test_atomic_dir_names_a_file_of_the_new_directory_as_it_will_be_called(tmp_path):
    import errno

    from speechseq.fileio import atomic_dir

    with pytest.raises(OSError) as err, atomic_dir(tmp_path / "d") as tmp:
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp / "sub" / "f.txt"))
    assert err.value.filename == str(tmp_path / "d" / "sub" / "f.txt")
    no_errno = OSError("no errno")
    with pytest.raises(OSError) as err, atomic_dir(tmp_path / "d"):
        raise no_errno
    assert err.value is no_errno
    assert list(tmp_path.iterdir()) == []


# --- FileSet: adopting files of other tools, errors, clean-up -----------------------------------


def test_plain_files_of_another_tool_are_read_as_they_are_then_adopted(tmp_path):
    files = FileSet(tmp_path, NAMES, "store")
    write(files, a="1", b="1", c="1")
    os.unlink(tmp_path / "a.txt")
    (tmp_path / "a.txt").write_text("fixed by hand")  # e.g. fix_data_dir.sh rewrote it
    assert read(files) == {"a.txt": "fixed by hand", "sub/b.txt": "1", "c.txt": "1"}
    with files.write(carry=["a.txt", "c.txt"]) as gen:
        (gen / "b.txt").write_text("2")
    assert read(files) == {"a.txt": "fixed by hand", "sub/b.txt": "2", "c.txt": "1"}
    assert os.readlink(tmp_path / "a.txt") == "store/current/a.txt"
    # gen-0002 is the new one; gen-0003, the adopted files, served while the links changed
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == ["current", "gen-0002"]


def test_a_current_copied_as_a_plain_directory_is_read_and_replaced(tmp_path):
    import shutil

    files = FileSet(tmp_path, ("a.txt",), "store")
    write(files, a="1")
    store = tmp_path / "store"
    os.unlink(store / "current")
    shutil.copytree(store / "gen-0001", store / "current")  # as `cp -rL` would leave it
    shutil.rmtree(store / "gen-0001")
    assert files.current() == store / "current" and read(files) == {"a.txt": "1"}
    with files.write(carry=["a.txt"]):
        pass
    assert os.path.islink(store / "current") and read(files) == {"a.txt": "1"}
    assert sorted(p.name for p in store.iterdir()) == ["current", "gen-0001"]


def test_a_full_disk_is_one_line_that_says_what_was_kept(tmp_path, monkeypatch):
    import errno

    from speechseq import fileio

    files = FileSet(tmp_path, ("a.txt",), "store", what="index")
    monkeypatch.setattr(fileio, "_steps_done", 0)
    monkeypatch.setenv(fileio.FAULT_ENV, "1:enospc")
    with pytest.raises(WriteFailed) as err:
        write(files, a="1")
    assert str(err.value) == (
        f"{tmp_path}: could not write the new index: No space left on device "
        f"({tmp_path / 'a.txt'}) — nothing was written; free some disk space "
        "(or raise the quota) and rerun"
    )
    monkeypatch.delenv(fileio.FAULT_ENV)
    write(files, a="1")
    with pytest.raises(WriteFailed, match=r"— kept the previous index unchanged; make the dir"):
        with files.write():
            raise OSError(errno.EROFS, "Read-only file system")
    with pytest.raises(FileNotFoundError), files.write():  # not the machine's fault: as it is
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "x")
    assert read(files) == {"a.txt": "1"}
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == ["current", "gen-0001"]


def test_files_the_committed_set_refers_to_survive_the_clean_up(tmp_path):
    files = FileSet(tmp_path, ("feats.scp",), "store", garbage=("raw_*.ark",))
    store = tmp_path / "store"
    store.mkdir()
    for n in (1, 2):
        (store / f"raw_{n}.ark").write_text("ark")
    (store / "arks").mkdir()
    (store / "arks" / "x.ark").write_text("ark")

    def keep(paths):
        if "feats.scp" not in paths:
            return []
        return [store / line.split()[1] for line in paths["feats.scp"].read_text().splitlines()]

    (tmp_path / "feats.scp").write_text("u1 raw_1.ark\n")  # the layout before generations
    with files.write(keep=keep) as gen:  # raw_2.ark: nothing refers to it
        assert sorted(p.name for p in store.iterdir()) == ["arks", "gen-0001", "raw_1.ark"]
        (gen / "feats.scp").write_text("u1 raw_1.ark\nu2 arks/x.ark\n")
    with files.write(carry=["feats.scp"], keep=keep):
        pass
    assert sorted(p.name for p in store.iterdir()) == ["arks", "current", "gen-0002", "raw_1.ark"]

    def unreadable(paths):
        raise ValueError("cannot parse feats.scp")

    (store / "raw_3.ark").write_text("ark")
    with files.write(carry=["feats.scp"], keep=unreadable):
        pass
    assert "raw_3.ark" in {p.name for p in store.iterdir()}  # cannot tell: nothing removed


def test_link_or_copy_copies_where_a_hard_link_fails(tmp_path, monkeypatch):
    from speechseq import fileio

    (tmp_path / "a").write_text("data")
    fileio.link_or_copy(tmp_path / "a", tmp_path / "linked")
    assert os.path.samefile(tmp_path / "a", tmp_path / "linked")

    def no_links(src, dst):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    fileio.link_or_copy(tmp_path / "a", tmp_path / "copied")
    assert (tmp_path / "copied").read_text() == "data"
    assert not os.path.samefile(tmp_path / "a", tmp_path / "copied")


def test_a_name_in_a_nested_directory_gets_its_directories(tmp_path):
    files = FileSet(tmp_path, ("conf/deep/x.txt",), "store")
    with files.write() as gen:
        (gen / "x.txt").write_text("1")
    assert os.readlink(tmp_path / "conf/deep/x.txt") == "../../store/current/x.txt"
    assert read(files) == {"conf/deep/x.txt": "1"}


def test_the_clean_up_removes_link_temporaries_and_only_current_temporaries(tmp_path):
    files = FileSet(tmp_path, NAMES, "store")
    write(files, a="1", b="1", c="1")
    store = tmp_path / "store"
    os.symlink("gen-0001", store / ".current.999.tmp")  # a killed switch's temporary link
    (store / "notes.tmp").write_text("someone else's")  # not ours: kept
    (store / ".current.998.old").write_text("not a temporary name")  # kept
    write(files, a="2")
    assert sorted(p.name for p in store.iterdir()) == [
        ".current.998.old", "current", "gen-0002", "notes.tmp"
    ]  # fmt: skip


def test_a_current_link_to_a_missing_generation_reads_as_nothing(tmp_path):
    import shutil

    files = FileSet(tmp_path, ("a.txt",), "store")
    write(files, a="1")
    shutil.rmtree(tmp_path / "store" / "gen-0001")  # removed by hand
    assert files.current() is None
    snapshot = files.committed()
    assert snapshot.generation is None and snapshot.paths == {}


def test_a_temporary_link_to_the_committed_generation_is_removed_not_followed(tmp_path):
    files = FileSet(tmp_path, ("a.txt",), "store")
    write(files, a="1")
    store = tmp_path / "store"
    os.symlink("gen-0001", store / ".current.999.tmp")  # a killed switch's link, to a live dir
    files._collect(None)
    assert sorted(p.name for p in store.iterdir()) == ["current", "gen-0001"]
    assert read(files) == {"a.txt": "1"}  # the generation it pointed to is untouched
