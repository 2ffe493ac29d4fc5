"""Low-rank images: truncated SVD against NumPy's SVD, the Eckart–Young identity, the randomized SVD
against the exact one, PSNR against scikit-image, PCA against the covariance eigen-decomposition."""

import numpy as np
import pytest
from PIL import Image
from skimage import data
from skimage.metrics import peak_signal_noise_ratio

from cnn_viz.common import images
from cnn_viz.common.metrics import psnr, relative_error
from cnn_viz.lowrank import figures, svd


@pytest.fixture(scope="module")
def camera():
    return data.camera().astype(np.float32) / 255.0


@pytest.fixture(scope="module")
def camera_svd(camera):
    return np.linalg.svd(camera.astype(np.float64), full_matrices=False)


@pytest.fixture(scope="module")
def camera_factors(camera):
    return svd.image_svd(camera)


def _truncate(u, s, vt, k):
    return (u[:, :k] * s[:k]) @ vt[:k]


@pytest.mark.parametrize("k", [1, 5, 20, 100, 300, 511])
def test_reconstruction_error_is_the_eckart_young_tail(camera, camera_svd, camera_factors, k):
    _, s, _ = camera_svd
    approx = svd.rebuild(camera_factors, k)
    measured = np.linalg.norm(camera.astype(np.float64) - approx) / np.linalg.norm(camera.astype(np.float64))
    tail = np.sqrt(np.sum(s[k:] ** 2)) / np.sqrt(np.sum(s**2))
    assert measured == pytest.approx(tail, rel=1e-4, abs=1e-6)
    assert svd.eckart_young_error(camera_factors, k) == pytest.approx(tail, rel=1e-9, abs=1e-12)
    # Spectral norm of the error is σ_{k+1} (the other half of Eckart–Young–Mirsky), where σ_{k+1}
    # stands above the float32 rounding of the stored factors (~1e-7 of σ_1).
    if s[k] > 1e-5 * s[0]:
        assert np.linalg.norm(camera.astype(np.float64) - approx, 2) == pytest.approx(s[k], rel=1e-3)
    assert svd.energy(camera_factors, k) + tail**2 == pytest.approx(1.0, abs=1e-9)


def test_rank_k_image_equals_numpy_truncation(camera, camera_svd, camera_factors):
    u, s, vt = camera_svd
    for k in (1, 10, 64):
        np.testing.assert_allclose(svd.rebuild(camera_factors, k), _truncate(u, s, vt, k), atol=2e-5)
    np.testing.assert_allclose(svd.rebuild(camera_factors, camera_factors.rank), camera, atol=2e-5)
    assert not svd.rebuild(camera_factors, 0).any()


def test_colour_channels_are_compressed_one_by_one():
    img = images.load_sample("Astronaut", max_side=128)
    f = svd.image_svd(img)
    assert f.us.shape == (3, 128, 128) and f.exact
    for c in range(3):
        ref = np.linalg.svd(img[..., c].astype(np.float64), compute_uv=False)
        np.testing.assert_allclose(f.s[c], ref, rtol=1e-9, atol=1e-10)
    approx = svd.rebuild(f, 12)
    assert approx.shape == img.shape
    for c in range(3):
        u, s, vt = np.linalg.svd(img[..., c].astype(np.float64), full_matrices=False)
        np.testing.assert_allclose(approx[..., c], _truncate(u, s, vt, 12), atol=2e-5)
    all_s = np.linalg.svd(np.moveaxis(img, -1, 0).astype(np.float64), compute_uv=False)
    tail = np.sqrt(np.sum(all_s[:, 12:] ** 2) / np.sum(img.astype(np.float64) ** 2))
    assert relative_error(approx, img) == pytest.approx(tail, rel=1e-4)


