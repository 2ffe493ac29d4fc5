"""The 1-D course problem against independent references: SciPy quadrature for the integral,
NumPy least squares / dense solves for the regularized solutions and the parameter rules."""

import numpy as np
import pytest
from scipy import integrate, linalg

from cnn_viz.deblur import signal1d as d1
from cnn_viz.deblur import lambda_rules as rp
from cnn_viz.common.linalg import one_blas_thread


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with one_blas_thread():
        yield


def _problem(n=48, sigma=0.05, noise=0.01, seed=0):
    f = d1.test_signal("Smooth bump", n)
    A = d1.kernel_matrix(n, sigma)
    b, delta = d1.add_noise(A @ f, noise, seed)
    return A, f, b, delta


def test_midpoint_matrix_integrates_the_course_kernel():
    n, sigma = 200, 0.05
    A = d1.kernel_matrix(n, sigma)
    f = lambda t: np.sin(3 * t) + t**2  # noqa: E731 - a smooth test function
    s = d1.grid(n)
    g = np.array([integrate.quad(lambda t: np.exp(-((si - t) ** 2) / sigma**2) * f(t), 0, 1, epsabs=1e-13)[0] for si in s[::20]])
    approx = (A @ f(s))[::20]
    np.testing.assert_allclose(approx, g, rtol=0, atol=1e-5)  # midpoint rule: error O(h²)
    assert np.allclose(A, A.T) and np.allclose(A[1:, 1:], A[:-1, :-1])  # symmetric Toeplitz


@pytest.mark.parametrize("lam", [1e-4, 1e-2, 0.3])
def test_tikhonov_equals_least_squares_of_the_stacked_system(lam):
    A, f, b, _ = _problem()
    n = A.shape[0]
    ref = np.linalg.lstsq(np.vstack([A, lam * np.eye(n)]), np.concatenate([b, np.zeros(n)]), rcond=None)[0]
    np.testing.assert_allclose(d1.tikhonov(d1.svd(A), b, lam), ref, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("k", [1, 5, 12])
def test_tsvd_is_the_least_squares_solution_of_the_rank_k_matrix(k):
    A, f, b, _ = _problem()
    U, s, Vt = linalg.svd(A, lapack_driver="gesvd")
    Ak = (U[:, :k] * s[:k]) @ Vt[:k]
    ref = np.linalg.lstsq(Ak, b, rcond=1e-10)[0]
    np.testing.assert_allclose(d1.tsvd(d1.svd(A), b, k), ref, rtol=1e-6, atol=1e-8)


def test_condition_number_against_numpy():
    sig = [0.003, 0.006, 0.01]
    np.testing.assert_allclose(d1.cond_vs_sigma(128, sig), [np.linalg.cond(d1.kernel_matrix(128, s)) for s in sig], rtol=1e-6)
    assert d1.cond_vs_sigma(256, [0.01])[0] == pytest.approx(5.2e6, rel=0.05)  # the field notes: ≈ 5e6 at σ = 0.01
    assert d1.cond_vs_sigma(256, [0.05])[0] > 1e15  # numerically singular


def _gcv_dense(A, b, lam):
    n = A.shape[0]
    H = A @ np.linalg.solve(A.T @ A + lam**2 * np.eye(n), A.T)
    r = b - H @ b
    return r @ r / np.trace(np.eye(n) - H) ** 2


def test_gcv_lambda_against_a_brute_force_sweep():
    A, f, b, _ = _problem(n=40, sigma=0.04, noise=0.02, seed=3)
    dec = d1.svd(A)
    lam = rp.gcv_lambda(dec.s, dec.U.T @ b)
    grid = np.logspace(-6, 0, 481)
    g = np.array([_gcv_dense(A, b, t) for t in grid])
    i = int(np.argmin(g))
    assert 0 < i < len(grid) - 1
    assert _gcv_dense(A, b, lam) <= g[i] * (1 + 1e-9)
    assert abs(np.log10(lam) - np.log10(grid[i])) <= 6 / 480


def test_discrepancy_lambda_fits_to_the_noise_level():
    A, f, b, delta = _problem(noise=0.03)
    dec = d1.svd(A)
    lam = rp.discrepancy_lambda(dec.s, dec.U.T @ b, delta)
    x = np.linalg.solve(A.T @ A + lam**2 * np.eye(A.shape[0]), A.T @ b)
    assert np.linalg.norm(A @ x - b) == pytest.approx(delta, rel=1e-5)


def test_lcurve_corner_is_the_maximum_curvature_of_dense_solutions():
    A, f, b, _ = _problem(n=40, noise=0.02, seed=1)
    dec = d1.svd(A)
    lam = rp.lcurve_lambda(dec.s, dec.U.T @ b)
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
    dec = d1.svd(A)
    k = rp.tsvd_gcv_k(dec.s, dec.U.T @ b)
    g = [np.sum((A @ d1.tsvd(dec, b, j) - b) ** 2) / (40 - j) ** 2 for j in range(40)]
    assert k == int(np.argmin(g))


def test_analyse_oracle_and_naive():
    f = d1.test_signal("Piecewise constant", 128)
    a = d1.analyse(f, 0.05, 0.01, seed=0, lam_slider=1e-3)
    assert a.errors["Naive solve"] > 1e3  # noise amplified by cond(A) ≈ 1e18
    assert a.errors["Tikhonov (best λ)"] <= min(v for k, v in a.errors.items() if k.startswith("Tikhonov")) + 1e-3
    assert a.errors["Tikhonov (discrepancy)"] < 0.3 and a.errors["Tikhonov (GCV)"] < 0.3
    assert set(a.lam) == {"gcv", "lcurve", "discrepancy", "best", "slider"}
    assert np.all(np.diff(a.rho) <= 1e-12) and np.all(np.diff(a.eta) >= -1e-12)  # λ falls along the grid


def test_signals_typed_and_drawn():
    np.testing.assert_allclose(d1.parse_signal("0, 1; 0", 5), np.interp(d1.grid(5), [0, 0.5, 1], [0, 1, 0]))
    for bad, msg in (("1 two 3", "'two' is not a number"), ("7", "at least two"), ("1 nan", "finite")):
        with pytest.raises(ValueError, match=msg):
            d1.parse_signal(bad, 10)
    canvas = np.zeros((101, 200, 4), dtype=np.uint8)
    canvas[100 - 30, :100, :] = (0, 0, 0, 255)  # a line at height 0.3 on the left half
    canvas[100 - 80, 100:, :] = (0, 0, 0, 255)  # and 0.8 on the right half
    f = d1.signal_from_drawing(canvas, 20)
    np.testing.assert_allclose(f[:9], 0.3)
    np.testing.assert_allclose(f[-9:], 0.8)
    with pytest.raises(ValueError):
        d1.signal_from_drawing(None, 10)
    with pytest.raises(ValueError):
        d1.signal_from_drawing(np.zeros((10, 10, 4), dtype=np.uint8), 10)
    with pytest.raises(ValueError):
        d1.kernel_matrix(1, 0.1)
    with pytest.raises(ValueError):
        d1.kernel_matrix(10, -0.1)
