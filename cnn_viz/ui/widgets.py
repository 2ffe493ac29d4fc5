"""Widgets shared by the pages: image picker, kernel editors, number grids, sliding settings, a stepper,
charts and downloads."""

from __future__ import annotations

import functools
import io
import math
import re
import threading
from typing import NamedTuple

import numpy as np
import pandas as pd
import streamlit as st

from cnn_viz.common import images, kernels, text
from cnn_viz.common.conv import PADDING_MODES
from cnn_viz.sandbox.core import COLOUR_MODES
from cnn_viz.ui import cached, guard

COLOUR_MODES_HELP = (
    "'each channel': the same kernel on R, G and B separately, three maps. "
    "'3-channel kernel': one kernel slice per channel, summed into one map, as a conv layer does."
)
UPLOAD_TYPES = ["png", "jpg", "jpeg", "gif", "bmp", "webp", "tif", "tiff"]
PLOTLY_CONFIG = {
    "displaylogo": False,
    "toImageButtonOptions": {"format": "png", "scale": 2},
    "modeBarButtonsToRemove": ["lasso2d", "select2d"],
}


# ============================== the address bar
# Settings arrive in the URL (widgets with bind="query-params"). Streamlit 1.67 seeds a bound widget from the
# URL on its first run in SessionState._seed_widget_from_url: a value it cannot parse, out of range or not an
# option is dropped silently and the default used, but int(inf) / int(1e999) in the number input's and
# slider's deserializers raise OverflowError, which it does not catch: a traceback for the class from one
# shared link. ``install_link_guard`` wraps that one method, so every bound widget of every page is checked
# before it is built: values no widget can take (``unusable_url_value``) and values Streamlit rejects are
# removed from the URL, and a warning in the sidebar says which setting of the link was not used and what
# the page shows instead (the widget's default).
URL_VALUE_LIMIT = 4000  # characters; the longest real value is an edited 15×15 kernel (~2,300)
_URL_MARKUP = re.compile(r"[<>\x00-\x1f\x7f]")
_pending = threading.local()


def unusable_url_value(value: str) -> str | None:
    """Why no widget of this app can take ``value`` from the URL (None when one might)."""
    if len(value) > URL_VALUE_LIMIT:
        return f"it is {len(value):,} characters long"
    if _URL_MARKUP.search(value):
        return "it contains markup or control characters"
    try:
        number = float(value)
    except ValueError:
        return None
    return None if math.isfinite(number) else "it is not a finite number"


def link_note(key: str, value: str, why: str, used) -> str:
    """The warning for a URL setting the page did not use; ``key`` and ``value`` are quoted as text."""
    return (f"The link set **{text.md(key, 40)}** to “{text.md(value, 40)}”, which this page cannot use ({why}): "
            f"it shows “{text.md(used, 40)}” instead.")


def _is_default(metadata, value: str) -> bool:
    from streamlit.runtime.state.query_params import _coerce_value_for_query_url

    try:
        default = _coerce_value_for_query_url(metadata.serializer(metadata.deserializer(None)), metadata.value_type)
    except Exception:  # noqa: BLE001 - a widget without a serializable default: treat the value as a change
        return False
    default = default[-1] if isinstance(default, list) and default else default
    return str(default).lower() == value.lower()


def _flush_link_notes() -> None:
    notes, _pending.notes = getattr(_pending, "notes", []), []
    for note in notes:
        try:
            st.sidebar.warning(note)
        except Exception:  # noqa: BLE001 - inside a form or fragment: show it where we are
            st.warning(note)


def install_link_guard() -> None:
    """Wrap Streamlit's URL seeding of bound widgets (once per process; see the comment above)."""
    from streamlit.runtime.state import session_state, widgets

    cls = session_state.SessionState
    if getattr(cls, "_cnn_viz_link_guard", False):
        return
    seed, register = getattr(cls, "_seed_widget_from_url", None), getattr(widgets, "register_widget_from_metadata", None)
    if seed is None or register is None:  # another Streamlit: its own URL checks apply (tests/test_bad_inputs.py fails)
        return

    def guarded_seed(self, metadata, user_key, widget_id, url_value):
        value = url_value[-1] if isinstance(url_value, list) and url_value else url_value
        value = value if isinstance(value, str) else str(value)
        why = unusable_url_value(value)
        if why is None:
            try:
                if seed(self, metadata, user_key, widget_id, url_value):
                    return True
            except (OverflowError, ValueError, TypeError, IndexError, KeyError):
                pass
            if value == "" or _is_default(metadata, value):
                return False
            why = "out of range or not one of its choices"
        self._clear_url_param(user_key)
        try:
            used = metadata.deserializer(None)
        except Exception:  # noqa: BLE001
            used = "its default"
        _pending.notes = getattr(_pending, "notes", []) + [link_note(user_key, value, why, used)]
        return False

    def guarded_register(metadata, ctx):
        result = register(metadata, ctx)
        if getattr(_pending, "notes", None):
            _flush_link_notes()
        return result

    cls._seed_widget_from_url = guarded_seed
    widgets.register_widget_from_metadata = guarded_register
    cls._cnn_viz_link_guard = True


install_link_guard()


class Picked(NamedTuple):
    image: np.ndarray  # float32 in [0, 1], (H, W) or (H, W, 3)
    name: str


