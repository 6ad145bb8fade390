"""recipes/utils/parallel.sh: the digits recipe's feature stage run as local background jobs and
as a Slurm array job (a fake ``sbatch`` on PATH that runs the array tasks here, one after the
other, with SLURM_ARRAY_TASK_ID set) gives the same features; its decode stage and an alignment
run as array jobs and merged give the files of one whole run; a failing part fails the run and
names its log; the spoken-term recipe's archive embedded as an array job and merged is the
whole embedding."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import kaldiio
import numpy as np
import pytest

from tests.recipes.helpers import run_recipe, write_speechseq

REPO = Path(__file__).parents[2]
RECIPES = REPO / "recipes"
TABLES = ("wav.scp", "text", "utt2spk", "spk2utt", "utt2dur")

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")

FAKE_SBATCH = """#!/usr/bin/env bash
# A stand-in for Slurm's sbatch: runs every array task here, in turn, as Slurm would run it.
array="" nodes=1 out="slurm-%a.out" script=""
for a in "$@"; do
  case "$a" in
    --array=*) array=${a#--array=} ;;
    --nodes=*) nodes=${a#--nodes=} ;;
    --output=*) out=${a#--output=} ;;
    --*) ;;
    *) script=$a ;;
  esac
done
echo "$*" >> "$FAKE_SBATCH_CALLS"
rc=0
if [ -z "$array" ]; then  # one job (a training): its nodes are all this machine
  SLURM_JOB_ID=$$ SLURM_NNODES=$nodes SLURM_JOB_NODELIST=localhost bash "$script" > "$out" 2>&1 || rc=1
  exit $rc
fi
for i in $(seq "${array%-*}" "${array#*-}"); do
  SLURM_ARRAY_TASK_ID=$i bash "$script" > "${out//%a/$i}" 2>&1 || rc=1
done
exit $rc
"""

# Slurm's srun inside a job, standing in: the command once per task (one per node), all at once
# here, each with its SLURM_NODEID / SLURM_PROCID; fails when one of them fails.
FAKE_SRUN = """#!/usr/bin/env bash
ntasks=1
while [ $# -gt 0 ]; do
  case "$1" in
    --ntasks=*) ntasks=${1#--ntasks=}; shift ;;
    --*) shift ;;
    *) break ;;
  esac
done
echo "srun --ntasks=$ntasks $*" >> "$FAKE_SBATCH_CALLS"
pids=()
for i in $(seq 0 $((ntasks - 1))); do
  SLURM_NODEID=$i SLURM_PROCID=$i "$@" &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
