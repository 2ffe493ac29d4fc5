"""Image deblurring: point spread functions, boundary conditions, and the classical restorations.

The blur of an m×n image x by a PSF p (odd size, centred) with a boundary condition is
    A x = valid_convolution(pad(x), p),
where pad extends x beyond its frame: periodically ("periodic"), by mirroring with the
edge pixel repeated ("reflexive", the half-sample symmetric extension of the DCT-II), or
with zeros ("zero"). A is never formed: periodic blurs are diagonalized by the 2-D FFT,
reflexive blurs with a doubly symmetric PSF by the 2-D DCT-II (A = Cᵀ diag(s) C, the
Kronecker structure of Hansen, Nagy & O'Leary, *Deblurring Images*, ch. 4), and the rest
are solved by preconditioned conjugate gradients with A and Aᵀ applied by FFT convolution.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.fft as sfft
from scipy.sparse.linalg import LinearOperator, cg

from cnn_viz.common.linalg import one_blas_thread
from cnn_viz.common.metrics import norm, psnr, relative_error, ssim
from cnn_viz.deblur import lambda_rules as rp

BOUNDARIES = ("reflexive", "periodic", "zero")
BC_LABELS = {
    "reflexive": "reflexive (mirror at the edge)",
    "periodic": "periodic (wrap around)",
    "zero": "zero (black outside)",
}
_PAD_MODE = {"periodic": "wrap", "reflexive": "symmetric", "zero": "constant"}
PSF_KINDS = ("Gaussian", "Motion", "Box")
MAX_PSF = 61  # largest PSF side, pixels


# ---------------------------------------------------------------- PSFs
def gaussian_psf(sigma: float, radius: int | None = None) -> np.ndarray:
    """exp(−(i² + j²) / 2σ²) on a (2r+1)² grid, r = ⌈3.5σ⌉, normalized to sum 1."""
    if not np.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"The Gaussian width σ must be a positive number of pixels, got {sigma}.")
    r = int(np.ceil(3.5 * sigma)) if radius is None else int(radius)
    r = max(r, 1)
    if 2 * r + 1 > MAX_PSF:
        raise ValueError(f"σ = {sigma:g} px needs a {2 * r + 1}-pixel PSF; the limit is {MAX_PSF} pixels.")
    t = np.arange(-r, r + 1)
    g = np.exp(-(t**2) / (2.0 * sigma**2))
    p = np.outer(g, g)
    return p / p.sum()


def motion_psf(length: float, angle_deg: float = 0.0) -> np.ndarray:
    """A straight camera shake: a centred segment ``length`` pixels long at ``angle_deg``
    (0 = horizontal, counter-clockwise). The segment is sampled 16 times per pixel and each
    sample counts for the pixel it falls in, so a horizontal or vertical shake of L (odd)
    pixels is exactly a 1×L average. Sums to 1, point-symmetric about the centre."""
    if not np.isfinite(length) or length < 1:
        raise ValueError(f"The motion length must be at least 1 pixel, got {length}.")
    if not np.isfinite(angle_deg):
        raise ValueError("The motion angle must be a number of degrees.")
    r = int(np.ceil(length / 2))
    if 2 * r + 1 > MAX_PSF:
        raise ValueError(f"A {length:g}-pixel motion needs a {2 * r + 1}-pixel PSF; the limit is {MAX_PSF} pixels.")
    n = int(np.ceil(16 * length))
    t = -length / 2 + (np.arange(n) + 0.5) * length / n
    a = np.deg2rad(angle_deg)
    cols = np.clip(np.rint(r + t * np.cos(a)).astype(int), 0, 2 * r)
    rows = np.clip(np.rint(r - t * np.sin(a)).astype(int), 0, 2 * r)
    p = np.zeros((2 * r + 1, 2 * r + 1))
    np.add.at(p, (rows, cols), 1.0)
    p = 0.5 * (p + p[::-1, ::-1])  # exactly point-symmetric about the centre
    return p / p.sum()


def box_psf(width: int) -> np.ndarray:
    """Uniform out-of-focus square of ``width`` pixels (odd), sum 1."""
    width = int(width)
    if width < 1 or width % 2 == 0:
        raise ValueError(f"The box width must be an odd number of pixels, got {width}.")
    if width > MAX_PSF:
        raise ValueError(f"The box width is limited to {MAX_PSF} pixels.")
    return np.full((width, width), 1.0 / width**2)


def make_psf(kind: str, size: float, angle: float = 0.0) -> np.ndarray:
    """``size`` is σ for a Gaussian, the length for motion, the width for a box (rounded to odd)."""
    if kind == "Gaussian":
        return gaussian_psf(size)
    if kind == "Motion":
        return motion_psf(size, angle)
    if kind == "Box":
        w = int(round(size))
        return box_psf(w if w % 2 else w + 1)
    raise ValueError(f"Unknown PSF {kind!r}; choose one of {', '.join(PSF_KINDS)}.")


def is_doubly_symmetric(psf: np.ndarray, tol: float = 1e-12) -> bool:
    """p(i, j) = p(−i, j) = p(i, −j): the condition for the DCT to diagonalize a reflexive blur."""
    p = np.asarray(psf)
    scale = tol * max(float(np.abs(p).max()), 1e-300)
    return bool(np.allclose(p, p[::-1, :], atol=scale, rtol=0) and np.allclose(p, p[:, ::-1], atol=scale, rtol=0))


# ---------------------------------------------------------------- the blur operator
def _check_psf(psf: np.ndarray, shape) -> np.ndarray:
    p = np.asarray(psf, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] % 2 == 0 or p.shape[1] % 2 == 0:
        raise ValueError("The PSF must be a 2-D array with odd sides (its centre is the middle pixel).")
    if not np.all(np.isfinite(p)):
        raise ValueError("The PSF contains a value that is not a number.")
    if p.shape[0] > shape[0] or p.shape[1] > shape[1]:
        raise ValueError(f"The PSF ({p.shape[0]}×{p.shape[1]}) is larger than the image ({shape[0]}×{shape[1]}); use a larger image or a smaller blur.")
    return p


def _check_bc(bc: str) -> str:
    if bc not in _PAD_MODE:
        raise ValueError(f"Unknown boundary condition {bc!r}; choose one of {', '.join(BOUNDARIES)}.")
    return bc


def _pad_index(n: int, r: int, bc: str) -> np.ndarray:
    """Which source index each padded position copies (−1 for zero padding)."""
    idx = np.arange(n)
    if bc == "zero":
        return np.pad(idx, r, mode="constant", constant_values=-1)
    reps = int(np.ceil(r / n)) + 1  # np.pad cannot wrap / mirror further than the array in one go
    out = idx
    for _ in range(reps):
        w = min(r, out.size)
        out = np.pad(out, w, mode=_PAD_MODE[bc])
        if (out.size - n) // 2 >= r:
            break
    c = (out.size - n) // 2
    return out[c - r: c + n + r]


class BlurOperator:
    """A x and Aᵀ y for one PSF, image shape and boundary condition, by FFT convolution."""

    def __init__(self, psf: np.ndarray, shape: tuple[int, int], bc: str):
        self.bc = _check_bc(bc)
        self.shape = tuple(int(v) for v in shape[:2])
        self.psf = _check_psf(psf, self.shape)
        m, n = self.shape
        k, l = self.psf.shape
        self.rr, self.rc = k // 2, l // 2
        self.pshape = (m + k - 1, n + l - 1)
        self.ri = _pad_index(m, self.rr, bc)
        self.ci = _pad_index(n, self.rc, bc)
        # The FFT size holds the full linear convolution of the padded image with p.
        self.fshape = tuple(sfft.next_fast_len(s + t - 1, real=True) for s, t in zip(self.pshape, self.psf.shape))
        self.P = sfft.rfft2(self.psf, self.fshape)
        self.Pc = np.conj(self.P)

    def pad(self, x: np.ndarray) -> np.ndarray:
        if self.bc == "zero":
            return np.pad(x, ((self.rr, self.rr), (self.rc, self.rc)))
        return x[np.ix_(self.ri, self.ci)]

    def pad_adjoint(self, z: np.ndarray) -> np.ndarray:
        m, n = self.shape
        if self.bc == "zero":
            return z[self.rr: self.rr + m, self.rc: self.rc + n].copy()
        rows = np.zeros((m, z.shape[1]))
        np.add.at(rows, self.ri, z)
        out = np.zeros((m, n))
        np.add.at(out.T, self.ci, rows.T)
        return out

    def matvec(self, x: np.ndarray) -> np.ndarray:
        """A x: 'valid' convolution of the padded image (output m×n)."""
        m, n = self.shape
        full = sfft.irfft2(sfft.rfft2(self.pad(x), self.fshape) * self.P, self.fshape)
        return full[2 * self.rr: 2 * self.rr + m, 2 * self.rc: 2 * self.rc + n]

    def rmatvec(self, y: np.ndarray) -> np.ndarray:
        """Aᵀ y: full correlation with p, then the adjoint of the padding (folding the border back)."""
        pm, pn = self.pshape
        full = sfft.irfft2(sfft.rfft2(y, self.fshape) * self.Pc, self.fshape)
        # correlation 'full' = convolution with the flipped PSF: index shift by the PSF size − 1
        k, l = self.psf.shape
        zf = np.roll(full, (k - 1, l - 1), axis=(0, 1))[:pm, :pn]
        return self.pad_adjoint(zf)


def blur(x: np.ndarray, psf: np.ndarray, bc: str = "reflexive") -> np.ndarray:
    """Blur an (H, W) or (H, W, C) image with the PSF under a boundary condition."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 3:
        return np.stack([blur(x[..., c], psf, bc) for c in range(x.shape[2])], axis=-1)
    return BlurOperator(psf, x.shape, bc).matvec(x)


