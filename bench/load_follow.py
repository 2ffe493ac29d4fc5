"""Follow latency: N simulated students follow one simulated teacher on the kernel sandbox.

Every client speaks Streamlit's websocket protocol (bench/stproto.py). The teacher opens the sandbox, enters
the PIN and starts a class; each student opens the app with ``?class=CODE&me=ID`` (the rejoin link), so it is
in the class from its first run, and then behaves as the browser does: it reads the socket all the time (the
server starts the follow fragment's runs itself when the class changes, unless the app runs with
``CNN_VIZ_FOLLOW_PUSH=0``), sends the follow fragment's ``run_every`` ticks (``auto_rerun`` interval and
fragment id from the server) without waiting for their runs, and takes the address bar the server sends
(``page_info_changed``). The teacher then changes the stride ``--changes`` times, ``--gap`` s plus a random
0-1 s apart (so the changes do not fall at one fixed phase of the students' 1 s ticks); for each change
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
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load_class  # noqa: E402
from load_class import cpu_seconds, loadavg, percentile, rss_mb, spawn_server, stop_server  # noqa: E402
import websockets  # noqa: E402
from stproto import DONE, ForwardMsg, RunResult, Session, Widget, WidgetState, user_key  # noqa: E402

MAX_STUDENTS = 300
PIN = "bench-pin-2718"


class Client(Session):
    """A Session that also keeps what the browser keeps between runs: the address bar and the timers."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.timers: dict[str, float] = {}   # fragment id → run_every interval
        self.url_changed = False
        self.arrivals: list[tuple[float, str]] = []   # (time, query string) of each finished run on a new URL
        self.runs = 0
        self.errors: list[str] = []

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
        elif kind == "delta" and msg.delta.WhichOneof("type") == "add_block" \
                and msg.delta.add_block.WhichOneof("type") == "expandable" and msg.delta.add_block.expandable.id:
            # a stateful expander (the Classroom panel: its forms are drawn only when it is open) is a widget too
            exp = msg.delta.add_block.expandable
            seen[exp.id] = Widget(id=exp.id, kind="expandable", label=exp.label, key=user_key(exp.id), proto=exp,
                                  fragment_id=msg.delta.fragment_id,
                                  state=WidgetState(id=exp.id, bool_value=bool(exp.expanded)))
        status = super()._handle(msg, res, seen)
        if status == ForwardMsg.FINISHED_SUCCESSFULLY and self.url_changed:
            self.arrivals.append((time.perf_counter(), self.query_string))
            self.url_changed = False
        return status

    async def read_forever(self) -> None:
        """After ``open()``: every message the server sends, whoever asked for the run (a student's runs are
        started by its own ticks and by the server). A run's widgets are kept as ``Session._run`` keeps them."""
        res, seen = RunResult(), {}
        while True:
            try:
                data = await self.ws.recv()
            except (websockets.ConnectionClosed, asyncio.CancelledError):
                self.closed = True
                return
            self.total_bytes += len(data)
            msg = ForwardMsg()
            msg.ParseFromString(data)
            status = self._handle(msg, res, seen)
            if status in DONE:
                for wid, w in seen.items():   # the browser keeps a redrawn widget's value (see Session._run)
                    old = self.widgets.get(wid)
                    if old is not None and old.state is not None and w.state is not None \
                            and old.state.WhichOneof("value") == w.state.WhichOneof("value") \
                            and not getattr(w.proto, "set_value", False):
                        w.state = old.state
                if status == ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY:
                    self.widgets.update(seen)
                else:
                    self.widgets = seen
                self.runs += 1
                if res.exceptions:
                    self.errors += res.exceptions
                res, seen = RunResult(), {}

    async def send_tick(self, fragment_id: str) -> None:
        raw = self.client_state(fragment_id=fragment_id)
        raw.rerun_script.is_auto_rerun = True
        await self.ws.send(raw.SerializeToString())


async def open_panel(c: Client) -> None:
    """Open the sidebar's Classroom panel (a click on its header: one run)."""
    w = c.find(key="cls_panel")
    r = await c.rerun(WidgetState(id=w.id, bool_value=True))
    assert r.ok, r


async def student_loop(c: Client, stop: asyncio.Event, errors: list[str]) -> None:
    """The browser's fragment timer: a tick every ``run_every`` seconds, sent without waiting for its run."""
    while not stop.is_set() and not c.closed:
        if not c.timers:
            await asyncio.sleep(0.2)
            continue
        fid, interval = next(iter(c.timers.items()))
        try:
            await asyncio.wait_for(stop.wait(), interval)
            return
        except asyncio.TimeoutError:
            pass
        try:
            await c.send_tick(fid)
        except websockets.ConnectionClosed:
            errors.append("disconnected")
            return


