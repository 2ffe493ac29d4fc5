"""Would preloading Streamlit's lazy chunks speed up a fresh tab's first visit? (An A/B; result: no.)

Streamlit's client loads each element kind's code when its first element arrives: Plotly's 4.7 MB chunk is
requested only ~1 s into a first visit, when the script's first chart delta comes. This bench opens each
page in a fresh browser (new context, empty HTTP cache) three ways, on one warm ``streamlit run app.py``:
  none    the page as Streamlit serves it;
  html    ``<link rel="modulepreload">`` tags for the chunks (and their imports index.html does not already
          preload) inserted at the top of the HTML;
  header  the same as an HTTP ``Link: <...>; rel=modulepreload`` header (what a proxy could add).
The page is rewritten with Playwright's routing, which makes Chromium treat it as non-local: the probe
turns Chromium's local-network-access checks off (else the websocket to 127.0.0.1 is refused).

    .venv/bin/python bench/preload_probe.py [--pages sliding_kernel,low_rank,kernel_sandbox]
                                            [--chunks PlotlyChart,DataFrame] [--n 4]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_browser import _OBSERVER_JS, settle  # noqa: E402
from conftest import CHROMIUM, CHROMIUM_ARGS, start_app, stop_app  # noqa: E402


def lazy_chunks(components: list[str]) -> list[str]:
    """The JavaScript files Streamlit's client imports for these element kinds (e.g. ``PlotlyChart``) that
    index.html does not already preload, read from the installed package's bundle map."""
    import streamlit

    static = Path(streamlit.__file__).parent / "static"
    index = next((static / "static" / "js").glob("index.*.js")).read_text()
    html = (static / "index.html").read_text()
    files = json.loads("[" + re.search(r"m\.f=\[(.*?)\]", index).group(1) + "]")
    preloaded = set(re.findall(r'\./static/js/([^"]+\.js)', html))
    out = []
    for comp in components:
        m = re.search(r"import\(`\./(" + comp + r"\.[^`]+\.js)`\)[^_]*__vite__mapDeps\(\[([0-9,]+)\]", index)
        deps = [files[int(i)].removeprefix("./") for i in m.group(2).split(",")]
        out += [d for d in deps if d.endswith(".js") and not d.startswith(".") and d not in preloaded]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", default="sliding_kernel,low_rank,kernel_sandbox")
    ap.add_argument("--chunks", default="PlotlyChart,DataFrame")
    ap.add_argument("--n", type=int, default=4)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    links = lazy_chunks(args.chunks.split(","))
    print(f"preloading {len(links)} files")
    proc, url = start_app("preload_probe_server.log")
    try:
        res: dict[tuple[str, str], list[float]] = {}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS + [
                "--disable-features=LocalNetworkAccessChecks,LocalNetworkAccessChecksWebSockets"])

            def visit(name: str, mode: str) -> float:
                ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = ctx.new_page()
                page.set_default_timeout(120_000)
                page.add_init_script("(" + _OBSERVER_JS + ")()")
                if mode != "none":
                    def rewrite(route):
                        r = route.fetch()
                        body = r.text()
                        headers = {k: v for k, v in r.headers.items()
                                   if k.lower() not in ("content-length", "content-encoding")}
                        if mode == "html":
                            tags = "".join(f'<link rel="modulepreload" crossorigin href="./static/js/{f}">'
                                           for f in links)
                            body = body.replace("<head>", "<head>" + tags, 1)
                        else:
                            headers["link"] = ", ".join(f"</static/js/{f}>; rel=modulepreload" for f in links)
                        route.fulfill(status=r.status, headers=headers, body=body)
                    page.route(f"{url}/{name}", rewrite)
                page.goto(f"{url}/{name}")
                t = settle(page, 0.0, timeout=120, first=True)
                ctx.close()
                return t

            for name in args.pages.split(","):
                visit(name, "none")                      # the server's first run of each page
            for _ in range(args.n):
                for name in args.pages.split(","):
                    for mode in ("none", "html", "header"):
                        res.setdefault((name, mode), []).append(visit(name, mode))
            browser.close()
        for (name, mode), v in res.items():
            print(f"{name:<16} {mode:<7} median {statistics.median(v):.2f} s  {[round(x, 2) for x in v]}")
        print(f"load average {os.getloadavg()[0]:.1f}")
    finally:
        stop_app(proc)

if __name__ == "__main__":
    main()
