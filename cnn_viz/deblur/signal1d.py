"""The course's 1-D inverse problem, g(s) = ∫₀¹ exp(−(s−t)²/σ²) f(t) dt, discretized and regularized.

Midpoint rule on n points tᵢ = (i − ½)/n with weight h = 1/n gives the symmetric Toeplitz
matrix Aᵢⱼ = h·exp(−(sᵢ − tⱼ)²/σ²). Everything else goes through its SVD A = U Σ Vᵀ:
naive solve, truncated SVD, Tikhonov (filter factors φᵢ = σᵢ²/(σᵢ² + λ²)), and the
parameter rules of :mod:`cnn_viz.deblur.lambda_rules` (GCV, L-curve, discrepancy principle).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.linalg import toeplitz

from cnn_viz.common import fmt
from cnn_viz.common.linalg import one_blas_thread
from cnn_viz.common.metrics import relative_error
from cnn_viz.deblur import lambda_rules
from cnn_viz.deblur.forward import add_noise
from cnn_viz.deblur.lambda_rules import RULES

MAX_N = 1024
MAX_ABS = 1e100  # typed values beyond this overflow the squares and norms the solvers take (1e150 already does)
TEST_SIGNALS = ("Smooth bump", "Piecewise constant", "Bump and step")
SIGNALS = TEST_SIGNALS + ("Typed values", "Drawn")
LAMBDA_CHOICES = tuple(float(v) for v in np.logspace(-8, 0, 81))  # the "Your λ" slider
LAMBDA_DEFAULT = LAMBDA_CHOICES[50]
COND_SIGMAS = np.geomspace(0.002, 0.2, 25)  # kernel widths of the cond(A) plot


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
    raise ValueError(f"Unknown test signal {name!r}; choose one of {', '.join(TEST_SIGNALS)}.")


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
    if np.max(np.abs(vals)) > MAX_ABS:
        raise ValueError(f"The values are too large (the largest is {fmt.sci(float(np.max(np.abs(vals))), 1)}): keep them "
                         f"within ±{fmt.sci(MAX_ABS, 0)}, beyond which the solvers' squares and norms overflow.")
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


@dataclass(frozen=True, eq=False)
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


@dataclass(frozen=True, eq=False)
class Picard:
    """σᵢ, |uᵢᵀb| and |uᵢᵀb|/σᵢ, and the noise level per coefficient (None without noise)."""

    s: np.ndarray
    beta: np.ndarray
    ratio: np.ndarray
    noise: float | None


def picard(dec: SVD, b: np.ndarray, delta: float = 0.0) -> Picard:
    """The discrete Picard condition holds while |uᵢᵀb| decays faster than σᵢ; white noise of norm δ
    puts δ/√n into every coefficient."""
    beta = np.abs(dec.U.T @ b)
    with np.errstate(divide="ignore"):
        ratio = np.where(dec.s > 0, beta / np.where(dec.s > 0, dec.s, 1), np.inf)
    return Picard(dec.s, beta, ratio, delta / np.sqrt(b.size) if delta > 0 else None)


def cond_vs_sigma(n: int, sigmas) -> np.ndarray:
    """cond₂(A) = σ_max/σ_min for each kernel width (≳1e16 means numerically singular)."""
    out = []
    for sg in sigmas:
        with one_blas_thread():
            s = np.linalg.svd(kernel_matrix(n, sg), compute_uv=False)
        out.append(s[0] / s[-1] if s[-1] > 0 else np.inf)
    return np.array(out)


@dataclass(frozen=True, eq=False)
class CondCurve:
    sigmas: np.ndarray
    conds: np.ndarray


def cond_curve(n: int) -> CondCurve:
    """cond(A) over ``COND_SIGMAS`` for n points."""
    return CondCurve(COND_SIGMAS, cond_vs_sigma(n, COND_SIGMAS))


@dataclass(frozen=True)
class Pick:
    """One λ and where it sits on the L-curve and the GCV curve."""

    rule: str  # a key of lambda_rules.RULES
    lam: float
    rho: float  # ‖A x_λ − b‖
    eta: float  # ‖x_λ‖
    gcv: float  # G(λ)

    @property
    def label(self) -> str:
        return RULES[self.rule].label


@dataclass(frozen=True, eq=False)
class Reconstruction:
    label: str  # "Naive solve", "TSVD (k = 12, GCV)", "Tikhonov (GCV)", ...
    x: np.ndarray
    error: float  # ‖x − f‖ / ‖f‖
    kind: str  # "naive", "tsvd" or the rule of Tikhonov's λ

    @property
    def short_label(self) -> str:
        return self.label.replace("Tikhonov ", "Tik. ")

    @property
    def error_text(self) -> str:
        return fmt.num(self.error) if self.error < 100 else fmt.sci(self.error)


@dataclass(frozen=True, eq=False)
class Analysis1D:
    A: np.ndarray
    t: np.ndarray
    f: np.ndarray
    b_clean: np.ndarray
    b: np.ndarray
    delta: float
    dec: SVD
    spectrum: lambda_rules.Spectrum  # of (σᵢ, uᵢᵀb)
    lams: np.ndarray
    gcv: np.ndarray
    rho: np.ndarray
    eta: np.ndarray
    kappa: np.ndarray
    picks: tuple[Pick, ...]  # every rule's λ, then the oracle's and the reader's
    k_gcv: int
    solutions: tuple[Reconstruction, ...]
    picard: Picard
    checks: tuple[lambda_rules.RuleCheck, ...] = ()  # what each rule's choice needs a warning for

    @property
    def warnings(self) -> list[str]:
        """Every sentence of the rule checks: an L-curve without corner, a λ on the end of its search range,
        a spurious GCV minimum, a TSVD k beyond the noise floor."""
        return [note for c in self.checks for note in c.notes]

    def rule_table(self) -> tuple[dict[str, list], list[str]]:
        """The λ rules as a table (columns, row names): λ or k, the relative error and what the checks found."""
        flags = {c.rule: "; ".join(c.flags) or "ok" for c in self.checks}
        rows, lam, err, check = [], [], [], []
        for r in self.solutions:
            if r.kind == "naive" or r.kind == "slider":
                continue
            rows.append(r.label)
            lam.append(f"k = {self.k_gcv}" if r.kind == "tsvd" else fmt.sci(self.pick(r.kind).lam, 2))
            err.append(r.error_text)
            check.append(flags.get(r.kind, "—") if r.kind != "tsvd" or "GCV" in r.label else "chosen by you")
        return {"λ or k": lam, "relative error": err, "check": check}, rows

    def pick(self, rule: str) -> Pick:
        return next(p for p in self.picks if p.rule == rule)

    def solution(self, label: str) -> Reconstruction:
        return next(r for r in self.solutions if r.label == label)

    @property
    def rule_picks(self) -> tuple[Pick, ...]:
        """The λ chosen by a rule or the oracle (not the reader's): the marks on the L-curve and the GCV curve."""
        return tuple(p for p in self.picks if p.rule != "slider")

    @property
    def labels(self) -> list[str]:
        return [r.label for r in self.solutions]

    @property
    def default_shown(self) -> list[str]:
        return [r.label for r in self.solutions if r.kind in ("tsvd", "gcv", "discrepancy")]

    def chosen(self, labels) -> list[Reconstruction]:
        return [r for r in self.solutions if r.label in labels]

    @property
    def cond(self) -> float:
        return float(self.dec.s[0] / self.dec.s[-1])

    @property
    def naive_peak(self) -> float:
        """max |x| of the naive solution."""
        return float(np.max(np.abs(self.solution("Naive solve").x)))

    def filter_factors(self) -> list[tuple[Pick, np.ndarray]]:
        """φᵢ = σᵢ²/(σᵢ² + λ²) at each λ."""
        return [(p, self.spectrum.phi(p.lam)) for p in self.picks]

    def lambda_summary(self) -> str:
        """Each λ with the rule's name, then TSVD's k."""
        return (", ".join(f"{RULES[p.rule].name} {fmt.sci(p.lam, 2)}" for p in self.picks)
                + f"; TSVD by GCV keeps k = {self.k_gcv}")

    def table(self) -> np.ndarray:
        """Columns t, f, b, then each reconstruction (the CSV download)."""
        return np.column_stack([self.t, self.f, self.b] + [r.x for r in self.solutions])


def analyse(f: np.ndarray, sigma: float, noise: float, seed: int = 0, lam_slider: float | None = None, k: int | None = None) -> Analysis1D:
    """Blur f, add noise, and solve every way the page shows, with every λ rule (all of it on one BLAS thread,
    set once: each threadpoolctl context costs ~3 ms, and the products over every λ stall on two busy threads)."""
    with one_blas_thread():
        return _analyse(f, sigma, noise, seed, lam_slider, k)


def _analyse(f, sigma: float, noise: float, seed: int, lam_slider: float | None, k: int | None) -> Analysis1D:
    f = np.asarray(f, dtype=np.float64)
    n = f.size
    A = kernel_matrix(n, sigma)
    b_clean = A @ f
    b, delta = add_noise(b_clean, noise, seed)
    dec = SVD(*np.linalg.svd(A))  # svd() and naive_solve() without a second BLAS-thread context each
    beta = dec.U.T @ b
    spec = lambda_rules.spectrum(dec.s, beta, compress=False)
    lams = lambda_rules.lambda_grid(dec.s, decades=12)
    lam = {
        "gcv": lambda_rules.gcv_lambda(spec),
        "lcurve": lambda_rules.lcurve_lambda(spec),
        "discrepancy": lambda_rules.discrepancy_lambda(spec, delta) if delta > 0 else float(lams[-1]),
    }
    coef = dec.s[:, None] * beta[:, None] / (dec.s[:, None] ** 2 + lams[None, :] ** 2)
    errs = np.linalg.norm(dec.Vt.T @ coef - f[:, None], axis=0)  # every Tikhonov solution at once
    lam["best"] = float(lams[int(np.argmin(errs))])
    rho, eta, kappa = lambda_rules.lcurve(spec, lams)
    k_gcv = lambda_rules.tsvd_gcv_k(dec.s, beta)
    k_used = k if k is not None else k_gcv
    sols = [("Naive solve", np.linalg.solve(A, b), "naive"),
            (f"TSVD (k = {k_used}{'' if k is not None else ', GCV'})", tsvd(dec, b, k_used), "tsvd")]
    sols += [(f"Tikhonov ({RULES[rule].label})", tikhonov(dec, b, lam[rule]), rule) for rule in RULES if rule in lam]
    rules = [rule for rule in RULES if rule in lam]
    r_, e_, _ = lambda_rules.lcurve(spec, [lam[r] for r in rules])
    g_ = lambda_rules.gcv_function(spec, [lam[r] for r in rules])
    picks = tuple(Pick(r, lam[r], float(a), float(b_), float(c)) for r, a, b_, c in zip(rules, r_, e_, g_))
    checks = lambda_rules.check_rules(spec, {r: lam[r] for r in lambda_rules.DATA_RULES if r in lam and (r != "discrepancy" or delta > 0)},
                                      dec.s, beta, delta, k_gcv if k is None else None, lams)
    a = Analysis1D(A, grid(n), f, b_clean, b, delta, dec, spec, lams, lambda_rules.gcv_function(spec, lams), rho, eta, kappa,
                   picks, k_gcv, tuple(Reconstruction(lbl, x, relative_error(x, f), kind) for lbl, x, kind in sols),
                   picard(dec, b, delta), checks)
    return a if lam_slider is None else with_slider(a, lam_slider)


def with_slider(a: Analysis1D, lam: float) -> Analysis1D:
    """``a`` with the reader's λ added (its pick and its Tikhonov solution, last): a few vector products on the
    stored SVD, so the "Your λ" slider does not redo the analysis (``analyse`` without it is cached once)."""
    lam = float(lam)
    x = tikhonov(a.dec, a.b, lam)
    rho, eta, _ = lambda_rules.lcurve(a.spectrum, [lam])
    pick = Pick("slider", lam, float(rho[0]), float(eta[0]), float(lambda_rules.gcv_function(a.spectrum, [lam])[0]))
    return replace(a, picks=a.picks + (pick,),
                   solutions=a.solutions + (Reconstruction(f"Tikhonov ({RULES['slider'].label})", x, relative_error(x, a.f), "slider"),))
