"""Low-rank approximation of images by the truncated SVD (NumPy only: no torch on this path).

An image channel A (m × n) is factorized once, A = U Σ Vᵀ. Its best rank-k approximation in the
Frobenius and spectral norms is the truncation A_k = U_k Σ_k V_kᵀ (Eckart–Young–Mirsky), and

    ‖A − A_k‖_F = sqrt(σ_{k+1}² + σ_{k+2}² + …)          (the "Eckart–Young tail").

Every slider move only multiplies two thin matrices (U_k Σ_k)(V_kᵀ), which is cheap; the SVD itself
is computed once per image. Large images use a randomized SVD (Halko, Martinsson & Tropp, SIAM Review
53, 2011: a Gaussian sketch, two power iterations with re-orthonormalization, then the SVD of the
small projected matrix) that keeps the top ``RANDOMIZED_RANK`` singular triplets.

Also here: what the page shows for one rank (``at_rank``) and one target error (``eps_target``), and
PCA of a data matrix (the "eigendigits" of MNIST) through the same SVD.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from cnn_viz.common.linalg import one_blas_thread
from cnn_viz.common.metrics import psnr_from_mse

# Exact SVD up to this many pixels per channel (512² takes ~0.1 s on one core); randomized above it.
EXACT_MAX_PIXELS = 640 * 640
RANDOMIZED_RANK = 256
OVERSAMPLE = 64
POWER_ITERS = 2
STRIP_RANKS = (1, 2, 5, 10, 20, 50)
# The rank-k and error pictures redrawn on every move of the k slider are sent at most this many pixels a
# side (every 2nd pixel of a 512² image; hover gives the true row, column and value of the pixel shown):
# they are drawn ~400 px high, and at 512² they cost 1.8 MB per move per student (0.45 MB at 256).
VIEW_SIDE = 256
# The error A − A_k is texture (noise-like: a PNG of it barely compresses, ~60 kB at 256², 29 kB at 171², 16 kB
# at 128²), so it is sent at most ERROR_SIDE pixels a side (every 4th pixel of a 512² image), with real values
# on hover at up to ERROR_HOVER² points: with the rank-k picture at VIEW_SIDE, ~95 kB per move of k.
ERROR_SIDE = 128
ERROR_HOVER = 32


@dataclass(frozen=True)
class Factors:
    """The SVD of every channel, truncated to ``rank`` triplets, ready for fast rebuilding.

    ``us[c] = U_c Σ_c`` (m × rank) and ``vt[c] = V_cᵀ`` (rank × n) are float32; ``s`` (C × rank) and
    ``norm2`` (‖A_c‖_F², per channel) are float64. ``exact`` is False for a randomized SVD, whose
    singular values are accurate approximations of the leading ones. ``seconds``: how long the SVDs took.
    """

    us: np.ndarray
    vt: np.ndarray
    s: np.ndarray
    norm2: np.ndarray
    shape: tuple[int, ...]
    exact: bool
    seconds: float = 0.0

    @property
    def rank(self) -> int:
        """How many singular triplets are stored (the largest k the slider can ask for)."""
        return int(self.s.shape[1])

    @property
    def full_rank(self) -> int:
        return int(min(self.shape[0], self.shape[1]))

    @property
    def channels(self) -> int:
        return int(self.us.shape[0])

    @property
    def s_columns(self) -> np.ndarray:
        """The singular values one row per index i, one column per channel (as the CSV download has them)."""
        return self.s.T

    @property
    def caption(self) -> str:
        """Size, channels, which SVD and how long it took."""
        chans = "3 colour channels, each its own matrix" if self.channels == 3 else "grayscale"
        return (f"{self.shape[0]}×{self.shape[1]} pixels, {chans}. {'Exact' if self.exact else 'Randomized'} SVD: "
                f"{self.rank} singular triplets per channel in {self.seconds:.2f} s (computed once, then cached).")


def _as_image(img) -> np.ndarray:
    a = np.asarray(img)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)):
        raise ValueError(f"An image is (height, width) or (height, width, 3); got an array of shape {a.shape}.")
    if a.size == 0 or min(a.shape[:2]) < 1:
        raise ValueError("The image has no pixels.")
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError("The image contains a value that is not a finite number (NaN or infinity).")
    if a.ndim == 3:
        a = a[..., :3] if a.shape[2] != 1 else a[..., 0]
    return a


def randomized_svd(a: np.ndarray, k: int, oversample: int = OVERSAMPLE, power_iters: int = POWER_ITERS,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-``k`` singular triplets of ``a`` by a randomized range finder (Halko, Martinsson & Tropp 2011).

    Sketch Y = A Ω with a Gaussian Ω of k + oversample columns; refine the range with ``power_iters``
    rounds of A Aᵀ, renormalizing by LU between products (Li, Linderman, Szlam, Stanton, Kluger & Tygert,
    ACM TOMS 43, 2017: as accurate as QR there, and 3-6× cheaper here); orthonormalize once by QR; then
    take the SVD of the small QᵀA. Returns (U (m × k), s (k,), Vt (k × n)).
    """
    from scipy import linalg

    a = np.asarray(a)
    m, n = a.shape
    r = min(m, n)
    k = max(1, min(int(k), r))
    width = min(k + max(0, int(oversample)), r)
    rng = np.random.default_rng(seed)
    omega = rng.standard_normal((n, width)).astype(a.dtype, copy=False)
    y = a @ omega
    for _ in range(max(0, int(power_iters))):
        y = a @ linalg.lu(a.T @ linalg.lu(y, permute_l=True, check_finite=False)[0], permute_l=True, check_finite=False)[0]
    q, _ = linalg.qr(y, mode="economic", check_finite=False)
    ub, s, vt = np.linalg.svd(q.T @ a, full_matrices=False)
    return (q @ ub[:, :k]), s[:k], vt[:k]


