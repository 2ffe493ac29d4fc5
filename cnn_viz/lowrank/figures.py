"""Plotly figures of the low-rank page: spectra, error curves, rank strips, ε-rank sweeps,
eigendigits, and the compressed CNN's accuracy curves. No Streamlit; no torch at import (only flops_figure
imports the torch-based compress module, for conv_flops, when it is called)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from cnn_viz.figures import builders
from cnn_viz.figures.palette import HIGHLIGHT
from cnn_viz.lowrank.latent import Sweep, jl_bound

CHANNEL_COLOURS = ("#444444",), ("#d62728", "#2ca02c", "#1f77b4")
KEPT = "#c0392b"
MUTED = "#7f8c8d"
RANDOM = "#8e44ad"
BOUND = HIGHLIGHT


def _axis(title: str, log: bool = False, **kw) -> dict:
    if log:
        kw = {"type": "log", "exponentformat": "power", **kw}
    return dict(title=dict(text=title), showgrid=True, gridcolor="#eee", **kw)


def _layout(title: str | None, height: int, xaxis: dict, yaxis: dict, hovermode: str = "closest", **extra) -> dict:
    """The house layout (``builders.layout``) of a line chart, with its axes, legend and extras, as one dict:
    the figures are built in one go.Figure(data, layout) call, which is much faster than Plotly's update_*
    and add_vline helpers (this matters for the figures redrawn on every slider move)."""
    return dict(builders.layout(title, height, square=False), legend=dict(orientation="h", yanchor="top", y=-0.3, x=0),
                hovermode=hovermode, xaxis=xaxis, yaxis=yaxis, **extra)


def _vline(x: float, colour: str, dash: str | None = None, width: float = 2) -> dict:
    return dict(type="line", xref="x", yref="paper", x0=x, x1=x, y0=0, y1=1, line=dict(color=colour, width=width, dash=dash))


def _hline(y: float, colour: str, dash: str | None = "dash", yref: str = "y") -> dict:
    return dict(type="line", xref="paper", yref=yref, x0=0, x1=1, y0=y, y1=y, line=dict(color=colour, width=1.5, dash=dash))


def _note(text: str, x: float, y: float, xref: str = "x", yref: str = "paper", **kw) -> dict:
    """An annotation; on a log axis give y as log10 of the value (Plotly's convention for annotations)."""
    return dict(text=text, x=x, y=y, xref=xref, yref=yref, showarrow=False, **kw)


def _image_panels(fig: go.Figure, n: int, height: int) -> go.Figure:
    """Side-by-side image panels (``builders.square_subplots``) at this height, with small margins."""
    builders.square_subplots(fig, n)
    fig.update_layout(height=height, margin=dict(l=5, r=5, t=30, b=5), font=dict(size=13), paper_bgcolor="rgba(0,0,0,0)")
    return fig


def spectrum_figure(s: np.ndarray, k: int, title: str | None = None, height: int = 330) -> go.Figure:
    """Singular values σ_i of each channel on a log scale; the kept ones (i ≤ k) left of the red line."""
    s = np.atleast_2d(np.asarray(s, dtype=np.float64))
    colours = CHANNEL_COLOURS[0] if s.shape[0] == 1 else CHANNEL_COLOURS[1]
    names = ["σᵢ"] if s.shape[0] == 1 else ["σᵢ red", "σᵢ green", "σᵢ blue"]
    # x as x0 + i·dx and y as float32: redrawn on every move of k, so half the bytes matter (hover: 4 digits)
    data = [dict(type="scatter", x0=1, dx=1, y=np.where(s[c] > 0, s[c], np.nan).astype(np.float32), mode="lines", name=names[c],
                 line=dict(color=colours[c], width=2), hovertemplate="σ_%{x} = %{y:.4g}<extra>" + names[c] + "</extra>")
            for c in range(s.shape[0])]
    shapes, notes = [], []
    if k >= 1:
        shapes = [dict(type="rect", xref="x", yref="paper", x0=0.5, x1=k + 0.5, y0=0, y1=1, fillcolor=KEPT, opacity=0.08,
                       line_width=0), _vline(k + 0.5, KEPT)]
        notes = [_note(f"k = {k}", k + 0.5, 1, xanchor="left", yanchor="top")]
    layout = _layout(title, height, _axis("index i"), _axis("singular value σᵢ (log scale)", log=True), "x unified",
                     shapes=shapes, annotations=notes)
    return go.Figure(data=data, layout=layout)


def error_curve_figure(ks: np.ndarray, errors: np.ndarray, k: int, eps: float | None = None, k_eps: int | None = None,
                       title: str | None = None, height: int = 330) -> go.Figure:
    """Relative Frobenius error of the best rank-k approximation against k, the target ε and the smallest k meeting it."""
    ks = np.asarray(ks)
    err = np.asarray(errors, dtype=np.float64)
    even = ks.size > 1 and np.all(np.diff(ks) == 1)  # k = k₀, k₀ + 1, …: sent as x0 and dx, not as an array
    xs = dict(x0=int(ks[0]), dx=1) if even else dict(x=ks)
    data = [dict(type="scatter", **xs, y=np.where(err > 0, err, np.nan).astype(np.float32), mode="lines", name="‖A − A_k‖_F / ‖A‖_F",
                 line=dict(color="#2c3e50", width=2), hovertemplate="k = %{x}: error %{y:.4f}<extra></extra>")]
    if 0 <= k < len(err):
        data.append(dict(type="scatter", x=[k], y=[err[k] if err[k] > 0 else np.nan], mode="markers", name=f"your k = {k}",
                         marker=dict(color=KEPT, size=11), hovertemplate="k = %{x}: error %{y:.4f}<extra></extra>"))
    shapes, notes = [], []
    if eps is not None and eps > 0:
        shapes = [_hline(eps, MUTED)]
        notes = [_note(f"ε = {eps:g}", 1, float(np.log10(eps)), xref="paper", yref="y", xanchor="right", yanchor="bottom")]
    if k_eps is not None and k_eps < len(err):
        data.append(dict(type="scatter", x=[k_eps], y=[max(err[k_eps], 1e-12)], mode="markers", name=f"smallest k for ε: {k_eps}",
                         marker=dict(color=BOUND, size=13, symbol="diamond"), hovertemplate="k = %{x}<extra></extra>"))
    layout = _layout(title, height, _axis("rank k"), _axis("relative error (log scale)", log=True), "x unified",
                     shapes=shapes, annotations=notes)
    return go.Figure(data=data, layout=layout)


def strip_figure(items: list[tuple[int, np.ndarray]], max_side: int = 200, height: int = 230) -> go.Figure:
    """Rank-k images side by side, one panel per k (titles 'rank k'), pixel values on hover."""
    n = max(1, len(items))
    fig = make_subplots(rows=1, cols=n, subplot_titles=[f"rank {k}" for k, _ in items], horizontal_spacing=0.01)
    for i, (_, img) in enumerate(items):
        fig.add_trace(builders.image_trace(img, max_side=max_side), row=1, col=i + 1)
    return _image_panels(fig, n, height)


def factors_strip_figure(f, ranks=None) -> go.Figure:
    """``strip_figure`` of the rank-k images of these factors (``svd.strip``): one builder of small inputs, so
    ``ui.figure`` keys it on the factors (hashing them costs ~5 ms against ~100 ms to rebuild six images)."""
    from cnn_viz.lowrank import svd

    return strip_figure(svd.strip(f) if ranks is None else svd.strip(f, ranks))


# ---------------------------------------------------------------- Udell & Townsend


def eps_rank_figure(sweep, show_bound: bool = True, title: str | None = None, height: int = 460) -> go.Figure:
    """ε-rank against n on log–log axes: latent-variable (max-entry and spectral), the fit a + b ln n,
    the random matrix, the full rank n, and the paper's Johnson–Lindenstrauss bound."""
    ns = np.asarray(sweep.ns, dtype=np.float64)
    a, b = sweep.fit()
    grid = np.geomspace(ns.min(), ns.max(), 60)
    data = [dict(type="scatter", x=ns, y=ns, mode="lines", name="n (full rank)", line=dict(color=MUTED, dash="dot"),
                 hovertemplate="n = %{x}<extra>full rank</extra>")]
    rn = [n for n, r in zip(sweep.ns, sweep.random_max) if r is not None]
    rr = [r for r in sweep.random_max if r is not None]
    if rn:
        data.append(dict(type="scatter", x=rn, y=rr, mode="lines+markers", name="random matrix, max-entry ε-rank",
                         line=dict(color=RANDOM, width=2), marker=dict(symbol="square", size=8),
                         hovertemplate="n = %{x}: ε-rank %{y}<extra>random</extra>"))
    data += [
        dict(type="scatter", x=ns, y=sweep.latent_spectral, mode="lines+markers", name="latent model, spectral ε-rank",
             line=dict(color="#16a085", width=2, dash="dash"), marker=dict(size=7),
             hovertemplate="n = %{x}: #{σᵢ > ε σ₁} = %{y}<extra>spectral</extra>"),
        dict(type="scatter", x=ns, y=sweep.latent_max, mode="lines+markers", name="latent model, max-entry ε-rank",
             line=dict(color=KEPT, width=3), marker=dict(size=9), hovertemplate="n = %{x}: ε-rank %{y}<extra>max-entry</extra>"),
        dict(type="scatter", x=grid, y=a + b * np.log(grid), mode="lines", name=f"fit {a:.1f} + {b:.2f}·ln n",
             line=dict(color="#2c3e50", width=1.5, dash="dash"), hovertemplate="n = %{x:.0f}: fit %{y:.1f}<extra></extra>"),
    ]
    if show_bound:
        data.append(dict(type="scatter", x=grid, y=jl_bound(grid, sweep.eps), mode="lines",
                         name="Udell–Townsend bound ⌈72 ln(2n+1)/ε²⌉", line=dict(color=BOUND, width=2),
                         hovertemplate="n = %{x:.0f}: bound %{y:,.0f}<extra></extra>"))
    layout = _layout(title, height, _axis("matrix size n (log scale)", log=True), _axis("rank (log scale)", log=True))
    return go.Figure(data=data, layout=layout)


def sigma_decay_figure(sweep, title: str | None = None, height: int = 360) -> go.Figure:
    """σᵢ/σ₁ of the largest latent-variable matrix and the largest random matrix, with the ε line (i as x0 + k·dx and
    σ as float32, 3 digits on hover: the 4,000 random values were 64 kB as int64 indices and float64 values)."""
    data = []
    if sweep.random_sigma:
        r = np.asarray(sweep.random_sigma)
        data.append(dict(type="scatter", x0=1, dx=1, y=np.where(r > 0, r, np.nan).astype(np.float32), mode="lines",
                         name=f"random, n = {sweep.random_sigma_n}", line=dict(color=RANDOM, width=2),
                         hovertemplate="σ_%{x}/σ₁ = %{y:.3g}<extra>random</extra>"))
    s = np.asarray(sweep.latent_sigma)
    data.append(dict(type="scatter", x0=1, dx=1, y=np.where(s > 1e-17, s, np.nan).astype(np.float32), mode="lines",
                     name=f"latent model, n = {max(sweep.ns)}", line=dict(color=KEPT, width=2),
                     hovertemplate="σ_%{x}/σ₁ = %{y:.3g}<extra>latent</extra>"))
    layout = _layout(title, height, _axis("index i (log scale)", log=True),
                     _axis("σᵢ / σ₁ (log scale)", log=True, range=[-17, 0.3]), shapes=[_hline(sweep.eps, MUTED)],
                     annotations=[_note(f"ε = {sweep.eps:g}", 1, float(np.log10(sweep.eps)), xref="paper", yref="y",
                                        xanchor="right", yanchor="bottom")])
    return go.Figure(data=data, layout=layout)


def packed_eps_rank_figure(packed: str, title: str | None = None) -> go.Figure:
    """``eps_rank_figure`` of a ``Sweep.packed()`` string (quick to hash for a figure cache)."""
    return eps_rank_figure(Sweep.unpack(packed), title=title)


def packed_sigma_decay_figure(packed: str, title: str | None = None) -> go.Figure:
    """``sigma_decay_figure`` of a ``Sweep.packed()`` string."""
    return sigma_decay_figure(Sweep.unpack(packed), title)


def matrix_pair_figure(latent: np.ndarray, random: np.ndarray, height: int = 330) -> go.Figure:
    """The latent-variable matrix beside a random one of the same size, each on the sequential scale over its
    own range: PNG pictures of 64 colours with the real entries on hover at 29 × 29 sample points
    (``builders.sequential_map_traces``: ~90 kB, where two 200 × 200 float heatmaps were ~430 kB)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("X_ij = f(a_i, b_j)", "independent random entries"),
                        horizontal_spacing=0.04)
    for c, m in enumerate((latent, random)):
        for tr in builders.sequential_map_traces(m, hover_side=32, levels=64,
                                                 hovertemplate="row %{y}, col %{x}: %{z:.3f}<extra></extra>"):
            fig.add_trace(tr, row=1, col=c + 1)
    return _image_panels(fig, 2, height)


# ---------------------------------------------------------------- eigendigits


def eigendigits_figure(components: np.ndarray, ratios: np.ndarray, cols: int = 8) -> go.Figure:
    """Principal directions of the digits as 28 × 28 images (blue < 0 < red), with their share of the variance."""
    comps = np.asarray(components).reshape(-1, 28, 28)
    titles = [f"PC{i + 1}: {100 * r:.1f}%" for i, r in enumerate(ratios)]
    return builders.map_grid_figure(comps, titles=titles, cols=cols, signed=True, shared_scale=False, height_per_row=150)


def explained_variance_figure(ratios: np.ndarray, k: int | None = None, height: int = 330) -> go.Figure:
    """Share of the variance per principal component (bars, left axis) and cumulated (line, right axis)."""
    r = np.asarray(ratios, dtype=np.float64)
    i = np.arange(1, len(r) + 1)
    data = [dict(type="bar", x=i, y=100 * r, name="per component", marker_color="#95a5a6",
                 hovertemplate="PC%{x}: %{y:.2f}%<extra></extra>"),
            dict(type="scatter", x=i, y=100 * np.cumsum(r), name="cumulative", yaxis="y2", line=dict(color=KEPT, width=2),
                 hovertemplate="first %{x}: %{y:.1f}%<extra></extra>")]
    layout = _layout(None, height, _axis("principal component"), _axis("% of variance"),
                     yaxis2=dict(title=dict(text="cumulative %"), overlaying="y", side="right", range=[0, 101], showgrid=False,
                                 tickvals=[0, 20, 40, 60, 80, 100]),
                     shapes=[_vline(k + 0.5, KEPT, "dash")] if k else [],
                     annotations=[_note(f"k = {k}", k + 0.5, 1, xanchor="left", yanchor="top")] if k else [])
    return go.Figure(data=data, layout=layout)


def digit_pair_figure(original: np.ndarray, approx: np.ndarray, k: int, height: int = 230) -> go.Figure:
    """A digit and its reconstruction from the mean plus k principal components."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("digit", f"mean + {k} components"), horizontal_spacing=0.05)
    for c, img in enumerate((original, np.clip(approx, 0, 1))):
        fig.add_trace(builders.image_trace(np.asarray(img).reshape(28, 28)), row=1, col=c + 1)
    return _image_panels(fig, 2, height)


# ---------------------------------------------------------------- the CNN


def accuracy_rank_figure(sweep, k: int | None = None, points: float = 0.5, title: str | None = None, height: int = 380,
                         zoom: float = 8.0) -> go.Figure:
    """Held-out accuracy (left axis, the top ``zoom`` points of it: lower ranks enter from below) and the
    layer's parameter count (right axis) against the rank k on a log axis, with the full model's accuracy,
    the ``points`` band under it and the smallest k inside the band."""
    data = [dict(type="scatter", x=sweep.ranks, y=sweep.accuracy, mode="lines+markers", name="accuracy at rank k",
                 line=dict(color=KEPT, width=2), marker=dict(size=5), hovertemplate="k = %{x}: %{y:.1f}%<extra></extra>"),
            dict(type="scatter", x=sweep.ranks, y=sweep.layer_params, mode="lines", name=f"{sweep.layer} parameters", yaxis="y2",
                 line=dict(color="#2980b9", width=2, dash="dot"), hovertemplate="k = %{x}: %{y:,} parameters<extra></extra>")]
    kmin = sweep.smallest_within(points)
    if kmin is not None:
        i = int(np.flatnonzero(sweep.ranks == kmin)[0])
        data.append(dict(type="scatter", x=[kmin], y=[sweep.accuracy[i]], mode="markers",
                         name=f"smallest k within {points} points: {kmin}", marker=dict(color=BOUND, size=14, symbol="diamond"),
                         hovertemplate="k = %{x}: %{y:.1f}%<extra></extra>"))
    shapes = [dict(type="rect", xref="paper", yref="y", x0=0, x1=1, y0=sweep.full_accuracy - points, y1=sweep.full_accuracy,
                   fillcolor="#2ecc71", opacity=0.15, line_width=0), _hline(sweep.full_accuracy, MUTED)]
    if k is not None:
        shapes.append(_vline(k, "#2c3e50", width=1.5))
    top = sweep.full_accuracy
    layout = _layout(title, height, _axis("rank k (log scale)", log=True, exponentformat="none"),
                     _axis("held-out accuracy (%)", range=[top - zoom, min(100.0, top + 1.0) + 0.2]),
                     yaxis2=dict(title=dict(text="parameters of the layer"), overlaying="y", side="right", showgrid=False,
                                 rangemode="tozero"),
                     shapes=shapes,
                     annotations=[_note(f"full {sweep.full_accuracy:.1f}%", 1, sweep.full_accuracy, xref="paper", yref="y",
                                        xanchor="right", yanchor="top")])
    return go.Figure(data=data, layout=layout)


def weight_spectrum_figure(sweeps, height: int = 330) -> go.Figure:
    """Singular values of the trained weight matrices (fc1: 128 × 1568, conv2: 32 × 400), each divided by its largest."""
    data = []
    for sw, colour in zip(sweeps, (KEPT, "#2980b9")):
        s = np.asarray(sw.singular_values)
        data.append(dict(type="scatter", x=np.arange(1, len(s) + 1), y=s / s[0], mode="lines+markers", name=sw.layer,
                         line=dict(color=colour, width=2), marker=dict(size=4),
                         hovertemplate="σ_%{x}/σ₁ = %{y:.3f}<extra>" + sw.layer + "</extra>"))
    return go.Figure(data=data, layout=_layout(None, height, _axis("index i"), _axis("σᵢ / σ₁", range=[0, 1.05])))


def flops_figure(sizes, h: int, w: int, height: int = 330) -> go.Figure:
    """Multiply-adds of a full kh × kw convolution against the separable column + row passes."""
    from cnn_viz.lowrank.compress import conv_flops

    sizes = list(sizes)
    labels = [f"{s}×{s}" for s in sizes]
    data = [dict(type="bar", x=labels, y=[conv_flops(h, w, s, s, separable=False) for s in sizes],
                 name="full kernel: kh·kw per pixel", marker_color="#95a5a6",
                 hovertemplate="%{x}: %{y:,} multiply-adds<extra>full</extra>"),
            dict(type="bar", x=labels, y=[conv_flops(h, w, s, s, separable=True) for s in sizes],
                 name="separable: kh + kw per pixel", marker_color=KEPT,
                 hovertemplate="%{x}: %{y:,} multiply-adds<extra>separable</extra>")]
    return go.Figure(data=data, layout=_layout(None, height, _axis(f"kernel size (image {h}×{w})"), _axis("multiply-adds"),
                                               barmode="group"))
