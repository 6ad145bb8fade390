"""wav.scp pipe entries run shell commands; --no-pipes / SPEECHSEQ_NO_PIPES=1 refuse them."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from speechseq.cli.main import app
from speechseq.data.audio import NO_PIPES_ENV, pipes_refused, read_audio
from speechseq.data.kaldi_dir import DataDir, read_table
from speechseq.data.validate import validate_data_dir
from speechseq.errors import SpeechseqError


def test_pipe_entry_works_without_no_pipes(piped):
    res = CliRunner().invoke(app, ["compute-feats", str(piped), "--num-mel-bins", "23"])
    assert res.exit_code == 0, res.output
    assert "b-1" in read_table(piped / "feats.scp")
    assert not pipes_refused()


def test_no_pipes_flag_refuses_a_pipe_entry_with_one_line_naming_it(piped):
    res = CliRunner().invoke(app, ["--no-pipes", "compute-feats", str(piped)])
    assert res.exit_code == 1
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.output
    assert lines[0].startswith(f"error: {piped}/wav.scp:3: recording 'b-1' is a pipe, 'cat ")
    assert "pipes run shell commands and are refused (--no-pipes" in lines[0]
    assert "Traceback" not in res.output
    assert not (piped / "feats.scp").exists()
    assert not pipes_refused()  # the flag lasts for its command only


def test_no_pipes_env_var_refuses_a_pipe_entry(piped, monkeypatch):
    monkeypatch.setenv(NO_PIPES_ENV, "1")
    res = CliRunner().invoke(app, ["compute-feats", str(piped), "-j", "2"])
    assert res.exit_code == 1
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and "wav.scp:3: recording 'b-1' is a pipe" in lines[0]
    assert "Traceback" not in res.output


def test_no_pipes_validate_reports_the_pipe_line(piped):
    res = CliRunner().invoke(app, ["--no-pipes", "data", "validate", str(piped)])
    assert res.exit_code == 1
    assert res.stdout.splitlines() == [
        f"{piped}/wav.scp:3: recording 'b-1' is a pipe, '{read_table(piped / 'wav.scp')['b-1']}': "
        f"pipes run shell commands and are refused (--no-pipes or {NO_PIPES_ENV}=1) — write the "
        f"audio to files and put their paths in wav.scp, or run without --no-pipes (and "
        f"{NO_PIPES_ENV} unset) if you trust this data"
    ]
    assert "Traceback" not in res.output
    assert [p for p in validate_data_dir(piped) if p.is_error] == []  # pipes allowed again


def test_no_pipes_refuses_in_the_library_too(piped, monkeypatch):
    monkeypatch.setenv(NO_PIPES_ENV, "1")
    with pytest.raises(SpeechseqError, match=r"wav.scp:3: recording 'b-1' is a pipe"):
        DataDir(piped).audio_spec("b-1")
    entry = read_table(piped / "wav.scp")["b-1"]
    with pytest.raises(SpeechseqError, match=r"^b-1: 'cat .* \|' is a pipe \(a shell command\)"):
        read_audio(entry, what="b-1")
    DataDir(piped).audio_spec("a-1")  # files are fine


@pytest.mark.parametrize(
    ("value", "refused"), [("", False), ("0", False), ("no", False), ("1", True), ("yes", True)]
)
def test_no_pipes_env_values(monkeypatch, value, refused):
    monkeypatch.setenv(NO_PIPES_ENV, value)
    assert pipes_refused() is refused
