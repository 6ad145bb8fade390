"""Atomic writes: a reader never sees a half-written file, directory or set of files.

- :func:`atomic_write`: one file, written under a temporary name beside it and renamed into
  place with ``os.replace``.
- :func:`atomic_dir`: a directory built under a temporary name and renamed into place.
- :class:`FileSet`: several files of one directory that must change together (a data dir's
  ``feats.scp``, ``utt2num_frames``, ``cmvn.ark``, ``conf/feats.yaml``; an index's
  ``index.faiss``, ``segments.tsv``, ``meta.json``). Each write builds a whole new
  *generation* directory ``STORE/gen-NNNN/`` and commits it with ONE rename, that of the
  link ``STORE/current``; the visible names are fixed relative links through it
  (``DATA/feats.scp -> feats/current/feats.scp``), so a killed, failed or interrupted write
  leaves the old set or the new one, never a mix.

Every rename, replace and link creation of this module goes through :func:`_step`, where
tests inject faults: with ``SPEECHSEQ_FAULT_AT_RENAME=N`` in the environment the process
SIGKILLs itself just before its Nth such step (``N:enospc`` raises "No space left on device"
there instead; ``N:enospc:NAME`` or ``N:kill:NAME`` count only the steps that write a file named
NAME). Unset, the hook does nothing.

An ``OSError`` while writing (a full disk, no permission) comes out naming the file or
directory being written, not the temporary name (or no name at all, as a failed ``write`` has).
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import os
import re
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePath

try:
    import fcntl
except ImportError:  # not POSIX: writers are not serialised
    fcntl = None

_UMASK = os.umask(0)
os.umask(_UMASK)

FAULT_ENV = (
    "SPEECHSEQ_FAULT_AT_RENAME"  # tests only: "N" kills at the Nth step, "N:enospc" fails it
)
_steps_done = (
    0  # renames / replaces / link creations made by this process (counted while FAULT_ENV is set)
)


def _step(target: str | os.PathLike) -> None:
    """One rename, replace or link creation is about to change ``target``: the fault hook."""
    global _steps_done
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    at, _, rest = spec.partition(":")
    mode, _, only = rest.partition(":")  # N[:enospc[:NAME]]: count only steps on files named NAME
    if only and Path(target).name != only:
        return
    _steps_done += 1
    if _steps_done != int(at):
        return
    if mode == "enospc":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))
    os.kill(os.getpid(), signal.SIGKILL)


def _replace(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    _step(dst)
    os.replace(src, dst)


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
        _replace(tmp, path)
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
            _replace(path, old)
            _replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            _replace(tmp, path)
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


# --- sets of files committed together ---------------------------------------------------------

CURRENT = "current"  # in a FileSet's store: the link to the committed generation
_GENERATION = re.compile(r"gen-(\d+)")
# errors of the machine rather than of the program: reported as one line by WriteFailed
_ENVIRONMENT_ERRNOS = {
    errno.ENOSPC: "free some disk space (or raise the quota)",
    errno.EDQUOT: "free some disk space (or raise the quota)",
    errno.EFBIG: "free some disk space (or raise the quota)",
    errno.EROFS: "make the directory writable",
    errno.EACCES: "make the directory writable",
    errno.EPERM: "make the directory writable",
    errno.EIO: "check the disk",
}


class WriteFailed(OSError):
    """A new generation could not be written or committed; ``str()`` is one line for people.

    The committed generation is unchanged (the message says so). Raised for environment
    errors (disk full, read-only, I/O error) and when another writer holds the set.
    """

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Committed:
    """What a reader reads: one resolution of ``current``, then files only from there."""

    generation: Path | None  # the committed generation directory; None before the first write
    # name -> the file to read, for the names that exist
    paths: dict[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class FileSet:
    """Files of ``root`` (``names``, relative paths) replaced together, as generations in a store.

    ``root/<name>`` is a relative link to ``STORE/current/<basename>``, and ``STORE/current``
    links to the committed ``STORE/gen-NNNN/``. Writers build a whole generation and switch
    ``current`` with one rename (:meth:`write`); readers resolve ``current`` once
    (:meth:`committed`), so a reader never mixes two generations. A name that is a plain file
    (written before speechseq kept generations, or rewritten by another tool such as
    ``speechseq data fix`` or Kaldi's ``fix_data_dir.sh``) is read as it is, and the next
    write first adopts the visible files into a generation of their own, one unchanging step
    at a time, so that even that transition shows the old set or the new one.
    """

    root: Path  # the directory people (and Kaldi) read
    # relative to root, e.g. "feats.scp", "conf/feats.yaml"; their basenames are unique
    names: tuple[str, ...]
    store: str = "."  # relative to root: the directory holding gen-NNNN/ and current
    what: str = "files"  # for messages: "features", "index"
    # glob patterns of files in the store made by older layouts (e.g. "raw_*.ark"):
    # removed once nothing committed refers to them
    garbage: tuple[str, ...] = ()

    @property
    def store_dir(self) -> Path:
        return Path(os.path.normpath(Path(self.root) / self.store))

    def _link_target(self, name: str) -> str:
        base = PurePath(name).name
        top = Path(self.root) / name
        return os.path.relpath(self.store_dir / CURRENT / base, os.path.normpath(top.parent))

    def _is_ours(self, name: str) -> bool:
        try:
            return os.readlink(Path(self.root) / name) == self._link_target(name)
        except OSError:  # absent, or not a link
            return False

    def current(self) -> Path | None:
        """The committed generation directory (``STORE/current`` resolved), or None."""
        link = self.store_dir / CURRENT
        try:
            gen = self.store_dir / os.readlink(link)
        except OSError:  # absent; or a plain directory, when a copy followed the links
            gen = link
        return gen if gen.is_dir() else None

    def committed(self) -> Committed:
        """The files a reader should read, from one resolution of ``current``."""
        gen = self.current()
        paths = {}
        for name in self.names:
            if self._is_ours(name):
                path = gen / PurePath(name).name if gen is not None else None
            else:
                path = Path(self.root) / name
            if path is not None and path.is_file():
                paths[name] = path
        return Committed(gen, paths)

    @contextlib.contextmanager
    def write(
        self,
        carry: Iterable[str] = (),
        keep: Callable[[dict[str, Path]], Iterable[str | os.PathLike]] | None = None,
    ) -> Iterator[Path]:
        """Yield a new, empty generation directory; commit it when the block ends.

        Write the new files there under their basenames, plainly: nothing is visible until
        the commit. Names in ``carry`` that the block did not write are taken over from the
        committed generation (hard-linked). Names the new generation lacks disappear.
        ``keep(paths)`` lists files that the committed files at ``paths`` refer to (a
        feats.scp's arks); they and their directories survive the clean-up that removes
        everything else in the store: generations left by killed runs at the start, the
        previous generation after the commit. A block that raises leaves the committed set
        untouched and its generation removed; environment errors (disk full, read-only,
        I/O) come out as :class:`WriteFailed` with one line that says the old set was kept.
        """
        with self._reporting(), _locked(self):
            with contextlib.suppress(OSError):  # what killed runs left; retried after the commit
                self._collect(keep)
            gen = self.store_dir / f"gen-{self._next_number():04d}"
            gen.mkdir()
            done = False
            try:
                yield gen
                self._carry(gen, carry)
                _fsync_tree(gen)
                self._publish(gen)
                done = True
            finally:
                if not done:
                    shutil.rmtree(gen, ignore_errors=True)
        with contextlib.suppress(OSError):  # tidying; the next write retries
            self._tidy(gen)
            self._collect(keep)

    # -- the steps of a write ---------------------------------------------------------------
    @contextlib.contextmanager
    def _reporting(self) -> Iterator[None]:
        """Environment errors (disk full, read-only, I/O) as one WriteFailed line."""
        try:
            yield
        except OSError as err:
            if isinstance(err, WriteFailed) or err.errno not in _ENVIRONMENT_ERRNOS:
                raise
            kept = (
                f"kept the previous {self.what} unchanged"
                if self.committed().paths
                else "nothing was written"
            )
            where = f" ({err.filename})" if err.filename else ""
            raise WriteFailed(
                f"{self.root}: could not write the new {self.what}: {err.strerror}{where} — "
                f"{kept}; {_ENVIRONMENT_ERRNOS[err.errno]} and rerun"
            ) from err

    def _next_number(self) -> int:
        numbers = [0]
        for entry in self.store_dir.iterdir():
            m = _GENERATION.fullmatch(entry.name)
            if m:
                numbers.append(int(m.group(1)))
        return max(numbers) + 1

    def _carry(self, gen: Path, carry: Iterable[str]) -> None:
        old = self.committed().paths
        for name in carry:
            dst = gen / PurePath(name).name
            if name in old and not dst.exists():
                link_or_copy(old[name], dst)

    def _publish(self, gen: Path) -> None:
        """Make ``gen`` the committed generation; every step leaves the old set or the new."""
        cur = self.current()
        link = self.store_dir / CURRENT
        copied = link.is_dir() and not link.is_symlink()  # `current` copied as a plain directory

        def not_served(name: str) -> bool:  # visible (or would be) other than through current
            if self._is_ours(name):
                return False
            if os.path.lexists(Path(self.root) / name):
                return True
            return cur is not None and (cur / PurePath(name).name).exists()

        if copied or any(not_served(n) for n in self.names):
            # adopt what is visible now into a generation of its own, then serve it from there
            adopted = self.store_dir / f"gen-{self._next_number():04d}"
            adopted.mkdir()
            for name, path in self.committed().paths.items():
                link_or_copy(path, adopted / PurePath(name).name)
            _fsync_tree(adopted)
            if copied:  # nothing may read through the plain `current` before it goes
                for name in self.names:
                    if self._is_ours(name):
                        self._link(name, adopted / PurePath(name).name)
                _replace(link, self.store_dir / f".{CURRENT}.{os.getpid()}.old.tmp")
            self._switch(adopted)
            for name in self.names:
                if os.path.lexists(Path(self.root) / name) and not self._is_ours(name):
                    self._link(name)
        for name in self.names:
            if (gen / PurePath(name).name).exists() and not os.path.lexists(Path(self.root) / name):
                self._link(name)  # points nowhere until the switch
        self._switch(gen)

    def _switch(self, gen: Path) -> None:
        """The commit: ``STORE/current`` -> ``gen`` with one rename."""
        tmp = self.store_dir / f".{CURRENT}.{os.getpid()}.tmp"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        os.symlink(gen.name, tmp)
        _replace(tmp, self.store_dir / CURRENT)
        _fsync_dir(self.store_dir)

    def _link(self, name: str, to: Path | None = None) -> None:
        """``root/name`` -> ``STORE/current/<basename>`` (or ``to``), replacing what is there."""
        top = Path(self.root) / name
        top.parent.mkdir(parents=True, exist_ok=True)
        target = self._link_target(name) if to is None else os.path.relpath(to, top.parent)
        if not os.path.lexists(top):
            _step(top)
            os.symlink(target, top)
        else:
            tmp = top.with_name(f".{top.name}.{os.getpid()}.tmp")
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            os.symlink(target, tmp)
            _replace(tmp, top)
        _fsync_dir(top.parent)

    def _tidy(self, gen: Path) -> None:
        """Drop links to names the committed generation lacks (they already read as absent)."""
        for name in self.names:
            if self._is_ours(name) and not (gen / PurePath(name).name).exists():
                os.unlink(Path(self.root) / name)

    def _collect(self, keep) -> None:
        """Remove what no committed file needs: other generations, temporaries, old-layout files."""
        committed = self.committed()
        live: set[str] = set()
        if committed.generation is not None:
            live.add(os.path.realpath(committed.generation))
        if keep is not None:
            try:
                refs = [os.path.realpath(p) for p in keep(committed.paths)]
            except (OSError, ValueError, UnicodeDecodeError):
                return  # cannot tell what the committed files refer to: remove nothing
            live.update(refs)
            live.update(os.path.dirname(r) for r in refs)
        for entry in self.store_dir.iterdir():
            name = entry.name
            if name.startswith(f".{CURRENT}.") and name.endswith(".tmp"):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
            elif entry.is_symlink():
                continue
            elif _GENERATION.fullmatch(name) and entry.is_dir():
                if os.path.realpath(entry) not in live:
                    shutil.rmtree(entry, ignore_errors=True)
            elif any(fnmatch.fnmatch(name, g) for g in self.garbage):
                if os.path.realpath(entry) not in live:
                    entry.unlink(missing_ok=True)
        for name in self.names:  # temporaries of atomic_write and _link beside the visible names
            top = Path(self.root) / name
            if top.parent.is_dir():
                for tmp in top.parent.glob(f".{top.name}.*.tmp"):
                    if tmp.is_symlink() or tmp.is_file():
                        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def _locked(files: FileSet) -> Iterator[None]:
    """Make the store and hold an exclusive lock on it (released when the process dies)."""
    store = files.store_dir
    store.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield
        return
    fd = os.open(store, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WriteFailed(
                f"{files.root}: another speechseq command is writing the {files.what} here — "
                "wait for it to finish, then rerun"
            ) from None
        yield
    finally:
        os.close(fd)


def link_or_copy(src: Path, dst: Path) -> None:
    """``dst`` with the content of ``src``: a hard link (files are never changed in place; no
    second copy of the data) or, across file systems or where links fail, a copy."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _fsync_tree(directory: Path) -> None:
    """Flush the files of ``directory`` and the directory itself to disk (power-loss safety)."""
    for path in directory.rglob("*"):
        if path.is_file() and not path.is_symlink():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # some filesystems cannot fsync a directory
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