def image_svd(img, method: str = "auto", rank: int | None = None, seed: int = 0) -> Factors:
    """The SVD of every channel of ``img`` ((H, W) or (H, W, 3), values in [0, 1]).

    ``method`` is "exact" (LAPACK, all min(H, W) triplets), "randomized" (the top ``rank``, default
    ``RANDOMIZED_RANK``) or "auto": exact up to ``EXACT_MAX_PIXELS`` pixels, randomized above.
    """
    t0 = time.perf_counter()
    a = _as_image(img)
    h, w = a.shape[:2]
    chans = [a] if a.ndim == 2 else [a[..., c] for c in range(a.shape[2])]
    if method == "auto":
        method = "exact" if h * w <= EXACT_MAX_PIXELS else "randomized"
    if method not in ("exact", "randomized"):
        raise ValueError(f"method must be 'auto', 'exact' or 'randomized', got {method!r}.")
    r = min(h, w)
    keep = r if method == "exact" else max(1, min(int(rank or RANDOMIZED_RANK), r))
    if method == "exact" and rank is not None:
        keep = max(1, min(int(rank), r))
    us, vts, ss = [], [], []
    with one_blas_thread():
        for ch in chans:
            if method == "exact":
                u, s, vt = np.linalg.svd(ch, full_matrices=False)
                u, s, vt = u[:, :keep], s[:keep], vt[:keep]
            else:
                # float32 sketches are 2× faster and accurate to ~1e-6 relative, far below what shows.
                u, s, vt = randomized_svd(ch.astype(np.float32), keep, seed=seed)
                s = s.astype(np.float64)
            us.append((u * s).astype(np.float32))
            vts.append(np.ascontiguousarray(vt, dtype=np.float32))
            ss.append(np.asarray(s, dtype=np.float64))
    norm2 = np.array([float(np.sum(ch * ch)) for ch in chans])
    return Factors(np.stack(us), np.stack(vts), np.stack(ss), norm2, tuple(a.shape), method == "exact" and keep == r,
                   time.perf_counter() - t0)


def _check_k(f: Factors, k: int) -> int:
    k = int(k)
    if k < 0 or k > f.rank:
        raise ValueError(f"The rank must be between 0 and {f.rank} (the singular values computed), got {k}.")
    return k


