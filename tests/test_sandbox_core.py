"""The sandbox's computation and the shared figure builders."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import HOVER_REL, plotly_array, png_pixels

from cnn_viz.common import kernels
from cnn_viz.common.conv import output_size
from cnn_viz.figures import builders, palette
from cnn_viz.sandbox import core as sandbox


def torch_ref(x_chw, w_fchw, s: sandbox.Settings):
    x = torch.from_numpy(np.asarray(x_chw, dtype=np.float64))[None]
    p = s.padding
    if s.padding_mode != "zeros":
        x = F.pad(x, (p, p, p, p), mode=s.padding_mode)
        p = 0
    return F.conv2d(x, torch.from_numpy(np.asarray(w_fchw, dtype=np.float64)), stride=s.stride, padding=p, dilation=s.dilation)[0].numpy()


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_apply_kernel_grey_and_colour_against_torch(mode):
    rng = np.random.default_rng(0)
    s = sandbox.Settings(stride=2, padding=2, padding_mode=mode, dilation=2, relu=True)
    grey = rng.random((30, 41), dtype=np.float32)
    colour = rng.random((30, 41, 3), dtype=np.float32)
    k = kernels.preset("Sobel x")
    r = sandbox.apply_kernel(grey, k, s)
    np.testing.assert_allclose(r.maps, np.maximum(torch_ref(grey[None], k[None, None], s)[0], 0), rtol=1e-5, atol=1e-6)
    r = sandbox.apply_kernel(colour, k, s, "each channel")
    assert r.maps.shape[0] == 3 and len(r.labels) == 3
    for c in range(3):
        np.testing.assert_allclose(r.maps[c], np.maximum(torch_ref(colour[None, ..., c], k[None, None], s)[0], 0), rtol=1e-5, atol=1e-6)
    k3 = rng.standard_normal((3, 4, 3))
    r = sandbox.apply_kernel(colour, k3, s, "3-channel kernel")
    ref = torch_ref(np.moveaxis(colour, -1, 0), k3[None], s)[0]
    np.testing.assert_allclose(r.maps, np.maximum(ref, 0), rtol=1e-5, atol=1e-6)


def test_formula_has_the_numbers_and_the_result():
    s = sandbox.Settings(stride=3, padding=1, dilation=2)
    r = sandbox.apply_kernel(np.zeros((28, 20), np.float32), np.ones((5, 3)), s)
    ho, wo = output_size(28, 5, 3, 1, 2), output_size(20, 3, 3, 1, 2)
    assert r.maps.shape == (ho, wo)
    assert r"\frac{28 + 2\cdot1 - 2\,(5-1) - 1}{3}" in r.formula and f"= {ho}," in r.formula
    assert r.formula.endswith(f"= {wo}")


def test_large_stride_is_noted_and_impossible_settings_explained():
    r = sandbox.apply_kernel(np.zeros((20, 20), np.float32), np.ones((3, 3)), sandbox.Settings(stride=5))
    assert any("never looked at" in n for n in r.notes)
    with pytest.raises(ValueError, match="kernel covers"):
        sandbox.apply_kernel(np.zeros((4, 4), np.float32), np.ones((5, 5)), sandbox.Settings())
    with pytest.raises(ValueError, match="colour"):
        sandbox.apply_kernel(np.zeros((8, 8), np.float32), np.ones((3, 3, 3)), sandbox.Settings(), "3-channel kernel")


def test_signed_to_rgb_is_blue_white_red():
    rgb = palette.signed_to_rgb(np.array([[-2.0, 0.0, 2.0, 1.0]]))
    np.testing.assert_array_equal(rgb[0, 0], [33, 102, 172])
    np.testing.assert_array_equal(rgb[0, 1], [247, 247, 247])
    np.testing.assert_array_equal(rgb[0, 2], [178, 24, 43])
    np.testing.assert_array_equal(rgb[0, 3], np.rint(([247, 247, 247] + np.array([178, 24, 43])) / 2))


def test_image_figure_sends_a_png_of_the_pixels_and_shrinks_big_images():
    rng = np.random.default_rng(1)
    img = rng.random((40, 50), dtype=np.float32)
    tr = builders.image_figure(img).to_plotly_json()["data"][0]
    assert "z" not in tr and tr["type"] == "image"
    np.testing.assert_array_equal(png_pixels(tr["source"]), np.clip(np.rint(img * 255), 0, 255).astype(np.uint8))
    assert "%{color[0]}/255" in tr["hovertemplate"]
    big = rng.random((1100, 700), dtype=np.float32)
    trace = builders.image_figure(big).to_plotly_json()["data"][0]
    px = png_pixels(trace["source"])
    assert max(px.shape) <= builders.MAX_DISPLAY and trace["dx"] == trace["dy"] == 3  # every 3rd pixel, real columns
    np.testing.assert_array_equal(px, np.clip(np.rint(big[::3, ::3] * 255), 0, 255).astype(np.uint8))
    colour = rng.random((20, 30, 3), dtype=np.float32)
    np.testing.assert_array_equal(png_pixels(builders.image_figure(colour).data[0].source),
                                  np.clip(np.rint(colour * 255), 0, 255).astype(np.uint8))


def test_signed_map_is_centred_on_zero_with_a_colour_bar():
    fmap = np.array([[-1.0, 3.0], [0.5, 0.0]])
    tr = builders.signed_map_figure(fmap).to_plotly_json()["data"][0]
    assert tr["zmin"] == -3 and tr["zmax"] == 3 and tr["zmid"] == 0 and tr["showscale"]
    np.testing.assert_allclose(plotly_array(tr["z"]), fmap)


def test_a_big_signed_map_is_a_png_of_its_colours_with_real_values_on_hover():
    rng = np.random.default_rng(3)
    fmap = rng.normal(size=(510, 500)).astype(np.float32)
    hover, picture = builders.signed_map_figure(fmap, zmax=2.0).data
    step = -(-510 // builders.MAP_DISPLAY)
    assert picture.dx == picture.dy == step and picture.hoverinfo == "skip"
    # the PNG's colours are the diverging scale's colours of the thinned map, to one level in 256
    want = palette.signed_to_rgb(fmap[::step, ::step], 2.0).astype(int)
    got = png_pixels(picture.source).astype(int)
    assert got.shape == want.shape and np.abs(got - want).max() <= 2
    # the hover grid reports real values at the rows and columns it names
    rows, cols = np.asarray(hover.y), np.asarray(hover.x)
    assert len(rows) <= builders.HOVER_SIDE and len(cols) <= builders.HOVER_SIDE and hover.opacity == 0
    np.testing.assert_allclose(np.asarray(hover.z), fmap[np.ix_(rows, cols)], rtol=HOVER_REL)  # to the 4 digits it shows
    assert hover.zmin == -2 and hover.zmax == 2 and hover.showscale
    lay = builders.signed_map_figure(fmap).layout
    assert list(lay.xaxis.range) == [-0.5, 499.5] and list(lay.yaxis.range) == [509.5, -0.5]


def test_spec_is_the_figure_as_plotly_reads_it():
    fig = builders.signed_map_figure(np.array([[-1.0, 3.0], [0.5, 0.0]]), title="t")
    data = builders.spec(fig)
    assert data["layout"]["title"]["text"] == "t"
    np.testing.assert_allclose(plotly_array(data["data"][0]["z"]), [[-1.0, 3.0], [0.5, 0.0]])
    json.dumps(data)  # plain data: nothing left for Plotly to convert


def test_spec_leaves_out_plotlys_default_template_and_keeps_any_other():
    import plotly.graph_objects as go
    import plotly.io as pio

    fig = builders.signed_map_figure(np.array([[-1.0, 3.0], [0.5, 0.0]]), title="t")
    assert fig.layout.template == pio.templates[pio.templates.default]  # Plotly put its default in
    assert "template" not in builders.spec(fig)["layout"]
    other = go.Figure(layout=dict(template="ggplot2"))
    assert builders.spec(other)["layout"]["template"]["layout"]["plot_bgcolor"] == pio.templates["ggplot2"].layout.plot_bgcolor


def test_kernel_figure_writes_the_numbers():
    k = np.array([[1 / 9, -0.0, 2.0], [1e-17, -1.5, 0.25]])
    tr = builders.kernel_figure(k).to_plotly_json()["data"][0]
    assert [list(r) for r in tr["text"]] == [["0.111", "0", "2"], ["0", "-1.5", "0.25"]]
    np.testing.assert_array_equal(plotly_array(tr["z"]), k)


def test_map_grid_shares_one_scale():
    maps = np.stack([np.full((4, 4), v) for v in (-2.0, 1.0, 0.5)])
    fig = builders.map_grid_figure(maps, titles=["a", "b", "c"], cols=2).to_plotly_json()
    assert len(fig["data"]) == 3
    assert all(t["zmax"] == 2 and t["zmin"] == -2 for t in fig["data"])


def test_result_stacks_the_maps_with_one_scale_and_describes_them():
    rng = np.random.default_rng(7)
    colour = rng.random((12, 15, 3), dtype=np.float32)
    k = kernels.preset("Sobel x")
    s = sandbox.Settings(padding=1)
    r = sandbox.apply_kernel(colour, k, s, "each channel")
    ref = np.stack([torch_ref(colour[None, ..., c], k[None, None], s)[0] for c in range(3)])  # one map per channel
    assert r.stack.shape == ref.shape == (3, 12, 15) and r.n_maps == 3
    np.testing.assert_allclose(r.stack, ref, rtol=1e-5, atol=1e-6)
    assert r.zmax == pytest.approx(np.abs(ref).max(), rel=1e-5)
    assert (r.lo, r.hi) == (pytest.approx(ref.min(), rel=1e-5), pytest.approx(ref.max(), rel=1e-5))
    assert r.caption.startswith(f"Output 12×15 ×3, values from {r.lo:.3g} to {r.hi:.3g}.")
    assert r.caption.endswith("One map per colour channel, below.")
    np.testing.assert_array_equal(r.rgb(2), palette.signed_to_rgb(ref[2], np.abs(ref).max()))
    grey = sandbox.apply_kernel(colour[..., 0], k, sandbox.Settings(relu=True))
    assert grey.stack.shape == (1, 10, 13) and grey.n_maps == 1
    assert grey.lo == 0 and "(ReLU has removed the negative side)." in grey.caption
    flat = sandbox.apply_kernel(np.zeros((5, 5), np.float32), k, s)
    assert flat.zmax == 1.0  # an all-zero map still gets a colour scale


def test_kernel_view_rank_and_cost_against_numpy():
    box = np.full((3, 5), 1 / 15)
    v = sandbox.kernel_view(box)
    assert v.separability.rank == np.linalg.matrix_rank(box) == 1
    assert v.titles == (None,)
    np.testing.assert_array_equal(v.table, box)
    sv = np.linalg.svd(box, compute_uv=False)
    assert v.rank_text == f"**Rank 1**: the numerical rank of the 3×5 grid by SVD, singular values {sv[0]:.3g}, 0, 0."
    assert "3 + 5 multiplications per pixel instead of 15" in v.cost_text
    np.testing.assert_allclose(np.outer(v.separability.column, v.separability.row), box, atol=1e-12)
    lap = kernels.preset("Laplacian (4-neighbour)")
    k3 = np.stack([lap, box[:, :3], -lap])
    v3 = sandbox.kernel_view(k3)
    assert v3.titles == ("slice R", "slice G", "slice B") and len(v3.slices) == 3
    np.testing.assert_array_equal(v3.table, np.vstack(list(k3)))  # the CSV: slices one under the other
    assert v3.separability.rank == np.linalg.matrix_rank(lap) == 2
    assert v3.rank_text.startswith("**Rank 2** (slice R): the numerical rank of the 3×3 grid")
    assert v3.cost_text.startswith("Not separable") and "all 9 multiplications" in v3.cost_text
    big = np.random.default_rng(0).standard_normal((7, 7))
    assert sandbox.kernel_view(big).rank_text.endswith("…."), "more than five singular values are cut"
    assert sandbox.kernel_view(big).figure_height == min(320, 70 + 45 * 7)


def test_run_gives_a_result_or_says_why_not():
    img = np.random.default_rng(3).random((9, 9), dtype=np.float32)
    k = kernels.preset("Sobel y")
    r = sandbox.run(img, k, sandbox.Settings())
    assert r.error is None and r.kernel is not None
    np.testing.assert_allclose(r.result.maps, torch_ref(img[None], k[None, None], sandbox.Settings())[0], rtol=1e-5, atol=1e-6)
    bad = sandbox.run(img[:2, :2], k, sandbox.Settings())
    assert bad.result is None and bad.error.startswith("Cannot slide this kernel: The kernel covers 3 pixels")
    assert bad.kernel is not None  # the kernel is still shown
    empty = sandbox.run(img, None, sandbox.Settings())  # the kernel editor holds no valid kernel
    assert (empty.result, empty.error, empty.kernel) == (None, None, None)
