"""builders.page_spec writes Streamlit's Plotly theme into a small figure on the server, so the chart is drawn
once in Chromium instead of twice. That is only right if the theme it writes is the one Streamlit applies, and
if writing it into the figure draws the same picture: both checked here, in Chromium."""

import importlib.util
import io
import json
import os

import numpy as np
import pytest
from PIL import Image

from cnn_viz.figures import builders
from conftest import OUTPUT, ROOT, start_app, stop_app, wait_chart_still, wait_idle

pytestmark = pytest.mark.browser


def _capture_tool():
    spec = importlib.util.spec_from_file_location("capture_plotly_theme", ROOT / "assets" / "tools" / "capture_plotly_theme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_shipped_theme_is_the_one_streamlit_applies(browser):
    """Read back from a chart Streamlit themes in Chromium with this app's [theme]: a Streamlit upgrade or a new
    theme fails here until `python assets/tools/capture_plotly_theme.py` is rerun."""
    got = _capture_tool().capture(browser=browser)
    assert got == builders.streamlit_theme()
    assert got["layout"]["font"]["size"] == 18 * 0.75  # the app's baseFontSize = 18: the theme's "twoSm" size


PAGES = sorted(p.name for p in (ROOT / "pages").glob("*.py"))


def _page_figures() -> list[dict]:
    """Every figure that builders.page_spec writes out on the pages at their defaults (AppTest, in this process),
    one of each shape (trace types, layout keys, clickable or not), as {"name", "figure", "clickable"}."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from cnn_viz.ui import cached, widgets

    written, clickable = {}, set()
    page_spec, ready = builders.page_spec, widgets._ready

    def spy_spec(fig):
        text, themed = page_spec(fig)
        if not themed:
            written.setdefault(text, builders.spec_text(fig))
        return text, themed

    def spy_ready(data, selectable=False):
        if selectable and isinstance(data, cached.Spec):
            clickable.add(data.text)
        return ready(data, selectable)

    st.cache_data.clear()
    cached._figure_spec.clear()  # every figure built here (a resource cache: other tests may have filled it)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(builders, "page_spec", spy_spec)
        mp.setattr(widgets, "_ready", spy_ready)
        for name in PAGES:
            at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
            at.switch_page(f"pages/{name}").run()
            assert not at.exception, (name, at.exception)
    st.cache_data.clear()
    cached._figure_spec.clear()  # built by the spy: not for the tests after
    figures, seen = [], set()
    for text, original in written.items():
        fig = json.loads(original)
        shape = (tuple(t.get("type", "scatter") for t in fig["data"]), tuple(sorted(fig["layout"])), text in clickable)
        if shape not in seen:
            seen.add(shape)
            title = (fig["layout"].get("title") or {}).get("text") or ""
            figures.append({"name": f"{'/'.join(shape[0][:3])} {title[:40]}", "figure": fig, "clickable": text in clickable})
    return figures


@pytest.fixture(scope="module")
def pairs_url(tmp_path_factory):
    figures = _page_figures()
    path = tmp_path_factory.mktemp("theme") / "figures.json"
    path.write_text(json.dumps(figures))
    os.environ["CNN_VIZ_THEME_FIGURES"] = str(path)  # for the server only
    try:
        proc, url = start_app("theme-pairs-server.log", script="tests/fixtures/theme_pairs_app.py")
    finally:
        del os.environ["CNN_VIZ_THEME_FIGURES"]
    yield url, figures
    stop_app(proc)


def _shot(locator) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(locator.screenshot(animations="disabled"))).convert("RGB"), dtype=np.int16)


# What plotly.js resolved for the chart (its full layout and traces: every setting after defaults and templates),
# arrays cut to their first 12 values, internal keys left out; an axis's range as drawn (``_rl``: after
# Plotly.react without a new calculation, an autoranged axis's ``range`` still reads plotly.js's default [-1, 6]
# while it draws, hovers and zooms on the real one: checked by hand, the same zoomed ranges either way).
_RESOLVED_JS = """() => { const g = document.querySelector('.st-key-chart .js-plotly-plot');
  const clean = (o, d) => { if (d > 8 || o === null || typeof o !== 'object') return o;
    if (ArrayBuffer.isView(o)) return Array.from(o).slice(0, 12);
    if (Array.isArray(o)) return o.slice(0, 12).map(v => clean(v, d + 1));
    const r = {}; for (const k of Object.keys(o)) { if (!k.startsWith('_') && typeof o[k] !== 'function') r[k] = clean(o[k], d + 1); }
    return r; };
  const layout = clean(g._fullLayout, 0);
  for (const k of Object.keys(layout)) if (/^[xy]axis[0-9]*$/.test(k) && g._fullLayout[k]._rl) layout[k].range = Array.from(g._fullLayout[k]._rl);
  return JSON.stringify({layout, data: g._fullData.map(t => clean(t, 0)), size: [g._fullLayout.width, g._fullLayout.height]});
}"""
# Not settings but the state of the last drawing: plotly.js keeps a constrained axis's domain from the drawing before
# when a chart is updated rather than drawn afresh (Plotly.react), and records the ticks it chose.
_GEOMETRY = (".domain", ".dtick", ".tick0")


def _drawn(page, url: str):
    page.goto(url)
    chart = page.locator(".st-key-chart [data-testid='stPlotlyChart']")
    wait_idle(page)
    wait_chart_still(page, ".st-key-chart")
    shot = _shot(chart)
    return shot, json.loads(page.evaluate(_RESOLVED_JS))


def _differences(a, b, path="", out=None, geometry=False):
    """Paths where two resolved figures differ (numbers to 1e-6 relative), the settings or (``geometry``) only
    the geometry."""
    out = [] if out is None else out
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            _differences(a.get(k), b.get(k), f"{path}.{k}", out, geometry)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (u, v) in enumerate(zip(a, b)):
            _differences(u, v, f"{path}[{i}]", out, geometry)
    elif (any(g in path for g in _GEOMETRY) == geometry) and path.rsplit(".", 1)[-1] not in ("datarevision", "uid", "template"):
        if isinstance(a, str) and isinstance(b, str):  # Streamlit's theme bolds a title again when it re-themes
            a, b = (x.replace("<b><b>", "<b>").replace("</b></b>", "</b>") for x in (a, b))
        numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b))
        if (abs(a - b) > 1e-6 * max(1.0, abs(a)) if numbers else a != b):
            out.append((path, a, b))
    return out


def test_a_figure_themed_on_the_server_looks_as_streamlit_themes_it(page, pairs_url):
    """Every kind of figure the pages draw (one of each shape, recorded from the pages themselves): every setting
    plotly.js resolves is the same whether Streamlit themes the figure in the browser or page_spec writes the theme
    in (the strict check, for every figure), and for most the picture too, pixel for pixel. Drawn once instead of
    twice, a chart keeps some geometry from its first drawing (plotly.js keeps a constrained axis's domain when
    Plotly.react needs no new drawing), so in a few an image, a box or a bar edge lands a fraction of a pixel
    apart: those may differ in their pixels (saved to test-output/ to look at), within a pixel of domain."""
    url, figures = pairs_url
    page.goto(url)
    page.wait_for_selector('[data-testid="stCaptionContainer"]')
    wait_idle(page)
    captions = [c.inner_text() for c in page.locator('[data-testid="stCaptionContainer"]').all()]
    assert len(captions) == len(figures) >= 20 and all(c.endswith(": server") for c in captions), captions
    kinds = {t for f in figures for t in (x.get("type", "scatter") for x in f["figure"]["data"])}
    assert {"bar", "heatmap", "image", "scatter"} <= kinds and any(f["clickable"] for f in figures), kinds
    failed, inexact = [], []
    for i, item in enumerate(figures):
        a, fa = _drawn(page, f"{url}/?fig={i}&how=browser")
        b, fb = _drawn(page, f"{url}/?fig={i}&how=server")
        assert np.ptp(a) > 0  # a picture, not a blank box
        settings = _differences(fa, fb)
        if settings or a.shape != b.shape:
            failed.append((i, item["name"], settings[:5] or (a.shape, b.shape)))
            continue
        if np.array_equal(a, b):
            continue
        Image.fromarray(np.concatenate([a, b], axis=0).astype(np.uint8)).save(OUTPUT / f"theme-pair-{i}.png")
        geometry = [d for d in _differences(fa, fb, geometry=True) if d[0].endswith(("domain[0]", "domain[1]"))]
        assert all(abs(x - y) * fa["size"][0] < 1.0 for _, x, y in geometry), (i, item["name"], geometry)
        inexact.append((i, item["name"], int((np.abs(a - b).max(axis=2) > 0).sum())))
    assert not failed, failed  # (figure, name, what differs): both pictures in test-output/theme-pair-<i>.png
    assert len(inexact) <= len(figures) // 4, inexact  # most are the same pixel for pixel