def rebuild(f: Factors, k: int) -> np.ndarray:
    """The rank-k image (U_k Σ_k)(V_kᵀ) per channel, float32, not clipped (so the Eckart–Young identity holds)."""
    k = _check_k(f, k)
    m, n = f.shape[0], f.shape[1]
    out = np.empty((f.channels, m, n), dtype=np.float32)
    with one_blas_thread():
        for c in range(f.channels):
            if k == 0:
                out[c] = 0.0
            else:
                np.matmul(f.us[c, :, :k], f.vt[c, :k], out=out[c])
    return out[0] if len(f.shape) == 2 else np.moveaxis(out, 0, -1)


def tail_energy(f: Factors, k: int) -> float:
    """Σ over channels of Σ_{i>k} σ_i²: the squared Frobenius error of the rank-k truncation."""
    # Randomized: only the leading σ are known, so the tail is ‖A‖² minus the captured energy.
    return float(_tails(f)[_check_k(f, k)])


def eckart_young_error(f: Factors, k: int) -> float:
    """√(Σ_{i>k} σ_i²) / ‖A‖_F: the relative Frobenius error the best rank-k approximation must have."""
    total = float(np.sum(f.norm2))
    return float(np.sqrt(tail_energy(f, k) / total)) if total > 0 else 0.0


def energy(f: Factors, k: int) -> float:
    """Fraction of ‖A‖_F² captured by the first k singular values: Σ_{i≤k} σ_i² / ‖A‖_F²."""
    total = float(np.sum(f.norm2))
    return float(np.sum(f.s[:, :_check_k(f, k)] ** 2) / total) if total > 0 else 1.0


def storage(shape: tuple[int, ...], k: int) -> tuple[int, int]:
    """(numbers stored for rank k, numbers in the image): k(m + n + 1) against mn, per channel summed."""
    m, n = shape[0], shape[1]
    c = 1 if len(shape) == 2 else shape[2]
    return c * int(k) * (m + n + 1), c * m * n


@dataclass(frozen=True)
class RankStats:
    k: int
    psnr: float  # dB, of the unclipped rank-k image
    rel_error: float  # measured ‖A − A_k‖_F / ‖A‖_F
    eckart_young: float  # √(Σ_{i>k} σ_i²) / ‖A‖_F from the singular values
    energy: float  # Σ_{i≤k} σ_i² / ‖A‖_F²
    stored: int  # k(m + n + 1) per channel
    pixels: int  # m·n per channel

    @property
    def compression(self) -> float:
        """How many times fewer numbers than the image (below 1: the factors are bigger)."""
        return self.pixels / self.stored if self.stored else float("inf")


def rank_stats(img: np.ndarray, approx: np.ndarray, f: Factors, k: int) -> RankStats:
    """Everything the page shows for rank k, measured on ``approx`` = ``rebuild(f, k)``.

    One pass over the pixels in float32 with a float64 sum (a 1024² colour image in a few ms):
    ‖A − A_k‖_F² gives the PSNR and the measured relative error; ‖A‖_F² comes from the factors."""
    a = np.asarray(img, dtype=np.float32)
    if a.ndim == 3 and a.shape[2] == 4:
        a = a[..., :3]
    if a.shape != np.shape(approx):
        raise ValueError(f"The rank-k image has shape {np.shape(approx)}, the image {a.shape}.")
    d = (a - approx).ravel()
    sq = float(np.add.reduce(d * d, dtype=np.float64))
    total = float(np.sum(f.norm2))
    mse = sq / d.size
    stored, pixels = storage(f.shape, k)
    return RankStats(int(k), psnr_from_mse(mse),
                     float(np.sqrt(sq / total)) if total > 0 else 0.0, eckart_young_error(f, k), energy(f, k), stored, pixels)


def _tails(f: Factors) -> np.ndarray:
    """tails[k] = Σ over channels of Σ_{i>k} σ_i², for k = 0 … rank (exact: summed from the small end)."""
    s2 = np.sum(f.s**2, axis=0)
    if f.exact:
        return np.concatenate([np.cumsum(s2[::-1])[::-1], [0.0]])
    return np.maximum(float(np.sum(f.norm2)) - np.concatenate([[0.0], np.cumsum(s2)]), 0.0)


