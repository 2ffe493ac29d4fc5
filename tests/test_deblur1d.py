"""The 1-D course problem against independent references: SciPy quadrature for the integral,
NumPy least squares / dense solves for the regularized solutions and the parameter rules."""

import numpy as np
import pytest
from scipy import integrate, linalg

from cnn_viz.common.linalg import one_blas_thread
from cnn_viz.deblur import lambda_rules, signal1d
from cnn_viz.deblur.forward import add_noise


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with one_blas_thread():
        yield


def _problem(n=48, sigma=0.05, noise=0.01, seed=0):
    f = signal1d.test_signal("Smooth bump", n)
    A = signal1d.kernel_matrix(n, sigma)
    b, delta = add_noise(A @ f, noise, seed)
    return A, f, b, delta


def test_midpoint_matrix_integrates_the_course_kernel():
    n, sigma = 200, 0.05
    A = signal1d.kernel_matrix(n, sigma)
    f = lambda t: np.sin(3 * t) + t**2  # noqa: E731 - a smooth test function
    s = signal1d.grid(n)
    g = np.array([integrate.quad(lambda t: np.exp(-((si - t) ** 2) / sigma**2) * f(t), 0, 1, epsabs=1e-13)[0] for si in s[::20]])
    approx = (A @ f(s))[::20]
    np.testing.assert_allclose(approx, g, rtol=0, atol=1e-5)  # midpoint rule: error O(h²)
    assert np.allclose(A, A.T) and np.allclose(A[1:, 1:], A[:-1, :-1])  # symmetric Toeplitz


