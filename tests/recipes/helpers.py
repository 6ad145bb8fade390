"""Running a copy of a recipe in a temporary folder with this checkout's speechseq."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).parents[2]


def speechseq_env(tmp: Path) -> dict:
    """The environment for a recipe: `speechseq` on PATH runs this checkout, one thread."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    (bin_dir / "speechseq").write_text(
        f'#!/usr/bin/env bash\nexec {sys.executable} -m speechseq.cli.main "$@"\n'
    )
    (bin_dir / "speechseq").chmod(0o755)
    env = dict(os.environ)
    env.update(PATH=f"{bin_dir}:{env['PATH']}", PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    return env


def copy_recipe(tmp: Path, name: str) -> Path:
    """recipes/NAME and recipes/utils copied under ``tmp``; returns the recipe's folder."""
    shutil.copytree(REPO / "recipes" / name, tmp / "recipes" / name)
    shutil.copytree(REPO / "recipes" / "utils", tmp / "recipes" / "utils")
    return tmp / "recipes" / name
