"""Mutation testing, one module at a time (issue 15); outside the default test run.

    python tools/mutation.py                      # every module in MODULE_TESTS
    python tools/mutation.py speechseq/metrics/wer.py speechseq/lm/ngram.py
    python tools/mutation.py --list-survivors speechseq/decode/ctc.py
    python tools/mutation.py --rerun-survivors speechseq/core/trainer.py   # after adding tests
                                                  # (the module itself unchanged; others copied anew)

Needs the `mutation` extra (`pip install -e '.[mutation]'`, which brings mutmut 3). For each
module it copies `speechseq/` and `tests/` into `mutants/by-module/<module>/`, writes a
pyproject.toml there whose `[tool.mutmut]` table is the repo's plus `only_mutate = [MODULE]` and
the module's own test files (MODULE_TESTS below, so a mutant's test run stays short), runs
`mutmut run` there and prints a per-module table: mutants, killed, survived, timeout, no tests,
score = killed / (mutants - no tests), timeouts counted as killed (mutmut's "suspicious" too).
mutmut keeps its results in that copy, and a rerun without `--fresh` may keep earlier verdicts
(mutmut's cache rules); use `--fresh` for scores to report. Needs Python 3.11+ (tomllib).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "mutants" / "by-module"

# Module -> the test files that exercise it. Slow end-to-end tests (CLI recipes, DDP over
# torchrun, SIGKILL-and-resume in a subprocess) are left out: a subprocess does not see
# mutmut's in-process mutant switch reliably and they would make each mutant's run long.
MODULE_TESTS: dict[str, list[str]] = {
    "speechseq/metrics/wer.py": ["tests/metrics/test_wer.py", "tests/metrics/test_wer_oracles.py"],
    "speechseq/metrics/retrieval.py": ["tests/metrics/test_retrieval.py"],
    "speechseq/lm/ngram.py": ["tests/lm/test_ngram.py", "tests/lm/test_ngram_properties.py"],
    "speechseq/decode/ctc.py": ["tests/decode"],
    "speechseq/core/config.py": ["tests/core/test_config.py", "tests/core/test_config_ranges.py"],
    "speechseq/core/batching.py": [
        "tests/core/test_batching.py",
        "tests/core/test_bucket_sampler.py",
        "tests/core/test_worker_errors.py",  # Loader's error path, with real worker processes
    ],
    "speechseq/core/checkpoint.py": [
        "tests/core/test_checkpoint.py",
        "tests/core/test_experiment_run.py",
        "tests/core/test_task_contract.py",
    ],
    "speechseq/core/task.py": ["tests/core/test_task_contract.py"],
    "speechseq/core/experiment.py": ["tests/core/test_experiment_run.py"],
    "speechseq/fileio.py": ["tests/test_fileio.py"],
    "speechseq/core/trainer.py": [
        "tests/core/test_trainer_parts.py",
        "tests/core/test_trainer.py",
        "tests/core/test_task_contract.py",
        "tests/core/test_experiment_run.py",
        "tests/core/test_worker_errors.py",
    ],
    "speechseq/core/encoder.py": ["tests/core/test_encoder.py"],
    "speechseq/core/device.py": ["tests/core/test_device.py"],
    "speechseq/core/export.py": ["tests/core/test_export.py"],
    "speechseq/core/loading.py": ["tests/core/test_loading.py"],
    "speechseq/metrics/bleu.py": ["tests/metrics/test_bleu.py"],
    "speechseq/metrics/kws.py": ["tests/metrics/test_kws.py"],
    "speechseq/decode/seq2seq.py": ["tests/decode/test_seq2seq.py"],
    "speechseq/decode/graph.py": ["tests/decode/test_graph.py", "tests/hybrid/test_graph.py"],
    "speechseq/decode/run.py": ["tests/decode/test_run.py"],
    "speechseq/decode/merge.py": ["tests/decode/test_merge.py"],
    "speechseq/std/merge.py": ["tests/std/test_merge.py"],
}
# Tests deselected everywhere: the first runs the code in a subprocess (SIGKILL and resume);
# the second is a 2 s hypothesis search that would make every ngram mutant's run 3x longer
# (the ARPA round trip is also checked, on fixed inputs, by tests/lm/test_ngram.py).
DESELECT = [
    "tests/core/test_trainer.py::test_sigkill_and_resume_ends_where_an_uninterrupted_run_ends",
    "tests/lm/test_ngram_properties.py::test_arpa_round_trip_keeps_every_probability",
]

STATUSES = ("killed", "survived", "timeout", "suspicious", "no tests", "segfault", "skipped")


def slug(module: str) -> str:
    return module.removeprefix("speechseq/").removesuffix(".py").replace("/", ".")


def toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(x) for x in items) + "]"


def scratch_pyproject(module: str, tests: list[str]) -> str:
    """The repo's pyproject.toml with [tool.mutmut] narrowed to one module and its tests."""
    text = (ROOT / "pyproject.toml").read_text()
    base = tomllib.loads(text).get("tool", {}).get("mutmut", {})
    text = re.sub(r"(?ms)^\[tool\.mutmut\]\n.*?(?=^\[|\Z)", "", text)
    lines = ["[tool.mutmut]"]
    for key, value in base.items():
        if key in ("only_mutate", "pytest_add_cli_args_test_selection"):
            continue
        lines.append(f"{key} = {json.dumps(value)}")
    selection = tests + [arg for t in DESELECT for arg in ("--deselect", t)]
    lines.append(f"only_mutate = {toml_list([module])}")
    lines.append(f"pytest_add_cli_args_test_selection = {toml_list(selection)}")
    return text.rstrip() + "\n\n" + "\n".join(lines) + "\n"


