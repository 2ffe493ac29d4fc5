"""AppTest of pages/low_rank.py: the three parts run without an exception, show the numbers the core
computes (themselves tested against NumPy/torch references), and bad input gets a message."""

import numpy as np
import pytest
from conftest import HOVER_REL

from cnn_viz.common import images
from cnn_viz.lowrank import compress, latent, svd
from cnn_viz.mnist import data as mnist
from cnn_viz.mnist.model import load_pretrained

PAGE = "pages/low_rank.py"


def _metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


def _open(app_test, part: str | None = None):
    at = app_test(180)
    at.run()
    at.switch_page(PAGE)
    if part:
        at.session_state["lr_part"] = part
    at.run()
    assert not at.exception, at.exception
    return at


def test_images_part_shows_the_rank_k_numbers_and_the_slider_changes_them(app_test):
    at = _open(app_test)
    cam = images.load_sample("Cameraman")
    f = svd.image_svd(cam)
    for k in (20, 50, 3):
        if k != 20:
            at.slider(key="lr_k").set_value(k).run()
            assert not at.exception
        stats = svd.rank_stats(cam, svd.rebuild(f, k), f, k)
        m = _metrics(at)
        assert m["PSNR"] == f"{stats.psnr:.2f} dB"
        assert m["Measured error"] == f"{stats.rel_error:.4f}"
        assert m["Eckart–Young error"] == f"{stats.eckart_young:.4f}"
        assert m["Measured error"] == m["Eckart–Young error"]
        assert m["Numbers stored"] == f"{k * (512 + 512 + 1):,}"
    assert m["PSNR"] != "28.63 dB"  # k = 3 is blurrier than k = 50
    k_eps = svd.smallest_rank(f, 0.05)
    assert any(f"Smallest k for ε = 0.05: k = {k_eps}" in c.value for c in at.caption)
    assert at.slider(key="lr_k").max == 512


def test_images_part_colour_small_image_and_broken_upload(app_test):
    at = _open(app_test)
    at.slider(key="lr_k").set_value(300).run()
    at.selectbox(key="lr_img_sample").set_value("Handwritten 7 (MNIST)").run()
    assert not at.exception
    assert at.slider(key="lr_k").max == 28 and at.slider(key="lr_k").value <= 28
    at.selectbox(key="lr_img_sample").set_value("Astronaut").run()
    at.toggle(key="lr_img_colour").set_value(True).run()
    assert not at.exception
    k = at.slider(key="lr_k").value
    stored = _metrics(at)["Numbers stored"]
    assert stored == f"{3 * k * (512 + 512 + 1):,}"
    at.radio(key="lr_img_source").set_value("Upload").run()
    at.file_uploader(key="lr_img_upload").set_value(("broken.png", b"not an image at all", "image/png")).run()
    assert not at.exception
    assert any("Could not use" in e.value for e in at.error)
    assert "PSNR" in _metrics(at)  # the page carries on with the sample


def test_large_upload_uses_the_randomized_svd(app_test):
    import io

    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:1500, 0:2000]
    pic = (127 + 60 * np.sin(xx / 37.0) * np.cos(yy / 23.0) + rng.normal(0, 20, (1500, 2000))).clip(0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pic).save(buf, format="PNG")
    at = _open(app_test)
    at.selectbox(key="lr_side").set_value(1024).run()
    at.radio(key="lr_img_source").set_value("Upload").run()
    at.file_uploader(key="lr_img_upload").set_value(("big.png", buf.getvalue(), "image/png")).run()
    assert not at.exception
    assert at.slider(key="lr_k").max == svd.RANDOMIZED_RANK
    assert any("768×1024 pixels" in c.value and "Randomized SVD: 256" in c.value for c in at.caption)
    m = _metrics(at)
    measured, ey = float(m["Measured error"]), float(m["Eckart–Young error"])
    assert abs(measured - ey) <= 0.01 * ey  # the randomized σ's give the Eckart–Young value to within 1%
    assert m["Numbers stored"] == f"{at.slider(key='lr_k').value * (768 + 1024 + 1):,}"


def test_why_low_rank_part_shows_the_shipped_sweep(app_test):
    at = _open(app_test, "Why low rank")
    m = _metrics(at)
    ns = list(latent.DEFAULT_NS)
    r100 = latent.eps_rank_max(latent.latent_matrix(100, 2, "gaussian", 0), 0.01)
    assert m["ε-rank at n = 100 → 4000"].startswith(f"{r100} → ")
    top = int(m["ε-rank at n = 100 → 4000"].split("→")[1])
    assert top - r100 <= 8
    assert m["JL bound, n = 4000"] == f"{latent.jl_bound(4000, 0.01):,.0f}"
    deltas = {x.label: x.proto.delta for x in at.metric}
    assert deltas[f"Random matrix, n = {ns[-1]}"] == "97% of n"
    text = " ".join(md.value for md in at.markdown)
    assert "Budzinskiy" in text and "Johnson–Lindenstrauss" in text and "Theorem 1.0" in text
    assert "How loose it is here" in text
    assert latent.summarise(latent.shipped_sweep(latent.SweepSettings())).looseness in text
    # Eigendigits: PCA of the 4,000 training digits.
    train, _ = mnist.train_test_split()
    p = svd.pca(train.images.reshape(4000, -1) / 255.0, 64)
    assert any(f"first 10 components explain {100 * p.cumulative_ratio[9]:.1f}%" in c.value for c in at.caption)


