"""Plotly figures of the deblurring page (no Streamlit here, so they are testable)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from cnn_viz.deblur.experiment import LEARNED
from cnn_viz.deblur.lambda_rules import RULES
from cnn_viz.common.images import to_uint8
from cnn_viz.deblur.signal1d import kernel_matrix
from cnn_viz.figures.builders import EXACT_CELLS, image_trace, layout, panel_axes, panels_layout, png_uri, signed_map_traces
from cnn_viz.figures import palette
from cnn_viz.figures.palette import FONT

# Colour names resolved in the session's palette scheme when a figure is built (palette.named).
COLORS = palette.named(true="dark", blurred="grey", naive="red", tsvd="teal")
RULE_COLORS = palette.named(gcv="blue", lcurve="orange", discrepancy="green", best="purple", slider="yellow")
BC_COLORS = palette.named(zero="red", reflexive="green", periodic="blue")
MATRIX_HOVER_SIDE = 40  # the blur matrix's hover grid (a smooth band: 40² real values, 9 kB, are plenty)


def _layout(fig: go.Figure, title: str | None, height: int = 360, xlabel: str = "", ylabel: str = "") -> go.Figure:
    fig.update_layout(_line_layout(title, height))
    fig.update_xaxes(title_text=xlabel)
    fig.update_yaxes(title_text=ylabel)
    return fig


def _line_layout(title: str | None, height: int, xaxis: dict | None = None, yaxis: dict | None = None,
                 marks: tuple = ()) -> dict:
    """The page's layout for line charts as a plain dict (a figure built with it skips Plotly's slow update_*
    and add_hline/add_vline paths); ``marks`` are (shape, annotation) pairs from ``_vline``/``_hline``."""
    lay = dict(
        title=dict(text=title, x=0.02, font=dict(size=16)) if title else None,
        margin=dict(l=10, r=10, t=40 if title else 10, b=10), font=FONT, height=height,
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="left", x=0, font=dict(size=12)),
        hovermode="closest", xaxis=xaxis or {}, yaxis=yaxis or {},
        shapes=[m[0] for m in marks], annotations=[m[1] for m in marks if m[1] is not None],
    )
    return lay


def _line_figure(traces: list, title: str | None, height: int, xlabel: str = "", ylabel: str = "", xaxis: dict | None = None,
                 yaxis: dict | None = None, marks: tuple = ()) -> go.Figure:
    return go.Figure(traces, layout=_line_layout(title, height, dict(title=dict(text=xlabel), **(xaxis or {})),
                                                 dict(title=dict(text=ylabel), **(yaxis or {})), marks))


def _vline(x: float, line: dict, text: str | None = None, log_x: bool = False) -> tuple:
    """A vertical line across the plot at x with its label at the top right (what add_vline draws)."""
    shape = dict(type="line", xref="x", yref="y domain", x0=x, x1=x, y0=0, y1=1, line=line)
    note = None if text is None else dict(text=text, showarrow=False, xref="x", yref="y domain", y=1, xanchor="left",
                                          yanchor="top", x=float(np.log10(x)) if log_x else x)
    return shape, note


def _hline(y: float, line: dict, text: str | None = None, log_y: bool = False) -> tuple:
    """A horizontal line across the plot at y with its label above its right end (what add_hline draws; on a log
    axis the label is placed at log10 y, where Plotly expects it)."""
    shape = dict(type="line", xref="x domain", yref="y", x0=0, x1=1, y0=y, y1=y, line=line)
    note = None if text is None else dict(text=text, showarrow=False, xref="x domain", yref="y", x=1, xanchor="right",
                                          yanchor="bottom", y=float(np.log10(y)) if log_y else y)
    return shape, note


def _xs(x) -> dict:
    """Scatter keywords for the x values: ``x0``/``dx`` when they are evenly spaced (the grids here), so the
    browser is not sent the same x array once per trace."""
    x = np.asarray(x, dtype=np.float64)
    if x.size > 2 and np.allclose(np.diff(x), x[1] - x[0], rtol=1e-9, atol=0):
        return dict(x0=float(x[0]), dx=float(x[1] - x[0]))
    return dict(x=x)


def _ys(y) -> np.ndarray:
    """Curve values as float32 (7 digits; hover shows 3-4): half the bytes of float64 on every rerun."""
    return np.asarray(y, dtype=np.float32)


def _color(kind: str) -> str | None:
    """A 1-D reconstruction's colour: by method (naive, TSVD), else by the rule of Tikhonov's λ."""
    return COLORS.get(kind) or RULE_COLORS.get(kind)


def _pick_marker(x: float, y: float, rule: str, lam: float) -> go.Scatter:
    """A diamond marking the λ of one rule on a curve."""
    label = RULES[rule].label
    return go.Scatter(x=[x], y=[y], mode="markers", name=f"{label} (λ = {lam:.2g})",
                      marker=dict(size=13, color=RULE_COLORS.get(rule), symbol="diamond", line=dict(width=1, color="white")),
                      hovertemplate=f"{label}: λ = {lam:.3g}<extra></extra>")


# ---------------------------------------------------------------- 1-D
def _heatmap(z: np.ndarray, name: str, title: str | None, height: int, colorbar: bool) -> go.Figure:
    """A non-negative array on square axes (row 0 on top), hover showing the real indices as ``name[row, col]``.
    Up to ``EXACT_CELLS`` values: an exact heatmap. Larger (the blur matrix A): a PNG on the sequential scale
    (every ``step``-th entry, at most 256 a side) under an invisible heatmap of the real values at up to
    ``MATRIX_HOVER_SIDE``² points, which gives the hover and the colour bar (a 256² float heatmap was 700 kB a rerun)."""
    z = np.asarray(z, dtype=np.float64)
    bar = dict(showscale=colorbar, colorbar=dict(thickness=12) if colorbar else None)
    hover = name + "[%{y}, %{x}] = %{z:.4g}<extra></extra>"
    if z.size <= EXACT_CELLS:
        rows, cols = np.arange(z.shape[0]), np.arange(z.shape[1])
        traces = [go.Heatmap(z=z, x=cols, y=rows, colorscale=palette.sequential(), hovertemplate=hover, **bar)]
    else:
        step = max(1, int(np.ceil(max(z.shape) / 256)))
        lo, hi = float(z.min()), float(z.max())
        levels = to_uint8(z[::step, ::step], lo, hi if hi > lo else lo + 1)
        picture = go.Image(source=png_uri(levels, palette.ramp(256, palette.sequential())), x0=0, dx=step, y0=0, dy=step,
                           hoverinfo="skip")
        sy, sx = -(-z.shape[0] // MATRIX_HOVER_SIDE), -(-z.shape[1] // MATRIX_HOVER_SIDE)
        rows, cols = np.arange(sy // 2, z.shape[0], sy), np.arange(sx // 2, z.shape[1], sx)
        traces = [go.Heatmap(z=z[np.ix_(rows, cols)].astype(np.float32), x=cols, y=rows, opacity=0, colorscale=palette.sequential(), zmin=lo,
                             zmax=hi, hovertemplate=hover, **bar), picture]
    lay = layout(title, height)
    lay["xaxis"]["range"] = [-0.5, z.shape[1] - 0.5]
    lay["yaxis"].update(range=[z.shape[0] - 0.5, -0.5], autorange=False)
    return go.Figure(traces, layout=lay)


def matrix_figure(A: np.ndarray, title: str | None = None, height: int = 380) -> go.Figure:
    """The blur matrix A as a heatmap: a band around the diagonal, constant along diagonals (Toeplitz)."""
    return _heatmap(A, "A", title, height, colorbar=True)


def kernel_matrix_figure(n: int, sigma: float, title: str | None = None, height: int = 380) -> go.Figure:
    """``matrix_figure`` of the course's A for n points and width σ (cached on those two numbers, not on A)."""
    return matrix_figure(kernel_matrix(n, sigma), title, height)


