"""The tests mirror the package: no test module imports another, and fixtures live in conftest.py.

Shared helpers live in helper modules (``tests/core/toy.py``, ``tests/std/helpers.py``, ...) or
conftest.py fixtures, so a test module can be run, moved or deleted on its own. Imports are
read with ``ast`` — module-level, function-local and relative ones — and so are the Python
scripts that tests hand to a subprocess as string literals (``from tests.x.test_y import ...``).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

TESTS = Path(__file__).parent
SCRIPT_IMPORT = re.compile(r"^\s*(?:from|import)\s+(tests(?:\.\w+)+)", re.MULTILINE)


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(TESTS.parent).with_suffix("").parts)


def _imports(path: Path) -> list[str]:
    """Every module ``path`` imports (relative ones resolved), in code or in script strings."""
    package = _module_name(path).rsplit(".", 1)[0].split(".")
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            mod = ".".join([*base, *([node.module] if node.module else [])])
            names.append(mod)
            names += [f"{mod}.{a.name}" for a in node.names]  # from tests.core import test_x
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names += SCRIPT_IMPORT.findall(node.value)
    return names


def _is_test_module(name: str) -> bool:
    return name.split(".")[0] == "tests" and name.split(".")[-1].startswith("test_")


def test_no_test_module_imports_another_test_module():
    offenders = [
        f"{p.relative_to(TESTS.parent)} imports {name}"
        for p in sorted(TESTS.rglob("test_*.py"))
        for name in _imports(p)
        if _is_test_module(name)  # itself too: a subprocess script importing its own module
    ]
    assert not offenders, (
        "move the shared helper into a helper module or a conftest.py fixture:\n"
        + "\n".join(offenders)
    )


def test_the_layout_check_sees_code_relative_and_script_imports(tmp_path, monkeypatch):
    pkg = tmp_path / "tests" / "core"
    pkg.mkdir(parents=True)
    probe = pkg / "test_probe.py"
    # (built from pieces, so that this file's own string constants hold no such import)
    probe.write_text(
        "from .test_other import helper\n"
        "def f():\n"
        "    import tests.asr." + "test_ctc_train\n"
        "SCRIPT = '''\n    from tests.core." + "test_trainer import _fit\n'''\n"
        "from tests.core import toy\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "TESTS", tmp_path / "tests")
    assert {n for n in _imports(probe) if _is_test_module(n)} == {
        "tests.core.test_other",
        "tests.asr.test_ctc_train",
        "tests.core.test_trainer",
    }


def _is_fixture(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return (isinstance(target, ast.Attribute) and target.attr == "fixture") or (
        isinstance(target, ast.Name) and target.id == "fixture"
    )


def test_fixtures_live_in_conftest_files_only():
    offenders = [
        f"{p.relative_to(TESTS.parent)}:{node.lineno} defines fixture {node.name}"
        for p in sorted(TESTS.rglob("test_*.py"))
        for node in ast.walk(ast.parse(p.read_text(), str(p)))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and any(_is_fixture(d) for d in node.decorator_list)
    ]
    assert not offenders, "move it into the directory's conftest.py:\n" + "\n".join(offenders)
