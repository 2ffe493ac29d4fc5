"""Every file the app ships in assets/ (assets/README.md says where each came from), and where the
training command lines write a new run (``runs/``, never a shipped file unless ``--out`` names it)."""

import time
from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent.parent / "assets"
RUNS = ASSETS.parent / "runs"

MNIST_SAMPLE = ASSETS / "mnist_5k.npz"
SIMPLE_CNN_WEIGHTS = ASSETS / "simple_cnn.pt"
DEBLUR_WEIGHTS = {"direct": ASSETS / "deblur_direct_cnn.pt", "tikcnn": ASSETS / "deblur_tikhonov_cnn.pt"}
LOWRANK_SWEEP = ASSETS / "lowrank_sweep.json"
STAR_CHART = ASSETS / "star_chart.png"
DIGIT_7 = ASSETS / "digit_7.png"


def new_run_path(stem: str, suffix: str = ".pt") -> Path:
    """A new file under ``runs/`` for a training run: ``<stem>-<UTC date and time>.pt`` (a counter is added
    when that name exists already)."""
    base = f"{stem}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    path, k = RUNS / f"{base}{suffix}", 2
    while path.exists():
        path, k = RUNS / f"{base}-{k}{suffix}", k + 1
    return path
WHENFAIL_LAB = {"csc": ASSETS / "whenfail_lab_csc.npz", "generic": ASSETS / "whenfail_lab_generic.npz"}
WHENFAIL_JPEG_CNN = ASSETS / "whenfail_jpeg_cnn.pt"
WHENFAIL_DESCENT = {"mnist": ASSETS / "whenfail_descent_mnist.npz", "lab": ASSETS / "whenfail_descent_lab.npz"}
