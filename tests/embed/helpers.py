"""Helpers shared by the embed tests and their fixtures (test modules never import each other)."""

from typer.testing import CliRunner

from speechseq.cli.main import app

runner = CliRunner()


def run_ok(args):
    """Run a speechseq command in-process; it must exit 0."""
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return res
