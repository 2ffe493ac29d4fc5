"""Shared fixtures: repository paths, a fresh AppTest, and a live app driven by Chromium."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "test-output"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def app_test():
    """AppTest of app.py with caches cleared, so each test starts cold and independent."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from cnn_viz.ui import cached

    st.cache_data.clear()
    cached._figure_spec.clear()  # the figures' resource cache (immutable Specs); the loaded networks stay

    def make(timeout: float = 60):
        return AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)

    return make


def open_page(app_test, page: str, timeout: float = 60, query: dict | None = None, **state):
    """app.py run once (navigation), ``query`` as URL parameters and ``state`` seeded into session state, then
    ``page`` opened; asserts no exception on the way."""
    at = app_test(timeout)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    for k, v in state.items():
        at.session_state[k] = v
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def heavy_modules_after(steps: str, timeout: float = 600) -> list[str]:
    """Which of torch / torchvision a fresh interpreter has imported after running app.py under
    AppTest and then ``steps`` (Python code that drives ``at``). Any exception in the app fails."""
    import ast

    code = (
        "import sys\nfrom streamlit.testing.v1 import AppTest\n"
        f"at = AppTest.from_file({str(ROOT / 'app.py')!r}, default_timeout=300)\nat.run()\n"
        f"{steps}\n"
        "assert not at.exception, at.exception\n"
        "print(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-2000:]
    return ast.literal_eval(out.stdout.strip().splitlines()[-1])


def plotly_figure(at, key: str) -> dict:
    """The JSON of the Plotly chart drawn with ``key`` in an AppTest run (ui.plot keys)."""
    import json

    for el in at.get("plotly_chart"):
        if el.proto.id.endswith("-" + key):
            return json.loads(el.proto.spec)
    raise KeyError(f"no plotly chart with key {key!r}")


# Hover-only grids show and send their values to 4 significant digits (builders.HOVER_DIGITS): each is
# within this relative distance of the true value (half a unit of its 4th digit).
HOVER_REL = 5e-4


def png_pixels(source: str):
    """The pixels of a trace's ``source`` (a data:image/png;base64 URI) as NumPy, RGB or grey as stored."""
    import base64
    import io

    import numpy as np
    from PIL import Image

    head, data = source.split(",", 1)
    assert head == "data:image/png;base64"
    im = Image.open(io.BytesIO(base64.b64decode(data)))
    return np.asarray(im.convert("RGB") if im.mode == "P" else im)


def map_samples(fig: dict, trace: int = 0):
    """(rows, cols, values) of a figure's value heatmap: every value of a small map, or the real values at
    the sample points of a large one's hover grid (figures.builders.signed_map_traces). Compare with
    ``ref[np.ix_(rows, cols)]``."""
    import numpy as np

    tr = fig["data"][trace]
    assert tr.get("type", "heatmap") == "heatmap", tr.get("type")
    z = plotly_array(tr["z"])
    rows = plotly_array(tr["y"]).astype(int) if "y" in tr else np.arange(z.shape[0])
    cols = plotly_array(tr["x"]).astype(int) if "x" in tr else np.arange(z.shape[1])
    return rows, cols, z


def plotly_array(value):
    """A trace array as NumPy: Plotly sends NumPy arrays as {'dtype', 'bdata'[, 'shape']}."""
    import base64

    import numpy as np

    if isinstance(value, dict) and "bdata" in value:
        arr = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        if "shape" in value:
            shape = value["shape"]
            arr = arr.reshape([int(n) for n in (shape.split(",") if isinstance(shape, str) else shape)])
        return arr
    return np.asarray(value)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(log_name: str = "streamlit-server.log", script: str = "app.py", cwd: Path = ROOT, env: dict | None = None):
    """Start `streamlit run app.py` (or ``script``, relative to ``cwd``: the repository, or a worktree of it) on a
    free 127.0.0.1 port, with ``env`` added to the environment; returns (process, url) once healthy."""
    port = _free_port()
    OUTPUT.mkdir(exist_ok=True)
    log = open(OUTPUT / log_name, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port),
         "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
        cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, **(env or {})),
    )
    proc.log = log
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.3)
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited early; see test-output/{log_name}")
    stop_app(proc)
    raise RuntimeError("streamlit did not become healthy within 60 s")