def smallest_rank(f: Factors, eps: float) -> int | None:
    """Smallest k whose relative Frobenius error √(Σ_{i>k} σ_i²)/‖A‖_F is at most ``eps``;
    None when no stored rank reaches it (a randomized SVD keeps only the leading triplets)."""
    if not np.isfinite(eps) or eps < 0:
        raise ValueError(f"The target error ε must be a number ≥ 0, got {eps}.")
    total = float(np.sum(f.norm2))
    if total == 0:
        return 0
    ok = np.flatnonzero(np.sqrt(_tails(f) / total) <= eps)
    return int(ok[0]) if ok.size else None


def strip(f: Factors, ranks=STRIP_RANKS) -> list[tuple[int, np.ndarray]]:
    """Rank-k images (clipped to [0, 1] for display) for each k in ``ranks`` that the factors hold."""
    out, seen = [], set()
    for k in ranks:
        k = min(int(k), f.rank)
        if k in seen or k < 1:
            continue
        seen.add(k)
        out.append((k, np.clip(rebuild(f, k), 0.0, 1.0)))
    return out


def error_curve(f: Factors) -> tuple[np.ndarray, np.ndarray]:
    """(k = 0..rank, relative Eckart–Young error at each k): the curve behind "smallest k for ε"."""
    total = float(np.sum(f.norm2))
    errs = np.sqrt(_tails(f) / total) if total > 0 else np.zeros(f.rank + 1)
    return np.arange(f.rank + 1), errs


def error_image(img: np.ndarray, approx: np.ndarray) -> np.ndarray:
    """A − A_k (channel mean for colour): what the rank-k image leaves out."""
    e = np.asarray(img, dtype=np.float32) - np.asarray(approx, dtype=np.float32)
    return e.mean(axis=2) if e.ndim == 3 else e


@dataclass(frozen=True)
class RankView:
    """What the page shows for rank k of one image: the rank-k image (unclipped, and clipped to [0, 1]
    for display), the error A − A_k, the numbers, and the sentences built from them."""

    factors: Factors
    approx: np.ndarray
    shown: np.ndarray
    error: np.ndarray
    stats: RankStats

    @property
    def k(self) -> int:
        return self.stats.k

    @property
    def fewer(self) -> bool:
        """True when the factors hold fewer numbers than the image."""
        return self.stats.compression >= 1

    @property
    def stored_delta(self) -> str:
        c, pixels = self.stats.compression, self.stats.pixels
        return f"{c:.1f}× fewer than {pixels:,}" if self.fewer else f"{1 / c:.1f}× more than {pixels:,}"

    @property
    def stored_help(self) -> str:
        m, n = self.factors.shape[0], self.factors.shape[1]
        per_channel = " per channel × 3" if self.factors.channels == 3 else ""
        return f"k(m + n + 1) = {self.k}·({m} + {n} + 1){per_channel}, against m·n pixels."

    @property
    def caption(self) -> str:
        f, stats = self.factors, self.stats
        accuracy = "" if f.exact else (" (to the accuracy of the randomized SVD, which computed only the top "
                                       f"{f.rank} singular values)")
        return (f"Rank {self.k} of {f.full_rank}. The measured error and the Eckart–Young value agree{accuracy}. "
                f"Storing U_k, Σ_k and V_k takes {stats.stored:,} numbers against {stats.pixels:,} pixels.")


def at_rank(img: np.ndarray, f: Factors, k: int) -> RankView:
    """The rank-k image of ``img`` from its factors, its error and its numbers (one slider move)."""
    approx = rebuild(f, k)
    return RankView(f, approx, np.clip(approx, 0, 1), error_image(img, approx), rank_stats(img, approx, f, k))


@dataclass(frozen=True)
class EpsTarget:
    """The smallest rank k whose Eckart–Young error is at most ε (None: beyond the computed ranks), the
    error curve it is read from, and the sentence that says so."""

    eps: float
    k: int | None
    stored: int | None
    ks: np.ndarray
    errors: np.ndarray
    rank: int  # singular triplets computed

    @property
    def caption(self) -> str:
        if self.k is None:
            return (f"No rank up to {self.rank} reaches ε = {self.eps:g}: the randomized SVD computed only the top "
                    f"{self.rank} singular values. Try a larger ε or a smaller image.")
        return (f"**Smallest k for ε = {self.eps:g}: k = {self.k}**, the first rank whose Eckart–Young error "
                f"√(Σᵢ>ₖ σᵢ²)/‖A‖_F is at most ε; it stores {self.stored:,} numbers.")


