"""The 2-D experiment of the deblurring page: a scene (a true image, blurred and made noisy), every
method restoring it, and what the page reads off the results: the comparison table, the zoom,
the λ sweep, Richardson–Lucy's semi-convergence, the inverse crime, the boundary lessons and what
the CNNs cost. Torch-free: the CNN methods arrive as functions image → image (:mod:`.cnn`)."""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from cnn_viz.common.metrics import norm, psnr, psnr_from_mse, relative_error, ssim
from cnn_viz.deblur import forward, lambda_rules, restore
from cnn_viz.deblur.forward import BOUNDARIES
from cnn_viz.deblur.lambda_rules import DATA_RULES, RULES

LAMBDA_CHOICES = tuple(float(v) for v in np.logspace(-4, 0, 41))  # the "Your λ (Tikhonov)" slider
LAMBDA_DEFAULT = LAMBDA_CHOICES[28]
LOCATOR_SIDE = 128  # the close-up's "where is the zoom box" picture: every pixel up to this side, resent on every box move
RL_CURVE_LENGTH = 150  # Richardson–Lucy iterations in the semi-convergence plot (at least)


# ---------------------------------------------------------------- the methods
def _tikhonov_name(rule: str, extra: str = "") -> str:
    return f"Tikhonov ({RULES[rule].label}{extra})"


NAIVE = "Naive inverse"
TIK_GCV, TIK_DP, TIK_LC, TIK_USER = (_tikhonov_name(r) for r in ("gcv", "discrepancy", "lcurve", "slider"))
TIK_BEST = _tikhonov_name("best", ", oracle")
TSVD, WIENER, RL = f"TSVD ({RULES['gcv'].label})", f"Wiener ({RULES['gcv'].label})", "Richardson–Lucy"
CNN_DIRECT, CNN_TIK = "CNN (direct)", "Tikhonov + CNN"
CNN_KINDS = {"direct": CNN_DIRECT, "tikcnn": CNN_TIK}  # network kind (weights file, CLI --kind) → method
TIKHONOV = {TIK_GCV: "gcv", TIK_DP: "discrepancy", TIK_LC: "lcurve", TIK_USER: "slider", TIK_BEST: "best"}  # method → its λ
CLASSICAL = (NAIVE, TIK_GCV, TIK_DP, TIK_LC, TIK_USER, TIK_BEST, TSVD, WIENER, RL)
LEARNED = (CNN_DIRECT, CNN_TIK)
METHODS = CLASSICAL + LEARNED
LOOK_FIRST = (TIK_GCV, WIENER, RL, CNN_TIK)  # the restorations the zoom shows unless told otherwise


def uses_cnn(methods) -> bool:
    return any(m in LEARNED for m in methods)


# ---------------------------------------------------------------- the scene
@dataclass(frozen=True)
class PsfSpec:
    """A PSF as the page's controls describe it: kind, size (σ, length or width) and, for motion, the angle."""

    kind: str
    size: float
    angle: float = 0.0

    @property
    def description(self) -> str:
        if self.kind == "Gaussian":
            return f"Gaussian σ = {self.size:g} px"
        if self.kind == "Motion":
            return f"motion {self.size:g} px at {self.angle:g}°"
        return f"{self.size:g}×{self.size:g} box"

    def psf(self) -> np.ndarray:
        return forward.make_psf(self.kind, self.size, self.angle)


@dataclass(frozen=True)
class Degradation:
    """How the CNNs' training pairs were made (the networks only know this world); the
    field names are stored in each checkpoint's meta."""

    psf_kind: str = "Gaussian"
    psf_size: float = 2.0
    bc: str = "reflexive"
    noise: float = 0.01
    lam_rule: str = "gcv"

    def psf(self) -> np.ndarray:
        return PsfSpec(self.psf_kind, self.psf_size).psf()

    @property
    def description(self) -> str:
        return f"{PsfSpec(self.psf_kind, self.psf_size).description}, {100 * self.noise:g} % noise, {self.bc} boundary"

    def matches(self, psf: PsfSpec, blur_bc: str, noise: float, solver_bc: str, solver_knows_psf: bool) -> bool:
        """Are these the training conditions (the data's blur, boundary and noise, and the solver's model)?"""
        return (solver_knows_psf and (psf.kind, psf.size) == (self.psf_kind, self.psf_size) and blur_bc == self.bc
                and solver_bc == self.bc and abs(noise - self.noise) < 1e-9)


