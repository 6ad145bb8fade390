"""Progress bars go quiet when stderr is not a terminal (batch jobs, pipes, tests)."""

from speechseq.progress import progress_bar


def test_progress_bar_is_disabled_off_a_terminal(capsys):
    with progress_bar("work", "{task.fields[loss]}") as bar:
        t = bar.add_task("x", total=3, loss="-")
        for _ in range(3):
            bar.update(t, advance=1, loss="0.5")
        assert bar.disable  # pytest's stderr is no terminal
    assert capsys.readouterr().err == ""


def test_progress_bar_can_be_switched_off():
    with progress_bar("work", enabled=False) as bar:
        assert bar.disable
