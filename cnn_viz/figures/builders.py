"""Plotly figure builders shared by the pages (no Streamlit here, so they are testable).

Conventions: images are (H, W) grayscale or (H, W, 3) colour floats in [0, 1]; row 0 is
drawn at the top; pixels are square; hovering shows the row, column and value.

What reaches the browser is kept small, since every rerun of every student crosses the network:
pictures are PNG files inside the figure (``png_uri``: a 512² photograph is ~150 kB, against 350 kB as
uint8 numbers or 1.4 MB as float32), thinned to ``MAX_DISPLAY`` pixels a side (images) or
``MAP_DISPLAY`` (signed maps, shown with a colour bar). A signed map larger than ``EXACT_CELLS`` values
is drawn as a PNG with an invisible grid of at most ``HOVER_SIDE``² real values on top for hovering
(each reports its true row and column); smaller maps stay exact heatmaps, every value on hover.
``spec`` turns a figure into the plain data ``ui.plot`` sends, so a cached figure costs no Plotly work.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import re

import numpy as np
import plotly.graph_objects as go

from cnn_viz.common import fmt
from cnn_viz.common.images import to_uint8
from cnn_viz.figures.palette import FONT, largest_abs, ramp, signed_scale

MAX_DISPLAY = 512  # images: at most this many pixels a side reach the browser
MAP_DISPLAY = 320  # signed maps drawn as PNG
EXACT_CELLS = 96 * 96  # signed maps up to this size stay heatmaps with every value on hover
HOVER_SIDE = 64  # larger ones: real values on hover at up to this many points a side
HOVER_DIGITS = 4  # significant digits a hover-only grid shows, and so sends (float32 in full: ~40 % more bytes)


def spec_text(fig) -> str:
    """The figure (a ``go.Figure`` or plain data) as the JSON text Plotly.js reads, arrays already base64
    typed arrays, encoded once (by orjson when installed): what the figure cache keeps and ``ui.plot`` sends
    without building, validating or encoding anything again.

    Plotly's default template (``layout.template``, ~7 kB, most of a line chart's bytes) is left out: the
    app's charts use st.plotly_chart's Streamlit theme, which restyles the figure in the browser and fills
    in an absent template itself (screenshots in Chromium: the same picture with and without it). A
    template other than the default stays."""
    from plotly.basedatatypes import BaseFigure
    from plotly.io.json import to_json_plotly

    data = fig.to_dict() if isinstance(fig, BaseFigure) else dict(fig)
    lay = data.get("layout")
    if isinstance(lay, dict) and lay.get("template") == _default_template():
        data["layout"] = {k: v for k, v in lay.items() if k != "template"}
    return to_json_plotly(data)


PICTURE_LIST_LIMIT = 3_000  # array values a figure may carry as JSON numbers (page_spec): the MNIST grids and bars, not the sandbox's 64² hover grids (+18 kB a map as lists)
SELECT_MODES = dict(clickmode="event+select", hovermode="closest", dragmode="pan")  # what Streamlit sets for point selection
_REVISION_SLOT = "0" * 16
# Layout containers that a template fills only where the figure has one (plotly.js: template.layout.xaxis2, else
# template.layout.xaxis, for the figure's xaxis2), and the trace types that draw on x/y axes.
_SUBPLOT = re.compile(r"(xaxis|yaxis|coloraxis|ternary|polar|scene|geo|mapbox|map|smith)(\d*)")
_CARTESIAN = {"bar", "box", "candlestick", "contour", "heatmap", "histogram", "histogram2d", "image", "ohlc",
              "scatter", "scattergl", "violin", "waterfall"}


@functools.cache
def streamlit_theme() -> dict:
    """The Plotly template ({"layout": ...}) st.plotly_chart's Streamlit theme gives a chart in the browser,
    for this app's ``[theme]``: captured from Chromium into assets/streamlit_plotly_theme.json by
    ``python assets/tools/capture_plotly_theme.py`` (tests/test_plot_theme_browser.py checks it still matches).
    Only ``layout``: the theme adds no trace defaults."""
    from cnn_viz.common.assets import PLOTLY_THEME

    return json.loads(PLOTLY_THEME.read_text())


def page_spec(fig) -> tuple[str, bool]:
    """What ``ui.plot`` sends: (JSON text, whether the chart takes Streamlit's theme in the browser).

    A figure of at most ``PICTURE_LIST_LIMIT`` array values (pictures, maps, bars, short curves) is written so
    that Chromium draws it once, not twice. Streamlit mounts a chart whose figure changed afresh, then an effect
    hands Plotly.react a JSON copy of it (re-themed; for a chart with ``on_select`` also new click/hover/drag
    modes), and plotly.js redraws everything when (a) ``layout.template`` is a new object (Streamlit's theme is
    one), (b) a data array is a typed array (``{dtype, bdata}``: only plain lists are compared) or (c) no
    ``layout.datarevision`` says the data is the same. So such a figure gets Streamlit's theme here, written into
    its layout and traces as plotly.js applies a template (``streamlit_theme``; the title bold as the theme makes
    it), plain lists and a digest as ``datarevision``; ``ui.plot`` draws it without the theme and with
    ``SELECT_MODES`` when clickable. It draws the same: tests/test_plot_theme_browser.py checks in Chromium that
    every kind of figure the pages draw resolves to the same plotly.js settings either way, and compares pixels.
    Bigger figures and animations: ``spec_text``, themed in the browser.
    Measured on the MNIST page (Chromium, a new digit, 22 changes): median 1.08 s with every chart themed in
    the browser, 0.80 s with the pictures drawn once; with the bar charts too, 6 new digits under the CDP profiler
    took 9.4 s of browser CPU instead of 10.8 (``bench/profile_browser.py``; bench/RESULTS_perf.md, 2026-12-03)."""
    from plotly.basedatatypes import BaseFigure

    data = fig.to_dict() if isinstance(fig, BaseFigure) else dict(fig)
    lay = data.get("layout") or {}
    if not isinstance(lay, dict) or not data.get("data") or data.get("frames"):
        return spec_text(fig), True
    traces = [_decoded(t) for t in data["data"]]
    if sum(_n_values(t) for t in traces) > PICTURE_LIST_LIMIT:
        return spec_text(fig), True
    lay = _decoded(dict(lay))
    own = lay.pop("template", None)
    own = {} if not isinstance(own, dict) or own == _default_template() else own  # spec_text leaves the default out
    # Streamlit's theme merges its layout over the figure's template layout (its values winning) and keeps the
    # template's trace defaults; plotly.js then fills what the figure leaves unset from that template.
    lay = _themed_layout(lay, traces, _merge(own.get("layout") or {}, streamlit_theme()["layout"]))
    kinds = own.get("data") or {}
    traces = [_merge(dict((kinds.get(t.get("type", "scatter")) or [{}])[0]), t) for t in traces]
    text = _dumps({"data": traces, "layout": {"datarevision": _REVISION_SLOT, **lay}})
    digest = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:len(_REVISION_SLOT)]
    return text.replace(f'"datarevision":"{_REVISION_SLOT}"', f'"datarevision":"{digest}"', 1), False


def _themed_layout(lay: dict, traces: list[dict], theme: dict) -> dict:
    """``lay`` over the theme's layout as plotly.js applies a template: the figure's own values win; axes and
    colour axes get the theme's only where the figure has them, annotations and shapes their ``…defaults``;
    the title in bold (``<b>…</b>``, as Streamlit's theme writes it)."""
    used = {k for k in lay if _SUBPLOT.fullmatch(k)}
    maps, bars = set(), set()  # axes of a 2-D map (plotly.js: ticks outside), category axes of bars (no grid)
    for t in traces:
        kind = t.get("type", "scatter")
        if kind in _CARTESIAN:
            x, y = "xaxis" + str(t.get("xaxis") or "x")[1:], "yaxis" + str(t.get("yaxis") or "y")[1:]
            used |= {x, y}
            if kind in _MAPS:
                maps |= {x, y}
            if kind in _ORIENTED:
                horizontal = t.get("orientation", "h" if t.get("x") is not None and t.get("y") is None else "v") == "h"
                bars.add(y if horizontal else x)
        for ref in (t.get("coloraxis"), (t.get("marker") or {}).get("coloraxis")):
            if isinstance(ref, str) and _SUBPLOT.fullmatch(ref):
                used.add(ref)
    out = {k: v for k, v in theme.items() if not _SUBPLOT.fullmatch(k)}
    if not _legend_shown(lay, traces):
        out.pop("legend", None)  # plotly.js reads no legend settings then
    if isinstance(out.get("title"), dict):  # keys Streamlit's theme writes that are no plotly.js attribute
        out["title"] = {k: v for k, v in out["title"].items() if k not in ("color", "subtitleColor")}
    for k in sorted(used):
        base = theme.get(k, theme.get(_SUBPLOT.fullmatch(k).group(1)))
        if isinstance(base, dict) and k.startswith(("xaxis", "yaxis")):
            base = _template_axis(base, lay.get(k) if isinstance(lay.get(k), dict) else {}, k in maps, k in bars)
        if base is not None:
            out[k] = base
    for key in [k for k in out if k.endswith("defaults")]:  # annotationdefaults: under every annotation, ...
        defaults, items = out.pop(key), key[:-len("defaults")] + "s"
        if isinstance(defaults, dict) and isinstance(lay.get(items), list):
            lay = {**lay, items: [_merge(defaults, it) if isinstance(it, dict) else it for it in lay[items]]}
    title = lay.get("title")
    if title is not None:  # Streamlit's theme: {...title, text: "<b>" + text + "</b>"}
        title = dict(title) if isinstance(title, dict) else {"text": title}
        title["text"] = f"<b>{title['text'] if isinstance(title.get('text'), str) else ''}</b>"
        lay = {**lay, "title": title}
    out = _merge(out, lay)
    # plotly.js gives a title the layout's font family when it sets none (not a hover label: that falls back to Arial)
    family = out["font"].get("family") if isinstance(out.get("font"), dict) else None
    font = out["title"].get("font") if isinstance(out.get("title"), dict) else None
    if family is not None and isinstance(font, dict) and font.get("family") == family:
        out["title"] = {**out["title"], "font": {k: v for k, v in font.items() if k != "family"}}
    return out


def _legend_shown(lay: dict, traces: list[dict]) -> bool:
    """Whether plotly.js draws the figure's legend: ``showlegend`` if set, else two or more traces that would be
    in one (heatmaps and images are left out of a legend unless they ask to be in it)."""
    if "showlegend" in lay:
        return bool(lay["showlegend"])
    return sum(bool(t.get("showlegend", t.get("type", "scatter") not in _MAPS)) for t in traces
               if t.get("visible", True) is not False) > 1


def _template_axis(template: dict, axis: dict, on_map: bool, on_bars: bool) -> dict:
    """A template's axis as the figure's own settings that draw the same. plotly.js takes some settings from a
    template for their value but not for their presence (its ``coerce2``): a line colour or width turns the axis
    line on, a grid or zero-line colour the grid (where the grid is off by default: the category axis of bars),
    a tick colour or length the ticks, only when the figure itself sets it; a ``minor`` container exists only when
    the figure has one. Written into the figure, each such setting gets its switch as plotly.js would leave it:
    the slim MNIST template's white ``linecolor`` would otherwise draw white axis lines over the bars, the
    theme's ``tickcolor`` ticks on every axis. ``on_map``: the axis carries a heatmap (ticks outside by default);
    ``on_bars``: it is the category axis of bars."""
    out = dict(template)
    if "minor" not in axis:
        out.pop("minor", None)
    defaults = {"showline": False, "showgrid": not on_bars, "zeroline": not on_bars, "ticks": "outside" if on_map else ""}
    for flag, keys in _PRESENCE:
        if flag not in axis and flag not in out and not keys & axis.keys() and keys & out.keys():
            out[flag] = defaults[flag]
    # what plotly.js never reads (so never sent): the settings of a line, grid, zero line, ticks or tick labels
    # switched off, a range selector off a date axis
    switched = {**out, **axis}
    for flag, keys in _UNUSED_WHEN_OFF:
        if flag in switched and not switched[flag]:
            for key in keys - axis.keys():
                out.pop(key, None)
    if switched.get("type") != "date":
        out.pop("rangeselector", None)
    return out


# A switch and the settings whose presence in the figure turns it on (plotly.js, line_grid_defaults and
# tick_mark_defaults); the trace types whose axes get ticks outside ("2dMap") and those with a category axis.
_PRESENCE = (("showline", {"linecolor", "linewidth"}), ("showgrid", {"gridcolor", "gridwidth", "griddash"}),
             ("zeroline", {"zerolinecolor", "zerolinewidth", "zerolinelayer"}), ("ticks", {"ticklen", "tickwidth", "tickcolor"}))
_UNUSED_WHEN_OFF = _PRESENCE + (("showticklabels", {"tickfont", "ticklabelposition"}),)
_MAPS = {"heatmap", "contour", "histogram2d", "histogram2dcontour", "image"}
_ORIENTED = {"bar", "box", "violin", "histogram", "funnel", "waterfall"}


def from_typed(value) -> np.ndarray | None:
    """A plotly.js typed array ({dtype, bdata[, shape]}) as a NumPy array; None for anything else."""
    if not (isinstance(value, dict) and isinstance(value.get("bdata"), str) and isinstance(value.get("dtype"), str)):
        return None
    a = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
    shape = value.get("shape")
    if shape is None:
        return a
    return a.reshape([int(x) for x in shape.split(",")] if isinstance(shape, str) else list(shape))


def _decoded(value):
    """Typed arrays ({dtype, bdata[, shape]}) as NumPy arrays, the rest as it is."""
    if isinstance(value, dict):
        a = from_typed(value)
        return a if a is not None else {k: _decoded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_decoded(v) for v in value]
    return value


def _n_values(value) -> int:
    if isinstance(value, np.ndarray):
        return value.size
    if isinstance(value, dict):
        return sum(_n_values(v) for v in value.values())
    if isinstance(value, list):
        return len(value) if value and not isinstance(value[0], (dict, list, np.ndarray)) else sum(_n_values(v) for v in value)
    return 0


def _dumps(obj) -> str:
    """JSON text with NumPy arrays as plain lists (float32 in its shortest form, NaN as null: a gap)."""
    try:
        import orjson
    except ImportError:  # pragma: no cover - orjson is in requirements.txt
        def plain(a):
            a = np.asarray(a)
            return np.where(np.isfinite(a), a, None).tolist() if a.dtype.kind == "f" else a.tolist()

        return json.dumps(obj, separators=(",", ":"), default=plain)

    def default(a):
        if isinstance(a, np.ndarray):
            return a.tolist()  # an array orjson does not take itself (not C-contiguous, object, float16)
        raise TypeError(type(a))

    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS, default=default).decode()


def spec(fig) -> dict:
    """``spec_text(fig)`` as plain data."""
    return json.loads(spec_text(fig))


@functools.cache
def _default_template() -> dict:
    return go.Figure().to_dict().get("layout", {}).get("template")


def png_uri(pixels: np.ndarray, palette_rgb: np.ndarray | None = None) -> str:
    """A data: URI of a PNG of uint8 pixels: (H, W) grey, (H, W, 3) colour, or (H, W) indices into a
    (256, 3) ``palette_rgb`` (one byte a pixel: a colour-mapped map compresses like a grey image)."""
    from PIL import Image

    a = np.ascontiguousarray(pixels, dtype=np.uint8)
    if palette_rgb is not None:  # only the colours used (a banded map uses a few dozen): a 768-byte palette → ~90
        used = np.bincount(a.ravel(), minlength=256)[:256] > 0
        a = (np.cumsum(used) - 1).astype(np.uint8)[a]
        palette_rgb = np.asarray(palette_rgb, dtype=np.uint8).reshape(-1, 3)[used[:len(palette_rgb)]]
    im = Image.fromarray(a, "P" if palette_rgb is not None else ("L" if a.ndim == 2 else "RGB"))
    if palette_rgb is not None:
        im.putpalette(palette_rgb.ravel().tolist())
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def signed_levels(fmap: np.ndarray, zmax: float) -> np.ndarray:
    """A signed map as 256 levels of the diverging scale: −zmax → 0, 0 → 127.5, +zmax → 255 (clipped)."""
    z = float(zmax) if zmax and zmax > 0 else 1.0
    return to_uint8(np.asarray(fmap, dtype=np.float32), -z, z)


def _stride_for(shape, max_side: int) -> int:
    return max(1, int(np.ceil(max(shape[:2]) / max_side)))


def layout(title: str | None = None, height: int | None = None, square: bool = True) -> dict:
    """The house layout as a plain dict (building a figure with it is ~6× faster than update_*)."""
    lay = dict(
        margin=dict(l=10, r=10, t=40 if title else 10, b=10),
        font=FONT,
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
    )
    if title:
        lay["title"] = dict(text=title, x=0.02, font=dict(size=16))
    if height:
        lay["height"] = height
    if square:
        lay["xaxis"] = dict(showgrid=False, zeroline=False, constrain="domain")
        lay["yaxis"] = dict(showgrid=False, zeroline=False, autorange="reversed", scaleanchor="x", scaleratio=1, constrain="domain")
    return lay


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def base_layout(fig: go.Figure, title: str | None = None, height: int | None = None, square: bool = True) -> go.Figure:
    """Apply the house layout to an existing figure (keeps what the figure already set elsewhere)."""
    fig.layout = go.Layout(_merge(fig.layout.to_plotly_json(), layout(title, height, square)))
    return fig


def image_trace(img: np.ndarray, max_side: int = MAX_DISPLAY, name: str = "value", **kwargs) -> go.Image:
    """An image (grey or colour, floats in [0, 1] or uint8) as one PNG, every ``step``-th pixel when it is
    larger than ``max_side``; hovering shows the real row, column and the pixel's value (0-255)."""
    img = np.asarray(img)
    step = _stride_for(img.shape, max_side)
    shown = to_uint8(img[::step, ::step])
    hover = (f"row %{{y}}, col %{{x}}<br>RGB %{{color[0]}}, %{{color[1]}}, %{{color[2]}}<extra></extra>" if shown.ndim == 3
             else f"row %{{y}}, col %{{x}}<br>{name} %{{color[0]}}/255<extra></extra>")
    return go.Image(source=png_uri(shown), x0=0, dx=step, y0=0, dy=step, hovertemplate=hover, **kwargs)


def image_figure(img: np.ndarray, title: str | None = None, height: int | None = None, max_side: int = MAX_DISPLAY) -> go.Figure:
    """An input image, grayscale or colour, pixel values on hover (0-255)."""
    return go.Figure(image_trace(img, max_side=max_side), layout=layout(title, height))


def signed_map_trace(fmap: np.ndarray, max_side: int = MAX_DISPLAY, zmax: float | None = None, colorbar: bool = True, **kwargs):
    """A signed map as one exact heatmap (float32, every value on hover), every ``step``-th value when it
    is longer than ``max_side``. For small maps; ``signed_map_traces`` draws any size."""
    fmap = np.asarray(fmap, dtype=np.float32)
    step = _stride_for(fmap.shape, max_side)
    shown = fmap[::step, ::step]
    if zmax is None:
        zmax = largest_abs(fmap)
    h, w = shown.shape
    return go.Heatmap(
        z=shown,
        x=np.arange(w) * step,
        y=np.arange(h) * step,
        **signed_scale(zmax),
        showscale=colorbar,
        colorbar=dict(thickness=12, len=0.9) if colorbar else None,
        hovertemplate="row %{y}, col %{x}<br>value %{z:.4g}<extra></extra>",
        **kwargs,
    )


def hover_values(a: np.ndarray) -> np.ndarray:
    """The values of an invisible hover grid as its hover shows them (``HOVER_DIGITS`` significant digits), float32:
    as JSON numbers they are short ("1.118", not "1.1179363"); as a typed array still 4 bytes each."""
    return fmt.round_sig(a, HOVER_DIGITS).astype(np.float32)


def signed_map_traces(fmap: np.ndarray, zmax: float | None = None, colorbar: bool = True, max_side: int = MAP_DISPLAY,
                      hover_side: int = HOVER_SIDE, exact_cells: int = EXACT_CELLS, **kwargs) -> list:
    """A signed map of any size on the diverging scale: one exact heatmap up to ``exact_cells`` values;
    beyond, an invisible heatmap of real values at up to ``hover_side``² points (first: it gives the hover
    and carries the colour bar) and over it a PNG (every ``step``-th value, at most ``max_side`` a side).
    ``kwargs`` (xaxis, yaxis, ...) go to every trace."""
    fmap = np.asarray(fmap, dtype=np.float32)
    if zmax is None:
        zmax = largest_abs(fmap)
    if fmap.size <= exact_cells:
        return [signed_map_trace(fmap, max_side=max(fmap.shape), zmax=zmax, colorbar=colorbar, **kwargs)]
    step = _stride_for(fmap.shape, max_side)
    picture = go.Image(source=png_uri(signed_levels(fmap[::step, ::step], zmax), ramp(256)), x0=0, dx=step, y0=0, dy=step,
                       hoverinfo="skip", **kwargs)
    h, w = fmap.shape
    sy, sx = -(-h // hover_side), -(-w // hover_side)
    rows, cols = np.arange(sy // 2, h, sy), np.arange(sx // 2, w, sx)
    hover = go.Heatmap(z=hover_values(fmap[np.ix_(rows, cols)]), x=cols, y=rows, opacity=0, **signed_scale(zmax), showscale=colorbar,
                       colorbar=dict(thickness=12, len=0.9) if colorbar else None,
                       hovertemplate=f"row %{{y}}, col %{{x}}<br>value %{{z:.{HOVER_DIGITS}g}}<extra></extra>", **kwargs)
    return [hover, picture]


def signed_map_figure(fmap: np.ndarray, title: str | None = None, height: int | None = None, zmax: float | None = None,
                      max_side: int = MAP_DISPLAY, hover_side: int = HOVER_SIDE) -> go.Figure:
    """A feature map with a diverging scale centred on zero (blue < 0 < red) and a colour bar
    (``signed_map_traces``: large maps as a PNG, values on hover at sample points)."""
    fmap = np.asarray(fmap, dtype=np.float32)
    lay = layout(title, height)
    h, w = fmap.shape
    lay["xaxis"]["range"] = [-0.5, w - 0.5]
    lay["yaxis"].update(range=[h - 0.5, -0.5], autorange=False)
    return go.Figure(signed_map_traces(fmap, zmax=zmax, max_side=max_side, hover_side=hover_side), layout=lay)


def number_grid_trace(grid: np.ndarray, hovertemplate: str = "K(%{y}, %{x}) = %{z:.6g}<extra></extra>",
                      decimals: int = 3, **kwargs) -> go.Heatmap:
    """A small grid of numbers as coloured cells (diverging scale) with every number written in them;
    the trace alone, for figures that lay out several grids (building a figure costs far more)."""
    k = np.asarray(grid, dtype=np.float64)
    side = max(k.shape)
    return go.Heatmap(z=k, text=fmt.cells(k, decimals), texttemplate="%{text}",
                      textfont=dict(size=16 if side <= 5 else 12 if side <= 9 else 9), **signed_scale(largest_abs(k)),
                      showscale=False, xgap=2, ygap=2, hovertemplate=hovertemplate, **kwargs)


def kernel_figure(kernel: np.ndarray, title: str | None = None, height: int | None = None, decimals: int = 3) -> go.Figure:
    """The kernel as a grid of coloured cells with its numbers written in them."""
    fig = go.Figure(number_grid_trace(kernel, decimals=decimals))
    lay = layout(title, height)
    lay["xaxis"].update(tickmode="linear", dtick=1, side="top")
    lay["yaxis"].update(tickmode="linear", dtick=1)
    fig.layout = go.Layout(lay)
    return fig


def separable_figure(column: np.ndarray, row: np.ndarray, title: str | None = None) -> go.Figure:
    """Kernel = column · rowᵀ: the two factors of a rank-1 kernel drawn as a column and a row."""
    col = np.asarray(column, dtype=np.float64)[:, None]
    rw = np.asarray(row, dtype=np.float64)[None, :]
    zmax = max(largest_abs(col), largest_abs(rw))
    traces = [
        go.Heatmap(
            z=arr, text=fmt.cells(arr), texttemplate="%{text}", **signed_scale(zmax), showscale=False, xgap=2, ygap=2, hovertemplate="%{z:.6g}<extra></extra>", xaxis=xa, yaxis=ya,
        )
        for arr, xa, ya in ((col, "x", "y"), (rw, "x2", "y2"))
    ]
    axis = dict(showticklabels=False, showgrid=False, zeroline=False)
    lay = layout(title, 160 + 12 * col.shape[0], square=False)
    lay.update(
        xaxis=dict(axis, domain=[0, 0.2]), yaxis=dict(axis, autorange="reversed"),
        xaxis2=dict(axis, domain=[0.28, 1]), yaxis2=dict(axis, autorange="reversed", anchor="x2"),
        annotations=[
            dict(text=t, x=x, y=1.0, xref="paper", yref="paper", yanchor="bottom", showarrow=False)
            for t, x in (("column u", 0.1), ("row vᵀ", 0.64))
        ],
    )
    lay["margin"]["t"] = 40
    return go.Figure(traces, layout=lay)


def square_subplots(fig: go.Figure, n: int) -> go.Figure:
    """Bare axes with square pixels and row 0 on top for the first ``n`` subplots of a grid."""
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, constrain="domain")
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, autorange="reversed", constrain="domain")
    for i in range(n):
        ax = "" if i == 0 else str(i + 1)
        fig.layout[f"yaxis{ax}"].update(scaleanchor=f"x{ax}", scaleratio=1)
    return fig


def map_grid_figure(maps: np.ndarray, titles: list[str] | None = None, cols: int = 4, signed: bool = True, shared_scale: bool = True, height_per_row: int = 170) -> go.Figure:
    """A grid of small maps (N, H, W), one colour scale for all when ``shared_scale``."""
    from plotly.subplots import make_subplots

    maps = np.asarray(maps, dtype=np.float32)
    n = maps.shape[0]
    cols = max(1, min(cols, n))
    rows = int(np.ceil(n / cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.02, vertical_spacing=0.06 if rows > 1 else 0.02)
    zmax_all = largest_abs(maps)
    for i in range(n):
        r, c = divmod(i, cols)
        m = maps[i]
        if signed:
            zmax = zmax_all if shared_scale else largest_abs(m)
            traces = signed_map_traces(m, zmax=zmax, colorbar=(i == 0 and shared_scale))
        else:
            lo, hi = (float(maps.min()), float(maps.max())) if shared_scale else (float(m.min()), float(m.max()))
            traces = [go.Heatmap(z=m, colorscale="gray", zmin=lo, zmax=hi if hi > lo else lo + 1, showscale=False,
                                 hovertemplate="row %{y}, col %{x}<br>value %{z:.4g}<extra></extra>")]
        for tr in traces:
            fig.add_trace(tr, row=r + 1, col=c + 1)
    square_subplots(fig, n)
    fig.update_layout(height=height_per_row * rows + 30, margin=dict(l=5, r=5, t=30, b=5), font=dict(size=12))
    if titles:
        fig.update_annotations(font_size=12)
    return fig


def sequential_map_traces(fmap: np.ndarray, lo: float | None = None, hi: float | None = None, colorbar: bool = False,
                          max_side: int = MAP_DISPLAY, hover_side: int = HOVER_SIDE, exact_cells: int = EXACT_CELLS,
                          hovertemplate: str = "row %{y}, col %{x}<br>value %{z:.4g}<extra></extra>", levels: int = 256,
                          **kwargs) -> list:
    """A one-signed map of any size on the current sequential scale (``palette.sequential()``: Viridis, or
    Cividis in the colour-vision-safe scheme), ``lo`` and ``hi`` (default: its range) at the scale's ends:
    like ``signed_map_traces``, one exact heatmap up to ``exact_cells`` values; beyond, an invisible heatmap
    of real values at up to ``hover_side``² points (first: it gives the hover and carries the colour bar) and
    over it a PNG of ``levels`` colours (2-256; every ``step``-th value, at most ``max_side`` a side; a noisy
    map's PNG shrinks with fewer levels: 200² random entries 54 kB at 256, 41 kB at 64). ``kwargs`` (xaxis,
    yaxis, ...) go to every trace."""
    from cnn_viz.figures.palette import sequential

    fmap = np.asarray(fmap, dtype=np.float32)
    finite = fmap[np.isfinite(fmap)]
    lo = float(finite.min()) if lo is None and finite.size else (0.0 if lo is None else float(lo))
    hi = float(finite.max()) if hi is None and finite.size else (1.0 if hi is None else float(hi))
    if not hi > lo:
        hi = lo + 1.0
    scale = dict(colorscale=sequential(), zmin=lo, zmax=hi, showscale=colorbar,
                 colorbar=dict(thickness=12, len=0.9) if colorbar else None, hovertemplate=hovertemplate)
    if fmap.size <= exact_cells:
        return [go.Heatmap(z=fmap, **scale, **kwargs)]
    step = _stride_for(fmap.shape, max_side)
    levels = int(np.clip(levels, 2, 256))
    t = np.clip((fmap[::step, ::step] - np.float32(lo)) / np.float32(hi - lo), 0, 1)
    index = np.round(np.nan_to_num(t) * (levels - 1)).astype(np.uint8)  # level i shows the colour at i / (levels − 1)
    picture = go.Image(source=png_uri(index, ramp(levels, sequential())), x0=0, dx=step, y0=0, dy=step,
                       hoverinfo="skip", **kwargs)
    h, w = fmap.shape
    sy, sx = -(-h // hover_side), -(-w // hover_side)
    rows, cols = np.arange(sy // 2, h, sy), np.arange(sx // 2, w, sx)
    hover = go.Heatmap(z=fmap[np.ix_(rows, cols)], x=cols, y=rows, opacity=0, **scale, **kwargs)
    return [hover, picture]


def panel_axes(i: int) -> dict:
    """The axes of panel ``i`` of a ``panels_layout``, as trace keywords: ``go.Image(..., **panel_axes(i))``."""
    ax = "" if i == 0 else str(i + 1)
    return dict(xaxis=f"x{ax}", yaxis=f"y{ax}")


def panels_layout(titles: list, cols: int | None = None, height_per_row: int = 260, hspace: float = 0.015,
                  vspace: float = 0.05, title_size: int = 13, font_size: int = 12, extra_height: int = 40,
                  margin_top: int = 30) -> dict:
    """The layout of ``len(titles)`` picture panels in a grid of ``cols`` columns (all in one row by default) as one
    dict: what make_subplots + ``square_subplots`` + update_* give, ~10× faster to build (this matters for figures
    redrawn on a slider move). Panel i uses the axes ``panel_axes(i)``: square pixels, row 0 on top, no ticks, its
    title above it; the figure is ``height_per_row`` × rows + ``extra_height`` pixels high."""
    n = max(1, len(titles))
    cols = max(1, min(cols or n, n))
    rows = -(-n // cols)
    width, height = (1 - hspace * (cols - 1)) / cols, (1 - vspace * (rows - 1)) / rows
    lay = dict(height=height_per_row * rows + extra_height, margin=dict(l=5, r=5, t=margin_top, b=5),
               font=dict(size=font_size), annotations=[], paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)")
    bare = dict(showticklabels=False, showgrid=False, zeroline=False, constrain="domain")
    for i, title in enumerate(titles):
        r, c = divmod(i, cols)
        ax = "" if i == 0 else str(i + 1)
        left, upper = c * (width + hspace), 1 - r * (height + vspace)
        right, lower = min(1.0, left + width), max(0.0, upper - height)
        lay[f"xaxis{ax}"] = dict(bare, domain=[left, right], anchor=f"y{ax}")
        lay[f"yaxis{ax}"] = dict(bare, domain=[lower, upper], anchor=f"x{ax}", autorange="reversed", scaleanchor=f"x{ax}",
                                 scaleratio=1)
        if title:
            lay["annotations"].append(dict(text=title, x=(left + right) / 2, y=upper, xref="paper", yref="paper",
                                           xanchor="center", yanchor="bottom", showarrow=False, font=dict(size=title_size)))
    return lay


def png_uri_few(indices: np.ndarray, palette_rgb: np.ndarray) -> str:
    """``png_uri`` of (H, W) indices into a palette of at most 16 colours, stored with 4 bits a pixel (a
    16-level picture is ~40 % smaller than as 8-bit levels)."""
    from PIL import Image

    pal = np.asarray(palette_rgb, dtype=np.uint8).reshape(-1, 3)
    if len(pal) > 16:
        raise ValueError(f"{len(pal)} colours: at most 16 fit in 4 bits")
    im = Image.fromarray(np.ascontiguousarray(indices, dtype=np.uint8), "P")
    im.putpalette(pal.ravel().tolist())
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=6, bits=4)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
