"""Time one training epoch of the "Your own network" examples and compare it with the page's estimate.

    python bench/bench_design.py [--digits 1000] [--threads 1]

For each example design (cnn_viz.mnist.design.EXAMPLES): the multiply-adds per digit, the page's estimated
seconds per epoch of 4,000 digits (design.estimate_seconds_per_epoch, which uses MACS_PER_SECOND and
SECONDS_PER_DIGIT), and one measured epoch of ``--digits`` digits (batch 64, Adam, augmentation, the page's
loop train.train) scaled to 4,000. A ratio measured / estimated above 1 means the estimate is optimistic on
this machine right now (the box is shared, so run it a few times). Goal: ratio ≤ 1 when the box is quiet.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--digits", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    import torch

    from cnn_viz.mnist import design, train
    from cnn_viz.mnist.data import train_test_split

    torch.set_num_threads(args.threads)
    tr, _ = train_test_split()
    digits = tr.spread(args.digits)
    print(f"{'design':40s} {'params':>9s} {'MMAC':>7s} {'estimate s':>10s} {'measured s':>10s} {'ratio':>6s}")
    for name, d in design.EXAMPLES.items():
        s = design.summarize(d)
        t0 = time.perf_counter()
        train.train(digits, epochs=1, make_model=lambda d=d: design.DesignNet(d))
        measured = (time.perf_counter() - t0) * design.TRAIN_DIGITS / len(digits)
        print(f"{name[:40]:40s} {s.params:9,d} {s.macs / 1e6:7.2f} {s.seconds_per_epoch:10.1f} {measured:10.1f} "
              f"{measured / s.seconds_per_epoch:6.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