def test_randomized_svd_against_the_exact_one(camera):
    big = np.asarray(Image.fromarray(camera).resize((1000, 800), Image.Resampling.BICUBIC), dtype=np.float32)
    exact = np.linalg.svd(big.astype(np.float64), compute_uv=False)
    f = svd.image_svd(big)  # 800 000 pixels > EXACT_MAX_PIXELS: randomized
    assert not f.exact and f.rank == svd.RANDOMIZED_RANK
    np.testing.assert_allclose(f.s[0, :50], exact[:50], rtol=1e-3)
    norm = np.linalg.norm(big.astype(np.float64))
    for k in (10, 50, 150, 256):
        best = np.sqrt(np.sum(exact[k:] ** 2)) / norm
        got = relative_error(svd.rebuild(f, k), big)
        assert best * (1 - 1e-6) <= got <= 1.01 * best, (k, got, best)
        # The Eckart–Young value computed from the randomized σ's is close to the measured error.
        assert svd.eckart_young_error(f, k) == pytest.approx(got, rel=0.01)


def test_randomized_svd_recovers_an_exact_low_rank_matrix():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((300, 12)) @ rng.standard_normal((12, 200))
    u, s, vt = svd.randomized_svd(a, 12, oversample=8, power_iters=1)
    np.testing.assert_allclose((u * s) @ vt, a, atol=1e-9)
    np.testing.assert_allclose(s, np.linalg.svd(a, compute_uv=False)[:12], rtol=1e-10)


def test_psnr_matches_scikit_image_and_the_measured_camera_values(camera, camera_factors):
    for k, notes_db in ((10, 22.1), (50, 28.6), (100, 32.8), (200, 39.8)):
        approx = svd.rebuild(camera_factors, k)
        ref = peak_signal_noise_ratio(camera.astype(np.float64), approx.astype(np.float64), data_range=1.0)
        stats = svd.rank_stats(camera, approx, camera_factors, k)
        assert stats.psnr == pytest.approx(ref, abs=1e-6)
        assert stats.psnr == pytest.approx(notes_db, abs=0.06)  # /work/shared/NOTES.md, measured independently
        assert stats.rel_error == pytest.approx(stats.eckart_young, rel=1e-4)
    assert psnr(camera, camera) == float("inf")


def test_storage_counts():
    assert svd.storage((512, 512), 20) == (20 * 1025, 512 * 512)
    assert svd.storage((300, 451, 3), 5) == (3 * 5 * 752, 3 * 300 * 451)
    f = svd.image_svd(np.zeros((30, 40)) + 0.5)
    st = svd.rank_stats(np.zeros((30, 40)) + 0.5, svd.rebuild(f, 1), f, 1)
    assert st.stored == 71 and st.pixels == 1200 and st.compression == pytest.approx(1200 / 71)
    assert st.rel_error == pytest.approx(0.0, abs=1e-6)  # a constant image is rank 1


@pytest.mark.parametrize("eps", [0.2, 0.1, 0.05, 0.01, 0.001])
def test_smallest_rank_for_eps_against_a_direct_check(camera, camera_svd, camera_factors, eps):
    u, s, vt = camera_svd
    k = svd.smallest_rank(camera_factors, eps)
    a = camera.astype(np.float64)
    norm = np.linalg.norm(a)
    assert np.linalg.norm(a - _truncate(u, s, vt, k)) / norm <= eps * (1 + 1e-6)
    assert k == 0 or np.linalg.norm(a - _truncate(u, s, vt, k - 1)) / norm > eps


def test_smallest_rank_beyond_a_randomized_svd_is_none(camera):
    f = svd.image_svd(camera, method="randomized", rank=10)
    assert f.rank == 10 and not f.exact
    assert svd.smallest_rank(f, 1e-4) is None
    assert svd.smallest_rank(f, 0.5) == 1


def test_strip_and_bad_input(camera_factors):
    ranks = [k for k, _ in svd.strip(camera_factors)]
    assert ranks == [1, 2, 5, 10, 20, 50]
    small = svd.image_svd(np.random.default_rng(0).random((8, 12)))
    got = svd.strip(small)
    assert [k for k, _ in got] == [1, 2, 5, 8]
    assert all(0 <= im.min() and im.max() <= 1 for _, im in got)
    with pytest.raises(ValueError, match="between 0 and 512"):
        svd.rebuild(camera_factors, 513)
    with pytest.raises(ValueError, match="not a finite number"):
        svd.image_svd(np.full((4, 4), np.nan))
    with pytest.raises(ValueError, match="shape"):
        svd.image_svd(np.zeros((2, 3, 4, 5)))
    with pytest.raises(ValueError, match="method"):
        svd.image_svd(np.zeros((4, 4)), method="qr")


