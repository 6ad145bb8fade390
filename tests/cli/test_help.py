"""Every command's ``--help``: renders, keeps its bracketed text, shows flags as flags and defaults."""

from __future__ import annotations

import re

import pytest
import typer
from typer.core import TyperArgument, TyperOption
from typer.testing import CliRunner

from speechseq.cli.main import app

ROOT = typer.main.get_command(app)


def _leaves(group, path: tuple[str, ...] = ()) -> list:
    """Every runnable command under ``group`` with its path (``("data", "validate")``)."""
    out = []
    for name, cmd in getattr(group, "commands", {}).items():
        if getattr(cmd, "commands", None):
            out.extend(_leaves(cmd, (*path, name)))
        else:
            out.append(((*path, name), cmd))
    return out


COMMANDS = _leaves(ROOT)
IDS = [" ".join(path) for path, _ in COMMANDS]
GROUPS = [name for name, cmd in ROOT.commands.items() if getattr(cmd, "commands", None)]


def _help(*args: str) -> str:
    res = CliRunner().invoke(app, [*args, "--help"])
    assert res.exit_code == 0, res.output
    return res.output


def _squash(text: str) -> str:
    """Text without whitespace: help is re-wrapped to the terminal width."""
    return re.sub(r"\s+", "", text)


def _options(cmd) -> list[TyperOption]:
    return [p for p in cmd.params if isinstance(p, TyperOption) and p.name != "help"]


def test_the_app_has_the_commands_recipes_and_readme_use():
    wanted = """synth compute-feats train-ctc decode align transcribe train-embedder embed
    search eval-std plot-embeddings""".split()
    wanted += [f"data {c}" for c in "validate fix split subset combine augment".split()]
    wanted += ["data from-folder", "data librispeech", "index build", "index add", "lm train"]
    for path in wanted:
        assert path in IDS
    assert set(GROUPS) == {"data", "index", "lm"}


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=IDS)
def test_help_renders_every_option_and_argument_help_intact(path, cmd):
    out = _squash(_help(*path))
    assert _squash(cmd.help.split("\n\n")[0]) in out  # the summary, at least
    for p in cmd.params:
        text = getattr(p, "help", None)
        if text:
            assert _squash(text) in out, f"{' '.join(path)}: help of {p.name} lost in --help"
        assert text or isinstance(p, TyperArgument), f"{p.name} has no help"


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=IDS)
def test_bracketed_config_text_shows(path, cmd):
    wanted = [m for p in _options(cmd) for m in re.findall(r"\[config: [^\]]+\]", p.help or "")]
    out = _squash(_help(*path))
    for text in wanted:
        assert _squash(text) in out


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=IDS)
def test_boolean_options_render_as_flags(path, cmd):
    out = _help(*path)
    assert "<bool>" not in out
    for p in _options(cmd):
        if p.is_flag:
            shown = " / ".join(p.opts + p.secondary_opts) if p.secondary_opts else p.opts[0]
            assert re.search(rf"^\s+{re.escape(shown)}(\s|$)", out, re.M), shown
            assert not re.search(rf"{re.escape(p.opts[0])} <", out)


@pytest.mark.parametrize("path,cmd", COMMANDS, ids=IDS)
def test_defaults_are_shown(path, cmd):
    ctx = typer.Context(cmd, info_name=path[-1])
    for p in _options(cmd):
        if p.is_flag or p.required or p.default is None or p.default is False:
            continue
        _, text = p.get_help_record(ctx)
        assert f"[default: {p.default}" in text, f"{' '.join(path)} {p.opts[0]}: {text}"


def test_training_flags_and_defaults_in_train_ctc_help():
    out = _help("train-ctc")
    assert re.search(r"^\s+--resume\s", out, re.M)
    assert "--spec-augment / --no-spec-augment" in out
    assert "--drop-unfit / --no-drop-unfit" in out
    assert "Passes over the training set [config:" in out
    assert _squash("[config: train.max_epochs, default 30]") in _squash(out)


def test_inference_device_shows_its_default():
    for path in [("decode",), ("align",), ("transcribe",), ("embed",), ("search",)]:
        assert "[default: auto]" in _help(*path)


@pytest.mark.parametrize("group", GROUPS)
def test_group_help_lists_its_commands(group):
    out = _help(group)
    for name in ROOT.commands[group].commands:
        assert re.search(rf"^\s+{re.escape(name)}\s", out, re.M)


def test_root_help_lists_every_command_without_cutting_summaries():
    out = _help()
    for name in ROOT.commands:
        assert re.search(rf"^\s+{re.escape(name)}\s", out, re.M)
    assert "..." not in out.split("Commands:")[1]


def test_root_help_advertises_what_is_built_and_its_commands_exist():
    out = " ".join(_help().lower().split())
    for claim, command in (
        ("speech translation", "train-st"),
        ("lstm-hmm hybrids", "train-hybrid"),
    ):
        assert claim in out and command in ROOT.commands


def test_version_prints_and_exits_0():
    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.startswith("speechseq ")


def test_no_arguments_prints_help():
    res = CliRunner().invoke(app, [])
    assert "Usage:" in res.output and "train-ctc" in res.output
