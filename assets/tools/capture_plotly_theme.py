"""Capture the Plotly theme that st.plotly_chart's Streamlit theme applies in the browser, for this app's
``[theme]`` settings (.streamlit/config.toml), into assets/streamlit_plotly_theme.json.

``builders.page_spec`` writes this theme into a small figure on the server, so the chart is sent without
Streamlit's theme and plotly.js draws it once instead of twice (bench/RESULTS_perf.md, 2026-12-03). The theme is
Streamlit's own: its frontend builds it from the theme settings (fonts, colours, sizes), so it is read back from a
chart drawn in Chromium (assets/tools/plotly_theme_probe.py) rather than written by hand.
tests/test_plot_theme_browser.py captures it again and compares: a Streamlit upgrade or a new ``[theme]`` fails
there until this is rerun.

    python assets/tools/capture_plotly_theme.py          # writes assets/streamlit_plotly_theme.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "assets" / "streamlit_plotly_theme.json"
sys.path.insert(0, str(ROOT / "tests"))

from conftest import CHROMIUM, CHROMIUM_ARGS, start_app, stop_app, wait_chart_still  # noqa: E402

def capture(browser=None) -> dict:
    """The template Streamlit's frontend gives a Plotly chart that has none (its ``layout``: what the theme
    merges over a figure's own template layout, the theme's values winning; no trace defaults), read in Chromium
    from the probe served with the repository's .streamlit/config.toml. ``browser``: a Playwright browser to use
    (else one is launched)."""
    proc, url = start_app("plotly-theme-probe.log", script="assets/tools/plotly_theme_probe.py")
    try:
        if browser is not None:
            return _read(browser, url)
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                return _read(b, url)
            finally:
                b.close()
    finally:
        stop_app(proc)


def _read(browser, url: str) -> dict:
    ctx = browser.new_context(viewport={"width": 1000, "height": 800})
    try:
        page = ctx.new_page()
        page.goto(url, timeout=60_000)
        wait_chart_still(page, ".st-key-probe")  # themed at mount and again in an effect: the template it settled on
        return page.evaluate("() => document.querySelector('.st-key-probe .js-plotly-plot').layout.template")
    finally:
        ctx.close()


def main() -> None:
    theme = capture()
    OUT.write_text(json.dumps(theme, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}: layout keys {sorted(theme['layout'])}, trace types {sorted(theme.get('data') or {})}")


if __name__ == "__main__":
    main()
