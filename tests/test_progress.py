"""Progress on stderr: a bar on a terminal; off one (batch jobs, pipes, tests) a plain line at a
fixed interval (SPEECHSEQ_PROGRESS_INTERVAL seconds, default 30; 0: none)."""

import time

from speechseq import progress
from speechseq.progress import INTERVAL_ENV, ProgressLines, progress_bar


def test_off_a_terminal_there_is_no_bar_and_nothing_before_the_interval(capsys, monkeypatch):
    monkeypatch.delenv(INTERVAL_ENV, raising=False)
    with progress_bar("work", "{task.fields[loss]}") as bar:
        assert isinstance(bar, ProgressLines)  # pytest's stderr is no terminal
        assert bar.interval == 30
        t = bar.add_task("x", total=3, loss="-")
        for _ in range(3):
            bar.update(t, advance=1, loss="0.5")
    assert capsys.readouterr().err == ""


def test_off_a_terminal_a_line_comes_every_interval(capsys, monkeypatch):
    monkeypatch.setenv(INTERVAL_ENV, "0.05")
    clock = [100.0]  # a fake monotonic clock: every batch takes 0.03 s
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    fields = ("loss {task.fields[loss]}", "{task.fields[speed]} s audio/s")
    with progress_bar("epoch 3/20", *fields) as bar:
        t = bar.add_task("batches", total=400, completed=100, loss="-", speed="-")
        for k in range(6):
            clock[0] += 0.03
            bar.update(t, advance=4, loss=f"{1 + k / 10:.3f}", speed="45")
    assert capsys.readouterr().err.splitlines() == [
        "epoch 3/20: 108/400 batches, loss 1.100, 45 s audio/s",
        "epoch 3/20: 116/400 batches, loss 1.300, 45 s audio/s",
        "epoch 3/20: 124/400 batches, loss 1.500, 45 s audio/s",
    ]


def test_an_interval_of_zero_prints_nothing_and_a_bad_one_is_noted(capsys, monkeypatch):
    monkeypatch.setenv(INTERVAL_ENV, "0")
    with progress_bar("work") as bar:
        t = bar.add_task("items", total=2)
        bar.advance(t)
        time.sleep(0.01)
        bar.advance(t)
    assert capsys.readouterr().err == ""
    monkeypatch.setenv(INTERVAL_ENV, "soon")
    with progress_bar("work") as bar:
        assert bar.interval == 30
    assert "SPEECHSEQ_PROGRESS_INTERVAL='soon' is not a number" in capsys.readouterr().err


def test_progress_bar_can_be_switched_off():
    with progress_bar("work", enabled=False) as bar:
        assert bar.disable