def add_noise(b: np.ndarray, level: float, seed: int = 0) -> tuple[np.ndarray, float]:
    """White Gaussian noise scaled so that ‖e‖ = level · ‖b‖ exactly (level 0.01 = "1 % noise").
    Returns (b + e, ‖e‖)."""
    if not np.isfinite(level) or level < 0:
        raise ValueError(f"The noise level must be a non-negative number, got {level}.")
    b = np.asarray(b, dtype=np.float64)
    e = np.random.default_rng(seed).standard_normal(b.shape)
    e *= level * norm(b) / norm(e)
    return b + e, norm(e)


# ---------------------------------------------------------------- fast diagonalizations
@dataclass
class Spectral:
    """A = T⁻¹ diag(s) T for an orthonormal transform T (FFT, DCT-II, or FFT of the mirror-extended image)."""

    kind: str  # "fft", "dct" or "mirror"
    s: np.ndarray
    shape: tuple[int, int]
    _lap: np.ndarray | None = field(repr=False, default=None)

    @property
    def lap(self) -> np.ndarray:
        """Symbol of the 5-point Laplacian in the same basis (computed when first needed, for Wiener)."""
        if self._lap is None:
            self._lap = _symbol(LAPLACIAN, self.shape, self.kind)
        return self._lap

    @property
    def copies(self) -> int:
        return 4 if self.kind == "mirror" else 1

    def fwd(self, x: np.ndarray) -> np.ndarray:
        if self.kind == "fft":
            return sfft.fft2(x, norm="ortho")
        if self.kind == "dct":
            return sfft.dctn(x, type=2, norm="ortho")
        return sfft.fft2(_mirror(x), norm="ortho")

    def inv(self, c: np.ndarray) -> np.ndarray:
        if self.kind == "fft":
            return sfft.ifft2(c, norm="ortho").real
        if self.kind == "dct":
            return sfft.idctn(c, type=2, norm="ortho")
        m, n = self.shape
        return sfft.ifft2(c, norm="ortho").real[:m, :n]

    def apply(self, x: np.ndarray) -> np.ndarray:
        return self.inv(self.s * self.fwd(x))