def test_pca_against_the_covariance_eigendecomposition():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((400, 30)) @ rng.standard_normal((30, 30)) + 3.0
    p = svd.pca(x, 10)
    cov = np.cov(x, rowvar=False)
    w, v = np.linalg.eigh(cov)
    w, v = w[::-1], v[:, ::-1]
    np.testing.assert_allclose(p.explained_variance, w[:10], rtol=1e-9)
    np.testing.assert_allclose(p.explained_ratio, w[:10] / w.sum(), rtol=1e-9)
    for i in range(10):
        assert abs(abs(p.components[i] @ v[:, i]) - 1) < 1e-8
    np.testing.assert_allclose(p.mean, x.mean(0))
    full = svd.pca(x)
    np.testing.assert_allclose(svd.pca_reconstruct(full, x[5], 30), x[5], atol=1e-9)
    np.testing.assert_allclose(full.cumulative_ratio[-1], 1.0)


def test_figures_carry_the_numbers(camera_factors):
    fig = figures.spectrum_figure(camera_factors.s, 20)
    np.testing.assert_allclose(np.asarray(fig.data[0].y, dtype=float), camera_factors.s[0])
    assert fig.layout.yaxis.type == "log"
    assert any(abs(sh.x0 - 20.5) < 1e-9 for sh in fig.layout.shapes if sh.type == "line")
    ks, errs = svd.error_curve(camera_factors)
    k_eps = svd.smallest_rank(camera_factors, 0.05)
    fig = figures.error_curve_figure(ks, errs, 20, 0.05, k_eps)
    assert fig.data[-1].x[0] == k_eps and fig.data[1].x[0] == 20
    fig = figures.strip_figure(svd.strip(camera_factors))
    assert [a.text for a in fig.layout.annotations] == [f"rank {k}" for k in (1, 2, 5, 10, 20, 50)]


def test_rank_view_is_the_truncation_its_error_and_its_numbers(camera, camera_svd, camera_factors):
    u, s, vt = camera_svd
    view = svd.at_rank(camera, camera_factors, 20)
    trunc = _truncate(u, s, vt, 20)
    np.testing.assert_allclose(view.approx, trunc, atol=2e-5)
    np.testing.assert_allclose(view.shown, np.clip(trunc, 0, 1), atol=2e-5)
    np.testing.assert_allclose(view.error, camera.astype(np.float64) - trunc, atol=2e-5)
    assert view.k == 20 and view.fewer
    assert view.stored_delta == f"{512 * 512 / (20 * 1025):.1f}× fewer than {512 * 512:,}"
    assert view.stored_help == "k(m + n + 1) = 20·(512 + 512 + 1), against m·n pixels."
    assert view.caption == ("Rank 20 of 512. The measured error and the Eckart–Young value agree. "
                            f"Storing U_k, Σ_k and V_k takes {20 * 1025:,} numbers against {512 * 512:,} pixels.")
    big = svd.at_rank(camera, camera_factors, 300)  # 300·1025 numbers > 512² pixels
    assert not big.fewer and big.stored_delta == f"{300 * 1025 / 512**2:.1f}× more than {512 * 512:,}"
    rnd = svd.at_rank(camera, svd.image_svd(camera, method="randomized", rank=10), 5)
    assert "randomized SVD, which computed only the top 10 singular values" in rnd.caption


def test_rank_view_of_a_colour_image_averages_the_channel_errors():
    img = images.load_sample("Astronaut", max_side=64)
    f = svd.image_svd(img)
    view = svd.at_rank(img, f, 4)
    trunc = np.stack([_truncate(*np.linalg.svd(img[..., c].astype(np.float64), full_matrices=False), 4) for c in range(3)], -1)
    np.testing.assert_allclose(view.error, (img.astype(np.float64) - trunc).mean(axis=2), atol=2e-5)
    assert view.stored_help == "k(m + n + 1) = 4·(64 + 64 + 1) per channel × 3, against m·n pixels."
    np.testing.assert_array_equal(f.s_columns, f.s.T)
    assert f.s_columns.shape == (64, 3)


