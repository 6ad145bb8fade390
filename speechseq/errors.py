"""Errors a user can act on.

Every message names the item (file, line, utterance id), the rule it breaks and the fix,
in the style of Kaldi's validate_data_dir.sh. The CLI prints the message and exits 1
(2 for usage errors); library callers catch :class:`SpeechseqError`.
"""


class SpeechseqError(Exception):
    """A problem with the user's input or environment; ``str(err)`` is the whole message."""

    exit_code = 1


class UsageError(SpeechseqError):
    """A command was called with arguments that do not fit together."""

    exit_code = 2


def where(path, line: int | None = None) -> str:
    """``FILE:LINE`` (or ``FILE``) for the start of an error message."""
    return f"{path}:{line}" if line is not None else f"{path}"
