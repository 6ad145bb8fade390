"""Progress bars on stderr (rich) that go quiet when stderr is not a terminal."""

from __future__ import annotations


def progress_bar(label: str, *fields: str, enabled: bool = True):
    """A ``rich.progress.Progress`` showing ``label``, a bar, done/total, the named task fields
    (``{task.fields[name]}``) and the time remaining; transient, on stderr."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        *(TextColumn(f) for f in fields),
        TimeRemainingColumn(),
        console=console,
        disable=not (enabled and console.is_terminal),
        transient=True,
    )
