"""Choosing the regularization parameter λ from spectral coefficients.

Every filter-factor method here works on two arrays: the singular values (or the
eigenvalues of a blur diagonalized by the FFT / DCT) ``s``, and the data's
coefficients in the same basis ``beta`` (uᵢᵀb for an SVD, FFT(b) or DCT(b) for an
image). The same code therefore serves the 1-D SVD and the 2-D fast transforms.

Tikhonov with weights d (d = 1 plain, d = |Laplacian symbol| for Wiener–Hunt):
    φᵢ(λ) = sᵢ² / (sᵢ² + λ² dᵢ²),   x̂ᵢ = φᵢ βᵢ / sᵢ,   r̂ᵢ = (1 − φᵢ) βᵢ.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import brentq, minimize_scalar

GRID_POINTS = 240  # for plots
SEARCH_POINTS = 50  # for the searches, refined afterwards


def _prep(s, beta, d=None):
    s = np.abs(np.asarray(s)).astype(np.float64).ravel()
    beta = np.abs(np.asarray(beta)).astype(np.float64).ravel()
    if s.shape != beta.shape:
        raise ValueError("s and beta must have the same number of entries.")
    d2 = None if d is None else (np.abs(np.asarray(d)).astype(np.float64).ravel() ** 2)
    return s, beta, d2


def filter_factors(s, lam: float, d=None) -> np.ndarray:
    """Tikhonov filter factors φᵢ = sᵢ² / (sᵢ² + λ² dᵢ²) (0 where sᵢ = dᵢ = 0)."""
    s2 = np.abs(np.asarray(s)).astype(np.float64) ** 2
    w = lam**2 * (1.0 if d is None else np.abs(np.asarray(d)).astype(np.float64) ** 2)
    return s2 / np.maximum(s2 + w, 1e-300)


def lambda_grid(s, n: int = GRID_POINTS, decades: float = 10.0) -> np.ndarray:
    """Log-spaced λ from s_max down by ``decades`` (never below the smallest non-zero s / 10)."""
    s = np.abs(np.asarray(s)).astype(np.float64)
    smax = float(s.max())
    if not np.isfinite(smax) or smax <= 0:
        raise ValueError("The operator is zero: there is nothing to invert.")
    nz = s[s > smax * 1e-15]
    lo = max(smax * 10.0**-decades, float(nz.min()) / 10)
    return np.logspace(np.log10(smax), np.log10(lo), n)


def residual_norm(s, beta, lam: float, d=None, beta_perp2: float = 0.0) -> float:
    s, beta, d2 = _prep(s, beta, d)
    phi = filter_factors(s, lam, None if d2 is None else np.sqrt(d2))
    return float(np.sqrt(np.sum(((1 - phi) * beta) ** 2) + beta_perp2))


def solution_norm(s, beta, lam: float, d=None) -> float:
    s, beta, d2 = _prep(s, beta, d)
    w = lam**2 * (1.0 if d2 is None else d2)
    coef = s * beta / np.maximum(s**2 + w, 1e-300)
    return float(np.sqrt(np.sum(coef * coef)))


def gcv_function(s, beta, lams, d=None, m: int | None = None, beta_perp2: float = 0.0) -> np.ndarray:
    """G(λ) = ‖A x_λ − b‖² / (m − Σφᵢ)², m = number of data (rows of A)."""
    s, beta, d2 = _prep(s, beta, d)
    m = s.size if m is None else m
    s2, b2 = s**2, beta**2
    w = np.ones_like(s2) if d2 is None else d2
    out = np.empty(len(np.atleast_1d(lams)))
    for i, lam in enumerate(np.atleast_1d(lams)):
        phi = s2 / np.maximum(s2 + lam**2 * w, 1e-300)
        cf = 1 - phi
        # (not np.dot: a multi-threaded BLAS dot was 300× slower on the shared 2-core box)
        out[i] = (np.sum(cf * cf * b2) + beta_perp2) / (m - phi.sum()) ** 2
    return out


def _refine_min(f, lams, i):
    """Minimize f(λ) in log λ between the grid neighbours of index i."""
    lo = np.log(lams[min(i + 1, len(lams) - 1)])
    hi = np.log(lams[max(i - 1, 0)])
    if hi <= lo:
        return float(lams[i])
    res = minimize_scalar(lambda t: f(np.exp(t)), bounds=(lo, hi), method="bounded", options={"xatol": 1e-4})
    best = float(np.exp(res.x))
    return best if f(best) <= f(lams[i]) else float(lams[i])


def gcv_lambda(s, beta, d=None, m: int | None = None, beta_perp2: float = 0.0, lams=None) -> float:
    """The λ minimizing the GCV function: a coarse log grid, then a bounded 1-D minimization
    in log λ between the neighbours of the best grid point."""
    s, beta, d2 = _prep(s, beta, d)
    d = None if d2 is None else np.sqrt(d2)
    lams = lambda_grid(s, SEARCH_POINTS) if lams is None else np.asarray(lams)
    g = gcv_function(s, beta, lams, d, m, beta_perp2)
    i = int(np.argmin(g))
    return _refine_min(lambda lam: gcv_function(s, beta, [lam], d, m, beta_perp2)[0], lams, i)


def discrepancy_lambda(s, beta, delta: float, tau: float = 1.0, d=None, beta_perp2: float = 0.0) -> float:
    """The λ with ‖A x_λ − b‖ = τ·δ (δ = the norm of the noise). The residual grows with λ,
    so a root bracketed on the λ grid is found by Brent's method in log λ."""
    if not np.isfinite(delta) or delta < 0:
        raise ValueError("The noise norm δ must be a non-negative number.")
    s, beta, d2 = _prep(s, beta, d)
    d = None if d2 is None else np.sqrt(d2)
    lams = lambda_grid(s, SEARCH_POINTS)
    target = tau * delta
    f = lambda t: residual_norm(s, beta, np.exp(t), d, beta_perp2) - target  # noqa: E731
    lo, hi = np.log(lams[-1]), np.log(lams[0])
    if f(lo) >= 0:
        return float(lams[-1])  # even the smallest λ leaves a residual above the noise
    if f(hi) <= 0:
        return float(lams[0])
    return float(np.exp(brentq(f, lo, hi, xtol=1e-6)))


