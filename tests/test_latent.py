"""Udell–Townsend measurements: latent-variable matrices, ε-ranks against direct checks with NumPy's SVD,
the Johnson–Lindenstrauss bound's formula, the log fit against numpy.polyfit, and the sweep."""

import json
import math

import numpy as np
import pytest

from cnn_viz.common import assets
from cnn_viz.lowrank import figures, latent


def _trunc_max_err(x, k, svd=None):
    u, s, vt = np.linalg.svd(x, full_matrices=False) if svd is None else svd
    return np.max(np.abs(x - (u[:, :k] * s[:k]) @ vt[:k]))


def test_latent_matrix_is_f_of_the_latent_points():
    a, b = latent.latent_points(30, 3, seed=4)
    assert a.min() >= -1 and a.max() <= 1 and a.shape == (30, 3)
    x = latent.apply_f(a, b, "gaussian")
    ref = np.array([[math.exp(-sum((a[i, l] - b[j, l]) ** 2 for l in range(3))) for j in range(30)] for i in range(30)])
    np.testing.assert_allclose(x, ref, rtol=1e-12)
    np.testing.assert_allclose(latent.apply_f(a, b, "inverse quadratic"), 1 / (1 - np.log(ref)), rtol=1e-10)
    np.testing.assert_allclose(latent.apply_f(a, b, "exp inner product"), np.exp(a @ b.T))
    np.testing.assert_allclose(latent.apply_f(a, b, "abs difference")[3, 7], np.abs(a[3] - b[7]).sum())
    np.testing.assert_array_equal(latent.latent_matrix(30, 3, "gaussian", seed=4), x)
    xs = latent.latent_matrix(30, 3, "gaussian", seed=4, sort=True)  # rows and columns reordered
    np.testing.assert_allclose(np.sort(xs.ravel()), np.sort(x.ravel()))
    np.testing.assert_allclose(np.linalg.svd(xs, compute_uv=False), np.linalg.svd(x, compute_uv=False), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("kind,d,eps", [("gaussian", 2, 0.01), ("gaussian", 3, 0.01), ("inverse quadratic", 2, 0.001),
                                        ("exp inner product", 2, 0.05), ("abs difference", 2, 0.05)])
def test_max_entry_eps_rank_against_a_direct_check(kind, d, eps):
    x = latent.latent_matrix(300, d, kind, seed=1)
    ref = np.linalg.svd(x, full_matrices=False)
    k = latent.eps_rank_max(x, eps)
    assert _trunc_max_err(x, k, ref) <= eps
    assert k == 0 or _trunc_max_err(x, k - 1, ref) > eps


def test_randomized_path_gives_the_same_eps_rank_as_the_full_svd():
    x = latent.latent_matrix(800, 3, "gaussian", seed=0)
    assert 800 > latent.FULL_SVD_MAX_N
    ref = np.linalg.svd(x, full_matrices=False)
    f = latent.top_svd(x, 0.01)
    assert len(f[1]) < 800  # the randomized route was taken
    k = latent.eps_rank_max(x, 0.01, f)
    assert k == latent.eps_rank_max(x, 0.01, ref)
    assert _trunc_max_err(x, k, ref) <= 0.01 < _trunc_max_err(x, k - 1, ref)
    np.testing.assert_allclose(f[1][:k], ref[1][:k], rtol=1e-8)


def test_random_matrix_needs_nearly_full_rank_and_latent_grows_slowly():
    r = latent.random_matrix(300)
    ref = np.linalg.svd(r, full_matrices=False)
    k = latent.eps_rank_max(r, 0.01)
    assert k >= 0.8 * 300
    assert _trunc_max_err(r, k, ref) <= 0.01 < _trunc_max_err(r, k - 1, ref)
    small = latent.eps_rank_max(latent.latent_matrix(100, 2), 0.01)
    big = latent.eps_rank_max(latent.latent_matrix(1000, 2), 0.01)
    assert small < 25 and big - small <= 8  # ten times the size, a handful more ranks (the issue: ~15 → 19)


def test_spectral_eps_rank_is_numpys_rank_at_that_tolerance():
    for x in (latent.latent_matrix(200, 2), latent.random_matrix(200)):
        s = np.linalg.svd(x, compute_uv=False)
        for eps in (0.1, 0.01, 1e-4):
            assert latent.eps_rank_spectral(s, eps) == np.linalg.matrix_rank(x, tol=eps * s[0])


def test_johnson_lindenstrauss_bound_formula():
    # Udell & Townsend (2019), Theorem 1.0: r = ⌈72 log(2n + 1) / ε²⌉.
    assert latent.jl_bound(4000, 0.1) == math.ceil(72 * math.log(8001) / 0.01)
    assert latent.jl_bound(100, 0.01) == math.ceil(72 * math.log(201) / 1e-4)
    assert 30_000 < latent.jl_bound(1000, 0.1) < 70_000  # "tens of thousands for n in the thousands" (ε = 0.1)
    with pytest.raises(ValueError):
        latent.jl_bound(100, 1.0)
    for eps in (0.5, 0.1, 0.01):
        n = latent.jl_crossover(eps)
        assert 72 * math.log(2 * n + 1) / eps**2 < n and math.ceil(72 * math.log(2 * n - 1) / eps**2) >= n - 1


def test_theorem_holds_for_measured_matrices():
    """rank_{ε‖X‖₂}(X) ≤ ⌈72 log(2n+1)/ε²⌉, checked on a latent and a random matrix (the bound is far from tight)."""
    for x in (latent.latent_matrix(300, 2), latent.random_matrix(300)):
        s1 = np.linalg.norm(x, 2)
        for eps in (0.5, 0.1):
            assert latent.eps_rank_max(x, eps * s1) <= latent.jl_bound(300, eps)


def test_fit_log_matches_polyfit():
    ns = np.array([100, 400, 1000, 4000])
    ranks = np.array([34, 53, 60, 76])
    a, b = latent.fit_log(ns, ranks)
    bb, aa = np.polyfit(np.log(ns), ranks, 1)
    assert (a, b) == pytest.approx((aa, bb), rel=1e-10)
    with pytest.raises(ValueError):
        latent.fit_log([100], [3])


def test_sweep_matches_the_direct_functions():
    seen = []
    sw = latent.eps_rank_sweep([120, 60], d=2, eps=0.02, seed=3, random_up_to=100, progress=lambda f, m: seen.append(f))
    assert sw.ns == [60, 120]
    for i, n in enumerate(sw.ns):
        x = latent.latent_matrix(n, 2, "gaussian", 3)
        s = np.linalg.svd(x, compute_uv=False)
        assert sw.latent_max[i] == latent.eps_rank_max(x, 0.02)
        assert sw.latent_spectral[i] == np.linalg.matrix_rank(x, tol=0.02 * s[0])
        assert sw.latent_norm2[i] == pytest.approx(s[0])
    assert sw.random_max[0] == latent.eps_rank_max(latent.random_matrix(60, 3), 0.02) and sw.random_max[1] is None
    assert sw.random_sigma_n == 60 and len(sw.latent_sigma) == 120
    assert seen[0] == 0 and seen[-1] == 1.0 and seen == sorted(seen)
    again = latent.Sweep.from_dict(json.loads(json.dumps(sw.to_dict())))
    assert again == sw
    fig = figures.eps_rank_figure(sw)
    names = [t.name for t in fig.data]
    assert any("bound" in n for n in names) and fig.layout.xaxis.type == "log"
    red = next(t for t in fig.data if t.name == "latent model, max-entry ε-rank")
    assert list(red.y) == sw.latent_max


def test_shipped_sweep_is_what_the_code_measures():
    """The precomputed sweep in assets/ agrees with a fresh measurement at the small sizes."""
    shipped = json.loads(assets.LOWRANK_SWEEP.read_text())["sweeps"]
    d2 = latent.Sweep.from_dict(next(s for s in shipped if s["d"] == 2 and s["kind"] == "gaussian"))
    assert d2.eps == 0.01 and d2.ns[-1] == 4000
    for i, n in enumerate(d2.ns[:3]):
        assert d2.latent_max[i] == latent.eps_rank_max(latent.latent_matrix(n, 2, "gaussian", 0), 0.01)
    assert d2.latent_max[-1] - d2.latent_max[0] <= 8
    assert all(r >= 0.8 * n for n, r in zip(d2.ns, d2.random_max) if r is not None)


def test_bad_input():
    with pytest.raises(ValueError, match="between 2 and"):
        latent.latent_matrix(10_000, 2)
    with pytest.raises(ValueError, match="latent dimension"):
        latent.latent_matrix(100, 0)
    with pytest.raises(ValueError, match="Unknown function"):
        latent.latent_matrix(100, 2, "sine")
    with pytest.raises(ValueError, match="positive"):
        latent.eps_rank_max(np.eye(3), 0.0)


def test_measurement_of_one_size_against_numpy():
    m = latent.measure_size(60, 2, 0.02, "gaussian", seed=3, with_random=False)
    x = latent.latent_matrix(60, 2, "gaussian", 3)
    s = np.linalg.svd(x, compute_uv=False)
    assert m.n == 60 and m.latent_norm2 == pytest.approx(np.linalg.norm(x, 2))
    np.testing.assert_allclose(m.latent_sigma, s / s[0], rtol=1e-9, atol=1e-15)
    assert m.latent_rel_max == latent.eps_rank_max(x, 0.02 * s[0])
    assert m.random_max is None and m.random_spectral is None and m.random_sigma == ()
    r = latent.measure_size(60, 2, 0.02, "gaussian", seed=3)
    rs = np.linalg.svd(latent.random_matrix(60, 3), compute_uv=False)
    assert r.random_spectral == np.linalg.matrix_rank(latent.random_matrix(60, 3), tol=0.02 * rs[0])
    np.testing.assert_allclose(r.random_sigma, rs / rs[0], rtol=1e-9)


def test_sweep_measures_each_size_through_the_given_function():
    calls = []

    def measure(*args):
        calls.append(args)
        return latent.measure_size(*args)

    sw = latent.eps_rank_sweep([120, 60], d=2, eps=0.02, seed=3, random_up_to=100, measure=measure)
    assert calls == [(60, 2, 0.02, "gaussian", 3, True), (120, 2, 0.02, "gaussian", 3, False)]
    assert sw == latent.eps_rank_sweep([60, 120], d=2, eps=0.02, seed=3, random_up_to=100)


def _synthetic_sweep() -> latent.Sweep:
    return latent.Sweep("gaussian", 2, 0.5, 0, ns=[100, 400, 1000, 4000], latent_max=[3, 5, 6, 8],
                        latent_spectral=[2, 3, 3, 4], latent_norm2=[40.0, 160.0, 400.0, 1600.0], latent_rel_max=[1, 1, 1, 2],
                        random_max=[90, 380, None, None], random_spectral=[80, 350, None, None])


def test_summary_against_direct_formulas():
    sm = latent.summarise(_synthetic_sweep())
    bb, aa = np.polyfit(np.log([100, 400, 1000, 4000]), [3, 5, 6, 8], 1)
    assert (sm.fit_a, sm.fit_b) == pytest.approx((aa, bb), rel=1e-10)
    bound = math.ceil(72 * math.log(8001) / 0.25)
    assert sm.bound == bound and sm.bound_ratio == pytest.approx(bound / 4000)
    assert sm.bound_at_0_1 == math.ceil(72 * math.log(8001) / 0.01)
    first = next(n for n in range(2, 100_000) if math.ceil(72 * math.log(2 * n + 1) / 0.25) < n)
    assert sm.crossover == first
    assert (sm.n_first, sm.n_last, sm.rank_first, sm.rank_last, sm.rel_rank, sm.norm2) == (100, 4000, 3, 8, 2, 1600.0)
    assert (sm.random_n, sm.random_rank, sm.random_all) == (400, 380, False)
    assert sm.random_share == pytest.approx(0.95)
    assert sm.title == "ε-rank of exp-type latent matrices, d = 2, ε = 0.5"
    assert sm.caption.startswith("f = exp(−‖a − b‖²), d = 2, ε = 0.5. Red: the max-entry ε-rank")
    assert "goes from 3 to 8 while n grows 40-fold" in sm.caption and f"the fit {aa:.1f} + {bb:.2f}·ln n" in sm.caption
    assert sm.caption.endswith(" Random matrices are measured up to n = 400 here.")
    assert f"r = {bound:,.0f}, which is {bound / 4000:,.0f} times the size" in sm.looseness
    assert "ε‖X‖₂ = 800.0 here (‖X‖₂ = σ₁ = 1,600 grows with n)" in sm.looseness
    assert f"only from n = {first:,} on." in sm.looseness
    assert f"{bb:.2f}·ln n" in sm.fit_help
    full = latent.summarise(latent.Sweep.from_dict({**_synthetic_sweep().to_dict(), "kind": "abs difference",
                                                    "random_max": [90, 380, 950, 3900]}))
    assert full.random_all and full.random_n == 4000 and full.caption.endswith("(log scale).")
    assert full.title == "ε-rank, f = Σ|a − b|, d = 2, ε = 0.5"
    none = latent.summarise(latent.Sweep.from_dict({**_synthetic_sweep().to_dict(), "random_max": [None] * 4}))
    assert none.random_n is None and none.random_share is None


def test_settings_pick_the_shipped_sweep(tmp_path):
    assert latent.SweepSettings().sizes == list(latent.DEFAULT_NS)
    assert latent.SweepSettings(n_max=1000).sizes == [100, 200, 400, 700, 1000]
    shipped = json.loads(assets.LOWRANK_SWEEP.read_text())["sweeps"]
    for d in (2, 3):
        got = latent.shipped_sweep(latent.SweepSettings(d=d))
        assert got == latent.Sweep.from_dict(next(s for s in shipped if s["d"] == d))
    for other in (latent.SweepSettings(n_max=2000), latent.SweepSettings(eps=0.02), latent.SweepSettings(kind="abs difference")):
        assert latent.shipped_sweep(other) is None
    assert latent.shipped_sweep(latent.SweepSettings(), tmp_path / "missing.json") is None
    (tmp_path / "broken.json").write_text("{not json")
    assert latent.shipped_sweep(latent.SweepSettings(), tmp_path / "broken.json") is None
    (tmp_path / "odd.json").write_text('{"sweeps": [{"kind": "gaussian"}]}')
    assert latent.shipped_sweep(latent.SweepSettings(), tmp_path / "odd.json") is None


def test_matrix_pair_is_the_sorted_latent_matrix_and_a_random_one():
    lat, rnd = latent.matrix_pair("gaussian", 3)
    a, b = latent.latent_points(200, 3, 0)
    a, b = a[np.argsort(a[:, 0])], b[np.argsort(b[:, 0])]
    np.testing.assert_allclose(lat, np.exp(-((a[:, None, :] - b[None, :, :]) ** 2).sum(2)), rtol=1e-12)
    assert rnd.shape == (200, 200) and 0 <= rnd.min() and rnd.max() <= 1
    np.testing.assert_array_equal(rnd, latent.random_matrix(200))
    assert latent.kind_name("gaussian") == "exp(−‖a − b‖²)" and latent.kind_name("abs difference") == "Σ_l |a_l − b_l|"


def test_a_packed_sweep_round_trips_and_draws_the_same_figures():
    """The page keys the sweep's figures on ``Sweep.packed()`` (one JSON string, quick to hash): unpacking gives the
    same numbers back, and the figures drawn from it carry the shipped sweep's ε-ranks."""
    import json

    from cnn_viz.figures import builders
    from cnn_viz.lowrank import figures

    sw = latent.shipped_sweep(latent.SweepSettings())
    back = latent.Sweep.unpack(sw.packed())
    assert back.to_dict() == sw.to_dict() and back.random_sigma == sw.random_sigma
    fig = builders.spec(figures.packed_eps_rank_figure(sw.packed(), title="t"))
    from conftest import plotly_array

    ys = [plotly_array(tr["y"]).tolist() for tr in fig["data"] if tr.get("y") is not None]
    assert list(sw.latent_max) in ys
    assert json.dumps(builders.spec(figures.packed_sigma_decay_figure(sw.packed(), "s"))) == json.dumps(
        builders.spec(figures.sigma_decay_figure(sw, "s")))


def test_sigma_decay_figure_sends_the_shipped_sigmas_compactly():
    """σᵢ/σ₁ as float32 with i = 1, 2, … given by x0/dx (no index arrays): the values are the sweep's own."""
    import json

    from conftest import plotly_array

    from cnn_viz.figures import builders
    from cnn_viz.lowrank import figures

    sw = latent.shipped_sweep(latent.SweepSettings())
    fig = builders.spec(figures.sigma_decay_figure(sw, "s"))
    rnd, lat = fig["data"]
    assert (rnd["x0"], rnd["dx"], lat["x0"], lat["dx"]) == (1, 1, 1, 1) and "x" not in rnd
    np.testing.assert_allclose(plotly_array(rnd["y"]), np.asarray(sw.random_sigma), rtol=1e-6)
    np.testing.assert_allclose(plotly_array(lat["y"]), np.where(np.asarray(sw.latent_sigma) > 1e-17, sw.latent_sigma, np.nan),
                               rtol=1e-6)
    assert len(json.dumps(fig["data"])) < 30_000  # 4,064 values; int64 x + float64 y were ~64 kB
