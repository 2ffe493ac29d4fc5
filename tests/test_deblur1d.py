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

