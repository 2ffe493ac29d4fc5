"""The 'When CNNs fail' core against references: dense matrices built independently, the adjoint identity,
singular values, a LASSO solved by SciPy, Pillow's JPEG, scikit-image's metrics, and the networks' shapes."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image
from scipy.linalg import block_diag
from scipy.optimize import minimize

from cnn_viz.common import metrics
from cnn_viz.whenfail import jpeg, lab


@pytest.mark.parametrize("op", list(lab.OPERATORS))
def test_operators_are_the_adjoint_of_their_transpose(op):
    M = lab.operator(lab.Setup(operator=op, n=64, m=32))
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal(M.shape[1]), rng.standard_normal(M.shape[0])
    assert np.dot(M @ x, y) == pytest.approx(np.dot(x, M.T @ y), rel=1e-12)
    assert np.linalg.svd(M, compute_uv=False)[0] == pytest.approx(1.0, rel=1e-12)


def test_blur_is_the_course_kernel_and_a_convolution():
    n = 64
    t = (np.arange(n) + 0.5) / n
    ref = np.exp(-((t[:, None] - t[None, :]) ** 2) / (lab.BLUR_PIXELS / n) ** 2) / n
    ref /= np.linalg.svd(ref, compute_uv=False)[0]
    np.testing.assert_allclose(lab.blur(n), ref, rtol=1e-12, atol=1e-15)
    # Toeplitz: M x is a 'same' convolution with the kernel's first column mirrored
    x = np.random.default_rng(0).standard_normal(n)
    k = np.concatenate([ref[:0:-1, 0], ref[:, 0]])
    np.testing.assert_allclose(lab.blur(n) @ x, np.convolve(x, k, mode="full")[n - 1: 2 * n - 1], atol=1e-12)


def test_block_diagonal_has_independent_8x8_blocks():
    M = lab.block_diagonal(64)
    blocks = [M[i:i + 8, i:i + 8] for i in range(0, 64, 8)]
    np.testing.assert_array_equal(M, block_diag(*blocks))
    assert not np.allclose(blocks[0], blocks[1])


def test_permuted_blur_has_the_same_singular_values_and_no_band():
    n = 128
    A, PAP = lab.blur(n), lab.permuted_blur(n)
    p = lab.permutation(n)
    np.testing.assert_allclose(PAP, A[np.ix_(p, p)], atol=0)
    np.testing.assert_allclose(np.linalg.svd(PAP, compute_uv=False), np.linalg.svd(A, compute_uv=False), atol=1e-10)
    band = np.abs(np.subtract.outer(np.arange(n), np.arange(n))) <= 4
    assert np.abs(A[~band]).max() < 1e-3 < np.abs(PAP[~band]).max()


def test_dense_refuses_m_not_below_n():
    with pytest.raises(ValueError, match="m < n"):
        lab.Setup(operator="dense", n=64, m=64).check()
    with pytest.raises(ValueError, match="between 64 and 256"):
        lab.Setup(n=32).check()


def test_conv_dictionary_is_the_sum_of_convolutions():
    n = 64
    d = lab.atoms()
    z = np.random.default_rng(2).standard_normal((lab.ATOMS, n))
    ref = sum(np.convolve(z[k], d[k], mode="same") for k in range(lab.ATOMS))
    np.testing.assert_allclose(lab.conv_dictionary(n, d) @ z.reshape(-1), ref, atol=1e-12)


def test_ista_solves_the_lasso_like_scipy_and_meets_kkt():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((30, 50)) / np.sqrt(30)
    z0 = rng.standard_normal(50) * (rng.random(50) < 0.15)
    b = A @ z0 + 0.01 * rng.standard_normal(30)
    lam = 0.05
    z = lab.ista(A, b[None], lam, iters=5000)[0]
    assert lab.lasso_kkt_violation(A, b, z, lam) < 1e-6
    # the same objective, split z = u − v with u, v ≥ 0, solved by L-BFGS-B
    f = lambda w: 0.5 * np.sum((A @ (w[:50] - w[50:]) - b) ** 2) + lam * np.sum(w)  # noqa: E731
    g = lambda w: np.concatenate([A.T @ (A @ (w[:50] - w[50:]) - b) + lam, -(A.T @ (A @ (w[:50] - w[50:]) - b)) + lam])  # noqa: E731
    res = minimize(f, np.zeros(100), jac=g, bounds=[(0, None)] * 100, method="L-BFGS-B", options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 20000})
    z_ref = res.x[:50] - res.x[50:]
    np.testing.assert_allclose(z, z_ref, atol=1e-4)
    assert f(np.concatenate([np.maximum(z, 0), np.maximum(-z, 0)])) <= res.fun + 1e-9


def test_tikhonov_gcv_matches_the_normal_equations():
    d = lab.make_data(lab.Setup(operator="block", n=64, n_train=10, n_test=5))
    X, lams = lab.tikhonov_gcv(d.M, d.b_test)
    lam = lams[0]
    ref = np.linalg.solve(d.M.T @ d.M + lam**2 * np.eye(64), d.M.T @ d.b_test.T).T
    np.testing.assert_allclose(X, ref, atol=1e-9)


def test_compressibility_separates_the_two_signal_sets():
    csc = lab.compressibility(lab.signals("csc", 64, 30, 5))
    gen = lab.compressibility(lab.signals("generic", 64, 30, 5))
    assert csc.conv_error < 0.25 < gen.conv_error
    # the DCT part is exact: keep the k largest of an orthonormal transform
    X = lab.signals("generic", 64, 3, 1)
    from scipy.fft import dct
    C = dct(X, norm="ortho", axis=1)
    kept = np.zeros_like(C)
    for i, c in enumerate(C):
        top = np.argsort(-np.abs(c))[: csc.k]
        kept[i, top] = c[top]
    assert lab.compressibility(X).dct_error == pytest.approx(np.linalg.norm(kept - C) / np.linalg.norm(C), rel=1e-12)


# ------------------------------------------------------------------ JPEG
def _camera(side=64):
    from skimage import data
    return data.camera()[::512 // side, ::512 // side].astype(np.float64) / 255


@pytest.mark.parametrize("q", [5, 10, 25, 50])
def test_jpeg_round_trip_is_pillows(q):
    x = _camera()
    y, nbytes, table = jpeg.compress(x, q)
    buf = io.BytesIO()
    Image.fromarray(np.round(x * 255).astype(np.uint8)).save(buf, "JPEG", quality=q)
    ref = np.asarray(Image.open(io.BytesIO(buf.getvalue())), dtype=np.float64) / 255
    np.testing.assert_array_equal(y, ref)
    assert nbytes == len(buf.getvalue())
    np.testing.assert_array_equal(table, jpeg.quant_table(q))  # the file's table is libjpeg's scaled table


def test_quantised_block_decodes_like_pillow():
    x = np.round(_camera() * 255) / 255  # what Pillow encodes
    y, _, table = jpeg.compress(x, 20)
    from scipy.fft import idctn
    F = jpeg.block_dct(x)
    rec = idctn(np.round(F / table) * table, norm="ortho", axes=(2, 3)) + 128
    h, w = x.shape
    rec = np.clip(rec, 0, 255).transpose(0, 2, 1, 3).reshape(h, w) / 255
    # libjpeg's integer DCTs flip an index now and then where a coefficient sits on a rounding boundary
    assert np.mean(np.abs(rec - y) <= 2.5 / 255) >= 0.95  # measured 0.969 at q = 20
    assert np.mean(jpeg.quantised_indices(y, table) == np.round(F / table)) >= 0.99  # measured 0.998
    assert np.median(np.abs(rec - y)) <= 1 / 255


@pytest.mark.parametrize("bad", [0, 4, 51, "x"])
def test_bad_quality_is_refused(bad):
    with pytest.raises(ValueError, match="quality"):
        jpeg.check_quality(bad)


def test_tiny_image_is_refused():
    with pytest.raises(ValueError, match="at least"):
        jpeg.compress(np.zeros((1, 1)), 10)


def test_metrics_against_scikit_image():
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity
    x = _camera(128)
    y = jpeg.compress(x, 10)[0]
    assert metrics.psnr(y, x) == pytest.approx(peak_signal_noise_ratio(x, y, data_range=1.0), rel=1e-12)
    assert metrics.ssim(y, x) == pytest.approx(structural_similarity(x, y, data_range=1.0), rel=1e-9)


def test_restorations_and_the_shift():
    case = jpeg.classical(_camera(128), 10)
    r = {k.key: k for k in case.restorations}
    assert r["tv_oracle"].psnr >= r["tv"].psnr - 1e-12
    assert r["tv"].psnr > r["none"].psnr  # the consistency rule helps on the cameraman at q = 10
    assert jpeg.grid_non_equivariance(_camera(128), 10) > 0.5  # JPEG is not shift-equivariant


def test_error_maps_are_sent_as_int8_in_units_of_1_255():
    import base64

    import plotly.io as pio

    from cnn_viz.whenfail import figures

    rng = np.random.default_rng(3)
    err = rng.normal(0, 0.05, (96, 96))
    err[0, 0], err[0, 1] = 0.9, -0.9  # beyond ±127/255: clipped
    z = figures.error_int8(err)
    ref = np.clip(np.rint(err * 255), -127, 127)
    assert z.dtype == np.int8 and np.array_equal(z.astype(float), ref)
    assert z[0, 0] == 127 and z[0, 1] == -127
    spec = json.loads(pio.to_json(figures.crops_figure([err], ["e"], errors=True), validate=False))["data"][0]["z"]
    assert spec["dtype"] == "i1"
    sent = np.frombuffer(base64.b64decode(spec["bdata"]), dtype=np.int8).reshape(96, 96)
    assert np.array_equal(sent.astype(float), ref)  # what the browser gets is the rounded error itself


def test_example_figure_shows_the_runs_own_signals():
    from cnn_viz.common import assets
    from cnn_viz.whenfail import figures, results

    t = results.LabTable.load(assets.WHENFAIL_LAB["csc"])
    run = t.run("block")
    fig = figures.example_figure(t, "block", 1)
    assert np.allclose(fig.data[0].y, run.x[1]) and np.allclose(fig.data[1].y, run.b[1])
    by_name = {tr.name: tr.y for tr in fig.data[2:]}
    for m, v in run.examples.items():
        assert np.allclose(by_name[lab.METHODS[m]], v[1])
