"""The 1-D lab: four operators M, two signal sets, classical solvers, and a compressibility measure.

Operators (dense n×n or m×n matrices, each scaled so that its largest singular value is 1):

- ``blur``: the course's Gaussian blur, the Toeplitz matrix of :func:`cnn_viz.deblur.signal1d.kernel_matrix`
  (local and shift-invariant: a convolution);
- ``block``: block-diagonal with independent random 8×8 blocks (the JPEG-like case: each block is its own
  problem, nothing is shared across the block borders);
- ``dense``: a dense Gaussian random m×n matrix, m < n (compressed sensing);
- ``permuted``: P A Pᵀ, the blur conjugated by a fixed random permutation: the same singular values as the
  blur, no locality (it separates conditioning from structure).

Signals: ``csc``, the convolutional sparse model x = Σₖ dₖ ∗ zₖ (a few short atoms dₖ, sparse spike trains
zₖ); ``generic``, the same number of nonzeros in a fixed random orthonormal basis (sparse, but with no
convolutional structure).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.fft import dct

from cnn_viz.common.linalg import one_blas_thread
from cnn_viz.common.metrics import norm, relative_error
from cnn_viz.deblur import lambda_rules
from cnn_viz.deblur.signal1d import kernel_matrix

OPERATORS = {
    "blur": "Gaussian blur (Toeplitz)",
    "block": "Block-diagonal, random 8×8 blocks",
    "dense": "Dense random, m < n",
    "permuted": "Permuted blur P A Pᵀ",
}
SIGNAL_SETS = {"csc": "Convolutional sparse (spikes ∗ atoms)", "generic": "Sparse in a random basis (no convolution)"}
METHODS = {
    "tikhonov": "Tikhonov (GCV)",
    "csc_ista": "ISTA on the sparse model (true atoms)",
    "cnn": "CNN fed b",
    "fc": "Fully connected fed b",
    "lista": "Unrolled ISTA (learned atoms)",
    "cnn_mtb": "CNN fed Mᵀb",
    "cnn_tik": "CNN fed Tikhonov's x",
}
CLASSICAL = ("tikhonov", "csc_ista")
LEARNED = ("cnn", "fc", "lista", "cnn_mtb", "cnn_tik")
N_CHOICES = (64, 128, 192, 256)
MIN_N, MAX_N = 64, 256
BLOCK = 8
ATOMS, ATOM_LEN = 3, 9
DENSITY = 0.03  # spikes per sample and atom
BLUR_PIXELS = 2.0  # the course kernel's width σ in samples (σ = 2/n on [0, 1]), whatever n
OPERATOR_SEED = 7  # the fixed random blocks, matrix and permutation


@dataclass(frozen=True)
class Setup:
    """Everything that defines one lab problem; results are keyed on it."""

    operator: str = "blur"
    signals: str = "csc"
    n: int = 128
    m: int = 64  # rows of the dense operator (the others are square)
    noise: float = 0.01  # ‖e‖ / ‖Mx‖ per signal
    n_train: int = 2000
    n_test: int = 200
    seed: int = 0

    def check(self) -> "Setup":
        """The setup itself, or a ValueError saying what is wrong with it."""
        if self.operator not in OPERATORS:
            raise ValueError(f"Unknown operator; choose one of {', '.join(OPERATORS)}.")
        if self.signals not in SIGNAL_SETS:
            raise ValueError(f"Unknown signal set; choose one of {', '.join(SIGNAL_SETS)}.")
        if not MIN_N <= int(self.n) <= MAX_N:
            raise ValueError(f"The signal length n must be between {MIN_N} and {MAX_N}, got {self.n}.")
        if self.operator == "block" and self.n % BLOCK:
            raise ValueError(f"The block operator needs n divisible by {BLOCK}, got {self.n}.")
        if self.operator == "dense" and not 1 <= int(self.m) < int(self.n):
            raise ValueError(f"The dense operator needs m < n measurements (m = {self.m}, n = {self.n}): "
                             "with m ≥ n it is no longer compressed sensing.")
        if not 0 <= float(self.noise) <= 0.5:
            raise ValueError(f"The noise level must be between 0 and 50 %, got {100 * self.noise:g} %.")
        return self

    @property
    def rows(self) -> int:
        return int(self.m) if self.operator == "dense" else int(self.n)


def _unit_norm(M: np.ndarray) -> np.ndarray:
    with one_blas_thread():
        return M / np.linalg.norm(M, 2)


def blur(n: int) -> np.ndarray:
    """The course's Gaussian blur matrix on n midpoints (σ = ``BLUR_PIXELS``/n), scaled to ‖A‖₂ = 1."""
    return _unit_norm(kernel_matrix(n, BLUR_PIXELS / n))


