"""Helpers shared by the embed tests and their fixtures (test modules never import each other)."""

from typer.testing import CliRunner

from speechseq.cli.main import app

runner = CliRunner()


def run_ok(args):
    """Run a speechseq command in-process; it must exit 0."""
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return res


def tiny_config(path, tail: str, epochs: int = 2):
    """Write a config of a tiny 1 x 16 GRU encoder trained ``epochs`` on the CPU, plus ``tail``
    (the task's section); returns ``path``."""
    path.write_text(
        "encoder: {subsample: none, rnn: gru, hidden: 16, layers: 1, dropout: 0.0}\n"
        f"train: {{max_epochs: {epochs}, max_frames: 3000, warmup_steps: 2, device: cpu, "
        "checkpoint_every: 0}\n" + tail
    )
    return path
