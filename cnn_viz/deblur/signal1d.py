"""The course's 1-D inverse problem, g(s) = ∫₀¹ exp(−(s−t)²/σ²) f(t) dt, discretized and regularized.

Midpoint rule on n points tᵢ = (i − ½)/n with weight h = 1/n gives the symmetric Toeplitz
matrix Aᵢⱼ = h·exp(−(sᵢ − tⱼ)²/σ²). Everything else goes through its SVD A = U Σ Vᵀ:
naive solve, truncated SVD, Tikhonov (filter factors φᵢ = σᵢ²/(σᵢ² + λ²)), and the
parameter rules of :mod:`cnn_viz.deblur.lambda_rules` (GCV, L-curve, discrepancy principle).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import toeplitz

from cnn_viz.deblur import lambda_rules as rp
from cnn_viz.common.linalg import one_blas_thread
from cnn_viz.common.metrics import relative_error
from cnn_viz.deblur.restore import add_noise

MAX_N = 1024
SIGNALS = ("Smooth bump", "Piecewise constant", "Bump and step", "Typed values", "Drawn")


def kernel_matrix(n: int, sigma: float) -> np.ndarray:
    """Aᵢⱼ = (1/n) exp(−(sᵢ − tⱼ)²/σ²) at the midpoints sᵢ = tᵢ = (i − ½)/n (symmetric Toeplitz)."""
    n = int(n)
    if n < 2 or n > MAX_N:
        raise ValueError(f"The number of points must be between 2 and {MAX_N}, got {n}.")
    if not np.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"The kernel width σ must be a positive number, got {sigma}.")
    t = (np.arange(n) + 0.5) / n
    return toeplitz(np.exp(-((t - t[0]) ** 2) / sigma**2) / n)


def grid(n: int) -> np.ndarray:
    return (np.arange(int(n)) + 0.5) / n


def test_signal(name: str, n: int) -> np.ndarray:
    """The built-in true signals f(t) on the midpoint grid."""
    t = grid(n)
    if name == "Smooth bump":
        return np.exp(-((t - 0.35) ** 2) / 0.01) + 0.6 * np.exp(-((t - 0.7) ** 2) / 0.004)
    if name == "Piecewise constant":
        return np.select([t < 0.2, t < 0.45, t < 0.6, t < 0.85], [0.0, 1.0, 0.4, 0.8], 0.0)
    if name == "Bump and step":
        return np.exp(-((t - 0.3) ** 2) / 0.006) + 0.7 * ((t > 0.55) & (t < 0.8))
    raise ValueError(f"Unknown test signal {name!r}; choose one of {', '.join(SIGNALS[:3])}.")


def parse_signal(text: str, n: int) -> np.ndarray:
    """Typed values (commas, spaces, semicolons or new lines) stretched to n points by linear
    interpolation: "0 0 1 1 0.5 0" is a piecewise-linear signal over [0, 1]."""
    tokens = [t for t in text.replace(",", " ").replace(";", " ").split() if t]
    if len(tokens) < 2:
        raise ValueError("Type at least two numbers, separated by spaces or commas.")
    try:
        vals = np.array([float(t) for t in tokens])
    except ValueError:
        bad = next(t for t in tokens if not _is_number(t))
        raise ValueError(f"'{bad}' is not a number.") from None
    if not np.all(np.isfinite(vals)):
        raise ValueError("The values must be finite numbers (no nan or inf).")
    if len(vals) > 10 * MAX_N:
        raise ValueError("That is too many values.")
    knots = np.linspace(0, 1, len(vals))
    return np.interp(grid(n), knots, vals)


def _is_number(t: str) -> bool:
    try:
        float(t)
        return True
    except ValueError:
        return False


def signal_from_drawing(rgba: np.ndarray | None, n: int, background: int = 255) -> np.ndarray:
    """A curve drawn on a canvas (H, W, 4) → f on n points in [0, 1]: in each column the mean
    height of the drawn pixels, gaps filled by linear interpolation."""
    if rgba is None:
        raise ValueError("Nothing has been drawn yet.")
    a = np.asarray(rgba)
    if a.ndim != 3 or a.shape[2] < 3:
        raise ValueError("The drawing is not an RGB(A) image.")
    ink = a[..., 3] > 0 if a.shape[2] == 4 else np.any(a[..., :3] != background, axis=2)
    if a.shape[2] == 4:
        ink &= np.any(a[..., :3] != background, axis=2) | (a[..., 3] > 0)
    h, w = ink.shape
    cols = np.flatnonzero(ink.any(axis=0))
    if cols.size < 2:
        raise ValueError("Draw a curve across the box (at least two columns).")
    rows = np.arange(h)[:, None]
    heights = ((h - 1 - rows) * ink).sum(axis=0)[cols] / ink.sum(axis=0)[cols] / (h - 1)
    return np.interp(grid(n), (cols + 0.5) / w, heights)


@dataclass
class SVD:
    U: np.ndarray
    s: np.ndarray
    Vt: np.ndarray


def svd(A: np.ndarray) -> SVD:
    with one_blas_thread():
        U, s, Vt = np.linalg.svd(A)
    return SVD(U, s, Vt)


def naive_solve(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x = A⁻¹ b by LU (what a student would try first)."""
    with one_blas_thread():
        return np.linalg.solve(A, b)


