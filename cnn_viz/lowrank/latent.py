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
    return _first_true(lo, min(k, hi), lambda m: truncation_max_error(x, factors, m) <= eps)


def _first_true(lo: int, hi: int, ok) -> int:
    """Bisection: the smallest k in (lo, hi] with ok(k), for a monotone ``ok`` false at lo and true at hi."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ok(mid):
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
    return _first_true(hi // 2, hi, lambda n: jl_bound(n, eps) < n)  # bound(hi / 2) ≥ hi / 2, bound(hi) < hi


def fit_log(ns, ranks) -> tuple[float, float]:
    """Least-squares a, b in rank ≈ a + b·ln n."""
    ns = np.asarray(ns, dtype=np.float64)
    ranks = np.asarray(ranks, dtype=np.float64)
    if ns.size < 2:
        raise ValueError("Fitting a + b·log n needs at least two sizes n.")
    design = np.column_stack([np.ones_like(ns), np.log(ns)])
    (a, b), *_ = np.linalg.lstsq(design, ranks, rcond=None)
    return float(a), float(b)


@dataclass(frozen=True)
class Measurement:
    """One size n of a sweep (``measure_size``). The random matrix's numbers are None (and its σ/σ₁
    empty) when it was not measured."""

    n: int
    latent_max: int  # max-entry ε-rank (SVD truncation)
    latent_spectral: int  # #{σ_i > ε σ_1}
    latent_norm2: float  # ‖X‖₂ = σ_1
    latent_rel_max: int  # max-entry rank at the theorem's tolerance ε‖X‖₂
    latent_sigma: tuple[float, ...]  # σ_i / σ_1 of the latent matrix
    random_max: int | None = None
    random_spectral: int | None = None
    random_sigma: tuple[float, ...] = ()


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

    def add(self, point: Measurement) -> "Sweep":
        """Append one size's measurements (from ``measure_size``), keeping n increasing."""
        if self.ns and point.n <= self.ns[-1]:
            raise ValueError("Add the sizes n in increasing order.")
        self.ns.append(int(point.n))
        for name in ("latent_max", "latent_spectral", "latent_norm2", "latent_rel_max", "random_max", "random_spectral"):
            getattr(self, name).append(getattr(point, name))
        self.latent_sigma = list(point.latent_sigma)
        if point.random_sigma:
            self.random_sigma, self.random_sigma_n = list(point.random_sigma), int(point.n)
        return self

    def fit(self) -> tuple[float, float]:
        return fit_log(self.ns, self.latent_max)

    def to_dict(self) -> dict:
        """Plain JSON-able numbers (the shipped precomputed sweep is stored this way)."""
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict) -> "Sweep":
        return cls(**d)

    def packed(self) -> str:
        """The sweep as one compact JSON string (``unpack`` reverses it): what the page's figure cache keys on, since
        hashing the sweep itself walks its thousands of σ values one at a time (~25 ms a figure, every rerun)."""
        import json

        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def unpack(cls, packed: str) -> "Sweep":
        import json

        return cls.from_dict(json.loads(packed))


def measure_size(n: int, d: int = 2, eps: float = 0.01, kind: str = "gaussian", seed: int = 0,
                 with_random: bool = True) -> Measurement:
    """One size n of a sweep: the latent matrix's max-entry and spectral ε-ranks, ‖X‖₂, its ε‖X‖₂-rank
    and σ/σ₁, and (``with_random``) the same ε-ranks and σ/σ₁ of a random matrix."""
    if not 0 < eps < 1:
        raise ValueError(f"ε must be between 0 and 1, got {eps}.")
    _check_n_d(n, d)
    x = latent_matrix(n, d, kind, seed)
    fx = top_svd(x, eps, seed)
    s1 = float(fx[1][0])
    latent = dict(n=int(n), latent_max=eps_rank_max(x, eps, fx), latent_spectral=eps_rank_spectral(fx[1], eps),
                  latent_norm2=s1, latent_rel_max=eps_rank_max(x, eps * s1, fx),
                  latent_sigma=tuple(float(v) for v in fx[1] / s1))
    if not with_random:
        return Measurement(**latent)
    r = random_matrix(n, seed)
    fr = svd(r)
    return Measurement(**latent, random_max=eps_rank_max(r, eps, fr), random_spectral=eps_rank_spectral(fr[1], eps),
                       random_sigma=tuple(float(v) for v in fr[1] / fr[1][0]))


def work_done_before(ns, random_up_to: int) -> list[float]:
    """Fraction of a sweep's work (∝ n³ per SVD) done before each size in ``ns`` (sorted): for progress bars."""
    work = np.array([n**3 * (2 if n <= random_up_to else 1) for n in ns], dtype=np.float64)
    return list(np.concatenate([[0.0], np.cumsum(work)[:-1]]) / work.sum())


def eps_rank_sweep(ns=DEFAULT_NS, d: int = 2, eps: float = 0.01, kind: str = "gaussian", seed: int = 0,
                   random_up_to: int = 4000, progress=None, measure=measure_size) -> Sweep:
    """``measure_size`` for each n (random matrices for n ≤ ``random_up_to``), as a Sweep.
    ``progress(fraction, message)`` is called before each size and at the end; ``measure`` (same
    arguments as ``measure_size``) lets a caller cache each size on its own."""
    ns = sorted({int(n) for n in ns})
    for n in ns:
        _check_n_d(n, d)
    out = Sweep(kind, int(d), float(eps), int(seed))
    for n, before in zip(ns, work_done_before(ns, random_up_to)):
        if progress:
            progress(before, f"n = {n}")
        out.add(measure(n, d, eps, kind, seed, n <= random_up_to))
    if progress:
        progress(1.0, "done")
    return out


# ---------------------------------------------------------------- what the page shows

