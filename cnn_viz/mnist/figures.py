"""Plotly figures of the trained-MNIST page: the digit, preprocessing, probabilities, feature maps,
filters, the report's Figure 5, saliency / Grad-CAM overlays and the training curves.

NumPy in, figures out (no torch, no Streamlit), so every builder is testable. Speed matters (every
new digit of every student builds them): traces and layouts are plain dicts turned into plain figure data
(``Figure``: no ``go.Figure``, ``update_*``, ``add_annotation`` or ``make_subplots``), and grids of
maps are one mosaic heatmap with gaps instead of one subplot per map. Hovering shows which map,
the row, the column and the true value.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import plotly.graph_objects as go
from plotly.basedatatypes import BasePlotlyType

from cnn_viz.common import fmt
from cnn_viz.common.images import to_uint8
from cnn_viz.figures.builders import HOVER_DIGITS, from_typed, hover_values, image_trace, kernel_figure, layout, png_uri, png_uri_few, signed_levels, signed_map_figure, signed_map_trace
from cnn_viz.figures import builders, palette
from cnn_viz.figures.palette import FONT, largest_abs, ramp

PROB_COLOUR, TOP_COLOUR, OWN_COLOUR = "#95a5a6", "#c0392b", "#2471a3"
NO_TICKS = dict(showticklabels=False, ticks="", showline=False, showgrid=False, zeroline=False)
# Overlay colour scales fade to transparent at zero, so the digit stays visible where nothing happens.
def signed_overlay() -> list:
    """The current diverging scale fading to transparent at zero (its ends opaque, halfway 75 %)."""
    neg, mid, pos = (palette.to_rgb(np.array(v), 0.0, 1.0) for v in (0.15, 0.5, 0.85))
    s = palette.scheme()
    return [[0.0, "rgba({},{},{},1)".format(*s.neg)], [0.35, "rgba({},{},{},0.75)".format(*neg)], [0.5, "rgba(255,255,255,0)"],
            [0.65, "rgba({},{},{},0.75)".format(*pos)], [1.0, "rgba({},{},{},1)".format(*s.pos)]]


SIGNED_OVERLAY = signed_overlay()  # the default scheme's (figures call signed_overlay())
HEAT_OVERLAY = [[0.0, "rgba(0,0,0,0)"], [0.25, "rgba(120,0,0,0.35)"], [0.55, "rgba(220,40,0,0.65)"],
                [0.8, "rgba(255,160,0,0.8)"], [1.0, "rgba(255,255,120,0.9)"]]


# Plotly's default template is ~7 kB of every figure's JSON (3-D scenes, maps, polar axes, colour scales this page
# never uses) and Streamlit's theme restyles fonts, colours and backgrounds over it anyway: the page's figures
# carry only the part that shapes a 2-D chart (hover, axis margins, colour-bar ticks, bar outlines).
def _slim_template() -> dict:
    import plotly.io as pio

    full = pio.templates["plotly"].to_plotly_json()
    keep = ("autotypenumbers", "hovermode", "hoverlabel", "xaxis", "yaxis", "title", "shapedefaults", "annotationdefaults")
    data = {kind: [{k: v for k, v in full["data"][kind][0].items() if k != "colorscale"}] for kind in ("heatmap", "bar", "scatter")}
    return {"layout": {k: full["layout"][k] for k in keep if k in full["layout"]}, "data": data}


SLIM_TEMPLATE = _slim_template()


def _image_template(slim: dict) -> dict:
    """The slim template's part a picture without axes reads (its heatmap colour bar, hover): ~0.2 kB instead of
    ~0.9 kB in every picture of a rerun (a new digit sends a dozen). Its axis, bar and scatter defaults style
    ticks, grids, titles and bars that these figures do not draw."""
    keep = ("autotypenumbers", "hovermode", "hoverlabel")
    return {"layout": {k: slim["layout"][k] for k in keep if k in slim["layout"]}, "data": {"heatmap": slim["data"]["heatmap"]}}


IMAGE_TEMPLATE = _image_template(SLIM_TEMPLATE)


_SHORT_TYPES = {"int8": "i1", "uint8": "u1", "int16": "i2", "uint16": "u2", "int32": "i4", "uint32": "u4", "float32": "f4",
                "float64": "f8"}
_LIST_KEYS = ("geojson", "layer", "layers", "range")  # plotly.js reads these as plain lists (Plotly does not encode them)


def _typed(a: np.ndarray):
    """A NumPy array as plotly.js's typed array ({dtype, bdata[, shape]}), as ``plotly``'s own encoder writes it."""
    if a.dtype == np.int64 or a.dtype == np.uint64:
        lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
        a = next((a.astype(t) for t in (np.int8, np.int16, np.int32) if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max), a) \
            if a.dtype == np.int64 else next((a.astype(t) for t in (np.uint8, np.uint16, np.uint32) if hi <= np.iinfo(t).max), a)
    short = _SHORT_TYPES.get(str(a.dtype))
    if short is None or a.size == 0:
        return a.tolist()
    out = {"dtype": short, "bdata": base64.b64encode(np.ascontiguousarray(a)).decode("ascii")}
    if a.ndim > 1:
        out["shape"] = str(a.shape)[1:-1]
    return out


def _plain(value, key: str = ""):
    """Traces and layout (dicts, lists, Plotly objects, NumPy arrays) as JSON-ready data with typed arrays."""
    if isinstance(value, np.ndarray):
        return value.tolist() if key in _LIST_KEYS else _typed(value)
    if isinstance(value, dict):
        return {k: _plain(v, k) for k, v in value.items() if v is not None}  # an unset property, as Plotly leaves it out
    if isinstance(value, (list, tuple)):
        return [_plain(v, key) for v in value]
    if isinstance(value, BasePlotlyType):
        return _plain(value.to_plotly_json())
    if isinstance(value, np.generic):
        return value.item()
    return value


class _View(dict):
    """Read access by attribute to plain figure data, as on a Plotly figure (``fig.data[0].z``,
    ``fig.layout.shapes[0].x0``): typed arrays read back as NumPy, an absent property as None."""

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return _view(self.get(name))


def _view(value):
    if isinstance(value, dict):
        a = from_typed(value)
        if a is not None:
            return a
        return value if isinstance(value, _View) else _View(value)
    if isinstance(value, list):
        return [_view(v) for v in value]
    return value


class Figure(_View):
    """A figure of this page as the plain data plotly.js reads ({"data": [...], "layout": {...}}, arrays as typed
    arrays): what ``builders.spec``, ``ui.figure`` and ``ui.plot`` send as it is. Building a ``go.Figure`` and
    turning it back into data (its constructor, ``to_dict``'s deep copy and array checks) was about half the
    cost of a new digit's figures (~15 of ~28 ms for the dozen of the MNIST page)."""

    def to_plotly_json(self) -> dict:
        return dict(self)

    def to_json(self) -> str:
        return json.dumps(self, separators=(",", ":"))


def _figure(data, layout: dict) -> Figure:
    """The figure of ``data`` (a trace or a list of traces: plain dicts with ``type=...`` or Plotly objects) and
    ``layout`` (a dict) with the slim template (``layout`` may set its own), as plain data; the tests check
    what the figures carry."""
    lay = {"template": SLIM_TEMPLATE, **layout}
    for key, value in lay.items():  # what validation did: plotly.js 3 reads a title only as {"text": ...}
        if key == "title" or key.startswith(("xaxis", "yaxis")):
            title = value if key == "title" else value.get("title") if isinstance(value, dict) else None
            if isinstance(title, str):
                lay[key] = {"text": title} if key == "title" else {**value, "title": {"text": title}}
    traces = [data] if isinstance(data, (dict, BasePlotlyType)) else list(data)
    return Figure(data=_plain(traces), layout=_plain(lay))


def _image_layout(title: str | None, height: int | None, **extra) -> dict:
    """The house square-pixel layout without ticks, plus ``extra`` top-level keys (shapes, annotations, ...)."""
    lay = layout(title, height)
    lay["xaxis"].update(NO_TICKS)
    lay["yaxis"].update(NO_TICKS)
    lay["template"] = IMAGE_TEMPLATE  # no ticks, grid or axis title to style
    lay.update(extra)
    return lay


def _ax(i: int) -> str:
    return "" if i == 0 else str(i + 1)


def _grid_layout(rows: int, cols: int, titles: list[str] | None = None, square: list[bool] | None = None,
                 widths: list[float] | None = None, hspace: float = 0.03, vspace: float = 0.05) -> dict:
    """Axes for a rows×cols grid of panels (what make_subplots does, as a dict): panel i uses axes x{i+1}, y{i+1};
    square panels get the house square-pixel axes (``layout``) without ticks."""
    widths = widths or [1.0] * cols
    total = sum(widths)
    usable_w, usable_h = 1 - hspace * (cols - 1), 1 - vspace * (rows - 1)
    house = layout()
    lay, annotations = {}, []
    for r in range(rows):
        top = min(1.0, max(0.0, 1 - r * (usable_h / rows + vspace)))
        bottom = min(1.0, max(0.0, top - usable_h / rows))
        left = 0.0
        for c in range(cols):
            i = r * cols + c
            right = min(1.0, left + usable_w * widths[c] / total)
            x, y = dict(domain=[left, right], anchor=f"y{_ax(i)}"), dict(domain=[bottom, top], anchor=f"x{_ax(i)}")
            if square[c] if square else True:
                x.update(house["xaxis"], **NO_TICKS)
                y.update(house["yaxis"], **NO_TICKS, scaleanchor=f"x{_ax(i)}")
            lay[f"xaxis{_ax(i)}"], lay[f"yaxis{_ax(i)}"] = x, y
            if titles and i < len(titles) and titles[i]:
                annotations.append(dict(text=titles[i], x=(left + right) / 2, y=top, xref="paper", yref="paper", xanchor="center",
                                        yanchor="bottom", showarrow=False, font=dict(size=12)))
            left = right + hspace
    lay["annotations"] = annotations
    return lay


def _gray_u8(a: np.ndarray) -> np.ndarray:
    """[0, 1] -> 0..255 by ``np.rint`` (halves to even), the levels this page has always shown and tested;
    ``images.to_uint8`` rounds halves up, which would move a few levels of a prepared digit by one."""
    return np.rint(np.clip(np.asarray(a, dtype=np.float32), 0, 1) * 255).astype(np.uint8)


BOX20 = dict(type="rect", x0=3.5, y0=3.5, x1=23.5, y1=23.5, line=dict(color="#f1c40f", width=1, dash="dot"))


def digit_figure(digit: np.ndarray, title: str | None = None, height: int = 300, box20: bool = False) -> Figure:
    """The 28×28 image the network reads (0-255 on hover), optionally with MNIST's central 20×20 box."""
    return _figure(image_trace(np.asarray(digit, dtype=np.float32)), layout=_image_layout(title, height, shapes=[BOX20] if box20 else []))


def preprocessing_figure(prep, height: int = 270, max_side: int = 140) -> Figure:
    """The four stages of ``prep.prepare``: as given, cleaned with the crop box, scaled into 20×20, final 28×28.
    Large pictures are thinned to ``max_side`` for display (hover gives the real row and column)."""
    titles = ["1. as given" + (" (inverted)" if prep.inverted else ""), "2. ink only, cropped",
              f"3. scaled to {prep.boxed.shape[0]}×{prep.boxed.shape[1]}", "4. 28×28, centred"]
    lay = _grid_layout(1, 4, titles, hspace=0.04)
    data = [image_trace(_gray_u8(a), max_side=max_side, xaxis=f"x{_ax(i)}", yaxis=f"y{_ax(i)}")
            for i, a in enumerate([prep.gray, prep.cleaned, prep.boxed, prep.digit])]
    cy, cx = prep.centre_of_mass
    data.append(go.Scatter(x=[cx], y=[cy], xaxis="x4", yaxis="y4", mode="markers", marker=dict(symbol="x", size=9, color="#e74c3c"),
                           showlegend=False, hovertemplate="centre of mass<br>row %{y:.2f}, col %{x:.2f}<extra></extra>"))
    r0, r1, c0, c1 = prep.bbox
    lay["shapes"] = [dict(type="rect", xref="x2", yref="y2", x0=c0 - 0.5, x1=c1 - 0.5, y0=r0 - 0.5, y1=r1 - 0.5,
                          line=dict(color="#f1c40f", width=2)), dict(BOX20, xref="x4", yref="y4")]
    lay.update(height=height, margin=dict(l=5, r=5, t=30, b=5), font=dict(size=12), paper_bgcolor="rgba(0,0,0,0)",
               plot_bgcolor="rgba(0,0,0,0)")
    return _figure(data, layout=lay)


def _pct(values) -> list[str]:
    return [f"{v:.0%}" if v >= 0.01 else "" for v in values]


def probability_figure(probs: np.ndarray, other: np.ndarray | None = None, names: tuple[str, str] = ("shipped", "yours"),
                       height: int = 280) -> Figure:
    """Probability of each digit 0-9 as bars (the winner in red); with ``other``, two models side by side."""
    p = np.asarray(probs, dtype=np.float64)
    digits = [str(d) for d in range(10)]
    if other is None:
        colours = [TOP_COLOUR if d == int(np.argmax(p)) else PROB_COLOUR for d in range(10)]
        data = [dict(type="bar", x=digits, y=p, marker=dict(color=colours), text=_pct(p), textposition="outside", name=names[0],
                     hovertemplate="digit %{x}: %{y:.4f}<extra></extra>")]
    else:
        data = [dict(type="bar", x=digits, y=vals, name=name, marker=dict(color=colour), text=_pct(vals), textposition="outside",
                     hovertemplate=name + " · digit %{x}: %{y:.4f}<extra></extra>")
                for vals, name, colour in ((p, names[0], TOP_COLOUR), (np.asarray(other, dtype=np.float64), names[1], OWN_COLOUR))]
    lay = dict(height=height, margin=dict(l=10, r=10, t=30, b=10), font=FONT, paper_bgcolor="rgba(0,0,0,0)",
               yaxis=dict(range=[0, 1.12], tickformat=".0%", title="probability"), xaxis=dict(title="digit", type="category"))
    if other is not None:
        lay.update(barmode="group", legend=dict(orientation="h", y=1.12, x=0))
    return _figure(data, layout=lay)


def mosaic(maps: np.ndarray, cols: int, gap: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Tile (N, H, W) maps into one array with NaN gaps; also the map index of every cell (-1 in gaps)."""
    maps = np.asarray(maps, dtype=np.float32)
    n, h, w = maps.shape
    cols = max(1, min(cols, n))
    rows = -(-n // cols)
    big = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), np.nan, np.float32)
    idx = np.full(big.shape, -1, np.int32)
    for k in range(n):
        r, c = divmod(k, cols)
        big[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = maps[k]
        idx[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = k
    return big, idx


GRAY = [[0.0, "rgb(0,0,0)"], [1.0, "rgb(255,255,255)"]]  # plotly.js has no "gray" by name (only Python's validation knows it)
# a mosaic's hover grid: about this many real values per layer, spread evenly over every tile; 3×3 a map in every
# layer of the MNIST network (at 256, conv1's 16 maps had 4×4: 5 kB more per new digit); the large map has them all
HOVER_POINTS = 144
PICTURE_LEVELS = 32  # colour levels of a mosaic's PNG: 16 a sign on the diverging scale (the PNG is ~30 % smaller than at 256)


def _hover_points(side: int, per_side: int) -> np.ndarray:
    """The rows (or columns) of a tile that carry a hover value: ``per_side`` evenly spread, all of a smaller map."""
    k = max(1, min(side, per_side))
    return ((np.arange(k) + 0.5) * side / k).astype(int)


def _hover_side(n: int, points: int = HOVER_POINTS) -> int:
    """Sample points a side per map so that ``n`` maps carry about ``points`` values (at least 3 a side)."""
    return max(3, int(np.sqrt(points / max(n, 1))))


def _mosaic_levels(maps: np.ndarray, ncols: int, signed: bool, shared_scale: bool) -> tuple[np.ndarray, float]:
    """The maps as one uint8 picture (1-pixel gaps at the paper colour: white) in ``PICTURE_LEVELS`` bands of 256 levels: signed
    maps as ``builders.signed_levels`` indices of the diverging ramp, the others as gray levels of [0, top];
    one scale for all (``shared_scale``, returned) or each map scaled to its own largest |value| (returns 1)."""
    n = maps.shape[0]
    if shared_scale:
        tops = np.full(n, largest_abs(maps) if signed else max(float(maps.max()), 0.0) or 1.0, np.float32)
    else:
        tops = np.array([largest_abs(m) if signed else max(float(m.max()), 0.0) or 1.0 for m in maps], np.float32)
    scaled = maps / tops[:, None, None]
    levels = signed_levels(scaled, 1.0) if signed else to_uint8(scaled, 0.0, 1.0)  # element by element: all maps at once
    q = 256 // PICTURE_LEVELS
    levels = (levels // q) * q + q // 2  # the middle of each of the PICTURE_LEVELS bands
    big, idx = mosaic(levels.astype(np.float32), ncols)
    gap = 128 if signed else 255  # white on the diverging ramp / on gray
    return np.where(idx < 0, gap, big).astype(np.uint8), float(tops[0]) if shared_scale else 1.0


def mosaic_figure(maps: np.ndarray, cols: int = 8, shared_scale: bool = True, signed: bool = True, title: str | None = None,
                  labels: list[str] | None = None, tile_px: int = 64, highlight: int | None = None,
                  clickable: bool = True, hover_points: int = HOVER_POINTS) -> Figure:
    """Feature maps (N, H, W) as a labelled grid drawn as ONE PNG mosaic: one colour scale for all (``shared_scale``,
    with a colour bar) or each map scaled to its own largest |value|. Over it an invisible heatmap of the true
    values at about ``hover_points`` sample points spread evenly over the maps (at least 3×3 per map; every value of a tiny map): hover gives the
    map number, its row and column, the value (to the ``HOVER_DIGITS`` significant digits it shows, all it sends). With ``clickable`` each tile's number is a point that Streamlit's
    ``on_select`` receives (trace 1, customdata = [map]); otherwise the numbers are written above the tiles.

    Not ``figures.builders.map_grid_figure`` (one subplot per map): a layer's 32 maps drawn that way cost far
    more to build, send and draw, and have no click targets."""
    maps = np.asarray(maps, dtype=np.float32)
    n, h, w = maps.shape
    gap = 1
    ncols = max(1, min(cols, n))
    nrows = -(-n // ncols)
    levels, top = _mosaic_levels(maps, ncols, signed, shared_scale)
    picture = dict(type="image", source=png_uri(levels, ramp(256)) if signed else png_uri(levels), x0=0, dx=1, y0=0, dy=1, hoverinfo="skip")
    per_side = _hover_side(n, hover_points)
    rs, cs = _hover_points(h, per_side), _hover_points(w, per_side)
    tiles = np.full((nrows * ncols, h, w), np.nan, np.float32)
    tiles[:n] = maps
    # (tile row, sample row, tile col, sample col) -> one rectangular grid of sample points
    grid = tiles.reshape(nrows, ncols, h, w)[:, :, rs][:, :, :, cs].transpose(0, 2, 1, 3).reshape(nrows * rs.size, ncols * cs.size)
    k = (np.arange(nrows)[:, None, None, None] * ncols + np.arange(ncols)[None, None, :, None])
    k = np.broadcast_to(k, (nrows, rs.size, ncols, cs.size)).reshape(grid.shape)
    rr = np.broadcast_to(rs[None, :, None, None], (nrows, rs.size, ncols, cs.size)).reshape(grid.shape)
    cc = np.broadcast_to(cs[None, None, None, :], (nrows, rs.size, ncols, cs.size)).reshape(grid.shape)
    ys = (np.arange(nrows)[:, None] * (h + gap) + rs[None, :]).ravel()
    xs = (np.arange(ncols)[:, None] * (w + gap) + cs[None, :]).ravel()
    hover = dict(type="heatmap", z=hover_values(grid), x=xs.astype(np.int16), y=ys.astype(np.int16), customdata=np.stack([k, rr, cc], axis=-1).astype(np.uint8 if max(n, h, w) <= 256 else np.uint16),
                       opacity=0, hoverongaps=False, showscale=shared_scale, zmin=-top if signed else 0.0, zmax=top,
                       colorscale=palette.diverging() if signed else GRAY,
                       colorbar=dict(thickness=12, len=0.8) if shared_scale else None,
                       hovertemplate="map %{customdata[0]}<br>row %{customdata[1]}, col %{customdata[2]}<br>value "
                                     f"%{{z:.{HOVER_DIGITS}g}}<extra></extra>")
    pos = np.array([divmod(i, ncols) for i in range(n)])
    text = labels if labels else [str(i) for i in range(n)]
    data, annotations = [hover, picture], []
    if clickable:
        data.insert(1, dict(
            type="scatter", x=(pos[:, 1] * (w + gap) + w * 0.12).astype(np.float32), y=(pos[:, 0] * (h + gap) + h * 0.12).astype(np.float32),
            mode="markers+text", text=text,
            textfont=dict(size=10, color="#111"), textposition="middle center",
            marker=dict(symbol="square", size=16, color="rgba(255,255,255,0.75)", line=dict(width=0)),
            # the map number: the tile's own label, or (labels given) as customdata
            **(dict(customdata=np.arange(n, dtype=np.uint16)[:, None], hovertemplate="map %{customdata[0]}: click to see it large<extra></extra>")
               if labels else dict(hovertemplate="map %{text}: click to see it large<extra></extra>")), showlegend=False,
            unselected=dict(marker=dict(opacity=1), textfont=dict(color="#111")),
        ))
    else:
        annotations = [dict(x=c * (w + gap) - 0.5, y=r * (h + gap) - 0.5, text=text[i], showarrow=False, xanchor="left",
                            yanchor="bottom", font=dict(size=10, color="#555")) for i, (r, c) in enumerate(pos)]
    shapes = []
    if highlight is not None and 0 <= highlight < n:
        r, c = divmod(highlight, ncols)
        shapes.append(dict(type="rect", x0=c * (w + gap) - 0.5, x1=c * (w + gap) + w - 0.5, y0=r * (h + gap) - 0.5,
                           y1=r * (h + gap) + h - 0.5, line=dict(color="#f1c40f", width=3)))
    height = int(nrows * tile_px * max(1.0, h / w)) + (40 if title else 10) + (0 if clickable else 14)
    lay = _image_layout(title, height, annotations=annotations, shapes=shapes)
    lay["xaxis"]["range"] = [-0.5, levels.shape[1] - 0.5]
    lay["yaxis"].update(range=[levels.shape[0] - 0.5, -0.5], autorange=False)
    return _figure(data, layout=lay)


def layer_figure(layer: str, maps: np.ndarray, shared_scale: bool = True) -> Figure:
    """The maps of one layer of the forward pass (``model.LAYERS``), sized for the page: 16 columns for 32 maps,
    8 for 16; ReLU and pooling outputs (never negative) in gray, the others on the diverging scale."""
    maps = np.asarray(maps, dtype=np.float32)
    n, h = maps.shape[:2]
    wide = n > 16
    tile = {28: 105, 14: 62 if wide else 85, 7: 52}.get(h, 64)
    return mosaic_figure(maps, cols=16 if wide else 8, shared_scale=shared_scale, tile_px=tile,
                         signed=not layer.startswith(("relu", "pool")))


GALLERY_LEVELS = 16  # the gallery is a picker (the chosen digit is shown exactly beside it): 16 grays, 4 bits a pixel
GALLERY_PALETTE = np.repeat(np.rint(np.linspace(0, 255, GALLERY_LEVELS)), 3).reshape(-1, 3).astype(np.uint8)


def gallery_figure(digits: np.ndarray, labels: list[int], selected: int | None = None, per_class: int = 3) -> Figure:
    """The gallery: ``per_class`` digits of each class as columns 0-9 (as ``data.gallery`` orders them);
    click target k (point index and customdata) is gallery position k. The selected one is framed."""
    d = np.asarray(digits, dtype=np.uint8)
    n = d.shape[0]
    order = np.arange(n).reshape(-1, per_class).T.ravel()  # class-major positions -> per_class rows of 10 columns
    cols = n // per_class
    z, _ = mosaic(d[order].astype(np.float32), cols, gap=2)
    slot = np.argsort(order)  # where gallery position k is drawn; the click targets go in position order
    rc = np.array([divmod(int(slot[k]), cols) for k in range(n)])
    levels = np.rint(np.nan_to_num(z, nan=255.0) * (GALLERY_LEVELS - 1) / 255).astype(np.uint8)  # gaps white
    data = [dict(type="image", source=png_uri_few(levels, GALLERY_PALETTE), x0=0, dx=1, y0=0, dy=1, hoverinfo="skip"),
            dict(type="scatter", x=(rc[:, 1] * 30 + 13.5).astype(np.float32), y=(rc[:, 0] * 30 + 13.5).astype(np.float32), mode="markers",
                 customdata=np.arange(n, dtype=np.uint8)[:, None],
                 text=[str(v) for v in labels], marker=dict(symbol="square", size=26, color="rgba(255,255,255,0.01)"),
                 hovertemplate="a held-out %{text}: click to use it<extra></extra>", showlegend=False)]
    shapes = []
    if selected is not None and selected in order:
        r, c = divmod(int(np.flatnonzero(order == selected)[0]), cols)
        shapes.append(dict(type="rect", x0=c * 30 - 1.5, x1=c * 30 + 28.5, y0=r * 30 - 1.5, y1=r * 30 + 28.5,
                           line=dict(color="#c0392b", width=3)))
    return _figure(data, layout=_image_layout(None, 40 + per_class * 80, shapes=shapes))


def vector_figure(values: np.ndarray, title: str | None = None, cols: int = 16, height: int | None = 170) -> Figure:
    """A vector (the 128 fc1 units) as an 8×16 grid of cells: hover gives the unit number and value.
    ``height=None`` sizes it to its rows."""
    v = np.asarray(values, dtype=np.float32).ravel()
    rows = -(-v.size // cols)
    height = 60 + 22 * rows if height is None else height
    z = np.full(rows * cols, np.nan, np.float32)
    z[:v.size] = v  # sent to the digits the hover shows (as big_map_figure)
    heat = signed_map_trace(hover_values(z.reshape(rows, cols)), zmax=float(np.max(np.abs(v))), xgap=1, ygap=1,
                            customdata=np.arange(rows * cols, dtype=np.uint16).reshape(rows, cols))
    heat.update(colorbar=dict(thickness=12), hovertemplate=f"unit %{{customdata}}<br>value %{{z:.{HOVER_DIGITS}g}}<extra></extra>")
    return _figure(heat, layout=_image_layout(title, height))


def logits_figure(logits: np.ndarray, height: int = 240) -> Figure:
    """The 10 logits (fc2 outputs) as signed bars."""
    z = np.asarray(logits, dtype=np.float64).ravel()
    bar = dict(type="bar", x=[str(d) for d in range(10)], y=z, marker=dict(color=np.where(z >= 0, TOP_COLOUR, OWN_COLOUR).tolist()),
               text=[f"{v:.2f}" for v in z], textposition="outside", hovertemplate="digit %{x}: logit %{y:.4f}<extra></extra>")
    return _figure([bar], layout=dict(height=height, margin=dict(l=10, r=10, t=20, b=10), font=FONT, paper_bgcolor="rgba(0,0,0,0)",
                                      xaxis=dict(title="digit", type="category"), yaxis=dict(title="logit", zeroline=True, zerolinecolor="#555")))


def conv2_filters_figure(weight: np.ndarray, highlight_out: int | None = None, tile_px: int = 22,
                         axes: tuple[str, str] = ("input map (pool1 channel)", "output map (conv2 channel)")) -> Figure:
    """All 32×16 conv2 kernels (5×5) as one grid: row = output map, column = input map; one shared scale.
    Any conv layer's weight (out, in, k, k) works; ``axes`` names its input and output maps."""
    wgt = np.asarray(weight, dtype=np.float32)
    n_out, n_in, kh, kw = wgt.shape
    gap = 1
    z = np.full((n_out * (kh + gap) - gap, n_in * (kw + gap) - gap), np.nan, np.float32)
    custom = np.full(z.shape + (3,), 255, np.uint8)
    taps = (np.arange(kh)[:, None] * kw + np.arange(kw)[None, :]).astype(np.uint8)
    for o in range(n_out):
        for i in range(n_in):
            r0, c0 = o * (kh + gap), i * (kw + gap)
            z[r0:r0 + kh, c0:c0 + kw] = wgt[o, i]
            custom[r0:r0 + kh, c0:c0 + kw] = np.stack(np.broadcast_arrays(np.uint8(o), np.uint8(i), taps), axis=-1)
    heat = signed_map_trace(z, zmax=float(np.max(np.abs(wgt))), customdata=custom, hoverongaps=False)
    heat.update(colorbar=dict(thickness=12),
                hovertemplate="output map %{customdata[0]} ← input map %{customdata[1]}<br>tap %{customdata[2]}: %{z:.4g}<extra></extra>")
    shapes = []
    if highlight_out is not None:
        shapes.append(dict(type="rect", x0=-0.5, x1=z.shape[1] - 0.5, y0=highlight_out * (kh + gap) - 0.5,
                           y1=highlight_out * (kh + gap) + kh - 0.5, line=dict(color="#f1c40f", width=2)))
    lay = layout(None, n_out * tile_px * (kh + gap) // 5 + 40)
    lay["xaxis"].update(title=axes[0], tickmode="array", tickvals=[i * (kw + gap) + kw // 2 for i in range(n_in)],
                        ticktext=[str(i) for i in range(n_in)], side="top")
    lay["yaxis"].update(title=axes[1], tickmode="array", tickvals=[o * (kh + gap) + kh // 2 for o in range(n_out)],
                        ticktext=[str(o) for o in range(n_out)])
    lay["shapes"] = shapes
    return _figure(heat, layout=lay)


def figure5(patches: list, fmap: np.ndarray, map_index: int, layer: str = "conv1") -> tuple[Figure, Figure]:
    """The report's Figure 5: for each sampled position, the 5×5 input patch, the kernel, their product
    (element by element) and the activation Σ(product) + bias; then the feature map with the positions marked.
    ``patches`` are ``explain.Patch`` results."""
    n = len(patches)
    titles = []
    for p in patches:
        titles += [f"patch at ({p.row}, {p.col})", "kernel", "patch × kernel", f"activation {p.activation:+.3f}"]
    lay = _grid_layout(n, 4, titles, square=[True, True, True, False], hspace=0.05, vspace=0.25 / max(n, 1))
    amax = max(1e-6, max(abs(p.activation) for p in patches)) * 1.35
    data = []
    for i, p in enumerate(patches):
        a = 4 * i
        data.append(go.Heatmap(z=p.patch, colorscale="gray", zmin=0, zmax=1, showscale=False, xgap=1, ygap=1, xaxis=f"x{_ax(a)}",
                               yaxis=f"y{_ax(a)}", text=fmt.cells(p.patch, 2), texttemplate="%{text}", textfont=dict(size=9),
                               hovertemplate="pixel %{z:.3f}<extra></extra>"))
        data += [signed_map_trace(arr, colorbar=False, xgap=1, ygap=1, xaxis=f"x{_ax(a + j)}", yaxis=f"y{_ax(a + j)}",
                                  text=fmt.cells(arr, 2), texttemplate="%{text}", textfont=dict(size=9))
                 for j, arr in ((1, p.kernel), (2, p.product))]
        act = p.activation
        data.append(go.Bar(x=[0], y=[act], marker_color=TOP_COLOUR if act >= 0 else OWN_COLOUR, width=0.6, text=[f"{act:+.3f}"],
                           textposition="outside", xaxis=f"x{_ax(a + 3)}", yaxis=f"y{_ax(a + 3)}",
                           hovertemplate=f"Σ product = {p.sum:.4f}<br>+ bias {p.bias:.4f}<br>= {act:.4f}<extra></extra>"))
        lay[f"yaxis{_ax(a + 3)}"].update(range=[-amax, amax], zeroline=True, zerolinecolor="#555")
        lay[f"xaxis{_ax(a + 3)}"].update(showticklabels=False, range=[-1, 1])
    lay.update(height=175 * n + 30, margin=dict(l=5, r=5, t=30, b=5), font=dict(size=12), showlegend=False,
               paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)")
    fig = _figure(data, layout=lay)

    marks = [dict(type="rect", x0=p.col - 0.5, x1=p.col + 0.5, y0=p.row - 0.5, y1=p.row + 0.5, line=dict(color="#f1c40f", width=2))
             for p in patches]
    labels = [dict(x=p.col, y=p.row, text=str(i + 1), showarrow=False, yshift=12, font=dict(color="#111", size=12),
                   bgcolor="rgba(241,196,15,0.8)") for i, p in enumerate(patches)]
    title = f"{layer} feature map {map_index} ({fmap.shape[0]}×{fmap.shape[1]}): the sampled positions"
    big = _figure(signed_map_trace(fmap), layout=dict(layout(title, 420),
                                                        shapes=marks, annotations=labels))
    return fig, big


def overlay_figure(digit: np.ndarray, heat: np.ndarray, title: str | None = None, signed: bool = False,
                   height: int = 360) -> Figure:
    """The digit in dimmed gray with a heat map over it: saliency (signed: blue < 0 < red) or Grad-CAM (0-1, hot).
    Values near zero are transparent."""
    h = np.asarray(heat, dtype=np.float32)
    top = float(np.max(np.abs(h))) if signed else float(np.max(h))
    top = top if top > 0 else 1.0
    data = [go.Heatmap(z=np.rint(np.asarray(digit, dtype=np.float32) * 150).astype(np.uint8), colorscale="gray", zmin=0, zmax=255,
                       showscale=False, hoverinfo="skip"),
            go.Heatmap(z=h, colorscale=signed_overlay() if signed else HEAT_OVERLAY, zmin=-top if signed else 0.0, zmax=top,
                       colorbar=dict(thickness=12),
                       hovertemplate="row %{y}, col %{x}<br>" + ("gradient" if signed else "Grad-CAM") + " %{z:.4g}<extra></extra>")]
    return _figure(data, layout=_image_layout(title, height))


def training_figure(history: list, reference_acc: float | None = None, height: int = 300) -> Figure:
    """Loss and accuracy per epoch (training on augmented digits, and held-out), with the shipped model's accuracy as a line."""
    lay = _grid_layout(1, 2, ["loss (cross-entropy)", "accuracy"], square=[False, False], hspace=0.1)
    ep = [h.epoch for h in history]
    series = [("train loss", [h.train_loss for h in history], 0, "#7f8c8d"), ("held-out loss", [h.test_loss for h in history], 0, TOP_COLOUR),
              ("train accuracy", [h.train_acc for h in history], 1, "#7f8c8d"), ("held-out accuracy", [h.test_acc for h in history], 1, TOP_COLOUR)]
    data = [go.Scatter(x=ep, y=ys, name=name, mode="lines+markers", line=dict(color=colour, dash="dot" if "train" in name else "solid"),
                       xaxis=f"x{_ax(ax)}", yaxis=f"y{_ax(ax)}", hovertemplate=name + ", epoch %{x}: %{y:.4f}<extra></extra>")
            for name, ys, ax, colour in series]
    if reference_acc is not None:
        data.append(go.Scatter(x=[min(ep, default=1) - 0.5, max(ep, default=1) + 0.5], y=[reference_acc] * 2, mode="lines", xaxis="x2", yaxis="y2",
                               name=f"shipped network {reference_acc:.1%}", line=dict(color=OWN_COLOUR, dash="dash"),
                               hovertemplate="shipped: %{y:.4f}<extra></extra>"))
    for ax in ("xaxis", "xaxis2"):
        lay[ax].update(title="epoch", dtick=1 if len(ep) <= 20 else None)
    lay["yaxis2"].update(tickformat=".0%")
    lay.update(height=height, margin=dict(l=10, r=10, t=30, b=10), font=dict(size=13), legend=dict(orientation="h", y=-0.3),
               paper_bgcolor="rgba(0,0,0,0)")
    return _figure(data, layout=lay)


def confusion_figure(counts: np.ndarray, title: str | None = None, height: int = 380) -> Figure:
    """A 10×10 confusion matrix (row = true digit, column = answer) with the counts written in the cells;
    the diagonal (right answers) and the mistakes on one count scale. Hover: true, answer, count, share of the row."""
    c = np.asarray(counts, dtype=np.int64)
    share = c / np.maximum(c.sum(axis=1, keepdims=True), 1)
    digits = [str(d) for d in range(10)]
    heat = go.Heatmap(z=np.log1p(c), x=digits, y=digits, colorscale="Blues", showscale=False, xgap=1, ygap=1,
                      customdata=np.stack([c, share], axis=-1), text=c.astype(str), texttemplate="%{text}", textfont=dict(size=11),
                      hovertemplate="true %{y}, answered %{x}<br>%{customdata[0]} digits (%{customdata[1]:.1%} of the %{y}s)<extra></extra>")
    lay = dict(height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10), font=FONT, paper_bgcolor="rgba(0,0,0,0)",
               title=dict(text=title, font=dict(size=14)) if title else None,
               xaxis=dict(title="the network's answer", type="category", side="top" if not title else "bottom", constrain="domain"),
               yaxis=dict(title="true digit", type="category", autorange="reversed", scaleanchor="x"))
    return _figure(heat, layout=lay)


def slim(fig: go.Figure) -> Figure:
    """A figure of ``figures.builders`` as this page's plain data, with its slim template instead of Plotly's full
    one (set in the data: giving it to ``fig.layout.template`` validated it, ~7 ms)."""
    data = builders.spec(fig)
    data.setdefault("layout", {})["template"] = SLIM_TEMPLATE
    return Figure(data)


def big_map_figure(values: np.ndarray, title: str | None = None, height: int = 420) -> Figure:
    """One feature map large, every value on hover (``builders.signed_map_figure``), slim. The values are sent to
    the ``HOVER_DIGITS`` the hover shows (9.6 → 5.5 kB for a 28×28 map); their colours move by under 1/15 of
    one of the 256 levels of the scale, which keeps the unrounded map's largest |value|."""
    return slim(signed_map_figure(hover_values(values), title=title, height=height, zmax=largest_abs(values)))


def kernel_grid_figure(kernel: np.ndarray, title: str | None = None, height: int = 320) -> Figure:
    """A small kernel with its numbers in the cells (``builders.kernel_figure``), slim."""
    return slim(kernel_figure(kernel, title=title, height=height))


def field_figure(digit: np.ndarray, boxes: list, point: tuple[int, int], height: int = 520) -> Figure:
    """Receptive fields drawn on the digit (``pooling.figures.receptive_field_figure``), slim."""
    from cnn_viz.pooling import figures as pooling_figures

    return slim(pooling_figures.receptive_field_figure(digit, boxes, point, height=height))
