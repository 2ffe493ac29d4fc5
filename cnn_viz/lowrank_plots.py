"""Plotly figures of the low-rank page: spectra, error curves, rank strips, ε-rank sweeps,
eigendigits, and the compressed CNN's accuracy curves. No Streamlit, no torch here."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from . import plots
from .images import to_uint8
from .latent import jl_bound

CHANNEL_COLOURS = ("#444444",), ("#d62728", "#2ca02c", "#1f77b4")
KEPT = "#c0392b"
MUTED = "#7f8c8d"
RANDOM = "#8e44ad"
BOUND = "#e67e22"


def _lines(fig: go.Figure, title: str | None, height: int, xtitle: str, ytitle: str) -> go.Figure:
    fig.update_layout(
        title=dict(text=title, x=0.02, font=dict(size=16)) if title else None,
        height=height, margin=dict(l=10, r=10, t=40 if title else 10, b=10), font=plots.FONT,
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0), hovermode="x unified",
        paper_bgcolor="rgba(0,0,0,0)",
    )
    fig.update_xaxes(title_text=xtitle, showgrid=True, gridcolor="#eee")
    fig.update_yaxes(title_text=ytitle, showgrid=True, gridcolor="#eee")
    return fig


def _image_panels(fig: go.Figure, n: int, height: int) -> go.Figure:
    """Side-by-side image panels: no ticks, row 0 on top, square pixels in every panel."""
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False, constrain="domain")
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, autorange="reversed", constrain="domain")
    for i in range(n):
        ax = "" if i == 0 else str(i + 1)
        fig.layout[f"yaxis{ax}"].update(scaleanchor=f"x{ax}", scaleratio=1)
    fig.update_layout(height=height, margin=dict(l=5, r=5, t=30, b=5), font=dict(size=13), paper_bgcolor="rgba(0,0,0,0)")
    return fig


def spectrum_figure(s: np.ndarray, k: int, title: str | None = None, height: int = 330) -> go.Figure:
    """Singular values σ_i of each channel on a log scale; the kept ones (i ≤ k) left of the red line."""
    s = np.atleast_2d(np.asarray(s, dtype=np.float64))
    colours = CHANNEL_COLOURS[0] if s.shape[0] == 1 else CHANNEL_COLOURS[1]
    names = ["σᵢ"] if s.shape[0] == 1 else ["σᵢ red", "σᵢ green", "σᵢ blue"]
    fig = go.Figure()
    i = np.arange(1, s.shape[1] + 1)
    for c in range(s.shape[0]):
        pos = np.where(s[c] > 0, s[c], np.nan)
        fig.add_trace(go.Scatter(x=i, y=pos, mode="lines", name=names[c], line=dict(color=colours[c], width=2),
                                 hovertemplate="σ_%{x} = %{y:.4g}<extra>" + names[c] + "</extra>"))
    if k >= 1:
        fig.add_vrect(x0=0.5, x1=k + 0.5, fillcolor=KEPT, opacity=0.08, line_width=0)
        fig.add_vline(x=k + 0.5, line=dict(color=KEPT, width=2), annotation_text=f"k = {k}", annotation_position="top right")
    _lines(fig, title, height, "index i", "singular value σᵢ (log scale)")
    fig.update_yaxes(type="log")
    return fig


def error_curve_figure(ks: np.ndarray, errors: np.ndarray, k: int, eps: float | None = None, k_eps: int | None = None,
                       title: str | None = None, height: int = 330) -> go.Figure:
    """Relative Frobenius error of the best rank-k approximation against k, the target ε and the smallest k meeting it."""
    ks = np.asarray(ks)
    err = np.asarray(errors, dtype=np.float64)
    fig = go.Figure(go.Scatter(x=ks, y=np.where(err > 0, err, np.nan), mode="lines", name="‖A − A_k‖_F / ‖A‖_F",
                               line=dict(color="#2c3e50", width=2), hovertemplate="k = %{x}: error %{y:.4f}<extra></extra>"))
    if 0 <= k < len(err):
        fig.add_trace(go.Scatter(x=[k], y=[err[k] if err[k] > 0 else np.nan], mode="markers", name=f"your k = {k}",
                                 marker=dict(color=KEPT, size=11), hovertemplate="k = %{x}: error %{y:.4f}<extra></extra>"))
    if eps is not None and eps > 0:
        fig.add_hline(y=eps, line=dict(color=MUTED, dash="dash"), annotation_text=f"ε = {eps:g}", annotation_position="top right")
    if k_eps is not None and k_eps < len(err):
        fig.add_trace(go.Scatter(x=[k_eps], y=[max(err[k_eps], 1e-12)], mode="markers", name=f"smallest k for ε: {k_eps}",
                                 marker=dict(color=BOUND, size=13, symbol="diamond"), hovertemplate="k = %{x}<extra></extra>"))
    _lines(fig, title, height, "rank k", "relative error (log scale)")
    fig.update_yaxes(type="log")
    return fig


def strip_figure(items: list[tuple[int, np.ndarray]], max_side: int = 200, height: int = 230) -> go.Figure:
    """Rank-k images side by side, one panel per k (titles 'k = …'), pixel values on hover."""
    n = max(1, len(items))
    fig = make_subplots(rows=1, cols=n, subplot_titles=[f"rank {k}" for k, _ in items], horizontal_spacing=0.01)
    for i, (_, img) in enumerate(items):
        fig.add_trace(plots.image_trace(img, max_side=max_side), row=1, col=i + 1)
    return _image_panels(fig, n, height)


def error_image(img: np.ndarray, approx: np.ndarray) -> np.ndarray:
    """A − A_k (channel mean for colour): what the rank-k image leaves out."""
    e = np.asarray(img, dtype=np.float32) - np.asarray(approx, dtype=np.float32)
    return e.mean(axis=2) if e.ndim == 3 else e


# ---------------------------------------------------------------- Udell & Townsend


def eps_rank_figure(sweep, show_bound: bool = True, title: str | None = None, height: int = 460) -> go.Figure:
    """ε-rank against n on log–log axes: latent-variable (max-entry and spectral), the fit a + b ln n,
    the random matrix, the full rank n, and the paper's Johnson–Lindenstrauss bound."""
    ns = np.asarray(sweep.ns, dtype=np.float64)
    a, b = sweep.fit()
    grid = np.geomspace(ns.min(), ns.max(), 60)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=ns, y=ns, mode="lines", name="n (full rank)", line=dict(color=MUTED, dash="dot"),
                             hovertemplate="n = %{x}<extra>full rank</extra>"))
    rn = [n for n, r in zip(sweep.ns, sweep.random_max) if r is not None]
    rr = [r for r in sweep.random_max if r is not None]
    if rn:
        fig.add_trace(go.Scatter(x=rn, y=rr, mode="lines+markers", name="random matrix, max-entry ε-rank",
                                 line=dict(color=RANDOM, width=2), marker=dict(symbol="square", size=8),
                                 hovertemplate="n = %{x}: ε-rank %{y}<extra>random</extra>"))
    fig.add_trace(go.Scatter(x=ns, y=sweep.latent_spectral, mode="lines+markers", name="latent model, spectral ε-rank",
                             line=dict(color="#16a085", width=2, dash="dash"), marker=dict(size=7),
                             hovertemplate="n = %{x}: #{σᵢ > ε σ₁} = %{y}<extra>spectral</extra>"))
    fig.add_trace(go.Scatter(x=ns, y=sweep.latent_max, mode="lines+markers", name="latent model, max-entry ε-rank",
                             line=dict(color=KEPT, width=3), marker=dict(size=9),
                             hovertemplate="n = %{x}: ε-rank %{y}<extra>max-entry</extra>"))
    fig.add_trace(go.Scatter(x=grid, y=a + b * np.log(grid), mode="lines", name=f"fit {a:.1f} + {b:.2f}·ln n",
                             line=dict(color="#2c3e50", width=1.5, dash="dash"),
                             hovertemplate="n = %{x:.0f}: fit %{y:.1f}<extra></extra>"))
    if show_bound:
        fig.add_trace(go.Scatter(x=grid, y=jl_bound(grid, sweep.eps), mode="lines",
                                 name="Udell–Townsend bound ⌈72 ln(2n+1)/ε²⌉", line=dict(color=BOUND, width=2),
                                 hovertemplate="n = %{x:.0f}: bound %{y:,.0f}<extra></extra>"))
    _lines(fig, title, height, "matrix size n (log scale)", "rank (log scale)")
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    fig.update_layout(hovermode="closest")
    return fig