def prepare(module: str, fresh: bool) -> Path:
    work = WORK / slug(module)
    if fresh and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("speechseq", "tests"):
        if (work / name).exists():
            shutil.rmtree(work / name)
        shutil.copytree(ROOT / name, work / name, ignore=ignore)
    (work / "pyproject.toml").write_text(scratch_pyproject(module, MODULE_TESTS[module]))
    return work


def mutmut(work: Path, *args: str, capture: bool = False, log: Path | None = None):
    env = dict(os.environ)
    # Subprocesses the tests start must import the mutated copy, not the checkout.
    env["PYTHONPATH"] = str(work / "mutants")
    env.setdefault("OMP_NUM_THREADS", "1")
    cmd = [sys.executable, "-m", "mutmut", *args]
    if log is not None:  # mutmut's spinner redraws a line per mutant: keep it out of the table
        with log.open("w") as out:
            return subprocess.run(cmd, cwd=work, env=env, text=True, stdout=out, stderr=out)
    return subprocess.run(cmd, cwd=work, env=env, text=True, capture_output=capture)


def results(work: Path) -> dict[str, str]:
    out = mutmut(work, "results", "--all", "true", capture=True).stdout
    found = {}
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and status in STATUSES:
            found[name] = status
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="paths like speechseq/metrics/wer.py")
    parser.add_argument("--fresh", action="store_true", help="forget cached mutmut results")
    parser.add_argument("--max-children", type=int, default=2, help="parallel mutant runs")
    parser.add_argument("--list-survivors", action="store_true", help="print surviving mutants")
    parser.add_argument("--diffs", action="store_true", help="print each survivor's diff")
    parser.add_argument("--report-only", action="store_true", help="table from cached results")
    parser.add_argument(
        "--rerun-survivors",
        action="store_true",
        help="copy the current tests into the module's work dir and run only its survivors again",
    )
    args = parser.parse_args()
    modules = args.modules or list(MODULE_TESTS)
    unknown = [m for m in modules if m not in MODULE_TESTS]
    if unknown:
        print(f"no test files known for {unknown}: add them to MODULE_TESTS in {__file__}")
        return 2
    rows = []
    for module in modules:
        if args.report_only:
            work = WORK / slug(module)
        elif args.rerun_survivors:
            work = WORK / slug(module)
            if (ROOT / module).read_bytes() != (work / module).read_bytes():
                print(f"{module} changed since its mutants were made: run it with --fresh")
                continue
            names = [n for n, st in results(work).items() if st == "survived"]
            for dest in (work / "tests", work / "mutants" / "tests"):
                shutil.rmtree(dest, ignore_errors=True)
                shutil.copytree(ROOT / "tests", dest, ignore=shutil.ignore_patterns("__pycache__"))
            # the other modules as they are now (the new tests may rely on their fixes)
            for src in (ROOT / "speechseq").rglob("*.py"):
                rel = src.relative_to(ROOT)
                if rel != Path(module):
                    for base in (work, work / "mutants"):
                        (base / rel).parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(src, base / rel)
            print(
                f"== {module}: {len(names)} survivors run again with the current tests", flush=True
            )
            if names:
                log = work / "mutmut-rerun.log"
                mutmut(work, "run", "--max-children", str(args.max_children), *names, log=log)
        else:
            work = prepare(module, args.fresh)
            print(f"== {module}: mutmut run ({' '.join(MODULE_TESTS[module])})", flush=True)
            log = work / "mutmut-run.log"
            run = mutmut(work, "run", "--max-children", str(args.max_children), log=log)
            if run.returncode != 0:  # mutmut 3.8's first run in a fresh copy can fail its
                # stats pass ("Failed to run pytest"); the same command then succeeds.
                run = mutmut(work, "run", "--max-children", str(args.max_children), log=log)
            if run.returncode != 0:
                print(f"mutmut run failed for {module} (exit {run.returncode}); see {log}")
        found = results(work)
        counts = {s: sum(1 for v in found.values() if v == s) for s in STATUSES}
        tested = len(found) - counts["no tests"] - counts["skipped"]
        caught = counts["killed"] + counts["timeout"] + counts["suspicious"] + counts["segfault"]
        score = 100.0 * caught / tested if tested else float("nan")
        rows.append((module, len(found), counts, score))
        if args.list_survivors:
            for name, status in sorted(found.items()):
                if status in ("survived", "no tests"):
                    print(f"   {status}: {name}")
                    if args.diffs:
                        diff = mutmut(work, "show", name, capture=True).stdout
                        print("".join(f"      {ln}\n" for ln in diff.splitlines()[3:]))
    print()
    print(
        f"{'module':34} {'mutants':>7} {'killed':>6} {'survived':>8} {'timeout':>7} "
        f"{'no tests':>8} {'score':>6}"
    )
    for module, total, c, score in rows:
        print(
            f"{module:34} {total:7d} {c['killed']:6d} {c['survived']:8d} "
            f"{c['timeout'] + c['suspicious']:7d} {c['no tests']:8d} {score:5.1f}%"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