RANDOM_UP_TO = 1000  # sweeps run on the page measure random matrices up to this n (the shipped ones go to 4000)


def kind_name(kind: str) -> str:
    """The formula of a ``KINDS`` entry without its description, e.g. "exp(−‖a − b‖²)"."""
    return KINDS[kind].split(":")[0]


@dataclass(frozen=True)
class SweepSettings:
    """What the page's form asks for: the function, d, ε and the largest n (defaults: the first shipped sweep)."""

    kind: str = "gaussian"
    d: int = 2
    eps: float = 0.01
    n_max: int = 4000

    @property
    def sizes(self) -> list[int]:
        return [n for n in DEFAULT_NS if n <= self.n_max]


def shipped_sweep(settings: SweepSettings, path=None) -> Sweep | None:
    """The precomputed sweep in ``path`` (default assets/lowrank_sweep.json) for these settings, or None
    (no such sweep, or the file is missing or unreadable)."""
    import json

    from cnn_viz.common import assets

    want = (settings.kind, settings.d, settings.n_max)
    try:
        for s in json.loads((path or assets.LOWRANK_SWEEP).read_text())["sweeps"]:
            if (s["kind"], s["d"], s["ns"][-1]) == want and abs(s["eps"] - settings.eps) < 1e-12:
                return Sweep.from_dict(s)
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        pass
    return None


def matrix_pair(kind: str = "gaussian", d: int = 2, n: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """(the latent matrix with rows and columns sorted by the first latent coordinate, a random matrix), n × n."""
    return latent_matrix(n, d, kind, sort=True), random_matrix(n)


@dataclass(frozen=True)
class SweepSummary:
    """The numbers the page states about a sweep, at its first and largest n, and the sentences built from them."""

    kind: str
    d: int
    eps: float
    n_first: int
    n_last: int
    rank_first: int  # max-entry ε-rank at n_first
    rank_last: int
    fit_a: float  # ε-rank ≈ a + b·ln n
    fit_b: float
    bound: float  # Theorem 1.0's r at n_last and ε
    bound_ratio: float  # bound / n_last
    bound_at_0_1: float  # the same at ε = 0.1
    crossover: int  # first n where the bound beats the trivial rank n
    norm2: float  # ‖X‖₂ at n_last
    rel_rank: int  # max-entry rank at tolerance ε‖X‖₂, at n_last
    random_n: int | None  # largest n with a random matrix measured
    random_rank: int | None
    random_all: bool  # a random matrix at every n

    @property
    def random_share(self) -> float | None:
        return None if self.random_n is None else self.random_rank / self.random_n

    @property
    def title(self) -> str:
        what = "ε-rank of exp-type latent matrices" if self.kind != "abs difference" else "ε-rank, f = Σ|a − b|"
        return f"{what}, d = {self.d}, ε = {self.eps:g}"

    @property
    def fit_help(self) -> str:
        a, b = self.fit_a, self.fit_b
        return (f"Slope b of the least-squares fit ε-rank ≈ a + b·ln n = {a:.1f} + {b:.2f}·ln n: multiplying n by "
                f"e ≈ 2.7 adds b to the rank.")

    @property
    def caption(self) -> str:
        text = (
            f"f = {kind_name(self.kind)}, d = {self.d}, ε = {self.eps:g}. Red: the max-entry ε-rank "
            f"(smallest k with max |X − X_k| ≤ ε, X_k the SVD truncation, an upper bound on the paper's ε-rank) goes from "
            f"{self.rank_first} to {self.rank_last} while n grows {self.n_last // self.n_first}-fold; dashed black: "
            f"the fit {self.fit_a:.1f} + {self.fit_b:.2f}·ln n. Green dashed: the spectral ε-rank #{{σᵢ > ε σ₁}}. Purple: a "
            "random matrix of the same size needs nearly full rank. Orange: the paper's bound, far above everything (log scale)."
        )
        return text if self.random_all else text + f" Random matrices are measured up to n = {self.random_n or 0} here."

    @property
    def looseness(self) -> str:
        """The paragraph on how far Theorem 1.0's bound is from the measured ranks at this size."""
        return (
            f"**How loose it is here.** At n = {self.n_last:,} and ε = {self.eps:g} the bound is "
            f"r = {self.bound:,.0f}, which is {self.bound_ratio:,.0f} times the size of the matrix "
            f"itself (even at ε = 0.1 it would be {self.bound_at_0_1:,.0f}), while the measured ε-rank is "
            f"{self.rank_last}. Worse, it only promises an entrywise error of "
            f"ε‖X‖₂ = {self.eps * self.norm2:,.1f} here (‖X‖₂ = σ₁ = {self.norm2:,.0f} grows with n), and at that tolerance "
            f"the measured rank is {self.rel_rank}. The constant 72 and the 1/ε² make the bound useless "
            f"at classroom sizes: for ε = {self.eps:g} it beats the trivial rank n only from n = {self.crossover:,} on."
        )


def summarise(sweep: Sweep) -> SweepSummary:
    """The fit, Theorem 1.0's bound and the last random matrix of a sweep, as the page states them."""
    a, b = sweep.fit()
    n = sweep.ns[-1]
    bound = float(jl_bound(n, sweep.eps))
    random = [(m, r) for m, r in zip(sweep.ns, sweep.random_max) if r is not None]
    rn, rr = random[-1] if random else (None, None)
    return SweepSummary(sweep.kind, sweep.d, sweep.eps, sweep.ns[0], n, sweep.latent_max[0], sweep.latent_max[-1], a, b,
                        bound, bound / n, float(jl_bound(n, 0.1)), jl_crossover(sweep.eps), sweep.latent_norm2[-1],
                        sweep.latent_rel_max[-1], rn, rr, len(random) == len(sweep.ns))