TRAINED = Degradation()


@dataclass(frozen=True, eq=False)
class Scene:
    """The experiment: a true image, its blurred and noisy version, and how it was made."""

    truth: np.ndarray
    blurred: np.ndarray
    psf: np.ndarray
    bc: str
    noise: float
    delta: float  # ‖noise‖

    @property
    def observed(self) -> np.ndarray:
        """The data as shown and measured: clipped to [0, 1]."""
        return np.clip(self.blurred, 0, 1)

    @property
    def blurred_psnr(self) -> float:
        return psnr(self.observed, self.truth)

    @functools.cached_property
    def stamp(self) -> str:
        """A digest of everything the scene holds: what the caches key a scene on (``cached.SCENE``), so a rerun hashes
        its images once instead of pickling the whole scene for every cached call that takes it."""
        h = hashlib.blake2b(digest_size=16)
        for a in (self.truth, self.blurred, self.psf):
            a = np.ascontiguousarray(a)
            h.update(f"{a.dtype}{a.shape}".encode())
            h.update(a.data)
        h.update(f"{self.bc}|{self.noise!r}|{self.delta!r}".encode())
        return h.hexdigest()


def make_scene(truth: np.ndarray, psf: np.ndarray, bc: str = "reflexive", noise: float = 0.01, seed: int = 0) -> Scene:
    truth = np.clip(np.asarray(truth, dtype=np.float64), 0, 1)
    if min(truth.shape[:2]) < 16:
        raise ValueError("The image is too small to deblur: use at least 16×16 pixels.")
    b, delta = forward.add_noise(forward.blur(truth, psf, bc), noise, seed)
    return Scene(truth, b, np.asarray(psf, dtype=np.float64), bc, float(noise), delta)


def same_blur(psf: np.ndarray, other: np.ndarray) -> bool:
    return psf.shape == other.shape and bool(np.allclose(psf, other))


def assumed_delta(scene: Scene, noise: float | None) -> float:
    """The noise norm the discrepancy principle aims at: the true ‖e‖, or ``noise``·‖b‖ when the
    solver is told a (possibly wrong) relative noise level."""
    if noise is None:
        return scene.delta
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"The assumed noise level must be a non-negative number, got {noise}.")
    return float(noise) * norm(scene.blurred)


# ---------------------------------------------------------------- the comparison
@dataclass(frozen=True, eq=False)
class Result:
    name: str
    image: np.ndarray  # the restoration clipped to [0, 1] (what is shown and measured)
    psnr: float
    ssim: float
    rel_error: float
    seconds: float
    note: str = ""
    raw: np.ndarray | None = field(default=None, repr=False)  # unclipped, for a following CNN


def measure(name: str, x: np.ndarray, truth: np.ndarray, seconds: float, note: str = "") -> Result:
    xc = np.clip(x, 0, 1)
    return Result(name, xc.astype(np.float32), psnr(xc, truth), ssim(xc, truth), relative_error(xc, truth), seconds, note, x)


