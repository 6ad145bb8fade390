"""File-system errors (disk full, no permission, read-only) come out as one line naming the path
and what was kept, with exit 1 — never a traceback."""

from __future__ import annotations

import errno

import pytest
from typer.testing import CliRunner

from speechseq import fileio
from speechseq.cli.main import app
from speechseq.errors import os_error_message
from tests.cli.helpers import NO_SPACE

runner = CliRunner()


def test_disk_full_in_a_command_is_one_line_naming_the_file_and_exit_1(tmp_path, full_disk):
    text = tmp_path / "corpus.txt"
    text.write_text("the cat sat\nthe dog sat\n")
    out = tmp_path / "lm" / "3gram.arpa"
    out.parent.mkdir()
    out.write_text("the old model\n")
    res = runner.invoke(app, ["lm", "train", str(text), "--out", str(out)])
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    lines = [ln for ln in res.stderr.splitlines() if not ln.startswith("note: ")]  # LM notes
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"error: {out}: {NO_SPACE} — {out} was left as it was")
    assert "free some space" in lines[0]
    assert out.read_text() == "the old model\n"  # kept, as the line says
    assert sorted(p.name for p in out.parent.iterdir()) == ["3gram.arpa"]  # no temporary left


def test_disk_full_in_an_atomic_dir_names_the_file_under_the_final_dir(tmp_path):
    final = tmp_path / "vecs"
    with pytest.raises(OSError) as e, fileio.atomic_dir(final) as tmp:
        raise OSError(errno.ENOSPC, NO_SPACE, str(tmp / "vectors.npy"))
    assert (e.value.errno, e.value.filename) == (errno.ENOSPC, str(final / "vectors.npy"))
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_names_the_file_being_written(tmp_path):
    path = tmp_path / "x.txt"
    with pytest.raises(OSError) as e, fileio.atomic_write(path):
        raise OSError(errno.EROFS, "Read-only file system")
    assert e.value.filename == str(path)


@pytest.mark.parametrize(
    "err,expected",
    [
        (
            PermissionError(errno.EACCES, "Permission denied", "exp/final.pt"),
            "exp/final.pt: Permission denied — exp/final.pt was left as it was (files are written "
            "whole or not at all); check its permissions (or write somewhere else), then rerun",
        ),
        (
            OSError(errno.EROFS, "Read-only file system", "/mnt/exp"),
            "/mnt/exp: Read-only file system — /mnt/exp was left as it was (files are written "
            "whole or not at all); the file system is read-only: write somewhere else",
        ),
        (
            FileNotFoundError(errno.ENOENT, "No such file or directory", "data/wav.scp"),
            "data/wav.scp: No such file or directory — check the path",
        ),
        (
            OSError(errno.ENOSPC, NO_SPACE),
            f"{NO_SPACE} — nothing half-written was left (files are written whole or not at all); "
            "free some space (or write somewhere else), then rerun",
        ),
    ],
    ids=["EACCES", "EROFS", "ENOENT", "ENOSPC-unnamed"],
)
def test_os_error_message_names_the_path_what_was_kept_and_the_fix(err, expected):
    assert os_error_message(err) == expected


def test_a_training_command_out_of_space_is_told_to_resume():
    line = os_error_message(OSError(errno.ENOSPC, NO_SPACE, "exp/ckpt"), resume_hint=True)
    assert line.endswith("then rerun with --resume: the checkpoints written so far were kept")
