"""recipes/utils/stages.sh: --stage/--stop-stage selection, markers that record the settings,
option parsing and one log per stage — run on a fake recipe, no training."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

RECIPES = Path(__file__).parents[2] / "recipes"
STAGES = RECIPES / "utils" / "stages.sh"

RECIPE = f"""#!/usr/bin/env bash
set -euo pipefail
stage=0
stop_stage=100
num_utts=10
config=conf.yaml
helper=x  # a variable, not a setting: no option
settings="num_utts config"
{{extra}}
. {STAGES} "$@"
for n in 0 1 2; do
  if run_stage $n "step $n: the Work"; then
    echo "ran $n with num_utts=$num_utts $(resume_flag)"
    echo "note $n on stderr" >&2
    if [ "$n" = "${{FAIL_AT-}}" ]; then echo "stage $n breaks" >&2; exit 3; fi
    done_stage $n
  fi
done
"""

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _run(tmp_path, *args, env=None, extra=""):
    (tmp_path / "run.sh").write_text(RECIPE.replace("{extra}", extra))
    if not (tmp_path / "conf.yaml").exists():
        (tmp_path / "conf.yaml").write_text("hidden: 8\n")
    return subprocess.run(
        ["bash", "run.sh", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )


def _ran(proc) -> list[str]:
    return [ln.split()[1] for ln in proc.stdout.splitlines() if ln.startswith("ran ")]


def _markers(tmp_path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "data").iterdir())


def test_all_stages_run_and_leave_markers_with_the_settings(tmp_path):
    proc = _run(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert _ran(proc) == ["0", "1", "2"]
    assert "== stage 1: step 1: the Work ==" in proc.stdout
    assert _markers(tmp_path) == [".done.0", ".done.1", ".done.2"]
    lines = (tmp_path / "data" / ".done.1").read_text().splitlines()
    assert re.fullmatch(r"hash [0-9a-f]{16}", lines[1])
    assert lines[2] == "num_utts=10"
    assert re.fullmatch(r"config=conf\.yaml \(sha256 [0-9a-f]{16}\)", lines[3])


def test_stage_and_stop_stage_select_a_range(tmp_path):
    proc = _run(tmp_path, "--stage", "1", "--stop-stage", "1")
    assert proc.returncode == 0, proc.stderr
    assert _ran(proc) == ["1"]
    assert _markers(tmp_path) == [".done.1"]


def test_a_marker_with_the_same_settings_skips_its_stage_and_says_so(tmp_path):
    _run(tmp_path)
    proc = _run(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert _ran(proc) == []
    assert (
        "stage 1 (step 1: the Work): done before with these settings, skipping (rm data/.done.1 to redo)"
        in proc.stdout
    )


def test_without_a_marker_a_stage_runs_and_later_stages_are_redone(tmp_path):
    _run(tmp_path)
    (tmp_path / "data" / ".done.1").unlink()
    proc = _run(tmp_path)
    assert _ran(proc) == ["1", "2"]  # stage 2 was made from stage 1's old output


def test_an_explicit_stage_reruns_it_whatever_the_markers_say(tmp_path):
    _run(tmp_path)
    proc = _run(tmp_path, "--stage", "1")
    assert proc.returncode == 0, proc.stderr
    assert _ran(proc) == ["1", "2"]
    assert "skipping" not in proc.stdout


def test_rerunning_a_stage_alone_removes_the_markers_after_it(tmp_path):
    _run(tmp_path)
    proc = _run(tmp_path, "--stage", "1", "--stop-stage", "1")
    assert _ran(proc) == ["1"]
    assert _markers(tmp_path) == [".done.0", ".done.1"]
    assert _ran(_run(tmp_path)) == ["2"]


def test_other_settings_redo_the_stage_and_the_later_ones_naming_what_changed(tmp_path):
    # the case: `make demo`, then the full-size command
    _run(tmp_path)
    proc = _run(tmp_path, "--num-utts", "8000")
    assert proc.returncode == 0, proc.stderr
    assert _ran(proc) == ["0", "1", "2"]
    assert proc.stdout.splitlines()[-1] == "ran 2 with num_utts=8000 --overwrite"
    assert (
        "stage 0: settings changed since data/.done.0 was written: num_utts 10 -> 8000"
        " — redoing stage 0 and the stages after it"
    ) in proc.stdout
    assert "num_utts=8000" in (tmp_path / "data" / ".done.2").read_text()
    assert _ran(_run(tmp_path, "--num-utts", "8000")) == []
    assert _ran(_run(tmp_path)) == ["0", "1", "2"]  # back to the default: redone again


def test_a_changed_stop_stage_or_stage_range_is_not_a_changed_setting(tmp_path):
    _run(tmp_path, "--stop-stage", "1")
    proc = _run(tmp_path)
    assert _ran(proc) == ["2"]


def test_an_edited_file_named_by_a_setting_redoes_the_stages(tmp_path):
    _run(tmp_path)
    (tmp_path / "conf.yaml").write_text("hidden: 16\n")
    proc = _run(tmp_path)
    assert _ran(proc) == ["0", "1", "2"]
    assert re.search(r"config conf\.yaml \(sha256 \w+\) -> conf\.yaml \(sha256 \w+\)", proc.stdout)


def test_a_marker_without_settings_from_an_older_recipe_is_redone(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / ".done.0").touch()
    proc = _run(tmp_path)
    assert _ran(proc) == ["0", "1", "2"]
    assert "data/.done.0 records no settings (an older recipe made it)" in proc.stdout


def test_each_stage_writes_its_own_log_with_stdout_and_stderr(tmp_path):
    proc = _run(tmp_path)
    assert proc.returncode == 0, proc.stderr
    logs = sorted(p.name for p in (tmp_path / "exp" / "log").iterdir())
    assert logs == [
        "stage0.step-0-the-work.log",
        "stage1.step-1-the-work.log",
        "stage2.step-2-the-work.log",
    ]
    text = (tmp_path / "exp" / "log" / "stage1.step-1-the-work.log").read_text()
    assert "ran 1 with num_utts=10" in text and "note 1 on stderr" in text
    assert "ran 0" not in text and "ran 2" not in text
    assert "note 1 on stderr" in proc.stderr  # still on the terminal too


def test_a_failing_stage_keeps_its_exit_code_leaves_no_marker_and_names_its_log(tmp_path):
    import os

    proc = _run(tmp_path, env={**os.environ, "FAIL_AT": "1"})
    assert proc.returncode == 3
    assert _ran(proc) == ["0", "1"]
    assert _markers(tmp_path) == [".done.0", ".started.1"]
    assert "run.sh: stage 1 failed (exit 3) — see exp/log/stage1.step-1-the-work.log" in proc.stderr
    log = (tmp_path / "exp" / "log" / "stage1.step-1-the-work.log").read_text()
    assert "stage 1 breaks" in log


def _flags(proc) -> dict[str, str]:
    return {
        ln.split()[1]: ln.split()[-1] for ln in proc.stdout.splitlines() if ln.startswith("ran ")
    }


def test_an_interrupted_stage_with_the_same_settings_is_resumed_else_overwritten(tmp_path):
    import os

    proc = _run(tmp_path, env={**os.environ, "FAIL_AT": "1"})
    assert _flags(proc) == {"0": "--overwrite", "1": "--overwrite"}
    proc = _run(tmp_path)  # the same settings: the training of stage 1 is continued
    assert proc.returncode == 0, proc.stderr
    assert _flags(proc) == {"1": "--resume", "2": "--overwrite"}
    assert (
        "continuing the interrupted attempt with the same settings (data/.started.1)" in proc.stdout
    )
    assert _markers(tmp_path) == [".done.0", ".done.1", ".done.2"]


def test_an_interrupted_stage_rerun_with_other_settings_starts_afresh(tmp_path):
    import os

    _run(tmp_path, extra=PER_STAGE_1, env={**os.environ, "FAIL_AT": "1"})
    proc = _run(tmp_path, "--config", "other.yaml", extra=PER_STAGE_1)
    assert _flags(proc) == {"1": "--overwrite", "2": "--overwrite"}
    assert "the interrupted attempt had other settings (config conf.yaml" in proc.stdout


def test_an_earlier_stage_redone_forgets_a_later_interrupted_attempt(tmp_path):
    import os

    _run(tmp_path, env={**os.environ, "FAIL_AT": "1"})
    proc = _run(tmp_path, "--stage", "0")  # stage 0 redone: stage 1's checkpoints are stale
    assert _flags(proc) == {"0": "--overwrite", "1": "--overwrite", "2": "--overwrite"}


def test_an_explicit_stage_continues_its_interrupted_attempt(tmp_path):
    import os

    _run(tmp_path, env={**os.environ, "FAIL_AT": "1"})
    proc = _run(tmp_path, "--stage", "1")
    assert _flags(proc) == {"1": "--resume", "2": "--overwrite"}


PER_STAGE_1 = 'stage_settings_0="num_utts"; stage_settings_1="config"'
PER_STAGE = 'stage_settings_0="num_utts"; stage_settings_1=""; stage_settings_2="config"'


def test_a_stage_that_names_its_settings_is_redone_only_when_they_change(tmp_path):
    _run(tmp_path, extra=PER_STAGE)
    assert (tmp_path / "data" / ".done.1").read_text().splitlines()[2:] == []
    assert (tmp_path / "data" / ".done.2").read_text().splitlines()[2].startswith("config=")
    proc = _run(tmp_path, "--config", "other.yaml", extra=PER_STAGE)
    assert proc.returncode == 0, proc.stderr
    assert _ran(proc) == ["2"]
    assert "config conf.yaml (sha256" in proc.stdout and "-> other.yaml" in proc.stdout
    proc = _run(tmp_path, "--num-utts", "3", "--config", "other.yaml", extra=PER_STAGE)
    assert _ran(proc) == ["0", "1", "2"]  # stage 0 changed: every later stage is redone


def test_a_stage_setting_that_is_no_setting_is_a_recipe_error(tmp_path):
    proc = _run(tmp_path, extra='stage_settings_1="num_uts"')
    assert proc.returncode == 2
    assert "stage_settings_1 names 'num_uts', which is not in settings=" in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize(
    "args, said",
    [
        (["--num-spk", "3"], "unknown option --num-spk"),
        (["--helper", "3"], "unknown option --helper"),  # a variable but no setting
        (["--stage"], "unknown option --stage (or no value given)"),
        (["stage"], "unexpected argument stage"),
        (["--stage", "two"], "--stage two: must be a stage number"),
    ],
)
def test_an_unknown_option_or_argument_exits_2_before_any_stage(tmp_path, args, said):
    proc = _run(tmp_path, *args)
    assert proc.returncode == 2
    assert said in proc.stderr and proc.stdout == ""
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("recipe", sorted(p.parent.name for p in RECIPES.glob("*/run.sh")))
def test_every_recipe_follows_the_conventions(recipe):
    run_sh = RECIPES / recipe / "run.sh"
    text = run_sh.read_text()
    assert "set -euo pipefail" in text
    head = text.split(". ../utils/stages.sh")[0]
    settings = re.search(r'^settings="([^"]*)"', head, re.M)
    assert settings, f'{run_sh}: declare settings="..." before sourcing stages.sh'
    for name in settings.group(1).split():
        assert re.search(rf"(^|[ ;]){name}=", head, re.M), (
            f"{run_sh}: setting {name} has no default"
        )
    for var, names in re.findall(r'(stage_settings_\d+)="([^"]*)"', head):
        assert set(names.split()) <= set(settings.group(1).split()), f"{run_sh}: {var}"
    # a stage that names its settings uses no other setting directly
    names = settings.group(1).split()
    declared = dict(re.findall(r'stage_settings_(\d+)="([^"]*)"', head))
    for n, body in re.findall(r"if run_stage (\d+) .*?\n(.*?)\nfi\n", text, re.S):
        if n in declared:
            used = {v for v in names if re.search(rf"\$\{{?{v}\b", body)}
            assert used <= set(declared[n].split()), f"{run_sh}: stage {n} uses {used}"
    stages = re.findall(r"run_stage (\d+)", text)
    assert stages == [n for n in re.findall(r"done_stage (\d+)", text)], (
        "every stage marks itself done"
    )
    proc = subprocess.run(
        ["bash", str(run_sh), "--no-such-setting", "1"], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2 and "unknown option --no-such-setting" in proc.stderr


@pytest.mark.parametrize(
    "recipe, option, allowed",
    [
        ("synth_digits", "--both", "mix or union"),
        ("synth_commands", "--both", "mix or union"),
        ("synth_commands", "--hybrid-nn-feats", "fbank or mfcc"),
        ("synth_digits_hybrid", "--nn-feats", "fbank or mfcc"),
        ("synth_digits_hybrid", "--ctc-bootstrap", "false or true"),
        ("synth_digits_hybrid", "--dry-ali", "false or true"),
        ("synth_digits_hybrid", "--cross-engine", "false or true"),
        ("synth_digits_hybrid", "--augment", "false or true"),
        ("synth_digits_hybrid", "--perturb", "false, true or wide"),
        ("synth_digits_hybrid", "--word-phones", "false or true"),
        ("synth_digits", "--perturb", "false, true or wide"),
        ("synth_commands", "--perturb", "false, true or wide"),
        ("synth_commands", "--augment", "false or true"),
        ("synth_commands", "--hybrid", "false or true"),
        ("synth_digits", "--cross-engine", "false or true"),
    ],
)
def test_a_choice_setting_takes_its_choices_and_nothing_else(tmp_path, recipe, option, allowed):
    copy = tmp_path / recipe
    shutil.copytree(RECIPES / recipe, copy, ignore=shutil.ignore_patterns("data", "exp"))
    shutil.copytree(RECIPES / "utils", tmp_path / "utils")
    proc = subprocess.run(
        ["bash", "run.sh", option, "all"], cwd=copy, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2
    assert f"{option} all: use {allowed}" in proc.stderr and proc.stdout == ""
    assert not (copy / "data").exists() and not (copy / "exp").exists()


@pytest.mark.parametrize(
    "args, said",
    [
        (
            ["--augment", "true", "--dry-ali", "true"],
            "--augment true and --dry-ali true: data/dry has no augmented copy to align — use one of them",
        ),
        (
            ["--ctc-bootstrap", "true", "--word-phones", "true"],
            "--ctc-bootstrap true and --word-phones true: the phone CTC model's units are CMUdict's"
            " phones, not the words' own — use one of them",
        ),
    ],
)
def test_digits_hybrid_refuses_settings_that_do_not_go_together(tmp_path, args, said):
    copy = tmp_path / "synth_digits_hybrid"
    shutil.copytree(
        RECIPES / "synth_digits_hybrid", copy, ignore=shutil.ignore_patterns("data", "exp")
    )
    shutil.copytree(RECIPES / "utils", tmp_path / "utils")
    proc = subprocess.run(
        ["bash", "run.sh", *args], cwd=copy, capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == f"run.sh: {said}"
    assert not (copy / "data").exists() and not (copy / "exp").exists()
