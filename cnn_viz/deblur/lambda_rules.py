"""Choosing the regularization parameter λ from spectral coefficients.

Every filter-factor method here works on two arrays: the singular values (or the
eigenvalues of a blur diagonalized by the FFT / DCT) ``s``, and the data's
coefficients in the same basis ``beta`` (uᵢᵀb for an SVD, FFT(b) or DCT(b) for an
image). The same code therefore serves the 1-D SVD and the 2-D fast transforms.

Tikhonov with weights d (d = 1 plain, d = |Laplacian symbol| for Wiener–Hunt):
    φᵢ(λ) = sᵢ² / (sᵢ² + λ² dᵢ²),   x̂ᵢ = φᵢ βᵢ / sᵢ,   r̂ᵢ = (1 − φᵢ) βᵢ.

The rules take a :class:`Spectrum`, made once by :func:`spectrum` and passed to each rule in
turn. For an image (65,536 coefficients at 256²) it merges coefficients whose s (and d) agree
to 0.1 % of a decade (``BIN_DECADES``): a merged bin keeps its count, its Σβ² and its mean s²,
so every sum is the same to about 0.2 % and each evaluation sums a few thousand bins instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq, minimize_scalar

GRID_POINTS = 240  # for plots
SEARCH_POINTS = 40  # for the searches, refined afterwards
COMPRESS_ABOVE = 8192  # merge near-equal coefficients beyond this many
BIN_DECADES = 1e-3


@dataclass(frozen=True)
class Rule:
    key: str
    label: str  # in method names and legends: "Tikhonov (GCV)"
    name: str  # in sentences: "discrepancy principle"


# Every λ of the page: the three rules that choose from the data, the oracle and the reader's own.
RULES = {r.key: r for r in (
    Rule("gcv", "GCV", "GCV"),
    Rule("lcurve", "L-curve", "L-curve corner"),
    Rule("discrepancy", "discrepancy", "discrepancy principle"),
    Rule("best", "best λ", "best λ (oracle)"),
    Rule("slider", "your λ", "your λ"),
)}
DATA_RULES = ("gcv", "discrepancy", "lcurve")  # the rules that need only the data (and the noise level)


@dataclass(frozen=True, eq=False)
class Spectrum:
    """The coefficients the rules work on: sᵢ², βᵢ² and dᵢ² (merged into bins for a large image),
    with the number of data they stand for."""

    s2: np.ndarray  # sᵢ² (bin means when merged)
    b2: np.ndarray  # βᵢ² (bin sums)
    n: np.ndarray  # how many coefficients each entry stands for
    w: np.ndarray | None  # dᵢ² (None: plain Tikhonov)
    m: int  # number of data (rows of A)
    s_max: float  # the largest |s| and the smallest non-negligible one, before merging (for the λ grids)
    s_min: float
    copies: int = 1  # how often each datum appears among the coefficients (4 for a mirror-extended image)

    def phi(self, lam: float) -> np.ndarray:
        """Tikhonov's filter factors φᵢ = sᵢ² / (sᵢ² + λ² dᵢ²) (0 where sᵢ = dᵢ = 0)."""
        w = lam**2 if self.w is None else lam**2 * self.w
        return self.s2 / np.maximum(self.s2 + w, 1e-300)

    def resid2(self, lam: float) -> float:
        cf = 1 - self.phi(lam)
        return float(np.sum(cf * cf * self.b2))

    def gcv(self, lam: float) -> float:
        # (not np.dot: a multi-threaded BLAS dot stalls when the threads wait on each other on a busy box; see metrics.norm)
        return self.resid2(lam) / (self.m - float(np.sum(self.n * self.phi(lam)))) ** 2

    def grid(self, n: int = SEARCH_POINTS, decades: float = 10.0) -> np.ndarray:
        return _log_grid(self.s_max, self.s_min, n, decades)