def permutation(n: int, seed: int = OPERATOR_SEED) -> np.ndarray:
    return np.random.default_rng([seed, n, 1]).permutation(n)


def permuted_blur(n: int, seed: int = OPERATOR_SEED) -> np.ndarray:
    """P A Pᵀ with P the permutation matrix of :func:`permutation`: (P A Pᵀ)ᵢⱼ = A[p⁻¹ᵢ, p⁻¹ⱼ]."""
    A = blur(n)
    p = permutation(n, seed)
    P = np.eye(n)[p]  # P x = x[p]
    return P @ A @ P.T


def block_diagonal(n: int, block: int = BLOCK, seed: int = OPERATOR_SEED) -> np.ndarray:
    """Independent N(0, 1/block) blocks on the diagonal."""
    if n % block:
        raise ValueError(f"n = {n} is not a multiple of the block size {block}.")
    rng = np.random.default_rng([seed, n, 2])
    M = np.zeros((n, n))
    for i in range(0, n, block):
        M[i:i + block, i:i + block] = rng.standard_normal((block, block)) / np.sqrt(block)
    return _unit_norm(M)


def dense(m: int, n: int, seed: int = OPERATOR_SEED) -> np.ndarray:
    """An m×n Gaussian matrix (compressed sensing when m < n)."""
    if not 1 <= m < n:
        raise ValueError(f"The dense operator needs 1 ≤ m < n, got m = {m}, n = {n}.")
    return _unit_norm(np.random.default_rng([seed, n, m, 3]).standard_normal((m, n)) / np.sqrt(m))


def operator(setup: Setup) -> np.ndarray:
    s = setup.check()
    n = int(s.n)
    return {"blur": lambda: blur(n), "block": lambda: block_diagonal(n), "dense": lambda: dense(int(s.m), n),
            "permuted": lambda: permuted_blur(n)}[s.operator]()


def singular_values(M: np.ndarray) -> np.ndarray:
    with one_blas_thread():
        return np.linalg.svd(M, compute_uv=False)


# ------------------------------------------------------------------ signals
def atoms(seed: int = OPERATOR_SEED) -> np.ndarray:
    """``ATOMS`` fixed short atoms (ATOMS, ATOM_LEN), unit norm: smooth random bumps and wiggles."""
    rng = np.random.default_rng([seed, 4])
    t = np.linspace(-1, 1, ATOM_LEN)
    out = []
    for k in range(ATOMS):
        a = np.exp(-t**2 / 0.3) * np.cos(np.pi * k * t + rng.uniform(0, np.pi)) + 0.2 * rng.standard_normal(ATOM_LEN)
        out.append(a / norm(a))
    return np.array(out)


def conv_dictionary(n: int, d: np.ndarray | None = None) -> np.ndarray:
    """The n × (K·n) matrix D with D z = Σₖ dₖ ∗ zₖ ('same' linear convolution, zeros outside)."""
    d = atoms() if d is None else d
    K, L = d.shape
    c = L // 2
    cols = []
    for k in range(K):
        Dk = np.zeros((n, n))
        for j in range(n):
            lo, hi = max(0, j - c), min(n, j - c + L)
            Dk[lo:hi, j] = d[k, lo - (j - c): hi - (j - c)]
        cols.append(Dk)
    return np.hstack(cols)


