"""Figures of the ReLU and pooling page: the whole pipeline at one scale, a pooling window
up close, parameter counts, receptive fields and the equivariance lab.

Built on the generic builders of ``cnn_viz.figures.builders`` (same colour conventions: blue < 0 <
red, row 0 at the top, values on hover). Each takes a result of ``stages`` or ``why_cnn``.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnn_viz.common import fmt
from cnn_viz.common.images import to_uint8
from cnn_viz.figures import builders
from cnn_viz.figures.palette import largest_abs, ramp, signed_scale
from cnn_viz.mnist import figures as mnist_figures  # its PNG mosaic and unvalidated figures (no torch there)
from cnn_viz.mnist.figures import GRAY
from cnn_viz.pooling.stages import PoolWindow, Stage, indices_to_rowcol
from cnn_viz.pooling.why_cnn import Equivariance, FieldBox, InvarianceCurve, ParamCurve, PooledShift

LAYER_COLOURS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#1f78b4", "#666666"]


PIPELINE_HOVER = 512  # a large column's hover grid: about this many real values per stage, spread over its maps
PIPELINE_EXACT = 48 * 48  # a column of at most this many shown values stays an exact heatmap (6 bytes a value)


def _column_traces(st: Stage, rows: int, slot: int, step: int, where: dict, exact_cells: int = PIPELINE_EXACT) -> list:
    """All maps of one stage as one column: map r drawn in the vertical slot r (``slot`` pixels tall, a
    multiple of ``step``), shown every ``step`` pixels. A column of at most ``exact_cells`` values is
    one exact heatmap (NaN between the maps, every value on hover); a larger one is ONE PNG of the column
    (white between the maps) under an invisible heatmap of its real values at about ``PIPELINE_HOVER``
    points spread evenly over its maps (first: it gives the hover), as ``builders.signed_map_traces`` draws
    a large map. Hover: the stage, the map, the true row and column, the value."""
    maps = st.maps[:rows, ::step, ::step]
    c, h, w = maps.shape
    per = slot // step
    hover = f"<b>{st.name}</b>, map %{{customdata[0]}}<br>row %{{customdata[1]}}, col %{{x}}<br>value %{{z:.4g}}<extra></extra>"
    index = np.uint8 if max(st.maps.shape[1], rows) < 256 else np.uint16
    gray = st.kind == "input"
    scale = dict(colorscale=GRAY, zmin=0, zmax=1) if gray else signed_scale(largest_abs(st.maps))
    if rows * per * w <= exact_cells:
        z = np.full((rows * per, w), np.nan, dtype=np.float32)
        custom = np.zeros((rows * per, w, 2), dtype=index)
        for r in range(c):
            z[r * per : r * per + h] = maps[r]
            custom[r * per : r * per + h, :, 0] = r + 1
            custom[r * per : r * per + h, :, 1] = (np.arange(h) * step)[:, None]
        y = np.arange(rows * per) * step
        return [dict(type="heatmap", z=z, x=np.arange(w) * step, y=y, customdata=custom, hovertemplate=hover, showscale=False,
                     hoverongaps=False, **scale, **where)]
    levels = to_uint8(maps, 0.0, 1.0) if gray else builders.signed_levels(maps, scale["zmax"])
    picture = np.full((rows * per, w), 255 if gray else 128, dtype=np.uint8)  # white on gray / on the diverging ramp
    for r in range(c):
        picture[r * per : r * per + h] = levels[r]
    image = dict(type="image", source=builders.png_uri(picture, None if gray else ramp(256)), x0=0, dx=step, y0=0, dy=step,
                 hoverinfo="skip", **where)
    k = max(3, int(np.sqrt(PIPELINE_HOVER / c)))
    rs = ((np.arange(min(k, h)) + 0.5) * h / min(k, h)).astype(int)   # sample rows / cols of a shown map
    cs = ((np.arange(min(k, w)) + 0.5) * w / min(k, w)).astype(int)
    z = maps[:, rs][:, :, cs]
    custom = np.zeros((c, rs.size, cs.size, 2), dtype=index)
    custom[:, :, :, 0] = (np.arange(c) + 1)[:, None, None]
    custom[:, :, :, 1] = (rs * step)[None, :, None]
    y = (np.arange(c)[:, None] * slot + rs[None, :] * step).ravel()
    values = dict(type="heatmap", z=z.reshape(c * rs.size, cs.size), x=(cs * step).astype(np.int16), y=y.astype(np.int16),
                  customdata=custom.reshape(c * rs.size, cs.size, 2), hovertemplate=hover, showscale=False,
                  hoverongaps=False, opacity=0, **scale, **where)
    return [values, image]


def pipeline_figure(stages: list[Stage], max_maps: int = 8, max_side: int = 128, cell_px: int | None = None) -> go.Figure:
    """Every stage side by side (columns), its maps stacked (rows), all at the same pixel scale,
    so pooling visibly halves a map; each column's H×W×C written under it. Maps larger than
    ``max_side`` are shown every few pixels (hover still gives true positions)."""
    n = len(stages)
    rows = max(1, min(max_maps, max(s.maps.shape[0] for s in stages)))
    hmax = max(s.maps.shape[1] for s in stages)
    wmax = max(s.maps.shape[2] for s in stages)
    step = max(1, int(np.ceil(max(hmax, wmax) / max_side)))
    slot = -(-(hmax + max(1, hmax // 12)) // step) * step  # a thin gap between maps; a whole number of shown pixels
    gap_x = 0.015
    cell_w = (1 - gap_x * (n - 1)) / n
    traces, layout, notes = [], {}, []
    for c, st in enumerate(stages):
        i = c + 1
        x0 = c * (cell_w + gap_x)
        layout[f"xaxis{i}"] = dict(domain=[x0, x0 + cell_w], anchor=f"y{i}", visible=False, range=[-0.5, wmax - 0.5], constrain="domain")
        layout[f"yaxis{i}"] = dict(domain=[0, 1], anchor=f"x{i}", visible=False, range=[rows * slot - (slot - hmax) - 0.5, -0.5],
                                   scaleanchor=f"x{i}", scaleratio=1, constrain="domain")
        traces += _column_traces(st, rows, slot, step, dict(xaxis=f"x{i}", yaxis=f"y{i}"))
        xc = x0 + cell_w / 2
        notes.append(dict(text=f"<b>{st.name}</b>", x=xc, y=1.0, xref="paper", yref="paper", yanchor="bottom", showarrow=False, font=dict(size=13)))
        notes.append(dict(text=st.shape_text, x=xc, y=0.0, xref="paper", yref="paper", yanchor="top", showarrow=False, font=dict(size=14)))
    cell_px = int(np.clip(720 / rows, 80, 170)) if cell_px is None else cell_px
    lay = builders.layout(height=int(cell_px * rows * min(1.0, 7 / n)) + 70, square=False)
    lay.update(layout, annotations=notes, margin=dict(l=5, r=5, t=30, b=35), font=dict(size=12), showlegend=False)
    return mnist_figures._figure(traces, layout=lay)  # plain dicts, not validated again (~2/3 of the build)


def stage_grid_figure(st: Stage, cols: int = 4, height_per_row: int = 190, hover_points: int = 1024) -> go.Figure:
    """One stage's maps in a grid on one colour scale (the input in gray), labelled: ONE PNG mosaic under real
    values at about ``hover_points`` sample points (``mnist.figures.mosaic_figure``, the MNIST page's layer grid:
    one subplot per map sent every value of every map, 130 kB for four 128² maps)."""
    n = st.maps.shape[0]
    return mnist_figures.mosaic_figure(st.maps, cols=cols, signed=st.kind != "input", labels=list(st.labels[:n]),
                         tile_px=height_per_row - 24, clickable=False, hover_points=hover_points)


def _rect(fig, r0, r1, c0, c1, colour="black", width=3, dash=None, **where):
    fig.add_shape(type="rect", x0=c0 - 0.5, x1=c1 + 0.5, y0=r0 - 0.5, y1=r1 + 0.5,
                  line=dict(color=colour, width=width, dash=dash), fillcolor="rgba(0,0,0,0)", **where)


def pool_input_figure(fmap: np.ndarray, win: PoolWindow, indices: np.ndarray | None = None, height: int = 460,
                      max_markers: int = 20000, size: int = 2, stride: int = 2, padding: int = 0, hover_side: int = 32) -> go.Figure:
    """The map being pooled, the chosen window outlined, and (max pooling) a dot on the winner
    of every window: where each pooled value came from. A large map's values on hover at up to ``hover_side``²
    points (the dots and the pooled map beside it give the winners' positions and values)."""
    fig = builders.signed_map_figure(fmap, height=height, hover_side=hover_side)
    if indices is not None and indices.size <= max_markers:
        rows, cols = indices_to_rowcol(indices, fmap.shape[1])
        ii, jj = np.indices(indices.shape)
        # Only windows with something in them: in an all-zero window (common after ReLU) the
        # "winner" is just its first pixel, and a dot there would be noise.
        keep = np.abs(fmap[rows, cols]) > 0.01 * largest_abs(fmap)
        # compact arrays (a dot per window: 4,096 of them on a 128² map): int16 positions and the window's index as
        # uint16; its value is the pooled map's (float64 customdata with the value was 75 kB of a 128² map's 114 kB)
        fig.add_trace(go.Scatter(
            x=cols[keep].astype(np.int16), y=rows[keep].astype(np.int16), mode="markers", name="argmax",
            marker=dict(symbol="circle", size=float(np.clip(0.35 * 330 / max(fmap.shape), 2, 9)), color="black", line=dict(width=0)),
            customdata=np.stack([ii[keep], jj[keep]], axis=1).astype(np.uint16), hovertemplate="max of window (%{customdata[0]}, %{customdata[1]})<br>at row %{y}, col %{x}<extra></extra>",
        ))
    h, w = fmap.shape
    if stride == size and max(h, w) // size <= 64:
        # Faint lines between the (non-overlapping) windows: one trace of segments (a layout shape per line
        # is validated again on every add_shape: seconds for the 127 lines of a 128² map).
        gx, gy = [], []
        for r in range(-padding + size, h, size):
            gx += [-0.5, w - 0.5, None]
            gy += [r - 0.5, r - 0.5, None]
        for c in range(-padding + size, w, size):
            gx += [c - 0.5, c - 0.5, None]
            gy += [-0.5, h - 0.5, None]
        fig.add_trace(go.Scatter(x=gx, y=gy, mode="lines", line=dict(color="rgba(0,0,0,0.18)", width=1), hoverinfo="skip",
                                 name="window grid"))
    _rect(fig, win.rows[0], win.rows[-1], win.cols[0], win.cols[-1], colour="#111111", width=3)
    if win.winner is not None:
        fig.add_trace(go.Scatter(x=[win.winner[1]], y=[win.winner[0]], mode="markers", name="winner",
                                 marker=dict(symbol="star", size=18, color="gold", line=dict(color="black", width=1.5)),
                                 hovertemplate="the winner: row %{y}, col %{x}<extra></extra>"))
    fig.update_layout(showlegend=False)
    fig.update_xaxes(range=[min(-0.5, win.cols[0] - 0.5), max(fmap.shape[1] - 0.5, win.cols[-1] + 0.5)])
    fig.update_yaxes(range=[max(fmap.shape[0] - 0.5, win.rows[-1] + 0.5), min(-0.5, win.rows[0] - 0.5)])
    return fig


def window_figure(win: PoolWindow, zmax: float | None = None, height: int = 300) -> go.Figure:
    """The window's numbers (a ``kernel_figure`` grid) at their input rows and columns; the winner
    boxed, padding cells marked 'pad'."""
    v = np.nan_to_num(win.values)
    zmax = largest_abs(v) if zmax is None else zmax
    fig = builders.kernel_figure(v, height=height)
    fig.update_traces(z=win.values, x=win.cols, y=win.rows, zmin=-zmax, zmax=zmax,
                      text=np.where(np.isnan(win.values), "pad", fmt.cells(v)), hovertemplate="row %{y}, col %{x}: %{text}<extra></extra>")
    fig.update_xaxes(title_text="input column")
    fig.update_yaxes(title_text="input row")
    if win.winner is not None:
        _rect(fig, win.winner[0], win.winner[0], win.winner[1], win.winner[1], colour="gold", width=5)
    return fig


def pooled_figure(pooled: np.ndarray, pos: tuple[int, int], zmax: float | None = None, height: int = 430) -> go.Figure:
    """The pooled map with the cell the chosen window lands in outlined."""
    fig = builders.signed_map_figure(pooled, height=height, zmax=zmax)
    _rect(fig, pos[0], pos[0], pos[1], pos[1], colour="#111111", width=3)
    return fig


def params_figure(curve: ParamCurve, side: int, channels: int) -> go.Figure:
    """Weights of a dense layer and of a conv layer against the input size (log scale)."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=curve.side, y=curve.dense, mode="lines", name="fully connected",
                             line=dict(color="#c0392b", width=3),
                             hovertemplate=f"%{{x}}×%{{x}}×{channels} input<br>%{{y:,}} weights<extra>dense</extra>"))
    fig.add_trace(go.Scatter(x=curve.side, y=curve.conv, mode="lines", name="convolutional",
                             line=dict(color="#2471a3", width=3),
                             hovertemplate=f"%{{x}}×%{{x}}×{channels} input<br>%{{y:,}} weights<extra>conv</extra>"))
    k = int(np.argmin(np.abs(curve.side - side)))
    fig.add_trace(go.Scatter(x=[curve.side[k]] * 2, y=[curve.dense[k], curve.conv[k]], mode="markers", showlegend=False,
                             marker=dict(size=12, color=["#c0392b", "#2471a3"], line=dict(color="black", width=1)),
                             hovertemplate="%{y:,} weights<extra>your sizes</extra>"))
    builders.base_layout(fig, height=360, square=False)
    fig.update_xaxes(title_text="input side n (an n×n image)", type="log", showgrid=True)
    fig.update_yaxes(title_text="weights (log scale)", type="log", showgrid=True, exponentformat="power", dtick=1)
    fig.update_layout(legend=dict(x=0.02, y=0.98))
    return fig


def receptive_field_figure(img: np.ndarray, boxes: list[FieldBox], point: tuple[int, int], height: int = 520) -> go.Figure:
    """The input with one rectangle per layer: the pixels one unit of that layer can see."""
    fig = builders.image_figure(img, height=height)
    for n, b in enumerate(boxes[1:], start=1):
        colour = LAYER_COLOURS[(n - 1) % len(LAYER_COLOURS)]
        (r0, r1), (c0, c1) = b.rows, b.cols
        fig.add_trace(go.Scatter(
            x=[c0 - 0.5, c1 + 0.5, c1 + 0.5, c0 - 0.5, c0 - 0.5], y=[r0 - 0.5, r0 - 0.5, r1 + 0.5, r1 + 0.5, r0 - 0.5],
            mode="lines", line=dict(color=colour, width=3), name=f"{n}. {b.layer}: {b.size}×{b.size}",
            hovertemplate=f"after layer {n} ({b.layer})<br>unit {b.out_pos} of {b.out_shape[0]}×{b.out_shape[1]}"
                          f"<br>sees {b.size}×{b.size} input pixels<extra></extra>",
        ))
    fig.add_trace(go.Scatter(x=[point[1]], y=[point[0]], mode="markers", name="the point",
                             marker=dict(symbol="x", size=12, color="red", line=dict(width=2)), hoverinfo="skip"))
    fig.update_layout(showlegend=True, legend=dict(orientation="h", y=-0.06, yanchor="top", font=dict(size=12)),
                      margin=dict(l=10, r=10, t=10, b=70))
    return fig


def compare_figure(maps, titles, cols: int = 3, height_per_row: int = 260, hover_side: int = 32) -> go.Figure:
    """Maps side by side on one colour scale (e.g. conv(shift x), shift(conv x), their difference): ONE PNG
    mosaic (``mnist.figures.mosaic_figure``) under real values at up to ``hover_side``² points a map (every
    value of a map up to that size). One subplot per map (``builders.map_grid_figure``) took ~3/4 of an
    equivariance-lab rerun to build."""
    maps = np.stack(maps)
    return mnist_figures.mosaic_figure(maps, cols=cols, labels=list(titles), tile_px=height_per_row - 24, clickable=False,
                                       hover_points=maps.shape[0] * hover_side ** 2)


def equivariance_figure(eq: Equivariance) -> go.Figure:
    return compare_figure(eq.maps, ["conv(shift(x))", "shift(conv(x))", "difference"])


def pooled_shift_figure(ps: PooledShift) -> go.Figure:
    return compare_figure(ps.maps, ["pool(f(x))", "pool(f(shift(x)))", "difference"])


def invariance_figure(curve: InvarianceCurve, pool_name: str) -> go.Figure:
    """How much the feature map and the pooled map change as the input moves 0, 1, ... pixels."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("relative change ‖after − before‖ / ‖before‖",
                                                        "values that did not change at all"), horizontal_spacing=0.12)
    for y, name, colour, dash in ((curve.map_change, "feature map", "#7f8c8d", "dot"), (curve.pooled_change, pool_name, "#c0392b", None)):
        fig.add_trace(go.Scatter(x=curve.shift, y=y, mode="lines+markers", name=name, line=dict(color=colour, width=3, dash=dash),
                                 hovertemplate="shift %{x} px: %{y:.3f}<extra>" + name + "</extra>"), row=1, col=1)
    for y, name, colour, dash in ((curve.map_unchanged, "feature map", "#7f8c8d", "dot"), (curve.pooled_unchanged, pool_name, "#c0392b", None)):
        fig.add_trace(go.Scatter(x=curve.shift, y=100 * np.asarray(y), mode="lines+markers", name=name, showlegend=False,
                                 line=dict(color=colour, width=3, dash=dash),
                                 hovertemplate="shift %{x} px: %{y:.1f}%<extra>" + name + "</extra>"), row=1, col=2)
    fig.update_xaxes(title_text="shift (pixels)", dtick=1)
    fig.update_yaxes(rangemode="tozero", row=1, col=1)
    fig.update_yaxes(range=[0, 105], ticksuffix="%", row=1, col=2)
    builders.base_layout(fig, height=340, square=False)
    fig.update_layout(legend=dict(orientation="h", y=-0.25), margin=dict(t=40, b=10))
    fig.update_annotations(font_size=13)
    return fig