def spectrum(s, beta, d=None, m: int | None = None, compress: bool = True, copies: int = 1) -> Spectrum:
    """The rules' view of (s, β[, d]); ``m`` = number of data (default: one per coefficient);
    ``copies`` = how many times the coefficients hold each datum (the discrepancy principle aims
    at √copies · δ)."""
    s = np.abs(np.asarray(s)).astype(np.float64).ravel()
    b = np.abs(np.asarray(beta)).astype(np.float64).ravel()
    if s.shape != b.shape:
        raise ValueError("s and beta must have the same number of entries.")
    s_max, s_min = _range(s)
    w = None if d is None else np.abs(np.asarray(d)).astype(np.float64).ravel() ** 2
    m = s.size if m is None else m
    if not compress or s.size <= COMPRESS_ABOVE:
        return Spectrum(s * s, b * b, np.ones_like(s), w, m, s_max, s_min, copies)
    key = np.where(s > 0, np.rint(np.log10(np.maximum(s, 1e-300)) / BIN_DECADES), -(2**40)).astype(np.int64)
    if w is not None:
        kd = np.where(w > 0, np.rint(0.5 * np.log10(np.maximum(w, 1e-300)) / BIN_DECADES), -(2**19)).astype(np.int64)
        key = key * (2**21) + kd
    _, inv = np.unique(key, return_inverse=True)
    n = np.bincount(inv).astype(np.float64)
    s2 = np.bincount(inv, s * s) / n
    b2 = np.bincount(inv, b * b)
    w2 = None if w is None else np.bincount(inv, w) / n
    return Spectrum(s2, b2, n, w2, m, s_max, s_min, copies)


def _range(s: np.ndarray) -> tuple[float, float]:
    smax = float(s.max())
    if not np.isfinite(smax) or smax <= 0:
        raise ValueError("The operator is zero: there is nothing to invert.")
    return smax, float(s[s > smax * 1e-15].min())


def _log_grid(smax: float, smin: float, n: int, decades: float) -> np.ndarray:
    lo = max(smax * 10.0**-decades, smin / 10)
    return np.logspace(np.log10(smax), np.log10(lo), n)


def lambda_grid(s, n: int = GRID_POINTS, decades: float = 10.0) -> np.ndarray:
    """Log-spaced λ from s_max down by ``decades`` (never below the smallest non-zero s / 10)."""
    return _log_grid(*_range(np.abs(np.asarray(s)).astype(np.float64)), n, decades)


