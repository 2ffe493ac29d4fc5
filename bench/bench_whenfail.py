"""'When CNNs fail': training seconds per network (one thread) and the page's rerun cost.

    .venv/bin/python bench/bench_whenfail.py [--steps 600]

Prints the seconds of each network's training on the blur (n = 128, 2,000 pairs), and the server-side time of
a page rerun under AppTest after the first (cold) run: a block-slider move on the JPEG tab (cached inputs).
Goal (the class-serving issue): ≤ 60 ms of server CPU per interaction.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def bench_training(steps: int) -> None:
    import torch

    from cnn_viz.whenfail import lab, nets

    torch.set_num_threads(1)
    d = lab.make_data(lab.Setup(operator="blur"))
    x_tik = lab.tikhonov_gcv(d.M, d.b_train)[0]
    for m in nets.LEARNED:
        _, info = nets.train_net(m, d.M, nets.inputs(m, d.M, d.b_train, x_tik), d.x_train, nets.TrainConfig(steps=steps))
        print(f"train {m:8s} {info.parameters:6d} parameters  {steps} steps  {info.seconds:6.1f} s  ({1000 * info.seconds / steps:.1f} ms/step)")


def bench_rerun(repeats: int = 5) -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    at.run()
    t = time.process_time()
    at.switch_page("pages/when_cnns_fail.py").run()
    print(f"first visit: {time.process_time() - t:.2f} s CPU")
    times = []
    for i in range(repeats):
        t = time.process_time()
        at.slider(key="wf_br").set_value(1 + i % 3).run()
        times.append(time.process_time() - t)
    print(f"rerun (block slider): median {1000 * statistics.median(times):.0f} ms CPU over {repeats}")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=600)
    a = p.parse_args()
    bench_rerun()
    bench_training(a.steps)