def signals_figure(t, f, b, solutions: list, title: str | None = None, height: int = 380) -> go.Figure:
    """True signal, blurred data and the chosen reconstructions (signal1d.Reconstruction). The y-range
    is fixed to the true signal's range, so an exploding solution runs off the chart (its size is in the legend)."""
    hover = "t = %{x:.3f}<br>%{y:.4g}"
    xs = _xs(t)
    traces = [go.Scatter(y=_ys(f), name="true f", line=dict(color=COLORS["true"], width=3), hovertemplate=hover, **xs),
              go.Scatter(y=_ys(b), name="blurred + noise b", line=dict(color=COLORS["blurred"], width=2, dash="dot"), hovertemplate=hover, **xs)]
    lo, hi = float(min(np.min(f), np.min(b))), float(max(np.max(f), np.max(b)))
    pad = 0.25 * (hi - lo or 1.0)
    for r in solutions:
        big = np.max(np.abs(r.x))
        name = r.label if big < 10 * (hi - lo + 1) else f"{r.label} (max |x| = {big:.1e}: off the chart)"
        traces.append(go.Scatter(y=_ys(r.x), name=name, line=dict(color=_color(r.kind), width=2), hovertemplate=hover, **xs))
    return _line_figure(traces, title, height, "t", "value", yaxis=dict(range=[lo - pad, hi + pad]))


