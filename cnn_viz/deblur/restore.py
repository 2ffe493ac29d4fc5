"""The classical restorations of a blurred image, each written once.

In a fast basis (FFT, DCT, mirror-FFT; see :mod:`cnn_viz.deblur.forward`) every linear
restoration is one filter on the data's coefficients, x̂ = f ⊙ b̂: the naive inverse f = 1/s,
Tikhonov f = s̄/(|s|² + λ²), Wiener–Hunt f = s̄/(|s|² + β|ℓ|²), truncated SVD f = 1/s on the k
largest |s|. Where the boundary condition has no exact fast basis, Tikhonov is solved by
preconditioned conjugate gradients. Richardson–Lucy iterates with A and Aᵀ. λ is chosen by
:mod:`cnn_viz.deblur.lambda_rules` on the coefficients in the solver's basis.
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft
from scipy.sparse.linalg import LinearOperator, cg

from cnn_viz.common.linalg import one_blas_thread
from cnn_viz.common.metrics import mse
from cnn_viz.deblur import forward, lambda_rules
from cnn_viz.deblur.forward import BlurOperator, Spectral


# ---------------------------------------------------------------- filters on the symbol s
def inverse_filter(s: np.ndarray) -> np.ndarray:
    """1/s (0 where |s| ≤ 10⁻¹⁵ max |s|: those components are dropped)."""
    keep = np.abs(s) > 1e-15 * np.abs(s).max()
    return np.divide(1.0, s, out=np.zeros_like(s), where=keep)


def tikhonov_filter(s: np.ndarray, lam: float) -> np.ndarray:
    """s̄ / (|s|² + λ²): argmin ‖Ax − b‖² + λ²‖x‖²."""
    return np.conj(s) / (np.abs(s) ** 2 + lam**2)


def wiener_filter(s: np.ndarray, lap: np.ndarray, balance: float) -> np.ndarray:
    """s̄ / (|s|² + balance |ℓ|²): Wiener–Hunt with a Laplacian prior (0 where the denominator is 0)."""
    den = np.abs(s) ** 2 + balance * np.abs(lap) ** 2
    return np.divide(np.conj(s), den, out=np.zeros_like(s, dtype=np.result_type(s, 1.0)), where=den > 0)


def tsvd_filter(s: np.ndarray, k: int) -> np.ndarray:
    """1/s on the k components with the largest |s|, 0 elsewhere (the spectral truncated SVD)."""
    flat = np.abs(s).ravel()
    keep = np.zeros(flat.size, dtype=bool)
    keep[np.argsort(-flat, kind="stable")[: max(0, int(k))]] = True
    return np.divide(1.0, s, out=np.zeros_like(s), where=keep.reshape(s.shape))


def filtered(bh: np.ndarray, sp: Spectral, filt: np.ndarray) -> np.ndarray:
    """x = T⁻¹(filt ⊙ b̂) for coefficients made by ``forward.transform`` (one image, any channels)."""
    return forward.untransform(filt * bh, sp)


# ---------------------------------------------------------------- restorations, (H, W) or (H, W, C)
def naive_inverse(b: np.ndarray, sp: Spectral) -> np.ndarray:
    """x = A⁻¹ b in the fast basis (components with s = 0 are dropped)."""
    return filtered(forward.transform(b, sp), sp, inverse_filter(sp.s))


def tikhonov_spectral(b: np.ndarray, sp: Spectral, lam: float) -> np.ndarray:
    """argmin ‖Ax − b‖² + λ²‖x‖²: x̂ = s̄ b̂ / (|s|² + λ²)."""
    return filtered(forward.transform(b, sp), sp, tikhonov_filter(sp.s, lam))


def wiener(b: np.ndarray, sp: Spectral, balance: float) -> np.ndarray:
    """Wiener–Hunt with a Laplacian prior (scikit-image's ``wiener``): s̄ b̂ / (|s|² + balance |ℓ|²)."""
    return filtered(forward.transform(b, sp), sp, wiener_filter(sp.s, sp.laplacian(), balance))


def tsvd_spectral(b: np.ndarray, sp: Spectral, k: int) -> np.ndarray:
    """Keep the k components with the largest |s| (in each channel)."""
    return filtered(forward.transform(b, sp), sp, tsvd_filter(sp.s, k))


def tikhonov_cg(b: np.ndarray, op: BlurOperator, lam: float, tol: float = 1e-6, maxiter: int = 300,
                x0: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Solve (AᵀA + λ²I) x = Aᵀb for one channel by conjugate gradients, preconditioned by the
    periodic (circulant) approximation (|s|² + λ²)⁻¹. Returns (x, iterations)."""
    m, n = op.shape
    s2 = np.abs(forward.symbol(op.psf, op.shape, "fft")) ** 2
    pre = 1.0 / (s2 + lam**2)
    count = [0]

    def mv(v):
        count[0] += 1
        x = v.reshape(m, n)
        return (op.rmatvec(op.matvec(x)) + lam**2 * x).ravel()

    def prec(v):
        return sfft.ifft2(pre * sfft.fft2(v.reshape(m, n))).real.ravel()

    A = LinearOperator((m * n, m * n), matvec=mv, dtype=np.float64)
    M = LinearOperator((m * n, m * n), matvec=prec, dtype=np.float64)
    rhs = op.rmatvec(b).ravel()
    with one_blas_thread():
        x, _ = cg(A, rhs, x0=None if x0 is None else x0.ravel(), rtol=tol, atol=0.0, maxiter=maxiter, M=M)
    return x.reshape(m, n), count[0]


def tikhonov(b: np.ndarray, psf: np.ndarray, lam: float, bc: str, tol: float = 1e-10, maxiter: int = 2000,
             x0: np.ndarray | None = None) -> np.ndarray:
    """Tikhonov for any boundary condition: the fast transform where it is exact, otherwise PCG
    from ``x0`` to a relative residual ``tol`` (the error can be up to cond(AᵀA + λ²I) times larger)."""
    b = np.asarray(b, dtype=np.float64)
    sp = forward.spectral(psf, b.shape, bc)
    if forward.spectral_is_exact(sp, bc):
        return tikhonov_spectral(b, sp, lam)
    op = BlurOperator(psf, b.shape[:2], bc)
    chans = _channels(b)
    starts = [None] * len(chans) if x0 is None else _channels(np.asarray(x0, dtype=np.float64))
    return _join([tikhonov_cg(c, op, lam, tol=tol, maxiter=maxiter, x0=s)[0] for c, s in zip(chans, starts)])


def richardson_lucy(b: np.ndarray, op, iters: int, x0: np.ndarray | None = None, normalize: bool = True,
                    truth: np.ndarray | None = None, eps: float = 1e-12):
    """x ← x · Aᵀ(b / A x) / Aᵀ1 for one channel. With normalize=False, zero boundary and x0 = 0.5
    this is scikit-image's ``richardson_lucy``. Returns (x, the mean squared error against
    ``truth`` after each iteration, or None)."""
    if iters < 0:
        raise ValueError("The number of iterations must be non-negative.")
    b = np.asarray(b)
    dt = np.float32 if b.dtype == np.float32 else np.float64  # float32 in, float32 arithmetic
    x = np.full(op.shape, 0.5, dtype=dt) if x0 is None else np.array(x0, dtype=dt)
    norm = op.rmatvec(np.ones(op.shape, dtype=dt)) if normalize else None
    if norm is not None:
        norm = np.maximum(norm, 1e-12)
    errors = [] if truth is not None else None
    for _ in range(int(iters)):
        x = x * op.rmatvec(b / (op.matvec(x) + eps))
        if norm is not None:
            x /= norm
        if errors is not None:
            errors.append(mse(np.clip(x, 0, 1), truth))
    return x, errors


def richardson_lucy_image(b: np.ndarray, psf: np.ndarray, bc: str, iters: int, truth: np.ndarray | None = None):
    """Richardson–Lucy on an (H, W) or (H, W, C) image, channel by channel in float32 with the
    cheapest exact operator, from a flat image of the data's mean brightness (scikit-image starts
    from 0.5). Returns (x, the mean squared error over all channels after each iteration, or None)."""
    b = np.asarray(b, dtype=np.float64)
    op = forward.fast_operator(psf, b.shape[:2], bc, single=True)
    chans = _channels(b)
    truths = [None] * len(chans) if truth is None else _channels(np.asarray(truth, dtype=np.float64))
    runs = [richardson_lucy(np.maximum(c, 0).astype(np.float32), op, iters, x0=np.full(c.shape, max(float(np.mean(c)), 1e-3)),
                            truth=t) for c, t in zip(chans, truths)]
    x = _join([r[0].astype(np.float64) for r in runs])
    return x, None if truth is None else np.mean([r[1] for r in runs], axis=0)


def _channels(b: np.ndarray) -> list[np.ndarray]:
    return [b] if b.ndim == 2 else [b[..., c] for c in range(b.shape[2])]


def _join(xs: list[np.ndarray]) -> np.ndarray:
    return xs[0] if len(xs) == 1 else np.stack(xs, axis=-1)


# ---------------------------------------------------------------- choosing λ
def rule_spectrum(bh: np.ndarray, sp: Spectral, weights: np.ndarray | None = None) -> lambda_rules.Spectrum:
    """The λ rules' view of the coefficients b̂ = ``forward.transform(b, sp)`` (every channel;
    ``weights`` = the prior's symbol, |ℓ| for Wiener–Hunt)."""
    d = None if weights is None else np.broadcast_to(weights, bh.shape)
    return lambda_rules.spectrum(np.broadcast_to(sp.s, bh.shape), bh, d=d, copies=sp.copies)


def choose_lambda(b: np.ndarray, sp: Spectral, rule: str = "gcv", delta: float | None = None, tau: float = 1.0) -> float:
    """λ by GCV, the discrepancy principle (needs the noise norm δ) or the L-curve corner,
    computed in the fast basis ``sp``."""
    return lambda_rules.choose(rule_spectrum(forward.transform(b, sp), sp), rule, delta, tau)


def tikhonov_auto(b: np.ndarray, psf: np.ndarray, bc: str, rule: str = "gcv", delta: float | None = None,
                  lam: float | None = None) -> tuple[np.ndarray, float]:
    """Tikhonov with λ given or chosen by ``rule`` (in the solver's fast basis, or the
    mirror-extended FFT where the boundary condition has none). Returns (x, λ)."""
    b = np.asarray(b, dtype=np.float64)
    if lam is None:
        lam = choose_lambda(b, forward.spectral(psf, b.shape, bc), rule, delta)
    return tikhonov(b, psf, lam, bc, tol=1e-6), float(lam)
