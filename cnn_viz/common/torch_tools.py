"""What every torch-using lesson shares. Importing this module imports torch: only lessons that
need torch import it, so the torch-free pages stay light."""

from __future__ import annotations

import torch


def count_parameters(module: torch.nn.Module) -> int:
    """Number of learnable numbers in a module (the elements of its parameters)."""
    return int(sum(p.numel() for p in module.parameters()))


def one_torch_thread() -> None:
    """Run torch on one thread in the interactive server: on a busy 2-core box two threads wait on each
    other and make batch-1 inference far slower (bench/bench_mnist.py measures it)."""
    torch.set_num_threads(1)