def sigma_decay_figure(sweep, title: str | None = None, height: int = 360) -> go.Figure:
    """σᵢ/σ₁ of the largest latent-variable matrix and the largest random matrix, with the ε line."""
    fig = go.Figure()
    if sweep.random_sigma:
        r = np.asarray(sweep.random_sigma)
        fig.add_trace(go.Scatter(x=np.arange(1, len(r) + 1), y=np.where(r > 0, r, np.nan), mode="lines",
                                 name=f"random, n = {sweep.random_sigma_n}", line=dict(color=RANDOM, width=2),
                                 hovertemplate="σ_%{x}/σ₁ = %{y:.3g}<extra>random</extra>"))
    s = np.asarray(sweep.latent_sigma)
    fig.add_trace(go.Scatter(x=np.arange(1, len(s) + 1), y=np.where(s > 1e-17, s, np.nan), mode="lines",
                             name=f"latent model, n = {max(sweep.ns)}", line=dict(color=KEPT, width=2),
                             hovertemplate="σ_%{x}/σ₁ = %{y:.3g}<extra>latent</extra>"))
    fig.add_hline(y=sweep.eps, line=dict(color=MUTED, dash="dash"), annotation_text=f"ε = {sweep.eps:g}")
    _lines(fig, title, height, "index i (log scale)", "σᵢ / σ₁ (log scale)")
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log", range=[-17, 0.3])
    fig.update_layout(hovermode="closest")
    return fig