@pytest.mark.parametrize("lam", [1e-4, 1e-2, 0.3])
def test_tikhonov_equals_least_squares_of_the_stacked_system(lam):
    A, f, b, _ = _problem()
    n = A.shape[0]
    ref = np.linalg.lstsq(np.vstack([A, lam * np.eye(n)]), np.concatenate([b, np.zeros(n)]), rcond=None)[0]
    np.testing.assert_allclose(signal1d.tikhonov(signal1d.svd(A), b, lam), ref, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("k", [1, 5, 12])
def test_tsvd_is_the_least_squares_solution_of_the_rank_k_matrix(k):
    A, f, b, _ = _problem()
    U, s, Vt = linalg.svd(A, lapack_driver="gesvd")
    Ak = (U[:, :k] * s[:k]) @ Vt[:k]
    ref = np.linalg.lstsq(Ak, b, rcond=1e-10)[0]
    np.testing.assert_allclose(signal1d.tsvd(signal1d.svd(A), b, k), ref, rtol=1e-6, atol=1e-8)


def test_condition_number_against_numpy():
    sig = [0.003, 0.006, 0.01]
    np.testing.assert_allclose(signal1d.cond_vs_sigma(128, sig), [np.linalg.cond(signal1d.kernel_matrix(128, s)) for s in sig], rtol=1e-6)
    assert signal1d.cond_vs_sigma(256, [0.01])[0] == pytest.approx(5.2e6, rel=0.05)  # the field notes: ≈ 5e6 at σ = 0.01
    assert signal1d.cond_vs_sigma(256, [0.05])[0] > 1e15  # numerically singular


def _gcv_dense(A, b, lam):
    n = A.shape[0]
    H = A @ np.linalg.solve(A.T @ A + lam**2 * np.eye(n), A.T)
    r = b - H @ b
    return r @ r / np.trace(np.eye(n) - H) ** 2


def test_gcv_lambda_against_a_brute_force_sweep():
    A, f, b, _ = _problem(n=40, sigma=0.04, noise=0.02, seed=3)
    dec = signal1d.svd(A)
    lam = lambda_rules.gcv_lambda(lambda_rules.spectrum(dec.s, dec.U.T @ b))
    grid = np.logspace(-6, 0, 481)
    g = np.array([_gcv_dense(A, b, t) for t in grid])
    i = int(np.argmin(g))
    assert 0 < i < len(grid) - 1
    assert _gcv_dense(A, b, lam) <= g[i] * (1 + 1e-9)
    assert abs(np.log10(lam) - np.log10(grid[i])) <= 6 / 480


def test_discrepancy_lambda_fits_to_the_noise_level():
    A, f, b, delta = _problem(noise=0.03)
    dec = signal1d.svd(A)
    lam = lambda_rules.discrepancy_lambda(lambda_rules.spectrum(dec.s, dec.U.T @ b), delta)
    x = np.linalg.solve(A.T @ A + lam**2 * np.eye(A.shape[0]), A.T @ b)
    assert np.linalg.norm(A @ x - b) == pytest.approx(delta, rel=1e-5)


def test_lcurve_corner_is_the_maximum_curvature_of_dense_solutions():
    A, f, b, _ = _problem(n=40, noise=0.02, seed=1)
    dec = signal1d.svd(A)
    lam = lambda_rules.lcurve_lambda(lambda_rules.spectrum(dec.s, dec.U.T @ b))
    t = np.linspace(np.log(1e-6), np.log(1.0), 1201)
    xs = [np.linalg.solve(A.T @ A + np.exp(2 * ti) * np.eye(40), A.T @ b) for ti in t]
    lr = np.log([np.linalg.norm(A @ x - b) for x in xs])
    le = np.log([np.linalg.norm(x) for x in xs])
    d1r, d1e = np.gradient(lr, t), np.gradient(le, t)
    d2r, d2e = np.gradient(d1r, t), np.gradient(d1e, t)
    kappa = (d1r * d2e - d2r * d1e) / (d1r**2 + d1e**2) ** 1.5
    i = int(np.argmax(kappa[5:-5])) + 5
    assert abs(np.log(lam) - t[i]) < 0.05


def test_tsvd_gcv_k_against_brute_force():
    A, f, b, _ = _problem(n=40, noise=0.02, seed=2)
    dec = signal1d.svd(A)
    k = lambda_rules.tsvd_gcv_k(dec.s, dec.U.T @ b)
    g = [np.sum((A @ signal1d.tsvd(dec, b, j) - b) ** 2) / (40 - j) ** 2 for j in range(40)]
    assert k == int(np.argmin(g))


def test_analyse_oracle_and_naive():
    f = signal1d.test_signal("Piecewise constant", 128)
    a = signal1d.analyse(f, 0.05, 0.01, seed=0, lam_slider=1e-3)
    errors = {r.label: r.error for r in a.solutions}
    assert errors["Naive solve"] > 1e3  # noise amplified by cond(A) ≈ 1e18
    assert errors["Tikhonov (best λ)"] <= min(v for k, v in errors.items() if k.startswith("Tikhonov")) + 1e-3
    assert errors["Tikhonov (discrepancy)"] < 0.3 and errors["Tikhonov (GCV)"] < 0.3
    assert {p.rule for p in a.picks} == {"gcv", "lcurve", "discrepancy", "best", "slider"}
    assert np.all(np.diff(a.rho) <= 1e-12) and np.all(np.diff(a.eta) >= -1e-12)  # λ falls along the grid


def test_signals_typed_and_drawn():
    np.testing.assert_allclose(signal1d.parse_signal("0, 1; 0", 5), np.interp(signal1d.grid(5), [0, 0.5, 1], [0, 1, 0]))
    for bad, msg in (("1 two 3", "'two' is not a number"), ("7", "at least two"), ("1 nan", "finite")):
        with pytest.raises(ValueError, match=msg):
            signal1d.parse_signal(bad, 10)
    canvas = np.zeros((101, 200, 4), dtype=np.uint8)
    canvas[100 - 30, :100, :] = (0, 0, 0, 255)  # a line at height 0.3 on the left half
    canvas[100 - 80, 100:, :] = (0, 0, 0, 255)  # and 0.8 on the right half
    f = signal1d.signal_from_drawing(canvas, 20)
    np.testing.assert_allclose(f[:9], 0.3)
    np.testing.assert_allclose(f[-9:], 0.8)
    with pytest.raises(ValueError):
        signal1d.signal_from_drawing(None, 10)
    with pytest.raises(ValueError):
        signal1d.signal_from_drawing(np.zeros((10, 10, 4), dtype=np.uint8), 10)
    with pytest.raises(ValueError):
        signal1d.kernel_matrix(1, 0.1)
    with pytest.raises(ValueError):
        signal1d.kernel_matrix(10, -0.1)


def _gcv_direct(s, beta, lam):
    phi = s**2 / (s**2 + lam**2)
    return np.sum(((1 - phi) * beta) ** 2) / (s.size - np.sum(phi)) ** 2


def test_a_merged_spectrum_keeps_the_gcv_function_and_the_residual():
    rng = np.random.default_rng(4)
    s = np.exp(rng.uniform(np.log(1e-6), 0, 30_000))  # more than COMPRESS_ABOVE: merged into bins
    beta = rng.standard_normal(s.size) * (s + 1e-3)
    merged = lambda_rules.spectrum(s, beta)
    assert merged.s2.size < s.size / 5 and merged.n.sum() == s.size
    for lam in (1e-4, 1e-2, 0.3):
        assert merged.gcv(lam) == pytest.approx(_gcv_direct(s, beta, lam), rel=5e-3)
        assert merged.resid2(lam) == pytest.approx(np.sum((lam**2 / (s**2 + lam**2) * beta) ** 2), rel=5e-3)
    plain = lambda_rules.spectrum(s, beta, compress=False)
    np.testing.assert_allclose(plain.phi(0.01), s**2 / (s**2 + 1e-4))


def test_the_discrepancy_principle_counts_each_datum_as_often_as_the_coefficients_hold_it():
    """With ``copies`` = 4 (a mirror-extended image) the residual aims at √4 · δ."""
    A, f, b, delta = _problem(noise=0.03)
    dec = signal1d.svd(A)
    lam = lambda_rules.discrepancy_lambda(lambda_rules.spectrum(dec.s, dec.U.T @ b, copies=4), delta / 2)
    x = np.linalg.solve(A.T @ A + lam**2 * np.eye(A.shape[0]), A.T @ b)
    assert np.linalg.norm(A @ x - b) == pytest.approx(delta, rel=1e-5)


def test_choose_dispatches_to_the_rules_and_refuses_what_it_cannot_do():
    A, f, b, delta = _problem(noise=0.02)
    dec = signal1d.svd(A)
    spec = lambda_rules.spectrum(dec.s, dec.U.T @ b)
    assert lambda_rules.choose(spec, "gcv") == lambda_rules.gcv_lambda(spec)
    assert lambda_rules.choose(spec, "lcurve") == lambda_rules.lcurve_lambda(spec)
    assert lambda_rules.choose(spec, "discrepancy", delta) == lambda_rules.discrepancy_lambda(spec, delta)
    with pytest.raises(ValueError, match="noise level"):
        lambda_rules.choose(spec, "discrepancy")
    with pytest.raises(ValueError, match="Unknown λ rule"):
        lambda_rules.choose(spec, "GCV")
    with pytest.raises(ValueError, match="plain Tikhonov"):
        lambda_rules.lcurve_lambda(lambda_rules.spectrum(dec.s, dec.U.T @ b, d=np.ones_like(dec.s)))


def test_the_analysis_gives_the_page_its_curves_and_numbers():
    f = signal1d.test_signal("Bump and step", 96)
    a = signal1d.analyse(f, 0.01, 0.02, seed=5, lam_slider=1e-3)
    A = signal1d.kernel_matrix(96, 0.01)
    U, s, Vt = np.linalg.svd(A)
    assert a.cond == pytest.approx(np.linalg.cond(A), rel=1e-6)
    np.testing.assert_allclose(a.picard.beta, np.abs(U.T @ a.b), rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(a.picard.ratio, np.abs(U.T @ a.b) / s, rtol=1e-8)
    assert a.picard.noise == pytest.approx(np.linalg.norm(a.b - A @ f) / np.sqrt(96), rel=1e-9)
    for p, phi in a.filter_factors():
        np.testing.assert_allclose(phi, s**2 / (s**2 + p.lam**2), rtol=1e-10)
    assert [p.rule for p in a.rule_picks] == ["gcv", "lcurve", "discrepancy", "best"]
    gcv = a.pick("gcv")
    assert gcv.gcv == pytest.approx(_gcv_direct(s, U.T @ a.b, gcv.lam), rel=1e-8)
    x = np.linalg.solve(A.T @ A + gcv.lam**2 * np.eye(96), A.T @ a.b)
    assert (gcv.rho, gcv.eta) == pytest.approx((np.linalg.norm(A @ x - a.b), np.linalg.norm(x)), rel=1e-7)
    assert a.naive_peak == pytest.approx(np.max(np.abs(np.linalg.solve(A, a.b))), rel=1e-6)
    assert a.default_shown == [a.solutions[1].label, "Tikhonov (GCV)", "Tikhonov (discrepancy)"]
    assert a.lambda_summary().startswith(f"GCV {gcv.lam:.2e}, L-curve corner {a.pick('lcurve').lam:.2e}, ")
    assert a.lambda_summary().endswith(f"your λ 1.00e-03; TSVD by GCV keeps k = {a.k_gcv}")
    table = a.table()
    assert table.shape == (96, 3 + len(a.solutions))
    np.testing.assert_allclose(table[:, :3], np.column_stack([signal1d.grid(96), f, a.b]))
    for r in a.solutions:
        assert r.error == pytest.approx(np.linalg.norm(r.x - f) / np.linalg.norm(f), rel=1e-12)
        assert r.error_text == (f"{r.error:.3g}" if r.error < 100 else f"{r.error:.1e}")


def test_the_condition_curve_spans_the_kernel_widths():
    c = signal1d.cond_curve(48)
    np.testing.assert_allclose(c.sigmas, np.geomspace(0.002, 0.2, 25))
    ok = c.conds < 1e10
    assert ok.sum() >= 5
    np.testing.assert_allclose(c.conds[ok], [np.linalg.cond(signal1d.kernel_matrix(48, sg)) for sg in c.sigmas[ok]], rtol=1e-6)


def test_the_slider_is_added_to_a_cached_analysis_without_redoing_it():
    """with_slider (what the "Your λ" slider costs a rerun) against dense NumPy references."""
    f = signal1d.test_signal("Piecewise constant", 80)
    a = signal1d.analyse(f, 0.03, 0.02, seed=2)
    assert [p.rule for p in a.picks] == ["gcv", "lcurve", "discrepancy", "best"]
    lam = 3e-3
    b = signal1d.with_slider(a, lam)
    assert [p.rule for p in b.picks] == ["gcv", "lcurve", "discrepancy", "best", "slider"] and b.picks[:4] == a.picks
    A = signal1d.kernel_matrix(80, 0.03)
    x = np.linalg.lstsq(np.vstack([A, lam * np.eye(80)]), np.concatenate([a.b, np.zeros(80)]), rcond=None)[0]
    mine = b.solution("Tikhonov (your λ)")
    np.testing.assert_allclose(mine.x, x, rtol=1e-7, atol=1e-10)
    assert mine.error == pytest.approx(np.linalg.norm(x - f) / np.linalg.norm(f), rel=1e-7)
    p = b.pick("slider")
    assert (p.rho, p.eta) == pytest.approx((np.linalg.norm(A @ x - a.b), np.linalg.norm(x)), rel=1e-7)
    assert p.gcv == pytest.approx(_gcv_dense(A, a.b, lam), rel=1e-6)
    assert signal1d.analyse(f, 0.03, 0.02, seed=2, lam_slider=lam).solution("Tikhonov (your λ)").error == mine.error


def test_the_curves_at_every_lambda_against_dense_solves():
    """lcurve and gcv_function take every λ at once (one array per block): each point against its own dense solve."""
    A, f, b, _ = _problem(n=40, noise=0.02, seed=4)
    dec = signal1d.svd(A)
    spec = lambda_rules.spectrum(dec.s, dec.U.T @ b)
    lams = np.logspace(-5, 0, 23)
    rho, eta, kappa = lambda_rules.lcurve(spec, lams)
    g = lambda_rules.gcv_function(spec, lams)
    for i, lam in enumerate(lams):
        x = np.linalg.solve(A.T @ A + lam**2 * np.eye(40), A.T @ b)
        assert (rho[i], eta[i]) == pytest.approx((np.linalg.norm(A @ x - b), np.linalg.norm(x)), rel=1e-6)
        assert g[i] == pytest.approx(_gcv_dense(A, b, lam), rel=1e-6)
    # the curvature against finite differences of the dense curve in log λ
    t = np.log(lams[5:-5])
    h = 1e-4
    def logs(tt):
        x = np.linalg.solve(A.T @ A + np.exp(2 * tt) * np.eye(40), A.T @ b)
        return np.log(np.linalg.norm(A @ x - b)), np.log(np.linalg.norm(x))
    for ti, k in zip(t, kappa[5:-5]):
        (r0, e0), (r1, e1), (r2, e2) = logs(ti - h), logs(ti), logs(ti + h)
        d1r, d1e, d2r, d2e = (r2 - r0) / (2 * h), (e2 - e0) / (2 * h), (r2 - 2 * r1 + r0) / h**2, (e2 - 2 * e1 + e0) / h**2
        assert k == pytest.approx((d1r * d2e - d2r * d1e) / (d1r**2 + d1e**2) ** 1.5, rel=1e-3, abs=1e-3)
