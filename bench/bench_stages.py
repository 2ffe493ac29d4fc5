"""Time the ReLU and pooling page's pipeline (cnn_viz.pooling.stages, NumPy) against the same pipeline in torch.

    python bench/bench_stages.py [--repeat 9]

Cases on a 512×512 grayscale image: each pooling alone on the 4 ReLU maps, and the page's
whole pipeline (bank of 4 edge kernels 3×3 → ReLU → 2×2 max pool, optionally a second
layer of 8 random 3×3×4 kernels → ReLU → pool). Median milliseconds of --repeat runs on one
thread; ratio = ours / torch (below 1: we are faster).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_conv import median_ms  # noqa: E402  (this folder is on the path when run as a script)

from cnn_viz.common import images  # noqa: E402
from cnn_viz.common.conv import conv2d  # noqa: E402
from cnn_viz.pooling import stages  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=9)
    args = ap.parse_args()

    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
    img = images.to_gray(images.load_sample("Cameraman", 512))
    preset = stages.preset_bank(stages.DEFAULT_BANK)
    bank, labels = preset.weights, list(preset.labels)
    bank2 = stages.random_bank(8, bank.shape[0], 3, seed=0)
    w1 = torch.from_numpy(bank[:, None].astype(np.float32))
    w2 = torch.from_numpy(bank2.astype(np.float32))
    x = torch.from_numpy(img)[None, None]
    relu_np = stages.relu(conv2d(img, bank[:, None].astype(np.float32), padding=1))
    relu_t = torch.from_numpy(relu_np)[None]

    def torch_pipeline(second: bool):
        with torch.inference_mode():
            y, i = F.max_pool2d(F.relu(F.conv2d(x, w1, padding=1)), 2, 2, return_indices=True)
            if second:
                y, i = F.max_pool2d(F.relu(F.conv2d(y, w2, padding=1)), 2, 2, return_indices=True)
            return y, i

    cases = [
        ("max pool 2×2 (values + indices), 4×512²", lambda: stages.max_pool2d(relu_np, 2, 2),
         lambda: F.max_pool2d(relu_t, 2, 2, return_indices=True)),
        ("max pool 3×3 stride 2 pad 1, 4×512²", lambda: stages.max_pool2d(relu_np, 3, 2, 1),
         lambda: F.max_pool2d(relu_t, 3, 2, 1, return_indices=True)),
        ("avg pool 2×2, 4×512²", lambda: stages.avg_pool2d(relu_np, 2, 2), lambda: F.avg_pool2d(relu_t, 2, 2)),
        ("pipeline, one layer", lambda: stages.run_pipeline(img, bank, labels=labels), lambda: torch_pipeline(False)),
        ("pipeline, two layers", lambda: stages.run_pipeline(img, bank, labels=labels, bank2=bank2), lambda: torch_pipeline(True)),
    ]
    print(f"{'case (512×512 input, 1 thread)':<44}{'ours ms':>9}{'torch ms':>10}{'ratio':>8}")
    for name, ours, ref in cases:
        a, b = median_ms(ours, args.repeat), median_ms(ref, args.repeat)
        print(f"{name:<44}{a:>9.2f}{b:>10.2f}{a / b:>8.2f}")


if __name__ == "__main__":
    main()