def matrix_pair_figure(latent: np.ndarray, random: np.ndarray, height: int = 330) -> go.Figure:
    """The latent-variable matrix beside a random one of the same size (entries on hover)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("X_ij = f(a_i, b_j)", "independent random entries"),
                        horizontal_spacing=0.04)
    for c, m in enumerate((latent, random)):
        m = np.asarray(m, dtype=np.float32)
        fig.add_trace(go.Heatmap(z=m, colorscale="Viridis", showscale=False,
                                 hovertemplate="row %{y}, col %{x}: %{z:.3f}<extra></extra>"), row=1, col=c + 1)
    return _image_panels(fig, 2, height)


# ---------------------------------------------------------------- eigendigits


def eigendigits_figure(components: np.ndarray, ratios: np.ndarray, cols: int = 8) -> go.Figure:
    """Principal directions of the digits as 28 × 28 images (blue < 0 < red), with their share of the variance."""
    comps = np.asarray(components).reshape(-1, 28, 28)
    titles = [f"PC{i + 1}: {100 * r:.1f}%" for i, r in enumerate(ratios)]
    return plots.map_grid_figure(comps, titles=titles, cols=cols, signed=True, shared_scale=False, height_per_row=150)


def explained_variance_figure(ratios: np.ndarray, k: int | None = None, height: int = 330) -> go.Figure:
    """Share of the variance per principal component (bars) and cumulated (line)."""
    r = np.asarray(ratios, dtype=np.float64)
    i = np.arange(1, len(r) + 1)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=i, y=100 * r, name="per component", marker_color="#95a5a6",
                         hovertemplate="PC%{x}: %{y:.2f}%<extra></extra>"), secondary_y=False)
    fig.add_trace(go.Scatter(x=i, y=100 * np.cumsum(r), name="cumulative", line=dict(color=KEPT, width=2),
                             hovertemplate="first %{x}: %{y:.1f}%<extra></extra>"), secondary_y=True)
    if k:
        fig.add_vline(x=k + 0.5, line=dict(color=KEPT, dash="dash"), annotation_text=f"k = {k}")
    _lines(fig, None, height, "principal component", "")
    fig.update_yaxes(title_text="% of variance", secondary_y=False)
    fig.update_yaxes(title_text="cumulative %", range=[0, 101], secondary_y=True, showgrid=False)
    return fig


def digit_pair_figure(original: np.ndarray, approx: np.ndarray, k: int, height: int = 230) -> go.Figure:
    """A digit and its reconstruction from the mean plus k principal components."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("digit", f"mean + {k} components"), horizontal_spacing=0.05)
    for c, img in enumerate((original, np.clip(approx, 0, 1))):
        fig.add_trace(go.Heatmap(z=to_uint8(np.asarray(img).reshape(28, 28)), colorscale="gray", zmin=0, zmax=255,
                                 showscale=False, hovertemplate="row %{y}, col %{x}: %{z}/255<extra></extra>"), row=1, col=c + 1)
    return _image_panels(fig, 2, height)


