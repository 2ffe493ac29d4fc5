"""bench/load_class.py --fresh and the widgets bench/stproto.py can move, against a real server.

A real `streamlit run app.py` (127.0.0.1) and the websocket client: with --fresh every change gives the widget a
value the session has not had (the sandbox's stride 3, 4, 5 after the warm-up's 2), so the feature map comes
as a full message every time, while alternating two values brings it back as a ``ref_hash`` reference from the
third change on (what the default scenario measures). A toggle has one fresh change, then the walk says
"exhausted". Stateful tabs (ReLU/pooling's "Why CNNs work"), data_editor cells and multiselects can be moved.
Latency is not asserted (bench/ measures it); the client's timeout is a hang guard.
"""

from __future__ import annotations

import sys

import pytest
from conftest import ROOT, run_async, start_app, stop_app

sys.path.insert(0, str(ROOT / "bench"))
import load_class  # noqa: E402
from stproto import Session  # noqa: E402

TIMEOUT = 120.0


@pytest.fixture(scope="module")
def server():
    proc, url = start_app("load-fresh-server.log")
    yield url
    stop_app(proc)


@pytest.fixture
def fresh():
    old = dict(load_class.FRESH)
    yield load_class.FRESH
    load_class.FRESH.update(old)


def _int_state(w) -> int:
    kind = w.WhichOneof("value")
    v = getattr(w, kind)
    return int(v.data[0] if kind == "double_array_value" else v)


async def _changes(url: str, page: str, key: str, rounds: int, query: str = ""):
    """(value sent, whether the chart ``out_fig_0`` came as a full message, ref_hash count) per change."""
    s = Session(url, page, query, timeout=TIMEOUT)
    await s.connect()
    try:
        assert (await s.open()).ok
        out = []
        handle = s._handle
        for k in range(rounds):
            got = {"full": False, "refs": 0}

            def spy(msg, res, seen, got=got):
                if msg.WhichOneof("type") == "ref_hash":
                    got["refs"] += 1
                elif msg.WhichOneof("type") == "delta" and msg.delta.new_element.WhichOneof("type") == "plotly_chart" \
                        and msg.delta.new_element.plotly_chart.id.endswith("-out_fig_0"):
                    got["full"] = True
                return handle(msg, res, seen)

            s._handle = spy
            ch = load_class.change_for(s, page, k)
            if isinstance(ch, str):
                out.append((ch, None, None))
                break
            r = await s.rerun(ch)
            assert r.ok, r
            out.append((_int_state(ch) if ch.WhichOneof("value") in ("int_value", "double_array_value") else ch,
                        got["full"], got["refs"]))
        return out
    finally:
        await s.close()


def test_fresh_walks_new_strides_and_every_feature_map_is_sent_in_full(server, fresh):
    fresh.update(on=True, skip=1)   # as after one warm-up run (which took stride 2)
    got = run_async(_changes(server, "kernel_sandbox", "stride", 3))
    assert [v for v, _, _ in got] == [3, 4, 5]
    assert all(full for _, full, _ in got), got


def test_alternating_strides_come_back_as_references(server, fresh):
    fresh.update(on=False, skip=0)
    got = run_async(_changes(server, "kernel_sandbox", "stride", 3))
    assert [v for v, _, _ in got] == [2, 1, 2]
    assert got[0][1]                            # stride 2: a map this session had not seen
    for _, full, refs in got[1:]:               # stride 1 (the page opened with it), 2 again: references
        assert not full and refs >= 1, got


def test_a_toggle_has_one_fresh_change(server, fresh, monkeypatch):
    fresh.update(on=True, skip=1)   # nothing to skip to on a toggle: the warm-up's value is used again
    monkeypatch.setitem(load_class.KEY_OVERRIDE, "kernel_sandbox", "relu")

    async def run():
        s = Session(server, "kernel_sandbox", timeout=TIMEOUT)
        await s.connect()
        try:
            assert (await s.open()).ok
            first = load_class.change_for(s, "kernel_sandbox", 0)
            assert first.bool_value is True
            assert (await s.rerun(first)).ok
            assert s.find(key="relu").state.bool_value is True
            return load_class.change_for(s, "kernel_sandbox", 1)
        finally:
            await s.close()

    assert run_async(run()) == "exhausted"


def test_the_client_moves_tabs_a_data_editor_and_a_multiselect(server):
    async def run():
        s = Session(server, "relu_pooling", timeout=TIMEOUT)
        await s.connect()
        try:
            assert (await s.open()).ok
            tabs = s.find(key="rp_part")
            assert tabs.kind == "tabs" and len(tabs.options) == 3 and tabs.state.string_value == tabs.options[0]
            with pytest.raises(KeyError):
                s.find(key="rp_dx")
            r = await s.rerun(s.set(tabs, tabs.options[2]))
            assert r.ok, r
            assert s.find(key="rp_dx").kind == "slider"   # the equivariance lab ran: its slider is drawn
            bank = s.find(key="rp_bank")
            before = list(bank.state.string_array_value.data)
            r = await s.rerun(s.set(bank, s.next_value(bank)))
            assert r.ok, r
            after = list(s.find(key="rp_bank").state.string_array_value.data)
            assert len(after) == len(before) + 1 and after[:-1] == before
        finally:
            await s.close()
        s = Session(server, "kernel_sandbox", timeout=TIMEOUT)
        await s.connect()
        try:
            assert (await s.open()).ok
            grid = s.find(key="k_grid_1")
            r = await s.rerun(s.set(grid, s.next_value(grid)))   # K(0, 0) of the vertical-edge kernel set to 0.5
            assert r.ok and not r.alerts, r
            return r
        finally:
            await s.close()

    run_async(run())


async def _open_and_change(url: str, compression: bool):
    s = Session(url, "sliding_kernel", timeout=TIMEOUT, compression=compression)
    await s.connect()
    try:
        first = await s.open()
        nxt = s.find(key="sk_next")
        changed = await s.rerun(s.set(nxt, True))
        return s.compressed, first, changed
    finally:
        await s.close()


def test_the_server_compresses_its_websocket_and_the_client_counts_both(server):
    """.streamlit/config.toml turns on permessage-deflate (Chromium offers it; so does the load client): the
    figures' JSON crosses the socket in fewer bytes than its payload, and the page says the same either way."""
    on = run_async(_open_and_change(server, True))
    off = run_async(_open_and_change(server, False))
    assert on[0] is True and off[0] is False
    for _, first, changed in (on, off):
        assert first.ok and changed.ok, (first, changed)
    assert on[1].wire < 0.7 * on[1].bytes  # the first visit's JSON compresses
    assert off[1].wire >= off[1].bytes  # uncompressed: payload plus frame headers
    assert on[2].messages == off[2].messages  # the step: the same messages either way
    assert abs(on[2].bytes - off[2].bytes) < 0.02 * off[2].bytes and on[2].wire < 0.7 * on[2].bytes