class _Job:
    """What the methods of one comparison share: the solver's model and fast basis, the data's
    coefficients in it, the λ rules' merged spectrum (made when a rule first needs it) and each
    Tikhonov solution (Tikhonov + CNN starts from GCV's)."""

    def __init__(self, scene: Scene, bc: str, psf: np.ndarray, delta: float, lam: float, rl_iters: int, cnn: dict | None):
        self.scene, self.bc, self.psf, self.delta, self.lam, self.rl_iters = scene, bc, psf, delta, lam, rl_iters
        self.cnn = cnn or {}
        t0 = time.perf_counter()
        self.sp = forward.spectral(psf, scene.blurred.shape, bc)
        self.bh = forward.transform(scene.blurred, self.sp)
        self.setup = time.perf_counter() - t0
        self.exact = forward.spectral_is_exact(self.sp, bc)
        self.model = "" if self.exact else " (mirror-FFT model)"
        self._spectrum: lambda_rules.Spectrum | None = None
        self._tikhonov: dict[str, tuple[np.ndarray, float, float]] = {}

    def since(self, t0: float, shared: bool = True) -> float:
        """A row's time: its own work since ``t0``, plus the shared set-up when it used it."""
        return time.perf_counter() - t0 + (self.setup if shared else 0.0)

    def spectrum(self) -> lambda_rules.Spectrum:
        if self._spectrum is None:
            self._spectrum = restore.rule_spectrum(self.bh, self.sp)
        return self._spectrum

    def solve(self, lam: float, start: np.ndarray | None = None) -> np.ndarray:
        b = self.scene.blurred
        return restore.tikhonov(b, self.psf, lam, self.bc, tol=1e-6, maxiter=300, x0=np.clip(b, 0, 1) if start is None else start)

    def tikhonov(self, rule: str) -> tuple[np.ndarray, float, float]:
        """(x, λ, seconds) of Tikhonov with ``rule``'s λ, computed once per comparison."""
        if rule not in self._tikhonov:
            t0 = time.perf_counter()
            if rule == "best":
                x, lam = self._oracle()
            else:
                lam = self.lam if rule == "slider" else lambda_rules.choose(self.spectrum(), rule, self.delta)
                x = self.solve(lam)
            self._tikhonov[rule] = (x, float(lam), time.perf_counter() - t0)
        return self._tikhonov[rule]

    def _oracle(self) -> tuple[np.ndarray, float]:
        """The λ with the highest PSNR against the true image, by golden section in log λ on the fast
        model; without an exact fast basis, then the best of 7 PCG solves around it (×2 apart)."""
        lam = _best_lambda(self.scene, self.sp, self.bh)
        if self.exact:
            return self.solve(lam), lam
        best_x, best_p, best_lam, start = None, -np.inf, lam, None
        for cand in lam * 2.0 ** np.arange(-3, 4):
            start = self.solve(cand, start)
            p = psnr(np.clip(start, 0, 1), self.scene.truth)
            if p > best_p:
                best_x, best_p, best_lam = start, p, float(cand)
        return best_x, best_lam


def _best_lambda(scene: Scene, sp: forward.Spectral, bh: np.ndarray) -> float:
    """The λ with the highest PSNR of the fast model's Tikhonov (golden section in log λ)."""
    from scipy.optimize import minimize_scalar

    def neg(t):
        x = restore.filtered(bh, sp, restore.tikhonov_filter(sp.s, np.exp(t)))
        return -psnr(np.clip(x, 0, 1), scene.truth)

    grid = np.log(lambda_rules.lambda_grid(sp.s, 25, decades=8))
    vals = [neg(t) for t in grid]
    i = int(np.argmin(vals))
    lo, hi = grid[min(i + 1, len(grid) - 1)], grid[max(i - 1, 0)]
    res = minimize_scalar(neg, bounds=(lo, hi), method="bounded", options={"xatol": 1e-3})
    return float(np.exp(res.x if res.fun <= vals[i] else grid[i]))


# One function per method, job → (restored image, details, seconds), each calling the tested solver.
def _naive(job: _Job, name: str):
    t0 = time.perf_counter()
    return restore.naive_inverse(job.scene.blurred, job.sp), job.model.strip(" ()"), job.since(t0)


def _tikhonov(job: _Job, name: str):
    rule = TIKHONOV[name]
    x, lam, seconds = job.tikhonov(rule)
    how = "" if job.exact else f", PCG ({job.bc})" + (
        ", λ chosen on the mirror-FFT model" if rule in DATA_RULES else ", best of 7 PCG solves" if rule == "best" else "")
    return x, f"λ = {lam:.3g}{how}", seconds + job.setup


def _tsvd(job: _Job, name: str):
    t0 = time.perf_counter()
    channels = job.bh.size // job.sp.s.size
    k = lambda_rules.tsvd_gcv_k(np.broadcast_to(job.sp.s, job.bh.shape), job.bh) // channels
    return restore.tsvd_spectral(job.scene.blurred, job.sp, k), f"k = {k:,} of {job.sp.s.size:,}{job.model}", job.since(t0)


