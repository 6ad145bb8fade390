"""main.py's error handling: a SpeechseqError anywhere is one ``error: ...`` line and its exit code."""

from __future__ import annotations

from typer.testing import CliRunner

from speechseq.cli.main import app


def test_usage_error_from_a_command_is_one_line_on_stderr_and_exit_2(tmp_path):
    res = CliRunner().invoke(app, ["synth", "poems", str(tmp_path / "x")])
    assert res.exit_code == 2
    assert res.stderr.splitlines() == [
        "error: unknown task 'poems' — choose one of: digits, commands, words, translate, commands-std"
    ]
    assert res.stdout == ""


def test_library_error_in_a_group_command_is_one_line_and_exit_1(tmp_path):
    text = tmp_path / "corpus.txt"
    text.write_text("the cat\n<s> the dog\n")
    res = CliRunner().invoke(app, ["lm", "train", str(text), "--out", str(tmp_path / "lm.arpa")])
    assert res.exit_code == 1
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "corpus.txt:2" in lines[0]
    assert "Traceback" not in res.output


def test_bad_command_line_exits_2():
    assert CliRunner().invoke(app, ["train-ctc"]).exit_code == 2  # missing TRAIN
    assert CliRunner().invoke(app, ["decode", "exp", "data", "--beam", "x"]).exit_code == 2
    assert CliRunner().invoke(app, ["no-such-command"]).exit_code == 2
    res = CliRunner().invoke(app, ["data", "validate", "d", "--no-such-option"])
    assert res.exit_code == 2 and "--no-such-option" in res.output
