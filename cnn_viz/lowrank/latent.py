"""Why big data matrices are approximately low rank (Udell & Townsend 2019), measured. NumPy only.

A latent variable model gives every row i a hidden point a_i and every column j a hidden point b_j
(here uniform in [−1, 1]^d) and fills the matrix with X_ij = f(a_i, b_j). For smooth f such a
matrix is full rank, yet every entry can be matched to within ε by a matrix whose rank grows only
like log n. A matrix of independent random entries has no such structure.

ε-rank, as the paper defines it (max-entry sense):
    rank_ε(X) = min { rank(Y) : ‖X − Y‖_max ≤ ε },   ‖Z‖_max = max_ij |Z_ij|.
Computing the true minimum is hard; we measure the smallest k whose SVD truncation X_k meets the
tolerance, an upper bound on rank_ε(X). The spectral ε-rank is the count of σ_i > ε σ_1, i.e. the
smallest k with ‖X − X_k‖_2 ≤ ε ‖X‖_2.

The paper's Theorem 1.0 (a Johnson–Lindenstrauss argument; see ``jl_bound``):
    for X ∈ ℝ^{m×n} with m ≥ n and 0 < ε < 1, with r = ⌈72 log(2n + 1) / ε²⌉,  rank_{ε‖X‖₂}(X) ≤ r.
M. Udell and A. Townsend, "Why are big data matrices approximately low rank?",
SIAM J. Math. Data Sci. 1(1):144–160, 2019, doi:10.1137/18M1183480.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cnn_viz.common.linalg import one_blas_thread

KINDS = {
    "gaussian": "exp(−‖a − b‖²): a Gaussian kernel (smooth, a function of the distance)",
    "inverse quadratic": "1 / (1 + ‖a − b‖²): smooth, a function of the distance",
    "exp inner product": "exp(a · b): smooth, a function of the inner product",
    "abs difference": "Σ_l |a_l − b_l|: continuous but not smooth (a kink where a_l = b_l)",
}
DEFAULT_NS = (100, 200, 400, 700, 1000, 2000, 4000)
MAX_N = 6000


def latent_points(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Row points a (n × d) and column points b (n × d), uniform in [−1, 1]^d, from one seed."""
    _check_n_d(n, d)
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (n, d)), rng.uniform(-1, 1, (n, d))


def _check_n_d(n: int, d: int) -> None:
    if int(n) < 2 or int(n) > MAX_N:
        raise ValueError(f"The matrix size n must be between 2 and {MAX_N}, got {n}.")
    if int(d) < 1 or int(d) > 20:
        raise ValueError(f"The latent dimension d must be between 1 and 20, got {d}.")


