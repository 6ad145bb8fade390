"""Kill a speechseq command at each of its renames, in a subprocess, and look at what it left.

``CommandRunner`` starts one helper process that imports speechseq's heavy modules (torch,
faiss) once; each run is a fork of it that runs ``speechseq ARGS`` with
``SPEECHSEQ_FAULT_AT_RENAME=N`` in its environment, so :mod:`speechseq.fileio` SIGKILLs it
just before its Nth rename, replace or link step. :func:`kill_at_every_step` does that for
N = 1, 2, ... until a run gets through, calling the test's checks after every kill, and
returns how many steps the command has.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from speechseq.fileio import FAULT_ENV

ROOT = Path(__file__).resolve().parents[1]

_HELPER = r"""
import json, os, sys, traceback
import faiss, torch  # noqa: F401  imported once here, not in every run
import speechseq.features.extract, speechseq.std.qbe  # noqa: F401
from speechseq.cli.main import app

for line in sys.stdin:
    req = json.loads(line)
    pid = os.fork()
    if pid == 0:
        os.environ.update(req["env"])
        fd = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        try:
            app(req["args"], prog_name="speechseq")
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    killed = os.WIFSIGNALED(status) and os.WTERMSIG(status)
    print(json.dumps({"signal": killed or 0, "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None}), flush=True)
"""


@dataclass
class Run:
    killed: bool  # ended by SIGKILL (the fault hook)
    code: int | None  # exit status when it ended by itself
    output: str  # stdout and stderr


class CommandRunner:
    """Runs ``speechseq`` commands as forks of one process that has imported speechseq."""

    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        env.pop(FAULT_ENV, None)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _HELPER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        self.runs = 0

    def run(self, args: list[str], fault: int | None = None) -> Run:
        self.runs += 1
        log = self.log_dir / f"run{self.runs}.log"
        env = {FAULT_ENV: str(fault)} if fault is not None else {}
        self.proc.stdin.write(json.dumps({"args": args, "env": env, "log": str(log)}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the command runner died (exit {self.proc.wait()})")
        status = json.loads(line)
        return Run(status["signal"] == signal.SIGKILL, status["code"], log.read_text())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def kill_at_every_step(
    runner: CommandRunner,
    args: list[str],
    reset: Callable[[], None],
    after_kill: Callable[[int], None],
    limit: int = 50,
) -> int:
    """Run ``args`` killed at step 1, 2, ... (``reset()`` before each) until one run ends by
    itself; ``after_kill(n)`` checks what the run killed at step n left. Returns the steps."""
    for n in range(1, limit + 1):
        reset()
        run = runner.run(args, fault=n)
        if not run.killed:
            assert run.code == 0, f"the run with no fault left failed:\n{run.output}"
            return n - 1
        after_kill(n)
    raise AssertionError(f"{args}: still killed at step {limit}")
