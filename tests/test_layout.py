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


# Library modules whose tests are not named after them (tests/<package>/test_<module>*.py): the
# test file that exercises each, and how. A new module needs a mirrored test file or an entry.
TESTED_IN = {
    "speechseq/errors.py": "tests/cli/test_errors.py",  # exit codes and one-line messages
    "speechseq/ranges.py": "tests/core/test_config_ranges.py",  # option ranges, CLI and YAML
    "speechseq/asr/inference.py": "tests/asr/test_ctc_train.py",  # decode/align a trained model
    "speechseq/asr/training.py": "tests/asr/test_ctc_train.py",
    "speechseq/std/segmenter.py": "tests/embed/test_segmenter.py",  # beside the embedder fixtures it searches with
    "speechseq/cli/asr.py": "tests/asr/test_ctc_train.py",  # train-ctc, decode, align
    "speechseq/cli/common.py": "tests/cli/test_structure.py",
    "speechseq/cli/data.py": "tests/data/test_cli_data.py",
    "speechseq/cli/embed.py": "tests/embed/test_cli_search.py",
    "speechseq/cli/export.py": "tests/core/test_export.py",
    "speechseq/cli/features.py": "tests/features/test_cli_features.py",
    "speechseq/cli/hybrid.py": "tests/hybrid/test_cli.py",
    "speechseq/cli/index.py": "tests/std/test_index_commit.py",
    "speechseq/cli/lm.py": "tests/lm/test_cli.py",
    "speechseq/cli/main.py": "tests/cli/test_help.py",
    "speechseq/cli/synth.py": "tests/synth/test_synth.py",
    "speechseq/data/cmvn_stats.py": "tests/features/test_cmvn_deltas.py",
    "speechseq/embed/inference.py": "tests/embed/test_cli_search.py",  # speechseq embed
    "speechseq/embed/training.py": "tests/embed/test_contrastive.py",
    "speechseq/features/config.py": "tests/features/test_extract.py",
    "speechseq/features/deltas.py": "tests/features/test_cmvn_deltas.py",
    "speechseq/features/files.py": "tests/features/test_commit.py",  # the feature FileSet
    "speechseq/features/reader.py": "tests/features/test_kaldi_dir_features.py",
    "speechseq/hybrid/align.py": "tests/hybrid/test_gmm.py",
    "speechseq/hybrid/grammar.py": "tests/hybrid/test_graph.py",
    "speechseq/hybrid/lang.py": "tests/hybrid/test_graph.py",
    "speechseq/hybrid/topo.py": "tests/hybrid/test_graph.py",
    "speechseq/hybrid/training.py": "tests/hybrid/test_cli.py",  # train-hybrid, realignment
    "speechseq/st/model.py": "tests/st/test_st_train.py",
    "speechseq/st/task.py": "tests/st/test_st_train.py",
    "speechseq/st/training.py": "tests/st/test_st_train.py",
    "speechseq/st/translate.py": "tests/st/test_st_cli.py",  # speechseq translate
    "speechseq/std/kws.py": "tests/embed/test_cli_search.py",  # eval-std's ATWV files
    "speechseq/std/plot.py": "tests/embed/test_cli_search.py",  # plot-embeddings
    "speechseq/std/posteriorgram.py": "tests/embed/test_cli_search.py",
    "speechseq/std/qbe.py": "tests/embed/test_cli_search.py",  # search, eval-std
    "speechseq/std/vectors.py": "tests/std/test_index.py",
    "speechseq/synth/corpus.py": "tests/synth/test_synth.py",
    "speechseq/synth/espeak.py": "tests/synth/test_synth.py",
    "speechseq/synth/tasks.py": "tests/synth/test_synth.py",
    "speechseq/synth/voices.py": "tests/synth/test_synth.py",
    "speechseq/text/bpe.py": "tests/text/test_units.py",
}


def _mirrored_tests(module: Path) -> list[Path]:
    rel = module.relative_to(TESTS.parent / "speechseq")
    return sorted((TESTS / rel.parent).glob(f"test_{rel.stem}*.py"))


def test_every_library_module_has_its_test_module():
    root = TESTS.parent
    untested, stale = [], []
    for module in sorted((root / "speechseq").rglob("*.py")):
        if module.name == "__init__.py":
            continue
        name = str(module.relative_to(root))
        mapped = TESTED_IN.get(name)
        if mapped is None and not _mirrored_tests(module):
            untested.append(name)
        elif mapped is not None and not (root / mapped).is_file():
            stale.append(f"{name}: {mapped} does not exist")
    stale += [f"{m}: no such module" for m in TESTED_IN if not (root / m).is_file()]
    assert not untested, (
        "write tests/<package>/test_<module>.py for these modules, or name the test file that "
        "exercises each in TESTED_IN:\n" + "\n".join(untested)
    )
    assert not stale, "fix TESTED_IN in tests/test_layout.py:\n" + "\n".join(stale)
