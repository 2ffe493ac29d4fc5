"""Training the report's SimpleCNN on MNIST: one loop (``train``) for the CLI and for the page.

    python -m cnn_viz.mnist.train --epochs 30 --batch-size 64 --lr 1e-3 --seed 0 --data sample --out assets/simple_cnn.pt
    python -m cnn_viz.mnist.train --design my.json --epochs 10      # your own design (``design.Design.to_json``)

Without ``--out`` the network goes to a new file under ``runs/`` (its name is printed at the end): the
shipped ``assets/simple_cnn.pt`` is overwritten only when ``--out`` names it.

Adam with a cosine learning-rate decay, cross-entropy, and light augmentation drawn
per digit from a seeded generator: rotation, scaling and shift (one affine warp per
batch with ``affine_grid``) and stroke thickness (blending with a 3×3 dilation or
erosion). The same seed, data and thread count give the same weights.

The pages train through ``train_own``: its settings (``RunConfig``) in, and after every epoch
a copy of the network so far (``OwnNetwork``), which the session keeps. The same loop trains the
report's SimpleCNN or any ``design.Design`` (``make_model``), with Adam or SGD.
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from cnn_viz.common import assets, fmt
from cnn_viz.mnist.data import Digits, load_split
from cnn_viz.mnist.model import WEIGHTS_PATH, SimpleCNN, accuracy, as_input

_INIT_LOCK = threading.Lock()  # model init uses torch's global RNG; sessions may train at once


@dataclass
class Augment:
    rotate_deg: float = 12.0
    scale: float = 0.10  # zoom in [1 - scale, 1 + scale]
    shift_px: float = 2.0
    thickness: float = 0.6  # blend towards a dilation (up to this much) or an erosion (up to half)


@dataclass
class EpochStats:
    epoch: int
    train_loss: float
    train_acc: float
    test_loss: float | None
    test_acc: float | None
    seconds: float


@dataclass
class TrainResult:
    model: SimpleCNN
    history: list[EpochStats] = field(default_factory=list)
    stopped: bool = False
    config: dict = field(default_factory=dict)


def augment_batch(x: torch.Tensor, gen: torch.Generator, aug: Augment) -> torch.Tensor:
    """Random affine warp + stroke thickness change of a batch (N, 1, 28, 28) in [0, 1]."""
    n = x.shape[0]
    u = torch.rand(n, 5, generator=gen) * 2 - 1  # uniform in [-1, 1]
    theta = u[:, 0] * math.radians(aug.rotate_deg)
    zoom = 1 + u[:, 1] * aug.scale
    shift = u[:, 2:4] * (aug.shift_px * 2 / 28)
    cos, sin = torch.cos(theta) / zoom, torch.sin(theta) / zoom
    mat = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(mat, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    t = u[:, 4].view(n, 1, 1, 1) * aug.thickness
    thick = F.max_pool2d(x, 3, 1, 1)
    thin = -F.max_pool2d(-x, 3, 1, 1)
    return torch.where(t >= 0, x + t * (thick - x), x + (-t / 2) * (thin - x)).clamp_(0, 1)


def evaluate(model: SimpleCNN, digits: Digits, batch: int = 500) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of an eval-mode model on ``digits``."""
    loss, right = 0.0, 0
    with torch.inference_mode():
        for i in range(0, len(digits), batch):
            logits = model(as_input(digits.images[i:i + batch]))
            y = torch.tensor(digits.labels[i:i + batch], dtype=torch.int64)
            loss += float(F.cross_entropy(logits, y, reduction="sum"))
            right += int((logits.argmax(1) == y).sum())
    return loss / len(digits), right / len(digits)