def _wiener(job: _Job, name: str):
    t0 = time.perf_counter()
    balance = lambda_rules.gcv_lambda(restore.rule_spectrum(job.bh, job.sp, weights=job.sp.laplacian())) ** 2
    return restore.wiener(job.scene.blurred, job.sp, balance), f"balance = {balance:.2g}{job.model}", job.since(t0)


def _richardson_lucy(job: _Job, name: str):
    t0 = time.perf_counter()
    x, _ = restore.richardson_lucy_image(job.scene.blurred, job.psf, job.bc, job.rl_iters)
    return x, f"{job.rl_iters} iterations, {job.bc} boundary", job.since(t0, shared=False)


def _cnn_direct(job: _Job, name: str):
    t0 = time.perf_counter()
    return job.cnn[name](job.scene.blurred), "on the blurred image", job.since(t0, shared=False)


def _cnn_after_tikhonov(job: _Job, name: str):
    xt, lam, seconds = job.tikhonov("gcv")
    t0 = time.perf_counter()
    return job.cnn[name](xt), f"after Tikhonov ({RULES['gcv'].label}, λ = {lam:.3g})", seconds + job.since(t0)


SOLVERS: dict[str, Callable] = {
    NAIVE: _naive, **{m: _tikhonov for m in TIKHONOV}, TSVD: _tsvd, WIENER: _wiener, RL: _richardson_lucy,
    CNN_DIRECT: _cnn_direct, CNN_TIK: _cnn_after_tikhonov,
}


def compare(scene: Scene, solver_bc: str = "reflexive", methods=CLASSICAL, lam: float = 0.05, rl_iters: int = 30,
            cnn: dict | None = None, solver_psf: np.ndarray | None = None, noise: float | None = None) -> list[Result]:
    """Restore ``scene.blurred`` with each method, assuming ``solver_bc``, the PSF ``solver_psf``
    (default: the true one) and the relative noise level ``noise`` (default: the true ‖e‖, used
    by the discrepancy principle); time and measure each.

    ``cnn`` maps CNN_DIRECT / CNN_TIK to a function image → image (see :mod:`.cnn`); CNN methods
    are skipped without it. Times include each method's share of the common set-up (the
    data's coefficients in the solver's basis)."""
    forward.check_bc(solver_bc)
    unknown = [m for m in methods if m not in SOLVERS]
    if unknown:
        raise ValueError(f"Unknown method(s): {', '.join(unknown)}.")
    psf = scene.psf if solver_psf is None else np.asarray(solver_psf, dtype=np.float64)
    job = _Job(scene, solver_bc, psf, assumed_delta(scene, noise), lam, rl_iters, cnn)
    out = []
    for name in methods:
        if name in LEARNED and name not in job.cnn:
            continue
        x, note, seconds = SOLVERS[name](job, name)
        out.append(measure(name, x, scene.truth, seconds, note))
    return out


def compare_groups(methods, lam: float, rl_iters: int) -> list[tuple[tuple, float, int]]:
    """``methods`` split by what they depend on beyond the scene and the solver, as (methods, λ, iterations)
    for ``compare``: the reader's λ only for Tikhonov (your λ), the iteration count only for Richardson–Lucy,
    defaults for the rest. Cached one group at a time, moving the λ slider recomputes one row, not the CNNs."""
    mine = tuple(m for m in methods if m == TIK_USER)
    rl = tuple(m for m in methods if m == RL)
    rest = tuple(m for m in methods if m not in mine and m not in rl)
    return [(g, float(a), int(b)) for g, a, b in ((rest, LAMBDA_DEFAULT, 30), (mine, lam, 30), (rl, LAMBDA_DEFAULT, rl_iters)) if g]


def in_order(methods, *groups: list[Result]) -> list[Result]:
    """The results of several ``compare`` calls in the order of ``methods``."""
    by_name = {r.name: r for g in groups for r in g}
    return [by_name[m] for m in methods if m in by_name]


def table(results: list[Result]) -> dict[str, list]:
    """The comparison table's columns, rounded as shown."""
    return {
        "method": [r.name for r in results],
        "PSNR (dB)": [round(r.psnr, 2) for r in results],
        "SSIM": [round(r.ssim, 3) for r in results],
        "rel. error": [round(r.rel_error, 4) for r in results],
        "time (ms)": [round(1e3 * r.seconds, 1) for r in results],
        "details": [r.note for r in results],
    }


