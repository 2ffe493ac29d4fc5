"""Does bench/stproto.py's latency match a real browser's? The same interaction on the same server, first in
headless Chromium (Playwright, /usr/bin/chromium), then with the protocol client.

Chromium is timed two ways: on its own websocket (the rerun BackMsg it sends → the script_finished
ForwardMsg it receives, the client's definition) and as a user sees it (the key press → the app idle
again, conftest.wait_idle: three polls 100 ms apart, so it reads ~0.2-0.3 s high).

    python bench/validate_chromium.py --page kernel_sandbox --repeat 6
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent / "tests"))
from load_class import change_for, cpu_seconds, loadavg, spawn_server, stop_server  # noqa: E402
from stproto import DONE, Session  # noqa: E402
from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402

# The interaction in the browser: (label of the number input, the values to alternate).
BROWSER = {"kernel_sandbox": ("Stride", ["2", "1"])}


def chromium_times(url: str, page_name: str, repeat: int, cpu=lambda: 0.0) -> tuple[list[float], list[float], float]:
    from conftest import CHROMIUM, CHROMIUM_ARGS, wait_idle
    from playwright.sync_api import sync_playwright

    label, values = BROWSER[page_name]
    ws_times, user_times = [], []
    marks = {}

    def on_ws(ws):
        def sent(payload):
            if isinstance(payload, bytes):
                m = BackMsg()
                m.ParseFromString(payload)
                if m.WhichOneof("type") == "rerun_script":
                    marks["sent"] = time.perf_counter()

        def received(payload):
            if isinstance(payload, bytes) and "sent" in marks:
                m = ForwardMsg()
                m.ParseFromString(payload)
                if m.WhichOneof("type") == "script_finished" and m.script_finished in DONE:
                    marks["done"] = time.perf_counter() - marks.pop("sent")

        ws.on("framesent", sent)
        ws.on("framereceived", received)

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        pg = b.new_page(viewport={"width": 1400, "height": 1000})
        pg.set_default_timeout(120_000)
        pg.on("websocket", on_ws)
        pg.goto(f"{url}/{page_name}")
        wait_idle(pg, 120)
        box = pg.get_by_label(label, exact=True)
        for i in range(repeat + 1):
            if i == 1:
                cpu0 = cpu()
            box.fill(values[i % 2])
            marks.pop("done", None)
            t0 = time.perf_counter()
            box.press("Enter")
            deadline = time.time() + 120
            while "done" not in marks and time.time() < deadline:   # the run this key press started
                pg.wait_for_timeout(20)
            wait_idle(pg, 120)
            if i and "done" in marks:   # the first change warms caches
                user_times.append(time.perf_counter() - t0)
                ws_times.append(marks["done"])
            pg.wait_for_timeout(1500)   # let Chromium finish drawing: it shares the 2 cores with the server
        cpu_used = cpu() - cpu0
        b.close()
    return ws_times, user_times, cpu_used


async def client_times(url: str, page_name: str, repeat: int, cpu=lambda: 0.0) -> tuple[list[float], float]:
    out = []
    async with Session(url, page_name) as s:
        await s.open()
        for i in range(repeat + 1):
            if i == 1:
                cpu0 = cpu()
            r = await s.rerun(change_for(s, page_name, i))
            assert r.ok, (r.status, r.exceptions)
            if i:
                out.append(r.latency)
            await asyncio.sleep(1.5)
        return out, cpu() - cpu0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--page", default="kernel_sandbox", choices=sorted(BROWSER))
    ap.add_argument("--repeat", type=int, default=6)
    a = ap.parse_args(argv)
    proc, url = spawn_server()
    try:
        l0 = loadavg()
        cpu = lambda: cpu_seconds([proc.pid])  # noqa: E731
        ws_t, user_t, cpu_b = chromium_times(url, a.page, a.repeat, cpu)
        cl_t, cpu_c = asyncio.run(client_times(url, a.page, a.repeat, cpu))
        l1 = loadavg()
    finally:
        stop_server(proc)
    med = statistics.median
    print(f"{a.page}, {a.repeat} changes each, load average {l0:.1f} -> {l1:.1f}")
    print(f"  Chromium, its websocket (rerun sent -> script_finished): median {med(ws_t):.3f} s  {[round(t, 3) for t in ws_t]}")
    print(f"  Chromium, key press -> app idle (wait_idle):             median {med(user_t):.3f} s  {[round(t, 3) for t in user_t]}")
    print(f"  bench/stproto.py client (send -> script_finished):       median {med(cl_t):.3f} s  {[round(t, 3) for t in cl_t]}")
    print(f"  server CPU per change: Chromium {cpu_b / a.repeat:.3f} s, client {cpu_c / a.repeat:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
