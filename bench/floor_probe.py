"""What a fresh tab's first visit costs before any lesson: Streamlit alone, and Streamlit + one Plotly chart.

Opens each script in a fresh browser context (empty HTTP cache) ``--n`` times on one warm ``streamlit run``,
timed as bench_browser.py times a first visit (the last DOM change of the settled page), with the browser's
main-thread long tasks. The difference between the two is the price of Streamlit's Plotly chunk on its own;
a lesson page's visit (bench_browser.py) minus the one-chart page is what the app itself adds. Two more scripts
there measure ways under that floor: ``partial_bundle.py`` (the same figure drawn by Plotly's cartesian bundle,
from npm, see below) and ``picture_img.py`` (a picture with hover values and no Plotly).

    .venv/bin/python bench/floor_probe.py [--n 6] [script.py ...]   (default: the two scripts in bench/probe_apps/)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

import bench_browser as bb  # noqa: E402
from conftest import start_app, stop_app  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=6, help="fresh tabs per script (the first is left out of the median)")
    ap.add_argument("scripts", nargs="*", default=["bench/probe_apps/bare.py", "bench/probe_apps/one_chart.py"])
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    for script in args.scripts:
        if Path(script).name == "partial_bundle.py" and not (ROOT / script).with_name("static").joinpath(
                "plotly-cartesian.min.js").exists():
            print(f"{script}: needs bench/probe_apps/static/plotly-cartesian.min.js, from npm: cd bench/probe_apps "
                  "&& npm pack plotly.js-cartesian-dist-min@3.1.0 && tar xzf plotly.js-cartesian-dist-min-3.1.0.tgz "
                  "&& mkdir -p static && mv package/plotly-cartesian.min.js static/ && rm -r package *.tgz")
            continue
        # partial_bundle.py loads Plotly's cartesian bundle from its static folder (served at /app/static/)
        proc, url = start_app("floor_probe_server.log", script, env={"STREAMLIT_SERVER_ENABLE_STATIC_SERVING": "true"})
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=bb.CHROMIUM, args=bb.CHROMIUM_ARGS, headless=True)
                visits = [bb.fresh_tab_visit(browser, url) for _ in range(args.n)]
                browser.close()
        finally:
            stop_app(proc)
        print(f"{script:<32} fresh tab s (long tasks s): " + " ".join(f"{t:.2f} ({lt:.2f})" for t, lt in visits)
              + f" | median after the first {statistics.median(t for t, _ in visits[1:]):.2f} s; "
                f"load {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
