"""Browser bench: one user in headless Chromium, per page: first visit, then typical interactions.

For each interaction it measures, on a real `streamlit run app.py` (127.0.0.1, stopped by its PID):
  - latency: the input event → the page settled (the last DOM change after Streamlit's script state went
    back to "notRunning", so Plotly's drawing is included),
  - server CPU: the server process's user + system time over the interaction (/proc/<pid>/stat),
  - bytes: the websocket payload the browser received for it.
and prints p50/p95 per page, plus the first visit of each page: in a fresh browser (warm server; ``srv s``
the server's CPU over it, ``long s`` the browser's main-thread long tasks), in a new tab of a browser that has
opened the app before (static files from its HTTP cache), from the sidebar, and on a cold server. Timing goals (issue 11) are printed beside the numbers; this is a bench, never a test.

    /work/main/.venv/bin/python bench/bench_browser.py [--pages kernel_sandbox,low_rank] [--n 8] [--config k=v ...]

``--config runner.postScriptGC=true`` passes a setting to the server (A/B of one setting).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

# page → (settle-check text, [interactions]); an interaction is (kind, label, direction)
# kinds: "slider" (ArrowRight/ArrowLeft on the thumb), "number" (the next value typed, Enter),
# "select" (open the selectbox, ArrowDown/ArrowUp, Enter).
PAGES = {
    "kernel_sandbox": [("number", "Stride", +1), ("number", "Stride", -1), ("select", "Preset", +1),
                       ("number", "Padding", +1), ("number", "Padding", -1)],
    "sliding_kernel": [("slider", "Position", +1), ("slider", "Position", +1), ("slider", "Position", -1)],
    "relu_pooling": [("slider", "Working size", -1), ("slider", "Working size", +1), ("slider", "Window row", +1),
                     ("slider", "Window row", -1)],
    "mnist_activations": [("select", "Digit", +1), ("select", "Digit", +1), ("select", "Digit", -1)],
    "deblurring": [("slider", "Kernel width", +1), ("slider", "Noise", +1), ("slider", "Kernel width", -1),
                   ("slider", "Noise", -1)],
    "low_rank": [("slider", "Rank k", +1), ("slider", "Rank k", +1), ("slider", "Rank k", -1)],
    "your_network": [("select", "Held-out digit", +1), ("select", "Held-out digit", +1), ("select", "Held-out digit", -1)],
}
GOAL_LATENCY = {"kernel_sandbox": 0.35}
GOAL_LATENCY_OTHER = 0.6

# Records the time of the last DOM mutation and of every script-state change, in performance.now() ms.
_OBSERVER_JS = """() => {
  if (window.__bench) return;
  window.__bench = {last: performance.now(), ran: -1, msg: -1, ended: -1, long: 0};
  // the browser's own main-thread work (long tasks: script evaluation, layout, Plotly's drawing), in ms
  try {
    new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__bench.long += e.duration; })
      .observe({type: 'longtask', buffered: true});
  } catch (e) {}
  // a rerun answered from caches can start and end inside one render, so the script state never shows it:
  // the time of the last websocket message is the other sign that the server ran the script
  const WS = window.WebSocket;
  window.WebSocket = class extends WS {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', () => { window.__bench.msg = performance.now(); });
    }
  };
  new MutationObserver((records) => {
    const now = performance.now();
    window.__bench.last = now;
    // a run that starts and ends before this callback leaves the attribute at notRunning: its old value shows it
    for (const r of records) {
      if (r.attributeName === 'data-test-script-state'
          && (r.oldValue !== 'notRunning' || r.target.getAttribute('data-test-script-state') !== 'notRunning'))
        window.__bench.ran = now;
      // a script run that was seen running and has ended (a first visit waits for one: before the first run
      // the app also sits at notRunning, with only the page's frame drawn)
      if (r.attributeName === 'data-test-script-state' && r.oldValue === 'running'
          && r.target.getAttribute('data-test-script-state') === 'notRunning')
        window.__bench.ended = now;
    }
  }).observe(document, {subtree: true, childList: true, attributes: true, attributeOldValue: true, characterData: true});
}"""
_SETTLED_JS = """([t0, first]) => {
  const app = document.querySelector('[data-testid="stApp"]');
  const idle = !!app && app.getAttribute('data-test-script-state') === 'notRunning'
      && !document.querySelector('[data-testid="stStatusWidget"]');
  // settled: a script run started after t0 (or the server answered), it has ended, and nothing changed for 250 ms
  const b = window.__bench;
  const answered = first ? b.ended >= t0 : (b.ran >= t0 || b.msg >= t0);
  // an element whose code is still loading (Streamlit loads each kind's chunk when it first appears, Plotly's
  // 4.6 MB among them) is a skeleton for a while, without DOM changes: none may be left, every chart drawn
  // (a probe's own chart component marks itself data-chart-pending until drawn: bench/probe_apps/)
  const drawn = !document.querySelector('[data-testid="stSkeleton"], [data-chart-pending]')
      && [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].every((c) => c.querySelector('.main-svg'));
  return idle && answered && drawn && performance.now() - Math.max(b.last, b.msg) > 250;
}"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Wire:
    """Counts the websocket bytes a page receives."""

    def __init__(self, page):
        self.bytes = 0
        page.on("websocket", self._ws)

    def _ws(self, ws):
        ws.on("framereceived", lambda payload: self._add(payload))

    def _add(self, payload):
        self.bytes += len(payload)


