"""Forged widget states: drop what no browser could have sent before the page's widgets read it.

A browser only sends values its widgets allow, but anyone can open the websocket and send any
``WidgetState`` (tests/test_forged_states.py does, with bench/stproto.py). Streamlit deserializes what
arrives without checking its type, so a radio sent an int, a number input sent NaN or a string, or a
data_editor sent something that is not its edit JSON raised inside the widget call. Worse, the state
stays on the server: the widget is never drawn again, the browser never sends a good value, and the
session shows the same error on every rerun until a reload.

``install()`` (called when cnn_viz.ui is imported) wraps the one place where Streamlit deserializes a
widget state: a state whose value field is not the one the widget registered with, whose deserializer
raises, or which holds a non-finite number is dropped there, so the widget starts again from its default.
``drop_grid_edits_outside`` keeps a fixed-size number grid's edits inside the grid (checked in the
script, where the grid's size is known). Streamlit internals are touched here and nowhere else.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

_NUMBERS = {"int_value", "double_value"}   # a number_input registers double_value, sends int_value if INT


def _wstates():
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None:
        return None, None
    state = getattr(ctx.session_state, "_state", None)
    return state, getattr(state, "_new_widget_state", None)


def _finite(v) -> bool:
    if isinstance(v, float):
        return math.isfinite(v)
    if isinstance(v, (list, tuple)):
        return all(_finite(x) for x in v)
    return True


def _fixed_grid_state_ok(v) -> bool:
    """Our data editors are fixed-size grids of numbers: edits only, of existing-looking cells, numbers."""
    if not isinstance(v, dict) or "edited_rows" not in v:
        return True   # not a data_editor state
    rows = v.get("edited_rows")
    if not isinstance(rows, dict) or v.get("added_rows") or v.get("deleted_rows"):
        return False
    for r, cells in rows.items():
        if not (isinstance(r, int) or (isinstance(r, str) and r.isdigit())) or not isinstance(cells, dict):
            return False
        for c in cells.values():
            if c is not None and (isinstance(c, bool) or not isinstance(c, (int, float)) or not math.isfinite(c)):
                return False
    return True


def forged(wstate, meta) -> bool:
    """Whether a serialized WidgetState is one its widget could not have sent: another value field than the
    widget registered with, a value its deserializer rejects, a non-finite number, or data_editor JSON
    that is not edits of a fixed-size number grid."""
    from streamlit.runtime.state.common import unpack_widget_state_value

    got = wstate.WhichOneof("value")
    if got is not None and got != meta.value_type and not ({got, meta.value_type} <= _NUMBERS):
        return True
    try:
        v = meta.deserializer(unpack_widget_state_value(wstate))
    except Exception:   # whatever a deserializer raises on a value no browser sends
        return True
    return not _finite(v) or not _fixed_grid_state_ok(v)


def install() -> None:
    """Make Streamlit forget a forged widget state the first time it reads it (idempotent).

    Streamlit deserializes incoming states in ``WStates.__getitem__``, first while deciding which callbacks
    to run, before any line of the app runs, and again on every later rerun while the state is kept: a
    forged state raised there on every run of the session. Here a forged one is replaced by a state
    without a value, which every widget deserializes to its default (as on its first run)."""
    from streamlit.runtime.state import session_state as ss

    if getattr(ss.WStates.__getitem__, "_cnn_viz_guard", False):
        return
    original = ss.WStates.__getitem__

    def __getitem__(self, k):
        item = self.states.get(k)
        if isinstance(item, ss.Serialized):
            meta = self.widget_metadata.get(k)
            if meta is not None and forged(item.value, meta):
                # a state without a value: what the widget reads on its first run (its default); replaced
                # in place because Streamlit may be iterating over these states right now
                self.states[k] = ss.Serialized(type(item.value)(id=item.value.id))
        return original(self, k)

    __getitem__._cnn_viz_guard = True
    ss.WStates.__getitem__ = __getitem__


def drop_grid_edits_outside(key: str, n_rows: int, columns: Iterable[str]) -> bool:
    """Drop the edits of the data_editor ``key`` if they name a row or column the grid does not have."""
    state, ws = _wstates()
    if ws is None:
        return False
    wid = state._key_id_mapper.get_id_from_key(key) if hasattr(state, "_key_id_mapper") else None
    if wid is None or wid not in ws.states:
        return False
    try:
        v = ws[wid]
    except Exception:
        del ws.states[wid]
        return True
    cols = set(map(str, columns))
    ok = _fixed_grid_state_ok(v) and all(
        int(r) < n_rows and set(map(str, cells)) <= cols for r, cells in (v or {}).get("edited_rows", {}).items())
    if not ok:
        del ws.states[wid]
    return not ok