def random_basis(n: int, seed: int = OPERATOR_SEED) -> np.ndarray:
    """A fixed random orthonormal n×n basis (QR of a Gaussian matrix)."""
    with one_blas_thread():
        q, r = np.linalg.qr(np.random.default_rng([seed, n, 5]).standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def sparse_codes(count: int, length: int, rng: np.random.Generator, density: float = DENSITY) -> np.ndarray:
    z = rng.standard_normal((count, length)) * (rng.random((count, length)) < density)
    return z


def signals(kind: str, n: int, count: int, seed: int) -> np.ndarray:
    """(count, n) signals of one set, each scaled to unit RMS (so every set has the same energy)."""
    rng = np.random.default_rng([seed, n, 6, 0 if kind == "csc" else 1])
    if kind == "csc":
        X = sparse_codes(count, ATOMS * n, rng) @ conv_dictionary(n).T
    elif kind == "generic":
        X = sparse_codes(count, n, rng, DENSITY * ATOMS) @ random_basis(n).T
    else:
        raise ValueError(f"Unknown signal set {kind!r}; choose one of {', '.join(SIGNAL_SETS)}.")
    rms = np.sqrt(np.mean(X**2, axis=1, keepdims=True))
    return X / np.where(rms > 0, rms, 1.0)


@dataclass(frozen=True, eq=False)
class Data:
    """Training and held-out pairs b = M x + e for one setup."""

    setup: Setup
    M: np.ndarray
    x_train: np.ndarray
    b_train: np.ndarray
    x_test: np.ndarray
    b_test: np.ndarray


def measure(M: np.ndarray, X: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    B = X @ M.T
    scale = noise * np.sqrt(np.sum(B**2, axis=1, keepdims=True) / B.shape[1])
    return B + scale * rng.standard_normal(B.shape)


def make_data(setup: Setup) -> Data:
    s = setup.check()
    M = operator(s)
    X = signals(s.signals, int(s.n), s.n_train + s.n_test, s.seed)
    B = measure(M, X, s.noise, np.random.default_rng([s.seed, 8]))
    return Data(s, M, X[: s.n_train], B[: s.n_train], X[s.n_train:], B[s.n_train:])


# ------------------------------------------------------------------ classical solvers
def tikhonov_gcv(M: np.ndarray, B: np.ndarray, pooled: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Every row b of B solved by argmin ‖Mx − b‖² + λ²‖x‖², λ by GCV (:mod:`cnn_viz.deblur.lambda_rules`).

    ``pooled``: one λ minimizing the GCV function of the whole set (Σ residuals² over (count·(m − Σφ))²;
    the noise level is the same for every signal); otherwise each row's own GCV λ, which fails on a few
    per cent of the signals (a spurious minimum at a tiny λ; see NOTES and the lab's measured numbers).
    Returns (X̂, λ per row)."""
    with one_blas_thread():
        U, s, Vt = np.linalg.svd(M, full_matrices=False)
    beta = B @ U  # (count, r)
    count, m = B.shape[0], M.shape[0]
    if pooled:
        base = lambda_rules.spectrum(s, beta[0], m=m, compress=False)
        spec = lambda_rules.Spectrum(base.s2, np.sum(beta**2, axis=0), np.full(s.size, count), None, count * m,
                                     base.s_max, base.s_min)
        lams = np.full(count, lambda_rules.gcv_lambda(spec))
    else:
        lams = np.array([lambda_rules.gcv_lambda(lambda_rules.spectrum(s, bi, m=m, compress=False)) for bi in beta])
    out = (beta * (s / (s**2 + lams[:, None] ** 2))) @ Vt
    return out, lams


def soft(v: np.ndarray, t) -> np.ndarray:
    return np.sign(v) * np.maximum(np.abs(v) - t, 0.0)


def ista(A: np.ndarray, B: np.ndarray, lam: float, iters: int = 500, fista: bool = True) -> np.ndarray:
    """argmin_z ½‖A z − b‖² + λ‖z‖₁ for every row b of B, by (F)ISTA with step 1/‖A‖₂²."""
    with one_blas_thread():
        L = np.linalg.norm(A, 2) ** 2
        AtB = B @ A
        G = A.T @ A
    Z = np.zeros((B.shape[0], A.shape[1]))
    Y, t = Z.copy(), 1.0
    for _ in range(int(iters)):
        Zn = soft(Y - (Y @ G - AtB) / L, lam / L)
        if fista:
            tn = (1 + np.sqrt(1 + 4 * t * t)) / 2
            Y = Zn + (t - 1) / tn * (Zn - Z)
            t = tn
        else:
            Y = Zn
        Z = Zn
    return Z


def lasso_kkt_violation(A: np.ndarray, b: np.ndarray, z: np.ndarray, lam: float) -> float:
    """How far z is from optimal for ½‖Az − b‖² + λ‖z‖₁: g = Aᵀ(b − Az) must equal λ·sign(zᵢ) where zᵢ ≠ 0
    and satisfy |gᵢ| ≤ λ where zᵢ = 0. Returns the largest violation divided by λ."""
    g = A.T @ (b - A @ z)
    on = z != 0
    v_on = np.abs(g[on] - lam * np.sign(z[on])).max(initial=0.0)
    v_off = np.maximum(np.abs(g[~on]) - lam, 0).max(initial=0.0)
    return float(max(v_on, v_off) / lam)


CSC_LAMBDA = 0.005  # ISTA's λ relative to max|Aᵀb| (chosen once on training signals; see the lab's README entry)


def csc_ista(M: np.ndarray, B: np.ndarray, n: int, iters: int = 500) -> np.ndarray:
    """The model-based answer with the model's own atoms: z = argmin ½‖M D z − b‖² + λ‖z‖₁, x = D z,
    λ = CSC_LAMBDA · max|(MD)ᵀb| per signal (one λ for all rows: the median)."""
    D = conv_dictionary(n)
    A = M @ D
    lam = CSC_LAMBDA * float(np.median(np.abs(B @ A).max(axis=1)))
    return ista(A, B, lam, iters) @ D.T


# ------------------------------------------------------------------ compressibility
@dataclass(frozen=True)
class Compressibility:
    """Best k-term relative errors of a signal set in the convolutional dictionary (greedy, OMP) and in
    the DCT basis (exact), at k = n/8 terms; ``ratio`` = DCT error / convolutional error."""

    k: int
    conv_error: float
    dct_error: float

    @property
    def ratio(self) -> float:
        return self.dct_error / self.conv_error if self.conv_error > 0 else float("inf")


def omp(D: np.ndarray, x: np.ndarray, k: int) -> np.ndarray:
    """Orthogonal matching pursuit: k columns of D (unit-norm columns) greedily, least squares on them."""
    r, support = x.copy(), []
    for _ in range(k):
        support.append(int(np.argmax(np.abs(D.T @ r))))
        coef, *_ = np.linalg.lstsq(D[:, support], x, rcond=None)
        r = x - D[:, support] @ coef
    return x - r


def compressibility(X: np.ndarray, k: int | None = None) -> Compressibility:
    n = X.shape[1]
    k = max(1, n // 8) if k is None else int(k)
    D = conv_dictionary(n)
    with one_blas_thread():
        conv = np.array([omp(D, x, k) for x in X])
    C = dct(X, norm="ortho", axis=1)
    thresh = -np.sort(-np.abs(C), axis=1)[:, k - 1: k]
    kept = np.where(np.abs(C) >= thresh, C, 0.0)
    return Compressibility(k, relative_error(conv, X), relative_error(kept, C))


def errors(X_hat: np.ndarray, X: np.ndarray) -> float:
    """The table's number: ‖X̂ − X‖_F / ‖X‖_F over the held-out set."""
    return relative_error(X_hat, X)


def spectra(n: int, m: int) -> dict:
    """Singular values of every operator at this size (the dense one m×n)."""
    out = {}
    for op in OPERATORS:
        try:
            out[op] = singular_values(operator(Setup(operator=op, n=n, m=m)))
        except ValueError:
            continue
    return out