class SpectralOperator:
    """A and Aᵀ through a fast diagonalization (same interface as BlurOperator): half the
    work of padded FFT convolutions when the boundary condition is periodic or reflexive.
    ``single=True`` works in float32 (twice as fast; plenty for Richardson–Lucy's images)."""

    def __init__(self, sp: Spectral, single: bool = False):
        self.shape = sp.shape
        s = sp.s.astype(np.complex64 if np.iscomplexobj(sp.s) else np.float32) if single else sp.s
        self.sp = Spectral(sp.kind, s, sp.shape)
        self.sc = np.conj(s)

    def matvec(self, x: np.ndarray) -> np.ndarray:
        return self.sp.inv(self.sp.s * self.sp.fwd(x))

    def rmatvec(self, y: np.ndarray) -> np.ndarray:
        return self.sp.inv(self.sc * self.sp.fwd(y))


def fast_operator(psf: np.ndarray, shape, bc: str, single: bool = False):
    """The cheapest exact operator for A: spectral when the basis is exact, else FFT convolution."""
    sp = spectral(psf, shape, bc)
    return SpectralOperator(sp, single) if spectral_is_exact(sp, bc) else BlurOperator(psf, shape, bc)


def _mirror(x: np.ndarray) -> np.ndarray:
    """The 2m×2n half-sample symmetric extension [x, fliplr x; flipud x, rot180 x]."""
    top = np.concatenate([x, x[:, ::-1]], axis=1)
    return np.concatenate([top, top[::-1, :]], axis=0)


LAPLACIAN = np.array([[0.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 0.0]])