def settle(page, t0: float, timeout: float = 120, first: bool = False) -> float:
    """Seconds from ``t0`` (performance.now() ms) to the last change of the settled page. ``first``: a page
    load, which must also have seen its script run end (else the empty frame before the run counts)."""
    page.wait_for_function(_SETTLED_JS, arg=[t0, first], polling=50, timeout=timeout * 1000)
    return (page.evaluate("() => Math.max(window.__bench.last, window.__bench.msg)") - t0) / 1000


def act(page, kind: str, label: str, direction: int) -> float:
    """Do one interaction; returns its performance.now() start (ms)."""
    if kind == "slider":
        thumb = page.locator('[data-testid="stSlider"]').filter(has_text=label).first.locator('input[type=range]')
        thumb.focus()
        t0 = page.evaluate("() => performance.now()")
        thumb.press("ArrowRight" if direction > 0 else "ArrowLeft")
    elif kind == "number":  # the step buttons are hidden in a narrow sidebar: type the next value, Enter
        field = page.locator('[data-testid="stNumberInput"]').filter(has_text=label).first.locator("input")
        value = float(field.input_value())
        field.fill(f"{value + direction:g}")
        t0 = page.evaluate("() => performance.now()")
        field.press("Enter")
    elif kind == "select":
        box = page.locator('[data-testid="stSelectbox"]').filter(has_text=label).first
        box.locator('[role="combobox"], input').first.click()
        page.wait_for_timeout(150)
        page.keyboard.press("ArrowDown" if direction > 0 else "ArrowUp")
        t0 = page.evaluate("() => performance.now()")
        page.keyboard.press("Enter")
    else:
        raise ValueError(kind)
    return t0


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def bench_page(browser, url, pid, name, n):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(120_000)
    wire = Wire(page)
    page.add_init_script("(" + _OBSERVER_JS + ")()")
    c0, t_wall = cpu_seconds(pid), time.monotonic()
    page.goto(f"{url}/{name}")
    first = settle(page, 0.0, first=True)
    first_cpu, first_bytes = cpu_seconds(pid) - c0, wire.bytes
    first_long = page.evaluate("() => window.__bench.long") / 1000
    lat, cpu, sent = [], [], []
    steps = PAGES[name]
    for i in range(n * len(steps)):
        kind, label, d = steps[i % len(steps)]
        b0, c0 = wire.bytes, cpu_seconds(pid)
        t0 = act(page, kind, label, d)
        lat.append(settle(page, t0))
        cpu.append(cpu_seconds(pid) - c0)
        sent.append(wire.bytes - b0)
    errors = page.locator('[data-testid="stException"]').count()
    ctx.close()
    return dict(page=name, first=first, first_cpu=first_cpu, first_long=first_long, first_kb=first_bytes / 1024,
                lat=lat, cpu=cpu,
                kb=[b / 1024 for b in sent], errors=errors, wall=time.monotonic() - t_wall)


def fresh_tab_visit(browser, url: str) -> tuple[float, float]:
    """Opens ``url`` in a fresh browser context (empty HTTP cache): (seconds to the settled page, seconds of the
    browser's main-thread long tasks)."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(120_000)
    page.add_init_script("(" + _OBSERVER_JS + ")()")
    page.goto(url)
    visit = settle(page, 0.0, timeout=600, first=True), page.evaluate("() => window.__bench.long") / 1000
    ctx.close()
    return visit


def sidebar_visits(browser, url, names):
    """A student's first visits as they happen in class: the app opened once (the home page), then each page
    reached from the sidebar, in one tab: click → that page settled (its script run ended, no element still
    loading, every chart drawn). Streamlit's code is loaded by then, except a chunk a page is the first to need."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(120_000)
    page.add_init_script("(" + _OBSERVER_JS + ")()")
    page.goto(url + "/")
    out = {"home (opened)": settle(page, 0.0, timeout=600, first=True)}
    for name in names:
        link = page.locator(f'[data-testid="stSidebarNav"] a[href$="/{name}"]').first
        t0 = page.evaluate("() => performance.now()")
        link.click()
        out[name] = settle(page, t0, timeout=600, first=True)
    ctx.close()
    return out


