"""The trained-MNIST page in Chromium: draw digits on the canvas with the mouse and read the prediction.

`test_draw_a_digit_and_see_the_prediction` is the everyday check. `test_drawn_digits_fixture` draws
all 20 digits of tests/drawn_strokes.py and checks the page's answers against the core on the
fixture; with MAKE_DRAWN_FIXTURE=1 it (re)writes tests/fixtures/drawn_digits.npz from the canvas.
"""

from __future__ import annotations

import base64
import io
import os
import re

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from conftest import OUTPUT, ROOT, assert_no_exception, wait_idle
from drawn_strokes import DIGITS, to_canvas, variants

pytestmark = pytest.mark.browser
FIXTURE = ROOT / "tests" / "fixtures" / "drawn_digits.npz"
METRIC = '[data-testid="stMetric"]'

# How many runs of the script this tab has seen: Streamlit's script state (data-test-script-state on stApp)
# leaving "notRunning", or a message from the server. Every mutation record is counted, so two quick runs are
# not taken for one; a run answered from caches can start and end inside one render, so the script state
# never shows it, but its deltas and script_finished still arrive over the websocket (counted from the page's
# start by _WS_JS).
_WS_JS = """(() => {
  window.__mnMsgs = 0;
  const WS = window.WebSocket;
  window.WebSocket = class extends WS {
    constructor(...args) { super(...args); this.addEventListener('message', () => { window.__mnMsgs += 1; }); }
  };
})()"""
_RUNS_JS = """() => {
  if (window.__mnRuns === undefined) {
    window.__mnRuns = 0;
    const app = document.querySelector('[data-testid="stApp"]');
    new MutationObserver(records => {
      for (const r of records) if (r.oldValue === 'notRunning') window.__mnRuns += 1;
    }).observe(app, {attributes: true, attributeFilter: ['data-test-script-state'], attributeOldValue: true});
  }
  return window.__mnRuns + (window.__mnMsgs || 0);
}"""


def runs(page) -> int:
    return page.evaluate(_RUNS_JS)


def wait_rerun(page, before: int) -> None:
    """Wait until a run started after ``before`` (a ``runs`` count) has finished."""
    page.wait_for_function("n => window.__mnRuns + (window.__mnMsgs || 0) > n", arg=before)
    wait_idle(page)


def open_draw(page, app_url):
    page.add_init_script(_WS_JS)
    page.goto(f"{app_url}/mnist_activations?mn_source=Draw")
    wait_idle(page)
    canvas = page.locator("canvas.upper-canvas")
    canvas.wait_for(state="visible", timeout=60_000)
    canvas.scroll_into_view_if_needed()
    runs(page)  # start counting the runs
    return canvas


def draw(page, canvas, digit: int, placement: dict) -> None:
    """Draw the digit stroke by stroke; each stroke is sent to the app, which reruns: wait for that run
    (and, after the first stroke, for the prediction it produces) before the next stroke."""
    box = canvas.bounding_box()
    for stroke in DIGITS[digit]:
        before = runs(page)
        pts = [to_canvas(u, v, placement) for u, v in stroke]
        page.mouse.move(box["x"] + pts[0][0], box["y"] + pts[0][1])
        page.mouse.down()
        for x, y in pts[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=6)
        page.mouse.up()
        wait_rerun(page, before)
        page.locator(METRIC).first.wait_for()


def prediction(page) -> tuple[str, str]:
    metric = page.locator(METRIC).first
    return metric.locator('[data-testid="stMetricValue"]').inner_text().strip(), metric.inner_text()


def wait_for_prediction(page, timeout_ms: int = 30_000) -> str:
    page.wait_for_selector(METRIC, timeout=timeout_ms)
    wait_idle(page)
    value, _ = prediction(page)
    return value