def picard_figure(p, k: int | None = None, title: str | None = None, height: int = 380) -> go.Figure:
    """Singular values σᵢ, data coefficients |uᵢᵀb| and solution coefficients |uᵢᵀb|/σᵢ (log scale), from signal1d.Picard."""
    i = np.arange(1, len(p.s) + 1)
    traces = []
    for y, name, c, mode in ((p.s, "σᵢ", "#222222", "lines"), (p.beta, "|uᵢᵀb|", RULE_COLORS["gcv"], "markers"),
                             (p.ratio, "|uᵢᵀb| / σᵢ", COLORS["naive"], "markers")):
        y = np.where(np.asarray(y) > 0, y, np.nan)
        traces.append(go.Scatter(y=_ys(y), name=name, mode=mode, x0=1, dx=1, line=dict(color=c, width=2), marker=dict(color=c, size=5),
                                 hovertemplate="i = %{x}<br>" + name + " = %{y:.3g}<extra></extra>"))
    marks = []
    if p.noise:
        marks.append(_hline(p.noise, dict(color=COLORS["blurred"], dash="dash"), "noise level", log_y=True))
    if k:
        marks.append(_vline(k, dict(color=COLORS["tsvd"], dash="dot"), f"TSVD k = {k}"))
    return _line_figure(traces, title, height, "index i", "", yaxis=dict(type="log", exponentformat="power"), marks=tuple(marks))


def _loglog(curve: go.Scatter, marks, title: str | None, height: int, xlabel: str, ylabel: str) -> go.Figure:
    """A curve on log axes with the λ of each rule marked: ``marks`` = (x, y, rule, λ) per rule."""
    log = dict(type="log", exponentformat="power")
    return _line_figure([curve] + [_pick_marker(x, y, rule, lam) for x, y, rule, lam in marks], title, height, xlabel, ylabel,
                        xaxis=log, yaxis=log)


def lcurve_figure(rho, eta, lams, picks: tuple, title: str | None = None, height: int = 380) -> go.Figure:
    """The L-curve (‖Ax_λ − b‖, ‖x_λ‖) on log axes, with each rule's λ (signal1d.Pick) marked."""
    curve = go.Scatter(x=_ys(rho), y=_ys(eta), mode="lines", name="L-curve", line=dict(color="#555", width=2), customdata=_ys(lams),
                       hovertemplate="λ = %{customdata:.3g}<br>‖Ax−b‖ = %{x:.3g}<br>‖x‖ = %{y:.3g}<extra></extra>")
    return _loglog(curve, [(p.rho, p.eta, p.rule, p.lam) for p in picks], title, height,
                   "residual norm ‖A x_λ − b‖", "solution norm ‖x_λ‖")


