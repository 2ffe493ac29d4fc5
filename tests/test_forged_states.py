"""Hostile websocket clients: forged widget states on every page, sent with bench/stproto.py to a real
`streamlit run app.py` on loopback. A browser only sends values its widgets allow; anyone can open the
websocket and send anything. For every widget type a page shows (sliders, select sliders, selectboxes,
radios, toggles, number and text inputs, multiselects, pills, the data_editor grid, file uploaders,
buttons, charts and components), each forgery must come back without an exception element, and the session
must keep working: a normal rerun right afterwards finishes successfully.

Also here: a class opening a page at the same instant on a fresh server (no exception in any session)."""

from __future__ import annotations

import asyncio
import json
import math
import sys

import pytest
from conftest import ROOT, start_app, stop_app, run_async

sys.path.insert(0, str(ROOT / "bench"))
from load_class import run_load  # noqa: E402
from stproto import Session, Widget  # noqa: E402
from streamlit.proto.WidgetStates_pb2 import WidgetState  # noqa: E402

PAGES = ["kernel_sandbox", "sliding_kernel", "relu_pooling", "mnist_activations", "deblurring", "low_rank"]
LONG = "x" * 10_000
SCRIPT = "<script>alert(1)</script>"
LINK = "[log in](http://evil.example/)"


@pytest.fixture(scope="module")
def server():
    proc, url = start_app("forged-states-server.log")
    yield url
    stop_app(proc)


def _ws(w: Widget, field: str, value) -> WidgetState:
    ws = WidgetState(id=w.id)
    if field in ("double_array_value", "string_array_value", "int_array_value"):
        getattr(ws, field).data.extend(value)
    elif field == "file_uploader_state_value":
        for name, size, fid in value:
            info = ws.file_uploader_state_value.uploaded_file_info.add()
            info.name, info.size, info.file_id = name, size, fid
            info.file_urls.file_id = fid
    else:
        setattr(ws, field, value)
    return ws


def _grid(edited=None, added=None, deleted=None) -> str:
    return json.dumps({"edited_rows": edited or {}, "added_rows": added or [], "deleted_rows": deleted or []})


def forgeries(w: Widget) -> list[tuple[str, WidgetState]]:
    """What a hostile client can send for this widget: out of range, wrong type, NaN/inf, huge, markup."""
    k, p = w.kind, w.proto
    names = [o if isinstance(o, str) else getattr(o, "content", "") for o in w.options]   # pills: messages
    f: list[tuple[str, str, object]] = []
    if k == "slider" and len(p.options):   # select_slider: formatted options
        f += [("unknown option", "string_array_value", [SCRIPT]), ("10k chars", "string_array_value", [LONG]),
              ("empty", "string_array_value", []), ("three values", "string_array_value", list(p.options[:1]) * 3),
              ("numbers instead", "double_array_value", [1e9]), ("int instead", "int_value", -1)]
    elif k == "slider":
        f += [("below min", "double_array_value", [p.min - 1e6] * len(p.default)),
              ("above max", "double_array_value", [p.max + 1e6] * len(p.default)),
              ("NaN", "double_array_value", [math.nan] * len(p.default)),
              ("inf", "double_array_value", [math.inf] * len(p.default)),
              ("-inf", "double_array_value", [-math.inf] * len(p.default)),
              ("empty", "double_array_value", []), ("three values", "double_array_value", [p.min, p.max, p.min]),
              ("string instead", "string_value", "abc"), ("options instead", "string_array_value", ["1"])]
    elif k in ("selectbox", "radio"):
        f += [("unknown option", "string_value", SCRIPT), ("10k chars", "string_value", LONG),
              ("empty", "string_value", ""), ("markdown link", "string_value", LINK),
              ("index out of range", "int_value", 999), ("negative index", "int_value", -1),
              ("NaN", "double_value", math.nan)]
    elif k == "checkbox":
        f += [("int 7", "int_value", 7), ("int -1", "int_value", -1), ("string", "string_value", "true"),
              ("NaN", "double_value", math.nan)]
    elif k == "number_input":
        f += [("NaN", "double_value", math.nan), ("inf", "double_value", math.inf),
              ("-inf", "double_value", -math.inf), ("1e308", "double_value", 1e308),
              ("-1e308", "double_value", -1e308), ("2**62", "int_value", 2 ** 62), ("-2**62", "int_value", -2 ** 62),
              ("string", "string_value", "abc"), ("below min", "int_value", int(p.min) - 1000 if p.has_min else -10 ** 6)]
    elif k in ("text_input", "text_area"):
        f += [("10k chars", "string_value", LONG), ("script", "string_value", SCRIPT),
              ("markdown link", "string_value", LINK), ("int instead", "int_value", 3)]
    elif k in ("multiselect", "button_group"):
        f += [("unknown options", "string_array_value", ["nope", SCRIPT]), ("10k chars", "string_array_value", [LONG]),
              ("repeated", "string_array_value", names[:1] * 50 if names else ["a"] * 50),
              ("string instead", "string_value", "abc"), ("indices instead", "int_array_value", [99, -1])]
    elif k == "dataframe" and p.editing_mode:
        f += [("unknown row and column", "string_value", _grid(edited={"999": {"nope": 1}})),
              ("negative row", "string_value", _grid(edited={"-1": {"0": 1.0}})),
              ("text in a number cell", "string_value", _grid(edited={"0": {"0": "abc", "1": SCRIPT}})),
              ("huge and NaN", "string_value", _grid(edited={"0": {"0": 1e308, "1": "NaN", "2": "-Infinity"}})),
              ("unknown columns added", "string_value", _grid(added=[{"zz": 1}] * 5)),
              ("delete rows that do not exist", "string_value", _grid(deleted=[999, -5])),
              ("delete every row", "string_value", _grid(deleted=list(range(20)))),
              ("not JSON", "string_value", "{not json"), ("a list", "string_value", "[]"),
              ("null", "string_value", "null"), ("edited_rows a list", "string_value",
                                                 json.dumps({"edited_rows": [1, 2], "added_rows": {}})),
              ("wrong type", "int_value", 5)]
    elif k in ("file_uploader", "camera_input"):
        f += [("a file id that does not exist", "file_uploader_state_value", [("a.png", 100, "nope")]),
              ("script name, 1 TB size", "file_uploader_state_value", [(SCRIPT + ".png", 2 ** 40, "x" * 300)]),
              ("five unknown files", "file_uploader_state_value", [(f"{i}.png", 10, f"f{i}") for i in range(5)]),
              ("wrong type", "string_value", "abc")]
    elif k in ("button", "download_button", "form_submit_button"):
        f += [("string instead", "string_value", SCRIPT), ("int instead", "int_value", 5)]
    elif k == "plotly_chart":
        f += [("not JSON", "string_value", "{not json"),
              ("points far away", "string_value", json.dumps({"selection": {"points": [{"x": 1e308, "y": -1}],
                                                                             "point_indices": [10 ** 9]}}))]
    elif k == "component_instance":
        f += [("not JSON", "json_value", "{not json"), ("wrong shape", "json_value", json.dumps({"image_data": "x"})),
              ("wrong type", "string_value", "abc")]
    return [(name, _ws(w, field, value)) for name, field, value in f]