def train(
    train_set: Digits,
    *,
    held_out: Digits | None = None,
    epochs: int = 15,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    augment: Augment | None = Augment(),
    on_batch: Callable[[int, int], None] | None = None,
    on_epoch: Callable[[EpochStats, SimpleCNN], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    make_model: Callable[[], torch.nn.Module] = SimpleCNN,
    optimizer: str = "adam",
) -> TrainResult:
    """Train a fresh network (``make_model()``: the report's SimpleCNN by default, or a built design).
    ``on_batch(done, total)`` after each batch, ``on_epoch(stats, model)`` after each epoch (the model
    is in eval mode during that call), ``should_stop()`` is checked after every batch. ``optimizer``:
    "adam" or "sgd" (momentum 0.9), both with the cosine decay. Returns the model in eval mode with the
    per-epoch history. The same seed gives the same weights (dropout draws from the seed too)."""
    if epochs < 1 or batch_size < 1 or not lr > 0:
        raise ValueError("Epochs and batch size must be at least 1 and the learning rate positive.")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {optimizer!r}: use one of {', '.join(OPTIMIZERS)}.")
    if len(train_set) == 0:
        raise ValueError("There are no training digits.")
    config = dict(epochs=epochs, batch_size=batch_size, lr=lr, seed=seed, augment=asdict(augment) if augment else None,
                  n_train=len(train_set), data=train_set.source)
    if optimizer != "adam":
        config["optimizer"] = optimizer
    with _INIT_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = make_model()
    with torch.random.fork_rng(devices=[]):  # dropout uses torch's global generator: seed it, and give it back after
        torch.manual_seed(seed + 2)
        return _loop(model, train_set, held_out, config, epochs, batch_size, lr, seed, augment, on_batch, on_epoch,
                     should_stop, optimizer)


OPTIMIZERS = {"adam": "Adam", "sgd": "SGD with momentum 0.9"}


def _loop(model, train_set, held_out, config, epochs, batch_size, lr, seed, augment, on_batch, on_epoch, should_stop,
          optimizer) -> TrainResult:
    gen = torch.Generator().manual_seed(seed + 1)
    x_all = as_input(train_set.images)
    y_all = torch.tensor(train_set.labels, dtype=torch.int64)  # a copy: the labels may be read-only (shared)
    n = len(y_all)
    steps_per_epoch = math.ceil(n / batch_size)
    total = epochs * steps_per_epoch
    if optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    result = TrainResult(model, config=config)
    done = 0
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(n, generator=gen)
        loss_sum, right = 0.0, 0
        for i in range(0, n, batch_size):
            idx = order[i:i + batch_size]
            xb = x_all[idx]
            if augment is not None:
                xb = augment_batch(xb, gen, augment)
            logits = model(xb)
            loss = F.cross_entropy(logits, y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(idx)
            right += int((logits.argmax(1) == y_all[idx]).sum())
            done += 1
            if on_batch:
                on_batch(done, total)
            if should_stop and should_stop():
                result.stopped = True
                break
        model.eval()
        seen = min(n, (i + batch_size)) if result.stopped else n
        test_loss, test_acc = evaluate(model, held_out) if held_out is not None and len(held_out) else (None, None)
        stats = EpochStats(epoch, loss_sum / seen, right / seen, test_loss, test_acc, time.perf_counter() - t0)
        result.history.append(stats)
        if on_epoch:
            on_epoch(stats, model)
        if result.stopped:
            break
    model.eval()
    return result


def copy_model(model: torch.nn.Module) -> torch.nn.Module:
    """An independent copy in eval mode (to keep a snapshot while training goes on)."""
    clone = copy.deepcopy(model)
    return clone.eval()


@dataclass(frozen=True)
class RunConfig:
    """The settings of a run started from the page ("Train your own")."""

    epochs: int = 5
    n_train: int = 4000  # training digits, spread evenly over the training set
    lr: float = 1e-3
    batch: int = 64
    seed: int = 0
    augment: bool = True
    optimizer: str = "adam"

    def describe(self) -> str:
        opt = "" if self.optimizer == "adam" else f"{OPTIMIZERS.get(self.optimizer, self.optimizer)}, "
        return (f"{self.n_train} digits, {opt}batch {self.batch}, learning rate {fmt.num(self.lr)}, seed {self.seed}, "
                f"augmentation {'on' if self.augment else 'off'}")


@dataclass(frozen=True)
class OwnNetwork:
    """A network trained from the page, as far as its run got: kept in the session, so a Stop keeps the epochs done."""

    model: SimpleCNN
    history: tuple[EpochStats, ...]
    config: RunConfig  # with the number of digits actually used
    finished: bool = False

    @property
    def accuracy(self) -> float | None:
        """Held-out accuracy after the last finished epoch."""
        return self.history[-1].test_acc

    @property
    def epochs_done(self) -> int:
        return self.history[-1].epoch

    @property
    def seconds(self) -> float:
        return float(sum(h.seconds for h in self.history))

    def points_over(self, reference: float) -> float:
        """Held-out accuracy minus ``reference`` (another network's), in percentage points."""
        return (self.accuracy - reference) * 100


def train_own(train_set: Digits, held_out: Digits, config: RunConfig, *,
              on_batch: Callable[[int, int], None] | None = None,
              on_epoch: Callable[[OwnNetwork], None] | None = None,
              should_stop: Callable[[], bool] | None = None,
              make_model: Callable[[], torch.nn.Module] = SimpleCNN) -> OwnNetwork | None:
    """``train`` with the page's settings on ``config.n_train`` digits spread over ``train_set``.
    ``on_epoch`` receives, after every epoch, the network so far (an independent copy: training goes on).
    ``should_stop()`` ends the run after the current batch: the result is then the network after its last
    finished epoch (``finished`` False; None if no epoch finished). Otherwise the finished network."""
    digits = train_set.spread(config.n_train)
    config = replace(config, n_train=len(digits))
    history: list[EpochStats] = []
    kept: list[OwnNetwork] = []

    def snapshot(stats: EpochStats, model: SimpleCNN) -> None:
        if should_stop is not None and should_stop():
            return  # an epoch cut short by Stop: not kept
        history.append(stats)
        kept[:] = [OwnNetwork(copy_model(model), tuple(history), config)]
        if on_epoch:
            on_epoch(kept[0])

    res = train(digits, held_out=held_out, epochs=config.epochs, batch_size=config.batch, lr=config.lr, seed=config.seed,
                augment=Augment() if config.augment else None, on_batch=on_batch, on_epoch=snapshot, should_stop=should_stop,
                make_model=make_model, optimizer=config.optimizer)
    if res.stopped:
        return kept[0] if kept else None
    return OwnNetwork(res.model, tuple(res.history), config, finished=True)


def save(result: TrainResult, path: Path | str, **meta) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    info = dict(result.config, **meta)
    info["augment"] = str(info.get("augment"))
    info["history"] = [[h.epoch, h.train_loss, h.train_acc, h.test_loss if h.test_loss is not None else float("nan"),
                        h.test_acc if h.test_acc is not None else float("nan"), h.seconds] for h in result.history]
    torch.save({"state_dict": result.model.state_dict(), "meta": info}, path)
    return path


def _bar(done: int, total: int, width: int = 30) -> str:
    k = int(width * done / total)
    return "[" + "#" * k + "." * (width - k) + f"] {done}/{total}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m cnn_viz.mnist.train", description="Train the report's SimpleCNN on MNIST.")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", choices=["sample", "torchvision", "auto"], default="sample",
                    help="sample: the shipped 5,000 digits split 4,000/1,000; torchvision: full MNIST (60k/10k), "
                         "downloaded to the cache folder if possible, else the sample")
    ap.add_argument("--no-augment", action="store_true")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a busy 2-core machine)")
    ap.add_argument("--optimizer", choices=list(OPTIMIZERS), default="adam")
    ap.add_argument("--design", type=Path, default=None,
                    help="a design file (JSON, as the 'Your own network' page downloads it, or its one-line code) "
                         "to train instead of the report's SimpleCNN; the result loads back into that page")
    ap.add_argument("--out", type=Path, default=None,
                    help=f"where to write the network (default: a new file under runs/; the shipped {WEIGHTS_PATH.name} "
                         "is overwritten only when --out names it)")
    args = ap.parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    make_model, net_design = SimpleCNN, None
    if args.design is not None:
        from cnn_viz.mnist import design as dz

        text = args.design.read_text(encoding="utf-8", errors="replace")
        try:
            net_design = dz.from_json(text) if text.lstrip().startswith("{") else dz.from_code(text.strip())
        except dz.DesignError as exc:
            print(f"{args.design}: {exc}", file=sys.stderr)
            return 2
        make_model = lambda: dz.DesignNet(net_design)  # noqa: E731
        print(f"design: {net_design.code}", flush=True)
    out = args.out or assets.new_run_path(args.design.stem if args.design else "simple_cnn")
    train_set, held_out = load_split(args.data)
    print(f"data: {train_set.source} ({len(train_set)} training, {len(held_out)} held-out digits); "
          f"torch threads: {torch.get_num_threads()}", flush=True)

    def on_batch(done, total):
        if sys.stderr.isatty() or done == total or done % 50 == 0:
            print("\r" + _bar(done, total), end="", file=sys.stderr, flush=True)

    def on_epoch(s: EpochStats, _model):
        print(f"\repoch {s.epoch:2d}: train loss {s.train_loss:.4f} acc {s.train_acc:.4f} | held-out loss "
              f"{s.test_loss:.4f} acc {s.test_acc:.4f} | {s.seconds:.1f} s", flush=True)

    t0 = time.perf_counter()
    res = train(train_set, held_out=held_out, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                seed=args.seed, augment=None if args.no_augment else Augment(), on_batch=on_batch, on_epoch=on_epoch,
                make_model=make_model, optimizer=args.optimizer)
    acc = accuracy(res.model, held_out.images, held_out.labels)
    cmd = "python -m cnn_viz.mnist.train " + " ".join(sys.argv[1:] if argv is None else argv)
    meta = dict(held_out_accuracy=acc, held_out=held_out.source, n_held_out=len(held_out),
                command=cmd.strip(), torch=str(torch.__version__), threads=torch.get_num_threads())
    if net_design is None:
        save(res, out, **meta)
    else:
        from cnn_viz.mnist import netfile

        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(netfile.to_bytes(net_design, res.model, netfile.run_meta(res, **meta)))
    print(f"held-out accuracy {acc:.4f} ({len(held_out)} digits); {time.perf_counter() - t0:.0f} s; wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
