"""Gradient descent against stochastic gradient descent (McCann, Jin and Unser 2017, §2.6.1 of the report).

One comparison, generic over a ``Problem`` (a model factory, training and held-out data, a loss and a held-out
metric): full-batch gradient descent, mini-batch SGD and one-sample SGD (plain ``torch.optim.SGD``, no momentum),
each with the same learning-rate search (the same grid; the rate with the lowest final training loss wins) and
the same number of passes over the training data. Checkpoints every quarter pass (every step for full-batch GD)
record the training loss on a fixed subset, the held-out metric, and the training seconds so far (evaluation
excluded). Seeded: the same seed gives the same model initialisation and the same sample order.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from cnn_viz.whenfail.results import Curve, Descent

LR_GRID = (1.0, 0.3, 0.1, 0.03, 0.01)
EVAL_SUBSET = 1000


@dataclass(frozen=True, eq=False)
class Problem:
    name: str
    make_model: object  # seed → nn.Module
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    loss: object  # (output, target) → scalar tensor
    metric: object  # (model, x, y) → float
    metric_name: str
    higher_better: bool
    passes: int
    batch: int
    lrs: tuple = LR_GRID


class SmallMnistCNN(nn.Module):
    """conv 5×5 1→8, pool, conv 5×5 8→16, pool, linear 784→10 (11,274 parameters): small enough that
    one-sample SGD over 4,000 digits takes seconds per pass on one thread."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 5, padding=2)
        self.c2 = nn.Conv2d(8, 16, 5, padding=2)
        self.fc = nn.Linear(16 * 7 * 7, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        return self.fc(x.flatten(1))


def _accuracy(model, x, y) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def mnist_problem(passes: int = 3, batch: int = 32) -> Problem:
    """The shipped 4,000 / 1,000 split (cnn_viz.mnist.data.train_test_split)."""
    from cnn_viz.mnist.data import to_float, train_test_split

    tr, te = train_test_split()
    tx = lambda d: torch.from_numpy(to_float(d.images)[:, None].astype(np.float32))  # noqa: E731
    return Problem("mnist", lambda seed: (torch.manual_seed(seed), SmallMnistCNN())[1], tx(tr), torch.from_numpy(tr.labels),
                   tx(te), torch.from_numpy(te.labels), F.cross_entropy, _accuracy, "held-out accuracy", True, passes, batch)


def _rel_error(model, x, y) -> float:
    with torch.no_grad():
        return float((model(x) - y).norm() / y.norm())


def lab_problem(passes: int = 5, batch: int = 32, operator: str = "blur") -> Problem:
    """The 1-D lab: the CNN fed b on the convolutional sparse signals, 2,000 training / 200 held-out pairs."""
    from cnn_viz.whenfail import lab, nets

    d = lab.make_data(lab.Setup(operator=operator))
    f = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    return Problem("lab", lambda seed: nets.build("cnn", d.M, seed), f(nets.inputs("cnn", d.M, d.b_train)), f(d.x_train),
                   f(nets.inputs("cnn", d.M, d.b_test)), f(d.x_test), F.mse_loss, _rel_error, "held-out relative error",
                   False, passes, batch)


def run(problem: Problem, batch: int, lr: float, passes: int, seed: int, should_stop=None) -> Curve:
    """Plain SGD with ``batch`` samples per step (the whole set = gradient descent) for ``passes`` passes."""
    torch.set_num_threads(1)
    model = problem.make_model(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    N = problem.x_train.shape[0]
    batch = min(int(batch), N)
    steps_per_pass = math.ceil(N / batch)
    every = max(1, steps_per_pass // 4)
    sub = torch.arange(0, N, max(1, N // EVAL_SUBSET))[:EVAL_SUBSET]
    g = torch.Generator().manual_seed(seed)
    rec = {"passes": [], "seconds": [], "loss": [], "metric": []}
    spent = 0.0

    def record(step):
        model.eval()
        with torch.no_grad():
            lv = float(problem.loss(model(problem.x_train[sub]), problem.y_train[sub]))
        rec["passes"].append(step / steps_per_pass)
        rec["seconds"].append(spent)
        rec["loss"].append(lv if math.isfinite(lv) else float("inf"))
        rec["metric"].append(problem.metric(model, problem.x_test, problem.y_test))
        model.train()

    record(0)
    step = 0
    for _ in range(passes):
        order = torch.randperm(N, generator=g)
        for i in range(steps_per_pass):
            t = time.perf_counter()
            idx = order[i * batch:(i + 1) * batch]
            loss = problem.loss(model(problem.x_train[idx]), problem.y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            spent += time.perf_counter() - t
            step += 1
            if step % every == 0 or i == steps_per_pass - 1:
                record(step)
                if not math.isfinite(rec["loss"][-1]) or (should_stop is not None and should_stop()):
                    break
        else:
            continue
        break
    method = "gd" if batch >= N else ("sgd1" if batch == 1 else "minibatch")
    return Curve(method, batch, float(lr), *(np.array(rec[k], dtype=float) for k in ("passes", "seconds", "loss", "metric")))


def compare(problem: Problem, passes: int | None = None, batch: int | None = None, seed: int = 0, lrs=None,
            progress=None, should_stop=None) -> Descent:
    """Full-batch GD, mini-batch SGD (``batch``) and one-sample SGD, each at its best rate of the same grid."""
    passes = int(passes or problem.passes)
    batch = int(batch or problem.batch)
    N = problem.x_train.shape[0]
    if not 1 < batch < N:
        raise ValueError(f"The mini-batch size must be between 2 and {N - 1}, got {batch}.")
    if not 1 <= passes <= 50:
        raise ValueError(f"The number of passes must be between 1 and 50, got {passes}.")
    curves, search = [], {}
    for method, b in (("gd", N), ("minibatch", batch), ("sgd1", 1)):
        tried = {}
        for lr in (lrs or problem.lrs):
            if progress is not None:
                progress(f"{method}: learning rate {lr:g}")
            c = run(problem, b, lr, passes, seed, should_stop)
            tried[lr] = c
            if should_stop is not None and should_stop():
                break
        final = {lr: float(c.loss[-1]) if c.passes[-1] >= passes - 1e-9 else float("inf") for lr, c in tried.items()}
        best = min(final, key=final.get)
        search[method] = final
        curves.append(tried[best])
        if should_stop is not None and should_stop():
            break
    return Descent(problem.name, problem.metric_name, problem.higher_better, tuple(curves), search)
