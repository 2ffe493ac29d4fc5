"""Follow latency: N simulated students follow one simulated teacher on the kernel sandbox.

Every client speaks Streamlit's websocket protocol (bench/stproto.py). The teacher opens the sandbox, enters
the PIN and starts a class; each student opens the app with ``?class=CODE&me=ID`` (the rejoin link), so it is
in the class from its first run, and then behaves as the browser does: it sends the follow fragment's
``run_every`` ticks (``auto_rerun`` interval and fragment id from the server) and takes the address bar the
server sends (``page_info_changed``). The teacher then changes the stride ``--changes`` times; for each change
and student the latency is teacher's send → the student's run on the new URL finished (the student's page
shows the teacher's setting), and the script also prints it from the teacher's run finished (the store write).

Prints p50/p95/max per class size, the students that missed a change within --timeout, server CPU seconds per
change and RSS, and one SUMMARY line per size. The server is started here (its own session, 127.0.0.1, stopped
by its pid) with a fresh SQLite store, or pass --url/--server-pid/--store for a running one. Bounded: ≤ 300
students, loopback only.

    python bench/load_follow.py -n 1 -n 30 -n 100
    python bench/load_follow.py -n 30 --server-arg=--runner.postScriptGC=false
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_class import cpu_seconds, loadavg, percentile, rss_mb, spawn_server, stop_server  # noqa: E402
from stproto import ForwardMsg, RunResult, Session  # noqa: E402

MAX_STUDENTS = 300
PIN = "bench-pin-2718"
TICK_WAIT = 60.0  # seconds a tick waits for its run before the next tick is sent. Streamlit 1.67 queues a
# tick that arrives during a full run (it does not preempt it), so every tick gets its own finish; with 5 s here,
# 100 students missed 19-56 of 500 arrivals (a run's messages split across two ticks), with 60 s none.


class Client(Session):
    """A Session that also keeps what the browser keeps between runs: the address bar and the timers."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.timers: dict[str, float] = {}   # fragment id → run_every interval
        self.url_changed = False
        self.arrivals: list[tuple[float, str]] = []   # (time, query string) of each finished run on a new URL

    def _handle(self, msg: ForwardMsg, res: RunResult, seen):
        kind = msg.WhichOneof("type")
        if kind == "page_info_changed":
            self.query_string = msg.page_info_changed.query_string
            self.url_changed = True
        elif kind == "auto_rerun":
            # a student has one timer (the follow fragment); its id can change from run to run
            self.timers = {msg.auto_rerun.fragment_id: msg.auto_rerun.interval}
        elif kind == "stop_auto_rerun":
            self.timers.pop(msg.stop_auto_rerun.fragment_id, None)
        status = super()._handle(msg, res, seen)
        if status == ForwardMsg.FINISHED_SUCCESSFULLY and self.url_changed:
            self.arrivals.append((time.perf_counter(), self.query_string))
            self.url_changed = False
        return status

    async def tick(self, fragment_id: str) -> RunResult:
        raw = self.client_state(fragment_id=fragment_id)
        raw.rerun_script.is_auto_rerun = True
        # bounded by TICK_WAIT (see there): a tick that gave up early left its run's messages to the next one
        keep, self.timeout = self.timeout, min(self.timeout, TICK_WAIT)
        try:
            return await self.rerun(raw=raw)
        finally:
            self.timeout = keep


async def student_loop(c: Client, stop: asyncio.Event, errors: list[str]) -> None:
    while not stop.is_set():
        if not c.timers:
            await asyncio.sleep(0.2)
            continue
        fid, interval = next(iter(c.timers.items()))
        try:
            await asyncio.wait_for(stop.wait(), interval)
            return
        except asyncio.TimeoutError:
            pass
        r = await c.tick(fid)
        if r.status == "timeout":
            continue
        if not r.ok:
            errors.append(r.status + " ".join(r.exceptions)[:200])
            if c.closed:
                return