def _symbol(kernel: np.ndarray, shape, kind: str) -> np.ndarray:
    m, n = shape
    if kind == "dct":
        # The first column of A (its response to pixel (0, 0)) lives in the top-left (r+1)×(c+1) corner and
        # only involves the mirror at the top/left edges, so a (2r+1)×(2c+1) image gives it exactly.
        k, l = kernel.shape
        small = (max(k, 2), max(l, 2))
        e = np.zeros(small)
        e[0, 0] = 1.0
        corner = BlurOperator(kernel, small, "reflexive").matvec(e)[: k // 2 + 1, : l // 2 + 1]
        col = np.zeros((m, n))
        col[: corner.shape[0], : corner.shape[1]] = corner
        e1 = np.zeros((m, n))
        e1[0, 0] = 1.0
        return sfft.dctn(col, type=2, norm="ortho") / sfft.dctn(e1, type=2, norm="ortho")
    mm, nn = (m, n) if kind == "fft" else (2 * m, 2 * n)
    k, l = kernel.shape
    z = np.zeros((mm, nn))
    z[:k, :l] = kernel
    z = np.roll(z, (-(k // 2), -(l // 2)), axis=(0, 1))
    return sfft.fft2(z)


def spectral(psf: np.ndarray, shape, bc: str) -> Spectral:
    """The fast diagonalization for a solver boundary condition, or the closest one.

    periodic → FFT (exact); reflexive with a doubly symmetric PSF → DCT-II (exact);
    reflexive with another PSF, or zero → FFT of the mirror-extended image (a reflexive-like model).
    """
    shape = tuple(int(v) for v in shape[:2])
    psf = _check_psf(psf, shape)
    _check_bc(bc)
    if bc == "periodic":
        kind = "fft"
    elif bc == "reflexive" and is_doubly_symmetric(psf):
        kind = "dct"
    else:
        kind = "mirror"
    return Spectral(kind, _symbol(psf, shape, kind), shape)


def spectral_is_exact(sp: Spectral, bc: str) -> bool:
    return (sp.kind == "fft" and bc == "periodic") or (sp.kind == "dct" and bc == "reflexive")


# ---------------------------------------------------------------- restorations (one channel)
def naive_inverse(b: np.ndarray, sp: Spectral) -> np.ndarray:
    """x = A⁻¹ b in the fast basis (components with s = 0 are dropped)."""
    s = sp.s
    bh = sp.fwd(b)
    tiny = np.abs(s) <= 1e-15 * np.abs(s).max()
    return sp.inv(np.divide(bh, s, out=np.zeros_like(bh), where=~tiny))


def tikhonov_spectral(b: np.ndarray, sp: Spectral, lam: float) -> np.ndarray:
    """argmin ‖Ax − b‖² + λ²‖x‖²: x̂ = conj(s) b̂ / (|s|² + λ²)."""
    bh = sp.fwd(b)
    return sp.inv(np.conj(sp.s) * bh / (np.abs(sp.s) ** 2 + lam**2))


def wiener(b: np.ndarray, sp: Spectral, balance: float) -> np.ndarray:
    """Wiener–Hunt with a Laplacian prior (scikit-image's ``wiener``): conj(s) b̂ / (|s|² + balance |ℓ|²)."""
    bh = sp.fwd(b)
    den = np.abs(sp.s) ** 2 + balance * np.abs(sp.lap) ** 2
    return sp.inv(np.divide(np.conj(sp.s) * bh, den, out=np.zeros_like(bh), where=den > 0))


def tsvd_spectral(b: np.ndarray, sp: Spectral, k: int) -> np.ndarray:
    """Keep the k components with the largest |s| (the spectral truncated SVD)."""
    s = np.abs(sp.s).ravel()
    bh = sp.fwd(b)
    keep = np.zeros(s.size, dtype=bool)
    keep[np.argsort(-s, kind="stable")[: max(0, int(k))]] = True
    keep = keep.reshape(sp.s.shape)
    return sp.inv(np.divide(bh, sp.s, out=np.zeros_like(bh), where=keep))


def tikhonov_cg(b: np.ndarray, op: BlurOperator, lam: float, tol: float = 1e-6, maxiter: int = 300,
                x0: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Solve (AᵀA + λ²I) x = Aᵀb by conjugate gradients, preconditioned by the periodic
    (circulant) approximation (|s|² + λ²)⁻¹. Returns (x, iterations)."""
    m, n = op.shape
    s2 = np.abs(_symbol(op.psf, op.shape, "fft")) ** 2
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


def tikhonov(b: np.ndarray, psf: np.ndarray, lam: float, bc: str, tol: float = 1e-10) -> np.ndarray:
    """Tikhonov for any boundary condition: fast transform when exact, otherwise PCG to a
    relative residual ``tol`` (the error can be up to cond(AᵀA + λ²I) times larger)."""
    b = np.asarray(b, dtype=np.float64)
    if b.ndim == 3:
        return np.stack([tikhonov(b[..., c], psf, lam, bc, tol) for c in range(b.shape[2])], axis=-1)
    sp = spectral(psf, b.shape, bc)
    if spectral_is_exact(sp, bc):
        return tikhonov_spectral(b, sp, lam)
    return tikhonov_cg(b, BlurOperator(psf, b.shape, bc), lam, tol=tol, maxiter=2000)[0]


def richardson_lucy(b: np.ndarray, op: BlurOperator, iters: int, x0: np.ndarray | None = None,
                    normalize: bool = True, truth: np.ndarray | None = None, eps: float = 1e-12):
    """x ← x · Aᵀ(b / A x) / Aᵀ1. With normalize=False, zero boundary and x0 = 0.5 this is
    scikit-image's ``richardson_lucy``. Returns (x, PSNR after each iteration or None)."""
    if iters < 0:
        raise ValueError("The number of iterations must be non-negative.")
    b = np.asarray(b)
    dt = np.float32 if b.dtype == np.float32 else np.float64  # float32 in, float32 arithmetic
    x = np.full(op.shape, 0.5, dtype=dt) if x0 is None else np.array(x0, dtype=dt)
    norm = op.rmatvec(np.ones(op.shape, dtype=dt)) if normalize else None
    if norm is not None:
        norm = np.maximum(norm, 1e-12)
    hist = [] if truth is not None else None
    for _ in range(int(iters)):
        x = x * op.rmatvec(b / (op.matvec(x) + eps))
        if norm is not None:
            x /= norm
        if hist is not None:
            hist.append(psnr(np.clip(x, 0, 1), truth))
    return x, hist


# ---------------------------------------------------------------- quality measures
# ---------------------------------------------------------------- choosing λ
LAMBDA_RULES = {"gcv": "GCV", "discrepancy": "discrepancy principle", "lcurve": "L-curve corner"}


def coefficients(b: np.ndarray, sp: Spectral) -> tuple[np.ndarray, np.ndarray]:
    """(s, b̂) for an (H, W) or (H, W, C) image: the channels share s, so they are stacked."""
    b = np.asarray(b, dtype=np.float64)
    if b.ndim == 2:
        return sp.s, sp.fwd(b)
    bh = np.stack([sp.fwd(b[..., c]) for c in range(b.shape[2])])
    return np.broadcast_to(sp.s, bh.shape), bh


def choose_lambda(b: np.ndarray, sp: Spectral, rule: str = "gcv", delta: float | None = None, tau: float = 1.0) -> float:
    """λ by GCV, the discrepancy principle (needs the noise norm δ) or the L-curve corner,
    computed in the fast basis ``sp``."""
    s, bh = coefficients(b, sp)
    if rule == "gcv":
        return rp.gcv_lambda(s, bh)
    if rule == "discrepancy":
        if delta is None:
            raise ValueError("The discrepancy principle needs the noise level.")
        return rp.discrepancy_lambda(s, bh, delta * np.sqrt(sp.copies), tau)
    if rule == "lcurve":
        return rp.lcurve_lambda(s, bh)
    raise ValueError(f"Unknown λ rule {rule!r}; choose one of {', '.join(LAMBDA_RULES)}.")


def tikhonov_auto(b: np.ndarray, psf: np.ndarray, bc: str, rule: str = "gcv", delta: float | None = None,
                  lam: float | None = None) -> tuple[np.ndarray, float]:
    """Tikhonov with λ given or chosen by ``rule`` (in the solver's fast basis, or the
    mirror-extended FFT where the boundary condition has none). Returns (x, λ)."""
    b = np.asarray(b, dtype=np.float64)
    sp = spectral(psf, b.shape, bc)
    if lam is None:
        lam = choose_lambda(b, sp, rule, delta)
    if spectral_is_exact(sp, bc):
        chans = [b] if b.ndim == 2 else [b[..., c] for c in range(b.shape[2])]
        xs = [tikhonov_spectral(c, sp, lam) for c in chans]
        return (xs[0] if b.ndim == 2 else np.stack(xs, axis=-1)), float(lam)
    return tikhonov(b, psf, lam, bc, tol=1e-6), float(lam)


# ---------------------------------------------------------------- the comparison
NAIVE, TIK_GCV, TIK_DP, TIK_LC, TIK_USER, TIK_BEST = (
    "Naive inverse", "Tikhonov (GCV)", "Tikhonov (discrepancy)", "Tikhonov (L-curve)", "Tikhonov (your λ)",
    "Tikhonov (best λ, oracle)",
)
TSVD, WIENER, RL = "TSVD (GCV)", "Wiener (GCV)", "Richardson–Lucy"
CNN_DIRECT, CNN_TIK = "CNN (direct)", "Tikhonov + CNN"
CLASSICAL = (NAIVE, TIK_GCV, TIK_DP, TIK_LC, TIK_USER, TIK_BEST, TSVD, WIENER, RL)
LEARNED = (CNN_DIRECT, CNN_TIK)
METHODS = CLASSICAL + LEARNED
_TIK_RULE = {TIK_GCV: "gcv", TIK_DP: "discrepancy", TIK_LC: "lcurve"}


@dataclass
class Scene:
    """The experiment: a true image, its blurred and noisy version, and how it was made."""

    truth: np.ndarray
    blurred: np.ndarray
    psf: np.ndarray
    bc: str
    noise: float
    delta: float  # ‖noise‖


@dataclass
class Result:
    name: str
    image: np.ndarray  # the restoration clipped to [0, 1] (what is shown and measured)
    psnr: float
    ssim: float
    rel_error: float
    seconds: float
    note: str = ""
    raw: np.ndarray | None = field(default=None, repr=False)  # unclipped, for a following CNN


def make_scene(truth: np.ndarray, psf: np.ndarray, bc: str = "reflexive", noise: float = 0.01, seed: int = 0) -> Scene:
    truth = np.clip(np.asarray(truth, dtype=np.float64), 0, 1)
    if min(truth.shape[:2]) < 16:
        raise ValueError("The image is too small to deblur: use at least 16×16 pixels.")
    b, delta = add_noise(blur(truth, psf, bc), noise, seed)
    return Scene(truth, b, np.asarray(psf, dtype=np.float64), bc, float(noise), delta)


def measure(name: str, x: np.ndarray, truth: np.ndarray, seconds: float, note: str = "") -> Result:
    xc = np.clip(x, 0, 1)
    return Result(name, xc.astype(np.float32), psnr(xc, truth), ssim(xc, truth), relative_error(xc, truth), seconds, note, x)


def _channels(b: np.ndarray) -> list[np.ndarray]:
    return [b] if b.ndim == 2 else [b[..., c] for c in range(b.shape[2])]


def _join(xs: list[np.ndarray]) -> np.ndarray:
    return xs[0] if len(xs) == 1 else np.stack(xs, axis=-1)


def _best_lambda(scene: Scene, sp: Spectral, bh: list[np.ndarray]) -> float:
    """The oracle: the λ with the highest PSNR against the true image (golden section in log λ)."""
    from scipy.optimize import minimize_scalar

    def neg(t):
        lam = np.exp(t)
        x = _join([sp.inv(np.conj(sp.s) * c / (np.abs(sp.s) ** 2 + lam**2)) for c in bh])
        return -psnr(np.clip(x, 0, 1), scene.truth)

    grid = np.log(rp.lambda_grid(sp.s, 25, decades=8))
    vals = [neg(t) for t in grid]
    i = int(np.argmin(vals))
    lo, hi = grid[min(i + 1, len(grid) - 1)], grid[max(i - 1, 0)]
    res = minimize_scalar(neg, bounds=(lo, hi), method="bounded", options={"xatol": 1e-3})
    return float(np.exp(res.x if res.fun <= vals[i] else grid[i]))


def _flat_start(b: np.ndarray) -> np.ndarray:
    """Richardson–Lucy starts from a flat image of the data's mean brightness (scikit-image starts from 0.5)."""
    return np.full(b.shape, max(float(np.mean(b)), 1e-3))


def assumed_delta(scene: Scene, noise: float | None) -> float:
    """The noise norm the discrepancy principle aims at: the true ‖e‖, or ``noise``·‖b‖ when the
    solver is told a (possibly wrong) relative noise level."""
    if noise is None:
        return scene.delta
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"The assumed noise level must be a non-negative number, got {noise}.")
    return float(noise) * norm(scene.blurred)


def compare(scene: Scene, solver_bc: str = "reflexive", methods=CLASSICAL, lam: float = 0.05, rl_iters: int = 30,
            cnn: dict | None = None, solver_psf: np.ndarray | None = None, noise: float | None = None) -> list[Result]:
    """Restore ``scene.blurred`` with each method, assuming ``solver_bc``, the PSF ``solver_psf``
    (default: the true one) and the relative noise level ``noise`` (default: the true ‖e‖, used
    by the discrepancy principle); time and measure each.

    ``cnn`` maps CNN_DIRECT / CNN_TIK to a function image → image (see deblur_cnn); CNN methods
    are skipped without it. Times include each method's share of the common set-up (the
    PSF's spectrum in the solver's basis)."""
    _check_bc(solver_bc)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"Unknown method(s): {', '.join(unknown)}.")
    b, truth = scene.blurred, scene.truth
    psf = scene.psf if solver_psf is None else np.asarray(solver_psf, dtype=np.float64)
    delta = assumed_delta(scene, noise)
    chans = _channels(b)
    t0 = time.perf_counter()
    sp = spectral(psf, b.shape, solver_bc)
    bh = [sp.fwd(c) for c in chans]
    setup = time.perf_counter() - t0
    exact = spectral_is_exact(sp, solver_bc)
    model = "" if exact else (" (mirror-FFT model)" if sp.kind == "mirror" else "")
    s_all = np.concatenate([np.broadcast_to(sp.s, c.shape).ravel() for c in bh])
    b_all = np.concatenate([c.ravel() for c in bh])
    op = None
    out: list[Result] = []
    tik_cache: dict[str, tuple[np.ndarray, float, float]] = {}

    def tik(lam_, start=None):
        if exact:
            return _join([sp.inv(np.conj(sp.s) * c / (np.abs(sp.s) ** 2 + lam_**2)) for c in bh])
        nonlocal op
        op = op or BlurOperator(psf, b.shape[:2], solver_bc)
        starts = _channels(start) if start is not None else [np.clip(c, 0, 1) for c in chans]
        return _join([tikhonov_cg(c, op, lam_, x0=x0)[0] for c, x0 in zip(chans, starts)])

    def run_tik(name):
        if name in tik_cache:
            return tik_cache[name]
        t = time.perf_counter()
        if name == TIK_USER:
            lam_ = float(lam)
        elif name == TIK_BEST:
            lam_ = _best_lambda(scene, sp, bh)
            if not exact:  # the fast model's best λ, then the best of 7 PCG solves around it (×2 apart)
                best_x, best_p, start = None, -np.inf, None
                for cand in lam_ * 2.0 ** np.arange(-3, 4):
                    start = tik(cand, start)
                    p_ = psnr(np.clip(start, 0, 1), truth)
                    if p_ > best_p:
                        best_x, best_p, lam_best = start, p_, cand
                tik_cache[name] = (best_x, float(lam_best), time.perf_counter() - t + setup)
                return tik_cache[name]
        elif _TIK_RULE[name] == "discrepancy":
            lam_ = rp.discrepancy_lambda(s_all, b_all, delta * np.sqrt(sp.copies))
        elif _TIK_RULE[name] == "gcv":
            lam_ = rp.gcv_lambda(s_all, b_all)
        else:
            lam_ = rp.lcurve_lambda(s_all, b_all)
        x = tik(lam_)
        tik_cache[name] = (x, lam_, time.perf_counter() - t + setup)
        return tik_cache[name]

    for name in methods:
        t = time.perf_counter()
        if name == NAIVE:
            x = _join([sp.inv(np.divide(c, sp.s, out=np.zeros_like(c), where=np.abs(sp.s) > 1e-15 * np.abs(sp.s).max())) for c in bh])
            out.append(measure(name, x, truth, time.perf_counter() - t + setup, model.strip(" ()") or ""))
        elif name in (TIK_GCV, TIK_DP, TIK_LC, TIK_USER, TIK_BEST):
            x, lam_, secs = run_tik(name)
            how = "" if exact else f", PCG ({solver_bc})" + (", λ chosen on the mirror-FFT model" if name in _TIK_RULE else
                                                           ", best of 7 PCG solves" if name == TIK_BEST else "")
            out.append(measure(name, x, truth, secs, f"λ = {lam_:.3g}{how}"))
        elif name == TSVD:
            k = rp.tsvd_gcv_k(s_all, b_all) // len(bh)
            x = _join([tsvd_spectral(c_img, sp, k) for c_img in chans])
            out.append(measure(name, x, truth, time.perf_counter() - t + setup, f"k = {k:,} of {sp.s.size:,}{model}"))
        elif name == WIENER:
            lap_all = np.concatenate([np.broadcast_to(sp.lap, c.shape).ravel() for c in bh])
            beta_ = rp.gcv_lambda(s_all, b_all, d=lap_all) ** 2
            x = _join([sp.inv(np.conj(sp.s) * c / (np.abs(sp.s) ** 2 + beta_ * np.abs(sp.lap) ** 2)) for c in bh])
            out.append(measure(name, x, truth, time.perf_counter() - t + setup, f"balance = {beta_:.2g}{model}"))
        elif name == RL:
            op_rl = SpectralOperator(sp, single=True) if exact else BlurOperator(psf, b.shape[:2], solver_bc)
            xs = [richardson_lucy(np.maximum(c, 0).astype(np.float32), op_rl, rl_iters, x0=_flat_start(c))[0].astype(np.float64)
                  for c in chans]
            out.append(measure(name, _join(xs), truth, time.perf_counter() - t, f"{rl_iters} iterations, {solver_bc} boundary"))
        elif name in (CNN_DIRECT, CNN_TIK):
            if not cnn or name not in cnn:
                continue
            if name == CNN_DIRECT:
                x = cnn[name](b)
                out.append(measure(name, x, truth, time.perf_counter() - t, "on the blurred image"))
            else:
                xt, lam_, secs = run_tik(TIK_GCV)
                t = time.perf_counter()
                x = cnn[name](xt)
                out.append(measure(name, x, truth, secs + time.perf_counter() - t, f"after Tikhonov (GCV, λ = {lam_:.3g})"))
    return out


def lambda_sweep(scene: Scene, solver_bc: str = "reflexive", n: int = 40, solver_psf: np.ndarray | None = None,
                 noise: float | None = None) -> dict:
    """For the λ plot: PSNR of Tikhonov, the GCV function and the residual norm over a λ grid
    (in the solver's fast basis), plus the λ each rule picks, the best PSNR on the grid and each
    rule's PSNR (interpolated in log λ)."""
    sp = spectral(scene.psf if solver_psf is None else solver_psf, scene.blurred.shape, solver_bc)
    bh = [sp.fwd(c) for c in _channels(scene.blurred)]
    s_all = np.concatenate([np.broadcast_to(sp.s, c.shape).ravel() for c in bh])
    b_all = np.concatenate([c.ravel() for c in bh])
    lams = rp.lambda_grid(sp.s, n, decades=6)
    ps = []
    for lam in lams:
        x = _join([sp.inv(np.conj(sp.s) * c / (np.abs(sp.s) ** 2 + lam**2)) for c in bh])
        ps.append(psnr(np.clip(x, 0, 1), scene.truth))
    picks = {
        "GCV": rp.gcv_lambda(s_all, b_all),
        "discrepancy": rp.discrepancy_lambda(s_all, b_all, assumed_delta(scene, noise) * np.sqrt(sp.copies)),
        "L-curve": rp.lcurve_lambda(s_all, b_all),
    }
    ps = np.array(ps)
    order = np.argsort(lams)
    pick_psnr = {rule: float(np.interp(np.log(lam), np.log(lams[order]), ps[order])) for rule, lam in picks.items()}
    return {"lams": lams, "psnr": ps, "gcv": rp.gcv_function(s_all, b_all, lams), "picks": picks,
            "best_psnr": float(ps.max()), "pick_psnr": pick_psnr,
            "exact": spectral_is_exact(sp, solver_bc), "kind": sp.kind}


def rl_curves(scene: Scene, bcs=("zero", "reflexive", "periodic"), iters: int = 150, solver_psf: np.ndarray | None = None) -> dict:
    """PSNR after each Richardson–Lucy iteration for each solver boundary condition (semi-convergence)."""
    out = {}
    for bc in bcs:
        op = fast_operator(scene.psf if solver_psf is None else solver_psf, scene.blurred.shape[:2], bc, single=True)
        hs = []
        for c, tc in zip(_channels(scene.blurred), _channels(scene.truth)):
            hs.append(richardson_lucy(np.maximum(c, 0).astype(np.float32), op, iters, x0=_flat_start(c), truth=tc)[1])
        # PSNR of the colour image from the per-channel mean squared errors
        mse = np.mean([10 ** (-np.array(h) / 10) for h in hs], axis=0)
        out[bc] = -10 * np.log10(mse)
    return out


def inverse_crime(truth: np.ndarray, psf: np.ndarray, solver_bcs=("periodic", "reflexive")) -> dict:
    """PSNR of the naive inverse on NOISE-FREE data, for data blurred with each boundary
    condition (rows) and solved assuming each solver boundary condition (columns). On the
    diagonal the data were made by exactly the model being inverted: the "inverse crime"."""
    truth = np.clip(np.asarray(truth, dtype=np.float64), 0, 1)
    out = {}
    for bb in BOUNDARIES:
        b = blur(truth, psf, bb)
        for sb in solver_bcs:
            sp = spectral(psf, truth.shape, sb)
            x = _join([naive_inverse(c, sp) for c in _channels(b)])
            out[(bb, sb)] = psnr(np.clip(x, 0, 1), truth)
    return out
