"""A class-sized load test: N simulated students (bench/stproto.py) on one page of a running CNN Viz.

Scenarios:
  open     every session opens the page at the same instant (a class following the teacher's link);
  at-once  every session opens the page, then all change the page's typical setting at the same instant,
           --rounds times ("now set the stride to 2");
  steady   every session opens the page, then changes the setting every 5-15 s (random) for --duration s.

Per run it prints p50/p95/max latency (send -> script_finished), errors (exception deltas, timeouts,
disconnects, failed connections), server CPU seconds per interaction and bytes per rerun (read from
/proc/<pid> of --server-pid, or of the server it starts with --spawn), RSS before/after, the load average,
and one line starting with SUMMARY. Bounded: at most 300 sessions and 300 s of measurement; loopback only.

Examples:
  python bench/load_class.py --spawn --page kernel_sandbox --sessions 10 --scenario at-once
  python bench/load_class.py --url http://127.0.0.1:8501 --server-pid 1234 --page low_rank --scenario steady
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
from stproto import RunResult, Session, check_loopback  # noqa: E402

from deploy.serve import free_port, wait_healthy  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MAX_SESSIONS = 300
MAX_SECONDS = 300.0
PAGES = ["kernel_sandbox", "sliding_kernel", "relu_pooling", "mnist_activations", "deblurring", "low_rank", "when_cnns_fail", "your_network"]
# The typical interaction of each page: (widget user key, how to change it).
#   "next": the next option / slider step (wrapping); "flip12": alternate between 1 and 2; "press": a button;
#   "rerun": no widget, the same states sent again (what every page pays per rerun: app.py, sidebar, navigation).
INTERACTIONS = {
    "kernel_sandbox": ("stride", "flip12"),
    "sliding_kernel": ("sk_next", "press"),
    "relu_pooling": ("rp_pool", "next"),
    "mnist_activations": ("mn_gallery", "next"),
    "deblurring": ("db1_lam", "next"),
    "low_rank": ("lr_k", "next"),
    "when_cnns_fail": ("wf_op", "next"),
    "your_network": ("yn_digit", "next"),
    "": (None, "rerun"),
}
KEY_OVERRIDE: dict = {}  # --key: another widget of the page to move (kept "next")
FRESH = {"on": False, "skip": 0}  # --fresh: every round a value this session has not had (see change_for)
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- the server's side, from /proc ---------------------------------------------------------------------
def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of the processes (their threads included)."""
    total = 0.0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def rss_mb(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
    return total


def loadavg() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def spawn_server(extra_args: list[str] = (), log_path: str | os.PathLike = os.devnull) -> tuple[subprocess.Popen, str]:
    """``streamlit run app.py`` on a free 127.0.0.1 port in its own session (its own CPU autogroup)."""
    port = free_port()
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--server.fileWatcherType", "none",
         "--browser.gatherUsageStats", "false", *extra_args],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    proc.log = log
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
    except Exception:
        stop_server(proc)
        raise
    return proc, url