def apply_f(a: np.ndarray, b: np.ndarray, kind: str = "gaussian") -> np.ndarray:
    """X_ij = f(a_i, b_j) for the named smooth (or not) function ``kind`` (see ``KINDS``)."""
    if kind not in KINDS:
        raise ValueError(f"Unknown function {kind!r}; choose one of: {', '.join(KINDS)}.")
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if kind == "exp inner product":
        return np.exp(a @ b.T)
    if kind == "abs difference":
        return np.abs(a[:, None, :] - b[None, :, :]).sum(axis=2)
    d2 = np.maximum((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T, 0.0)
    return np.exp(-d2) if kind == "gaussian" else 1.0 / (1.0 + d2)


def latent_matrix(n: int, d: int = 2, kind: str = "gaussian", seed: int = 0, sort: bool = False) -> np.ndarray:
    """An n × n matrix from the latent variable model X_ij = f(a_i, b_j). ``sort`` orders the rows and
    columns by the first latent coordinate (same singular values, but the smooth structure shows)."""
    a, b = latent_points(n, d, seed)
    if sort:
        a, b = a[np.argsort(a[:, 0])], b[np.argsort(b[:, 0])]
    return apply_f(a, b, kind)


def random_matrix(n: int, seed: int = 0) -> np.ndarray:
    """n × n independent entries, uniform in [0, 1] (the same range as the Gaussian kernel's entries)."""
    _check_n_d(n, 1)
    return np.random.default_rng(seed + 7919).uniform(0, 1, (n, n))


def svd(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Thin SVD on one BLAS thread (faster on a busy machine)."""
    with one_blas_thread():
        return np.linalg.svd(np.asarray(x, dtype=np.float64), full_matrices=False)


# Full SVD up to this n; above it the leading triplets come from a randomized SVD (a full SVD of a
# 4000 × 4000 matrix took 85 s on the busy 2-core box, the randomized one ~3 s).
FULL_SVD_MAX_N = 700
START_RANK = 64


def top_svd(x: np.ndarray, eps: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Enough leading singular triplets of ``x`` to measure its ε-ranks: all of them for small or
    high-rank matrices, otherwise a randomized SVD (float64, 2 power iterations) grown until the
    truncation meets ‖X − X_K‖_max ≤ ε and σ_K ≤ ε σ_1."""
    from cnn_viz.lowrank.svd import randomized_svd

    x = np.asarray(x, dtype=np.float64)
    r = min(x.shape)
    k = START_RANK
    while r > FULL_SVD_MAX_N and 2 * k <= r:
        with one_blas_thread():
            f = randomized_svd(x, k, oversample=64, power_iters=2, seed=seed)
        if f[1][-1] <= eps * f[1][0] and truncation_max_error(x, f, k) <= eps:
            return f
        k *= 2
    return svd(x)


def truncation_max_error(x: np.ndarray, factors, k: int) -> float:
    """‖X − X_k‖_max for the rank-k SVD truncation. With all min(m, n) triplets the cheaper of
    X − head and tail is formed; with only the leading ones, X − head."""
    u, s, vt = factors
    r = len(s)
    complete = r == min(x.shape)
    k = int(k)
    if k <= 0:
        return float(np.max(np.abs(x)))
    if k > r:
        raise ValueError(f"Only {r} singular triplets are known; cannot truncate at rank {k}.")
    with one_blas_thread():
        if complete and k > r - k:
            resid = (u[:, k:] * s[k:]) @ vt[k:]
        else:
            resid = x - (u[:, :k] * s[:k]) @ vt[:k]
    return float(np.max(np.abs(resid)))


def eps_rank_max(x: np.ndarray, eps: float, factors=None) -> int:
    """Smallest k whose SVD truncation meets ‖X − X_k‖_max ≤ ε (bisection on k: the truncation at the
    returned k meets ε and the one at k − 1 does not). An upper bound on the paper's rank_ε(X)."""
    x = np.asarray(x, dtype=np.float64)
    if not np.isfinite(eps) or eps <= 0:
        raise ValueError(f"ε must be a positive number, got {eps}.")
    factors = top_svd(x, eps) if factors is None else factors
    lo, hi = 0, len(factors[1])  # the truncation at hi meets ε (top_svd makes sure)
    if truncation_max_error(x, factors, 0) <= eps:
        return 0
    # Gallop from small k: the ranks of interest are tiny for smooth f, so this avoids big products.
    k = 1
    while k < hi and truncation_max_error(x, factors, k) > eps:
        lo, k = k, 2 * k
    hi = min(k, hi)
    while hi - lo > 1:  # invariant: error(lo) > ε ≥ error(hi)
        mid = (lo + hi) // 2
        if truncation_max_error(x, factors, mid) <= eps:
            hi = mid
        else:
            lo = mid
    return hi


def eps_rank_spectral(s: np.ndarray, eps: float) -> int:
    """#{σ_i > ε σ_1}: the smallest k with ‖X − X_k‖_2 = σ_{k+1} ≤ ε ‖X‖_2."""
    s = np.asarray(s, dtype=np.float64)
    if s.size == 0 or s[0] == 0:
        return 0
    return int(np.sum(s > eps * s[0]))


def jl_bound(n, eps: float) -> np.ndarray:
    """Udell & Townsend (2019), Theorem 1.0: r = ⌈72 log(2n + 1) / ε²⌉ (natural log) bounds
    rank_{ε‖X‖₂}(X) for every X ∈ ℝ^{m×n} with m ≥ n and 0 < ε < 1."""
    if not 0 < eps < 1:
        raise ValueError(f"The theorem needs 0 < ε < 1, got {eps}.")
    n = np.asarray(n, dtype=np.float64)
    return np.ceil(72.0 * np.log(2.0 * n + 1.0) / eps**2)


def jl_crossover(eps: float) -> int:
    """Smallest n for which the Theorem 1.0 bound ⌈72 log(2n + 1)/ε²⌉ is below n, the trivial rank."""
    hi = 2
    while jl_bound(hi, eps) >= hi:
        hi *= 2
    lo = hi // 2  # bound(lo) ≥ lo, bound(hi) < hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if jl_bound(mid, eps) < mid:
            hi = mid
        else:
            lo = mid
    return hi


def fit_log(ns, ranks) -> tuple[float, float]:
    """Least-squares a, b in rank ≈ a + b·ln n."""
    ns = np.asarray(ns, dtype=np.float64)
    ranks = np.asarray(ranks, dtype=np.float64)
    if ns.size < 2:
        raise ValueError("Fitting a + b·log n needs at least two sizes n.")
    design = np.column_stack([np.ones_like(ns), np.log(ns)])
    (a, b), *_ = np.linalg.lstsq(design, ranks, rcond=None)
    return float(a), float(b)


@dataclass
class Sweep:
    """ε-ranks of latent-variable and random matrices for a range of sizes n."""

    kind: str
    d: int
    eps: float
    seed: int
    ns: list[int] = field(default_factory=list)
    latent_max: list[int] = field(default_factory=list)  # max-entry ε-rank (SVD truncation)
    latent_spectral: list[int] = field(default_factory=list)  # #{σ_i > ε σ_1}
    latent_norm2: list[float] = field(default_factory=list)  # ‖X‖₂ = σ_1
    latent_rel_max: list[int] = field(default_factory=list)  # max-entry rank at the theorem's tolerance ε‖X‖₂
    random_max: list[int | None] = field(default_factory=list)
    random_spectral: list[int | None] = field(default_factory=list)
    latent_sigma: list[float] = field(default_factory=list)  # σ_i / σ_1 of the latent matrix at the largest n
    random_sigma: list[float] = field(default_factory=list)  # σ_i / σ_1 of the largest random matrix
    random_sigma_n: int = 0

    def add(self, point: dict) -> "Sweep":
        """Append one size's measurements (from ``measure_size``), keeping n increasing."""
        if self.ns and point["n"] <= self.ns[-1]:
            raise ValueError("Add the sizes n in increasing order.")
        self.ns.append(int(point["n"]))
        for name in ("latent_max", "latent_spectral", "latent_norm2", "latent_rel_max", "random_max", "random_spectral"):
            getattr(self, name).append(point[name])
        self.latent_sigma = list(point["latent_sigma"])
        if point["random_sigma"]:
            self.random_sigma, self.random_sigma_n = list(point["random_sigma"]), int(point["n"])
        return self

    def fit(self) -> tuple[float, float]:
        return fit_log(self.ns, self.latent_max)

    def bound(self) -> np.ndarray:
        return jl_bound(np.array(self.ns), self.eps)

    def to_dict(self) -> dict:
        """Plain JSON-able numbers (the shipped precomputed sweep is stored this way)."""
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict) -> "Sweep":
        return cls(**d)


def measure_size(n: int, d: int = 2, eps: float = 0.01, kind: str = "gaussian", seed: int = 0,
                 with_random: bool = True) -> dict:
    """One size n of a sweep: the latent matrix's max-entry and spectral ε-ranks, ‖X‖₂, its ε‖X‖₂-rank
    and σ/σ₁, and (``with_random``) the same ε-ranks and σ/σ₁ of a random matrix. Plain numbers."""
    if not 0 < eps < 1:
        raise ValueError(f"ε must be between 0 and 1, got {eps}.")
    _check_n_d(n, d)
    x = latent_matrix(n, d, kind, seed)
    fx = top_svd(x, eps, seed)
    s1 = float(fx[1][0])
    out = {
        "n": int(n),
        "latent_max": eps_rank_max(x, eps, fx),
        "latent_spectral": eps_rank_spectral(fx[1], eps),
        "latent_norm2": s1,
        "latent_rel_max": eps_rank_max(x, eps * s1, fx),
        "latent_sigma": [float(v) for v in fx[1] / s1],
        "random_max": None, "random_spectral": None, "random_sigma": [],
    }
    if with_random:
        r = random_matrix(n, seed)
        fr = svd(r)
        out.update(random_max=eps_rank_max(r, eps, fr), random_spectral=eps_rank_spectral(fr[1], eps),
                   random_sigma=[float(v) for v in fr[1] / fr[1][0]])
    return out


def work_done_before(ns, random_up_to: int) -> list[float]:
    """Fraction of a sweep's work (∝ n³ per SVD) done before each size in ``ns`` (sorted): for progress bars."""
    work = np.array([n**3 * (2 if n <= random_up_to else 1) for n in ns], dtype=np.float64)
    return list(np.concatenate([[0.0], np.cumsum(work)[:-1]]) / work.sum())


def eps_rank_sweep(ns=DEFAULT_NS, d: int = 2, eps: float = 0.01, kind: str = "gaussian", seed: int = 0,
                   random_up_to: int = 4000, progress=None) -> Sweep:
    """``measure_size`` for each n (random matrices for n ≤ ``random_up_to``), as a Sweep.
    ``progress(fraction, message)`` is called before each size and at the end."""
    ns = sorted({int(n) for n in ns})
    for n in ns:
        _check_n_d(n, d)
    out = Sweep(kind, int(d), float(eps), int(seed))
    for n, before in zip(ns, work_done_before(ns, random_up_to)):
        if progress:
            progress(before, f"n = {n}")
        out.add(measure_size(n, d, eps, kind, seed, with_random=n <= random_up_to))
    if progress:
        progress(1.0, "done")
    return out