def tsvd(dec: SVD, b: np.ndarray, k: int) -> np.ndarray:
    """Keep the k largest singular triplets: x = Σᵢ≤ₖ (uᵢᵀb / σᵢ) vᵢ."""
    k = int(np.clip(k, 0, dec.s.size))
    beta = dec.U[:, :k].T @ b
    return dec.Vt[:k].T @ (beta / dec.s[:k])


def tikhonov(dec: SVD, b: np.ndarray, lam: float) -> np.ndarray:
    """argmin ‖Ax − b‖² + λ²‖x‖² = Σᵢ φᵢ (uᵢᵀb / σᵢ) vᵢ."""
    beta = dec.U.T @ b
    return dec.Vt.T @ (dec.s * beta / (dec.s**2 + lam**2))


def picard(dec: SVD, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """σᵢ, |uᵢᵀb| and |uᵢᵀb|/σᵢ: the discrete Picard condition holds while |uᵢᵀb| decays faster than σᵢ."""
    beta = np.abs(dec.U.T @ b)
    with np.errstate(divide="ignore"):
        return dec.s, beta, np.where(dec.s > 0, beta / np.where(dec.s > 0, dec.s, 1), np.inf)


def cond_vs_sigma(n: int, sigmas) -> np.ndarray:
    """cond₂(A) = σ_max/σ_min for each kernel width (≳1e16 means numerically singular)."""
    out = []
    for sg in sigmas:
        with one_blas_thread():
            s = np.linalg.svd(kernel_matrix(n, sg), compute_uv=False)
        out.append(s[0] / s[-1] if s[-1] > 0 else np.inf)
    return np.array(out)


@dataclass
class Analysis1D:
    A: np.ndarray
    t: np.ndarray
    f: np.ndarray
    b_clean: np.ndarray
    b: np.ndarray
    delta: float
    dec: SVD
    lams: np.ndarray
    gcv: np.ndarray
    rho: np.ndarray
    eta: np.ndarray
    kappa: np.ndarray
    lam: dict  # rule -> λ  ("gcv", "lcurve", "discrepancy", "best")
    k_gcv: int
    solutions: dict  # label -> x
    errors: dict  # label -> relative error
    marks: dict  # rule -> (‖Ax_λ − b‖, ‖x_λ‖, G(λ)) at the rule's λ, for marking the curves


def analyse(f: np.ndarray, sigma: float, noise: float, seed: int = 0, lam_slider: float | None = None, k: int | None = None) -> Analysis1D:
    """Blur f, add noise, and solve every way the page shows, with every λ rule."""
    f = np.asarray(f, dtype=np.float64)
    n = f.size
    A = kernel_matrix(n, sigma)
    b_clean = A @ f
    b, delta = add_noise(b_clean, noise, seed)
    dec = svd(A)
    beta = dec.U.T @ b
    lams = rp.lambda_grid(dec.s, decades=12)
    lam = {
        "gcv": rp.gcv_lambda(dec.s, beta),
        "lcurve": rp.lcurve_lambda(dec.s, beta),
        "discrepancy": rp.discrepancy_lambda(dec.s, beta, delta) if delta > 0 else float(lams[-1]),
    }
    coef = dec.s[:, None] * beta[:, None] / (dec.s[:, None] ** 2 + lams[None, :] ** 2)
    errs = np.linalg.norm(dec.Vt.T @ coef - f[:, None], axis=0)  # every Tikhonov solution at once
    lam["best"] = float(lams[int(np.argmin(errs))])
    if lam_slider is not None:
        lam["slider"] = float(lam_slider)
    rho, eta, kappa = rp.lcurve(dec.s, beta, lams)
    k_gcv = rp.tsvd_gcv_k(dec.s, beta)
    sols = {"Naive solve": naive_solve(A, b)}
    sols[f"TSVD (k = {k if k is not None else k_gcv}{'' if k is not None else ', GCV'})"] = tsvd(dec, b, k if k is not None else k_gcv)
    for rule, label in (("gcv", "GCV"), ("lcurve", "L-curve"), ("discrepancy", "discrepancy"), ("best", "best λ"), ("slider", "your λ")):
        if rule in lam:
            sols[f"Tikhonov ({label})"] = tikhonov(dec, b, lam[rule])
    errors = {k_: relative_error(x, f) for k_, x in sols.items()}
    rules = list(lam)
    r_, e_, _ = rp.lcurve(dec.s, beta, [lam[r] for r in rules])
    g_ = rp.gcv_function(dec.s, beta, [lam[r] for r in rules])
    marks = {r: (float(a), float(b_), float(c)) for r, a, b_, c in zip(rules, r_, e_, g_)}
    return Analysis1D(A, grid(n), f, b_clean, b, delta, dec, lams, rp.gcv_function(dec.s, beta, lams), rho, eta, kappa,
                      lam, k_gcv, sols, errors, marks)
