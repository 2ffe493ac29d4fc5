"""A small client for Streamlit 1.67's websocket protocol, for load tests and hostile-client tests.

It does what the browser does, with the protobuf classes shipped inside the streamlit package:

1. ``GET /_stcore/health`` sets the ``_streamlit_xsrf`` cookie (and, behind the HAProxy of deploy/, the
   sticky ``SRV`` cookie naming the replica);
2. a websocket to ``/_stcore/stream`` with ``Sec-WebSocket-Protocol: streamlit, <xsrf>`` and those cookies;
3. a first ``BackMsg.rerun_script`` with ``ClientState{query_string, page_name, context_info}``;
4. every widget found in the deltas (id, label, user key, type, defaults, options, its fragment) is kept
   with the state the browser would send for it; a change is a ``rerun_script`` carrying the state of
   every mounted widget, the page's ``page_script_hash``, the widget's ``fragment_id`` and the hashes of
   every cacheable message received so far (``cached_message_hashes``), so big unchanged messages come
   back as ``ref_hash`` references exactly as they do for Chromium;
5. a run ends at ``script_finished`` ``FINISHED_SUCCESSFULLY`` or ``FINISHED_FRAGMENT_RUN_SUCCESSFULLY``
   (``FINISHED_EARLY_FOR_RERUN`` does not end it).

Each run reports its latency (send → script_finished), the bytes and messages received, and every
``exception`` element in its deltas. Loopback only (see ``check_loopback``).

    python bench/stproto.py --url http://127.0.0.1:8501 --page kernel_sandbox   # dump the page's widgets
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import math
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.cookies import SimpleCookie

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Common_pb2 import FileUploaderState
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

XSRF_COOKIE = "_streamlit_xsrf"
DONE = {ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY}
# Element types that carry a widget id, and the WidgetState field the frontend sets for them.
WIDGET_KINDS = {
    "slider", "selectbox", "radio", "checkbox", "number_input", "text_input", "text_area", "multiselect",
    "button_group", "button", "download_button", "file_uploader", "camera_input", "dataframe",
    "plotly_chart", "component_instance", "color_picker", "date_input", "time_input", "form_submit_button",
}
# Blocks that are widgets too: a stateful st.tabs (``key`` + ``on_change="rerun"`` or ``bind``) is a tab_container
# block with an id; its value is the open tab's label (string_value), its options the labels of its tab blocks.


def check_loopback(url: str) -> None:
    """Refuse any server that is not on this machine (the load test must never leave loopback)."""
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        addrs = {ai[4][0] for ai in socket.getaddrinfo(host, None)}
    except socket.gaierror as e:
        raise ValueError(f"cannot resolve {host!r}: {e}") from None
    bad = [a for a in addrs if not ipaddress.ip_address(a.split("%")[0]).is_loopback]
    if not host or bad:
        raise ValueError(f"refusing non-loopback server {url!r} ({', '.join(sorted(bad)) or 'no host'})")


@dataclass
class Widget:
    id: str
    kind: str             # the Element field: slider, selectbox, radio, checkbox, ...
    label: str
    key: str | None       # the user key (the part after the hash in "$$ID-<hash>-<key>"), or None
    proto: object         # the element's protobuf (Slider, Selectbox, ...)
    fragment_id: str = ""
    state: WidgetState | None = None   # what the browser would send now (None: nothing, e.g. a button)

    labels: list[str] = field(default_factory=list)   # a tab container's tab labels (filled as its tabs arrive)

    @property
    def options(self) -> list[str]:
        return self.labels if self.kind == "tabs" else list(getattr(self.proto, "options", []))


@dataclass
class RunResult:
    latency: float = math.nan          # seconds from send to script_finished
    status: str = ""                   # FINISHED_SUCCESSFULLY, ..., "timeout", "disconnected"
    bytes: int = 0                     # websocket payload bytes received during the run
    wire: int = 0                      # bytes on the socket for them (less than ``bytes`` when the server compresses)
    messages: int = 0
    exceptions: list[str] = field(default_factory=list)   # "Type: message" of each exception element
    alerts: list[str] = field(default_factory=list)       # st.error / st.warning bodies (not failures)

    @property
    def ok(self) -> bool:
        return self.status in ("FINISHED_SUCCESSFULLY", "FINISHED_FRAGMENT_RUN_SUCCESSFULLY") \
            and not self.exceptions


def user_key(widget_id: str) -> str | None:
    """The user key inside a widget id ``$$ID-<hash>-<key>`` (``None`` when the widget has no key)."""
    if not widget_id.startswith("$$ID-"):
        return None
    parts = widget_id.split("-", 2)
    if len(parts) < 3 or parts[2] in ("", "None"):
        return None
    return parts[2]


def _has(msg, name: str) -> bool:
    """Whether an optional protobuf field is set (False for fields without presence)."""
    try:
        return msg.HasField(name)
    except ValueError:
        return bool(getattr(msg, name, None))


def default_state(kind: str, el, wid: str) -> WidgetState | None:
    """The WidgetState the frontend sends for a freshly drawn widget (its current value)."""
    ws = WidgetState(id=wid)
    if kind == "slider":
        vals = list(el.value) if el.set_value and len(el.value) else list(el.default)
        if len(el.options):   # select_slider: the formatted options of the selected indices
            ws.string_array_value.data.extend([el.options[int(v)] for v in vals])
        else:
            ws.double_array_value.data.extend(vals)
    elif kind in ("selectbox", "radio"):
        if _has(el, "raw_value") and el.set_value:
            ws.string_value = el.raw_value
        elif _has(el, "default") and 0 <= el.default < len(el.options):
            ws.string_value = el.options[el.default]
        else:
            return None
    elif kind == "checkbox":
        ws.bool_value = el.value if el.set_value else el.default
    elif kind == "number_input":
        v = el.value if el.set_value else el.default
        if el.data_type == el.INT:
            ws.int_value = int(v)
        else:
            ws.double_value = v
    elif kind in ("text_input", "text_area", "color_picker"):
        ws.string_value = el.value if getattr(el, "set_value", False) and _has(el, "value") else el.default
    elif kind in ("multiselect", "button_group"):
        raw = list(getattr(el, "raw_values", []))
        if raw:
            ws.string_array_value.data.extend(raw)
        else:
            opts = list(el.options)
            names = [o if isinstance(o, str) else getattr(o, "content", str(o)) for o in opts]
            ws.string_array_value.data.extend([names[i] for i in el.default if 0 <= i < len(names)])
    elif kind == "dataframe":
        if not el.editing_mode and not el.selection_mode:
            return None
        ws.string_value = json.dumps({"edited_rows": {}, "added_rows": [], "deleted_rows": []}) \
            if el.editing_mode else json.dumps({"selection": {"rows": [], "columns": []}})
    elif kind in ("file_uploader", "camera_input"):
        ws.file_uploader_state_value.CopyFrom(FileUploaderState())
    else:   # buttons, charts with selections, components: nothing until the user acts
        return None
    return ws


class Session:
    """One simulated student: a websocket session on one page."""

    def __init__(self, url: str, page: str = "", query_string: str = "", timeout: float = 120.0,
                 compression: bool = True):
        check_loopback(url)
        self.compression = compression   # offer permessage-deflate, as browsers do
        self.compressed = False
        self.url = url.rstrip("/")
        self.page = page
        self.query_string = query_string
        self.timeout = timeout
        self.ws = None
        self.cookies: dict[str, str] = {}
        self.session_id = ""
        self.page_script_hash = ""
        self.widgets: dict[str, Widget] = {}
        self._cache: dict[str, ForwardMsg] = {}   # hash → cacheable message (to resolve ref_hash)
        self.total_bytes = 0
        self.wire_bytes = 0   # bytes read from the socket (frames as sent: compressed if the server agreed to)
        self.closed = False
        self.replica = ""   # the X-Replica header of the websocket handshake (behind deploy/'s HAProxy)
        self._blocks: dict[tuple, Widget] = {}   # delta path → stateful tab container (to collect its tab labels)

    # -- connection -------------------------------------------------------------------------------
    def _health(self) -> None:
        req = urllib.request.Request(self.url + "/_stcore/health")
        if self.cookies:
            req.add_header("Cookie", self._cookie_header())
        with urllib.request.urlopen(req, timeout=self.timeout) as r:
            for h in r.headers.get_all("Set-Cookie") or []:
                c = SimpleCookie()
                c.load(h)
                for k, m in c.items():
                    self.cookies[k] = m.value

    def _cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.cookies.items())

    async def connect(self) -> None:
        await asyncio.to_thread(self._health)
        xsrf = self.cookies.get(XSRF_COOKIE, "")
        ws_url = "ws" + self.url[4:] + "/_stcore/stream"
        protos = ["streamlit", xsrf] if xsrf else ["streamlit"]
        self.ws = await websockets.connect(
            ws_url, subprotocols=protos, additional_headers={"Cookie": self._cookie_header(), "Origin": self.url},
            max_size=None, open_timeout=self.timeout, ping_interval=20, ping_timeout=self.timeout,
            compression="deflate" if self.compression else None)
        # Count what arrives on the socket, before permessage-deflate is undone (Chromium offers it too;
        # Streamlit agrees when server.enableWebsocketCompression is on).
        receive = self.ws.protocol.receive_data

        def counted(data: bytes) -> None:
            self.wire_bytes += len(data)
            receive(data)

        self.ws.protocol.receive_data = counted
        self.compressed = "permessage-deflate" in (self.ws.response.headers.get("Sec-WebSocket-Extensions") or "")
        self.replica = self.ws.response.headers.get("X-Replica", "")

    async def close(self) -> None:
        self.closed = True
        if self.ws is not None:
            try:
                await self.ws.close()
            except Exception:
                pass

    async def __aenter__(self):
        await self.connect()
        return self

    async def __aexit__(self, *exc):
        await self.close()

    # -- runs -------------------------------------------------------------------------------------
    def client_state(self, fragment_id: str = "", states: list[WidgetState] | None = None) -> BackMsg:
        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = self.query_string
        cs.page_name = self.page
        if self.page_script_hash:
            cs.page_script_hash = self.page_script_hash
        if fragment_id:
            cs.fragment_id = fragment_id
        cs.cached_message_hashes.extend(self._cache.keys())
        cs.context_info.timezone = "UTC"
        cs.context_info.locale = "en-US"
        cs.context_info.url = f"{self.url}/{self.page}" + (f"?{self.query_string}" if self.query_string else "")
        if states is None:
            states = [w.state for w in self.widgets.values() if w.state is not None]
        cs.widget_states.widgets.extend(states)
        return msg

    async def open(self) -> RunResult:
        """The first run of the page (what a student's first visit costs the server)."""
        if self.ws is None:
            await self.connect()
        return await self._run(self.client_state(states=[]))

    async def rerun(self, changes: list[WidgetState] | WidgetState | None = None, fragment_id: str | None = None,
                    raw: BackMsg | None = None) -> RunResult:
        """Send the state of every mounted widget with ``changes`` replacing theirs; ``fragment_id`` defaults
        to the fragment of the (first) changed widget. ``raw``: send exactly this BackMsg instead."""
        if raw is None:
            changes = [changes] if isinstance(changes, WidgetState) else list(changes or [])
            by_id = {w.id: w.state for w in self.widgets.values() if w.state is not None}
            for c in changes:
                by_id[c.id] = c
            if fragment_id is None:
                fragment_id = next((self.widgets[c.id].fragment_id for c in changes if c.id in self.widgets), "")
            raw = self.client_state(fragment_id=fragment_id, states=list(by_id.values()))
            # what the browser keeps afterwards (triggers are one-shot)
            for c in changes:
                w = self.widgets.get(c.id)
                if w is not None and c.WhichOneof("value") not in ("trigger_value", "string_trigger_value",
                                                                    "json_trigger_value"):
                    w.state = c
        return await self._run(raw)

    async def _run(self, backmsg: BackMsg) -> RunResult:
        res = RunResult()
        wire0 = self.wire_bytes
        t0 = time.perf_counter()
        seen: dict[str, Widget] = {}
        try:
            await self.ws.send(backmsg.SerializeToString())
            deadline = t0 + self.timeout
            while True:
                left = deadline - time.perf_counter()
                if left <= 0:
                    res.status = "timeout"
                    break
                data = await asyncio.wait_for(self.ws.recv(), left)
                res.bytes += len(data)
                res.messages += 1
                msg = ForwardMsg()
                msg.ParseFromString(data)
                status = self._handle(msg, res, seen)
                if status is not None and status in DONE:
                    res.status = ForwardMsg.ScriptFinishedStatus.Name(status)
                    break
        except asyncio.TimeoutError:
            res.status = "timeout"
        except websockets.ConnectionClosed:
            res.status = "disconnected"
            self.closed = True
        res.latency = time.perf_counter() - t0
        res.wire = self.wire_bytes - wire0
        self.total_bytes += res.bytes
        if res.status.startswith("FINISHED"):
            # keep the browser's view of a widget's value when the server redraws it without setting it
            # (the frontend keeps a mounted widget's state unless the element carries set_value)
            for wid, w in seen.items():
                old = self.widgets.get(wid)
                if old is not None and old.state is not None and w.state is not None \
                        and old.state.WhichOneof("value") == w.state.WhichOneof("value") \
                        and not getattr(w.proto, "set_value", False):
                    w.state = old.state
            # what ran is what the server says finished, not what was asked: a fragment tick can end in a
            # full run (st.rerun() or a history-navigation rerun from inside the fragment), and a full run
            # replaces the page's widgets
            if res.status == "FINISHED_FRAGMENT_RUN_SUCCESSFULLY":
                self.widgets.update(seen)
            else:
                self.widgets = seen
        return res

    def _handle(self, msg: ForwardMsg, res: RunResult, seen: dict[str, Widget]):
        kind = msg.WhichOneof("type")
        if kind == "ref_hash":
            cached = self._cache.get(msg.ref_hash)
            if cached is None:
                return None
            msg, kind = cached, cached.WhichOneof("type")
        elif msg.metadata.cacheable and msg.hash:
            self._cache[msg.hash] = msg
        if kind == "new_session":
            self.session_id = msg.new_session.initialize.session_id or self.session_id
            if msg.new_session.page_script_hash:
                self.page_script_hash = msg.new_session.page_script_hash
        elif kind == "navigation":
            if msg.navigation.page_script_hash:
                self.page_script_hash = msg.navigation.page_script_hash
        elif kind == "page_not_found":
            res.exceptions.append(f"page_not_found: {msg.page_not_found.page_name}")
        elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
            el = msg.delta.new_element
            ek = el.WhichOneof("type")
            if ek == "exception":
                e = el.exception
                res.exceptions.append(f"{e.type}: {e.message}")
            elif ek == "alert":
                res.alerts.append(el.alert.body)
            elif ek in WIDGET_KINDS:
                sub = getattr(el, ek)
                wid = getattr(sub, "id", "")
                if wid:
                    seen[wid] = Widget(id=wid, kind=ek, label=getattr(sub, "label", ""), key=user_key(wid),
                                       proto=sub, fragment_id=msg.delta.fragment_id,
                                       state=default_state(ek, sub, wid))
        elif kind == "delta" and msg.delta.WhichOneof("type") == "add_block":
            blk = msg.delta.add_block
            path = tuple(msg.metadata.delta_path)
            bk = blk.WhichOneof("type")
            if bk == "tab_container" and blk.tab_container.id:
                wid = blk.tab_container.id
                w = Widget(id=wid, kind="tabs", label="", key=user_key(wid), proto=blk.tab_container,
                           fragment_id=msg.delta.fragment_id, state=None)
                seen[wid] = w
                self._blocks[path] = w
            elif bk == "tab" and path[:-1] in self._blocks:
                w = self._blocks[path[:-1]]
                w.labels.append(blk.tab.label)
                if len(w.labels) - 1 == w.proto.default_tab_index:
                    w.state = WidgetState(id=w.id, string_value=blk.tab.label)
        elif kind == "script_finished":
            if msg.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                seen.clear()   # the rerun that follows draws the page again (the browser drops stale elements)
            return msg.script_finished
        return None

    def reset_states(self) -> None:
        """Every mounted widget back to the value the server drew it with (what a fresh browser sends)."""
        for w in self.widgets.values():
            w.state = default_state(w.kind, w.proto, w.id)

    # -- uploads ---------------------------------------------------------------------------------
    def upload_sync(self, name: str, data: bytes, mime: str = "application/octet-stream",
                    file_id: str | None = None, session_id: str | None = None,
                    url: str | None = None) -> tuple[int, str, str]:
        """PUT one file to ``/_stcore/upload_file/<session>/<file id>`` as the browser does (multipart form,
        xsrf cookie + ``X-Xsrftoken`` header, and the sticky cookie). Returns (HTTP status, file id,
        X-Replica of the answer). ``url`` sends it to another server (e.g. one replica directly)."""
        import uuid

        file_id = file_id or uuid.uuid4().hex
        boundary = "----cnnviz" + uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{file_id}\"; filename=\"{name}\"\r\n"
                f"Content-Type: {mime}\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        target = (url or self.url).rstrip("/")
        check_loopback(target)
        req = urllib.request.Request(f"{target}/_stcore/upload_file/{session_id or self.session_id}/{file_id}",
                                     data=body, method="PUT")
        req.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
        req.add_header("Cookie", self._cookie_header())
        req.add_header("X-Xsrftoken", self.cookies.get(XSRF_COOKIE, ""))
        req.add_header("Origin", target)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return r.status, file_id, r.headers.get("X-Replica", "")
        except urllib.error.HTTPError as e:
            return e.code, file_id, e.headers.get("X-Replica", "")

    async def upload(self, name: str, data: bytes, mime: str = "application/octet-stream", **kw):
        return await asyncio.to_thread(self.upload_sync, name, data, mime, **kw)

    def uploaded_state(self, w: Widget, files: list[tuple[str, int, str]]) -> WidgetState:
        """The file_uploader state naming uploaded files [(name, size, file id)], as the browser sends it."""
        ws = WidgetState(id=w.id)
        for name, size, fid in files:
            info = ws.file_uploader_state_value.uploaded_file_info.add()
            info.name, info.size, info.file_id = name, size, fid
            info.file_urls.file_id = fid
            info.file_urls.upload_url = f"/_stcore/upload_file/{self.session_id}/{fid}"
            info.file_urls.delete_url = info.file_urls.upload_url
        return ws

    # -- finding and changing widgets ------------------------------------------------------------
    def find(self, *, key: str | None = None, label: str | None = None, kind: str | None = None) -> Widget:
        """The mounted widget whose user key is ``key`` (or whose label contains ``label``)."""
        for w in self.widgets.values():
            if kind and w.kind != kind:
                continue
            if key is not None and w.key == key:
                return w
            if label is not None and label.lower() in w.label.lower():
                return w
        raise KeyError(f"no widget key={key!r} label={label!r} kind={kind!r}; have "
                       f"{[(w.kind, w.key, w.label) for w in self.widgets.values()]}")

    def set(self, w: Widget, value) -> WidgetState:
        """A WidgetState giving ``w`` the value ``value`` (an option string, a number, a bool, a list)."""
        ws = WidgetState(id=w.id)
        if w.kind == "slider":
            vals = value if isinstance(value, (list, tuple)) else [value]
            if len(w.proto.options):
                ws.string_array_value.data.extend([str(v) for v in vals])
            else:
                ws.double_array_value.data.extend([float(v) for v in vals])
        elif w.kind in ("selectbox", "radio", "text_input", "text_area", "color_picker", "tabs"):
            ws.string_value = str(value)
        elif w.kind == "checkbox":
            ws.bool_value = bool(value)
        elif w.kind == "number_input":
            if w.proto.data_type == w.proto.INT:
                ws.int_value = int(value)
            else:
                ws.double_value = float(value)
        elif w.kind in ("multiselect", "button_group"):
            ws.string_array_value.data.extend([str(v) for v in (value if isinstance(value, (list, tuple))
                                                                 else [value])])
        elif w.kind in ("button", "form_submit_button", "download_button"):
            ws.trigger_value = True
        elif w.kind == "dataframe":
            ws.string_value = value if isinstance(value, str) else json.dumps(value)
        else:
            raise ValueError(f"cannot set a {w.kind}")
        return ws

    def next_value(self, w: Widget):
        """A different valid value for ``w`` (the next option, the next slider step), for load tests."""
        if w.kind == "slider":
            p = w.proto
            if len(p.options):
                cur = list(w.state.string_array_value.data) if w.state else [p.options[p.default[0]]]
                i = list(p.options).index(cur[0]) if cur[0] in p.options else 0
                return [p.options[(i + 1) % len(p.options)]]
            cur = list(w.state.double_array_value.data) if w.state else list(p.default)
            v = cur[0] + p.step
            return [p.min if v > p.max + 1e-12 else v] + cur[1:]
        if w.kind == "dataframe" and w.proto.editing_mode:
            # an edit of the first cell (column "0", as the kernel grids name theirs) to a value not sent before
            cur = json.loads(w.state.string_value) if w.state and w.state.string_value else {}
            old = (cur.get("edited_rows") or {}).get("0", {}).get("0", 0.0)
            return {"edited_rows": {"0": {"0": round(float(old) + 0.5, 3)}}, "added_rows": [], "deleted_rows": []}
        if w.kind in ("selectbox", "radio", "tabs"):
            opts = w.options
            cur = w.state.string_value if w.state else opts[0]
            i = opts.index(cur) if cur in opts else -1
            return opts[(i + 1) % len(opts)]
        if w.kind == "multiselect":
            # one more option (the first one not chosen), or, with every option chosen, one fewer
            names = [o if isinstance(o, str) else getattr(o, "content", str(o)) for o in w.proto.options]
            cur = list(w.state.string_array_value.data) if w.state else []
            extra = [o for o in names if o not in cur]
            return cur + extra[:1] if extra else cur[:-1]
        if w.kind == "checkbox":
            return not (w.state.bool_value if w.state else w.proto.default)
        if w.kind == "number_input":
            cur = (w.state.int_value if w.proto.data_type == w.proto.INT else w.state.double_value) \
                if w.state else w.proto.default
            v = cur + (w.proto.step or 1)
            return w.proto.min if w.proto.has_max and v > w.proto.max else v
        raise ValueError(f"no next value for a {w.kind}")


async def _dump(url: str, page: str, query: str) -> None:
    async with Session(url, page, query) as s:
        r = await s.open()
        print(f"open: {r.status} {r.latency:.2f} s, {r.bytes / 1e3:.0f} kB in {r.messages} messages, "
              f"exceptions={r.exceptions}")
        for w in s.widgets.values():
            st = w.state.WhichOneof("value") if w.state else None
            val = str(w.state).replace("\n", " ")[:80] if w.state else ""
            print(f"  {w.kind:16} key={w.key!s:28} frag={w.fragment_id[:8]:8} {st!s:20} label={w.label[:40]!r} {val}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Open one page as one websocket client and list its widgets.")
    ap.add_argument("--url", default="http://127.0.0.1:8501", help="the server (loopback only)")
    ap.add_argument("--page", default="", help="url path of the page, e.g. kernel_sandbox ('' = home)")
    ap.add_argument("--query", default="", help="query string, without '?'")
    a = ap.parse_args(argv)
    asyncio.run(_dump(a.url, a.page, a.query))


if __name__ == "__main__":
    main()
