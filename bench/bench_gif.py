"""Peak memory of the sliding-kernel page's "Make a GIF of the sweep", for the largest sweeps the page allows.

    python bench/bench_gif.py [--root PATH] [--fps 10]

Each case runs in a fresh child process: it imports the code, builds the sweep, reads its RSS ("idle"),
resets the kernel's high-water mark, makes the GIF the way the page does (``gif.make_gif``) and reads the
peak RSS after (``VmHWM`` in /proc/self/status; not ``ru_maxrss``, which Linux carries over from the parent
process across fork and exec, so under pytest it would report the test process's size).
Goal: peak − idle <= 100 MB for every sweep the page allows (the page shrinks a picture to 32×32 and
allows padding up to 8; a 1×1 kernel with stride 1 then visits 48 × 48 = 2,304 positions).
``--root /work/main`` measures another checkout of the code (the numbers before a change).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_MB = 100

CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
from cnn_viz.common import images
from cnn_viz.sliding import gif, ops

case, fps = sys.argv[2], float(sys.argv[3])
if case == "digit":
    picture, kernel = images.load_sample("Handwritten 7 (MNIST)"), np.ones((1, 1))
else:
    picture = images.resize_max(images.load_sample("Astronaut"), ops.PICTURE_SIDE)  # 32×32 colour, as the page has it
    kernel = np.ones((3, 1, 1))

def status_mb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024

def rss_mb():
    return status_mb("VmRSS")

sweep, failure = ops.try_sweep(picture, kernel, padding=8)
assert failure is None, failure
idle = rss_mb()
try:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
except OSError:
    pass
t = time.perf_counter()
g = gif.make_gif(sweep, fps=fps)
seconds = time.perf_counter() - t
peak = status_mb("VmHWM")
print(json.dumps(dict(steps=sweep.n_steps, frames=g.frames, mb=len(g.data) / 1e6, idle=idle, peak=peak,
                      seconds=seconds, after=rss_mb())))
"""


def run_case(root: Path, case: str, fps: float) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(root), case, str(fps)], capture_output=True, text=True,
                         timeout=1800)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=ROOT, help="checkout whose cnn_viz is measured")
    ap.add_argument("--fps", type=float, default=10)
    args = ap.parse_args()
    print(f"GIF of the sweep, code at {args.root}, {args.fps:g} steps per second, peak RSS in a child process:")
    worst = 0.0
    for case, what in (("digit", "28×28 digit, 1×1 kernel, padding 8"), ("colour", "32×32 colour picture, 1×1×3 kernel, padding 8")):
        r = run_case(args.root, case, args.fps)
        rise = r["peak"] - r["idle"]
        worst = max(worst, rise)
        print(f"  {what:<48} {r['steps']:5d} steps -> {r['frames']:5d} frames, {r['mb']:6.1f} MB GIF, "
              f"{r['seconds']:6.1f} s; RSS idle {r['idle']:6.0f} MB, peak {r['peak']:6.0f} MB "
              f"(+{rise:.0f} MB), after {r['after']:6.0f} MB")
    print(f"  worst peak above idle: {worst:.0f} MB (goal <= {GOAL_MB} MB): ratio {worst / GOAL_MB:.2f}")


if __name__ == "__main__":
    main()