def test_why_low_rank_runs_a_new_sweep_from_the_form(app_test):
    at = _open(app_test, "Why low rank")
    at.select_slider(key="lr_d").set_value(1)
    at.selectbox(key="lr_nmax").set_value(1000)
    at.button[0].click().run()
    assert not at.exception
    sw = latent.eps_rank_sweep([n for n in latent.DEFAULT_NS if n <= 1000], 1, 0.01, "gaussian", random_up_to=1000)
    assert _metrics(at)["ε-rank at n = 100 → 1000"] == f"{sw.latent_max[0]} → {sw.latent_max[-1]}"


def test_cnn_part_shows_the_smallest_rank_within_half_a_point(app_test):
    at = _open(app_test, "The CNN compressed")
    model = load_pretrained()
    _, held = mnist.train_test_split()
    sw = compress.rank_sweep(model, held.images, held.labels, "fc1")
    k = sw.smallest_within(0.5)
    labels = [m.label for m in at.metric]
    values = [m.value for m in at.metric]
    assert values[labels.index("Smallest good k")] == str(k)
    assert values[labels.index(f"Accuracy at k = {k}")] == f"{sw.accuracy[k - 1]:.1f}%"
    assert values[labels.index("fc1 parameters")] == f"{sw.layer_params[k - 1]:,}"
    assert any("match the full 2-D convolution" in c.value for c in at.caption)
    assert any(c.value == sw.caption(0.5) for c in at.caption)
    assert _metrics(at)["Multiply-adds, 5 × 5 Gaussian, 512 × 512"] == f"{512 * 512 * 10 / 1e6:.2f} M"
    at.slider(key="lr_cnn_k_fc1").set_value(2).run()
    assert not at.exception
    labels = [m.label for m in at.metric]
    assert "Accuracy at k = 2" in labels


@pytest.mark.parametrize("part", ["Images", "Why low rank"])
def test_numpy_parts_do_not_import_torch(part):
    """A fresh interpreter renders the image and Udell–Townsend parts without importing torch."""
    from conftest import heavy_modules_after

    assert "torch" not in heavy_modules_after(f"at.switch_page({PAGE!r})\nat.session_state['lr_part'] = {part!r}\nat.run()")


def test_rank_k_pictures_are_sent_at_view_size_with_the_true_values_on_hover(app_test):
    """The pictures that change with k are PNGs, sent at most svd.VIEW_SIDE (the rank-k image: every 2nd pixel
    of the 512² cameraman, its pixels NumPy's rank-k approximation) and svd.ERROR_SIDE a side (the error),
    the error's real values on hover at their true rows and columns; with the two curves, under 100 kB a move."""
    from conftest import map_samples, plotly_figure, png_pixels

    at = _open(app_test)
    at.slider(key="lr_k").set_value(7).run()
    cam = images.load_sample("Cameraman").astype(np.float64)
    u, s, vt = np.linalg.svd(cam, full_matrices=False)
    ref = (u[:, :7] * s[:7]) @ vt[:7]  # NumPy's rank-7 approximation
    approx = plotly_figure(at, "lr_approx")["data"][0]
    assert approx["type"] == "image" and (approx["x0"], approx["dx"], approx["y0"], approx["dy"]) == (0, 2, 0, 2)
    px = png_pixels(approx["source"])
    assert px.shape == (svd.VIEW_SIDE, svd.VIEW_SIDE)
    assert np.abs(px.astype(float) - np.clip(ref[::2, ::2], 0, 1) * 255).max() <= 1.0  # uint8 rounding
    err = plotly_figure(at, "lr_err")
    rows, cols, ze = map_samples(err)
    assert len(rows) == len(cols) == svd.ERROR_HOVER and rows.max() < 512 and cols.max() < 512
    np.testing.assert_allclose(ze, (cam - ref)[np.ix_(rows, cols)], rtol=HOVER_REL, atol=1e-5)  # the 4 digits shown
    picture = err["data"][1]
    assert picture["type"] == "image" and png_pixels(picture["source"]).shape[:2] == (svd.ERROR_SIDE, svd.ERROR_SIDE)
    sent = sum(len(el.proto.spec) for el in at.get("plotly_chart")
               if el.proto.id.endswith(("-lr_approx", "-lr_err", "-lr_spectrum", "-lr_curve")))
    assert sent < 100_000  # was 1.77 MB at 512² per move of k, 186 kB with float heatmaps at 256²