exit $rc
"""

# scontrol show hostnames LIST: one name a line (here the list is one name)
FAKE_SCONTROL = """#!/usr/bin/env bash
echo "$3"
"""


def _workspace(
    tmp: Path, corpus: Path, name: str = "synth_digits", sets=("train", "dev", "test")
) -> tuple[Path, dict]:
    """A copy of a recipe (the digits one by default; and utils) whose data dirs ``sets`` are the
    tiny corpus's without features, a ``speechseq`` on PATH running this checkout, and the fake
    sbatch."""
    recipe = tmp / "recipes" / name
    # the recipe's scripts only: a checkout that ran the demo has data/ and exp/ there
    shutil.copytree(RECIPES / name, recipe, ignore=shutil.ignore_patterns("data", "exp"))
    shutil.copytree(RECIPES / "utils", tmp / "recipes" / "utils")
    for s in sets:
        (recipe / "data" / s).mkdir(parents=True)
        for t in TABLES:
            shutil.copy(corpus / s / t, recipe / "data" / s / t)
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    write_speechseq(bin_dir)
    (bin_dir / "torchrun").write_text(
        f'#!/usr/bin/env bash\nexec {sys.executable} -m torch.distributed.run "$@"\n'
    )
    (bin_dir / "sbatch").write_text(FAKE_SBATCH)
    (bin_dir / "srun").write_text(FAKE_SRUN)
    (bin_dir / "scontrol").write_text(FAKE_SCONTROL)
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    env = dict(os.environ)
    env.update(
        PATH=f"{bin_dir}:{env['PATH']}",
        PYTHONPATH=str(REPO),
        FAKE_SBATCH_CALLS=str(tmp / "sbatch_calls"),
        OMP_NUM_THREADS="1",
    )
    return recipe, env


def _speechseq(recipe: Path, env: dict, *args) -> subprocess.CompletedProcess:
    """``speechseq ARGS`` in ``recipe`` with the workspace's environment (text output)."""
    return subprocess.run(
        ["speechseq", *map(str, args)],
        cwd=recipe,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _feature_stage(tmp: Path, corpus: Path, cmd: str) -> tuple[Path, subprocess.Popen]:
    """Start the digits recipe's feature stage in a workspace of its own (not waited for)."""
    recipe, env = _workspace(tmp, corpus)
    env["SPEECHSEQ_CMD"] = cmd
    proc = subprocess.Popen(
        ["bash", "run.sh", "--stage", "3", "--stop-stage", "3"],
        cwd=recipe,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return recipe, proc


def test_slurm_array_and_local_jobs_give_the_same_features(digits_corpus, tmp_path):
    # both runs at once: each is a chain of one-thread processes, so together they take half the time
    local, p1 = _feature_stage(tmp_path / "local", digits_corpus, "local")
    slurm, p2 = _feature_stage(tmp_path / "slurm", digits_corpus, "slurm")
    out1, out2 = p1.communicate(timeout=240)[0], p2.communicate(timeout=240)[0]
    assert p1.returncode == 0, out1
    assert p2.returncode == 0, out2
    calls = (tmp_path / "slurm" / "sbatch_calls").read_text().splitlines()
    assert len(calls) == 3 and all("--wait --array=1-2" in c for c in calls)
    assert not (tmp_path / "local" / "sbatch_calls").exists()
    for s in ("train", "dev", "test"):
        a = (local / "data" / s / "feats.scp").read_text()
        b = (slurm / "data" / s / "feats.scp").read_text()
        assert a.replace(str(tmp_path / "local"), "ROOT") == b.replace(
            str(tmp_path / "slurm"), "ROOT"
        )
        assert len(a.splitlines()) == len((digits_corpus / s / "utt2spk").read_text().splitlines())
        assert not (local / "data" / s / "split2").exists()  # merged, then removed
        mats = dict(kaldiio.load_scp(str(slurm / "data" / s / "feats.scp")))
        for utt, m in mats.items():
            assert m.shape[1] == 80 and np.isfinite(m).all(), utt
    logs = sorted(p.name for p in (slurm / "exp" / "log" / "feats_train").iterdir())
    assert {"1.log", "2.log", "job.sh"} <= set(logs)


@pytest.mark.parametrize("cmd", ["local", "slurm"])
def test_a_failing_part_fails_the_run_and_names_its_log(digits_corpus, tmp_path, cmd):
    recipe, env = _workspace(tmp_path, digits_corpus)
    script = (
        "set -euo pipefail\n"
        f"nj=2 cmd={cmd}\n"
        ". ../utils/parallel.sh\n"
        # part 2 fails; part 1 succeeds
        'run_parts data/dev try bash -c \'test "$(basename "$0")" = 1\' PART\n'
        "echo not reached\n"
    )
    (recipe / "try.sh").write_text(script)
    proc = subprocess.run(
        ["bash", "try.sh"], cwd=recipe, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1 and "not reached" not in proc.stdout
    assert "part 2 of data/dev failed (1) — see exp/log/try/2.log" in proc.stderr
    assert "part 1 " not in proc.stderr


def test_the_decode_stage_runs_each_decode_as_an_array_and_merges_it(
    digits_corpus, tiny_model, tmp_path
):
    recipe, env = _workspace(tmp_path, digits_corpus)
    shutil.rmtree(recipe / "data" / "test")
    shutil.copytree(digits_corpus / "test", recipe / "data" / "test")  # with its features
    shutil.copytree(tiny_model, recipe / "exp" / "ctc")
    env["SPEECHSEQ_CMD"] = "slurm"
    proc = run_recipe(recipe, "--stage", "5", "--stop-stage", "5", env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = (tmp_path / "sbatch_calls").read_text().splitlines()
    assert len(calls) == 3 and all("--wait --array=1-2" in c for c in calls)
    assert not (recipe / "data" / "test" / "split2").exists()
    decodes = {
        "decode_test_greedy": [],
        "decode_test_beam10": ["--beam", "10"],
        "decode_test_lexicon": ["--beam", "10", "--lexicon", "data/lang/lexicon.txt"],
    }
    for name, opts in decodes.items():
        got = recipe / "exp" / "ctc" / name
        assert sorted(p.name for p in got.iterdir()) == sorted(
            ["hyp.txt", "per_spk", "per_utt", "results.json", "wer"]
        ), name  # the parts' dirs went with the merge
        assert {"1.log", "2.log", "job.sh"} <= {
            p.name for p in (recipe / "exp/log" / name).iterdir()
        }
        assert f"exp/ctc/{name}: {(got / 'wer').read_text().splitlines()[0]}" in proc.stdout
        # the same command on the whole test set, in one process
        whole = tmp_path / "whole" / name
        res = _speechseq(recipe, env, "decode", "exp/ctc", "data/test", *opts, "--out", whole)
        assert res.returncode == 0, res.stderr
        for f in ("hyp.txt", "wer", "per_utt", "per_spk"):
            assert (got / f).read_bytes() == (whole / f).read_bytes(), (name, f)


def test_the_commands_dev_grids_run_as_arrays_and_choose_the_test_point(
    digits_corpus, tiny_model, tmp_path
):
    # the commands recipe's stage 5 on the digits corpus (what it needs: a CTC model, a 3-gram,
    # dev and test with features, the training text)
    recipe, env = _workspace(tmp_path, digits_corpus, "synth_commands", sets=("train",))
    for s in ("dev", "test"):
        shutil.copytree(digits_corpus / s, recipe / "data" / s)
    shutil.copytree(tiny_model, recipe / "exp" / "ctc")
    env["SPEECHSEQ_CMD"] = "slurm"
    grid = ["--beam", "4", "--lm-weights", "0.5 1.5", "--word-bonuses", "0 2"]
    for stage in ("3", "5"):
        proc = run_recipe(recipe, "--stage", stage, "--stop-stage", stage, *grid, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = (tmp_path / "sbatch_calls").read_text().splitlines()
    assert len(calls) == 5 and all("--wait --array=1-2" in c for c in calls)  # 2 dev grids, 3 tests
    ctc = recipe / "exp" / "ctc"
    for kind, extra in (("3gram", []), ("3gram_lexicon", ["--lexicon", "data/lang/lexicon.txt"])):
        # the dev grid, merged from its parts, is the grid decoded whole
        whole = tmp_path / "whole" / kind
        opts = ["--beam", "4", "--lm", "data/lm/3gram.arpa", *extra]
        opts += ["--lm-weight", "0.5,1.5", "--word-bonus", "0,2", "--out", str(whole)]
        res = _speechseq(recipe, env, "decode", "exp/ctc", "data/dev", *opts)
        assert res.returncode == 0, res.stderr
        points = sorted(p.name for p in whole.iterdir())
        assert len(points) == 4
        assert sorted(p.name for p in (ctc / f"decode_dev_{kind}").iterdir()) == points
        wers = {}
        for point in points:
            for f in ("hyp.txt", "wer", "per_utt"):
                got = (ctc / f"decode_dev_{kind}" / point / f).read_bytes()
                assert got == (whole / point / f).read_bytes(), (kind, point, f)
            wers[point] = float((whole / point / "wer").read_text().split()[1])
        # the test decode uses the dev point with the lowest WER (the first such in C order)
        best = min(points, key=lambda p: (wers[p], p))
        line = next(x for x in proc.stdout.splitlines() if x.startswith(f"best on dev ({kind}):"))
        assert f"decode_dev_{kind}/{best} %WER {wers[best]:.2f}" in line
        chosen = json.loads((ctc / f"decode_test_{kind}" / "results.json").read_text())["options"]
        point = json.loads((whole / best / "results.json").read_text())["options"]
        assert (chosen["lm_weight"], chosen["word_bonus"]) == (
            point["lm_weight"],
            point["word_bonus"],
        )
        assert chosen["lexicon"] == point["lexicon"]


@pytest.mark.parametrize("cmd", ["local", "slurm"])
def test_part_and_job_become_each_parts_dir_and_number(digits_corpus, tmp_path, cmd):
    recipe, env = _workspace(tmp_path, digits_corpus)
    script = (
        "set -euo pipefail\n"
        f"nj=2 cmd={cmd}\n"
        ". ../utils/parallel.sh\n"
        "mkdir out\n"
        'run_parts data/dev try bash -c \'echo "$0" > "$1"\' PART out/part-JOB.txt\n'
    )
    (recipe / "try.sh").write_text(script)
    proc = subprocess.run(
        ["bash", "try.sh"], cwd=recipe, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    for k in (1, 2):
        assert (recipe / "out" / f"part-{k}.txt").read_text() == f"data/dev/split2/{k}\n"


def test_alignment_runs_as_an_array_and_merges_to_the_whole_alignment(
    digits_corpus, tiny_model, tmp_path
):
    recipe, env = _workspace(tmp_path, digits_corpus)
    shutil.rmtree(recipe / "data" / "test")
    shutil.copytree(digits_corpus / "test", recipe / "data" / "test")  # with its features
    shutil.copytree(tiny_model, recipe / "exp" / "ctc")
    script = (
        "set -euo pipefail\n"
        "nj=2 cmd=slurm\n"
        ". ../utils/parallel.sh\n"
        "align_parts exp/ctc data/test exp/ali/words.ctm\n"
        "speechseq align exp/ctc data/test --out exp/whole/words.ctm\n"
    )
    (recipe / "try.sh").write_text(script)
    proc = subprocess.run(
        ["bash", "try.sh"], cwd=recipe, env=env, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = (tmp_path / "sbatch_calls").read_text().splitlines()
    assert len(calls) == 1 and "--wait --array=1-2" in calls[0]
    assert sorted(p.name for p in (recipe / "exp" / "ali").iterdir()) == [
        "words.ctm",
        "words.units.ctm",
    ]
    for name in ("words.ctm", "words.units.ctm"):
        got = (recipe / "exp" / "ali" / name).read_bytes()
        assert got and got == (recipe / "exp" / "whole" / name).read_bytes(), name


def test_the_std_embed_stage_runs_as_an_array_and_merges_to_the_whole_embedding(
    words_corpus, tiny_embedder, tmp_path
):
    recipe, env = _workspace(tmp_path, words_corpus, "synth_std", ("archive",))
    shutil.copy(words_corpus / "archive" / "ctm", recipe / "data" / "archive")
    shutil.copytree(tiny_embedder, recipe / "exp" / "embedder")
    env["SPEECHSEQ_CMD"] = "slurm"
    proc = run_recipe(recipe, "--stage", "4", "--stop-stage", "4", env=env, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = (tmp_path / "sbatch_calls").read_text().splitlines()
    assert len(calls) == 1 and "--wait --array=1-2" in calls[0]
    vecs = recipe / "exp" / "archive_vecs"
    assert sorted(p.name for p in vecs.iterdir()) == ["meta.json", "segments.tsv", "vectors.npy"]
    assert not (recipe / "data" / "archive" / "split2").exists()
    assert {"1.log", "2.log", "job.sh"} <= {
        p.name for p in (recipe / "exp" / "log" / "archive_vecs").iterdir()
    }
    whole = tmp_path / "whole"
    res = subprocess.run(
        ["speechseq", "embed", "exp/embedder", "data/archive", "--out", str(whole)],
        cwd=recipe,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert (vecs / "segments.tsv").read_text() == (whole / "segments.tsv").read_text()
    np.testing.assert_allclose(
        np.load(vecs / "vectors.npy"), np.load(whole / "vectors.npy"), rtol=0, atol=1e-6
    )
    index = (recipe / "exp" / "archive_index" / "segments.tsv").read_text()
    assert index == (whole / "segments.tsv").read_text()  # the index over the merged vectors


TINY_CTC = (
    "encoder: {subsample: stack3, hidden: 16, layers: 1}\n"
    "train: {max_epochs: 1, max_frames: 2000, checkpoint_every: 0}\n"
    "ctc: {spec_augment: false}\n"
)


def _train(tmp: Path, corpus: Path, settings: str, timeout: int = 60):
    """(recipe dir, finished process) of ``_train_script`` run in a fresh digits workspace."""
    recipe, env = _workspace(tmp, corpus, sets=())
    script = _train_script(recipe, corpus, settings)
    proc = subprocess.run(
        ["bash", script.name], cwd=recipe, env=env, capture_output=True, text=True, timeout=timeout
    )
    return recipe, proc


def _train_script(recipe: Path, corpus: Path, settings: str) -> Path:
    """recipe/train.sh: cmd.sh's settings changed by ``settings`` (shell lines), then one
    ``$train_cmd train-ctc`` of the tiny corpus with a tiny model into exp/ctc."""
    (recipe / "tiny.yaml").write_text(TINY_CTC)
    script = recipe / "train.sh"
    script.write_text(
        "set -euo pipefail\n. ./cmd.sh\n"
        + settings
        + f"\n$train_cmd train-ctc {corpus}/train --dev {corpus}/dev --out exp/ctc --config tiny.yaml\n"
        + "echo trained\n"
    )
    return script


@pytest.mark.parametrize(
    "settings",
    [
        # one job of 2 nodes (one process each), srun starting torchrun on each: multi-node DDP
        "cmd=slurm nnodes=2 ngpu=1",
        # 2 processes on this node, torchrun --standalone (as SPEECHSEQ_NGPU=2 with cmd=local;
        # the core's DDP under torchrun --nproc_per_node 2 is also in tests/core/test_ddp.py)
        pytest.param("cmd=local nnodes=1 ngpu=2", marks=pytest.mark.slow),
    ],
)
def test_a_training_stage_runs_under_torchrun_with_two_processes(
    digits_corpus, tmp_path, free_port, settings
):
    recipe, proc = _train(tmp_path, digits_corpus, f"{settings} rdzv_port={free_port}", timeout=240)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert proc.stdout.rstrip().endswith("trained")
    # both ranks trained (the core's DDP saw a world of 2) and rank 0 wrote the model
    assert "world size 2" in out
    assert (recipe / "exp" / "ctc" / "final.pt").is_file()
    if "slurm" in settings:
        calls = (tmp_path / "sbatch_calls").read_text().splitlines()
        assert calls[0].startswith("--wait --nodes=2 --ntasks-per-node=1 --job-name=train_ctc")
        assert calls[1].startswith("srun --ntasks=2 torchrun --nproc-per-node 1 --nnodes 2")
        assert f"--rdzv-backend c10d --rdzv-endpoint localhost:{free_port}" in calls[1]
        job = (recipe / "exp" / "log" / "train_ctc" / "job.sh").read_text()
        assert "-m speechseq.cli.main train-ctc" in job
        assert (recipe / "exp" / "log" / "train_ctc" / "rc").read_text().strip() == "0"
    else:
        assert "torchrun --nproc-per-node 2 --standalone -m speechseq.cli.main train-ctc" in out
        assert not (tmp_path / "sbatch_calls").exists()


def test_one_process_trains_with_speechseq_itself(digits_corpus, tmp_path):
    """The default (ngpu=1, nnodes=1, local): no torchrun, no process group; a failing training
    fails the script (set -e)."""
    recipe, proc = _train(tmp_path, tmp_path / "no_such_corpus", "")
    assert proc.returncode == 1 and "trained" not in proc.stdout
    assert "train_run: speechseq train-ctc" in proc.stdout
    assert "no_such_corpus" in proc.stderr


def test_a_failing_slurm_training_job_fails_the_stage_and_names_its_log(digits_corpus, tmp_path):
    recipe, proc = _train(tmp_path, tmp_path / "no_such_corpus", "cmd=slurm")
    assert proc.returncode == 1 and "trained" not in proc.stdout
    assert "the training job failed (1) — see exp/log/train_ctc/train.log" in proc.stderr
    assert "no_such_corpus" in proc.stdout  # the job's log, printed when it ended
    job = (recipe / "exp" / "log" / "train_ctc" / "job.sh").read_text()
    assert "\nspeechseq train-ctc " in job  # one process: no torchrun


def test_several_nodes_without_slurm_need_a_rendezvous_endpoint(digits_corpus, tmp_path):
    recipe, proc = _train(tmp_path, digits_corpus, "cmd=local nnodes=2")
    assert proc.returncode == 2 and "trained" not in proc.stdout
    assert "nnodes=2 needs rdzv_endpoint=HOST:PORT (SPEECHSEQ_RDZV_ENDPOINT)" in proc.stderr
