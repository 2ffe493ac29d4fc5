"""'When CNNs fail': training seconds per network (one thread) and the page's rerun cost.

    .venv/bin/python bench/bench_whenfail.py [--steps 600]

Prints the seconds of each network's training on the blur (n = 128, 2,000 pairs), and the server-side time of
a page rerun under AppTest after the first (cold) run, per kind of interaction on each tab (cached inputs).
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


def bench_rerun(repeats: int = 7, root: Path = ROOT) -> dict:
    """Server CPU (process time of this process, AppTest runs the script in it) per interaction, median over
    ``repeats`` after two warm-up moves (inputs cached, as for a class where the teacher moved first)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(root / "app.py"), default_timeout=600)
    at.run()
    t = time.process_time()
    at.switch_page("pages/when_cnns_fail.py").run()
    print(f"first visit: {time.process_time() - t:.2f} s CPU")
    moves = {
        "lab: operator": ("1-D lab: operator × method", lambda i: at.selectbox(key="wf_op").set_value(["blur", "block"][i % 2])),
        "lab: held-out example": ("1-D lab: operator × method", lambda i: at.slider(key="wf_ex").set_value(1 + i % 3)),
        "jpeg: block row": ("2-D: JPEG artifacts", lambda i: at.slider(key="wf_br").set_value(1 + i % 3)),
        "jpeg: quality": ("2-D: JPEG artifacts", lambda i: at.number_input(key="wf_q").set_value([10, 20][i % 2])),
        "sgd: data": ("Gradient descent against SGD", lambda i: at.radio(key="wf_sgd_data").set_value(["lab", "mnist"][i % 2])),
    }
    out = {}
    for name, (tab, move) in moves.items():
        at.session_state["wf_tab"] = tab
        at.run()
        times = []
        for i in range(repeats + 2):
            move(i)
            t = time.process_time()
            at.run()
            times.append(time.process_time() - t)
            assert not at.exception, at.exception
        out[name] = 1000 * statistics.median(times[2:])
        print(f"rerun ({name}): median {out[name]:.0f} ms CPU over {repeats}", flush=True)
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--root", type=Path, default=ROOT, help="a checkout of the app to measure (e.g. an older commit)")
    p.add_argument("--rerun-only", action="store_true")
    a = p.parse_args()
    sys.path.insert(0, str(a.root))
    bench_rerun(root=a.root)
    if not a.rerun_only:
        bench_training(a.steps)
