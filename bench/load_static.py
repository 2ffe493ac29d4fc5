"""A class's first visits, the static half: N students download the static files a first visit of the app
needs (Streamlit's JavaScript, CSS and fonts, ~9.7 MB), all at the same instant, from one server or through
the deploy proxy (HAProxy's cache and gzip, deploy/serve.py). The websocket half (the page's first script
run) is `load_class.py --scenario open`.

    python bench/load_static.py --url http://127.0.0.1:8501 --server-pid 1234 -n 1 -n 30
    python bench/load_static.py --url http://127.0.0.1:8080 --server-pid 1234,1235 --proxy-pid 1236 -n 30

The file list is what Chromium fetched on first visits of the pages given by ``--pages`` (one fresh context
each), read once from the server; each simulated student then asks for every file over its own keep-alive
connections (6 at a time, as a browser does), with ``Accept-Encoding: gzip``. Prints per run: p50/p95/max
seconds for a student's whole download, bytes on the wire per student, CPU seconds of the server(s) and of
the proxy per student, and one SUMMARY line. Loopback only; ≤ 300 students.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import http.client
import os
import statistics
import sys
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

PAGES = "kernel_sandbox,mnist_activations,low_rank"


def cpu_seconds(pids: list[int]) -> float:
    tot = 0.0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        tot += (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
    return tot


def first_visit_files(url: str, pages: list[str]) -> list[str]:
    """The /static/ paths Chromium fetched on a first visit of each page (fresh context each)."""
    from bench_browser import _OBSERVER_JS, settle
    from conftest import CHROMIUM, CHROMIUM_ARGS
    from playwright.sync_api import sync_playwright

    seen: set[str] = set()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        for name in pages:
            ctx = browser.new_context()
            page = ctx.new_page()
            page.add_init_script("(" + _OBSERVER_JS + ")()")
            page.goto(f"{url}/{name}")
            settle(page, 0.0, timeout=300, first=True)
            for r in page.evaluate("() => performance.getEntriesByType('resource').map((r) => r.name)"):
                path = urllib.parse.urlsplit(r).path
                if path.startswith("/static/"):
                    seen.add(path)
            ctx.close()
        browser.close()
    return sorted(seen)


def student(host: str, port: int, files: list[str], parallel: int = 6) -> tuple[float, int, int]:
    """One student's download of every file: (seconds, bytes on the wire, failures)."""
    t0 = time.monotonic()
    lock = threading.Lock()
    todo = list(files)
    got = [0, 0]

    def worker():
        conn = http.client.HTTPConnection(host, port, timeout=120)
        while True:
            with lock:
                if not todo:
                    break
                path = todo.pop()
            try:
                conn.request("GET", path, headers={"Accept-Encoding": "gzip", "Cookie": "SRV=r1"})
                r = conn.getresponse()
                body = r.read()
                with lock:
                    got[0] += len(body)
                    got[1] += r.status != 200
            except (OSError, http.client.HTTPException):
                with lock:
                    got[1] += 1
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=120)
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - t0, got[0], got[1]


def run(url: str, files: list[str], n: int, server_pids: list[int], proxy_pids: list[int]) -> dict:
    u = urllib.parse.urlsplit(url)
    c0, p0 = cpu_seconds(server_pids), cpu_seconds(proxy_pids)
    with cf.ThreadPoolExecutor(max_workers=n) as pool:
        results = list(pool.map(lambda _: student(u.hostname, u.port, files), range(n)))
    secs = sorted(r[0] for r in results)
    return dict(n=n, p50=statistics.median(secs), p95=secs[min(n - 1, round(0.95 * (n - 1)))], max=secs[-1],
                kb=statistics.median(r[1] for r in results) / 1024, failures=sum(r[2] for r in results),
                server_cpu=(cpu_seconds(server_pids) - c0) / n, proxy_cpu=(cpu_seconds(proxy_pids) - p0) / n)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--server-pid", required=True, help="the Streamlit process(es), comma-separated")
    ap.add_argument("--proxy-pid", default="", help="HAProxy's pid, when --url is the proxy")
    ap.add_argument("-n", "--students", type=int, action="append", help="students at once (repeatable)")
    ap.add_argument("--pages", default=PAGES)
    a = ap.parse_args(argv)
    host = urllib.parse.urlsplit(a.url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        ap.error("loopback only")
    counts = a.students or [1, 30]
    if any(not 1 <= n <= 300 for n in counts):
        ap.error("1..300 students")
    server_pids = [int(p) for p in a.server_pid.split(",") if p]
    proxy_pids = [int(p) for p in a.proxy_pid.split(",") if p]
    files = first_visit_files(a.url, a.pages.split(","))
    print(f"{len(files)} static files on first visits of {a.pages}; load average {os.getloadavg()[0]:.1f}")
    run(a.url, files, 1, server_pids, proxy_pids)   # fill the proxy's cache, as the first student would
    for n in counts:
        r = run(a.url, files, n, server_pids, proxy_pids)
        print(f"SUMMARY static n={n} p50={r['p50']:.2f}s p95={r['p95']:.2f}s max={r['max']:.2f}s "
              f"kB/student={r['kb']:.0f} server_cpu/student={1000 * r['server_cpu']:.0f}ms "
              f"proxy_cpu/student={1000 * r['proxy_cpu']:.0f}ms failures={r['failures']} "
              f"load={os.getloadavg()[0]:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
