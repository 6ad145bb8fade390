"""Progress on stderr: a bar (rich) on a terminal; elsewhere (batch jobs, pipes, log files) a
plain line at a fixed interval, e.g. ``epoch 3/20: 120/400 batches, loss 1.234, 45 s audio/s``.

The interval is 30 s, or ``SPEECHSEQ_PROGRESS_INTERVAL`` seconds (0: no lines).
"""

from __future__ import annotations

import os
import sys
import time
from types import SimpleNamespace

INTERVAL_ENV = "SPEECHSEQ_PROGRESS_INTERVAL"
DEFAULT_INTERVAL_S = 30.0


def progress_bar(label: str, *fields: str, enabled: bool = True):
    """A ``rich.progress.Progress`` showing ``label``, a bar, done/total, the named task fields
    (``{task.fields[name]}``) and the time remaining; transient, on stderr. Off a terminal, a
    :class:`ProgressLines` with the same calls, printing a line every interval instead."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    if enabled and not console.is_terminal:
        return ProgressLines(label, fields, interval_s())
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        *(TextColumn(f) for f in fields),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
        transient=True,
    )


def interval_s() -> float:
    """Seconds between progress lines: ``SPEECHSEQ_PROGRESS_INTERVAL``, else 30."""
    text = os.environ.get(INTERVAL_ENV, "").strip()
    if not text:
        return DEFAULT_INTERVAL_S
    try:
        return float(text)
    except ValueError:
        print(
            f"note: {INTERVAL_ENV}={text!r} is not a number of seconds; using {DEFAULT_INTERVAL_S:g}",
            file=sys.stderr,
        )
        return DEFAULT_INTERVAL_S


class ProgressLines:
    """The calls of ``rich.progress.Progress`` that speechseq makes (``add_task``, ``update``,
    ``advance``, a context manager), printing ``label: done/total what, fields...`` on stderr
    at most once per ``interval`` seconds (never when ``interval <= 0``)."""

    disable = False  # it does report, as lines

    def __init__(self, label: str, fields: tuple[str, ...], interval: float):
        self.label, self.fields, self.interval = label, fields, interval
        self.tasks: dict[int, dict] = {}
        self._last = time.monotonic()

    def __enter__(self) -> ProgressLines:
        self._last = time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        return None

    def add_task(
        self, description: str, total: float | None = None, completed: float = 0, **fields
    ):
        tid = len(self.tasks)
        self.tasks[tid] = {"what": description, "total": total, "done": completed, **fields}
        return tid

    def update(self, tid: int, advance: float = 0, completed: float | None = None, **fields):
        task = self.tasks[tid]
        task["done"] = completed if completed is not None else task["done"] + advance
        task.update(fields)
        self._maybe_print(task)

    def advance(self, tid: int, advance: float = 1) -> None:
        self.update(tid, advance=advance)

    def line(self, task: dict) -> str:
        """``epoch 3/20: 120/400 batches, loss 1.234, 45 s audio/s``."""
        done = f"{task['done']:g}" + (f"/{task['total']:g}" if task["total"] is not None else "")
        view = SimpleNamespace(fields=task)
        extra = "".join(f", {f.format(task=view)}" for f in self.fields)
        return f"{self.label}: {done} {task['what']}{extra}"

    def _maybe_print(self, task: dict) -> None:
        now = time.monotonic()
        if self.interval > 0 and now - self._last >= self.interval:
            self._last = now
            print(self.line(task), file=sys.stderr, flush=True)
