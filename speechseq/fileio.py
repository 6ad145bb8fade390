"""Atomic writes: a reader never sees a half-written file or directory.

Write to a temporary name in the same directory, then ``os.replace`` it into place, so a
killed command leaves either the old file or the new one, never a torn one. An ``OSError``
while writing (a full disk, no permission) comes out naming the file or directory being
written, not the temporary name (or no name at all, as a failed ``write`` has).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8"
) -> Iterator:
    """Open a temporary file beside ``path``; on success rename it to ``path``, on error remove it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise _named(e, path, Path(e.filename or path)) from e
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the usual permissions
    try:
        kwargs = {} if "b" in mode else {"encoding": encoding}
        with open(tmp, mode, **kwargs) as f:
            yield f
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError) and (named := _named(e, path, Path(tmp))) is not e:
            raise named from e
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Build a directory under a temporary name and rename it to ``path`` when done.

    Yields the temporary directory. An existing ``path`` is replaced when ``overwrite``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as e:
        raise _named(e, path, Path(e.filename or path)) from e
    os.chmod(tmp, 0o777 & ~_UMASK)
    try:
        yield tmp
        if path.exists():
            if not overwrite:
                raise FileExistsError(path)
            old = path.with_name(f".{path.name}.old{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError) and (named := _named(e, path, tmp)) is not e:
            raise named from e
        raise


def _named(err: OSError, path: Path, tmp: Path) -> OSError:
    """``err`` naming ``path`` where it named the temporary ``tmp`` (or a file under it, which
    becomes the same file under ``path``) or nothing; otherwise ``err`` itself."""
    if err.errno is None:
        return err
    if not isinstance(err.filename, (str, os.PathLike)) or Path(err.filename) == tmp:
        name = path
    else:
        try:
            name = path / Path(err.filename).relative_to(tmp)
        except ValueError:
            return err
    # OSError(errno, ...) makes the errno's subclass (PermissionError, FileNotFoundError, ...)
    return OSError(err.errno, err.strerror, str(name))
