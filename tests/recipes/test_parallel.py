"""recipes/utils/parallel.sh: the digits recipe's feature stage run as local background jobs and
as a Slurm array job (a fake ``sbatch`` on PATH that runs the array tasks here, one after the
other, with SLURM_ARRAY_TASK_ID set) gives the same features; its decode stage and an alignment
run as array jobs and merged give the files of one whole run; a failing part fails the run and
names its log; the spoken-term recipe's archive embedded as an array job and merged is the
whole embedding."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import kaldiio
import numpy as np
import pytest

REPO = Path(__file__).parents[2]
RECIPES = REPO / "recipes"
TABLES = ("wav.scp", "text", "utt2spk", "spk2utt", "utt2dur")

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")

FAKE_SBATCH = """#!/usr/bin/env bash
# A stand-in for Slurm's sbatch: runs every array task here, in turn, as Slurm would run it.
array="" out="slurm-%a.out" script=""
for a in "$@"; do
  case "$a" in
    --array=*) array=${a#--array=} ;;
    --output=*) out=${a#--output=} ;;
    --*) ;;
    *) script=$a ;;
  esac
done
echo "$*" >> "$FAKE_SBATCH_CALLS"
rc=0
for i in $(seq "${array%-*}" "${array#*-}"); do
  SLURM_ARRAY_TASK_ID=$i bash "$script" > "${out//%a/$i}" 2>&1 || rc=1
done
exit $rc
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
    (bin_dir / "speechseq").write_text(
        f'#!/usr/bin/env bash\nexec {sys.executable} -m speechseq.cli.main "$@"\n'
    )
    (bin_dir / "sbatch").write_text(FAKE_SBATCH)
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
    proc = subprocess.run(
        ["bash", "run.sh", "--stage", "5", "--stop-stage", "5"],
        cwd=recipe,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
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
        res = subprocess.run(
            ["speechseq", "decode", "exp/ctc", "data/test", *opts, "--out", str(whole)],
            cwd=recipe,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert res.returncode == 0, res.stderr
        for f in ("hyp.txt", "wer", "per_utt", "per_spk"):
            assert (got / f).read_bytes() == (whole / f).read_bytes(), (name, f)


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
        "run_parts data/test ali_test speechseq align exp/ctc PART --out exp/ali/part-JOB/words.ctm\n"
        'speechseq align exp/ctc data/test --from-parts "$parts_dir" --out exp/ali/words.ctm\n'
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
    proc = subprocess.run(
        ["bash", "run.sh", "--stage", "4", "--stop-stage", "4"],
        cwd=recipe,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
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
