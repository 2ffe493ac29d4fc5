"""The λ rules say when they fail (issue 15), on the issue's cases with the page's own 1-D setup (the smooth
bump, noise ‖e‖ = 0.1 % of ‖Af‖, seed 0): checked against an independent computation with NumPy's
linear algebra (the L-curve's curvature by finite differences, the GCV function from A itself) and against
the true signal (a flagged choice is a bad reconstruction, an unflagged one a good one)."""

from __future__ import annotations

import numpy as np
import pytest

from cnn_viz.deblur import lambda_rules, signal1d

NOISE = 0.001  # 0.1 %


def _case(n, sigma, seed=0):
    return signal1d.analyse(signal1d.test_signal("Smooth bump", n), sigma, NOISE, seed)


def _check(a, rule):
    return next(c for c in a.checks if c.rule == rule)


def _tikhonov_direct(A, b, lam):
    n = A.shape[1]
    return np.linalg.solve(A.T @ A + lam**2 * np.eye(n), A.T @ b)


def _curvature_fd(A, b, lams):
    """κ of (log ρ, log η) by central differences in log λ, from solutions computed with np.linalg.solve."""
    t = np.log(lams)
    rho = np.array([np.linalg.norm(A @ _tikhonov_direct(A, b, lam) - b) for lam in lams])
    eta = np.array([np.linalg.norm(_tikhonov_direct(A, b, lam)) for lam in lams])
    x, y = np.log(rho), np.log(eta)
    dx, dy = np.gradient(x, t), np.gradient(y, t)
    ddx, ddy = np.gradient(dx, t), np.gradient(dy, t)
    # the sign convention of Hansen's lcfun: positive at a corner of the L seen from below-left
    return (dx * ddy - ddx * dy) / (dx**2 + dy**2) ** 1.5


def test_an_l_curve_without_corner_is_said_so():
    a = _case(64, 0.02)
    lams = np.logspace(np.log10(a.spectrum.s_max), np.log10(a.spectrum.s_max) - 4, 60)
    kappa = _curvature_fd(a.A, a.b, lams)[2:-2]  # the ends of a finite difference are one-sided
    assert np.all(kappa < 0), kappa.max()  # the reference: no corner anywhere
    assert not lambda_rules.lcurve_has_corner(a.spectrum)
    lc = _check(a, "lcurve")
    assert "no corner" in lc.flags
    assert any("no corner: the L-curve rule does not apply here" in note for note in a.warnings)
    # and it landed on the end of its search range, which is marked too
    assert lambda_rules.at_range_end(a.pick("lcurve").lam, a.spectrum.grid()) == "smallest"
    assert "smallest λ searched" in lc.flags


def test_an_l_curve_with_a_corner_is_not_flagged():
    a = _case(256, 0.05)
    lams = np.logspace(-1, -6, 80)
    assert _curvature_fd(a.A, a.b, lams)[2:-2].max() > 0
    assert lambda_rules.lcurve_has_corner(a.spectrum)
    assert _check(a, "lcurve").flags == ()


def test_a_spurious_gcv_minimum_is_flagged_and_it_is_a_bad_solution():
    a = _case(256, 0.1)
    gcv = a.pick("gcv").lam
    assert gcv == pytest.approx(4.9e-7, rel=0.05)  # the numbers
    err = {r.kind: r.error for r in a.solutions}
    assert err["gcv"] > 10 and max(err["lcurve"], err["discrepancy"]) < 0.2
    # the GCV curve from A itself, G(λ) = ‖A x_λ − b‖² / trace(I − A A_λ⁺)², where np.linalg.solve is still
    # accurate (λ ≥ 2e-9; A is numerically singular, cond ≈ 7e16), and its local minima there
    grid = a.lams[a.lams >= 2e-9]
    s = np.linalg.svd(a.A, compute_uv=False)
    G = np.array([np.linalg.norm(a.A @ _tikhonov_direct(a.A, a.b, lam) - a.b) ** 2 / (a.A.shape[0] - np.sum(s**2 / (s**2 + lam**2))) ** 2
                  for lam in grid])
    i = np.arange(1, G.size - 1)
    ref = grid[i[(G[i] < G[i - 1]) & (G[i] <= G[i + 1])]]
    mins, _ = lambda_rules.gcv_minima(a.spectrum, a.lams)
    assert len(ref) == 3 and len(mins) == 4  # the fourth, at λ ≈ 9e-12, is below what the reference can solve
    np.testing.assert_allclose(np.sort(mins[mins >= 2e-9]), np.sort(ref))
    # the chosen λ is one of them, and the lowest G is within 0.5 % of another: a flat curve
    assert min(abs(np.log(mins / gcv))) < 0.1
    flags = _check(a, "gcv").flags
    assert "4 local minima" in flags and "spurious: keeps noise" in flags
    assert _check(a, "discrepancy").flags == () and _check(a, "lcurve").flags == ()


def test_tsvd_gcv_beyond_the_noise_floor_is_flagged():
    a = _case(256, 0.1)
    err = {r.kind: r.error for r in a.solutions}
    floor = lambda_rules.noise_floor(a.dec.s, a.dec.U.T @ a.b, a.delta)
    assert a.k_gcv > floor.k
    # the reference: TSVD at the floor is good, at GCV's k it is noise
    x_floor = a.dec.Vt[: floor.k].T @ ((a.dec.U.T @ a.b)[: floor.k] / a.dec.s[: floor.k])
    assert np.linalg.norm(x_floor - a.f) / np.linalg.norm(a.f) < 0.2 and err["tsvd"] > 10
    assert "k beyond the noise floor" in _check(a, "tsvd").flags


@pytest.mark.parametrize("n, sigma, seed", [(256, 0.03, 0), (256, 0.05, 3), (128, 0.05, 0)])
def test_sound_choices_are_not_flagged_as_spurious(n, sigma, seed):
    a = _case(n, sigma, seed)
    for c in a.checks:
        if c.rule in ("gcv", "tsvd", "discrepancy"):
            assert not any("spurious" in f or "noise" in f for f in c.flags), (c.rule, c.flags)
    assert all(r.error < 0.2 for r in a.solutions if r.kind in ("gcv", "discrepancy", "tsvd"))


def test_the_page_shows_the_flags_in_its_table(app_test):
    at = app_test(120)
    at.run()
    for k, v in {"db1_n": 256, "db1_sigma": 0.1, "db1_noise": 0.1}.items():
        at.session_state[k] = v
    at.switch_page("pages/deblurring.py").run()
    assert not at.exception
    table = next(d.value for d in at.dataframe if "check" in d.value.columns)
    assert "spurious: keeps noise" in table.loc["Tikhonov (GCV)", "check"]
    assert "k beyond the noise floor" in table.loc[[r for r in table.index if r.startswith("TSVD")][0], "check"]
    assert table.loc["Tikhonov (discrepancy)", "check"] == "ok"
    assert any("spurious" in w.value for w in at.warning)