def gcv_figure(lams, G, picks: tuple, title: str | None = None, height: int = 380) -> go.Figure:
    """The GCV function G(λ) with its minimum and the other rules' λ (signal1d.Pick) marked."""
    curve = go.Scatter(x=_ys(lams), y=_ys(G), mode="lines", name="G(λ)", line=dict(color="#555", width=2),
                       hovertemplate="λ = %{x:.3g}<br>G = %{y:.3g}<extra></extra>")
    return _loglog(curve, [(p.lam, p.gcv, p.rule, p.lam) for p in picks], title, height, "λ", "G(λ)")


def filter_factors_figure(curves: list, k: int | None = None, title: str | None = None, height: int = 360) -> go.Figure:
    """φᵢ against i for each λ, from Analysis1D.filter_factors() (pairs of a Pick and its φ); TSVD's φ is a step at k."""
    i = np.arange(1, len(curves[0][1]) + 1)
    traces = [go.Scatter(y=_ys(phi), x0=1, dx=1, mode="lines", name=f"{p.label} (λ = {p.lam:.2g})", line=dict(color=RULE_COLORS.get(p.rule), width=2),
                         hovertemplate="i = %{x}<br>φ = %{y:.3f}<extra></extra>") for p, phi in curves]
    if k is not None:
        n = len(i)
        xk, yk = ([1, n], [1, 1]) if k >= n else ([1, n], [0, 0]) if k < 1 else ([1, k, k + 1, n], [1, 1, 0, 0])
        traces.append(go.Scatter(x=xk, y=yk, mode="lines", name=f"TSVD (k = {k})",
                                 line=dict(color=COLORS["tsvd"], width=2, dash="dot", shape="hv")))
    return _line_figure(traces, title, height, "index i (log scale)", "filter factor φᵢ", xaxis=dict(type="log"),
                        yaxis=dict(range=[-0.05, 1.05]))


def cond_figure(curve, current: float | None = None, title: str | None = None, height: int = 340) -> go.Figure:
    """cond(A) as the kernel widens (signal1d.CondCurve); the dashed line is 1/machine-ε (numerically singular above)."""
    line = go.Scatter(x=curve.sigmas, y=curve.conds, mode="lines+markers", name="cond₂(A)", line=dict(color=COLORS["naive"], width=2),
                      hovertemplate="σ = %{x:.3g}<br>cond = %{y:.3g}<extra></extra>")
    marks = [_hline(1 / np.finfo(float).eps, dict(color=COLORS["blurred"], dash="dash"), "1/ε (double precision)", log_y=True)]
    if current is not None:
        marks.append(_vline(current, dict(color=RULE_COLORS["gcv"], dash="dot"), f"σ = {current:g}"))
    return _line_figure([line], title, height, "kernel width σ", "condition number", yaxis=dict(type="log", exponentformat="power"),
                        marks=tuple(marks))


# ---------------------------------------------------------------- 2-D
def psf_figure(psf: np.ndarray, title: str | None = None, height: int = 260) -> go.Figure:
    return _heatmap(psf, "PSF", title, height, colorbar=False)