def image_picker(
    key: str,
    *,
    default: str = "Cameraman",
    samples: list[str] | None = None,
    max_side: int = images.DEFAULT_MAX_SIDE,
    min_side: int = 1,
    camera: bool = True,
    colour: str = "choose",
    container=None,
) -> Picked:
    """Pick an image: a bundled sample, an upload, or the camera.

    ``colour`` is "choose" (a toggle when the image has colour), "gray" or "keep".
    A broken upload shows a message and the sample is used instead, so the page goes on. An image
    whose shortest side is under ``min_side`` (the page's minimum) is enlarged or padded with a note, and
    so are non-finite pixels (``images.read_image``); the uploader's help states the minimum.
    """
    box = container or st
    names = samples or list(images.SAMPLES)
    sources = ["Sample", "Upload"] + (["Camera"] if camera else [])
    source = box.radio("Image source", sources, horizontal=True, key=f"{key}_source", bind="query-params")
    sample = box.selectbox(
        "Sample image", names, index=names.index(default) if default in names else 0, key=f"{key}_sample",
        bind="query-params", disabled=source != "Sample",
    )
    img, name = None, sample
    if source in ("Upload", "Camera"):
        if source == "Upload":
            least = f" This page needs at least {min_side}×{min_side} pixels: smaller images are enlarged." if min_side > 1 else ""
            f = box.file_uploader("Your image (PNG, JPEG, GIF, BMP, WebP, TIFF)", type=UPLOAD_TYPES, key=f"{key}_upload",
                                  help=f"Up to {max_side} pixels on the longest side (larger ones are shrunk).{least}")
        else:
            f = box.camera_input("Take a picture", key=f"{key}_camera")
        if f is not None:
            try:
                loaded = cached.read_image(f.getvalue(), max_side, min_side)
                img, name = loaded.image, getattr(f, "name", "camera") or "camera"
                for note in loaded.notes:
                    box.info(note)
            except images.ImageLoadError as exc:
                box.error(f"Could not use **{text.md(getattr(f, 'name', 'the picture'))}**: {text.md(exc, text.MESSAGE_LIMIT)} "
                          "Showing the sample image instead.")
        else:
            box.caption("No image yet: showing the sample until you choose one.")
    if img is None:
        img, note = images.fit_min_side(cached.load_sample(sample, max_side), min_side, max_side)
        if note:
            box.info(note)
    if img.ndim == 3:
        if colour == "gray":
            img = images.to_gray(img)
        elif colour == "choose":
            keep = box.toggle("Keep colour (3 channels)", value=False, key=f"{key}_colour", bind="query-params")
            if not keep:
                img = images.to_gray(img)
    return Picked(img, name)


GAUSSIAN = "Gaussian (choose size and σ)"
CUSTOM = "Blank grid (choose size)"


def _kernel_to_text(k: np.ndarray) -> str:
    return ";".join(",".join(f"{v:.6g}" for v in row) for row in k)


def _kernel_from_text(s: str) -> np.ndarray | None:
    try:
        return kernels.validate_kernel([row.split(",") for row in s.split(";")])
    except (ValueError, AttributeError):
        return None


