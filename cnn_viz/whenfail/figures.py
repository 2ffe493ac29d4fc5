"""The Plotly figures of "When CNNs fail" (no Streamlit; images go out as uint8)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnn_viz.common import text
from cnn_viz.figures.builders import image_trace, layout, number_grid_trace, panel_axes, panels_layout, signed_map_figure
from cnn_viz.figures.palette import FONT, HIGHLIGHT, signed_scale
from cnn_viz.whenfail import lab
from cnn_viz.whenfail.results import DESCENT_LABELS

COLOURS = {"tikhonov": "#1f77b4", "csc_ista": "#9467bd", "cnn": "#d62728", "fc": "#7f7f7f", "lista": "#2ca02c",
           "cnn_mtb": "#ff7f0e", "cnn_tik": "#8c564b", "gd": "#1f77b4", "minibatch": "#d62728", "sgd1": "#2ca02c"}


def _plain(title: str | None, height: int = 340, **extra) -> dict:
    lay = layout(title, height, square=False)
    lay.update(extra)
    return lay


def operator_figure(M: np.ndarray, name: str) -> go.Figure:
    fig = signed_map_figure(M, f"M: {lab.OPERATORS[name]} ({M.shape[0]}×{M.shape[1]})", height=380)
    fig.data[0].hovertemplate = "M[%{y}, %{x}] = %{z:.4g}<extra></extra>"
    return fig


def setup_operator_figure(setup) -> go.Figure:
    """``operator_figure`` of the lab's M for a ``lab.Setup`` (a figure cache keys it on the small setup, not on M)."""
    return operator_figure(lab.operator(setup), setup.operator)


def spectra_figure(n: int, m: int, current: str) -> go.Figure:
    """``singular_values_figure`` of every operator at n (and m rows for the dense one)."""
    return singular_values_figure(lab.spectra(n, m), current)


def singular_values_figure(svals: dict, current: str) -> go.Figure:
    traces = [go.Scatter(y=s, mode="lines", name=lab.OPERATORS[k], line=dict(width=4 if k == current else 1.5, color=COLOURS.get(
        {"blur": "tikhonov", "block": "cnn", "dense": "lista", "permuted": "cnn_mtb"}[k]), dash="dot" if k == "permuted" else None),
        hovertemplate="σ_%{x} = %{y:.3g}<extra>" + text.html(lab.OPERATORS[k]) + "</extra>") for k, s in svals.items()]
    return go.Figure(traces, layout=_plain("Singular values of each M", yaxis=dict(type="log", exponentformat="power", title="σᵢ"),
                                          xaxis=dict(title="i"), legend=dict(orientation="h", y=-0.25)))


def signals_figure(x: np.ndarray, b: np.ndarray, recon: dict, title: str) -> go.Figure:
    """One held-out signal: the truth, the data, and the chosen reconstructions."""
    traces = [go.Scatter(y=x, name="true x", line=dict(color="black", width=3), hovertemplate="x[%{x}] = %{y:.3f}<extra></extra>"),
              go.Scatter(y=b, name="data b", mode="markers", marker=dict(color="#aaaaaa", size=4),
                         hovertemplate="b[%{x}] = %{y:.3f}<extra></extra>")]
    for m, v in recon.items():
        traces.append(go.Scatter(y=v, name=lab.METHODS[m], line=dict(color=COLOURS[m], width=1.8),
                                 hovertemplate="x̂[%{x}] = %{y:.3f}<extra>" + text.html(lab.METHODS[m]) + "</extra>"))
    return go.Figure(traces, layout=_plain(title, 380, xaxis=dict(title="sample"), legend=dict(orientation="h", y=-0.2)))


def example_figure(table, operator: str, k: int) -> go.Figure:
    """Held-out example ``k`` of the table's run on ``operator``: truth, data and every method's reconstruction."""
    return run_example_figure(table.run(operator), k)


def run_example_figure(run, k: int) -> go.Figure:
    """Held-out example ``k`` of one ``OperatorRun`` (what the page's figure cache keys on: not the whole table)."""
    return signals_figure(run.x[k], run.b[k], {m: v[k] for m, v in run.examples.items()},
                          f"One held-out signal under {lab.OPERATORS[run.setup.operator]}")


def table_figure(table) -> go.Figure:
    """Grouped bars: relative error per operator and method (log scale), values on hover."""
    return errors_figure(table.row_labels(), table.errors, table.methods)


def errors_figure(rows: list[str], errors: np.ndarray, methods: tuple) -> go.Figure:
    """``table_figure`` from the table's row labels, error grid and methods alone (small to hash)."""
    traces = [go.Bar(x=rows, y=errors[:, j], name=lab.METHODS[m], marker_color=COLOURS[m],
                     hovertemplate="%{x}<br>" + text.html(lab.METHODS[m]) + ": %{y:.3f}<extra></extra>")
              for j, m in enumerate(methods)]
    return go.Figure(traces, layout=_plain("Held-out relative error ‖x̂ − x‖/‖x‖ (lower is better)", 420, barmode="group",
                                          yaxis=dict(type="log", title="relative error"), legend=dict(orientation="h", y=-0.25)))