def canvas_pixels(page) -> np.ndarray:
    """What the canvas holds, as the (280, 280, 4) RGBA array the component sends to Python."""
    url = page.locator("canvas.upper-canvas").first.evaluate(
        "u => u.parentElement.querySelector('canvas.lower-canvas').toDataURL('image/png')")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGBA"))


def clear(page):
    """Clear the canvas and wait until the prediction has gone (the blank canvas has been read)."""
    before = runs(page)
    page.locator('button[aria-label="Reset canvas & history"]').first.click()
    # the rerun the reset sends, or (when the canvas was read blank already) no prediction left to clear
    page.wait_for_function("([n, sel]) => window.__mnRuns + (window.__mnMsgs || 0) > n || !document.querySelector(sel)", arg=[before, METRIC],
                           timeout=180_000)
    wait_idle(page)
    expect(page.locator(METRIC)).to_have_count(0)
    wait_idle(page)


def test_draw_a_digit_and_see_the_prediction(page, app_url):
    canvas = open_draw(page, app_url)
    assert page.locator(METRIC).count() == 0  # nothing drawn: no prediction yet
    draw(page, canvas, 7, variants()[14][1])
    value = wait_for_prediction(page)
    assert_no_exception(page)
    page.screenshot(path=str(OUTPUT / "mnist-draw-7.png"), full_page=True)
    assert value == "7", prediction(page)[1]
    assert re.search(r"\d+\.\d% sure", prediction(page)[1])
    # the preprocessing figure and the layer grids are there
    assert page.get_by_text("What the network sees").count() == 1
    assert page.get_by_text("16 maps of 28×28").count() >= 1
    # clearing the canvas removes the prediction again
    clear(page)
    assert page.locator(METRIC).count() == 0
    assert_no_exception(page)


@pytest.mark.slow
def test_drawn_digits_fixture(page, app_url):
    from cnn_viz.mnist import model, prep

    net = model.load_pretrained()
    canvas = open_draw(page, app_url)
    arrays, labels, shown = [], [], []
    for digit, placement in variants():
        draw(page, canvas, digit, placement)
        value = wait_for_prediction(page)
        pixels = canvas_pixels(page)
        expected = str(int(np.argmax(model.predict(net, prep.prepare(pixels).digit))))
        # the canvas sends its picture a moment after the last stroke, so the page can still show the answer for
        # the picture before it: the page's answer is the one it settles on (else the assertion below fails)
        if value != expected:
            try:
                expect(page.locator(METRIC).first.locator('[data-testid="stMetricValue"]')).to_have_text(expected, timeout=30_000)
            except AssertionError:
                pass  # the assertion below names the answer the page kept
            wait_idle(page)
            value = prediction(page)[0]
        arrays.append(pixels)
        labels.append(digit)
        shown.append(int(value))
        clear(page)
    assert_no_exception(page)
    arrays = np.stack(arrays)
    labels = np.array(labels)
    shown = np.array(shown)
    # the page's answer is the core's answer on the canvas pixels
    core = np.array([int(np.argmax(model.predict(net, prep.prepare(a).digit))) for a in arrays])
    assert np.array_equal(shown, core), (shown, core)
    print(f"accuracy on {len(labels)} browser-drawn digits: {(shown == labels).mean():.0%}; page said {shown.tolist()}")
    if os.environ.get("MAKE_DRAWN_FIXTURE"):
        FIXTURE.parent.mkdir(exist_ok=True)
        np.savez_compressed(FIXTURE, canvas=arrays, labels=labels)
    else:
        fixed = np.load(FIXTURE)
        assert np.array_equal(fixed["labels"], labels)
    assert (shown == labels).mean() >= 0.8