def kernel_editor(key: str, *, default: str = kernels.DEFAULT_PRESET, container=None, url: bool = True) -> np.ndarray | None:
    """Preset picker plus an editable grid. Returns the validated kernel, or None after
    showing what is wrong with it (the rest of the page carries on)."""
    box = container or st
    options = list(kernels.PRESETS) + [GAUSSIAN, CUSTOM]
    state = st.session_state
    gen_key, base_key = f"{key}_gen", f"{key}_base"

    def reseed(kernel: np.ndarray) -> None:
        state[base_key] = np.asarray(kernel, dtype=np.float64)
        state[gen_key] = state.get(gen_key, 0) + 1

    choice = box.selectbox(
        "Kernel preset", options, index=options.index(default) if default in options else 0,
        key=f"{key}_preset", bind="query-params" if url else None,
    )
    if choice == GAUSSIAN:
        c1, c2 = box.columns(2)
        size = c1.slider("Size", 1, kernels.MAX_KERNEL_SIZE, 5, step=2, key=f"{key}_gsize", bind="query-params" if url else None)
        sigma = c2.slider("σ", 0.3, 5.0, 1.0, step=0.1, key=f"{key}_gsigma", bind="query-params" if url else None)
        seed, seed_id = kernels.gaussian(size, sigma), f"g{size}_{sigma:.2f}"
    elif choice == CUSTOM:
        c1, c2 = box.columns(2)
        rows = c1.number_input("Rows", 1, kernels.MAX_KERNEL_SIZE, 3, key=f"{key}_rows", bind="query-params" if url else None)
        cols = c2.number_input("Columns", 1, kernels.MAX_KERNEL_SIZE, 3, key=f"{key}_cols", bind="query-params" if url else None)
        seed = np.zeros((int(rows), int(cols)))
        seed[(int(rows) - 1) // 2, (int(cols) - 1) // 2] = 1.0
        seed_id = f"c{rows}x{cols}"
    else:
        seed, seed_id = kernels.preset(choice), choice
        box.caption(kernels.PRESETS[choice].description)

    if state.get(f"{key}_seed_id") != seed_id:
        state[f"{key}_seed_id"] = seed_id
        from_url = _kernel_from_text(st.query_params.get(f"{key}_k", "")) if url and base_key not in state else None
        reseed(from_url if from_url is not None else seed)

    edited = _number_grid(box, state[base_key], f"{key}_grid_{state[gen_key]}", step=0.1, hide_index=False, width="content")
    if edited is None:  # edits naming cells that do not exist: start a fresh grid from the last good kernel
        reseed(state.get(f"{key}_good", state[base_key]))
        box.warning(GRID_STATE_NOTE)
        edited = _number_grid(box, state[base_key], f"{key}_grid_{state[gen_key]}", step=0.1, hide_index=False, width="content")
    c1, c2 = box.columns(2)
    try:
        k = kernels.validate_kernel(edited.to_numpy(dtype=object))
    except ValueError as exc:
        good = state.get(f"{key}_good")
        box.error(text.md(exc, text.MESSAGE_LIMIT)  # quotes the typed cell
                  + (" Using the last good kernel until it is fixed." if good is not None else ""))
        if c2.button("Reset to the preset", key=f"{key}_reset_err"):
            reseed(seed)
            st.rerun()
        return good
    state[f"{key}_good"] = k
    if c1.button("Normalize (÷ sum)", key=f"{key}_norm", help="Divide every entry by the sum, so flat areas keep their brightness."):
        try:
            reseed(kernels.normalize(k))
            st.rerun()
        except ValueError as exc:
            box.warning(str(exc))
    if c2.button("Reset to the preset", key=f"{key}_reset"):
        reseed(seed)
        if url:
            st.query_params.pop(f"{key}_k", None)
        st.rerun()
    if url:
        if np.array_equal(k, seed):
            st.query_params.pop(f"{key}_k", None)
        else:
            st.query_params[f"{key}_k"] = _kernel_to_text(k)
    return k


def channel_kernel_editor(key: str, *, container=None, url: bool = False) -> np.ndarray | None:
    """One kernel editor per colour channel (tabs R, G, B). Returns the (3, kh, kw) kernel of a
    conv layer reading an RGB image, or None after saying what is wrong (slices of different sizes)."""
    box = container or st
    tabs = box.tabs(["R", "G", "B"])
    slices = [kernel_editor(f"{key}{c}", container=t, url=url) for c, t in zip("rgb", tabs)]
    if any(s is None for s in slices):
        return None
    if len({s.shape for s in slices}) > 1:
        box.error("The three slices must have the same size: " + ", ".join(f"{c} {s.shape[0]}×{s.shape[1]}" for c, s in zip("RGB", slices)))
        return None
    return np.stack(slices)


def colour_kernel_editor(key: str, colour: bool, *, mode_key: str = "colour_mode", label: str = "Colour image",
                         modes: tuple[str, str] = COLOUR_MODES, help: str = COLOUR_MODES_HELP, url: bool = True,
                         container=None) -> tuple[str, np.ndarray | None]:
    """The kernel for a grey or a colour image: (mode, kernel or None).

    On a colour image a radio (key ``mode_key``, in the URL when ``url``) first picks one of two ``modes``:
    the first edits one 2-D kernel (``kernel_editor``), the second one slice per channel
    (``channel_kernel_editor``). A grey image gets the 2-D editor and the first mode."""
    box = container or st
    mode = modes[0]
    if colour:
        mode = box.radio(label, modes, key=mode_key, bind="query-params" if url else None, help=help)
    if mode == modes[1]:
        return mode, channel_kernel_editor(key, container=container, url=url)
    return mode, kernel_editor(key, container=container, url=url)


GRID_STATE_NOTE = ("The grid received edits for cells that do not exist (a row or column beyond the grid, or added or "
                   "deleted rows): they were ignored and the grid starts again from the last good numbers.")


def _number_grid(box, values: np.ndarray, key: str, step: float, **kwargs) -> pd.DataFrame | None:
    """st.data_editor over a grid of numbers, columns named "0", "1", ...; returns what the user made of it,
    or None when the editor's state names cells the grid does not have (what a hostile client can send:
    Streamlit then raises KeyError / IndexError while applying it). The caller starts a new grid."""
    grid = pd.DataFrame(values, columns=[str(j) for j in range(values.shape[1])])
    config = {c: st.column_config.NumberColumn(c, step=step, format="%.4g") for c in grid.columns}
    try:
        return box.data_editor(grid, key=key, num_rows="fixed", column_config=config, **kwargs)
    except (KeyError, IndexError, ValueError, TypeError):
        return None


def typed_grid(key: str, seed, parse, *, size: int = 5, max_side: int = 12, step: float = 0.5, container=None):
    """Rows and Columns inputs and an editable grid of that size, starting from ``seed(rows, cols)``.

    Returns ``parse(cells)``, or None after showing the ValueError ``parse`` raised (it names the bad cell).
    The grid's key is f"{key}_{rows}x{cols}": each size keeps its own edits."""
    box = container or st
    c1, c2 = box.columns(2)
    rows = int(c1.number_input("Rows", 1, max_side, size, key=f"{key}_rows", bind="query-params"))
    cols = int(c2.number_input("Columns", 1, max_side, size, key=f"{key}_cols", bind="query-params"))
    state, gen = st.session_state, f"{key}_{rows}x{cols}_gen"
    edited = _number_grid(box, seed(rows, cols), f"{key}_{rows}x{cols}" + (f"_{state[gen]}" if gen in state else ""), step=step)
    if edited is None:  # edits naming cells that do not exist: a fresh grid of this size
        state[gen] = state.get(gen, 0) + 1
        box.warning(GRID_STATE_NOTE)
        edited = _number_grid(box, seed(rows, cols), f"{key}_{rows}x{cols}_{state[gen]}", step=step)
    try:
        parsed = parse(edited.to_numpy(dtype=object))
    except ValueError as exc:
        good = state.get(f"{key}_good")
        usable = good is not None and good.shape == (rows, cols)
        box.error(text.md(exc, text.MESSAGE_LIMIT)  # quotes the typed cell
                  + (" Using the last good grid until it is fixed." if usable else ""))
        return good if usable else None
    state[f"{key}_good"] = parsed
    return parsed


class Sliding(NamedTuple):
    """How a kernel slides: the keyword arguments of conv2d / make_sweep / sandbox.Settings."""

    stride: int
    padding: int
    padding_mode: str
    dilation: int


def sliding_settings(prefix: str = "", *, unit: str = "pixels", max_stride: int = 16, max_padding: int = 16,
                     url: bool = True, container=None) -> Sliding:
    """Stride and dilation, padding and padding mode, two by two; keys prefix + "stride", "dilation",
    "padding", "padding_mode" (in the URL when ``url``). Each starts at its smallest value (1, 1, 0, zeros)
    unless session state holds another."""
    box = container or st
    bind = "query-params" if url else None
    c1, c2 = box.columns(2)
    stride = c1.number_input("Stride", 1, max_stride, key=f"{prefix}stride", bind=bind,
                             help=f"How many {unit} the kernel moves each step.")
    dilation = c2.number_input("Dilation", 1, 8, key=f"{prefix}dilation", bind=bind,
                               help=f"Gap between kernel taps: d = 2 spreads a 3×3 kernel over 5×5 {unit}.")
    c1, c2 = box.columns(2)
    padding = c1.number_input("Padding", 0, max_padding, key=f"{prefix}padding", bind=bind,
                              help=f"Extra border {unit} added on every side.")
    mode = c2.selectbox("Padding mode", PADDING_MODES, key=f"{prefix}padding_mode", bind=bind,
                        help=f"What the padding {unit} hold: zeros, a mirror, the edge, or the opposite side.")
    return Sliding(int(stride), int(padding), mode, int(dilation))


def data_slider(label: str, lo, hi, value=None, *, key: str, container=None, **kwargs):
    """st.slider whose bounds come from data (an image's size, a matrix's rank): when ``hi <= lo``
    there is nothing to choose (Streamlit refuses min = max), so a caption says so and ``lo`` is
    returned; otherwise ``value`` (default ``lo``) is clamped into ``lo … hi``, and so is the value the
    session (or the URL) already holds for ``key`` when the data shrank under it (a smaller upload):
    Streamlit would refuse a kept value beyond the new bounds."""
    box = container or st
    if hi <= lo:
        box.caption(f"{label}: {lo} (the only possible value here).")
        return lo
    value = lo if value is None else min(max(value, lo), hi)
    state = st.session_state
    held = state.get(key)
    if isinstance(held, (int, float)) and not isinstance(held, bool) and not lo <= held <= hi:
        state[key] = type(held)(min(max(held, lo), hi))
    return box.slider(label, lo, hi, value, key=key, **kwargs)


STEPPER_KEYS = {"first": "F", "back": "B", "next": "N", "last": "L"}
PLAY_KEY = "P"  # plays or pauses a Plotly animation (play_shortcut)

# Runs in the page (st.html): P clicks the Play / Pause button of the animation in the chart whose element
# has class st-key-<key>, unless the focus is in a text field. The button is Plotly's own (an SVG
# updatemenu), so playing stays in the browser, as with the mouse.
_PLAY_JS = """<script>
(() => {
  const key = %(key)r, letter = %(letter)r;
  const w = window.parent || window;
  w.__cnnVizPlay = w.__cnnVizPlay || {};
  if (w.__cnnVizPlay[key]) return;
  w.__cnnVizPlay[key] = true;
  w.document.addEventListener("keydown", (e) => {
    if (e.key.toUpperCase() !== letter || e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName))) return;
    const chart = w.document.querySelector(".st-key-" + key);
    if (!chart) return;
    const buttons = [...chart.querySelectorAll(".updatemenu-button")];
    const playing = chart.dataset.playing === "1";
    const b = buttons.find((g) => (g.textContent || "").includes(playing ? "Pause" : "Play"));
    if (!b) return;
    b.dispatchEvent(new MouseEvent("click", {bubbles: true}));
    chart.dataset.playing = playing ? "0" : "1";
    e.preventDefault();
  });
})();
</script>"""


def play_shortcut(chart_key: str) -> None:
    """Key P plays and pauses the Plotly animation drawn with ``plot(..., key=chart_key)``."""
    st.html(_PLAY_JS % dict(key=chart_key, letter=PLAY_KEY), unsafe_allow_javascript=True, width="content")


# Moves a Plotly animation to one of its frames in the browser (the page's step), so the figure itself can stay
# the same at every step: it is neither rebuilt nor sent again. A watcher (one per chart key, 10 checks a second)
# moves a chart it has not seen yet (the first draw, or the chart drawn again for a new sweep) once its frames are
# there, and again when Plotly redraws it from new data (``plotly_react``); never while the student plays or scrubs.
_FRAME_JS = """<script>
(() => {
  const w = window.parent || window, key = %(key)r;
  w.__cnnVizFrame = w.__cnnVizFrame || {};
  w.__cnnVizFrame[key] = {frame: %(frame)r, active: %(active)d, n: %(n)d};
  const chart = () => w.document.querySelector(".st-key-" + key + " .js-plotly-plot");
  const apply = (gd) => {
    const want = w.__cnnVizFrame[key], frames = (gd._transitionData || {})._frames || [];
    if (!want || !w.Plotly || frames.length !== want.n) return false;
    w.Plotly.animate(gd, [want.frame], {frame: {duration: 0, redraw: false}, transition: {duration: 0}, mode: "immediate"})
      .then(() => w.Plotly.relayout(gd, {"sliders[0].active": want.active}));
    return true;
  };
  w.__cnnVizFrameWatch = w.__cnnVizFrameWatch || {};
  if (!w.__cnnVizFrameWatch[key]) {
    w.__cnnVizFrameWatch[key] = w.setInterval(() => {
      const gd = chart();
      if (gd && gd.on && !gd.__cnnVizFrameSeen && apply(gd)) {
        gd.__cnnVizFrameSeen = true;
        gd.on("plotly_react", () => apply(gd));
      }
    }, 100);
  }
  const gd = chart();
  if (gd && gd.__cnnVizFrameSeen) apply(gd);  // the same chart, a new step
})();
</script>"""


def show_frame(chart_key: str, frame: int, n_frames: int, slider_stop: int) -> None:
    """Show frame ``frame`` (of ``n_frames``, named "0", "1", …) of the Plotly animation drawn with
    ``plot(..., key=chart_key)``, its slider on stop ``slider_stop``; Play then runs on from there."""
    st.html(_FRAME_JS % dict(key=chart_key, frame=str(frame), n=n_frames, active=slider_stop), unsafe_allow_javascript=True,
            width="content")


def stepper(key: str, n: int, *, container=None) -> int:
    """⏮ First, ◀ Back, Step ▶, Last ⏭ and a Position slider over the positions 1 … n of a sweep.

    Keyboard: the buttons answer to F, B, N and L (``STEPPER_KEYS``) wherever the focus is outside a text
    field, and the slider to the arrow keys once it has the focus. The position lives in st.session_state[f"{key}_pos"] (the slider's key), kept within 1 … n when n
    shrinks; the buttons are f"{key}_first", "_back", "_next", "_last". Returns the step, 0 … n − 1."""
    box = container or st
    state, pos = st.session_state, f"{key}_pos"
    if state.get(pos, 1) > n:
        state[pos] = n

    def move(delta: int = 0, to: int | None = None) -> None:
        state[pos] = min(max(to if to is not None else state.get(pos, 1) + delta, 1), n)

    c0, c1, c2, c3, c4 = box.columns([1, 1, 1, 1, 6], vertical_alignment="bottom")
    keys = STEPPER_KEYS
    c0.button("⏮ First", key=f"{key}_first", on_click=move, kwargs=dict(to=1), width="stretch", shortcut=keys["first"])
    c1.button("◀ Back", key=f"{key}_back", on_click=move, kwargs=dict(delta=-1), width="stretch", shortcut=keys["back"])
    c2.button("Step ▶", key=f"{key}_next", on_click=move, kwargs=dict(delta=1), width="stretch", type="primary",
              shortcut=keys["next"])
    c3.button("Last ⏭", key=f"{key}_last", on_click=move, kwargs=dict(to=n), width="stretch", shortcut=keys["last"])
    if n > 1:
        c4.slider("Position", 1, n, key=pos, bind="query-params", help="Scrub to any position; the step buttons move one at a time.")
    else:
        state[pos] = 1
        c4.caption("This kernel fits only once: there is a single position.")
    return state[pos] - 1


def file_on_request(key: str, label: str, make, made_for, *, help: str, download_label: str, download_key: str,
                    file_name: str, mime: str, idle: str, columns=(3, 2, 4)) -> None:
    """A button (key ``key``) that makes a file only when pressed, then its download button and caption.

    ``make()`` returns an object with ``.data`` (bytes) and ``.caption``; cache it, since it is called again
    on every rerun while the file is offered. The file stays offered while ``made_for`` (a value that
    compares equal for the same inputs) is what it was at the click; ``idle`` is the caption until then."""
    c1, c2, c3 = st.columns(list(columns), vertical_alignment="center")
    if c1.button(label, key=key, help=help):
        st.session_state[f"{key}_for"] = made_for
    if st.session_state.get(f"{key}_for") != made_for:
        c3.caption(idle)
        return
    with c3:
        made = make()
    # the bytes are handed over only when the download is clicked (not kept with the session meanwhile)
    c2.download_button(download_label, lambda: make().data, file_name=file_name, mime=mime, key=download_key, on_click="ignore")
    c3.caption(made.caption)


class _SpecDict(dict):
    """What a ``cached.Spec`` looks like to st.plotly_chart: the layout's size (which it reads) as a dict, the
    figure's JSON text beside it, handed over unchanged by ``plotly.io.to_json`` (``_send_json_as_is``)."""

    text = ""


@functools.cache
def _send_json_as_is() -> None:
    """st.plotly_chart encodes the figure with ``plotly.io.to_json``; a ``_SpecDict`` already is JSON text, so
    that function hands it back as it is and encodes every other figure as before (patched once per process)."""
    import plotly.io as pio

    encode = pio.to_json

    @functools.wraps(encode)
    def to_json(fig, *args, **kwargs):
        return fig.text if type(fig) is _SpecDict else encode(fig, *args, **kwargs)

    pio.to_json = to_json


@functools.cache
def _ready_class():
    from plotly.basedatatypes import BaseFigure

    class ReadyFigure(BaseFigure):
        """A figure already in plain data: ``to_dict`` hands it over, nothing is built or validated."""

        def __init__(self, data: dict):  # noqa: D107  (BaseFigure's own init would validate ``data``)
            object.__setattr__(self, "_spec", data)

        def to_dict(self):
            return self._spec

    return ReadyFigure


def _ready(data, selectable: bool = False):
    """A figure in plain data (a dict, or a ``cached.Spec``: what ``ui.figure`` caches) dressed as a Plotly
    figure: st.plotly_chart sends a figure's ``to_dict()`` as it is, where a dict would be built into a
    ``go.Figure`` and validated again (5-20 ms a figure, every rerun of every student); a Spec's JSON text is
    sent without being decoded or encoded again."""
    if isinstance(data, cached.Spec):
        _send_json_as_is()
        spec = _SpecDict(layout={k: v for k, v in (("height", data.height), ("width", data.width)) if v is not None})
        spec.text = data.text
        if selectable and not data.themed:  # the modes Streamlit would set: its effect then leaves the figure alone
            import json

            from cnn_viz.figures.builders import SELECT_MODES

            modes = json.dumps(SELECT_MODES, separators=(",", ":"))[1:-1]
            spec.text = data.text.replace('"layout":{', '"layout":{' + modes + ",", 1)
        data = spec
    return _ready_class()(data)


def plot(fig, key: str, container=None, **kwargs):
    """st.plotly_chart with a stable key and a PNG download in the figure's toolbar. ``fig`` is a Plotly
    figure, its plain data, or ``ui.figure(builder, ...)`` (built once per input for the whole server)."""
    if isinstance(fig, cached.Spec) and not fig.themed:
        kwargs.setdefault("theme", None)  # the theme is written in: drawn once (builders.page_spec)
    if isinstance(fig, (dict, cached.Spec)):
        fig = _ready(fig, selectable=kwargs.get("on_select") not in (None, "ignore"))
    return (container or st).plotly_chart(fig, key=key, config=PLOTLY_CONFIG, **kwargs)


def download_png(img, filename: str, label: str = "Download PNG", key: str | None = None, container=None):
    """A PNG download of an image array (or of a function returning one), encoded only on click. An array is kept
    as the uint8 the PNG holds: a session keeps its last run's downloads until its next run (512² float: 2 MB)."""
    if callable(img):
        make = img
    else:
        kept = np.asarray(img)
        kept = kept if kept.dtype == np.uint8 else images.to_uint8(kept)  # what to_png_bytes would make of it

        def make():
            return kept
    (container or st).download_button(
        label, lambda: images.to_png_bytes(make()), file_name=filename, mime="image/png", key=key, icon="⬇️", on_click="ignore"
    )


def csv_text(arr: np.ndarray) -> str:
    buf = io.StringIO()
    np.savetxt(buf, np.atleast_2d(arr), delimiter=",", fmt="%.8g")
    return buf.getvalue()


def download_csv(arr, filename: str, label: str = "Download CSV", key: str | None = None, container=None):
    """A CSV download of an array, or of a function returning one: written only on click (not on every rerun)."""
    def data():
        return csv_text(arr() if callable(arr) else arr)

    (container or st).download_button(label, data, file_name=filename, mime="text/csv", key=key, icon="⬇️", on_click="ignore")


# ============================== pooling
def pipeline_settings(key: str = "rp"):
    """The ReLU and pooling page's sidebar after the kernel bank, as one ``stages.Settings``: the
    convolution's padding, the activation, the pooling window and the optional second layer."""
    from cnn_viz.pooling import stages

    st.header("After the convolution")
    conv_padding = st.radio("Convolution padding", ["same", "valid"], horizontal=True, key=f"{key}_cpad", bind="query-params",
                            format_func={"same": "same (keep size)", "valid": "valid (none)"}.get)
    act = st.radio("Activation", list(stages.ACTIVATION_CHOICES), format_func=stages.ACTIVATION_CHOICES.get, horizontal=True,
                   key=f"{key}_act", bind="query-params")
    slope = 0.01
    if act == "leaky":
        slope = st.slider("Leaky slope", 0.01, 0.5, 0.1, 0.01, key=f"{key}_slope", bind="query-params",
                          help="Negative values are multiplied by this instead of being set to zero.")
    pool = st.radio("Pooling", list(stages.POOL_CHOICES), format_func=stages.POOL_CHOICES.get, horizontal=True, key=f"{key}_pool",
                    bind="query-params")
    c1, c2, c3 = st.columns(3)
    size = int(c1.number_input("Size", 1, 64, 2, key=f"{key}_psize", bind="query-params", help="Window side: 2 means 2×2 windows."))
    stride = int(c2.number_input("Stride", 1, 64, 2, key=f"{key}_pstride", bind="query-params", help="How far the window moves each step."))
    padding = int(c3.number_input("Padding", 0, 32, 0, key=f"{key}_ppad", bind="query-params",
                                  help="At most half the window; padding never wins a max."))

    st.header("Second layer")
    second = None
    if st.toggle("Add a second conv + activation + pool", key=f"{key}_second", bind="query-params"):
        source = st.radio("Its kernels", ["random", "bank"], key=f"{key}_l2src", bind="query-params",
                          format_func={"random": "random, like an untrained layer", "bank": "the layer-1 bank on the mean of the maps"}.get)
        maps, k, seed = 8, 3, 0  # unused by the "bank" source
        if source == "random":
            c1, c2 = st.columns(2)
            maps = int(c1.number_input("Maps", 1, 16, 8, key=f"{key}_l2maps", bind="query-params"))
            k = int(c2.selectbox("Kernel", [3, 5], key=f"{key}_l2k", bind="query-params", format_func=lambda k: f"{k}×{k}"))
            seed = int(st.number_input("Random seed", 0, 9999, 0, key=f"{key}_seed", bind="query-params"))
        second = stages.SecondLayer(source, maps, k, seed)
    return stages.Settings(conv_padding, act, slope, pool, size, stride, padding, second)


# ============================== mnist
def _clicked_point(chart_key: str) -> int | None:
    """Index of the clicked point of a figure's clickable trace (trace 1: one point per tile, in tile order)."""
    points = st.session_state.get(chart_key, {}).get("selection", {}).get("points", [])
    hits = [p for p in points if p.get("curve_number") == 1 and p.get("point_index") is not None]
    return int(hits[0]["point_index"]) if hits else None


def mnist_gallery(gallery) -> int:
    """The held-out gallery (``data.Gallery``): a figure to click and the same digits in a list (key
    ``mn_gallery``, in the URL: a shared link or "follow the teacher" shows the same digit; the report's 7 at
    first). Returns the chosen position in the held-out digits."""
    from cnn_viz.mnist import figures

    state = st.session_state

    def on_click() -> None:
        k = _clicked_point("mn_gallery_fig")
        if k is not None:
            state["mn_gallery"] = gallery.positions[k]

    box = st.container()  # the figure above the list, drawn after it: the list's value (from the URL too) frames a digit
    pick = st.selectbox("Digit", gallery.positions, index=gallery.positions.index(gallery.default), format_func=gallery.name,
                        key="mn_gallery", bind="query-params")
    fig = cached.figure(figures.gallery_figure, gallery.images, gallery.labels, selected=gallery.index(pick))
    plot(fig, key="mn_gallery_fig", container=box, on_select=on_click, selection_mode="points")
    return pick


def mnist_layer_grid(fig, layer: str) -> None:
    """A layer's grid of maps (``figures.layer_figure``); a click on a map's number shows that map large
    below the grids (it sets ``mn_big_layer`` and ``mn_big_map``)."""
    key = f"mn_grid_{layer}"

    def on_click() -> None:
        k = _clicked_point(key)
        if k is not None:
            st.session_state["mn_big_layer"], st.session_state["mn_big_map"] = layer, k

    plot(fig, key=key, on_select=on_click, selection_mode="points")


def mnist_map_picker(reading) -> tuple[str, int]:
    """Layer and map of "one map, large" (keys ``mn_big_layer``, ``mn_big_map``); a map number beyond the
    chosen layer's maps goes back to 0. ``reading`` is the ``explain.Reading`` shown."""
    from cnn_viz.mnist.explain import MAP_LAYERS

    c1, c2 = st.columns(2)
    layer = c1.selectbox("Layer", MAP_LAYERS, key="mn_big_layer", bind="query-params")
    n = reading.n_maps(layer)
    if st.session_state.get("mn_big_map", 0) >= n:
        st.session_state["mn_big_map"] = 0
    return layer, c2.number_input(f"Map (0-{n - 1})", 0, n - 1, key="mn_big_map", bind="query-params")


def class_publish(page: str) -> None:
    """At the end of a page's fragment (MNIST, Your own network): a teacher's settings changed in it (the digit,
    the tab) reach the class, as app.py's ``classroom.publish`` does after a full run, which a fragment run skips."""
    from streamlit.errors import StreamlitAPIException

    from cnn_viz.ui import classroom

    try:
        classroom.publish(page)
    except StreamlitAPIException:  # a store error's sidebar warning cannot be drawn from a fragment: the next full run says it
        pass


def mnist_train_settings():
    """The "Train your own" settings (keys ``mn_tr_*``) with the Train and Stop buttons:
    returns (``train.RunConfig``, Train clicked, Stop clicked)."""
    from cnn_viz.common import fmt
    from cnn_viz.mnist.train import RunConfig

    c1, c2, c3, c4 = st.columns(4)
    epochs = c1.slider("Epochs", 1, 30, 5, key="mn_tr_epochs", bind="query-params", help="Passes over the training digits. The shipped network had 30.")
    n_train = c2.select_slider("Training digits", [500, 1000, 2000, 4000], 4000, key="mn_tr_n", bind="query-params")
    lr = c3.select_slider("Learning rate", [1e-4, 3e-4, 1e-3, 3e-3, 1e-2], 1e-3, key="mn_tr_lr", bind="query-params", format_func=fmt.num)
    seed = c4.number_input("Seed", 0, 9999, 0, key="mn_tr_seed", bind="query-params", help="Same seed and settings: the same network again.")
    c1, c2, c3 = st.columns(3)
    batch = c1.select_slider("Batch size", [16, 32, 64, 128, 256], 64, key="mn_tr_batch", bind="query-params")
    augment = c2.toggle("Augmentation (shift, rotate, thickness)", value=True, key="mn_tr_aug", bind="query-params",
                        help="Random small shifts, rotations, zooms and stroke thickness changes: drawn digits are read much better.")
    from cnn_viz.ui.training import stop_mnist_training, training_off_notice

    with c3:
        if training_off_notice():  # class mode: a message in place of the buttons
            start = stop = False
        else:
            start = st.button("Train", type="primary", key="mn_tr_go", icon="▶️")
            stop = st.button("Stop", key="mn_tr_stop", icon="⏹️", on_click=stop_mnist_training,
                             help="Stops after the current batch; the epochs done so far are kept.")
    config = RunConfig(epochs=int(epochs), n_train=int(n_train), lr=float(lr), batch=int(batch), seed=int(seed), augment=bool(augment))
    return config, start, stop



# ============================== deblur
class PickedPsf(NamedTuple):
    spec: object  # experiment.PsfSpec: what the controls say
    psf: np.ndarray | None  # None after an error was shown


def psf_picker(prefix: str = "db", label: str = "Blur (PSF)") -> PickedPsf:
    """Kind and size of a blur (and the angle of a motion); the PSF, or None after saying what is wrong."""
    from cnn_viz.deblur import experiment, forward

    kind = st.selectbox(label, forward.PSF_KINDS, key=f"{prefix}_psf", bind="query-params")
    angle = 0
    if kind == "Gaussian":
        size = st.slider("Gaussian σ (pixels)", 0.5, 5.0, 2.0, 0.25, key=f"{prefix}_sigma", bind="query-params")
    elif kind == "Motion":
        size = st.slider("Motion length (pixels)", 3, 31, 11, key=f"{prefix}_len", bind="query-params")
        angle = st.slider("Motion angle (°)", 0, 180, 0, 5, key=f"{prefix}_angle", bind="query-params")
    else:
        size = st.slider("Box width (pixels, odd)", 3, 15, 5, 2, key=f"{prefix}_box", bind="query-params")
    spec = experiment.PsfSpec(kind, float(size), float(angle))
    try:
        return PickedPsf(spec, spec.psf())
    except ValueError as exc:
        st.error(str(exc))
        return PickedPsf(spec, None)


def indexed_table(columns: dict[str, list], index: list[str], key: str) -> None:
    """st.dataframe of named columns with named rows (the core gives plain lists)."""
    st.dataframe(pd.DataFrame(columns, index=index), key=key)


# ============================== lowrank

def eps_rank_sweep(settings):
    """The ε-rank sweep for these ``latent.SweepSettings``: the shipped one when there is one, otherwise
    measured here one size at a time (each size cached on its own) under a progress bar. Settings the
    core refuses show their message and stop the page."""
    from cnn_viz.lowrank import latent

    sweep = cached.shipped_sweep(settings)
    if sweep is not None:
        return sweep
    bar = st.progress(0.0, text="Measuring ε-ranks…")
    try:
        sweep = latent.eps_rank_sweep(
            settings.sizes, settings.d, settings.eps, settings.kind, random_up_to=latent.RANDOM_UP_TO, measure=cached.measure_size,
            progress=lambda done, msg: bar.progress(done, text=f"Measuring ε-ranks: {msg} (largest {settings.n_max})"),
        )
    except ValueError as exc:
        st.error(f"Cannot run this sweep: {exc}")
        st.stop()
    bar.empty()
    return sweep


# ============================== your own network
DESIGN_PARAM = "net"  # the URL query parameter that holds the design (design.Design.code)


def design_editor() -> tuple:
    """The layer table of "Your own network" (one row per layer), seeded from the URL's ``net`` parameter,
    an example, or the report's SimpleCNN; every valid edit goes back into the URL. Returns (the design to
    use, messages): after a bad edit or a bad URL value, the last design that worked and what was wrong."""
    import zlib

    from cnn_viz.common.text import md
    from cnn_viz.mnist import design as dz

    state, notes = st.session_state, []
    if "yn_base" not in state:
        state["yn_base"] = dz.SIMPLE_CNN
        code = st.query_params.get(DESIGN_PARAM)
        if code is not None:
            try:
                state["yn_base"] = dz.from_code(code)
            except dz.DesignError as exc:
                notes.append(f"The network in the address was not used: {md(exc, limit=300)} The report's SimpleCNN is shown instead.")
    c1, c2, c3 = st.columns([3, 1, 1], vertical_alignment="bottom")
    example = c1.selectbox("Start from", list(dz.EXAMPLES), key="yn_example",
                           help="A starting point; then edit the table (add rows at its bottom, delete with the row's checkbox).")
    if c2.button("Use it", key="yn_use_example"):
        state["yn_base"] = dz.EXAMPLES[example]
    if c3.button("Reset", key="yn_reset", help="Back to the report's SimpleCNN."):
        state["yn_base"] = dz.SIMPLE_CNN
    base = state["yn_base"]
    key = f"yn_layers_{zlib.crc32(base.code.encode()):08x}"
    columns = {
        "type": st.column_config.SelectboxColumn("layer type", options=list(dz.KINDS.values()), required=True, width="medium"),
        "out": st.column_config.NumberColumn("channels / units", min_value=1, step=1, help="conv: output channels; fully connected: units"),
        "size": st.column_config.NumberColumn("kernel / window", min_value=1, step=1),
        "stride": st.column_config.NumberColumn("stride", min_value=1, step=1),
        "padding": st.column_config.NumberColumn("padding", min_value=0, step=1),
        "dilation": st.column_config.NumberColumn("dilation", min_value=1, step=1),
        "rate": st.column_config.NumberColumn("rate / slope", min_value=0.0, max_value=1.0, step=0.05,
                                              help="dropout: probability; leaky ReLU: slope below 0"),
    }
    frame = pd.DataFrame(base.rows(), columns=["type", *dz.EDITOR_COLUMNS])
    try:
        edited = st.data_editor(frame, key=key, num_rows="dynamic", column_config=columns, width="stretch")
        rows = edited.to_dict("records")
    except Exception:  # noqa: BLE001 - a forged editor state (unknown rows or columns) must not break the page
        state.pop(key, None)
        notes.append("The table's edits could not be read, so they were dropped.")
        rows = base.rows()
    try:
        good = dz.from_rows(rows)
    except dz.DesignError as exc:
        notes.append(f"{md(exc, limit=300)} The page keeps the last design that worked until this is fixed.")
        return state.get("yn_good", base), notes
    state["yn_good"] = good
    if st.query_params.get(DESIGN_PARAM) != good.code:
        st.query_params[DESIGN_PARAM] = good.code
    return good, notes


def design_field_point() -> tuple[int, int]:
    """Row and column of the digit whose receptive fields are drawn (keys ``yn_rf_row``, ``yn_rf_col``)."""
    c1, c2 = st.columns(2)
    r = c1.slider("Row of the unit", 0, 27, 14, key="yn_rf_row", bind="query-params")
    c = c2.slider("Column of the unit", 0, 27, 14, key="yn_rf_col", bind="query-params")
    return int(r), int(c)


def design_train_settings():
    """The training settings of "Your own network" (keys ``yn_tr_*``) and its Train / Stop buttons:
    (``train.RunConfig``, Train clicked, Stop clicked)."""
    from cnn_viz.common import fmt
    from cnn_viz.mnist.train import OPTIMIZERS, RunConfig

    c1, c2, c3, c4 = st.columns(4)
    optimizer = c1.radio("Optimizer", list(OPTIMIZERS), format_func=OPTIMIZERS.get, key="yn_tr_opt", bind="query-params")
    lr = c2.select_slider("Learning rate", [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1], 1e-3, key="yn_tr_lr", format_func=fmt.num,
                          bind="query-params", help="Adam: 1e-3 is a good start. SGD wants more, e.g. 1e-2 to 1e-1.")
    batch = c3.select_slider("Batch size", [16, 32, 64, 128, 256], 64, key="yn_tr_batch", bind="query-params")
    epochs = c4.slider("Epochs", 1, MAX_DESIGN_EPOCHS, 3, key="yn_tr_epochs", bind="query-params",
                       help=f"Passes over the training digits (at most {MAX_DESIGN_EPOCHS} here; more with the command line).")
    c1, c2, c3, c4 = st.columns(4)
    n_train = c1.select_slider("Training digits", [250, 500, 1000, 2000, 4000], 4000, key="yn_tr_n", bind="query-params")
    seed = c2.number_input("Seed", 0, 9999, 0, key="yn_tr_seed", bind="query-params", help="Same seed and settings: the same network, bit for bit.")
    augment = c3.toggle("Augmentation", value=True, key="yn_tr_aug", help="Small random shifts, rotations, zooms and stroke changes.")
    start = c4.button("Train", type="primary", key="yn_tr_go", icon="▶️")
    stop = c4.button("Stop", key="yn_tr_stop", icon="⏹️", help="Stops after the current batch; the epochs done so far are kept.")
    config = RunConfig(epochs=int(epochs), n_train=int(n_train), lr=float(lr), batch=int(batch), seed=int(seed),
                       augment=bool(augment), optimizer=str(optimizer))
    return config, start, stop


MAX_DESIGN_EPOCHS = 20


def design_digit(gallery, key: str = "yn") -> tuple:
    """Where the digit of "Look inside" comes from: a held-out digit, a drawing or a photo. Returns
    (digit (28, 28) or None, its label or None, the ``prep.Prepared`` of a drawing or photo or None)."""
    from cnn_viz.common.text import md
    from cnn_viz.mnist import prep

    source = st.radio("The digit", ["Held-out digit", "Draw", "Upload a photo"], horizontal=True, key=f"{key}_src", bind="query-params")
    if source == "Draw":
        from streamlit_drawable_canvas import st_canvas  # only here: importing it outside a running app fails

        canvas = st_canvas(fill_color="rgba(0,0,0,0)", stroke_width=20, stroke_color="#FFFFFF", background_color="#000000",
                           height=280, width=280, drawing_mode="freedraw", return_image_data=True, update_streamlit=True, key=f"{key}_canvas")
        raw = getattr(canvas, "image_data", None)
        if raw is not None:
            try:
                prepared = prep.prepare(raw)
                return prepared.digit, None, prepared
            except ValueError:
                pass
        st.info("Draw one digit, large, in white on the black square. Until then the report's 7 is used.")
    elif source == "Upload a photo":
        f = st.file_uploader("A photo or scan of one handwritten digit", type=UPLOAD_TYPES, key=f"{key}_photo")
        if f is not None:
            try:
                prepared = cached.prepare_upload(f.getvalue())
                return prepared.digit, None, prepared
            except ValueError as exc:
                st.error(f"Could not read a digit from {md(f.name)}: {md(exc, limit=300)}")
        else:
            st.info("Upload a picture of one digit (dark on light or light on dark). Until then the report's 7 is used.")
    else:
        pick = st.selectbox("Held-out digit", gallery.positions, format_func=gallery.name, index=gallery.positions.index(gallery.default),
                            key=f"{key}_digit")
        return gallery.digit(pick), gallery.label(pick), None
    return gallery.digit(gallery.default), gallery.label(gallery.default), None


# ============================== whenfail
def whenfail_lab_settings():
    """The 1-D lab's settings (all in the URL); returns a lab.Setup, or None after saying what is wrong."""
    from cnn_viz.common import text
    from cnn_viz.whenfail import lab

    op = st.selectbox("Operator M", list(lab.OPERATORS), format_func=lab.OPERATORS.get, key="wf_op", bind="query-params")
    signals = st.selectbox("Signals", list(lab.SIGNAL_SETS), format_func=lab.SIGNAL_SETS.get, key="wf_sig", bind="query-params")
    n = st.select_slider("Signal length n", lab.N_CHOICES, 128, key="wf_n", bind="query-params")
    m = st.number_input("Measurements m (dense operator)", 1, 1024, 64, key="wf_m", bind="query-params",
                        help="Rows of the dense random matrix; compressed sensing needs m < n.")
    noise = st.slider("Noise ‖e‖/‖Mx‖ (%)", 0.0, 10.0, 1.0, 0.5, key="wf_noise", bind="query-params") / 100
    seed = st.number_input("Seed", 0, 9999, 0, key="wf_seed", bind="query-params")
    try:
        return lab.Setup(operator=op, signals=signals, n=int(n), m=int(m), noise=float(noise), seed=int(seed)).check()
    except ValueError as exc:
        st.error(f"{text.md(exc, 300)} The shipped setup is shown meanwhile.")
        return None


def sample_image(name: str, max_side: int = images.DEFAULT_MAX_SIDE, min_side: int = 1) -> np.ndarray:
    """The array ``image_picker(..., colour="gray")`` hands a page for sample ``name``, outside a script run too:
    the warm-up precomputes the JPEG tab's default case with it, keyed on these very bytes."""
    img = images.fit_min_side(cached.load_sample(name, max_side), min_side, max_side)[0]
    return images.to_gray(img) if img.ndim == 3 else img


def whenfail_quality() -> int | None:
    from cnn_viz.common import text
    from cnn_viz.whenfail import jpeg

    q = st.number_input("JPEG quality", 0, 100, 10, key="wf_q", bind="query-params",
                        help=f"{jpeg.MIN_Q} (blocky) to {jpeg.MAX_Q}: the range where the 8×8 blocks show.")
    try:
        return jpeg.check_quality(q)
    except ValueError as exc:
        st.error(f"{text.md(exc, 300)} Choose a quality from {jpeg.MIN_Q} to {jpeg.MAX_Q}.")
        return None


def descent_panel(problem: str, key: str) -> None:
    """Gradient descent against SGD on ``problem`` ("mnist" or "lab"): the shipped (or this session's) figure, the
    measured finding, and a Run button that recomputes it inside the server's training slot. The MNIST page's
    training panel and the 'When CNNs fail' page both show it."""
    from cnn_viz.common import assets
    from cnn_viz.ui import training
    from cnn_viz.whenfail import figures

    own = training.whenfail_descent(problem)
    path = assets.WHENFAIL_DESCENT[problem]
    if own is None and not path.exists():
        st.info("No shipped comparison for this data yet: run it below.")
    else:
        d = own or cached.load_descent(str(path))
        plot(cached.figure(figures.shipped_descent_figure, str(path)) if own is None else figures.descent_figure(d), key=f"{key}_fig")
        st.caption(f"**Measured:** {d.summary()} Same learning-rate grid for all three (shown: the rate with the lowest final "
                   "training loss), same number of passes; a pass of full-batch gradient descent is one step, of one-sample "
                   "SGD as many steps as there are examples. Seconds are training time on one thread (evaluation left out)."
                   + ("" if own is not None else f" Shipped: `{d.meta.get('command', '')}`."))
    c1, c2, c3 = st.columns(3)
    passes = c1.number_input("Passes", 1, 10, 3 if problem == "mnist" else 5, key=f"{key}_passes")
    batch = c2.number_input("Mini-batch size", 2, 1000, 32, key=f"{key}_batch")
    with c3:
        training.whenfail_run_descent(problem, int(passes), int(batch), key=f"{key}_run")
