"""How the command modules are built: one registration style, importable commands, each option
declared in one module, deferred imports only for heavy libraries and said so."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import typer

import speechseq.cli
from speechseq.cli import common, main

CLI_DIR = Path(speechseq.cli.__file__).parent
COMMAND_MODULES = sorted(
    m.name for m in pkgutil.iter_modules([str(CLI_DIR)]) if m.name not in ("main", "common")
)


def _module(name: str):
    return importlib.import_module(f"speechseq.cli.{name}")


def _source(name: str) -> str:
    return (CLI_DIR / f"{name}.py").read_text()


def _registered(app: typer.Typer):
    """(command name, callback) of every command an app registers, its groups' included."""
    for info in app.registered_commands:
        yield info.name, info.callback
    for group in app.registered_groups:
        yield from _registered(group.typer_instance)


def test_every_command_module_exposes_one_app_that_main_adds():
    apps = [_module(name).app for name in COMMAND_MODULES]
    assert all(isinstance(a, typer.Typer) for a in apps)
    assert sorted(map(id, main.SUB_APPS)) == sorted(map(id, apps))
    assert [g.typer_instance for g in main.app.registered_groups] == list(main.SUB_APPS)
    for name in COMMAND_MODULES:
        assert not hasattr(_module(name), "register"), f"cli/{name}.py: old register(app) style"


def test_noun_groups_are_named_apps_and_top_level_modules_are_unnamed():
    named = {_module(n).app.info.name: n for n in COMMAND_MODULES if _module(n).app.info.name}
    assert named == {"data": "data", "index": "index", "lm": "lm"}


@pytest.mark.parametrize("name", COMMAND_MODULES)
def test_command_functions_are_module_level_and_importable(name):
    module = _module(name)
    commands = list(_registered(module.app))
    assert commands, f"cli/{name}.py registers no command"
    for cmd_name, fn in commands:
        assert "<locals>" not in fn.__qualname__, f"{cmd_name} is a closure"
        assert fn.__module__ == module.__name__
        assert getattr(module, fn.__name__) is fn
        assert fn.__name__ == cmd_name.replace("-", "_") + "_cmd"


def test_a_command_function_can_be_called_directly(tmp_path, capsys):
    from speechseq.cli.lm import train_cmd

    text = tmp_path / "text"
    text.write_text("the cat sat\nthe dog sat\n")
    train_cmd(text=text, out=tmp_path / "lm.arpa", order=2, kaldi_text=False)
    assert (tmp_path / "lm.arpa").is_file()
    assert "training perplexity" in capsys.readouterr().out


def _declared_options(source: str) -> set[str]:
    """Option names in every ``typer.Option(...)`` call of a module's source."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "Option"
        ):
            for arg in node.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    if arg.value.startswith("-"):
                        names.update(n.strip() for n in arg.value.split("/"))
    return names


def test_no_option_name_is_declared_in_two_cli_modules():
    where = defaultdict(list)
    for name in [*COMMAND_MODULES, "common", "main"]:
        for opt in _declared_options(_source(name)):
            where[opt].append(name)
    twice = {opt: mods for opt, mods in where.items() if len(mods) > 1}
    assert not twice, f"declared in more than one module (move them to cli/common.py): {twice}"


def test_shared_options_live_in_common():
    shared = _declared_options(_source("common"))
    wanted = (
        "--config --max-epochs --max-frames --resume --seed --device -j --num-workers --num-jobs "
        "--init-from --init-part --freeze"
    )
    for opt in [*wanted.split(), "--out", "--dev", "--json", "--type", "--num-utts"]:
        assert opt in shared


def test_the_trainer_options_become_the_train_section():
    section = common.trainer_overrides(
        max_epochs=3, max_frames=None, device="cpu", seed=None, num_workers=2
    )
    assert section == {
        "max_epochs": 3,
        "max_frames": None,
        "device": "cpu",
        "seed": None,
        "num_workers": 2,
        "init_from": None,
        "init_part": None,
        "freeze": None,
    }


def _imports_speechseq(node: ast.AST) -> bool:
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").startswith("speechseq")
    if isinstance(node, ast.Import):
        return any(a.name.startswith("speechseq") for a in node.names)
    return False


@pytest.mark.parametrize("name", [*COMMAND_MODULES, "common", "main"])
def test_local_imports_of_speechseq_modules_are_deferred_heavy_ones_with_a_comment(name):
    source = _source(name)
    lines = source.splitlines()
    for fn in ast.walk(ast.parse(source)):
        if not isinstance(fn, ast.FunctionDef):
            continue
        imports = [n for n in ast.walk(fn) if _imports_speechseq(n)]
        import_lines = {i for n in imports for i in range(n.lineno, n.end_lineno + 1)}
        for node in imports:
            above = node.lineno - 1  # 1-based number of the line above the import
            while above in import_lines:  # a run of imports shares one comment
                above -= 1
            above = lines[above - 1].strip()
            assert above.startswith("# deferred:"), (
                f"cli/{name}.py:{node.lineno} in {fn.name}(): a local import of speechseq "
                "needs a '# deferred: <heavy library> ...' comment above it, or belongs at the top"
            )


def test_help_does_not_import_torch():
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from speechseq.cli.main import app\n"
        "for args in (['--help'], ['train-ctc', '--help'], ['index', '--help']):\n"
        "    assert CliRunner().invoke(app, args).exit_code == 0\n"
        "assert 'torch' not in sys.modules, 'speechseq --help imported torch'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def _config_defaults(cls) -> dict[str, str]:
    cfg = cls()
    out = {}
    for section, value in vars(cfg).items():
        for field, v in vars(value).items():
            out[f"{section}.{field}"] = ("on" if v else "off") if isinstance(v, bool) else str(v)
    return out


@pytest.mark.parametrize(
    "command,config",
    [
        ("train-ctc", "speechseq.asr.ctc:CTCConfig"),
        ("train-embedder", "speechseq.embed.model:EmbedConfig"),
    ],
)
def test_config_defaults_in_the_help_are_the_task_configs(command, config):
    module, cls = config.split(":")
    defaults = _config_defaults(getattr(importlib.import_module(module), cls))
    click_cmd = typer.main.get_command(main.app).commands[command]
    found = 0
    for p in click_cmd.params:
        for key, value in re.findall(r"\[config: ([\w.]+), default ([^\]]+)\]", p.help or ""):
            assert key in defaults, f"{command} {p.opts[0]}: no config field {key}"
            assert defaults[key] == value, f"{command} {p.opts[0]}: {key} is {defaults[key]}"
            found += 1
    assert found >= 5


def test_commands_are_thin():
    """A command parses, calls the library and renders: no command body outgrows a screen."""
    for name in COMMAND_MODULES:
        for cmd_name, fn in _registered(_module(name).app):
            body = inspect.getsource(fn).split('"""')[-1]
            assert body.count("\n") <= 50, f"{cmd_name}: move the logic into the library"