def stop_app(proc) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    proc.log.close()


def start_class_app(store_path, pin: str, log_name: str):
    """start_app with a teacher PIN and a fresh SQLite class store (set for the server only)."""
    keys = {"CNN_VIZ_TEACHER_PIN": pin, "CNN_VIZ_STORE": f"sqlite:///{store_path}"}
    old = {k: os.environ.get(k) for k in keys}
    os.environ.update(keys)
    try:
        return start_app(log_name)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="session")
def app_url():
    """One live app for the whole test session, stopped afterwards by its pid."""
    proc, url = start_app()
    yield url
    stop_app(proc)


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium through Playwright. Missing pieces fail in CI and skip elsewhere."""
    missing = None
    if not Path(CHROMIUM).exists():
        missing = f"{CHROMIUM} not found (apt-get install chromium)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = missing or "playwright is not installed (pip install -r requirements-dev.txt)"
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"browser tests must run in CI: {missing}")
        pytest.skip(missing)
    from playwright.sync_api import expect

    # expect(...) waits 5 s by default, apart from the pages' 60 s: a slow machine running two test workers took
    # longer than that to draw a lazy tab (ReLU/pooling's Equivariance lab) once; the values checked are the same.
    expect.set_options(timeout=60_000)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, request):
    """A fresh browser tab at 1400×1000; its screenshot on failure goes to test-output/."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    pg = ctx.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    if getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed:
        pg.screenshot(path=str(OUTPUT / f"{request.node.name}-failure.png"), full_page=True)
    ctx.close()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


# True once Streamlit's script state has read "notRunning" (no status widget) on three polls in a row:
# a rerun that a click has just requested shows as "rerunRequested" or "running" before then.
_IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const idle = !!app && app.getAttribute('data-test-script-state') === 'notRunning'
      && !document.querySelector('[data-testid="stStatusWidget"]');
  window.__cnnVizIdle = idle ? (window.__cnnVizIdle || 0) + 1 : 0;
  return window.__cnnVizIdle >= 3;
}"""


def wait_idle(page, timeout: float = 60) -> None:
    """Wait until Streamlit has finished rerunning: the app's own script state (``data-test-script-state``
    on ``stApp``) is "notRunning" and no running-status widget shows, on three polls 100 ms apart."""
    page.wait_for_function(_IDLE_JS, polling=100, timeout=timeout * 1000)


# True once the Plotly chart under ``sel`` is drawn (its SVG there, its full layout computed) and has not changed
# (its markup, size and the template it was given) for 20 animation frames in a row: Streamlit themes a chart when
# it mounts and again in an effect, and plotly.js draws asynchronously.
_CHART_STILL_JS = """(sel) => {
  const g = document.querySelector(sel + ' .js-plotly-plot');
  const s = window.__chartStill = window.__chartStill || {sig: null, n: 0};
  if (!g || !g._fullLayout || !g.querySelector('.main-svg')) { s.n = 0; return false; }
  const sig = [g._fullLayout.width, g._fullLayout.height, JSON.stringify((g.layout || {}).template || null),
               g.innerHTML].join('|');
  s.n = sig === s.sig ? s.n + 1 : 0;
  s.sig = sig;
  return s.n >= 20;
}"""


def wait_chart_still(page, selector: str, timeout: float = 60) -> None:
    """Wait until the Plotly chart inside ``selector`` is drawn and still (``_CHART_STILL_JS``)."""
    page.evaluate("() => { window.__chartStill = null; }")
    page.wait_for_function(_CHART_STILL_JS, arg=selector, polling="raf", timeout=timeout * 1000)


def assert_no_exception(page) -> None:
    n = page.locator('[data-testid="stException"]').count()
    assert n == 0, page.locator('[data-testid="stException"]').first.inner_text()


def run_async(coro):
    """``asyncio.run(coro)`` on a thread of its own: Playwright's sync API keeps an event loop running on the
    test thread once a browser test has run in this process, and asyncio.run refuses to nest in it."""
    import asyncio
    import threading

    box: dict = {}

    def work():
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:  # noqa: BLE001 - re-raised on the test thread
            box["error"] = exc

    t = threading.Thread(target=work, name="run_async")
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
