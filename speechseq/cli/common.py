"""What the command modules share: the group class, and every option used by more than one module.

Each command module exposes one ``app`` (a :func:`commands` or a :func:`noun_group` Typer) and
``main.py`` adds them all. An option that two modules take is declared here, once: the
trainer's options, ``--device``, ``-j/--num-jobs``, ``--seed``, ``--channel``, and the options
whose name is shared but whose help each command words for itself (``--out``, ``--dev``,
``--json``, ...), which are small factories that take that help.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from speechseq.data.audio import parse_channel
from speechseq.errors import UsageError


class Group(TyperGroup):
    """A command group that lists its commands in registration order, each with its whole
    first sentence (click cuts the summaries at one line with '...')."""

    def list_commands(self, ctx):
        return list(self.commands)

    def format_commands(self, ctx, formatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit=300)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def commands() -> typer.Typer:
    """A module's top-level commands (``speechseq train-ctc ...``): an unnamed app whose
    commands ``main.py`` adds to the root."""
    return typer.Typer(cls=Group, rich_markup_mode=None)


def noun_group(name: str, help: str) -> typer.Typer:
    """A noun group (``speechseq data validate ...``) that ``main.py`` adds under ``name``."""
    return typer.Typer(name=name, cls=Group, help=help, no_args_is_help=True, rich_markup_mode=None)


# --- options of many commands ---

NUM_JOBS = typer.Option(1, "-j", "--num-jobs", min=1, help="Worker processes.")
SEED = typer.Option(0, "--seed", help="Random seed; the same seed gives the same output.")
DEVICE = typer.Option(
    "auto", "--device", help="auto | cpu | cuda[:N] | mps (auto: cuda, then mps, then cpu)."
)
# Every command that reads audio takes it; the value reaching the command is an int or "mix".
CHANNEL = typer.Option(
    "mix",
    "--channel",
    callback=parse_channel,
    help="Which channel of multi-channel audio to read: N (0 = the first) or mix (the average "
    "of the channels). A data dir's reco2file_and_channel chooses for the recordings it lists.",
)
# train-ctc and train-st: the config's features.on_the_fly
ON_THE_FLY = typer.Option(
    None,
    "--on-the-fly-features/--stored-features",
    help="Compute the features from wav.scp in the data-loader workers (-j of them) with the "
    "settings of the config's features.settings (compute-feats' keys; default fbank 80) instead "
    "of reading feats.scp: no feature files on disk [config: features.on_the_fly, default off].",
)


def out_option(help: str, *, required: bool = True) -> Any:
    """``--out``: what the command writes, a directory or a file (``help`` says which)."""
    return typer.Option(... if required else None, "--out", help=help)


def dev_option(help: str, *, required: bool = True) -> Any:
    """``--dev``: the dev data dir of a training command."""
    return typer.Option(... if required else None, "--dev", help=help)


def from_parts_option(help: str) -> Any:
    """``--from-parts DATA/splitN``: merge what jobs made on the parts of ``speechseq data split``
    (``recipes/utils/parallel.sh``) instead of computing it (``help`` says what and from where)."""
    return typer.Option(None, "--from-parts", help=help)


def json_option(help: str) -> Any:
    """``--json``: machine-readable output instead of the human one."""
    return typer.Option(False, "--json", help=help)


def units_option(help: str) -> Any:
    """``--units``: the output units of a training command (``help`` lists the choices)."""
    return typer.Option(None, "--units", help=help)


def target_option(help: str) -> Any:
    """``--target``: the target language of translation (a data dir's ``text.<lang>``)."""
    return typer.Option(None, "--target", help=help)


def beam_option(default: int | None, help: str) -> Any:
    """``--beam``: the beam size of a search; 1 = greedy."""
    return typer.Option(default, "--beam", min=1, help=help)


def lm_option(help: str) -> Any:
    """``--lm``: a word n-gram LM in ARPA format."""
    return typer.Option(None, "--lm", help=help)


def type_option(default: str, help: str) -> Any:
    """``--type``: which kind of thing to make (features, index)."""
    return typer.Option(default, "--type", help=help)


def num_utts_option(default: int | None, help: str) -> Any:
    """``--num-utts``: a number of utterances to make or keep."""
    return typer.Option(default, "--num-utts", min=1, help=help)


# --- the trainer's options: every train-* command takes them the same way ---
# None means "not given": the YAML config (or the task's default) decides. The defaults named
# in the help are the task configs' (tests/cli checks them against the dataclasses).

CONFIG = typer.Option(
    None,
    "--config",
    help="YAML config (sections encoder/train/...); options given on the command line override it.",
)
RESUME = typer.Option(False, "--resume", help="Continue from the last checkpoint in OUT.")
OVERWRITE = typer.Option(
    False,
    "--overwrite",
    help="Replace the run OUT holds (its checkpoints and final.pt are removed).",
)
TRAIN_DEVICE = typer.Option(
    None, "--device", help="auto | cpu | cuda[:N] | mps [config: train.device, default auto]."
)
TRAIN_SEED = typer.Option(None, "--seed", help="Random seed [config: train.seed, default 0].")
NUM_WORKERS = typer.Option(
    None,
    "-j",
    "--num-workers",
    help="Data-loading worker processes [config: train.num_workers, default 0].",
)


def max_epochs_option(default: int) -> Any:
    """``--max-epochs``; ``default`` is the task config's, shown in the help."""
    return typer.Option(
        None,
        "--max-epochs",
        help=f"Passes over the training set [config: train.max_epochs, default {default}].",
    )


def max_frames_option(default: int) -> Any:
    """``--max-frames``; ``default`` is the task config's, shown in the help."""
    return typer.Option(
        None,
        "--max-frames",
        help=f"Padded frames per batch [config: train.max_frames, default {default}].",
    )


INIT_FROM = typer.Option(
    None,
    "--init-from",
    help="Start from the weights of another experiment dir (its final.pt) or a .pt file "
    "[config: train.init_from].",
)
INIT_PART = typer.Option(
    None,
    "--init-part",
    help="With --init-from: only the parameters under this prefix, e.g. encoder "
    "(default: all that match by name and shape) [config: train.init_part].",
)
FREEZE = typer.Option(
    None,
    "--freeze",
    help="Comma-separated parameter-name prefixes kept fixed, e.g. encoder [config: train.freeze].",
)


@dataclass(frozen=True)
class TrainingOptions:
    """The trainer's options as a ``train-*`` command received them (``None``: not given)."""

    config: Path | None  # --config YAML
    resume: bool  # --resume
    overwrite: bool  # --overwrite
    overrides: dict[str, Any]  # the ``train`` config section they override


# (name, annotation, option) of the parameters :func:`training_command` adds to a command.
def _training_parameters(max_epochs: int, max_frames: int) -> list[tuple[str, Any, Any]]:
    return [
        ("config", Path | None, CONFIG),
        ("max_epochs", int | None, max_epochs_option(max_epochs)),
        ("max_frames", int | None, max_frames_option(max_frames)),
        ("device", str | None, TRAIN_DEVICE),
        ("resume", bool, RESUME),
        ("overwrite", bool, OVERWRITE),
        ("seed", int | None, TRAIN_SEED),
        ("num_workers", int | None, NUM_WORKERS),
        ("init_from", str | None, INIT_FROM),
        ("init_part", str | None, INIT_PART),
        ("freeze", str | None, FREEZE),
    ]


def training_command(
    app: typer.Typer, name: str, *, max_epochs: int, max_frames: int
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register a ``train-*`` command that takes the trainer's shared options.

    The decorated function declares its own options and one ``training: TrainingOptions``
    parameter; the shared options (``--config``, ``--max-epochs`` (help default
    ``max_epochs``), ``--max-frames``, ``--device``, ``--resume``, ``--overwrite``, ``--seed``, ``-j``,
    ``--init-from``, ``--init-part``, ``--freeze``) are added to its signature here, once,
    and handed to it gathered in ``training``.
    """
    params = _training_parameters(max_epochs, max_frames)

    def register(fn: Callable[..., None]) -> Callable[..., None]:
        sig = inspect.signature(fn)
        own = [p for p in sig.parameters.values() if p.name != "training"]
        added = [
            inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=opt, annotation=ann)
            for n, ann, opt in params
        ]

        @functools.wraps(fn)
        def command(**kwargs: Any) -> None:
            given = {n: kwargs.pop(n) for n, _, _ in params}
            overrides = trainer_overrides(
                **{k: v for k, v in given.items() if k not in ("config", "resume", "overwrite")}
            )
            options = TrainingOptions(
                given["config"], given["resume"], given["overwrite"], overrides
            )
            fn(**kwargs, training=options)

        command.__signature__ = sig.replace(parameters=own + added)  # type: ignore[attr-defined]
        del command.__wrapped__  # typer must read the new signature, not fn's
        app.command(name)(command)
        return command

    return register


def trainer_overrides(
    *,
    max_epochs: int | None,
    max_frames: int | None,
    device: str | None,
    seed: int | None,
    num_workers: int | None,
    init_from: str | None = None,
    init_part: str | None = None,
    freeze: str | None = None,
) -> dict[str, Any]:
    """The ``train`` config section the trainer's options override (``None``: not given)."""
    return {
        "max_epochs": max_epochs,
        "max_frames": max_frames,
        "device": device,
        "seed": seed,
        "num_workers": num_workers,
        "init_from": init_from,
        "init_part": init_part,
        "freeze": freeze,
    }


def float_list(text: str, option: str) -> list[float]:
    """``"0.5,1,1.5"`` -> ``[0.5, 1.0, 1.5]``; anything else is a usage error naming the option."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values:
        raise UsageError(
            f"{option} {text!r}: give a number, or numbers separated by commas (e.g. 0.5,1.0)"
        )
    return values


def info(msg: str) -> None:
    """A progress or summary line for people: stderr, so stdout stays machine-readable."""
    print(msg, file=sys.stderr)