def test_train_your_own_live_then_stop(page, app_url):
    """Train in the browser: progress and a live chart per epoch; Stop keeps the epochs done; the network can be chosen."""
    page.goto(f"{app_url}/mnist_activations?mn_tab=Train+your+own")
    wait_idle(page)
    tab = page.get_by_test_id("stTabs")
    tab.get_by_role("button", name="Train").click()
    page.wait_for_selector('[data-testid="stProgress"]', timeout=30_000)
    page.get_by_text("epoch 1: held-out accuracy").wait_for(timeout=120_000)
    tab.get_by_role("button", name="Stop").click()
    page.get_by_text(re.compile(r"Stopped: your network keeps the \d+ finished epoch")).wait_for(timeout=60_000)
    wait_idle(page)
    assert_no_exception(page)
    alerts = " ".join(a.inner_text() for a in page.locator('[data-testid="stAlert"]').all())
    m = re.search(r"Stopped: your network keeps the (\d+) finished epoch", alerts)
    assert m and 1 <= int(m.group(1)) < 5, alerts
    metrics = page.locator(METRIC)
    texts = [metrics.nth(i).inner_text() for i in range(metrics.count())]
    assert any(f"{m.group(1)} of 5 epochs" in t and "stopped" in t for t in texts), texts
    page.screenshot(path=str(OUTPUT / "mnist-train-stopped.png"), full_page=True)
    # the trained network is offered in the sidebar, and looking inside it works
    page.get_by_test_id("stSidebar").get_by_text("Yours (trained here)").click()
    page.get_by_text("Your network reads").wait_for()
    wait_idle(page)
    assert_no_exception(page)
    assert page.get_by_text("Your network reads").count() == 1


_DRAWS_JS = """() => {
  window.__draws = [];
  const toDataURL = HTMLCanvasElement.prototype.toDataURL;  // plotly.js draws each heatmap on a canvas, then takes its PNG
  HTMLCanvasElement.prototype.toDataURL = function (...args) {
    window.__draws.push(this.width + 'x' + this.height);
    return toDataURL.apply(this, args);
  };
}"""


def test_a_new_digit_draws_each_layer_grid_once(page, app_url):
    """Streamlit mounts a changed chart, then hands plotly.js a copy of its figure: a picture written by
    builders.page_spec is not drawn again (before, every heatmap of a new digit was drawn twice)."""
    page.add_init_script(_WS_JS)
    page.add_init_script(f"({_DRAWS_JS})()")
    page.goto(f"{app_url}/mnist_activations")
    wait_idle(page)
    expect(page.get_by_text("16 maps of 28×28").first).to_be_visible()
    page.wait_for_function(_ALL_DRAWN_JS)  # the first digit's grids: 7 wide canvases, every chart drawn
    before = runs(page)
    page.evaluate("() => { window.__draws = []; }")
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text="Digit").first
    box.locator('[role="combobox"], input').first.click()
    expect(page.locator('[role="option"]').first).to_be_visible()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    wait_rerun(page, before)
    page.wait_for_function(_ALL_DRAWN_JS)
    assert_no_exception(page)
    draws = page.evaluate("() => window.__draws")
    wide = [d for d in draws if int(d.split("x")[0]) >= 300]  # the six layer grids' hover values and fc1's units
    assert len(set(wide)) >= 7, draws
    assert sorted(wide) == sorted(set(wide)), draws  # each drawn once


# The new digit's pictures are all drawn (at least 7 wide canvases since the count was reset, no chart still loading,
# every chart's SVG there) and the page has been still since: the second drawing, when there was one, followed the
# first within a few frames, so a page quiet for 20 animation frames has drawn all it will.
_ALL_DRAWN_JS = """() => {
  const b = window.__quiet = window.__quiet || {frames: 0, n: -1};
  const n = window.__draws.length;
  const wide = window.__draws.filter(d => +d.split('x')[0] >= 300).length;
  const drawn = !document.querySelector('[data-testid="stSkeleton"]')
      && [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].every(c => c.querySelector('.main-svg'));
  b.frames = (n === b.n && drawn && wide >= 7) ? b.frames + 1 : 0;
  b.n = n;
  return b.frames >= 20;
}"""
