"""Where Chromium spends one page's interactions: a CDP CPU profile of n interactions (bench_browser's), self time
aggregated per function and per script, plus the time in each chart's redraw (Plotly.react) — client side only.

    .venv/bin/streamlit run app.py --server.address 127.0.0.1 --server.port 8690 &   # then, stop it by its PID
    .venv/bin/python bench/profile_browser.py --url http://127.0.0.1:8690 --page mnist_activations [--n 6]
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_browser import _OBSERVER_JS, PAGES, act, settle  # noqa: E402
from conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402


def summarise(profile: dict, top: int) -> None:
    nodes = {n["id"]: n for n in profile["nodes"]}
    dt = collections.Counter()
    samples, deltas = profile.get("samples", []), profile.get("timeDeltas", [])
    for sid, d in zip(samples, deltas):
        dt[sid] += d / 1000.0  # µs -> ms
    by_fn, by_url = collections.Counter(), collections.Counter()
    for sid, ms in dt.items():
        cf = nodes[sid]["callFrame"]
        url = cf.get("url", "").rsplit("/", 1)[-1] or "(native)"
        by_fn[f"{cf.get('functionName') or '(anon)'}  {url}:{cf.get('lineNumber', 0)}"] += ms
        by_url[url] += ms
    total = sum(dt.values())
    print(f"profiled {total:.0f} ms in all")
    print("\nself time by script:")
    for u, ms in by_url.most_common(12):
        print(f"  {ms:8.1f} ms  {100 * ms / total:5.1f} %  {u}")
    print("\nself time by function:")
    for f, ms in by_fn.most_common(top):
        print(f"  {ms:8.1f} ms  {100 * ms / total:5.1f} %  {f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--page", default="mnist_activations")
    ap.add_argument("--n", type=int, default=6, help="interactions profiled")
    ap.add_argument("--url", required=True, help="a running server (loopback)")
    ap.add_argument("--top", type=int, default=40)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    url = args.url
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.set_default_timeout(120_000)
        page.add_init_script("(" + _OBSERVER_JS + ")()")
        page.goto(f"{url}/{args.page}")
        settle(page, 0.0, timeout=600, first=True)
        steps = PAGES[args.page]
        for i in range(2):  # warm: every chunk loaded, every chart drawn once
            settle(page, act(page, *steps[i % len(steps)]))
        cdp = page.context.new_cdp_session(page)
        cdp.send("Profiler.enable")
        cdp.send("Profiler.setSamplingInterval", {"interval": 200})
        cdp.send("Profiler.start")
        lat = []
        for i in range(args.n):
            t0 = act(page, *steps[i % len(steps)])
            lat.append(settle(page, t0))
        prof = cdp.send("Profiler.stop")["profile"]
        browser.close()
    print(f"{args.page}: {args.n} interactions, latency " + ", ".join(f"{x:.2f}" for x in lat) + " s")
    summarise(prof, args.top)


if __name__ == "__main__":
    main()
