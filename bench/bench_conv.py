"""Time cnn_viz.common.conv.conv2d against torch and SciPy, and the sandbox's whole server-side rerun.

    python bench/bench_conv.py [--repeat 9]

Single-channel 'same' correlation (zero padding) of float32 images, median of --repeat runs.
Ratio = ours / fastest reference (goal: <= 2 on every case).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cnn_viz.common.conv import conv2d  # noqa: E402


def median_ms(fn, repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def bench_conv(repeat: int) -> None:
    import torch
    import torch.nn.functional as F
    from scipy import ndimage

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    print(f"{'case':<16}{'ours':>9}{'torch':>9}{'scipy':>9}   ratio to fastest")
    worst = 0.0
    for n in (512, 1024):
        x = rng.random((n, n), dtype=np.float32)
        xt = torch.from_numpy(x)[None, None]
        for k in (3, 7, 15):
            w = rng.standard_normal((k, k)).astype(np.float32)
            wt = torch.from_numpy(w)[None, None]
            p = k // 2
            ours = median_ms(lambda: conv2d(x, w, padding=p), repeat)
            tor = median_ms(lambda: F.conv2d(xt, wt, padding=p), repeat)
            sci = median_ms(lambda: ndimage.correlate(x, w, mode="constant"), repeat)
            ratio = ours / min(tor, sci)
            worst = max(worst, ratio)
            print(f"{n}² {k}×{k}{'':<8}{ours:9.2f}{tor:9.2f}{sci:9.2f}   {ratio:5.2f}")
    print(f"worst ratio: {worst:.2f} (goal <= 2)")


def bench_sandbox_rerun(repeat: int) -> None:
    """The page's whole server-side rerun for a 512² colour image, through AppTest."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/kernel_sandbox.py").run()
    at.selectbox(key="img_sample").select("Astronaut").run()
    at.toggle(key="img_colour").set_value(True).run()
    assert not at.exception
    for mode in ("each channel", "3-channel kernel"):
        at.radio(key="colour_mode").set_value(mode).run()
        times = []
        for i in range(repeat):
            at.number_input(key="padding").set_value(i % 2).run()  # a real change: recompute everything
            t = time.perf_counter()
            at.number_input(key="padding").set_value((i + 1) % 2).run()
            times.append((time.perf_counter() - t) * 1e3)
        assert not at.exception
        print(f"sandbox rerun, 512² colour, {mode}: median {statistics.median(times):.0f} ms (goal < 150 ms)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--skip-page", action="store_true")
    args = ap.parse_args()
    bench_conv(args.repeat)
    if not args.skip_page:
        bench_sandbox_rerun(args.repeat)
