"""Plotly figures of the trained-MNIST page: the digit, preprocessing, probabilities, feature maps,
filters, the report's Figure 5, saliency / Grad-CAM overlays and the training curves.

NumPy in, figures out (no torch, no Streamlit), so every builder is testable. Grids of maps are
drawn as one mosaic heatmap with gaps (fast to build and light to send, unlike one subplot per map);
hovering shows which map, the row, the column and the true value.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .plots import DIVERGING, FONT, base_layout, image_figure

PROB_COLOUR, TOP_COLOUR, OWN_COLOUR = "#95a5a6", "#c0392b", "#2471a3"


def cell_text(a: np.ndarray, digits: int = 2) -> np.ndarray:
    """Short numbers to write inside cells ("0" instead of "-0")."""
    a = np.asarray(a, dtype=np.float64) + 0.0
    return np.vectorize(lambda v: f"{v:.{digits}g}")(np.where(np.abs(a) < 5e-4, 0.0, a))


def digit_figure(digit: np.ndarray, title: str | None = None, height: int = 300, box20: bool = False,
                 centre: tuple[float, float] | None = None) -> go.Figure:
    """The 28×28 image the network reads (0-255 on hover), optionally with MNIST's central 20×20 box
    and the centre of mass marked."""
    fig = image_figure(np.asarray(digit, dtype=np.float32), title, height)
    if box20:
        fig.add_shape(type="rect", x0=3.5, y0=3.5, x1=23.5, y1=23.5, line=dict(color="#f1c40f", width=1, dash="dot"))
    if centre is not None:
        fig.add_trace(go.Scatter(x=[centre[1]], y=[centre[0]], mode="markers", marker=dict(symbol="x", size=10, color="#e74c3c"),
                                 hovertemplate="centre of mass<br>row %{y:.2f}, col %{x:.2f}<extra></extra>", showlegend=False))
    _no_ticks(fig)
    return fig


def preprocessing_figure(prep, height: int = 260) -> go.Figure:
    """The four stages of ``digit_prep.prepare``: as given, cleaned with the crop box, scaled into 20×20, final 28×28."""
    cleaned = prep.cleaned
    step = max(1, int(np.ceil(max(cleaned.shape) / 140)))
    titles = ("1. as given" + (" (inverted)" if prep.inverted else ""), "2. ink only, cropped",
              f"3. scaled to {prep.boxed.shape[0]}×{prep.boxed.shape[1]}", "4. 28×28, centred")
    fig = make_subplots(rows=1, cols=4, subplot_titles=titles, horizontal_spacing=0.03)
    shown = [prep.gray[::step, ::step], cleaned[::step, ::step], prep.boxed, prep.digit]
    for i, a in enumerate(shown):
        fig.add_trace(go.Heatmap(z=np.rint(np.asarray(a) * 255).astype(np.uint8), colorscale="gray", zmin=0, zmax=255,
                                 showscale=False, hovertemplate="row %{y}, col %{x}<br>%{z}/255<extra></extra>"), 1, i + 1)
    r0, r1, c0, c1 = prep.bbox
    fig.add_shape(type="rect", x0=c0 / step - 0.5, x1=c1 / step - 0.5, y0=r0 / step - 0.5, y1=r1 / step - 0.5,
                  line=dict(color="#f1c40f", width=2), row=1, col=2)
    fig.add_shape(type="rect", x0=3.5, y0=3.5, x1=23.5, y1=23.5, line=dict(color="#f1c40f", width=1, dash="dot"), row=1, col=4)
    cy, cx = prep.centre_of_mass
    fig.add_trace(go.Scatter(x=[cx], y=[cy], mode="markers", marker=dict(symbol="x", size=9, color="#e74c3c"), showlegend=False,
                             hovertemplate="centre of mass<br>row %{y:.2f}, col %{x:.2f}<extra></extra>"), 1, 4)
    _square_axes(fig, 4)
    fig.update_layout(height=height, margin=dict(l=5, r=5, t=40, b=5), font=dict(size=12))
    fig.update_annotations(font_size=12)
    return fig


def _no_ticks(fig: go.Figure) -> None:
    fig.update_xaxes(showticklabels=False, ticks="", showline=False)
    fig.update_yaxes(showticklabels=False, ticks="", showline=False)


def _square_axes(fig: go.Figure, n: int) -> None:
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, constrain="domain")
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, autorange="reversed", constrain="domain")
    for i in range(n):
        ax = "" if i == 0 else str(i + 1)
        fig.layout[f"yaxis{ax}"].update(scaleanchor=f"x{ax}", scaleratio=1)


def probability_figure(probs: np.ndarray, other: np.ndarray | None = None, names: tuple[str, str] = ("shipped", "yours"),
                       height: int = 280) -> go.Figure:
    """Probability of each digit 0-9 as bars (the winner in red); with ``other``, two models side by side."""
    p = np.asarray(probs, dtype=np.float64)
    digits = [str(d) for d in range(10)]
    fig = go.Figure()
    if other is None:
        colours = [TOP_COLOUR if d == int(np.argmax(p)) else PROB_COLOUR for d in range(10)]
        fig.add_trace(go.Bar(x=digits, y=p, marker_color=colours, text=[f"{v:.0%}" if v >= 0.01 else "" for v in p],
                             textposition="outside", hovertemplate="digit %{x}: %{y:.4f}<extra></extra>", name=names[0]))
    else:
        for vals, name, colour in ((p, names[0], TOP_COLOUR), (np.asarray(other, dtype=np.float64), names[1], OWN_COLOUR)):
            fig.add_trace(go.Bar(x=digits, y=vals, name=name, marker_color=colour, text=[f"{v:.0%}" if v >= 0.01 else "" for v in vals],
                                 textposition="outside", hovertemplate=name + " · digit %{x}: %{y:.4f}<extra></extra>"))
        fig.update_layout(barmode="group", legend=dict(orientation="h", y=1.12, x=0))
    fig.update_yaxes(range=[0, 1.12], tickformat=".0%", title="probability")
    fig.update_xaxes(title="digit", type="category")
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10), font=FONT, paper_bgcolor="rgba(0,0,0,0)")
    return fig


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


def map_grid_figure(maps: np.ndarray, cols: int = 8, shared_scale: bool = True, signed: bool = True, title: str | None = None,
                    labels: list[str] | None = None, tile_px: int = 64, highlight: int | None = None,
                    clickable: bool = True) -> go.Figure:
    """Feature maps (N, H, W) as a labelled grid: one colour scale for all (``shared_scale``) or each
    map scaled to its own largest |value|. Hover: map number, row, column, true value. With
    ``clickable`` each tile's number is a point that Streamlit's ``on_select`` receives (customdata = [map]);
    otherwise the numbers are written above the tiles (better for tiny tiles such as 5×5 kernels)."""
    maps = np.asarray(maps, dtype=np.float32)
    n, h, w = maps.shape
    if shared_scale:
        top = float(np.max(np.abs(maps))) if signed else float(maps.max())
        shown = maps / (top if top > 0 else 1.0)
    else:
        top = np.max(np.abs(maps.reshape(n, -1)), axis=1) if signed else maps.reshape(n, -1).max(axis=1)
        shown = maps / np.where(top > 0, top, 1.0)[:, None, None]
    z, idx = mosaic(shown, cols)
    values, _ = mosaic(maps, cols)
    gap = 1
    rr, cc = np.indices(z.shape)
    custom = np.stack([idx, rr % (h + gap), cc % (w + gap), np.nan_to_num(values)], axis=-1)
    zmin = -1.0 if signed else 0.0
    fig = go.Figure(go.Heatmap(
        z=z, customdata=custom, colorscale=DIVERGING if signed else "gray", zmin=zmin, zmax=1.0,
        zmid=0 if signed else None, showscale=shared_scale, hoverongaps=False,
        colorbar=dict(thickness=12, len=0.8, tickvals=[zmin, 0, 1] if signed else [0, 1],
                      ticktext=[f"{-top:.3g}", "0", f"{top:.3g}"] if signed else ["0", f"{top:.3g}"]) if shared_scale else None,
        hovertemplate="map %{customdata[0]}<br>row %{customdata[1]}, col %{customdata[2]}<br>value %{customdata[3]:.4g}<extra></extra>",
    ))
    ncols = max(1, min(cols, n))
    nrows = -(-n // ncols)
    # Map numbers as clickable markers in each tile's corner (heatmap clicks do not reach Streamlit; scatter points do).
    pos = np.array([divmod(k, ncols) for k in range(n)])
    if not clickable:
        for k, (r, c) in enumerate(pos):
            fig.add_annotation(x=c * (w + gap) - 0.5, y=r * (h + gap) - 0.5, text=labels[k] if labels else str(k), showarrow=False,
                               xanchor="left", yanchor="bottom", font=dict(size=10, color="#555"))
    else:
        fig.add_trace(go.Scatter(
            x=pos[:, 1] * (w + gap) + w * 0.12, y=pos[:, 0] * (h + gap) + h * 0.12, mode="markers+text",
            text=labels if labels else [str(k) for k in range(n)], textfont=dict(size=10, color="#111"), textposition="middle center",
            marker=dict(symbol="square", size=16, color="rgba(255,255,255,0.75)", line=dict(width=0)),
            customdata=np.arange(n)[:, None], hovertemplate="map %{customdata[0]}: click to see it large<extra></extra>", showlegend=False,
        ))
    if highlight is not None and 0 <= highlight < n:
        r, c = divmod(highlight, ncols)
        fig.add_shape(type="rect", x0=c * (w + gap) - 0.5, x1=c * (w + gap) + w - 0.5, y0=r * (h + gap) - 0.5,
                      y1=r * (h + gap) + h - 0.5, line=dict(color="#f1c40f", width=3))
    base_layout(fig, title, height=int(nrows * tile_px * max(1.0, h / w)) + (40 if title else 10) + (0 if clickable else 14))
    _no_ticks(fig)
    return fig


def gallery_figure(digits: np.ndarray, labels: list[int], selected: int | None = None, per_class: int = 3) -> go.Figure:
    """The gallery: ``per_class`` digits of each class as columns 0-9 (as ``mnist.gallery`` orders them);
    a click on a digit returns its position (customdata). The selected one is framed."""
    d = np.asarray(digits, dtype=np.uint8)
    n = d.shape[0]
    order = np.arange(n).reshape(-1, per_class).T.ravel()  # class-major positions -> per_class rows of 10 columns
    cols = n // per_class
    z, _ = mosaic(d[order].astype(np.float32), cols, gap=2)
    fig = go.Figure(go.Heatmap(z=np.nan_to_num(z, nan=255.0), colorscale="gray", zmin=0, zmax=255, showscale=False, hoverinfo="skip"))
    rc = np.array([divmod(i, cols) for i in range(n)])
    fig.add_trace(go.Scatter(
        x=rc[:, 1] * 30 + 13.5, y=rc[:, 0] * 30 + 13.5, mode="markers", customdata=order[:, None],
        text=[str(labels[k]) for k in order], marker=dict(symbol="square", size=26, color="rgba(255,255,255,0.01)"),
        hovertemplate="a held-out %{text}: click to use it<extra></extra>", showlegend=False,
    ))
    if selected is not None and selected in order:
        i = int(np.flatnonzero(order == selected)[0])
        r, c = divmod(i, cols)
        fig.add_shape(type="rect", x0=c * 30 - 1.5, x1=c * 30 + 28.5, y0=r * 30 - 1.5, y1=r * 30 + 28.5, line=dict(color="#c0392b", width=3))
    base_layout(fig, None, height=40 + per_class * 80)
    _no_ticks(fig)
    return fig


def vector_figure(values: np.ndarray, title: str | None = None, cols: int = 16, height: int = 170) -> go.Figure:
    """A vector (the 128 fc1 units) as an 8×16 grid of cells: hover gives the unit number and value."""
    v = np.asarray(values, dtype=np.float32).ravel()
    rows = -(-v.size // cols)
    z = np.full(rows * cols, np.nan, np.float32)
    z[:v.size] = v
    units = np.arange(rows * cols).reshape(rows, cols)
    top = float(np.max(np.abs(v))) or 1.0
    fig = go.Figure(go.Heatmap(z=z.reshape(rows, cols), customdata=units, colorscale=DIVERGING, zmin=-top, zmax=top, zmid=0,
                               xgap=1, ygap=1, colorbar=dict(thickness=12),
                               hovertemplate="unit %{customdata}<br>value %{z:.4g}<extra></extra>"))
    base_layout(fig, title, height)
    _no_ticks(fig)
    return fig


def logits_figure(logits: np.ndarray, height: int = 240) -> go.Figure:
    """The 10 logits (fc2 outputs) as signed bars."""
    z = np.asarray(logits, dtype=np.float64).ravel()
    fig = go.Figure(go.Bar(x=[str(d) for d in range(10)], y=z, marker_color=np.where(z >= 0, "#c0392b", "#2471a3"),
                           text=[f"{v:.2f}" for v in z], textposition="outside", hovertemplate="digit %{x}: logit %{y:.4f}<extra></extra>"))
    fig.update_xaxes(title="digit", type="category")
    fig.update_yaxes(title="logit", zeroline=True, zerolinecolor="#555")
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=20, b=10), font=FONT, paper_bgcolor="rgba(0,0,0,0)")
    return fig


def conv2_filters_figure(weight: np.ndarray, highlight_out: int | None = None, tile_px: int = 22) -> go.Figure:
    """All 32×16 conv2 kernels (5×5) as one grid: row = output map, column = input map; one shared scale."""
    wgt = np.asarray(weight, dtype=np.float32)
    n_out, n_in, kh, kw = wgt.shape
    gap = 1
    z = np.full((n_out * (kh + gap) - gap, n_in * (kw + gap) - gap), np.nan, np.float32)
    custom = np.full(z.shape + (4,), -1.0, np.float32)
    for o in range(n_out):
        for i in range(n_in):
            r0, c0 = o * (kh + gap), i * (kw + gap)
            z[r0:r0 + kh, c0:c0 + kw] = wgt[o, i]
            custom[r0:r0 + kh, c0:c0 + kw, 0] = o
            custom[r0:r0 + kh, c0:c0 + kw, 1] = i
            custom[r0:r0 + kh, c0:c0 + kw, 2] = np.arange(kh)[:, None] * kw + np.arange(kw)[None, :]
            custom[r0:r0 + kh, c0:c0 + kw, 3] = wgt[o, i]
    top = float(np.max(np.abs(wgt))) or 1.0
    fig = go.Figure(go.Heatmap(
        z=z, customdata=custom, colorscale=DIVERGING, zmin=-top, zmax=top, zmid=0, hoverongaps=False, colorbar=dict(thickness=12),
        hovertemplate="output map %{customdata[0]} ← input map %{customdata[1]}<br>tap %{customdata[2]}: %{customdata[3]:.4g}<extra></extra>",
    ))
    if highlight_out is not None:
        fig.add_shape(type="rect", x0=-0.5, x1=z.shape[1] - 0.5, y0=highlight_out * (kh + gap) - 0.5,
                      y1=highlight_out * (kh + gap) + kh - 0.5, line=dict(color="#f1c40f", width=2))
    base_layout(fig, None, height=n_out * tile_px // 1 * (kh + gap) // 5 + 40)
    fig.update_xaxes(title="input map (pool1 channel)", tickmode="array", tickvals=[i * (kw + gap) + 2 for i in range(n_in)],
                     ticktext=[str(i) for i in range(n_in)], side="top")
    fig.update_yaxes(title="output map (conv2 channel)", tickmode="array", tickvals=[o * (kh + gap) + 2 for o in range(n_out)],
                     ticktext=[str(o) for o in range(n_out)])
    return fig


def figure5(patches: list[dict], fmap: np.ndarray, map_index: int) -> tuple[go.Figure, go.Figure]:
    """The report's Figure 5: for each sampled position, the 5×5 input patch, the kernel, their product
    (element by element) and the activation Σ(product) + bias; then the feature map with the positions marked."""
    n = len(patches)
    titles = []
    for i, p in enumerate(patches):
        titles += [f"patch at ({p['row']}, {p['col']})", "kernel", "patch × kernel",
                   f"activation {p['activation']:+.3f}"]
    fig = make_subplots(rows=n, cols=4, subplot_titles=titles, horizontal_spacing=0.04, vertical_spacing=0.06 / max(1, n / 5))
    for i, p in enumerate(patches):
        kmax = float(np.max(np.abs(p["kernel"]))) or 1.0
        prod_max = float(np.max(np.abs(p["product"]))) or 1.0
        fig.add_trace(go.Heatmap(z=p["patch"], colorscale="gray", zmin=0, zmax=1, showscale=False, xgap=1, ygap=1,
                                 text=cell_text(p["patch"], 2), texttemplate="%{text}", textfont=dict(size=9),
                                 hovertemplate="pixel %{z:.3f}<extra></extra>"), i + 1, 1)
        for col, arr, top in ((2, p["kernel"], kmax), (3, p["product"], prod_max)):
            fig.add_trace(go.Heatmap(z=arr, colorscale=DIVERGING, zmin=-top, zmax=top, zmid=0, showscale=False, xgap=1, ygap=1,
                                     text=cell_text(arr, 2), texttemplate="%{text}", textfont=dict(size=9),
                                     hovertemplate="%{z:.4g}<extra></extra>"), i + 1, col)
        a = p["activation"]
        fig.add_trace(go.Bar(x=[0], y=[a], marker_color="#c0392b" if a >= 0 else "#2471a3", width=0.6,
                             text=[f"{a:+.3f}"], textposition="outside",
                             hovertemplate=f"Σ product = {p['sum']:.4f}<br>+ bias {p['bias']:.4f}<br>= {a:.4f}<extra></extra>"), i + 1, 4)
    amax = max(1e-6, max(abs(p["activation"]) for p in patches)) * 1.3
    for i in range(n):
        for c in range(1, 4):
            ax = i * 4 + c
            suffix = "" if ax == 1 else str(ax)
            fig.layout[f"yaxis{suffix}"].update(autorange="reversed", scaleanchor=f"x{suffix}", scaleratio=1, showticklabels=False)
            fig.layout[f"xaxis{suffix}"].update(showticklabels=False, constrain="domain")
        suffix = str(i * 4 + 4)
        fig.layout[f"yaxis{suffix}"].update(range=[-amax, amax], zeroline=True, zerolinecolor="#555")
        fig.layout[f"xaxis{suffix}"].update(showticklabels=False)
    fig.update_layout(height=170 * n + 30, margin=dict(l=5, r=5, t=40, b=5), font=dict(size=12), showlegend=False,
                      paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)")
    fig.update_annotations(font_size=12)

    top = float(np.max(np.abs(fmap))) or 1.0
    big = go.Figure(go.Heatmap(z=np.asarray(fmap, np.float32), colorscale=DIVERGING, zmin=-top, zmax=top, zmid=0,
                               colorbar=dict(thickness=12), hovertemplate="row %{y}, col %{x}<br>value %{z:.4g}<extra></extra>"))
    for i, p in enumerate(patches):
        big.add_shape(type="rect", x0=p["col"] - 0.5, x1=p["col"] + 0.5, y0=p["row"] - 0.5, y1=p["row"] + 0.5,
                      line=dict(color="#f1c40f", width=2))
        big.add_annotation(x=p["col"], y=p["row"], text=str(i + 1), showarrow=False, yshift=12, font=dict(color="#111", size=12),
                           bgcolor="rgba(241,196,15,0.8)")
    base_layout(big, f"conv1 feature map {map_index} (28×28): the sampled positions", height=420)
    return fig, big


# Overlay colour scales fade to transparent at zero, so the digit stays visible where nothing happens.
SIGNED_OVERLAY = [[0.0, "rgba(33,102,172,1)"], [0.35, "rgba(103,169,207,0.75)"], [0.5, "rgba(255,255,255,0)"],
                  [0.65, "rgba(239,138,98,0.75)"], [1.0, "rgba(178,24,43,1)"]]
HEAT_OVERLAY = [[0.0, "rgba(0,0,0,0)"], [0.25, "rgba(120,0,0,0.35)"], [0.55, "rgba(220,40,0,0.65)"],
                [0.8, "rgba(255,160,0,0.8)"], [1.0, "rgba(255,255,120,0.9)"]]


def overlay_figure(digit: np.ndarray, heat: np.ndarray, title: str | None = None, signed: bool = False,
                   height: int = 360) -> go.Figure:
    """The digit in dimmed gray with a heat map over it: saliency (signed: blue < 0 < red) or Grad-CAM (0-1, hot).
    Values near zero are transparent."""
    d = np.asarray(digit, dtype=np.float32)
    h = np.asarray(heat, dtype=np.float32)
    fig = go.Figure(go.Heatmap(z=np.rint(d * 150).astype(np.uint8), colorscale="gray", zmin=0, zmax=255, showscale=False,
                               hoverinfo="skip"))
    top = float(np.max(np.abs(h))) if signed else float(np.max(h))
    top = top if top > 0 else 1.0
    fig.add_trace(go.Heatmap(
        z=h, colorscale=SIGNED_OVERLAY if signed else HEAT_OVERLAY, zmin=-top if signed else 0.0, zmax=top,
        colorbar=dict(thickness=12), hovertemplate="row %{y}, col %{x}<br>" + ("gradient" if signed else "Grad-CAM") + " %{z:.4g}<extra></extra>"))
    base_layout(fig, title, height)
    _no_ticks(fig)
    return fig


def training_figure(history: list, reference_acc: float | None = None, height: int = 300) -> go.Figure:
    """Loss and accuracy per epoch (training on augmented digits, and held-out), with the shipped model's accuracy as a line."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss (cross-entropy)", "accuracy"), horizontal_spacing=0.1)
    ep = [h.epoch for h in history]
    series = [("train loss", [h.train_loss for h in history], 1, "#7f8c8d"), ("held-out loss", [h.test_loss for h in history], 1, TOP_COLOUR),
              ("train accuracy", [h.train_acc for h in history], 2, "#7f8c8d"), ("held-out accuracy", [h.test_acc for h in history], 2, TOP_COLOUR)]
    for name, ys, col, colour in series:
        fig.add_trace(go.Scatter(x=ep, y=ys, name=name, mode="lines+markers", line=dict(color=colour, dash="dot" if "train" in name else "solid"),
                                 hovertemplate=name + ", epoch %{x}: %{y:.4f}<extra></extra>", showlegend=True), 1, col)
    if reference_acc is not None:
        fig.add_hline(y=reference_acc, line=dict(color=OWN_COLOUR, dash="dash"), annotation_text=f"shipped {reference_acc:.1%}",
                      annotation_position="bottom right", row=1, col=2)
    fig.update_xaxes(title="epoch", dtick=1 if len(ep) <= 20 else None)
    fig.update_yaxes(tickformat=".0%", row=1, col=2)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), font=dict(size=13), legend=dict(orientation="h", y=-0.25),
                      paper_bgcolor="rgba(0,0,0,0)")
    return fig
