"""Worker pools: results in job order, one BLAS thread per worker, environment restored."""

import os

from speechseq.parallel import THREAD_ENV, process_map, single_thread_env


def _square_and_threads(x):
    return x * x, os.environ.get("OMP_NUM_THREADS"), os.getpid()


_SEEN = []


def _init(tag):
    _SEEN.append(tag)


def test_process_map_keeps_job_order_across_processes():
    with process_map(2) as imap:
        out = list(imap(_square_and_threads, range(12)))
    assert [o[0] for o in out] == [x * x for x in range(12)]
    assert {o[1] for o in out} == {"1"}  # each worker started with one thread
    assert os.getpid() not in {o[2] for o in out}  # the work ran in other processes


def test_one_job_runs_here_with_the_initializer():
    _SEEN.clear()
    with process_map(1, _init, ("here",)) as imap:
        out = list(imap(_square_and_threads, [3]))
    assert _SEEN == ["here"] and out[0][0] == 9 and out[0][2] == os.getpid()


def test_single_thread_env_restores_the_environment(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    with single_thread_env():
        assert all(os.environ[k] == "1" for k in THREAD_ENV)
    assert os.environ["OMP_NUM_THREADS"] == "7" and "MKL_NUM_THREADS" not in os.environ