@dataclass(frozen=True)
class Scores:
    """One method's numbers without its images: what the bar chart reads (a Result holds two full images,
    which every figure cache would hash on each rerun)."""

    name: str
    psnr: float
    ssim: float
    seconds: float


def scores(results: list[Result]) -> tuple[Scores, ...]:
    return tuple(Scores(r.name, r.psnr, r.ssim, r.seconds) for r in results)


def numbers(results: list[Result]) -> np.ndarray:
    """The table's numeric columns (PSNR, SSIM, rel. error, time in ms), one row per method: the CSV download."""
    cols = table(results)
    return np.array([cols["PSNR (dB)"], cols["SSIM"], cols["rel. error"], cols["time (ms)"]], dtype=np.float64).T


@dataclass(frozen=True)
class NetworkInfo:
    """How a network used by a CNN method was trained (from its checkpoint's meta, or a run on the page)."""

    params: int = 0
    train_seconds: float = 0.0
    steps: int = 0
    batch: int = 16
    patch: int = 48
    threads: int = 1
    prep_seconds: float = 0.0
    command: str = ""
    retrained_here: bool = False
    stamp: str = "shipped"  # names these weights in the comparison's cache key

    @classmethod
    def from_meta(cls, meta: dict) -> NetworkInfo:
        return cls(**{k: meta[k] for k in ("params", "train_seconds", "steps", "batch", "patch", "threads", "prep_seconds",
                                          "command") if k in meta})

    def cost(self, name: str) -> str:
        if self.retrained_here:
            return f"{name}: retrained here for {self.train_seconds:.0f} s ({self.steps} steps)."
        return (f"{name}: {self.params:,} weights, trained {self.train_seconds / 60:.1f} min ({self.steps:,} steps of "
                f"{self.batch} patches {self.patch}×{self.patch}, {self.threads} CPU thread) plus {self.prep_seconds:.0f} s "
                f"to make the training pairs; `{self.command}`.")


@dataclass(frozen=True, eq=False)
class Networks:
    """The networks the CNN methods use: method name → restoring function, with how each was trained."""

    restorers: dict[str, Callable[[np.ndarray], np.ndarray]] = field(default_factory=dict)
    infos: dict[str, NetworkInfo] = field(default_factory=dict)

    @property
    def stamp(self) -> str:
        """Names this set of weights, for the cache key of the computations that run them."""
        return "|".join(f"{name}:{info.stamp}" for name, info in sorted(self.infos.items())) or "none"


@dataclass(frozen=True)
class CnnVerdict:
    """Where the CNN wins: one line per learned method against the best classical one, then each network's cost."""

    lines: tuple[str, ...]
    pair_wins: bool  # Tikhonov + CNN beats every classical method

    @property
    def markdown(self) -> str:
        return "\n".join(f"- {ln}" for ln in self.lines)


def cnn_verdict(results: list[Result], infos: dict[str, NetworkInfo]) -> CnnVerdict | None:
    """None unless the comparison holds a learned method and a classical one besides the oracle."""
    classical = [r for r in results if r.name in CLASSICAL]
    learned = [r for r in results if r.name in LEARNED]
    if not learned or all(r.name == TIK_BEST for r in classical):
        return None
    best = max(classical, key=lambda r: r.psnr)
    lines = [f"**{r.name}** {'wins' if r.psnr > best.psnr else 'loses'}: {r.psnr:.2f} dB, {r.psnr - best.psnr:+.2f} dB against "
             f"the best classical method ({best.name}, {best.psnr:.2f} dB); SSIM {r.ssim:.3f} against {best.ssim:.3f}."
             for r in learned]
    pair = next((r for r in learned if r.name == CNN_TIK), None)
    return CnnVerdict(tuple(lines + [info.cost(name) for name, info in infos.items()]),
                      pair is not None and pair.psnr > best.psnr)


