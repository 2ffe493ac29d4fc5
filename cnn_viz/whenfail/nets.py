"""The 1-D lab's learned solvers and their training (torch, one thread, seeded).

- ``cnn``: a 4-layer 1-D CNN (9-tap kernels, 16 channels, ReLU, 4,945 parameters) fed b
  (zero-padded to n when m < n);
- ``fc``: a fully connected network b → h → h → x with h chosen so that it has about as many parameters;
- ``lista``: unrolled ISTA (10 iterations) on the convolutional sparse model, the operator M built in:
  z ← soft(z − ηₜ Dᵀ Mᵀ (M D z − b), θₜ), x = D z, with the atoms D (3 × 9 taps), the steps ηₜ and the
  thresholds θₜ learned — the multi-layer convolutional sparse coding idea of Chodosh and Lucey;
- ``cnn_mtb``: the same CNN fed the back-projection Mᵀb (length n for every M);
- ``cnn_tik``: the same CNN fed the Tikhonov (GCV) solution, with a skip connection: x = x_tik + CNN(x_tik).

Every network is trained with Adam on the mean squared error for a fixed number of steps from a seed, so a
run is reproducible on one machine; ``should_stop`` ends it early (Stop on the page, or the time bound).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from cnn_viz.common.torch_tools import count_parameters
from cnn_viz.whenfail import lab

from cnn_viz.whenfail.lab import CLASSICAL, LEARNED, METHODS  # noqa: E402,F401  (labels live torch-free)

CHANNELS, TAPS, LAYERS = 16, 9, 4
UNROLL = 10


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 600
    batch: int = 32
    lr: float = 2e-3
    seed: int = 0


class CNN1D(nn.Module):
    def __init__(self, residual: bool = False):
        super().__init__()
        chans = [1] + [CHANNELS] * (LAYERS - 1) + [1]
        self.convs = nn.ModuleList(nn.Conv1d(a, b, TAPS, padding=TAPS // 2) for a, b in zip(chans[:-1], chans[1:]))
        self.residual = residual

    def forward(self, x):  # (N, n)
        h = x[:, None, :]
        for i, c in enumerate(self.convs):
            h = c(h)
            if i < len(self.convs) - 1:
                h = F.relu(h)
        out = h[:, 0, :]
        return x + out if self.residual else out


def fc_width(n_in: int, n_out: int, target: int) -> int:
    """h with (n_in + 1)h + (h + 1)h + (h + 1)n_out closest to ``target`` parameters."""
    hs = np.arange(4, 1024)
    counts = (n_in + 1) * hs + (hs + 1) * hs + (hs + 1) * n_out
    return int(hs[np.argmin(np.abs(counts - target))])


def cnn_parameters() -> int:
    return (TAPS * CHANNELS + CHANNELS) + (LAYERS - 2) * (TAPS * CHANNELS * CHANNELS + CHANNELS) + (TAPS * CHANNELS + 1)


class FC(nn.Module):
    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        h = fc_width(n_in, n_out, cnn_parameters())
        self.net = nn.Sequential(nn.Linear(n_in, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, n_out))

    def forward(self, b):
        return self.net(b)


class UnrolledISTA(nn.Module):
    """x = D z_T after T ISTA steps on ½‖M D z − b‖² + Σ θₜ‖z‖₁ with learned atoms, steps and thresholds.
    D is assembled from the atoms as the dense n × Kn matrix of :func:`lab.conv_dictionary` (differentiably:
    D = Σⱼ dₖ[j]·Sⱼ with Sⱼ the shift matrices), which is far faster on one thread than tiny conv1d calls."""

    def __init__(self, M: np.ndarray, seed: int):
        super().__init__()
        n = M.shape[1]
        g = torch.Generator().manual_seed(seed + 1)
        d = torch.randn(lab.ATOMS, lab.ATOM_LEN, generator=g)
        self.atoms = nn.Parameter(d / d.norm(dim=1, keepdim=True))
        self.log_step = nn.Parameter(torch.full((UNROLL,), float(np.log(0.3))))
        self.log_theta = nn.Parameter(torch.full((UNROLL,), float(np.log(0.01))))
        self.register_buffer("M", torch.as_tensor(M, dtype=torch.float32))
        c = lab.ATOM_LEN // 2
        shifts = np.stack([np.eye(n, k=c - j) for j in range(lab.ATOM_LEN)])  # S_j[i, i'] = 1 where i = i' + j − c
        self.register_buffer("shifts", torch.as_tensor(shifts, dtype=torch.float32))

    def dictionary(self) -> torch.Tensor:  # (n, K·n)
        D = torch.einsum("kj,jab->akb", self.atoms, self.shifts)
        return D.reshape(D.shape[0], -1)

    def forward(self, b):
        D = self.dictionary()
        A = self.M @ D  # (m, Kn)
        Atb = b @ A
        G = A.T @ A
        z = torch.zeros(b.shape[0], A.shape[1], dtype=b.dtype)
        for t in range(UNROLL):
            v = z - self.log_step[t].exp() * (z @ G - Atb)
            z = torch.sign(v) * F.relu(v.abs() - self.log_theta[t].exp())
        return z @ D.T


def build(method: str, M: np.ndarray, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    m, n = M.shape
    if method in ("cnn", "cnn_mtb"):
        return CNN1D()
    if method == "cnn_tik":
        return CNN1D(residual=True)
    if method == "fc":
        return FC(m, n)
    if method == "lista":
        return UnrolledISTA(M, seed)
    raise ValueError(f"{method!r} is not a learned method; choose one of {', '.join(LEARNED)}.")


def inputs(method: str, M: np.ndarray, B: np.ndarray, X_tik: np.ndarray | None = None) -> np.ndarray:
    """What each network reads: b (zero-padded to n for the CNN when m < n), Mᵀb, or Tikhonov's x."""
    m, n = M.shape
    if method == "cnn":
        return B if m == n else np.pad(B, ((0, 0), (0, n - m)))
    if method in ("fc", "lista"):
        return B
    if method == "cnn_mtb":
        return B @ M
    if method == "cnn_tik":
        if X_tik is None:
            raise ValueError("The Tikhonov solutions are needed for this network.")
        return X_tik
    raise ValueError(f"Unknown method {method!r}.")


