"""Helpers shared by the recipe tests (test modules never import each other): a copy of a recipe
in a temporary tree, and an environment whose `speechseq` runs this checkout's code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parents[2]


def recipe_env(tmp: Path) -> dict:
    """PATH with a `speechseq` that runs this checkout (whatever is installed) and a `python`
    that is this interpreter; one thread."""
    bin_dir = tmp / "bin"
    if not bin_dir.is_dir():
        bin_dir.mkdir()
        (bin_dir / "speechseq").write_text(
            f'#!/usr/bin/env bash\nexec {sys.executable} -m speechseq.cli.main "$@"\n'
        )
        (bin_dir / "speechseq").chmod(0o755)
        # the recipes' `python` (benchmarks/*.py, local/*.py): this interpreter, as path.sh's venv
        (bin_dir / "python").write_text(f'#!/usr/bin/env bash\nexec {sys.executable} "$@"\n')
        (bin_dir / "python").chmod(0o755)
    env = dict(os.environ)
    env.update(PATH=f"{bin_dir}:{env['PATH']}", PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return env


def copy_recipe(tmp: Path, name: str) -> Path:
    """``tmp/recipes/<name>`` (with recipes/utils beside it), a copy of the repository's."""
    shutil.copytree(REPO / "recipes" / name, tmp / "recipes" / name)
    if not (tmp / "recipes" / "utils").is_dir():
        shutil.copytree(REPO / "recipes" / "utils", tmp / "recipes" / "utils")
    return tmp / "recipes" / name


def run_recipe(recipe: Path, *args: str, env: dict, timeout: int = 240, script: str = "run.sh"):
    """``bash run.sh ARGS`` (or another ``script``) in ``recipe``; the CompletedProcess (text
    output)."""
    return subprocess.run(
        ["bash", script, *args],
        cwd=recipe,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
