"""The simulated student of bench/load_follow.py follows a real server through successive teacher changes.

A real `streamlit run app.py` (127.0.0.1, a fresh SQLite class store) and clients speaking Streamlit's
websocket protocol (bench/stproto.py): a teacher on the kernel sandbox starts a class, two students join through
the rejoin link, read every message the server sends (the server reruns their follow fragment when the class
changes) and tick their follow fragment as the browser does; the teacher changes the stride four times.
Each change must reach each student: its address bar (page_info_changed) and its own stride slider carry the
teacher's value, the store (read here with sqlite3) holds it, and the student is still following. This is
the test that the client's earlier bug failed (change 3 onward missed: after a fragment tick turned into a full
run the client sent the follow toggle's default, False, and the student's page switched to exploring).
Latency is not asserted here (bench/load_follow.py measures it); the wait per change is a hang guard.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time

import pytest
from conftest import ROOT, run_async, start_class_app, stop_app

sys.path.insert(0, str(ROOT / "bench"))
from load_follow import PIN, Client, open_panel, student_loop

ARRIVE_S = 60.0   # hang guard per change on a loaded machine
CHANGES = (3, 2, 4, 5)   # successive strides; the sandbox's default is 1


@pytest.fixture(scope="module")
def follow_app(tmp_path_factory):
    store = tmp_path_factory.mktemp("follow") / "class.sqlite3"
    proc, url = start_class_app(store, PIN, "follow-client-server.log")
    yield url, str(store)
    stop_app(proc)


def _stride_state(c: Client) -> int | None:
    try:
        w = c.find(key="stride")
    except KeyError:
        return None
    if w.state is None:
        return None
    kind = w.state.WhichOneof("value")
    value = getattr(w.state, kind)
    return int(value.data[0] if kind == "double_array_value" else value)


async def _follow(url: str, store: str, changes=CHANGES, tick: bool = True) -> list[dict]:
    teacher = Client(url, page="kernel_sandbox", timeout=ARRIVE_S)
    r = await teacher.open()
    assert r.ok, r
    await open_panel(teacher)
    await teacher.rerun(teacher.set(teacher.find(key="cls_pin_in"), PIN))
    r = await teacher.rerun(teacher.set(teacher.find(key="cls_start"), True))
    assert r.ok, r
    with sqlite3.connect(store) as db:
        code = db.execute("SELECT code FROM sessions ORDER BY created DESC LIMIT 1").fetchone()[0]
    students = [Client(url, page="", query_string=f"class={code}&me=test{i}", timeout=ARRIVE_S) for i in range(2)]
    for s in students:
        r = await s.open()
        assert r.ok, r
    stop, errors = asyncio.Event(), []
    loops = [asyncio.create_task(student_loop(s, stop, errors)) for s in students] if tick else []
    readers = [asyncio.create_task(s.read_forever()) for s in students]
    seen = []
    try:
        stride_w = teacher.find(key="stride")
        for v in changes:
            for s in students:
                s.arrivals.clear()
            want = f"stride={v}"
            teacher.query_string = want
            r = await teacher.rerun(teacher.set(stride_w, v))
            assert r.ok, r
            stride_w = teacher.find(key="stride")
            deadline = time.perf_counter() + ARRIVE_S
            while time.perf_counter() < deadline:
                if all(any(want in q.split("&") for _, q in s.arrivals) for s in students):
                    break
                await asyncio.sleep(0.05)
            with sqlite3.connect(store) as db:
                ver, params = db.execute("SELECT version, params FROM sessions WHERE code=?", (code,)).fetchone()
            seen.append({
                "v": v, "version": ver, "params": params,
                "arrived": [any(want in q.split("&") for _, q in s.arrivals) for s in students],
                "slider": [_stride_state(s) for s in students],
                "follow": [s.find(key="cls_follow").state.bool_value for s in students]})
            await asyncio.sleep(0.5)
    finally:
        stop.set()
        await asyncio.gather(*loops, return_exceptions=True)
        for t in readers:
            t.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        for s in students + [teacher]:
            await s.close()
    assert not errors, errors
    assert not [e for s in students for e in s.errors], [s.errors for s in students]
    return seen


def test_simulated_students_follow_four_successive_changes(follow_app):
    url, store = follow_app
    seen = run_async(_follow(url, store))
    versions = [d["version"] for d in seen]
    assert versions == sorted(set(versions)), f"the store's version must rise with every change: {versions}"
    for d in seen:
        assert f'"stride": "{d["v"]}"' in d["params"], d             # the store holds the teacher's setting
        assert d["arrived"] == [True, True], d                       # every student's URL took it
        assert d["slider"] == [d["v"], d["v"]], d                    # and every student's slider shows it
        assert d["follow"] == [True, True], d                        # still following the teacher


def test_students_that_send_nothing_still_get_the_changes(follow_app):
    """The server reruns the follow fragment itself (one watcher per server on the store): students whose
    browser sends nothing after joining (no fragment ticks at all) still get each change. With the store polled
    by each student's 1 s timer instead (the design before), nothing would reach them."""
    url, store = follow_app
    seen = run_async(_follow(url, store, changes=(4, 2), tick=False))
    for d in seen:
        assert d["arrived"] == [True, True], d
        assert d["slider"] == [d["v"], d["v"]], d
        assert d["follow"] == [True, True], d