# ---------------------------------------------------------------- looking closely
@dataclass(frozen=True)
class ZoomRange:
    """The zoom box sliders for an image: bounds and starting values."""

    rows: int
    cols: int
    largest: int  # largest box side
    size: int
    row: int
    col: int


def zoom_range(shape) -> ZoomRange:
    h, w = shape[:2]
    largest = max(16, min(h, w) // 2)
    return ZoomRange(h, w, largest, min(64, largest), min(h - 1, int(0.3 * h)), min(w - 1, int(0.45 * w)))


def default_view(names: list[str]) -> list[str]:
    return [n for n in LOOK_FIRST if n in names] or names[:3]


@dataclass(frozen=True, eq=False)
class Closeup:
    """The true image, the data and the chosen restorations, whole and zoomed, and their error maps."""

    images: list[np.ndarray]
    titles: list[str]
    box: tuple[int, int, int, int]  # r0, r1, c0, c1
    chosen: list[Result]

    @property
    def crops(self) -> list[np.ndarray]:
        r0, r1, c0, c1 = self.box
        return [im[r0:r1, c0:c1] for im in self.images]

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.chosen]

    @property
    def errors(self) -> list[np.ndarray]:
        """restored − true for each chosen restoration."""
        return [np.asarray(r.image, dtype=np.float64) - self.images[0] for r in self.chosen]

    def image(self, name: str) -> np.ndarray:
        return next(r.image for r in self.chosen if r.name == name)


