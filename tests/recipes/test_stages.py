"""recipes/utils/stages.sh: --stage/--stop-stage selection, .done markers, option parsing."""

import shutil
import subprocess
from pathlib import Path

import pytest

STAGES = Path(__file__).parents[2] / "recipes" / "utils" / "stages.sh"

RECIPE = f"""#!/usr/bin/env bash
set -euo pipefail
stage=0
stop_stage=100
num_utts=10
. {STAGES} "$@"
for n in 0 1 2; do
  if run_stage $n "step $n"; then
    echo "ran $n with num_utts=$num_utts"
    done_stage $n
  fi
done
"""

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _run(tmp_path, *args):
    (tmp_path / "run.sh").write_text(RECIPE)
    return subprocess.run(
        ["bash", "run.sh", *args], cwd=tmp_path, capture_output=True, text=True, timeout=30
    )


def _ran(proc) -> list[str]:
    return [ln.split()[1] for ln in proc.stdout.splitlines() if ln.startswith("ran ")]


def test_all_stages_run_and_leave_done_markers(tmp_path):
    proc = _run(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert _ran(proc) == ["0", "1", "2"]
    assert "== stage 1: step 1 ==" in proc.stdout
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [
        ".done.0",
        ".done.1",
        ".done.2",
    ]


def test_stage_and_stop_stage_select_a_range(tmp_path):
    proc = _run(tmp_path, "--stage", "1", "--stop-stage", "1")
    assert proc.returncode == 0, proc.stderr
    assert _ran(proc) == ["1"]
    assert not (tmp_path / "data" / ".done.0").exists()


def test_a_done_marker_skips_its_stage_and_says_so(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / ".done.1").touch()
    proc = _run(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert _ran(proc) == ["0", "2"]
    assert "stage 1 (step 1): done before, skipping (rm data/.done.1 to redo)" in proc.stdout
    assert _ran(_run(tmp_path)) == []  # a rerun after a finished run does nothing


def test_recipe_settings_are_options_with_dashes(tmp_path):
    proc = _run(tmp_path, "--num-utts", "7", "--stop-stage", "0")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "ran 0 with num_utts=7"


@pytest.mark.parametrize(
    "args, said",
    [
        (["--num-spk", "3"], "unknown option --num-spk"),
        (["--stage"], "unknown option --stage (or no value given)"),
        (["stage"], "unexpected argument stage"),
    ],
)
def test_an_unknown_option_or_argument_exits_2_before_any_stage(tmp_path, args, said):
    proc = _run(tmp_path, *args)
    assert proc.returncode == 2
    assert said in proc.stderr and proc.stdout == ""
    assert not (tmp_path / "data").exists()