async def run_class(url: str, n: int, store_path: str, changes: int, gap: float, timeout: float,
                    pids: list[int], page: str = "kernel_sandbox", key: str = "stride",
                    values: tuple[int, ...] = (2, 3, 4, 5, 6, 7)) -> dict:
    teacher = Client(url, page=page, timeout=timeout)
    await teacher.open()
    await open_panel(teacher)
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
    readers = [asyncio.create_task(s.read_forever()) for s in students]
    await asyncio.sleep(3)
    lat_send, lat_done, missed = [], [], 0
    stride_w = teacher.find(key=key)
    cpu0 = cpu_seconds(pids) if pids else 0.0
    t_first = time.perf_counter()
    for j in range(changes):
        v = values[j % len(values)]   # never the widget's default: a default is not written into the URL
        for s in students:
            s.arrivals.clear()
        teacher.query_string = f"{key}={v}"   # the browser writes a bound widget's value into the URL itself
        t_send = time.perf_counter()
        r = await teacher.rerun(teacher.set(stride_w, v))
        t_done = time.perf_counter()
        if not r.ok:
            errors.append(f"teacher: {r.status} {r.exceptions}")
        stride_w = teacher.find(key=key)
        want = f"{key}={v}"
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
        await asyncio.sleep(gap + random.random())
    cpu = (cpu_seconds(pids) - cpu0) if pids else float("nan")
    stop.set()
    await asyncio.gather(*loops, return_exceptions=True)
    for t in readers:
        t.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    runs = sum(s.runs for s in students)
    errors += [e[:200] for s in students for e in s.errors]
    for s in students + [teacher]:
        await s.close()
    return dict(n=n, joined_s=t_open, lat_send=lat_send, lat_done=lat_done, missed=missed, errors=errors,
                cpu=cpu, changes=changes, page=page, rss=rss_mb(pids) if pids else float("nan"), runs=runs,
                seconds=time.perf_counter() - t_first)


def report(d: dict) -> str:
    ls, ld = d["lat_send"], d["lat_done"]
    f = lambda xs, q: f"{percentile(xs, q):.2f}" if xs else "nan"  # noqa: E731
    return (f"SUMMARY page={d['page']} students={d['n']} changes={d['changes']} follow p50={f(ls, 50)} p95={f(ls, 95)} max={f(ls, 100)} s "
            f"(from the teacher's store write: p50={f(ld, 50)} p95={f(ld, 95)}) missed={d['missed']} errors={len(d['errors'])} "
            f"server_cpu_per_change={d['cpu'] / max(d['changes'], 1):.2f}s "
            f"student_runs_per_s={d['runs'] / max(d['seconds'], 1e-9):.1f} rss={d['rss']:.0f}MB join_all={d['joined_s']:.1f}s "
            f"load={loadavg():.1f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--students", type=int, action="append", help="class sizes (default 1, 30, 100)")
    ap.add_argument("--changes", type=int, default=5)
    ap.add_argument("--gap", type=float, default=3.0, help="seconds between the teacher's changes, after all arrived")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--url"), ap.add_argument("--server-pid", default=""), ap.add_argument("--store")
    ap.add_argument("--server-arg", action="append", default=[])
    ap.add_argument("--port", type=int, help="the spawned server's port (default: a free one)")
    ap.add_argument("--page", default="kernel_sandbox", help="the teacher's page (default kernel_sandbox)")
    ap.add_argument("--key", default="stride",
                    help="the URL-bound integer widget the teacher changes (default stride; "
                         "e.g. --page relu_pooling --key rp_psize --values 3,4,5,6,7)")
    ap.add_argument("--values", default="2,3,4,5,6,7", help="its successive values, none its default (default 2,...,7)")
    a = ap.parse_args(argv)
    if a.port:
        load_class.free_port = lambda: a.port
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
            d = asyncio.run(run_class(url, n, store, a.changes, a.gap, a.timeout, pids, a.page, a.key,
                                      tuple(int(x) for x in a.values.split(","))))
        finally:
            if proc is not None:
                stop_server(proc)
        print(report(d), flush=True)
        for e in sorted(set(d["errors"]))[:5]:
            print("  error:", e)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