def closeup(scene: Scene, results: list[Result], view: list[str], size: int, row: int, col: int) -> Closeup:
    """The chosen restorations (``view``, in table order) with a ``size``² zoom box centred at (row, col), kept inside the frame."""
    h, w = scene.truth.shape[:2]
    r0, c0 = int(np.clip(row - size // 2, 0, h - size)), int(np.clip(col - size // 2, 0, w - size))
    chosen = [r for r in results if r.name in view]
    return Closeup([scene.truth, scene.observed] + [r.image for r in chosen],
                   ["true", f"blurred {scene.blurred_psnr:.1f} dB"] + [f"{r.name} {r.psnr:.1f} dB" for r in chosen],
                   (r0, r0 + size, c0, c0 + size), chosen)


# ---------------------------------------------------------------- choosing λ, stopping Richardson–Lucy
@dataclass(frozen=True)
class RulePick:
    rule: str
    lam: float
    psnr: float  # Tikhonov's PSNR at this λ (interpolated on the sweep in log λ)

    @property
    def label(self) -> str:
        return RULES[self.rule].label


def _interp_log(lams: np.ndarray, values: np.ndarray, lam: float) -> float:
    order = np.argsort(lams)
    return float(np.interp(np.log(lam), np.log(lams[order]), values[order]))


@dataclass(frozen=True, eq=False)
class LambdaSweep:
    """Tikhonov's PSNR and the GCV function over a λ grid in the solver's fast basis, and each rule's λ."""

    lams: np.ndarray
    psnr: np.ndarray
    gcv: np.ndarray
    picks: tuple[RulePick, ...]
    exact: bool
    kind: str
    solver_bc: str

    @property
    def best_psnr(self) -> float:
        return float(self.psnr.max())

    def psnr_at(self, lam: float) -> float:
        return _interp_log(self.lams, self.psnr, lam)

    def pick(self, rule: str) -> RulePick:
        return next(p for p in self.picks if p.rule == rule)

    @property
    def model(self) -> str:
        return f"exact {self.solver_bc}" if self.exact else "mirror-FFT"

    @property
    def gcv_gap(self) -> float:
        """How far below the best λ on the grid GCV's λ lands, in dB."""
        return self.best_psnr - self.pick("gcv").psnr


def _solver_psf(scene: Scene, solver_psf: np.ndarray | None) -> np.ndarray:
    return scene.psf if solver_psf is None else np.asarray(solver_psf, dtype=np.float64)


def lambda_sweep(scene: Scene, solver_bc: str = "reflexive", n: int = 40, solver_psf: np.ndarray | None = None,
                 noise: float | None = None) -> LambdaSweep:
    """For the λ plot: PSNR of Tikhonov and the GCV function over a λ grid (in the solver's fast
    basis), and the λ each data rule picks with the PSNR there."""
    sp = forward.spectral(_solver_psf(scene, solver_psf), scene.blurred.shape, solver_bc)
    bh = forward.transform(scene.blurred, sp)
    spec = restore.rule_spectrum(bh, sp)
    lams = lambda_rules.lambda_grid(sp.s, n, decades=6)
    ps = np.array([psnr(np.clip(restore.filtered(bh, sp, restore.tikhonov_filter(sp.s, lam)), 0, 1), scene.truth) for lam in lams])
    delta = assumed_delta(scene, noise)
    picks = []
    for rule in DATA_RULES:
        lam = lambda_rules.choose(spec, rule, delta)
        picks.append(RulePick(rule, lam, _interp_log(lams, ps, lam)))
    return LambdaSweep(lams, ps, lambda_rules.gcv_function(spec, lams), tuple(picks), forward.spectral_is_exact(sp, solver_bc),
                       sp.kind, solver_bc)


@dataclass(frozen=True, eq=False)
class RLCurve:
    """PSNR after each Richardson–Lucy iteration with one solver boundary condition."""

    bc: str
    psnr: np.ndarray

    @property
    def peak(self) -> int:
        """Index of the best iterate (iteration peak + 1)."""
        return int(np.argmax(self.psnr))

    def describe(self) -> str:
        c, k = self.psnr, self.peak
        if k == len(c) - 1:
            return f"with a {self.bc} boundary it is still rising after {len(c)} iterations ({c[k]:.2f} dB)"
        return f"with a {self.bc} boundary it peaks after {k + 1} iterations at {c[k]:.2f} dB and falls to {c[-1]:.2f} dB by {len(c)}"


@dataclass(frozen=True, eq=False)
class RLCurves:
    curves: tuple[RLCurve, ...]

    def curve(self, bc: str) -> RLCurve:
        return next(c for c in self.curves if c.bc == bc)

    def describe(self, order=("zero", "periodic", "reflexive")) -> str:
        return "; ".join(self.curve(bc).describe() for bc in order if any(c.bc == bc for c in self.curves))


def rl_curves(scene: Scene, bcs=("zero", "reflexive", "periodic"), iters: int = RL_CURVE_LENGTH,
              solver_psf: np.ndarray | None = None, including: int = 0) -> RLCurves:
    """PSNR after each of max(iters, including) Richardson–Lucy iterations for each solver boundary
    condition (semi-convergence); ``including`` is the count the reader chose, marked on the plot."""
    psf, n = _solver_psf(scene, solver_psf), max(int(iters), int(including))
    out = []
    for bc in bcs:
        _, errors = restore.richardson_lucy_image(scene.blurred, psf, bc, n, truth=scene.truth)
        out.append(RLCurve(bc, np.array([psnr_from_mse(e) for e in errors])))
    return RLCurves(tuple(out))


# ---------------------------------------------------------------- the boundary lessons
@dataclass(frozen=True)
class InverseCrime:
    """PSNR of the naive inverse on NOISE-FREE data, for data blurred with each boundary condition
    (rows) and solved assuming each solver boundary condition (columns)."""

    data_bcs: tuple[str, ...]
    solver_bcs: tuple[str, ...]
    psnr: tuple[tuple[float, ...], ...]

    def at(self, data_bc: str, solver_bc: str) -> float:
        return self.psnr[self.data_bcs.index(data_bc)][self.solver_bcs.index(solver_bc)]

    def columns(self) -> dict[str, list[float]]:
        """The table as shown (dB, one decimal), one column per solver boundary; rows as in ``index``."""
        return {f"solver: {sb}": [round(row[j], 1) for row in self.psnr] for j, sb in enumerate(self.solver_bcs)}

    @property
    def index(self) -> list[str]:
        return [f"data: {bb}" for bb in self.data_bcs]


def inverse_crime(truth: np.ndarray, psf: np.ndarray, solver_bcs=("periodic", "reflexive")) -> InverseCrime:
    """On the diagonal the data were made by exactly the model being inverted: the "inverse crime"."""
    truth = np.clip(np.asarray(truth, dtype=np.float64), 0, 1)
    rows = []
    for bb in BOUNDARIES:
        b = forward.blur(truth, psf, bb)
        rows.append(tuple(psnr(np.clip(restore.naive_inverse(b, forward.spectral(psf, truth.shape, sb)), 0, 1), truth)
                          for sb in solver_bcs))
    return InverseCrime(BOUNDARIES, tuple(solver_bcs), tuple(rows))


@dataclass(frozen=True)
class Score:
    psnr: float
    note: str


@dataclass(frozen=True)
class BoundaryModels:
    """Tikhonov with GCV and with the discrepancy principle on the same data, under the periodic
    and under the reflexive solver model."""

    data_bc: str
    periodic_gcv: Score
    reflexive_gcv: Score
    periodic_dp: Score
    reflexive_dp: Score

    def describe(self) -> str:
        head = "- **The boundary condition matters more than the λ rule.** "
        pg, rg = self.periodic_gcv, self.reflexive_gcv
        if self.data_bc == "periodic":
            return (head + f"These data were blurred periodically, so the periodic FFT model is exact: Tikhonov with GCV gives "
                    f"{pg.psnr:.2f} dB with it ({pg.note}) and {rg.psnr:.2f} dB with the reflexive model ({rg.note}). Blur "
                    "with a reflexive or zero boundary to see the periodic model collapse.\n")
        return (head + f"On these data, Tikhonov with GCV gives {rg.psnr:.2f} dB with the reflexive model ({rg.note}) but "
                f"{pg.psnr:.2f} dB with the periodic FFT model ({pg.note}); the discrepancy principle "
                f"{self.reflexive_dp.psnr:.2f} against {self.periodic_dp.psnr:.2f} dB. A periodic model on a non-periodic "
                "picture sees the jump at the frame as signal that must be fitted, so both rules choose a tiny λ and return noise.\n")


def boundary_models(scene: Scene) -> BoundaryModels:
    runs = {bc: {r.name: Score(r.psnr, r.note) for r in compare(scene, bc, (TIK_GCV, TIK_DP))} for bc in ("periodic", "reflexive")}
    return BoundaryModels(scene.bc, runs["periodic"][TIK_GCV], runs["reflexive"][TIK_GCV], runs["periodic"][TIK_DP],
                          runs["reflexive"][TIK_DP])


@dataclass(frozen=True)
class CnnRow:
    bc: str  # how the data were blurred
    tikhonov: float  # PSNR of Tikhonov (GCV, reflexive solver)
    tik_cnn: float | None  # of Tikhonov + CNN, of the direct CNN (None without that network)
    direct: float | None


@dataclass(frozen=True)
class CnnBoundaries:
    """The CNN methods (reflexive solver) on data blurred with each boundary condition."""

    rows: tuple[CnnRow, ...]

    def describe(self) -> str:
        parts = []
        if all(r.direct is not None for r in self.rows):
            parts.append("the direct CNN scores " + ", ".join(f"{r.direct:.2f} dB on {r.bc}" for r in self.rows)
                         + "-boundary blurs of this picture")
        if all(r.tik_cnn is not None for r in self.rows):
            parts.append("Tikhonov (reflexive solver, GCV) + CNN goes "
                         + ", ".join(f"{r.tikhonov:.2f} → {r.tik_cnn:.2f} dB ({r.bc})" for r in self.rows))
        return ("- **A CNN inherits the boundary assumption of its training data.** Trained on reflexive blurs only, "
                + "; ".join(parts) + ". At the frame the networks meet borders they never saw, and no network repairs "
                "the ringing of a wrong boundary model in its input.\n")


def cnn_boundaries(truth: np.ndarray, psf: np.ndarray, noise: float, seed: int, cnn: dict) -> CnnBoundaries:
    methods = (TIK_GCV,) + tuple(m for m in (CNN_TIK, CNN_DIRECT) if m in cnn)
    rows = []
    for bc in BOUNDARIES:
        by = {r.name: r.psnr for r in compare(make_scene(truth, psf, bc, noise, seed), "reflexive", methods, cnn=cnn)}
        rows.append(CnnRow(bc, by[TIK_GCV], by.get(CNN_TIK), by.get(CNN_DIRECT)))
    return CnnBoundaries(tuple(rows))
