"""Work spread over worker processes, or done in this process when one job is asked for."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Callable, Iterator

THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@contextlib.contextmanager
def single_thread_env() -> Iterator[None]:
    """OMP/MKL/BLAS threads = 1 while worker processes start (they inherit the environment)."""
    old = {k: os.environ.get(k) for k in THREAD_ENV}
    os.environ.update({k: "1" for k in THREAD_ENV})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def process_map(
    num_jobs: int, initializer: Callable | None = None, initargs: tuple = ()
) -> Iterator[Callable]:
    """Yields ``imap(fn, jobs, chunksize=1)``: results in job order.

    With ``num_jobs`` > 1 they come from that many spawned processes, each run through
    ``initializer(*initargs)`` and started with one BLAS/OpenMP thread (so N processes use N
    cores); otherwise ``initializer`` runs here and ``imap`` is the built-in ``map``. The
    processes are stopped when the block ends, finished or not.
    """
    if num_jobs <= 1:
        if initializer is not None:
            initializer(*initargs)
        yield lambda fn, jobs, chunksize=1: map(fn, jobs)
        return
    with single_thread_env():
        pool = multiprocessing.get_context("spawn").Pool(num_jobs, initializer, initargs)
    try:
        yield pool.imap
    finally:
        pool.terminate()
        pool.join()