async def run_class(url: str, n: int, store_path: str, changes: int, gap: float, timeout: float,
                    pids: list[int]) -> dict:
    teacher = Client(url, page="kernel_sandbox", timeout=timeout)
    await teacher.open()
    pin = teacher.find(key="cls_pin_in")
    await teacher.rerun(teacher.set(pin, PIN))
    r = await teacher.rerun(teacher.set(teacher.find(key="cls_start"), True))
    assert r.ok, r
    with sqlite3.connect(store_path) as db:
        code = db.execute("SELECT code FROM sessions ORDER BY created DESC LIMIT 1").fetchone()[0]
    errors: list[str] = []
    students = [Client(url, page="", query_string=f"class={code}&me=bench{i:04d}", timeout=timeout) for i in range(n)]
    t_open = time.perf_counter()
    for k in range(0, n, 10):   # join ten at a time, as a class arriving
        rs = await asyncio.gather(*(s.open() for s in students[k:k + 10]))
        errors += [f"open: {x.status} {x.exceptions}" for x in rs if not x.ok]
    t_open = time.perf_counter() - t_open
    stop = asyncio.Event()
    loops = [asyncio.create_task(student_loop(s, stop, errors)) for s in students]
    await asyncio.sleep(3)
    lat_send, lat_done, missed = [], [], 0
    stride_w = teacher.find(key="stride")
    cpu0 = cpu_seconds(pids) if pids else 0.0
    for j in range(changes):
        v = 2 + j % 6
        for s in students:
            s.arrivals.clear()
        teacher.query_string = f"stride={v}"   # the browser writes a bound widget's value into the URL itself
        t_send = time.perf_counter()
        r = await teacher.rerun(teacher.set(stride_w, v))
        t_done = time.perf_counter()
        if not r.ok:
            errors.append(f"teacher: {r.status} {r.exceptions}")
        stride_w = teacher.find(key="stride")
        want = f"stride={v}"
        deadline = t_send + timeout
        while time.perf_counter() < deadline:
            if all(any(want in q.split("&") for _, q in s.arrivals) for s in students):
                break
            await asyncio.sleep(0.05)
        for s in students:
            t = next((t for t, q in s.arrivals if want in q.split("&")), None)
            if t is None:
                missed += 1
            else:
                lat_send.append(t - t_send)
                lat_done.append(t - t_done)
        got = sum(1 for s in students if any(want in q.split("&") for _, q in s.arrivals))
        with sqlite3.connect(store_path) as db:
            ver, params = db.execute("SELECT version, params FROM sessions WHERE code=?", (code,)).fetchone()
        print(f"  change {j + 1} ({want}): {got}/{n} students updated; teacher run {t_done - t_send:.2f} s; "
              f"store version {ver} {params}", flush=True)
        await asyncio.sleep(gap)
    cpu = (cpu_seconds(pids) - cpu0) if pids else float("nan")
    stop.set()
    await asyncio.gather(*loops, return_exceptions=True)
    for s in students + [teacher]:
        await s.close()
    return dict(n=n, joined_s=t_open, lat_send=lat_send, lat_done=lat_done, missed=missed, errors=errors,
                cpu=cpu, changes=changes, rss=rss_mb(pids) if pids else float("nan"))


def report(d: dict) -> str:
    ls, ld = d["lat_send"], d["lat_done"]
    f = lambda xs, q: f"{percentile(xs, q):.2f}" if xs else "nan"  # noqa: E731
    return (f"SUMMARY students={d['n']} changes={d['changes']} follow p50={f(ls, 50)} p95={f(ls, 95)} max={f(ls, 100)} s "
            f"(from the teacher's store write: p50={f(ld, 50)} p95={f(ld, 95)}) missed={d['missed']} errors={len(d['errors'])} "
            f"server_cpu_per_change={d['cpu'] / max(d['changes'], 1):.2f}s rss={d['rss']:.0f}MB join_all={d['joined_s']:.1f}s "
            f"load={loadavg():.1f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--students", type=int, action="append", help="class sizes (default 1, 30, 100)")
    ap.add_argument("--changes", type=int, default=5)
    ap.add_argument("--gap", type=float, default=3.0, help="seconds between the teacher's changes, after all arrived")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--url"), ap.add_argument("--server-pid", default=""), ap.add_argument("--store")
    ap.add_argument("--server-arg", action="append", default=[])
    a = ap.parse_args(argv)
    sizes = a.students or [1, 30, 100]
    if any(not 1 <= n <= MAX_STUDENTS for n in sizes):
        ap.error(f"class sizes must be 1..{MAX_STUDENTS}")
    for n in sizes:
        proc = None
        if a.url:
            url, store, pids = a.url, a.store, [int(p) for p in a.server_pid.split(",") if p]
        else:
            tmp = tempfile.mkdtemp(prefix="cnnviz-follow-")
            store = os.path.join(tmp, "class.sqlite3")
            os.environ.update(CNN_VIZ_TEACHER_PIN=PIN, CNN_VIZ_STORE=f"sqlite:///{store}")
            proc, url = spawn_server(a.server_arg, log_path=os.path.join(tmp, "server.log"))
            pids = [proc.pid]
        try:
            d = asyncio.run(run_class(url, n, store, a.changes, a.gap, a.timeout, pids))
        finally:
            if proc is not None:
                stop_server(proc)
        print(report(d), flush=True)
        for e in sorted(set(d["errors"]))[:5]:
            print("  error:", e)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