def cached_tab_visits(browser, url, names):
    """A link opened in a new tab of a browser that has opened the app before (a student following the
    teacher's link after the first visit): Streamlit's static files come from the browser's HTTP cache
    (``Cache-Control: max-age`` one year), each page is a new tab with its own JavaScript to evaluate.
    Returns {page: (seconds to settled, seconds of the browser's long tasks)}."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    ctx.add_init_script("(" + _OBSERVER_JS + ")()")
    first = ctx.new_page()
    first.goto(url + "/")
    settle(first, 0.0, timeout=600, first=True)
    out = {}
    for name in names:
        page = ctx.new_page()
        page.set_default_timeout(120_000)
        page.goto(f"{url}/{name}")
        out[name] = (settle(page, 0.0, timeout=600, first=True), page.evaluate("() => window.__bench.long") / 1000)
        page.close()
    ctx.close()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", default=",".join(PAGES))
    ap.add_argument("--n", type=int, default=4, help="rounds of each page's interactions")
    ap.add_argument("--config", nargs="*", default=[], help="server settings, e.g. runner.postScriptGC=true")
    ap.add_argument("--env", nargs="*", default=[], help="server environment, e.g. CNN_VIZ_CLASS_MODE=1")
    args = ap.parse_args()

    import subprocess
    import urllib.request

    from conftest import _free_port
    from playwright.sync_api import sync_playwright

    port = _free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.address", "127.0.0.1",
           "--server.port", str(port), "--browser.gatherUsageStats", "false"]
    for kv in args.config:
        k, v = kv.split("=", 1)
        cmd += [f"--{k}", v]
    env = dict(os.environ, **dict(kv.split("=", 1) for kv in args.env))
    (ROOT / "test-output").mkdir(exist_ok=True)
    log = open(ROOT / "test-output" / "bench_browser_server.log", "w")
    t_start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        print(f"server healthy after {time.monotonic() - t_start:.1f} s; load average {os.getloadavg()[0]:.1f}; "
              f"config {args.config or 'as in .streamlit/config.toml'}")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            # cold: the first visits of every page on a fresh server (torch loads on the first torch page)
            cold = {}
            for name in ["", *args.pages.split(",")]:
                cold[name or "home"] = fresh_tab_visit(browser, f"{url}/{name}")[0]
            print("first visit, cold server (s): " + ", ".join(f"{k} {v:.2f}" for k, v in cold.items()))
            nav = sidebar_visits(browser, url, args.pages.split(","))
            print("first visit from the sidebar, warm server, one tab (s): "
                  + ", ".join(f"{k} {v:.2f}" for k, v in nav.items()))
            cached = cached_tab_visits(browser, url, args.pages.split(","))
            print("first visit, new tab of a browser that opened the app before (s; browser long tasks s): "
                  + ", ".join(f"{k} {v:.2f} ({t:.2f})" for k, (v, t) in cached.items()))
            rows = [bench_page(browser, url, proc.pid, name, args.n) for name in args.pages.split(",")]
            browser.close()
        print(f"\n{'page':<18} {'visit s':>7} {'srv s':>5} {'long s':>6} {'lat p50':>7} {'p95':>6} {'goal':>5} {'cpu p50 ms':>10} {'p95':>5} "
              f"{'max':>5} {'kB p50':>7} {'max':>6} {'first kB':>8} err")
        for r in rows:
            goal = GOAL_LATENCY.get(r["page"], GOAL_LATENCY_OTHER)
            print(f"{r['page']:<18} {r['first']:7.2f} {r['first_cpu']:5.2f} {r['first_long']:6.2f} {statistics.median(r['lat']):7.3f} {pct(r['lat'], .95):6.3f} {goal:5.2f} "
                  f"{1000 * statistics.median(r['cpu']):10.0f} {1000 * pct(r['cpu'], .95):5.0f} {1000 * max(r['cpu']):5.0f} "
                  f"{statistics.median(r['kb']):7.1f} {max(r['kb']):6.1f} {r['first_kb']:8.0f} {r['errors']}")
        print(f"server RSS at the end: {rss_mb(proc.pid):.0f} MB; load average {os.getloadavg()[0]:.1f}")
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


if __name__ == "__main__":
    main()
