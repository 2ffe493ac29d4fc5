"""Plotly figure builders shared by the pages (no Streamlit here, so they are testable).

Conventions: images are (H, W) grayscale or (H, W, 3) colour floats in [0, 1]; row 0 is
drawn at the top; pixels are square; hovering shows the row, column and value.
Large arrays are shrunk for display only (``MAX_DISPLAY``) and sent as uint8 or
float32, which keeps the page light on a classroom network.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from cnn_viz.common import fmt
from cnn_viz.common.images import to_uint8
from cnn_viz.figures.palette import FONT, largest_abs, signed_scale

MAX_DISPLAY = 512


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


def image_trace(img: np.ndarray, max_side: int = MAX_DISPLAY, name: str = "value", **kwargs):
    """A heatmap (grayscale) or Image (colour) trace with row/column/value on hover."""
    img = np.asarray(img)
    step = _stride_for(img.shape, max_side)
    shown = img[::step, ::step]
    h, w = shown.shape[:2]
    x = np.arange(w) * step
    y = np.arange(h) * step
    if shown.ndim == 3:
        return go.Image(
            z=to_uint8(shown),
            x0=0,
            dx=step,
            y0=0,
            dy=step,
            hovertemplate="row %{y}, col %{x}<br>RGB %{z[0]}, %{z[1]}, %{z[2]}<extra></extra>",
            **kwargs,
        )
    return go.Heatmap(
        z=to_uint8(shown),
        x=x,
        y=y,
        colorscale="gray",
        zmin=0,
        zmax=255,
        showscale=False,
        hovertemplate="row %{y}, col %{x}<br>" + name + " %{z}/255<extra></extra>",
        **kwargs,
    )


def image_figure(img: np.ndarray, title: str | None = None, height: int | None = None, max_side: int = MAX_DISPLAY) -> go.Figure:
    """An input image, grayscale or colour, pixel values on hover (0-255)."""
    return go.Figure(image_trace(img, max_side=max_side), layout=layout(title, height))


def signed_map_trace(fmap: np.ndarray, max_side: int = MAX_DISPLAY, zmax: float | None = None, colorbar: bool = True, **kwargs):
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


def signed_map_figure(fmap: np.ndarray, title: str | None = None, height: int | None = None, zmax: float | None = None,
                      max_side: int = MAX_DISPLAY) -> go.Figure:
    """A feature map with a diverging scale centred on zero (blue < 0 < red) and a colour bar.

    Maps longer than ``max_side`` are thinned for display only (hover shows the real row and column)."""
    return go.Figure(signed_map_trace(fmap, max_side=max_side, zmax=zmax), layout=layout(title, height))


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
            tr = signed_map_trace(m, zmax=zmax, colorbar=(i == 0 and shared_scale))
        else:
            lo, hi = (float(maps.min()), float(maps.max())) if shared_scale else (float(m.min()), float(m.max()))
            tr = go.Heatmap(z=m, colorscale="gray", zmin=lo, zmax=hi if hi > lo else lo + 1, showscale=False,
                            hovertemplate="row %{y}, col %{x}<br>value %{z:.4g}<extra></extra>")
        fig.add_trace(tr, row=r + 1, col=c + 1)
    square_subplots(fig, n)
    fig.update_layout(height=height_per_row * rows + 30, margin=dict(l=5, r=5, t=30, b=5), font=dict(size=12))
    if titles:
        fig.update_annotations(font_size=12)
    return fig
