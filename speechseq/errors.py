"""Errors a user can act on.

Every message names the item (file, line, utterance id), the rule it breaks and the fix,
in the style of Kaldi's validate_data_dir.sh. The CLI prints the message and exits 1
(2 for usage errors); library callers catch :class:`SpeechseqError`. A file-system error
(``OSError``: a full disk, no permission) is printed as one line too, by :func:`os_error_message`.
"""

import errno


class SpeechseqError(Exception):
    """A problem with the user's input or environment; ``str(err)`` is the whole message."""

    exit_code = 1


class UsageError(SpeechseqError):
    """A command was called with arguments that do not fit together."""

    exit_code = 2


def where(path, line: int | None = None) -> str:
    """``FILE:LINE`` (or ``FILE``) for the start of an error message."""
    return f"{path}:{line}" if line is not None else f"{path}"


# What to do about a file-system error, by errno; the rest get _OS_FIX.
_OS_FIXES = {
    errno.ENOSPC: "free some space (or write somewhere else), then rerun",
    errno.EDQUOT: "free some space within your quota (or write somewhere else), then rerun",
    errno.EACCES: "check its permissions (or write somewhere else), then rerun",
    errno.EPERM: "check its permissions (or write somewhere else), then rerun",
    errno.EROFS: "the file system is read-only: write somewhere else",
    errno.ENOENT: "check the path",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n) or use fewer jobs",
}
_OS_FIX = "check the path and the disk, then rerun"
# Errors of writing: the file named was left as it was (speechseq writes whole files or none).
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def os_error_message(err: OSError, resume_hint: bool = False) -> str:
    """One line for a file-system error: ``PATH: No space left on device — what was kept, the
    fix``; ``resume_hint`` adds that ``--resume`` continues from the last checkpoint."""
    name = err.filename if err.filename is not None else err.filename2
    what = err.strerror or str(err) or type(err).__name__
    head = f"{name}: {what}" if name is not None else what
    kept, fix = "", _OS_FIXES.get(err.errno, _OS_FIX)
    if err.errno in _WRITE_ERRNOS:
        left = f"{name} was left as it was" if name is not None else "nothing half-written was left"
        kept = f"{left} (files are written whole or not at all); "
        if resume_hint and fix.endswith("then rerun"):
            fix += " with --resume: the checkpoints written so far were kept"
    return f"{head} — {kept}{fix}"