# ---------------------------------------------------------------- the CNN


def accuracy_rank_figure(sweep, k: int | None = None, points: float = 0.5, title: str | None = None, height: int = 380) -> go.Figure:
    """Held-out accuracy (left axis) and the layer's parameter count (right axis) against the rank k,
    with the full model's accuracy, the ``points`` band under it and the smallest k inside the band."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Scatter(x=sweep.ranks, y=sweep.accuracy, mode="lines+markers", name="accuracy at rank k",
                             line=dict(color=KEPT, width=2), marker=dict(size=5),
                             hovertemplate="k = %{x}: %{y:.1f}%<extra></extra>"), secondary_y=False)
    fig.add_trace(go.Scatter(x=sweep.ranks, y=sweep.layer_params, mode="lines", name=f"{sweep.layer} parameters",
                             line=dict(color="#2980b9", width=2, dash="dot"),
                             hovertemplate="k = %{x}: %{y:,} parameters<extra></extra>"), secondary_y=True)
    fig.add_hline(y=sweep.full_accuracy, line=dict(color=MUTED, dash="dash"),
                  annotation_text=f"full {sweep.full_accuracy:.1f}%", annotation_position="bottom right")
    fig.add_hrect(y0=sweep.full_accuracy - points, y1=sweep.full_accuracy, fillcolor="#2ecc71", opacity=0.15, line_width=0)
    kmin = sweep.smallest_within(points)
    if kmin is not None:
        i = int(np.flatnonzero(sweep.ranks == kmin)[0])
        fig.add_trace(go.Scatter(x=[kmin], y=[sweep.accuracy[i]], mode="markers", name=f"smallest k within {points} points: {kmin}",
                                 marker=dict(color=BOUND, size=14, symbol="diamond"),
                                 hovertemplate="k = %{x}: %{y:.1f}%<extra></extra>"), secondary_y=False)
    if k is not None:
        fig.add_vline(x=k, line=dict(color="#2c3e50", width=1.5))
    _lines(fig, title, height, "rank k", "")
    fig.update_yaxes(title_text="held-out accuracy (%)", secondary_y=False)
    fig.update_yaxes(title_text="parameters of the layer", secondary_y=True, showgrid=False, rangemode="tozero")
    fig.update_layout(hovermode="closest")
    return fig


def weight_spectrum_figure(sweeps, height: int = 330) -> go.Figure:
    """Singular values of the trained weight matrices (fc1: 128 × 1568, conv2: 32 × 400), each divided by its largest."""
    fig = go.Figure()
    for sw, colour in zip(sweeps, (KEPT, "#2980b9")):
        s = np.asarray(sw.singular_values)
        fig.add_trace(go.Scatter(x=np.arange(1, len(s) + 1), y=s / s[0], mode="lines+markers", name=sw.layer,
                                 line=dict(color=colour, width=2), marker=dict(size=4),
                                 hovertemplate="σ_%{x}/σ₁ = %{y:.3f}<extra>" + sw.layer + "</extra>"))
    _lines(fig, None, height, "index i", "σᵢ / σ₁ (log scale)")
    fig.update_yaxes(type="log")
    fig.update_layout(hovermode="closest")
    return fig


def flops_figure(sizes, h: int, w: int, height: int = 330) -> go.Figure:
    """Multiply-adds of a full kh × kw convolution against the separable column + row passes."""
    from .compress import conv_flops

    sizes = list(sizes)
    full = [conv_flops(h, w, s, s, separable=False) for s in sizes]
    sep = [conv_flops(h, w, s, s, separable=True) for s in sizes]
    labels = [f"{s}×{s}" for s in sizes]
    fig = go.Figure([
        go.Bar(x=labels, y=full, name="full kernel: kh·kw per pixel", marker_color="#95a5a6",
               hovertemplate="%{x}: %{y:,} multiply-adds<extra>full</extra>"),
        go.Bar(x=labels, y=sep, name="separable: kh + kw per pixel", marker_color=KEPT,
               hovertemplate="%{x}: %{y:,} multiply-adds<extra>separable</extra>"),
    ])
    _lines(fig, None, height, f"kernel size (image {h}×{w})", "multiply-adds")
    fig.update_layout(barmode="group", hovermode="closest")
    return fig
