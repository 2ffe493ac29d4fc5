"""Time the trained-MNIST page: forward with every activation, the rerun after a new drawing, training.

    python bench/bench_mnist.py [--repeat 51] [--epochs 2] [--skip-train]

1. One digit through SimpleCNN with all 13 intermediates (cnn_viz.mnist.model.activations), against the
   model's own forward (the reference: what torch does anyway). Goal: < 20 ms.
2. The page's server-side work after a new drawing, function by function as the page calls them
   (preprocess the 280×280 canvas, the reading of every layer, every figure of the default view,
   Plotly JSON as st.plotly_chart sends it), and the whole page rerun under AppTest. Goal: < 300 ms.
3. Seconds per epoch of training (4,000 digits, batch 64, augmentation) with 1 and 2 torch threads.
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
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_conv import median_ms  # noqa: E402  (median of repeated timings, in ms)


def bench_forward(net, digit, repeat: int) -> None:
    import torch

    from cnn_viz.mnist import model

    x = model.as_input(digit)

    def plain():
        with torch.inference_mode():
            net(x)

    ours = median_ms(lambda: model.activations(net, digit), repeat)
    ref = median_ms(plain, repeat)
    sal = median_ms(lambda: model.saliency(net, digit), repeat)
    cam = median_ms(lambda: model.grad_cam(net, digit), repeat)
    print(f"forward, all 13 activations, one digit: {ours:.3f} ms (model's own forward {ref:.3f} ms, ratio {ours / ref:.2f}); goal < 20 ms")
    print(f"saliency {sal:.2f} ms, Grad-CAM {cam:.2f} ms")


def bench_rerun(net, canvas, repeat: int) -> None:
    from cnn_viz.figures import builders
    from cnn_viz.mnist import explain, figures, model, prep

    def page_work():
        prepared = prep.prepare(canvas)
        reading = explain.read(net, prepared.digit)
        big = explain.big_map(reading, explain.filters(net), "conv1", 0)
        figs = [figures.preprocessing_figure(prepared), figures.probability_figure(reading.probs)]
        figs += [figures.layer_figure(name, reading.maps[name]) for name in explain.MAP_LAYERS]
        figs += [figures.vector_figure(reading.maps["fc1"]), figures.logits_figure(reading.maps["fc2"]),
                 builders.signed_map_figure(big.values), builders.kernel_figure(big.kernel)]
        return sum(len(f.to_json()) for f in figs)

    parts = {
        "preprocess the canvas": lambda: prep.prepare(canvas),
        "activations": lambda: model.activations(net, prep.prepare(canvas).digit),
    }
    for name, fn in parts.items():
        print(f"  {name}: {median_ms(fn, repeat):.2f} ms")
    size = page_work()
    total = median_ms(page_work, max(5, repeat // 5))
    print(f"page work after a new drawing (default tab: 14 figures built and serialized, {size / 1e3:.0f} kB JSON): "
          f"{total:.1f} ms; goal < 300 ms")


def bench_apptest(repeat: int) -> None:
    from streamlit.testing.v1 import AppTest

    from cnn_viz.mnist import data

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/mnist_activations.py").run()
    held = data.train_test_split()[1]
    gallery = data.gallery(held)
    times = []
    for i in range(repeat):
        t = time.perf_counter()
        at.selectbox(key="mn_gallery").set_value(gallery[i % len(gallery)]).run()
        times.append((time.perf_counter() - t) * 1e3)
        assert not at.exception
    print(f"whole page rerun under AppTest after picking a new digit (default tab): median {statistics.median(times):.0f} ms, "
          f"min {min(times):.0f} ms over {repeat}")


def bench_train(epochs: int) -> None:
    import torch

    from cnn_viz.mnist import data, train

    tr, held = data.train_test_split()
    for threads in (1, 2):
        torch.set_num_threads(threads)
        res = train.train(tr, held_out=held, epochs=epochs, seed=0)
        per = [h.seconds for h in res.history]
        print(f"training, {threads} thread(s): {statistics.median(per):.2f} s per epoch of 4,000 digits "
              f"({', '.join(f'{s:.2f}' for s in per)}); held-out accuracy after {epochs}: {res.history[-1].test_acc:.3f}")
    torch.set_num_threads(1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=51)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--skip-train", action="store_true")
    args = ap.parse_args()
    import os

    import torch

    from cnn_viz.mnist import data, model

    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    net = model.load_pretrained()
    held = data.train_test_split()[1]
    digit = held.images[list(held.rows).index(data.DIGIT_7_ROW)]
    canvas = np.load(ROOT / "tests" / "fixtures" / "drawn_digits.npz")["canvas"][14]
    bench_forward(net, digit, args.repeat)
    bench_rerun(net, canvas, args.repeat)
    bench_apptest(11)
    if not args.skip_train:
        bench_train(args.epochs)


if __name__ == "__main__":
    main()
