"""Entry point of the ``speechseq`` command.

Each module in ``COMMAND_MODULES`` defines ``register(app)``, which adds its commands or
command group. Commands import heavy libraries (torch) inside their bodies so that
``speechseq --help`` stays fast.
"""

from __future__ import annotations

import importlib
import sys

import typer
from typer.core import TyperGroup

from speechseq import __version__
from speechseq.errors import SpeechseqError

COMMAND_MODULES = ("synth", "data", "features", "asr", "embed", "lm")


class _Group(TyperGroup):
    """Turns a :class:`SpeechseqError` anywhere below into one line on stderr and its exit code."""

    def list_commands(self, ctx):  # keep registration order in --help
        return list(self.commands)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SpeechseqError as e:
            print(f"error: {e}", file=sys.stderr)
            raise typer.Exit(e.exit_code) from None


app = typer.Typer(
    cls=_Group,
    help="speechseq: speech and audio sequence tasks — data, features, CTC and LSTM-HMM acoustic "
    "models, segment embedders, spoken-term search, speech translation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"speechseq {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    pass


for _name in COMMAND_MODULES:
    importlib.import_module(f"speechseq.cli.{_name}").register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
