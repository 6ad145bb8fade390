"""Entry point of the ``speechseq`` command.

Every command module under ``speechseq/cli/`` exposes one ``app``: either
``common.commands()`` (its commands become top-level: ``speechseq train-ctc``) or
``common.noun_group(name, help)`` (``speechseq data validate``). Its command functions are
module-level and named for the command's last word (``train_ctc_cmd``, ``data.validate_cmd``),
so a test can import and call them. ``main.py`` adds the apps in ``SUB_APPS`` order, which is
the order of ``speechseq --help``.

Commands import heavy libraries (torch) inside their bodies, each with a comment, so that
``speechseq --help`` stays fast.
"""

from __future__ import annotations

import sys

import typer

from speechseq import __version__
from speechseq.cli import asr, data, embed, export, features, hybrid, index, lm, st, synth
from speechseq.cli.common import Group
from speechseq.data.audio import NO_PIPES_ENV, refuse_pipes
from speechseq.errors import SpeechseqError, os_error_message

# In the order of the data flow: corpus, data dir, features, model, decoding, search.
SUB_APPS = (
    synth.app,
    data.app,
    features.app,
    asr.app,
    hybrid.app,
    st.app,
    embed.app,
    index.app,
    lm.app,
    export.app,
)


class _RootGroup(Group):
    """Turns a :class:`SpeechseqError` anywhere below into one line on stderr and its exit code,
    and a file-system error (``OSError``: disk full, no permission) into one line and exit 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SpeechseqError as e:
            print(f"error: {e}", file=sys.stderr)
            raise typer.Exit(e.exit_code) from None
        except OSError as e:
            training = (ctx.invoked_subcommand or "").startswith("train-")
            print(f"error: {os_error_message(e, resume_hint=training)}", file=sys.stderr)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_RootGroup,
    help="speechseq: speech and audio sequence tasks — synthetic corpora, Kaldi data directories, "
    "features, CTC acoustic models with n-gram LM decoding, LSTM-HMM hybrids with WFST decoding, "
    "speech translation (attention encoder-decoder), segment embedders, spoken-term search.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: rich markup would eat every "[config: ...]" in the option help and
    # print boolean flags as "--resume <bool>".
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"speechseq {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    no_pipes: bool = typer.Option(
        False,
        "--no-pipes",
        help="Refuse wav.scp entries that are commands ('sox ... |'): they run through the "
        f"shell. For data from elsewhere; the same as {NO_PIPES_ENV}=1.",
    ),
) -> None:
    if no_pipes:
        ctx.call_on_close(refuse_pipes())  # set for the command (and its workers), then undone


for _sub in SUB_APPS:
    app.add_typer(_sub)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
