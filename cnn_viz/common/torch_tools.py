"""What every torch-using lesson shares. Importing this module imports torch: only lessons that
need torch import it, so the torch-free pages stay light."""

from __future__ import annotations

import functools
import threading
from concurrent.futures import ThreadPoolExecutor

import torch


def count_parameters(module: torch.nn.Module) -> int:
    """Number of learnable numbers in a module (the elements of its parameters)."""
    return int(sum(p.numel() for p in module.parameters()))


def one_torch_thread() -> None:
    """Run torch on one thread in the interactive server: on a busy 2-core box two threads wait on each
    other and make batch-1 inference far slower (bench/bench_mnist.py measures it)."""
    torch.set_num_threads(1)


_TORCH_THREAD = threading.local()  # .on is True on the one torch thread
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _mark_torch_thread() -> None:
    _TORCH_THREAD.on = True


def on_torch_thread(fn):
    """Run ``fn`` on one long-lived thread of the process (callers wait for its result; exceptions pass through).

    Streamlit runs every script run on a new thread. In the server, the MNIST page's forward pass of one digit
    took a median 9-13 ms on that new thread and 1.4-1.7 ms handed to this one; the server's CPU per new
    digit fell from 69-88 to 52-60 ms (bench/RESULTS_perf.md, 2026-12-03). (A stand-alone script's new
    threads do not show it: it is the server's thread.) For the small per-rerun calls only (one digit's
    forward pass, its gradients): everything decorated waits on the one thread, so never a training loop
    or a long batch. A decorated function called from the torch thread itself runs there directly."""
    @functools.wraps(fn)
    def call(*args, **kwargs):
        if getattr(_TORCH_THREAD, "on", False):
            return fn(*args, **kwargs)
        return _torch_pool().submit(fn, *args, **kwargs).result()

    return call


def _torch_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cnn-viz-torch", initializer=_mark_torch_thread)
        return _pool