def eps_target(f: Factors, eps: float) -> EpsTarget:
    """``smallest_rank`` for ``eps`` with the numbers it stores and the ``error_curve`` behind it."""
    k = smallest_rank(f, eps)
    ks, errs = error_curve(f)
    return EpsTarget(float(eps), k, None if k is None else storage(f.shape, k)[0], ks, errs, f.rank)


def file_stem(name: str) -> str:
    """A file name's stem made safe for a download name: letters and digits kept, the rest "_", 40 at most."""
    return "".join(ch if ch.isalnum() else "_" for ch in name.rsplit(".", 1)[0])[:40] or "image"


@dataclass(frozen=True)
class PCA:
    mean: np.ndarray  # (D,)
    components: np.ndarray  # (k, D), orthonormal rows: the principal directions
    singular_values: np.ndarray  # (k,)
    explained_variance: np.ndarray  # (k,) s² / (N − 1)
    explained_ratio: np.ndarray  # (k,) share of the total variance
    total_variance: float

    @property
    def cumulative_ratio(self) -> np.ndarray:
        """Share of the variance explained by the first 1, 2, … components."""
        return np.cumsum(self.explained_ratio)


def pca(data: np.ndarray, k: int | None = None) -> PCA:
    """Principal components of the rows of ``data`` (N samples × D features) via the SVD of the
    centred matrix: the right singular vectors are the directions, σ²/(N − 1) their variances."""
    x = np.asarray(data, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"PCA needs a 2-D array with at least two rows (samples × features); got shape {x.shape}.")
    mean = x.mean(axis=0)
    xc = x - mean
    with one_blas_thread():
        _, s, vt = np.linalg.svd(xc, full_matrices=False)
    k = len(s) if k is None else max(1, min(int(k), len(s)))
    var = s**2 / (x.shape[0] - 1)
    total = float(var.sum())
    ratio = var / total if total > 0 else np.zeros_like(var)
    return PCA(mean, vt[:k], s[:k], var[:k], ratio[:k], total)


def pca_reconstruct(p: PCA, sample: np.ndarray, k: int) -> np.ndarray:
    """Mean + projection of ``sample`` (D,) on the first k principal directions."""
    k = max(0, min(int(k), p.components.shape[0]))
    x = np.asarray(sample, dtype=np.float64).ravel() - p.mean
    comps = p.components[:k]
    return p.mean + comps.T @ (comps @ x)


@dataclass(frozen=True)
class Eigendigits:
    """PCA of a set of digits (rows of 784 pixels in [0, 1]) and the first few digits, to rebuild."""

    pca: PCA
    digits: np.ndarray  # (n, 784) float64 in [0, 1]

    def leading(self, n: int = 16) -> tuple[np.ndarray, np.ndarray]:
        """(the first ``n`` principal directions, their shares of the variance)."""
        return self.pca.components[:n], self.pca.explained_ratio[:n]

    def rebuild(self, i: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(digit ``i``, its reconstruction from the mean plus its first ``k`` principal coordinates)."""
        digit = self.digits[int(i)]
        return digit, pca_reconstruct(self.pca, digit, k)

    @property
    def caption(self) -> str:
        cum = self.pca.cumulative_ratio
        return (f"The first 10 components explain {100 * cum[9]:.1f}% of the variance, the first 50 "
                f"{100 * cum[49]:.1f}%: the digits are close to a low-dimensional subspace of the 784 pixels.")


def eigendigits(images: np.ndarray, k: int = 64, keep: int = 200) -> Eigendigits:
    """The first ``k`` principal components of uint8 digits (N, 28, 28) scaled to [0, 1], and the first
    ``keep`` of them as pixel rows."""
    x = np.asarray(images).reshape(len(images), -1).astype(np.float64) / 255.0
    return Eigendigits(pca(x, k), x[:keep])
