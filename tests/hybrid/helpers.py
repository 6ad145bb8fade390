"""Helpers shared by the hybrid tests and their fixtures (test modules never import each other)."""

from __future__ import annotations

import re

from speechseq.cli.main import app
from tests.cli.helpers import runner

LEX = "one W AH N\ntwo T UW\nthree TH R IY\n"  # the 3-word lexicon checked by hand

TINY_HYBRID = (
    "encoder: {subsample: none, hidden: 16, layers: 1, dropout: 0.0}\n"
    "train: {max_epochs: 1, max_frames: 4000, warmup_steps: 2, device: cpu, checkpoint_every: 0}\n"
    "hybrid: {mono_iters: 2, mono_gauss: 80}\n"
)


def ok(args):
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res.output


def one_error(args, code, pattern):
    res = runner.invoke(app, [str(a) for a in args])
    out = res.output
    assert "Traceback" not in out, out
    assert res.exit_code == code, f"exit {res.exit_code}, wanted {code}:\n{out}"
    errors = [line for line in out.splitlines() if line.startswith(("error:", "Error"))]
    assert len(errors) == 1, out
    assert re.search(pattern, out), f"{pattern!r} not in {out!r}"