@dataclass(frozen=True)
class TrainInfo:
    steps: int
    seconds: float
    parameters: int
    final_loss: float
    stopped: bool


def train_net(method: str, M: np.ndarray, U_train: np.ndarray, X_train: np.ndarray, config: TrainConfig,
              progress=None, should_stop=None) -> tuple[nn.Module, TrainInfo]:
    """Adam on ‖net(u) − x‖² for ``config.steps`` steps of ``config.batch`` pairs, seeded; ``progress(done, total,
    loss)`` every 50 steps; ``should_stop()`` True ends the run early (the network so far is returned)."""
    torch.set_num_threads(1)
    model = build(method, M, config.seed)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, config.steps))
    U = torch.as_tensor(U_train, dtype=torch.float32)
    X = torch.as_tensor(X_train, dtype=torch.float32)
    g = torch.Generator().manual_seed(config.seed)
    t0, loss_v, stopped, step = time.perf_counter(), float("nan"), False, 0
    model.train()
    for step in range(1, config.steps + 1):
        idx = torch.randint(0, U.shape[0], (config.batch,), generator=g)
        loss = F.mse_loss(model(U[idx]), X[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        loss_v = float(loss.detach())
        if step % 50 == 0 or step == config.steps:
            if progress is not None:
                progress(step, config.steps, loss_v)
            if should_stop is not None and should_stop():
                stopped = True
                break
    model.eval()
    return model, TrainInfo(step, time.perf_counter() - t0, count_parameters(model), loss_v, stopped)


def predict(model: nn.Module, U: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return model(torch.as_tensor(U, dtype=torch.float32)).double().numpy()


# ------------------------------------------------------------------ one operator, every method
EXAMPLES = 3  # held-out signals kept for the figure


def run_operator(setup: lab.Setup, config: TrainConfig, methods=tuple(METHODS), progress=None, should_stop=None):
    """Every method on one setup: held-out relative error, seconds (training for the networks, solving for the
    classical methods) and parameter count; returns a ``results.OperatorRun``. ``progress(method, done, total)``."""
    from cnn_viz.whenfail.results import OperatorRun

    data = lab.make_data(setup)
    M = data.M
    t = time.perf_counter()
    X_tik_test, lams = lab.tikhonov_gcv(M, data.b_test)
    tik_seconds = time.perf_counter() - t
    X_tik_train = lab.tikhonov_gcv(M, data.b_train)[0] if "cnn_tik" in methods else None
    errs, secs, params, examples, stopped = {}, {}, {}, {}, False
    for meth in methods:
        if stopped:
            break
        if meth == "tikhonov":
            X_hat, secs[meth], params[meth] = X_tik_test, tik_seconds, 0
        elif meth == "csc_ista":
            t = time.perf_counter()
            X_hat = lab.csc_ista(M, data.b_test, int(setup.n))
            secs[meth], params[meth] = time.perf_counter() - t, 0
        else:
            model, info = train_net(meth, M, inputs(meth, M, data.b_train, X_tik_train), data.x_train, config,
                                    progress=None if progress is None else (lambda d, tot, loss, m=meth: progress(m, d, tot)),
                                    should_stop=should_stop)
            X_hat = predict(model, inputs(meth, M, data.b_test, X_tik_test))
            secs[meth], params[meth] = info.seconds, info.parameters
            stopped = info.stopped
            if stopped:
                continue  # a network stopped early is not put in the table
        errs[meth] = lab.errors(X_hat, data.x_test)
        examples[meth] = X_hat[:EXAMPLES]
    return OperatorRun(setup, errs, secs, params, data.x_test[:EXAMPLES], data.b_test[:EXAMPLES], examples,
                       float(np.median(lams)), stopped)