def stop_server(proc: subprocess.Popen) -> None:
    """Stop a server this script started, by its pid."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    proc.log.close()


# -- the students' side --------------------------------------------------------------------------------
@dataclass
class Report:
    page: str
    scenario: str
    sessions: int
    interactions: int = 0           # measured runs (opens in "open", changes otherwise)
    p50: float = float("nan")
    p95: float = float("nan")
    max: float = float("nan")
    errors: int = 0
    exceptions: int = 0
    timeouts: int = 0
    disconnects: int = 0
    connect_failures: int = 0         # connections refused and first runs that failed
    missing_widget: int = 0         # sessions whose page did not show the interaction's widget
    cpu_s: float = float("nan")               # server CPU seconds during the measured phase
    cpu_per_interaction: float = float("nan")
    idle_cpu_rate: float = float("nan")       # server CPU s per s with nobody interacting (its own timers)
    net_cpu_per_interaction: float = float("nan")  # cpu_per_interaction less the idle rate over the wall time
    kb_per_rerun: float = float("nan")        # median kB received per measured run (message payloads)
    wire_kb_per_rerun: float = float("nan")   # median kB on the socket for them (compressed, if the server agreed)
    wire_kb_first: float = float("nan")       # the same for the first measured change (at-once)
    rss_before_mb: float = float("nan")
    rss_after_mb: float = float("nan")
    load_before: float = float("nan")
    load_after: float = float("nan")
    wall_s: float = float("nan")
    error_samples: list[str] = field(default_factory=list)
    session_ids: list[str] = field(default_factory=list)
    replicas: list[str] = field(default_factory=list)      # X-Replica of each session (behind deploy/)
    fresh: bool = False                 # --fresh: every change a value the session had not had
    fresh_exhausted: int = -1           # --fresh: the round at which the widget ran out of new values (-1: never)
    kb_first: float = float("nan")      # median kB of the first measured change (at-once)

    def summary(self) -> str:
        return (f"SUMMARY page={self.page or 'home'} scenario={self.scenario} N={self.sessions} "
                f"runs={self.interactions} p50={self.p50:.2f}s p95={self.p95:.2f}s max={self.max:.2f}s "
                f"errors={self.errors} (exc={self.exceptions} timeout={self.timeouts} "
                f"disc={self.disconnects} connfail={self.connect_failures} nowidget={self.missing_widget}) "
                f"cpu/interaction={self.cpu_per_interaction:.3f}s net={self.net_cpu_per_interaction:.3f}s kB/rerun={self.kb_per_rerun:.0f} "
                f"{'fresh ' if self.fresh else ''}kB_first={self.kb_first:.0f} "
                f"wire_kB/rerun={self.wire_kb_per_rerun:.0f} wire_kB_first={self.wire_kb_first:.0f} "
                f"rss={self.rss_before_mb:.0f}->{self.rss_after_mb:.0f}MB "
                f"load={self.load_before:.1f}->{self.load_after:.1f} wall={self.wall_s:.0f}s")


def change_for(s: Session, page: str, step: int):
    """The WidgetState of the page's typical interaction for session ``s`` (or None if the widget is gone)."""
    key, how = INTERACTIONS.get(page, (None, None))
    if page in KEY_OVERRIDE:   # --key: that widget, to its next value (pressed if it is a button)
        key, how = KEY_OVERRIDE[page], "next"
    if key is None:
        return [] if how == "rerun" else None
    try:
        w = s.find(key=key)
    except KeyError:
        return None
    if how == "press" or w.kind in ("button", "form_submit_button"):
        return s.set(w, True)
    if FRESH["on"]:
        return fresh_change(s, w, step)
    if how == "flip12":
        return s.set(w, 2 if step % 2 == 0 else 1)
    return s.set(w, s.next_value(w))


def _value_id(ws) -> str:
    """A WidgetState's value as text (to tell values apart)."""
    return ws.SerializeToString(deterministic=True).hex() if ws is not None else ""


def fresh_change(s: Session, w, step: int):
    """--fresh: the widget's next value that this session has not sent or been drawn with (the next slider step,
    stride, option, cell value ...), so that nothing the change draws is already in the client's message cache
    and its bytes are those of a NEW setting. Before the first change it walks past FRESH["skip"] values (the
    one the warm-up run took), so that the server's figure caches miss as well. Returns "exhausted" when the
    widget has no value left that it has not had (a radio with two options has one fresh change)."""
    seen = s.__dict__.setdefault("_fresh_seen", {}).setdefault(w.id, {_value_id(w.state)})
    if step == 0 and FRESH["skip"]:
        start, walked = w.state, set(seen)
        for _ in range(FRESH["skip"]):
            w.state = s.set(w, s.next_value(w))   # only locally: the change below carries the state sent
            walked.add(_value_id(w.state))
        if _value_id(s.set(w, s.next_value(w))) in walked:   # a toggle, a two-option radio: nothing left to skip to
            w.state = start
        else:
            seen |= walked
    new = s.set(w, s.next_value(w))
    if _value_id(new) in seen:
        return "exhausted"
    seen.add(_value_id(new))
    return new