def _branches(s: Session) -> list[dict[str, str]]:
    """Settings that show more widgets: every option of a radio or selectbox whose key names a source."""
    out = [{}]
    for w in s.widgets.values():
        if w.kind in ("radio", "selectbox") and w.key and "source" in w.key:
            default = w.state.string_value if w.state else None
            out += [{w.key: o} for o in w.options if o != default]
    return out


async def _forge_page(url: str, page: str) -> tuple[list[str], int, set[str]]:
    problems: list[str] = []
    tried = 0
    kinds: set[str] = set()
    async with Session(url, page, timeout=180) as s:
        first = await s.open()
        assert first.ok, (first.status, first.exceptions)
        for branch in _branches(s):
            s.reset_states()
            for key, value in branch.items():
                r = await s.rerun(s.set(s.find(key=key), value))
                assert r.ok, (page, branch, r.status, r.exceptions)
            widgets = list(s.widgets.values())
            per_kind: dict[str, int] = {}
            for w in widgets:
                names = []
                fs = forgeries(w)
                n = per_kind[w.kind] = per_kind.get(w.kind, 0) + 1
                if n > 2:   # the 3rd, 4th, ... widget of a kind: a rotating third of the list (time)
                    fs = fs[n % 3::3]
                for name, forged in fs:
                    tried += 1
                    kinds.add(w.kind)
                    names.append(name)
                    r = await s.rerun(forged, fragment_id=w.fragment_id)
                    if not r.ok:
                        problems.append(f"{page} {branch} {w.kind} {w.key!r} {name}: {r.status} {r.exceptions}")
                    s.reset_states()
                    if s.closed:
                        problems.append(f"{page}: the server closed the session after {w.key!r} {name}")
                        return problems, tried, kinds
                if not names:
                    continue
                for key, value in branch.items():   # the normal rerun: what a real browser sends
                    try:
                        b = s.find(key=key)
                    except KeyError:
                        continue
                    b.state = s.set(b, value)
                ok = await s.rerun([])
                if not ok.ok:
                    problems.append(f"{page} {branch} after {w.kind} {w.key!r} {names}: normal rerun "
                                    f"{ok.status} {ok.exceptions}")
    return problems, tried, kinds


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_forged_widget_states_bring_no_exception_and_the_session_keeps_working(server, page):
    problems, tried, kinds = run_async(_forge_page(server, page))
    assert tried >= 20, (tried, kinds)
    assert problems == [], "\n".join(problems[:40])


def test_a_class_opening_a_page_at_once_on_a_fresh_server_sees_no_exception():
    """Before the fix in cnn_viz/ui/__init__.py, 20 sessions opening the sandbox at the same instant on a
    fresh server got "cannot import name 'ui' from 'cnn_viz'" in 1 to 9 of them."""
    proc, url = start_app("cold-open-server.log")
    try:
        rep = run_async(run_load(url, "kernel_sandbox", 20, "open", timeout=240))
    finally:
        stop_app(proc)
    assert rep.interactions == 20
    assert rep.errors == 0, rep.error_samples


@pytest.mark.parametrize("page", PAGES)
def test_forged_url_query_parameters_bring_no_exception(server, page):
    """Every widget bound to the URL (bind="query-params") given markup, NaN, a huge number, 3,000
    characters or a Markdown link at once, as a shared link could: the page opens without an exception,
    and no message shows the link as live Markdown."""
    import urllib.parse

    async def go():
        async with Session(server, page, timeout=240) as s:
            assert (await s.open()).ok
            keys = [w.proto.query_param_key for w in s.widgets.values() if getattr(w.proto, "query_param_key", "")]
        out = []
        for bad in (SCRIPT, "nan", "-1e308", "x" * 3000, LINK):
            async with Session(server, page, query_string=urllib.parse.urlencode({k: bad for k in keys}),
                               timeout=240) as s:
                r = await s.open()
                out.append((bad[:20], r.status, r.exceptions, [a for a in r.alerts if LINK in a]))
        return keys, out

    keys, out = run_async(go())
    for bad, status, exceptions, live_links in out:
        assert status == "FINISHED_SUCCESSFULLY" and exceptions == [], (bad, status, exceptions)
        assert live_links == [], (bad, live_links)
