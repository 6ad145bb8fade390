"""Helpers shared by the recipe tests (test modules never import each other): a copy of a recipe
in a temporary tree, and an environment whose `speechseq` runs this checkout's code (as forks of
one process that has imported it: tests/forkserver.py)."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests import forkserver

REPO = Path(__file__).parents[2]
_server: dict = {}


def _server_socket() -> str:
    """The socket of this test process's fork server (started on first use, stopped at exit)."""
    if "socket" not in _server:
        path = os.path.join(tempfile.mkdtemp(prefix="ssq"), "s")
        env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
        proc = subprocess.Popen(
            [sys.executable, forkserver.__file__, "serve", path],
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the speechseq fork server did not start (exit {proc.wait()})")
        atexit.register(proc.kill)
        _server.update(socket=path, proc=proc)
    return _server["socket"]


def write_speechseq(bin_dir: Path) -> None:
    """``bin_dir/speechseq``: this checkout's command line, run by the fork server."""
    (bin_dir / "speechseq").write_text(forkserver.shim_text(sys.executable, _server_socket()))
    (bin_dir / "speechseq").chmod(0o755)


def recipe_env(tmp: Path) -> dict:
    """PATH with a `speechseq` that runs this checkout (whatever is installed) and a `python`
    that is this interpreter; one thread."""
    bin_dir = tmp / "bin"
    if not bin_dir.is_dir():
        bin_dir.mkdir()
        write_speechseq(bin_dir)
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