def gcv_function(spec: Spectrum, lams) -> np.ndarray:
    """G(λ) = ‖A x_λ − b‖² / (m − Σφᵢ)², m = number of data (rows of A)."""
    lams = np.atleast_1d(np.asarray(lams, dtype=np.float64))
    out = np.empty(lams.size)
    block = max(1, (1 << 20) // max(1, spec.s2.size))
    for i in range(0, lams.size, block):  # a block of λ per row: Spectrum.gcv at every λ at once
        lam2 = lams[i:i + block, None] ** 2
        phi = spec.s2 / np.maximum(spec.s2 + (lam2 if spec.w is None else lam2 * spec.w), 1e-300)
        cf = 1 - phi
        out[i:i + block] = np.sum(cf * cf * spec.b2, axis=1) / (spec.m - np.sum(spec.n * phi, axis=1)) ** 2
    return out


def _refine_min(f, lams, i, xatol: float = 1e-4):
    """Minimize f(λ) in log λ between the grid neighbours of index i."""
    lo = np.log(lams[min(i + 1, len(lams) - 1)])
    hi = np.log(lams[max(i - 1, 0)])
    if hi <= lo:
        return float(lams[i])
    res = minimize_scalar(lambda t: f(np.exp(t)), bounds=(lo, hi), method="bounded", options={"xatol": xatol})
    best = float(np.exp(res.x))
    return best if f(best) <= f(lams[i]) else float(lams[i])


def gcv_lambda(spec: Spectrum, lams=None) -> float:
    """The λ minimizing the GCV function: a coarse log grid, then a bounded 1-D minimization
    in log λ between the neighbours of the best grid point."""
    lams = spec.grid() if lams is None else np.asarray(lams)
    g = [spec.gcv(lam) for lam in lams]
    return _refine_min(spec.gcv, lams, int(np.argmin(g)))


def discrepancy_lambda(spec: Spectrum, delta: float, tau: float = 1.0) -> float:
    """The λ with ‖A x_λ − b‖ = τ·δ (δ = the norm of the noise). The residual grows with λ,
    so the root is found by Brent's method in log λ."""
    if not np.isfinite(delta) or delta < 0:
        raise ValueError("The noise norm δ must be a non-negative number.")
    lams = spec.grid()
    target = tau * delta * np.sqrt(spec.copies)
    f = lambda t: np.sqrt(spec.resid2(np.exp(t))) - target  # noqa: E731
    lo, hi = np.log(lams[-1]), np.log(lams[0])
    if f(lo) >= 0:
        return float(lams[-1])  # even the smallest λ leaves a residual above the noise
    if f(hi) <= 0:
        return float(lams[0])
    return float(np.exp(brentq(f, lo, hi, xtol=1e-6)))


def _lcurve_point(c: Spectrum, lam: float):
    """ρ, η and the curvature of (log ρ, log η) at one λ (``_lcurve_points``)."""
    r, e, k = _lcurve_points(c, [lam])
    return r[0], e[0], k[0]


def _lcurve_points(c: Spectrum, lams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ρ, η and the curvature of (log ρ, log η) at every λ at once, from the analytic derivatives of Hansen's
    Regularization Tools (``lcfun``); a block of λ per row (200 λ × n coefficients took 60 ms one by one)."""
    keep = c.s2 > 0
    s2, b2 = c.s2[keep], c.b2[keep]
    x2 = b2 / s2  # (β/s)²
    rest = np.sum(c.b2[~keep])
    lams = np.atleast_1d(np.asarray(lams, dtype=np.float64))
    out = np.empty((3, lams.size))
    block = max(1, (1 << 20) // max(1, s2.size))
    for i in range(0, lams.size, block):
        lam = lams[i:i + block, None]
        f = s2 / (s2 + lam**2)
        cf = 1 - f
        e = np.sqrt(np.sum(f * f * x2, axis=1))
        r = np.sqrt(np.sum(cf * cf * b2, axis=1) + rest)
        f1 = -2 * f * cf / lam
        f2 = -f1 * (3 - 4 * f) / lam
        phi = np.sum(f * f1 * x2, axis=1)
        psi = np.sum(cf * f1 * b2, axis=1)
        dphi = np.sum((f1 * f1 + f * f2) * x2, axis=1)
        dpsi = np.sum((-(f1 * f1) + cf * f2) * b2, axis=1)
        deta, drho = phi / e, -psi / r
        ddeta = dphi / e - deta * (deta / e)
        ddrho = -dpsi / r - drho * (drho / r)
        dle, dlr = deta / e, drho / r
        ddle, ddlr = ddeta / e - dle**2, ddrho / r - dlr**2
        out[:, i:i + block] = r, e, (dlr * ddle - ddlr * dle) / (dlr**2 + dle**2) ** 1.5
    return out[0], out[1], out[2]


def _plain(spec: Spectrum) -> Spectrum:
    if spec.w is not None:
        raise ValueError("The L-curve here is plain Tikhonov's (no weights d).")
    return spec


def lcurve(spec: Spectrum, lams):
    """Residual norm ρ, solution norm η and the curvature κ of the curve (log ρ, log η) at
    each λ; the corner is where κ is largest. Plain Tikhonov (d = 1)."""
    return _lcurve_points(_plain(spec), lams)


def lcurve_lambda(spec: Spectrum, lams=None) -> float:
    """The λ at the L-curve's corner: maximum curvature of (log ρ, log η)."""
    c = _plain(spec)
    lams = spec.grid() if lams is None else np.asarray(lams)
    kappa = _lcurve_points(c, lams)[2]
    kappa = np.where(np.isfinite(kappa), kappa, -np.inf)
    return _refine_min(lambda lam: -_lcurve_point(c, lam)[2], lams, int(np.argmax(kappa)))


def choose(spec: Spectrum, rule: str, delta: float | None = None, tau: float = 1.0) -> float:
    """λ by one of the ``DATA_RULES``: "gcv", "discrepancy" (needs the noise norm δ) or "lcurve"."""
    if rule == "gcv":
        return gcv_lambda(spec)
    if rule == "discrepancy":
        if delta is None:
            raise ValueError("The discrepancy principle needs the noise level.")
        return discrepancy_lambda(spec, delta, tau)
    if rule == "lcurve":
        return lcurve_lambda(spec)
    raise ValueError(f"Unknown λ rule {rule!r}; choose one of {', '.join(RULES[r].name for r in DATA_RULES)} "
                     f"({', '.join(DATA_RULES)}).")


def tsvd_gcv_k(s, beta, m: int | None = None) -> int:
    """Truncation index k minimizing G(k) = ‖r_k‖² / (m − k)² (components sorted by s, largest first)."""
    s = np.abs(np.asarray(s)).astype(np.float64).ravel()
    beta = np.abs(np.asarray(beta)).astype(np.float64).ravel()
    m = s.size if m is None else m
    order = np.argsort(-s, kind="stable")
    b2 = beta[order] ** 2
    total = b2.sum()
    k = np.arange(0, s.size)  # keep k components, k < m so the denominator is positive
    resid = total - np.concatenate([[0.0], np.cumsum(b2)[:-1]])
    ok = s[order] > 0
    g = resid / (m - k) ** 2
    g[~np.concatenate([[True], ok[:-1]])] = np.inf
    return int(np.argmin(g))


# ---------------------------------------------------------------- when a rule fails
# Three behaviours a student should be told about (checked against Hansen's Regularization Tools): an
# L-curve without a corner (its curvature is negative over the whole range), a λ on an end of the search
# range (no interior minimum was found), and a GCV minimum that is spurious (a flat curve with several
# local minima, or a λ / TSVD k that keeps components below the Picard plot's noise floor).
FLAT_GCV = 0.05  # local minima of G within 5 % of the lowest: the curve is too flat to trust its minimum
NOISE_SHARE = 0.1  # noise kept beyond the floor above 10 % of the solution's size: no sensible filter keeps it


def at_range_end(lam: float, lams) -> str | None:
    """"smallest" or "largest" when λ sits on an end of the search range ``lams`` (no interior optimum)."""
    lams = np.asarray(lams, dtype=np.float64)
    lo, hi = float(lams.min()), float(lams.max())
    if lam <= lo * (1 + 1e-6):
        return "smallest"
    if lam >= hi * (1 - 1e-6):
        return "largest"
    return None


def lcurve_has_corner(spec: Spectrum, lams=None) -> bool:
    """False when the L-curve's curvature is ≤ 0 over the whole search range: it is convex, has no corner,
    and the L-curve rule does not apply (Hansen's ``l_corner`` says so and returns its smallest λ)."""
    c = _plain(spec)
    lams = spec.grid(GRID_POINTS) if lams is None else np.asarray(lams)
    kappa = _lcurve_points(c, lams)[2]
    return bool(np.any(np.isfinite(kappa) & (kappa > 0)))


def local_minima(values) -> np.ndarray:
    """Indices of the interior local minima of a sampled curve."""
    v = np.asarray(values, dtype=np.float64)
    i = np.arange(1, v.size - 1)
    return i[(v[i] < v[i - 1]) & (v[i] <= v[i + 1])]


def gcv_minima(spec: Spectrum, lams) -> tuple[np.ndarray, np.ndarray]:
    """λ and G(λ) at the GCV curve's local minima on the grid ``lams``, lowest G first."""
    lams = np.asarray(lams, dtype=np.float64)
    g = gcv_function(spec, lams)
    idx = local_minima(g)
    idx = idx[np.argsort(g[idx], kind="stable")]
    return lams[idx], g[idx]


@dataclass(frozen=True)
class NoiseFloor:
    """Where the Picard plot's coefficients |uᵢᵀb| reach the noise: from index ``k`` on (0-based) they are
    at most 3× the noise level ``level`` = δ/√m. ``size`` = ‖x‖ of TSVD keeping the k components above it."""

    k: int
    level: float
    size: float

    def noise_kept(self, s, phi) -> float:
        """‖noise‖ that filter factors ``phi`` let through from the components beyond the floor."""
        s = np.asarray(s, dtype=np.float64)[self.k:]
        phi = np.asarray(phi, dtype=np.float64)[self.k:]
        keep = s > 0
        return float(np.sqrt(np.sum((phi[keep] * self.level / s[keep]) ** 2)))

    def too_noisy(self, s, phi) -> bool:
        return self.noise_kept(s, phi) > NOISE_SHARE * self.size


def noise_floor(s, beta, delta: float) -> NoiseFloor | None:
    """The Picard plot's noise floor (None without noise): the first index after the last coefficient
    above 3× δ/√m (white noise of norm δ puts about δ/√m into each of the m coefficients)."""
    s = np.abs(np.asarray(s, dtype=np.float64))
    beta = np.abs(np.asarray(beta, dtype=np.float64))
    if not delta > 0:
        return None
    level = delta / np.sqrt(beta.size)
    above = np.flatnonzero(beta > 3 * level)
    k = int(above[-1]) + 1 if above.size else 0
    keep = s[:k] > 0
    return NoiseFloor(k, float(level), float(np.sqrt(np.sum((beta[:k][keep] / s[:k][keep]) ** 2))))


@dataclass(frozen=True)
class RuleCheck:
    """What a rule's choice needs a warning for: ``flags`` are short words for the table, ``notes`` the
    sentences for the page (empty when the choice is sound)."""

    rule: str
    flags: tuple[str, ...]
    notes: tuple[str, ...]


def check_rules(spec: Spectrum, lam: dict[str, float], s, beta, delta: float, k_tsvd: int | None = None,
                grid=None) -> tuple[RuleCheck, ...]:
    """Checks of each data rule's λ in ``lam`` ({"gcv": …, "lcurve": …, "discrepancy": …}) and, with
    ``k_tsvd``, of TSVD-GCV's k (rule "tsvd"); ``grid`` is the plots' λ grid for the GCV minima."""
    search = spec.grid()
    grid = spec.grid(GRID_POINTS, 12.0) if grid is None else np.asarray(grid)
    floor = noise_floor(s, beta, delta)
    s_sorted = np.sort(np.abs(np.asarray(s, dtype=np.float64)))[::-1]
    out = []
    for rule in DATA_RULES:
        if rule not in lam:
            continue
        flags, notes, value = [], [], lam[rule]
        if rule == "lcurve" and not lcurve_has_corner(spec, grid):
            flags.append("no corner")
            notes.append("L-curve: no corner: the L-curve rule does not apply here (its curvature is negative over the "
                         "whole λ range, so the curve has no corner to find).")
        end = at_range_end(value, search)
        if end:
            flags.append(f"{end} λ searched")
            notes.append(f"{RULES[rule].label}: λ = {value:.2g} is the {end} λ of the search range "
                         f"({search.min():.2g} … {search.max():.2g}): the rule found no interior optimum.")
        if rule == "gcv":
            mins, g = gcv_minima(spec, grid)
            flat = mins[g <= g[0] * (1 + FLAT_GCV)] if mins.size else mins
            if flat.size > 1:
                flags.append(f"{mins.size} local minima")
                notes.append(f"GCV: the curve has {mins.size} local minima (λ = {', '.join(f'{v:.2g}' for v in mins)}), "
                             f"{flat.size} of them within {100 * FLAT_GCV:g} % of the lowest: it is flat there, and its "
                             "minimum is fragile.")
        phi = spec.phi(value)[np.argsort(-spec.s2, kind="stable")]
        if floor is not None and rule in ("gcv", "lcurve") and floor.too_noisy(s_sorted, phi):
            share = floor.noise_kept(s_sorted, phi) / floor.size
            if rule == "gcv":
                flags.append("spurious: keeps noise")
                notes.append(f"GCV: λ = {value:.2g} keeps components beyond the Picard plot's noise floor (index {floor.k + 1} "
                             f"on): the noise they carry is {share:.2g}× the solution's size. No sensible filter keeps them: "
                             "this minimum is spurious.")
            else:
                flags.append("under-regularized: keeps noise")
                notes.append(f"L-curve: λ = {value:.2g} keeps components beyond the Picard plot's noise floor (index "
                             f"{floor.k + 1} on), whose noise is {share:.2g}× the solution's size: the corner under-regularizes.")
        out.append(RuleCheck(rule, tuple(flags), tuple(notes)))
    if k_tsvd is not None and floor is not None:
        phi = (np.arange(s_sorted.size) < k_tsvd).astype(float)
        flags, notes = [], []
        if k_tsvd > floor.k and floor.too_noisy(s_sorted, phi):
            flags.append("k beyond the noise floor")
            notes.append(f"TSVD-GCV: k = {k_tsvd} keeps components beyond the Picard plot's noise floor (index {floor.k + 1} "
                         f"on), whose noise is {floor.noise_kept(s_sorted, phi) / floor.size:.2g}× the solution's size: "
                         f"a sensible k is at most {floor.k}.")
        out.append(RuleCheck("tsvd", tuple(flags), tuple(notes)))
    return tuple(out)
