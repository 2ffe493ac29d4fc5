"""The forward model b = A x + e of image deblurring: point spread functions, boundary
conditions, the blur operator A, its fast diagonalizations, and noise.

The blur of an m×n image x by a PSF p (odd size, centred) with a boundary condition is
    A x = valid_convolution(pad(x), p),
where pad extends x beyond its frame: periodically ("periodic"), by mirroring with the
edge pixel repeated ("reflexive", the half-sample symmetric extension of the DCT-II), or
with zeros ("zero"). A is never formed: periodic blurs are diagonalized by the 2-D FFT,
reflexive blurs with a doubly symmetric PSF by the 2-D DCT-II (A = Cᵀ diag(s) C, the
Kronecker structure of Hansen, Nagy & O'Leary, *Deblurring Images*, ch. 4), and A and Aᵀ
are otherwise applied by FFT convolution (the solvers are in :mod:`cnn_viz.deblur.restore`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft

from cnn_viz.common.metrics import norm

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


def check_bc(bc: str) -> str:
    """``bc`` if it is one of ``BOUNDARIES``, else a readable ValueError."""
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
        self.bc = check_bc(bc)
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
@dataclass(frozen=True, eq=False)
class Spectral:
    """A = T⁻¹ diag(s) T for an orthonormal transform T (FFT, DCT-II, or FFT of the mirror-extended image)."""

    kind: str  # "fft", "dct" or "mirror"
    s: np.ndarray
    shape: tuple[int, int]

    def laplacian(self) -> np.ndarray:
        """Symbol of the 5-point Laplacian in the same basis (Wiener–Hunt's prior)."""
        return symbol(LAPLACIAN, self.shape, self.kind)

    @property
    def copies(self) -> int:
        """How often the coefficients hold each pixel (the mirror-extended image is 4 copies)."""
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
    ``single=True`` works in float32 (plenty for Richardson–Lucy's images)."""

    def __init__(self, sp: Spectral, single: bool = False):
        self.shape = sp.shape
        s = sp.s.astype(np.complex64 if np.iscomplexobj(sp.s) else np.float32) if single else sp.s
        self.sp = Spectral(sp.kind, s, sp.shape)
        self.sc = np.conj(s)

    def matvec(self, x: np.ndarray) -> np.ndarray:
        return self.sp.apply(x)

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


def symbol(kernel: np.ndarray, shape, kind: str) -> np.ndarray:
    """The eigenvalues of the blur by ``kernel`` in the basis ``kind`` ("fft", "dct" or "mirror")."""
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
    check_bc(bc)
    if bc == "periodic":
        kind = "fft"
    elif bc == "reflexive" and is_doubly_symmetric(psf):
        kind = "dct"
    else:
        kind = "mirror"
    return Spectral(kind, symbol(psf, shape, kind), shape)


def spectral_is_exact(sp: Spectral, bc: str) -> bool:
    return (sp.kind == "fft" and bc == "periodic") or (sp.kind == "dct" and bc == "reflexive")


def transform(b: np.ndarray, sp: Spectral) -> np.ndarray:
    """b̂ = T b for an (H, W) image, or the channels' coefficients stacked (C, …) for an (H, W, C) one."""
    b = np.asarray(b, dtype=np.float64)
    if b.ndim == 2:
        return sp.fwd(b)
    return np.stack([sp.fwd(b[..., c]) for c in range(b.shape[2])])


def coefficients(b: np.ndarray, sp: Spectral) -> tuple[np.ndarray, np.ndarray]:
    """(s, b̂) for an (H, W) or (H, W, C) image: the channels share s, so it is repeated for each."""
    bh = transform(b, sp)
    return np.broadcast_to(sp.s, bh.shape), bh


def untransform(xh: np.ndarray, sp: Spectral) -> np.ndarray:
    """x = T⁻¹ x̂, the inverse of ``transform`` (channels back on the last axis)."""
    if xh.ndim == sp.s.ndim:
        return sp.inv(xh)
    return np.stack([sp.inv(c) for c in xh], axis=-1)