# ------------------------------------------------------------------ JPEG
def grid_figure(img: np.ndarray, title: str, block=None) -> go.Figure:
    """The image with JPEG's 8×8 block grid drawn over it (and one block outlined)."""
    h, w = img.shape
    lines_x, lines_y = [], []
    for c in range(0, w + 1, 8):
        lines_x += [c - 0.5, c - 0.5, None]
        lines_y += [-0.5, h - 0.5, None]
    for r in range(0, h + 1, 8):
        lines_x += [-0.5, w - 0.5, None]
        lines_y += [r - 0.5, r - 0.5, None]
    traces = [image_trace(img), go.Scatter(x=lines_x, y=lines_y, mode="lines", line=dict(color="rgba(255,140,0,0.45)", width=1),
                                           hoverinfo="skip", showlegend=False)]
    if block is not None:
        r, c = block
        traces.append(go.Scatter(x=[c * 8 - .5, c * 8 + 7.5, c * 8 + 7.5, c * 8 - .5, c * 8 - .5],
                                 y=[r * 8 - .5, r * 8 - .5, r * 8 + 7.5, r * 8 + 7.5, r * 8 - .5], mode="lines",
                                 line=dict(color=HIGHLIGHT, width=3), hoverinfo="skip", showlegend=False))
    return go.Figure(traces, layout=layout(title, 440))


def block_figure(view) -> go.Figure:
    """The chosen block: pixels, DCT before quantisation, the table, and after quantisation."""
    grids = ((np.round(255 * view.pixels), "pixel (%{y}, %{x}) = %{z}<extra></extra>"),
             (view.before, "F(%{y}, %{x}) = %{z:.1f}<extra></extra>"),
             (view.table, "Q(%{y}, %{x}) = %{z}<extra></extra>"),
             (view.after, "round(F/Q)·Q at (%{y}, %{x}) = %{z}<extra></extra>"))
    traces = [number_grid_trace(g, decimals=0, hovertemplate=hv, **panel_axes(i)) for i, (g, hv) in enumerate(grids)]
    titles = ["pixels (original)", "DCT coefficients", "quantisation table Q", f"after: round(F/Q)·Q ({view.zeroed} zeroed)"]
    return go.Figure(traces, layout=panels_layout(titles, height_per_row=290, hspace=0.03, font_size=11, margin_top=40))


def error_int8(err: np.ndarray) -> np.ndarray:
    """A signed error in [−1, 1] as int8 units of 1/255, clipped at ±127 (sent as 1 byte a pixel, 2.6× less JSON than
    int16; the colour scale ends at ±40 and these errors stay far inside ±127)."""
    return np.clip(np.round(np.asarray(err, dtype=np.float32) * 255), -127, 127).astype(np.int8)


def crops_figure(images: list, titles: list, errors: bool = False) -> go.Figure:
    """Crops side by side (PNG gray), or their signed errors against the truth (int8 heatmaps in units of 1/255, the
    diverging scale of the session's scheme at ±40, every value on hover)."""
    traces = []
    for i, im in enumerate(images):
        if errors:
            traces.append(go.Heatmap(z=error_int8(im), **signed_scale(40), showscale=i == 0,
                                     colorbar=dict(thickness=10, len=0.8, title="×1/255"),
                                     hovertemplate="row %{y}, col %{x}<br>error %{z}/255<extra></extra>", **panel_axes(i)))
        else:
            traces.append(image_trace(im, **panel_axes(i)))
    return go.Figure(traces, layout=panels_layout([text.html(t, 40) for t in titles], height_per_row=260, hspace=0.01,
                                                  title_size=12, font_size=11, margin_top=40))


# ------------------------------------------------------------------ GD against SGD
def shipped_descent_figure(path: str) -> go.Figure:
    """``descent_figure`` of the comparison stored at ``path`` (read only when the figure is built)."""
    from cnn_viz.whenfail.results import Descent

    return descent_figure(Descent.load(path))


def descent_figure(d) -> go.Figure:
    """Training loss and held-out metric against passes and against seconds, one colour per optimiser."""
    fig = make_subplots(rows=2, cols=2, shared_xaxes="columns", vertical_spacing=0.08, horizontal_spacing=0.08,
                        subplot_titles=("training loss vs passes", "training loss vs seconds",
                                        f"{d.metric_name} vs passes", f"{d.metric_name} vs seconds"))
    for c in d.curves:
        name = d.label(c)
        for row, y in ((1, c.loss), (2, c.metric)):
            for col, x in ((1, c.passes), (2, c.seconds)):
                fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=name, legendgroup=c.method,
                                         showlegend=row == 1 and col == 1, line=dict(color=COLOURS[c.method]), marker=dict(size=4),
                                         hovertemplate=("pass %{x:.2f}" if col == 1 else "%{x:.2f} s") + "<br>%{y:.4g}<extra>"
                                         + DESCENT_LABELS[c.method] + "</extra>"), row, col)
    fig.update_yaxes(type="log", row=1)
    fig.update_xaxes(title_text="passes over the training data", row=2, col=1)
    fig.update_xaxes(title_text="training seconds (one thread)", row=2, col=2)
    fig.update_layout(height=560, margin=dict(l=10, r=10, t=40, b=10), font=FONT, legend=dict(orientation="h", y=-0.15),
                      paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)")
    return fig