def percentile(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    i = min(len(xs) - 1, max(0, int(round(q / 100 * (len(xs) - 1)))))
    return xs[i]


async def run_load(url: str, page: str, sessions: int, scenario: str, *, duration: float = 60.0,
                   rounds: int = 3, think: tuple[float, float] = (5.0, 15.0), pids: list[int] = (),
                   timeout: float = 120.0, seed: int = 0, query: str = "", verbose: bool = False) -> Report:
    """Run one scenario and return its Report (the CLI below prints it)."""
    check_loopback(url)
    if not 1 <= sessions <= MAX_SESSIONS:
        raise ValueError(f"sessions must be 1..{MAX_SESSIONS}")
    duration = min(float(duration), MAX_SECONDS)
    rng = random.Random(seed)
    rep = Report(page=page, scenario=scenario, sessions=sessions, fresh=FRESH["on"])
    results: list[RunResult] = []
    pids = list(pids)
    hard_deadline = time.monotonic() + MAX_SECONDS + 2 * timeout

    def note(r: RunResult) -> None:
        results.append(r)

    clients = [Session(url, page, query, timeout=timeout) for _ in range(sessions)]

    async def connect_and_open(c: Session) -> RunResult | None:
        try:
            await c.connect()
        except Exception as e:   # refused, reset, handshake rejected
            rep.connect_failures += 1
            rep.error_samples.append(f"connect: {type(e).__name__}: {e}"[:200])
            return None
        return await c.open()

    def snapshot():
        return (cpu_seconds(pids) if pids else float("nan"), rss_mb(pids) if pids else float("nan"), loadavg())

    try:
        if scenario == "open":
            cpu0, rep.rss_before_mb, rep.load_before = snapshot()
            t0 = time.monotonic()
            for r in await asyncio.gather(*(connect_and_open(c) for c in clients)):
                if r is not None:
                    note(r)
        else:
            opened = await asyncio.gather(*(connect_and_open(c) for c in clients))
            if verbose:
                ok = [r for r in opened if r is not None]
                print(f"opened {len(ok)}/{sessions}: open p50 {percentile([r.latency for r in ok], 50):.2f} s")
            for r in opened:
                if r is not None and not r.ok:
                    rep.connect_failures += 1
                    rep.error_samples.append(f"open: {r.status} {'; '.join(r.exceptions)}"[:300])
            live = [c for c, r in zip(clients, opened) if r is not None and not c.closed]
            await asyncio.sleep(1.0)
            if pids:  # the server's own timers (config-file polling, pings): ~0.03 CPU s/s here
                idle0, w0 = cpu_seconds(pids), time.monotonic()
                await asyncio.sleep(3.0)
                rep.idle_cpu_rate = (cpu_seconds(pids) - idle0) / (time.monotonic() - w0)
            cpu0, rep.rss_before_mb, rep.load_before = snapshot()
            t0 = time.monotonic()
            if scenario == "at-once":
                for k in range(rounds):
                    if time.monotonic() - t0 > duration or time.monotonic() > hard_deadline:
                        break
                    live = [c for c in live if not c.closed]
                    batch = [(c, change_for(c, page, k)) for c in live]
                    if any(isinstance(ch, str) for _, ch in batch):   # --fresh ran out of new values
                        rep.fresh_exhausted = k
                        break
                    for c, ch in batch:
                        if ch is None:
                            rep.missing_widget += 1
                            rep.error_samples.append(f"no widget {INTERACTIONS[page][0]!r} in session "
                                                     f"{c.session_id[:8]}: {sorted(w.key or '' for w in c.widgets.values())}"[:300])
                    rs = await asyncio.gather(*(c.rerun(ch) for c, ch in batch if ch is not None))
                    for r in rs:
                        note(r)
                    if k == 0 and rs:
                        rep.kb_first = statistics.median(r.bytes for r in rs) / 1e3
                        rep.wire_kb_first = statistics.median(r.wire for r in rs) / 1e3
                    if verbose:
                        print(f"round {k + 1}: p95 {percentile([r.latency for r in rs], 95):.2f} s")
                    await asyncio.sleep(1.0)
            elif scenario == "steady":
                end = t0 + duration

                async def student(c: Session, i: int) -> None:
                    step = 0
                    await asyncio.sleep(rng.uniform(0, think[1]))
                    while time.monotonic() < end and not c.closed:
                        ch = change_for(c, page, step)
                        if isinstance(ch, str):   # --fresh ran out of new values
                            rep.fresh_exhausted = step
                            return
                        if ch is None:
                            rep.missing_widget += 1
                            return
                        note(await c.rerun(ch))
                        step += 1
                        await asyncio.sleep(rng.uniform(*think))

                await asyncio.gather(*(student(c, i) for i, c in enumerate(live)))
            else:
                raise ValueError(f"unknown scenario {scenario!r}")
        rep.wall_s = time.monotonic() - t0
        cpu1, rep.rss_after_mb, rep.load_after = snapshot()
    finally:
        rep.session_ids = [c.session_id for c in clients]
        rep.replicas = [c.replica for c in clients]
        await asyncio.gather(*(c.close() for c in clients))

    lat = [r.latency for r in results if r.status.startswith("FINISHED")]
    rep.interactions = len(results)
    rep.p50, rep.p95 = percentile(lat, 50), percentile(lat, 95)
    rep.max = max(lat) if lat else float("nan")
    rep.exceptions = sum(1 for r in results if r.exceptions)
    rep.timeouts = sum(1 for r in results if r.status == "timeout")
    rep.disconnects = sum(1 for r in results if r.status == "disconnected")
    rep.errors = rep.exceptions + rep.timeouts + rep.disconnects + rep.connect_failures + rep.missing_widget
    for r in results:
        if r.exceptions:
            rep.error_samples.append("; ".join(r.exceptions)[:300])
    rep.error_samples = rep.error_samples[:10]
    if results:
        rep.kb_per_rerun = statistics.median(r.bytes for r in results) / 1e3
        rep.wire_kb_per_rerun = statistics.median(r.wire for r in results) / 1e3
    if pids:
        rep.cpu_s = cpu1 - cpu0
        rep.cpu_per_interaction = rep.cpu_s / max(1, len(results))
        if rep.idle_cpu_rate == rep.idle_cpu_rate:
            rep.net_cpu_per_interaction = max(0.0, rep.cpu_s - rep.idle_cpu_rate * rep.wall_s) / max(1, len(results))
    return rep


def print_report(rep: Report) -> None:
    print(f"page {rep.page or 'home'}, scenario {rep.scenario}, {rep.sessions} sessions, {rep.interactions} runs "
          f"in {rep.wall_s:.1f} s")
    print(f"  latency send -> script_finished: p50 {rep.p50:.3f} s, p95 {rep.p95:.3f} s, max {rep.max:.3f} s")
    print(f"  errors {rep.errors}: exceptions {rep.exceptions}, timeouts {rep.timeouts}, disconnects "
          f"{rep.disconnects}, failed connections {rep.connect_failures}, widget missing {rep.missing_widget}")
    for e in rep.error_samples[:5]:
        print(f"    {e}")
    print(f"  server CPU {rep.cpu_s:.2f} s = {rep.cpu_per_interaction:.3f} s per interaction "
          f"({rep.net_cpu_per_interaction:.3f} s less the idle {rep.idle_cpu_rate:.3f} CPU s/s); "
          f"{rep.kb_per_rerun:.0f} kB per rerun (median)" + (", every change a new value" if rep.fresh else "")
          + f"; first change {rep.kb_first:.0f} kB; on the socket {rep.wire_kb_per_rerun:.0f} kB per rerun, "
          f"first change {rep.wire_kb_first:.0f} kB")
    if rep.fresh_exhausted >= 0:
        print(f"  --fresh: the widget had no new value left after {rep.fresh_exhausted} change(s); stopped there")
    print(f"  server RSS {rep.rss_before_mb:.0f} MB -> {rep.rss_after_mb:.0f} MB; load average "
          f"{rep.load_before:.2f} -> {rep.load_after:.2f}")
    print(rep.summary(), flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="a running server (loopback only), e.g. http://127.0.0.1:8501")
    ap.add_argument("--spawn", action="store_true", help="start `streamlit run app.py` on a free 127.0.0.1 port "
                    "for the run and stop it afterwards (its pid is measured)")
    ap.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                    help="extra argument for the spawned server, e.g. --server-arg=--runner.postScriptGC=false")
    ap.add_argument("--server-pid", default="", help="pid(s) of the server process(es), comma-separated, for "
                    "CPU seconds and RSS from /proc (every replica behind a proxy)")
    ap.add_argument("--page", default="kernel_sandbox", choices=PAGES + [""],
                    help="page url path ('' = home); its typical interaction is built in")
    ap.add_argument("--sessions", "-n", type=int, action="append", help=f"simulated students (1..{MAX_SESSIONS}); "
                    "repeat for several runs, e.g. -n 1 -n 10 -n 30")
    ap.add_argument("--scenario", choices=["open", "at-once", "steady"], default="at-once")
    ap.add_argument("--duration", type=float, default=60.0, help=f"steady: seconds of use (≤ {MAX_SECONDS:.0f})")
    ap.add_argument("--rounds", type=int, default=3, help="at-once: how many simultaneous changes")
    ap.add_argument("--think", type=float, nargs=2, default=(5.0, 15.0), metavar=("MIN", "MAX"),
                    help="steady: seconds between one student's changes")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds before a run counts as timed out")
    ap.add_argument("--warmup", type=int, default=1, help="single-session runs first (caches, imports)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="append each Report as one JSON line to this file")
    ap.add_argument("--query", default="", help="the page URL's query string, e.g. 'wf_tab=2-D: JPEG artifacts'")
    ap.add_argument("--key", help="move this widget (next value) instead of the page's built-in interaction")
    ap.add_argument("--fresh", action="store_true", help="every change moves the widget to a value the session has "
                    "not had yet (stride 1, 2, 3, ...; the next option; the next slider step; a new cell value) instead of "
                    "alternating two, and past the values the warm-up took: kB and CPU of a NEW setting in every round; "
                    "stops early when the widget has no new value left")
    a = ap.parse_args(argv)
    FRESH["on"] = a.fresh
    if a.key:
        KEY_OVERRIDE[a.page] = a.key
    sizes = a.sessions or [10]
    if any(not 1 <= n <= MAX_SESSIONS for n in sizes):
        ap.error(f"--sessions must be between 1 and {MAX_SESSIONS}")
    if not 0 < a.duration <= MAX_SECONDS:
        ap.error(f"--duration must be in (0, {MAX_SECONDS:.0f}]")
    if bool(a.url) == a.spawn:
        ap.error("give exactly one of --url and --spawn")
    proc = None
    if a.spawn:
        proc, url = spawn_server(a.server_arg, log_path=ROOT / "bench" / "load_server.log")
        pids = [proc.pid]
        print(f"started {url} (pid {proc.pid})")
    else:
        url = a.url
        try:
            check_loopback(url)
        except ValueError as e:
            ap.error(str(e))
        pids = [int(p) for p in a.server_pid.split(",") if p.strip()]
        missing = [p for p in pids if not os.path.exists(f"/proc/{p}/stat")]
        if missing:
            ap.error(f"no such process: {missing}")
    try:
        for _ in range(a.warmup):
            asyncio.run(run_load(url, a.page, 1, "at-once", rounds=1, pids=pids, timeout=a.timeout, query=a.query))
        FRESH["skip"] = 1 if a.fresh and a.warmup else 0   # every warm-up session took the first new value
        for n in sizes:
            rep = asyncio.run(run_load(url, a.page, n, a.scenario, duration=a.duration, rounds=a.rounds,
                                       think=tuple(a.think), pids=pids, timeout=a.timeout, seed=a.seed,
                                       query=a.query, verbose=True))
            print_report(rep)
            if a.json:
                with open(a.json, "a") as f:
                    d = asdict(rep)
                    d.pop("session_ids")
                    d.pop("replicas")
                    f.write(json.dumps(d) + "\n")
    finally:
        if proc is not None:
            stop_server(proc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