def lcurve(s, beta, lams, beta_perp2: float = 0.0):
    """Residual norm ρ, solution norm η and the curvature κ of the curve (log ρ, log η) at
    each λ, from the analytic derivatives of Hansen's Regularization Tools (``lcfun``); the
    corner is where κ is largest. Plain Tikhonov (d = 1)."""
    s, beta, _ = _prep(s, beta)
    keep = s > 0
    s, beta = s[keep], beta[keep]
    xi = beta / s
    lams = np.atleast_1d(np.asarray(lams, dtype=np.float64))
    rho = np.empty(lams.size)
    eta = np.empty(lams.size)
    kappa = np.empty(lams.size)
    b2, x2 = beta**2, xi**2
    for i, lam in enumerate(lams):
        f = s**2 / (s**2 + lam**2)
        cf = 1 - f
        e = np.sqrt(np.sum(f**2 * x2))
        r = np.sqrt(np.sum(cf**2 * b2) + beta_perp2)
        f1 = -2 * f * cf / lam
        f2 = -f1 * (3 - 4 * f) / lam
        phi = np.sum(f * f1 * x2)
        psi = np.sum(cf * f1 * b2)
        dphi = np.sum((f1**2 + f * f2) * x2)
        dpsi = np.sum((-(f1**2) + cf * f2) * b2)
        deta, drho = phi / e, -psi / r
        ddeta = dphi / e - deta * (deta / e)
        ddrho = -dpsi / r - drho * (drho / r)
        dle, dlr = deta / e, drho / r
        ddle, ddlr = ddeta / e - dle**2, ddrho / r - dlr**2
        rho[i], eta[i] = r, e
        kappa[i] = (dlr * ddle - ddlr * dle) / (dlr**2 + dle**2) ** 1.5
    return rho, eta, kappa


def lcurve_lambda(s, beta, beta_perp2: float = 0.0, lams=None) -> float:
    """The λ at the L-curve's corner: maximum curvature of (log ρ, log η)."""
    s, beta, _ = _prep(s, beta)
    lams = lambda_grid(s, SEARCH_POINTS) if lams is None else np.asarray(lams)
    _, _, kappa = lcurve(s, beta, lams, beta_perp2)
    kappa = np.where(np.isfinite(kappa), kappa, -np.inf)
    i = int(np.argmax(kappa))
    return _refine_min(lambda lam: -lcurve(s, beta, [lam], beta_perp2)[2][0], lams, i)


def tsvd_gcv_k(s, beta, m: int | None = None, beta_perp2: float = 0.0) -> int:
    """Truncation index k minimizing G(k) = ‖r_k‖² / (m − k)² (components sorted by s, largest first)."""
    s, beta, _ = _prep(s, beta)
    m = s.size if m is None else m
    order = np.argsort(-s, kind="stable")
    b2 = beta[order] ** 2
    total = b2.sum() + beta_perp2
    k = np.arange(0, s.size)  # keep k components, k < m so the denominator is positive
    resid = total - np.concatenate([[0.0], np.cumsum(b2)[:-1]])
    ok = s[order] > 0
    g = resid / (m - k) ** 2
    g[~np.concatenate([[True], ok[:-1]])] = np.inf
    return int(np.argmin(g))
