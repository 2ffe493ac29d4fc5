"""A/B of a fresh tab's first visit: the app as it is (st.plotly_chart) against the same app with every chart
drawn by Plotly's cartesian partial bundle through a small st.components.v2 component.

The B side is an experiment, not the app: ``bench/probe_apps/cartesian_renderer.patch`` applied to a git worktree
of HEAD (``ui.plot`` draws every chart with ``Plotly.react`` from ``/app/static/plotly-cartesian.min.js`` when
``CNN_VIZ_PROBE_RENDERER`` is set; no click selection, ``scattergl`` drawn as ``scatter``, Streamlit's theme written
in as ``layout.template``). Both servers run side by side on 127.0.0.1, each page is visited once on each to warm
them, then ``--n`` fresh browser contexts (empty HTTP cache) alternate A, B, timed as bench_browser.py times a
visit (the settled page) with the browser's main-thread long tasks. Needs the bundle, as floor_probe.py says.

    .venv/bin/python bench/renderer_ab.py [--n 4] [page ...]   (default: home and every lesson in bench_browser)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

import bench_browser as bb  # noqa: E402
from conftest import start_app, stop_app  # noqa: E402

BUNDLE = ROOT / "bench" / "probe_apps" / "static" / "plotly-cartesian.min.js"
PATCH = ROOT / "bench" / "probe_apps" / "cartesian_renderer.patch"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4, help="fresh tabs per page and side")
    ap.add_argument("pages", nargs="*", default=["", *bb.PAGES])
    args = ap.parse_args()
    if not BUNDLE.exists():
        sys.exit(f"needs {BUNDLE.relative_to(ROOT)}: run `.venv/bin/python bench/floor_probe.py "
                 "bench/probe_apps/partial_bundle.py` for the npm command")
    from playwright.sync_api import sync_playwright

    tree = Path(tempfile.mkdtemp(prefix="renderer_ab_")) / "b"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), "HEAD"], cwd=ROOT, check=True, capture_output=True)
    servers = []
    try:
        subprocess.run(["git", "apply", str(PATCH)], cwd=tree, check=True)
        (tree / "static").mkdir()
        shutil.copy(BUNDLE, tree / "static")
        servers.append(start_app("renderer_ab_a.log"))
        servers.append(start_app("renderer_ab_b.log", cwd=tree, env={"CNN_VIZ_PROBE_RENDERER": "1"}))
        (_, a_url), (_, b_url) = servers
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=bb.CHROMIUM, args=bb.CHROMIUM_ARGS, headless=True)
            for name in args.pages:  # torch, the shipped network and the caches loaded on both
                bb.fresh_tab_visit(browser, f"{a_url}/{name}")
                bb.fresh_tab_visit(browser, f"{b_url}/{name}")
            print(f"{'page':<18} {'st.plotly_chart s':>17} {'(long s)':>8} {'cartesian s':>11} {'(long s)':>8}  visits A | B")
            for name in args.pages:
                a, b = [], []
                for _ in range(args.n):
                    a.append(bb.fresh_tab_visit(browser, f"{a_url}/{name}"))
                    b.append(bb.fresh_tab_visit(browser, f"{b_url}/{name}"))
                med = [statistics.median(x[i] for x in side) for side in (a, b) for i in (0, 1)]
                print(f"{name or 'home':<18} {med[0]:17.2f} {med[1]:8.2f} {med[2]:11.2f} {med[3]:8.2f}  "
                      + " ".join(f"{t:.2f}" for t, _ in a) + " | " + " ".join(f"{t:.2f}" for t, _ in b)
                      + f"  load {os.getloadavg()[0]:.1f}", flush=True)
            browser.close()
    finally:
        for proc, _ in servers:
            stop_app(proc)
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)
        shutil.rmtree(tree.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
