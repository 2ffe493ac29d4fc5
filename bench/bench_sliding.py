"""The sliding-kernel page: server work per rerun, the matrix M against torch, the GIF, and the
animation's frame rate in headless Chromium.

    python bench/bench_sliding.py [--repeat 7] [--no-browser]

The 28×28 digit with the report's 3×3 vertical-edge kernel and padding 1: 784 steps.
Goal: Play at >= 10 steps per second at the 10/s setting (ratio >= 1), with no server work per frame.
The machine's load average is printed with the browser numbers: other work on the 2 cores slows them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_conv import median_ms  # noqa: E402

from cnn_viz.common import images  # noqa: E402
from cnn_viz.common.conv import conv2d  # noqa: E402
from cnn_viz.sliding import figures, gif, ops  # noqa: E402

KERNEL = np.array([[-1.0, 0, 1]] * 3)


def digit_sweep() -> ops.Sweep:
    return ops.make_sweep(images.load_sample("Handwritten 7 (MNIST)"), KERNEL, padding=1)


def bench_server(repeat: int) -> None:
    import plotly.io as pio

    sw = digit_sweep()
    m = ops.conv_matrix_of(sw)
    fig = figures.sweep_figure(sw, 100, fps=10)
    size = len(pio.to_json(fig, validate=False))
    print(f"digit sweep: {sw.n_steps} steps, animation JSON {size / 1e6:.2f} MB ({size / sw.n_steps:.0f} bytes per frame)")
    rows = [
        ("make_sweep + values", lambda: digit_sweep().values),
        ("animated figure (784 frames)", lambda: figures.sweep_figure(sw, 100, fps=10)),
        ("  ... serialised (to_json)", lambda: pio.to_json(fig, validate=False)),
        ("step grids figure", lambda: figures.step_grids_figure(sw, 100)),
        ("conv_matrix 784×784", lambda: ops.conv_matrix_of(sw)),
        ("matrix figure (scattergl)", lambda: figures.matrix_figure(m, sw, 100)),
        ("formula (LaTeX)", lambda: sw.formula_latex(100)),
    ]
    total = 0.0
    for name, fn in rows:
        ms = median_ms(fn, repeat)
        total += ms
        print(f"  {name:<32}{ms:8.1f} ms")
    print(f"  {'sum (one step click, digit)':<32}{total:8.1f} ms")


def bench_matrix(repeat: int) -> None:
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
    sw = digit_sweep()
    x = sw.image
    xt = torch.from_numpy(x)[None]
    w = torch.from_numpy(sw.kernel)[None]
    m = ops.conv_matrix_of(sw)
    build = median_ms(lambda: ops.conv_matrix_of(sw), repeat)
    jac = median_ms(lambda: torch.autograd.functional.jacobian(lambda t: F.conv2d(t[None], w, padding=1).reshape(-1), xt[0]), max(3, repeat // 2))
    apply_m = median_ms(lambda: m @ x.ravel(), repeat * 5)
    apply_t = median_ms(lambda: F.conv2d(xt, w, padding=1), repeat * 5)
    apply_c = median_ms(lambda: conv2d(x, sw.kernel, padding=1), repeat * 5)
    print("convolution as a matrix (digit, 784×784, nnz %d):" % m.nnz)
    print(f"  build M (sparse)            {build:8.2f} ms   torch dense Jacobian {jac:8.2f} ms   ratio {build / jac:.3f}")
    print(f"  M @ vec(x)                  {apply_m:8.3f} ms   torch conv2d {apply_t:.3f} ms, ours conv2d {apply_c:.3f} ms   ratio to torch {apply_m / apply_t:.2f}")


def bench_gif() -> None:
    for name, sw in (("Figure 1 (6 steps)", ops.figure1_sweep()), ("digit (784 steps)", digit_sweep())):
        t = time.perf_counter()
        data = gif.sweep_gif(sw, fps=10)
        print(f"GIF {name}: {time.perf_counter() - t:.2f} s, {len(data) / 1e6:.2f} MB, 960×540")


JS_COST = """async () => { const gd = document.querySelector('.js-plotly-plot'); const ts = [];
  for (let k = 1; k < 120; k++) { const t0 = performance.now();
    await Plotly.animate(gd, [String(k)], {frame: {duration: 0, redraw: false}, transition: {duration: 0}, mode: 'immediate'});
    ts.push(performance.now() - t0); }
  ts.sort((a, b) => a - b); return [ts[0], ts[Math.floor(ts.length / 2)]]; }"""
JS_LISTEN = """() => { const gd = document.querySelector('.js-plotly-plot'); window.__f = [];
  gd.on('plotly_animatingframe', e => window.__f.push(performance.now())); }"""


def bench_browser(seconds: float = 5.0, nice: int = 0) -> None:
    import plotly.io as pio
    from playwright.sync_api import sync_playwright

    sw = digit_sweep()
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        if nice:  # a wrapper that starts the browser at another priority (negative needs root)
            wrapper = Path(tmp) / "chromium-nice"
            wrapper.write_text(f'#!/bin/sh\nexec nice -n {nice} {chromium} "$@"\n')
            wrapper.chmod(0o755)
            chromium = str(wrapper)
        b = p.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = b.new_page(viewport={"width": 1400, "height": 900})
        print(f"browser (headless Chromium at nice {nice}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores):")
        for fps in (10, 30, 60):
            html = Path(tmp) / f"sweep{fps}.html"
            pio.write_html(figures.sweep_figure(sw, 0, fps=fps), str(html), include_plotlyjs=True, auto_play=False)
            page.goto(html.as_uri())
            page.wait_for_timeout(1000)
            if fps == 10:
                lo, med = page.evaluate(JS_COST)
                print(f"  one frame (Plotly.animate, redraw false): min {lo:.1f} ms, median {med:.1f} ms")
                page.goto(html.as_uri())
                page.wait_for_timeout(1000)
            page.evaluate(JS_LISTEN)
            page.locator(".updatemenu-button").first.click()
            page.wait_for_timeout(seconds * 1000)
            t = page.evaluate("window.__f")
            rate = (len(t) - 1) / ((t[-1] - t[0]) / 1000)
            print(f"  Play at the {fps}/s setting: {rate:5.1f} steps/s over {len(t)} frames   ratio to setting {rate / fps:.2f}")
        b.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--nice", type=int, default=0, help="run the browser at this niceness (e.g. -10 as root) to measure it apart from other work on the machine")
    ap.add_argument("--browser-only", action="store_true")
    args = ap.parse_args()
    if not args.browser_only:
        bench_server(args.repeat)
        bench_matrix(args.repeat)
        bench_gif()
    if not args.no_browser:
        bench_browser(nice=args.nice)


if __name__ == "__main__":
    main()
