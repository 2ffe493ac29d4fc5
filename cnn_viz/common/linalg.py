"""Linear algebra helpers shared by the lessons."""

from __future__ import annotations

import contextlib


def one_blas_thread():
    """A context in which NumPy's BLAS/LAPACK runs on one thread: on a busy 2-core classroom server two
    threads wait on each other and make an SVD many times slower (bench/bench_lowrank.py measures it)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is in requirements.txt
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")
