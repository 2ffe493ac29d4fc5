"""2-D deblurring core against independent references: a dense blur matrix built pixel by pixel,
SciPy's ndimage convolution, NumPy's dense solves, and scikit-image's metrics and restorations."""

import numpy as np
import pytest
from conftest import HOVER_REL
from scipy import ndimage
from skimage import metrics, restoration

from cnn_viz.common.linalg import one_blas_thread
from cnn_viz.common.metrics import psnr, relative_error, ssim
from cnn_viz.deblur import experiment, forward, lambda_rules, restore


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """The dense references run on one BLAS thread (two threads wait on each other on a busy shared box)."""
    with one_blas_thread():
        yield


def _source(t: int, n: int, bc: str):
    if 0 <= t < n:
        return t
    if bc == "periodic":
        return t % n
    if bc == "zero":
        return None
    return -t - 1 if t < 0 else 2 * n - t - 1  # half-sample symmetric (edge pixel repeated)


def dense_blur(shape, psf, bc):
    """The blur matrix written out from the definition b(i,j) = Σ p(a,b) x(i − a + r, j − b + r)."""
    m, n = shape
    k, l = psf.shape
    A = np.zeros((m * n, m * n))
    for i in range(m):
        for j in range(n):
            for a in range(k):
                for b in range(l):
                    si, sj = _source(i - (a - k // 2), m, bc), _source(j - (b - l // 2), n, bc)
                    if si is not None and sj is not None:
                        A[i * n + j, si * n + sj] += psf[a, b]
    return A


def dense_tikhonov(A, b, lam):
    return np.linalg.solve(A.T @ A + lam**2 * np.eye(A.shape[1]), A.T @ b)


RNG = np.random.default_rng(7)
SHAPE = (12, 10)
X = RNG.random(SHAPE)
SYM_PSFS = {
    "gaussian": forward.gaussian_psf(0.8),
    "box": forward.box_psf(3),
    "random doubly symmetric": (lambda q: (q + q[::-1] + q[:, ::-1] + q[::-1, ::-1]) / 4)(RNG.random((5, 3))),
}
ALL_PSFS = dict(SYM_PSFS, motion=forward.motion_psf(5, 30), random=RNG.random((3, 5)))


@pytest.mark.parametrize("bc,mode", [("periodic", "wrap"), ("reflexive", "reflect"), ("zero", "constant")])
@pytest.mark.parametrize("name", list(ALL_PSFS))
def test_blur_matches_dense_matrix_and_scipy(bc, mode, name):
    psf = ALL_PSFS[name]
    A = dense_blur(SHAPE, psf, bc)
    b = forward.blur(X, psf, bc)
    np.testing.assert_allclose(b.ravel(), A @ X.ravel(), atol=1e-12)
    np.testing.assert_allclose(b, ndimage.convolve(X, psf, mode=mode), atol=1e-12)
    op = forward.BlurOperator(psf, SHAPE, bc)
    y = RNG.random(SHAPE)
    np.testing.assert_allclose(op.rmatvec(y).ravel(), A.T @ y.ravel(), atol=1e-12)


@pytest.mark.parametrize("name", list(SYM_PSFS))
def test_dct_diagonalizes_the_reflexive_blur_and_solves_tikhonov(name):
    psf = SYM_PSFS[name]
    A = dense_blur(SHAPE, psf, "reflexive")
    sp = forward.spectral(psf, SHAPE, "reflexive")
    assert sp.kind == "dct"
    np.testing.assert_allclose(sp.apply(X).ravel(), A @ X.ravel(), atol=1e-12)
    b = A @ X.ravel() + 0.01 * RNG.standard_normal(X.size)
    for lam in (1e-3, 0.05, 0.7):
        ref = dense_tikhonov(A, b, lam)
        np.testing.assert_allclose(restore.tikhonov_spectral(b.reshape(SHAPE), sp, lam).ravel(), ref, atol=1e-9)
        # the FFT of the mirror-extended image is the same reflexive model
        mirror = forward.Spectral("mirror", forward.symbol(psf, SHAPE, "mirror"), SHAPE)
        np.testing.assert_allclose(restore.tikhonov_spectral(b.reshape(SHAPE), mirror, lam).ravel(), ref, atol=1e-9)


@pytest.mark.parametrize("name", list(ALL_PSFS))
def test_fft_diagonalizes_the_periodic_blur_and_solves_tikhonov(name):
    psf = ALL_PSFS[name]
    A = dense_blur(SHAPE, psf, "periodic")
    sp = forward.spectral(psf, SHAPE, "periodic")
    np.testing.assert_allclose(sp.apply(X).ravel(), A @ X.ravel(), atol=1e-12)
    b = A @ X.ravel() + 0.01 * RNG.standard_normal(X.size)
    for lam in (1e-3, 0.05, 0.7):
        np.testing.assert_allclose(restore.tikhonov_spectral(b.reshape(SHAPE), sp, lam).ravel(), dense_tikhonov(A, b, lam), atol=1e-9)


@pytest.mark.parametrize("bc,name", [("zero", "gaussian"), ("zero", "motion"), ("reflexive", "motion"), ("reflexive", "random")])
def test_pcg_solves_tikhonov_where_there_is_no_fast_transform(bc, name):
    psf = ALL_PSFS[name]
    A = dense_blur(SHAPE, psf, bc)
    b = A @ X.ravel() + 0.01 * RNG.standard_normal(X.size)
    for lam in (0.01, 0.2):
        ref = dense_tikhonov(A, b, lam)
        x = restore.tikhonov(b.reshape(SHAPE), psf, lam, bc)
        assert np.linalg.norm(x.ravel() - ref) <= 1e-4 * np.linalg.norm(ref)


def test_tikhonov_auto_dispatches_on_colour_images():
    psf = forward.gaussian_psf(1.0)
    img = RNG.random((12, 10, 3))
    b = forward.blur(img, psf, "reflexive")
    x, lam = restore.tikhonov_auto(b, psf, "reflexive", lam=0.1)
    A = dense_blur((12, 10), psf, "reflexive")
    for c in range(3):
        np.testing.assert_allclose(x[..., c].ravel(), dense_tikhonov(A, b[..., c].ravel(), 0.1), atol=1e-9)


def _gcv_dense(A, b, lam):
    n = A.shape[1]
    H = A @ np.linalg.solve(A.T @ A + lam**2 * np.eye(n), A.T)  # influence matrix
    r = b - H @ b
    return r @ r / np.trace(np.eye(A.shape[0]) - H) ** 2


@pytest.mark.parametrize("bc", ["periodic", "reflexive"])
def test_gcv_lambda_against_a_brute_force_sweep_of_the_dense_gcv_function(bc):
    psf = forward.gaussian_psf(1.0)
    A = dense_blur(SHAPE, psf, bc)
    b = A @ X.ravel()
    b = b + 0.02 * np.linalg.norm(b) / np.sqrt(b.size) * np.random.default_rng(3).standard_normal(b.size)
    sp = forward.spectral(psf, SHAPE, bc)
    lam = restore.choose_lambda(b.reshape(SHAPE), sp, "gcv")
    grid = np.logspace(-4, 0, 321)
    g = np.array([_gcv_dense(A, b, t) for t in grid])
    i = int(np.argmin(g))
    assert 0 < i < len(grid) - 1  # an interior minimum
    assert _gcv_dense(A, b, lam) <= g[i] * (1 + 1e-9)
    assert abs(np.log10(lam) - np.log10(grid[i])) <= 4 / 320


@pytest.mark.parametrize("bc", ["periodic", "reflexive"])
def test_discrepancy_principle_hits_the_noise_norm(bc):
    psf = forward.gaussian_psf(1.0)
    A = dense_blur(SHAPE, psf, bc)
    b_clean = A @ X.ravel()
    b, delta = forward.add_noise(b_clean, 0.05, seed=1)
    assert np.linalg.norm(b - b_clean) == pytest.approx(0.05 * np.linalg.norm(b_clean), rel=1e-12)
    lam = restore.choose_lambda(b.reshape(SHAPE), forward.spectral(psf, SHAPE, bc), "discrepancy", delta)
    x = dense_tikhonov(A, b, lam)
    assert np.linalg.norm(A @ x - b) == pytest.approx(delta, rel=1e-4)


def test_wiener_equals_scikit_image_with_a_periodic_boundary():
    img = RNG.random((32, 28))
    psf = forward.gaussian_psf(1.5)
    b = forward.blur(img, psf, "periodic") + 0.01 * RNG.standard_normal(img.shape)
    sp = forward.spectral(psf, img.shape, "periodic")
    for balance in (1e-3, 0.1):
        ref = restoration.wiener(b, psf, balance, clip=False)
        np.testing.assert_allclose(restore.wiener(b, sp, balance), ref, atol=1e-10)


def test_richardson_lucy_equals_scikit_image_with_zero_padding():
    img = RNG.random((30, 26)) * 0.8 + 0.1
    psf = forward.gaussian_psf(1.2)
    b = forward.blur(img, psf, "zero")
    op = forward.BlurOperator(psf, img.shape, "zero")
    ours, _ = restore.richardson_lucy(b, op, 15, normalize=False)
    ref = restoration.richardson_lucy(b, psf, num_iter=15, clip=False, filter_epsilon=None)
    np.testing.assert_allclose(ours, ref, rtol=1e-7, atol=1e-9)


def test_richardson_lucy_through_the_dct_equals_the_padded_convolution():
    img = RNG.random((20, 18)) + 0.1
    psf = forward.gaussian_psf(1.0)
    b = forward.blur(img, psf, "reflexive")
    a, _ = restore.richardson_lucy(b, forward.BlurOperator(psf, img.shape, "reflexive"), 10)
    c, _ = restore.richardson_lucy(b, forward.fast_operator(psf, img.shape, "reflexive"), 10)
    np.testing.assert_allclose(a, c, rtol=1e-9)


@pytest.mark.parametrize("shape", [(40, 37), (33, 30, 3)])
def test_psnr_ssim_relative_error_against_scikit_image(shape):
    ref = RNG.random(shape)
    x = np.clip(ref + 0.1 * RNG.standard_normal(shape), 0, 1)
    assert psnr(x, ref) == pytest.approx(metrics.peak_signal_noise_ratio(ref, x, data_range=1.0), rel=1e-12)
    kw = {"channel_axis": -1} if len(shape) == 3 else {}
    assert ssim(x, ref) == pytest.approx(metrics.structural_similarity(ref, x, data_range=1.0, **kw), rel=1e-9)
    assert relative_error(x, ref) == pytest.approx(metrics.normalized_root_mse(ref, x, normalization="euclidean"), rel=1e-12)


def test_inverse_crime_naive_inverse_is_perfect_only_with_the_matching_model():
    from skimage import data, transform

    img = transform.resize(data.camera() / 255.0, (64, 64), anti_aliasing=True)
    table = experiment.inverse_crime(img, forward.gaussian_psf(1.5))
    assert table.at("periodic", "periodic") > 60 and table.at("reflexive", "reflexive") > 60
    assert table.at("periodic", "reflexive") < 20 and table.at("reflexive", "periodic") < 20 and table.at("zero", "reflexive") < 20


def test_compare_on_cameraman_reproduces_the_measured_numbers():
    """The field notes' numbers (cameraman 256², σ = 2 px, 1 % noise, reflexive): blurred 24.4 dB,
    Tikhonov best λ 27.1, GCV 26.4, discrepancy 27.1, L-curve 21.6, naive 4.8; periodic GCV collapses."""
    from cnn_viz.common.images import load_sample

    truth = load_sample("Cameraman", 256).astype(np.float64)
    scene = experiment.make_scene(truth, forward.gaussian_psf(2.0), "reflexive", 0.01, seed=0)
    assert psnr(np.clip(scene.blurred, 0, 1), truth) == pytest.approx(24.4, abs=0.1)
    res = {r.name: r for r in experiment.compare(scene, "reflexive")}
    assert res[experiment.NAIVE].psnr == pytest.approx(4.8, abs=0.2)
    assert res[experiment.TIK_BEST].psnr == pytest.approx(27.1, abs=0.1)
    assert res[experiment.TIK_GCV].psnr == pytest.approx(26.4, abs=0.1)
    assert res[experiment.TIK_DP].psnr == pytest.approx(27.1, abs=0.1)
    assert res[experiment.TIK_LC].psnr == pytest.approx(21.6, abs=0.1)
    assert res[experiment.TIK_BEST].psnr - res[experiment.TIK_GCV].psnr < 1.0  # the goal: GCV within 1 dB of the oracle
    for r in res.values():
        if r.name.startswith("Tikhonov"):
            assert r.psnr <= res[experiment.TIK_BEST].psnr + 1e-3
    per = {r.name: r for r in experiment.compare(scene, "periodic", (experiment.TIK_GCV,))}
    assert per[experiment.TIK_GCV].psnr < 6  # the periodic model drives GCV to a tiny λ
    curves = {c.bc: c.psnr for c in experiment.rl_curves(scene, ("zero", "reflexive"), iters=60).curves}
    assert int(np.argmax(curves["zero"])) < int(np.argmax(curves["reflexive"]))
    assert curves["zero"].max() < curves["reflexive"].max()


def test_psfs():
    g = forward.gaussian_psf(2.0)
    assert g.sum() == pytest.approx(1) and forward.is_doubly_symmetric(g)
    t = np.arange(g.shape[0]) - g.shape[0] // 2
    assert (g.sum(axis=0) * t**2).sum() == pytest.approx(4.0, rel=5e-3)  # variance σ² (truncated at 3.5σ)
    m = forward.motion_psf(9, 0)  # a horizontal 9-pixel shake is a 1×9 moving average
    img = RNG.random((20, 30))
    np.testing.assert_allclose(forward.blur(img, m, "reflexive"), ndimage.uniform_filter1d(img, 9, axis=1, mode="reflect"), atol=1e-12)
    np.testing.assert_allclose(forward.motion_psf(7, 90), forward.motion_psf(7, 0).T, atol=1e-15)
    m30 = forward.motion_psf(9, 30)
    np.testing.assert_allclose(m30, m30[::-1, ::-1])
    assert not forward.is_doubly_symmetric(m30) and forward.spectral(m30, (40, 40), "reflexive").kind == "mirror"
    assert forward.box_psf(5).sum() == pytest.approx(1)


@pytest.mark.parametrize("call", [
    lambda: forward.gaussian_psf(-1),
    lambda: forward.gaussian_psf(float("nan")),
    lambda: forward.gaussian_psf(30),
    lambda: forward.box_psf(4),
    lambda: forward.motion_psf(0.5),
    lambda: forward.make_psf("Disk", 3),
    lambda: forward.blur(np.zeros((5, 5)), forward.gaussian_psf(2.0)),
    lambda: forward.blur(np.zeros((20, 20)), forward.gaussian_psf(1.0), "mirror"),
    lambda: forward.add_noise(np.ones(4), -0.1),
    lambda: experiment.make_scene(np.zeros((8, 8)), forward.gaussian_psf(0.5)),
    lambda: experiment.compare(experiment.make_scene(np.zeros((20, 20)), forward.gaussian_psf(1.0)), methods=("Magic",)),
])
def test_bad_input_raises_a_readable_value_error(call):
    with pytest.raises(ValueError) as exc:
        call()
    assert len(str(exc.value)) > 10


def test_lcurve_curvature_matches_finite_differences():
    psf = forward.gaussian_psf(1.0)
    sp = forward.spectral(psf, SHAPE, "reflexive")
    b = forward.add_noise(forward.blur(X, psf, "reflexive"), 0.02, 0)[0]
    s, bh = forward.coefficients(b, sp)
    t = np.linspace(np.log(1e-3), np.log(0.5), 4001)
    rho, eta, kappa = lambda_rules.lcurve(lambda_rules.spectrum(s, bh), np.exp(t))
    lr, le = np.log(rho), np.log(eta)
    d1r, d1e = np.gradient(lr, t), np.gradient(le, t)
    d2r, d2e = np.gradient(d1r, t), np.gradient(d1e, t)
    numeric = (d1r * d2e - d2r * d1e) / (d1r**2 + d1e**2) ** 1.5
    inner = slice(50, -50)
    np.testing.assert_allclose(kappa[inner], numeric[inner], atol=1e-3 * np.abs(numeric).max())


def test_a_solver_with_a_wrong_psf_and_an_assumed_noise_level():
    img = np.random.default_rng(5).random((18, 16))
    true_psf, solver_psf = forward.gaussian_psf(1.0), forward.gaussian_psf(0.7)
    scene = experiment.make_scene(img, true_psf, "reflexive", 0.02, seed=2)
    A = dense_blur(img.shape, solver_psf, "reflexive")
    b = scene.blurred.ravel()
    lam = experiment.lambda_sweep(scene, "reflexive", solver_psf=solver_psf, noise=0.05).pick("discrepancy").lam
    x = dense_tikhonov(A, b, lam)
    assert np.linalg.norm(A @ x - b) == pytest.approx(0.05 * np.linalg.norm(b), rel=1e-4)
    res = experiment.compare(scene, "reflexive", (experiment.TIK_DP, experiment.TIK_USER), lam=0.1, solver_psf=solver_psf, noise=0.05)
    np.testing.assert_allclose(res[0].raw.ravel(), x, atol=1e-6)
    np.testing.assert_allclose(res[1].raw.ravel(), dense_tikhonov(A, b, 0.1), atol=1e-9)


def test_lambda_sweep_reports_the_psnr_at_each_rule_and_the_best():
    img = np.random.default_rng(6).random((18, 16))
    scene = experiment.make_scene(img, forward.gaussian_psf(1.0), "reflexive", 0.02, seed=3)
    sw = experiment.lambda_sweep(scene, "reflexive")
    A = dense_blur(img.shape, scene.psf, "reflexive")
    b = scene.blurred.ravel()
    direct = [psnr(np.clip(dense_tikhonov(A, b, lam).reshape(img.shape), 0, 1), img) for lam in sw.lams]
    np.testing.assert_allclose(sw.psnr, direct, atol=1e-8)
    assert sw.best_psnr == pytest.approx(max(direct))
    for p in sw.picks:
        ref = np.interp(np.log(p.lam), np.log(sw.lams[::-1]), np.asarray(direct)[::-1])
        assert p.psnr == pytest.approx(ref, abs=1e-8)


@pytest.mark.parametrize("bc", ["periodic", "reflexive"])
def test_tsvd_spectral_is_the_rank_k_least_squares_solution_of_the_dense_matrix(bc):
    psf = forward.gaussian_psf(1.0)
    A = dense_blur(SHAPE, psf, bc)
    b = A @ X.ravel() + 0.01 * RNG.standard_normal(X.size)
    U, s, Vt = np.linalg.svd(A)
    sp = forward.spectral(psf, SHAPE, bc)
    gaps = np.flatnonzero(s[:-1] - s[1:] > 1e-6 * s[0]) + 1  # k where "the k largest" is well defined (no tie)
    for k in (gaps[gaps >= 10][0], gaps[gaps >= 60][0]):
        ref = Vt[:k].T @ ((U[:, :k].T @ b) / s[:k])
        np.testing.assert_allclose(restore.tsvd_spectral(b.reshape(SHAPE), sp, k).ravel(), ref, atol=1e-9)


def test_naive_inverse_equals_a_dense_solve_and_colour_goes_channel_by_channel():
    psf = np.array([[0.0, 0.1, 0.0], [0.1, 0.6, 0.1], [0.0, 0.1, 0.0]])  # well conditioned: its symbol stays ≥ 0.2
    A = dense_blur(SHAPE, psf, "periodic")
    img = RNG.random(SHAPE + (3,))
    b = np.stack([(A @ img[..., c].ravel()).reshape(SHAPE) for c in range(3)], axis=-1)
    sp = forward.spectral(psf, SHAPE, "periodic")
    x = restore.naive_inverse(b, sp)
    for c in range(3):
        np.testing.assert_allclose(x[..., c].ravel(), np.linalg.solve(A, b[..., c].ravel()), atol=1e-10)
    t = restore.tikhonov_spectral(b, sp, 0.1)
    for c in range(3):
        np.testing.assert_allclose(t[..., c].ravel(), dense_tikhonov(A, b[..., c].ravel(), 0.1), atol=1e-10)


def test_transform_and_untransform_are_inverse_on_colour_images():
    img = RNG.random((12, 10, 3))
    for bc in ("periodic", "reflexive", "zero"):
        sp = forward.spectral(forward.gaussian_psf(1.0), img.shape, bc)
        np.testing.assert_allclose(forward.untransform(forward.transform(img, sp), sp), img, atol=1e-12)


@pytest.mark.parametrize("bc", ["periodic", "reflexive", "zero"])
def test_richardson_lucy_image_against_the_dense_iteration(bc):
    """x ← x · Aᵀ(b / Ax) / Aᵀ1 with the dense matrix, from the flat start, each channel; the history is the
    mean squared error over all channels."""
    psf = forward.gaussian_psf(1.0)
    A = dense_blur(SHAPE, psf, bc)
    truth = RNG.random(SHAPE + (2,)) * 0.8 + 0.1
    b = np.stack([(A @ truth[..., c].ravel()).reshape(SHAPE) for c in range(2)], axis=-1)
    x, errors = restore.richardson_lucy_image(b, psf, bc, 8, truth=truth)
    norm = A.T @ np.ones(A.shape[0])
    ref_x, ref_err = [], np.zeros(8)
    for c in range(2):
        bc_ = b[..., c].ravel()
        xc = np.full(bc_.size, bc_.mean())
        for i in range(8):
            xc = xc * (A.T @ (bc_ / (A @ xc + 1e-12))) / norm
            ref_err[i] += np.mean((np.clip(xc, 0, 1) - truth[..., c].ravel()) ** 2) / 2
        ref_x.append(xc.reshape(SHAPE))
    np.testing.assert_allclose(x, np.stack(ref_x, axis=-1), rtol=1e-4, atol=1e-5)  # float32 arithmetic
    np.testing.assert_allclose(errors, ref_err, rtol=1e-3)


def test_wiener_in_the_comparison_is_scikit_images_with_the_gcv_balance():
    """The comparison's Wiener row is `wiener` (the function checked against scikit-image above) at GCV's balance."""
    img = RNG.random((32, 28))
    scene = experiment.make_scene(img, forward.gaussian_psf(1.5), "periodic", 0.01, seed=4)
    row = experiment.compare(scene, "periodic", (experiment.WIENER,))[0]
    sp = forward.spectral(scene.psf, img.shape, "periodic")
    balance = lambda_rules.gcv_lambda(restore.rule_spectrum(forward.transform(scene.blurred, sp), sp, weights=sp.laplacian())) ** 2
    assert row.note == f"balance = {balance:.2g}"
    np.testing.assert_allclose(row.raw, restoration.wiener(scene.blurred, scene.psf, balance, clip=False), atol=1e-9)


def test_error_maps_are_small_pngs_with_the_real_errors_on_hover():
    """The close-up's error figure: per map a PNG of every 2nd pixel of a 256² error (red where too bright, blue where
    too dark), the real (clipped) errors on hover at their true rows and columns, one shared scale at the 99.5th
    percentile of |error|; less than half the bytes of the full-size maps with 64² hover grids it replaces."""
    import json

    from conftest import map_samples, png_pixels

    from cnn_viz.deblur import figures as dfig
    from cnn_viz.figures import builders

    rng = np.random.default_rng(0)
    errs = [rng.normal(0, 0.05, (256, 256)) + np.linspace(-0.2, 0.2, 256)[None, :] for _ in range(4)]
    fig = builders.spec(dfig.error_figure(errs, ["a", "b", "c", "d"]))
    z = np.percentile(np.abs(np.stack(errs).astype(np.float32)), 99.5)
    clipped = np.clip(np.stack(errs).astype(np.float32), -z, z)
    before = builders.spec(builders.map_grid_figure(clipped, ["a", "b", "c", "d"], cols=4, signed=True))  # the old figure
    assert len(json.dumps(fig["data"])) < 0.5 * len(json.dumps(before["data"]))
    for i, e in enumerate(errs):
        rows, cols, vals = map_samples(fig, 2 * i)
        assert 16 <= len(rows) <= 32 and rows.max() < 256
        np.testing.assert_allclose(vals, np.clip(e, -z, z)[np.ix_(rows, cols)], rtol=HOVER_REL, atol=1e-6)  # the 4 digits shown
        px = png_pixels(fig["data"][2 * i + 1]["source"]).astype(int)
        assert px.shape == (128, 128, 3)
        shown = e[::2, ::2]
        red, blue = shown > 0.6 * z, shown < -0.6 * z
        assert red.any() and blue.any()
        assert (px[red][:, 0] > px[red][:, 2]).all() and (px[blue][:, 2] > px[blue][:, 0]).all()