def gallery_figure(imgs: list[np.ndarray], titles: list[str], cols: int = 4, height_per_row: int = 260,
                   box: tuple[int, int, int, int] | None = None, max_side: int = 384) -> go.Figure:
    """Images side by side (grayscale or colour, PNG, at most ``max_side`` pixels a side reach the browser);
    ``box`` = (r0, r1, c0, c1) draws the zoom region on every panel. One layout dict (``builders.panels_layout``)."""
    n = len(imgs)
    lay = panels_layout(list(titles), cols, height_per_row, vspace=0.05 if -(-n // max(1, min(cols, n))) > 1 else 0.02)
    traces = [image_trace(img, max_side=max_side, **panel_axes(i)) for i, img in enumerate(imgs)]
    if box is not None:
        r0, r1, c0, c1 = box
        lay["shapes"] = [dict(type="rect", x0=c0 - 0.5, x1=c1 - 0.5, y0=r0 - 0.5, y1=r1 - 0.5, line=dict(color="#f1c40f", width=2),
                              **{"xref": axes["xaxis"], "yref": axes["yaxis"]}) for axes in map(panel_axes, range(n))]
    return go.Figure(traces, layout=lay)


ERROR_SIDE, ERROR_HOVER = 128, 32  # error maps: every 2nd pixel of a 256² map as PNG, real values on hover at 32² points


def error_figure(errors: list[np.ndarray], titles: list[str], cols: int = 4) -> go.Figure:
    """Signed error maps (restored − true; mean over colour channels) on one shared blue–white–red
    scale that saturates at the 99.5th percentile of |error| (so a few wild pixels do not wash it out): each a PNG of at
    most ``ERROR_SIDE`` pixels a side with its real values on hover at up to ``ERROR_HOVER``² points (four 256² maps:
    ~100 kB, where full-size PNGs with 64² hover grids were ~280 kB)."""
    maps = np.stack([np.asarray(e, dtype=np.float32).mean(axis=2) if np.ndim(e) == 3 else np.asarray(e, dtype=np.float32) for e in errors])
    z = float(np.percentile(np.abs(maps), 99.5)) or 1.0
    lay = panels_layout(list(titles), cols, 240, hspace=0.02, vspace=0.06, title_size=12, extra_height=30)
    traces = [tr for i, m in enumerate(np.clip(maps, -z, z))
              for tr in signed_map_traces(m, zmax=z, colorbar=i == 0, max_side=ERROR_SIDE, hover_side=ERROR_HOVER,
                                          exact_cells=0, **panel_axes(i))]
    return go.Figure(traces, layout=lay)


def metrics_figure(results: list, reference: float | None = None, height: int = 380) -> go.Figure:
    """PSNR (bars, left) and SSIM (bars, right) per method (experiment.Result); time on hover; the blurred input's PSNR dashed.
    One layout dict (make_subplots + update_* cost ~20 ms on every new λ)."""
    names = [r.name for r in results]
    psnrs, ssims = [r.psnr for r in results], [r.ssim for r in results]
    colors = [palette.colour("purple") if n in LEARNED else palette.colour("blue") for n in names]
    ms = [f"{1e3 * r.seconds:.0f} ms" for r in results]
    traces = [go.Bar(y=names, x=psnrs, orientation="h", marker_color=colors, customdata=ms, text=[f"{p:.2f}" for p in psnrs],
                     textposition="auto", hovertemplate="%{y}<br>PSNR %{x:.2f} dB<br>time %{customdata}<extra></extra>", showlegend=False),
              go.Bar(y=names, x=ssims, orientation="h", marker_color=colors, customdata=ms, text=[f"{s:.3f}" for s in ssims],
                     textposition="auto", hovertemplate="%{y}<br>SSIM %{x:.3f}<br>time %{customdata}<extra></extra>", showlegend=False,
                     xaxis="x2", yaxis="y2")]
    lo = max(0.0, min(psnrs) - 2) if psnrs else 0
    left, right = [0.0, 0.44], [0.56, 1.0]
    lay = dict(height=max(height, 34 * len(names) + 90), margin=dict(l=10, r=10, t=40, b=10), font=FONT,
               xaxis=dict(domain=left, anchor="y", range=[lo, max(psnrs) + 1.5] if psnrs else None),
               yaxis=dict(domain=[0, 1], anchor="x", autorange="reversed"),
               xaxis2=dict(domain=right, anchor="y2"),
               yaxis2=dict(domain=[0, 1], anchor="x2", autorange="reversed", showticklabels=False),
               annotations=[dict(text=t, x=sum(d) / 2, y=1.0, xref="paper", yref="paper", xanchor="center", yanchor="bottom",
                                 showarrow=False, font=dict(size=14))
                            for t, d in (("PSNR (dB, higher is better)", left), ("SSIM (1 = perfect)", right))],
               shapes=[] if reference is None else [_vline(reference, dict(color=COLORS["blurred"], dash="dash"))[0]])
    return go.Figure(traces, layout=lay)


def lambda_figure(sweep, user_lam: float | None = None, height: int = 380) -> go.Figure:
    """Tikhonov's PSNR against λ (left axis) and the GCV function (right axis), with each rule's λ (experiment.LambdaSweep).
    One layout dict (make_subplots + add_vline cost ~30 ms on every move of the λ slider)."""
    traces = [go.Scatter(x=sweep.lams, y=sweep.psnr, name="PSNR of Tikhonov", line=dict(color="#8e44ad", width=3),
                         hovertemplate="λ = %{x:.3g}<br>PSNR %{y:.2f} dB<extra></extra>"),
              go.Scatter(x=sweep.lams, y=sweep.gcv, name="GCV function G(λ)", line=dict(color=RULE_COLORS["gcv"], width=2, dash="dot"),
                         hovertemplate="λ = %{x:.3g}<br>G = %{y:.3g}<extra></extra>", yaxis="y2")]
    marks = [(p.rule, p.lam, p.psnr) for p in sweep.picks]
    if user_lam is not None:
        marks.append(("slider", user_lam, sweep.psnr_at(user_lam)))
    lines = []
    for rule, lam, ps in marks:
        name, color = RULES[rule].label, RULE_COLORS[rule]
        lines.append(_vline(lam, dict(color=color, dash="dash", width=2)))
        traces.append(go.Scatter(x=[lam], y=[ps], mode="markers", name=f"{name}: λ = {lam:.2g}",
                                 marker=dict(size=12, symbol="diamond", color=color),
                                 hovertemplate=f"{name}: λ = {lam:.3g}<extra></extra>"))
    lay = _line_layout(None, height, dict(type="log", exponentformat="power", domain=[0, 0.94], title=dict(text="λ")),
                       dict(range=[max(0, float(np.nanmin(sweep.psnr)) - 1), float(np.nanmax(sweep.psnr)) + 1],
                            title=dict(text="PSNR (dB)")), tuple(lines))
    lay["yaxis2"] = dict(type="log", exponentformat="power", overlaying="y", side="right", anchor="x", showgrid=False,
                         title=dict(text="G(λ)"))
    return go.Figure(traces, layout=lay)


def rl_figure(curves, chosen: int | None = None, height: int = 340) -> go.Figure:
    """PSNR after each Richardson–Lucy iteration for each boundary condition (experiment.RLCurves): up, then down (semi-convergence)."""
    fig = go.Figure()
    for c in curves.curves:
        it = np.arange(1, len(c.psnr) + 1)
        k = c.peak
        fig.add_trace(go.Scatter(x=it, y=c.psnr, name=f"{c.bc} boundary (peak {c.psnr[k]:.2f} dB at {k + 1})",
                                 line=dict(color=BC_COLORS.get(c.bc), width=2),
                                 hovertemplate="iteration %{x}<br>PSNR %{y:.2f} dB<extra></extra>"))
        fig.add_trace(go.Scatter(x=[k + 1], y=[c.psnr[k]], mode="markers", marker=dict(size=10, color=BC_COLORS.get(c.bc)),
                                 showlegend=False, hoverinfo="skip"))
    if chosen:
        fig.add_vline(x=chosen, line=dict(color="#555", dash="dot"), annotation_text=f"slider: {chosen}")
    return _layout(fig, None, height, "Richardson–Lucy iteration", "PSNR (dB)")
