"""Options and helpers shared by the command modules."""

from __future__ import annotations

import sys

import typer
from typer.core import TyperGroup


class SubGroup(TyperGroup):
    def list_commands(self, ctx):
        return list(self.commands)


def sub_app(help: str) -> typer.Typer:
    """A noun group (``speechseq data ...``) whose commands list in registration order."""
    return typer.Typer(cls=SubGroup, help=help, no_args_is_help=True)


NUM_JOBS = typer.Option(1, "-j", "--num-jobs", min=1, help="Worker processes.")
SEED = typer.Option(0, "--seed", help="Random seed; the same seed gives the same output.")


def info(msg: str) -> None:
    """A progress or summary line for people: stderr, so stdout stays machine-readable."""
    print(msg, file=sys.stderr)