def test_eps_target_against_the_singular_values(camera, camera_svd, camera_factors):
    _, s, _ = camera_svd
    errs = np.sqrt(np.maximum(np.sum(s**2) - np.concatenate([[0], np.cumsum(s**2)]), 0) / np.sum(s**2))
    for eps in (0.1, 0.05, 0.01):
        t = svd.eps_target(camera_factors, eps)
        k = int(np.flatnonzero(errs <= eps)[0])
        assert t.k == k and t.stored == k * 1025 and t.rank == 512
        np.testing.assert_allclose(t.errors, errs, rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(t.ks, np.arange(513))
        assert f"Smallest k for ε = {eps:g}: k = {k}**" in t.caption and f"{k * 1025:,} numbers" in t.caption
    t = svd.eps_target(svd.image_svd(camera, method="randomized", rank=10), 1e-4)
    assert t.k is None and t.stored is None
    assert t.caption.startswith("No rank up to 10 reaches ε = 0.0001")


def test_factors_say_what_was_computed(camera, camera_factors):
    assert camera_factors.seconds > 0
    assert camera_factors.caption.startswith("512×512 pixels, grayscale. Exact SVD: 512 singular triplets per channel in ")
    f = svd.image_svd(images.load_sample("Astronaut", max_side=96), method="randomized", rank=20)
    assert f.caption.startswith("96×96 pixels, 3 colour channels, each its own matrix. Randomized SVD: 20 singular triplets")


def test_file_stem():
    assert svd.file_stem("my photo.v2.png") == "my_photo_v2"
    assert svd.file_stem("Cameraman") == "Cameraman"
    assert svd.file_stem(".png") == "image"
    assert svd.file_stem("x" * 60 + ".jpg") == "x" * 40


def test_eigendigits_against_the_covariance_eigendecomposition():
    rng = np.random.default_rng(2)
    low = rng.standard_normal((300, 6)) @ rng.standard_normal((6, 784))  # six strong directions and a little noise
    digits = np.clip(128 + 25 * low + rng.normal(0, 2, (300, 784)), 0, 255).astype(np.uint8).reshape(300, 28, 28)
    e = svd.eigendigits(digits, k=64, keep=50)
    x = digits.reshape(300, -1).astype(np.float64) / 255
    w, v = np.linalg.eigh(np.cov(x, rowvar=False))
    w, v = w[::-1], v[:, ::-1]
    np.testing.assert_allclose(e.pca.explained_variance, w[:64], rtol=1e-8, atol=1e-12)
    np.testing.assert_array_equal(e.digits, x[:50])
    comps, ratios = e.leading(16)
    assert comps.shape == (16, 784)
    np.testing.assert_allclose(ratios, w[:16] / w.sum(), rtol=1e-8)
    digit, rec = e.rebuild(7, 6)
    np.testing.assert_array_equal(digit, x[7])
    mean = x.mean(0)
    np.testing.assert_allclose(rec, mean + v[:, :6] @ (v[:, :6].T @ (x[7] - mean)), atol=1e-8)
    assert e.caption.startswith(f"The first 10 components explain {100 * w[:10].sum() / w.sum():.1f}% of the variance, "
                                f"the first 50 {100 * w[:50].sum() / w.sum():.1f}%")


def test_digit_pair_figure_shows_both_digits_as_grey_levels():
    rng = np.random.default_rng(0)
    a, b = rng.random(784), rng.random(784) * 1.5 - 0.2
    fig = figures.digit_pair_figure(a, b, 5)
    from conftest import png_pixels

    np.testing.assert_allclose(png_pixels(fig.data[0].source).astype(float), np.round(255 * a.reshape(28, 28)), atol=1)
    np.testing.assert_allclose(png_pixels(fig.data[1].source).astype(float), np.round(255 * np.clip(b, 0, 1).reshape(28, 28)), atol=1)
    assert [t.text for t in fig.layout.annotations] == ["digit", "mean + 5 components"]
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis2.scaleanchor == "x2"
