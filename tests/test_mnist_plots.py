"""Figures of the trained-MNIST page: the numbers they carry are the model's numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnn_viz.figures import builders, palette
from cnn_viz.figures.builders import signed_levels
from cnn_viz.mnist import data, explain, figures, model, prep
from cnn_viz.mnist.train import EpochStats
from conftest import HOVER_REL, png_pixels
from mnist_fixtures import net, seven  # noqa: F401  (pytest fixtures)

torch.set_num_threads(1)


def test_mosaic_places_every_map_and_leaves_nan_gaps():
    maps = np.arange(5 * 3 * 4, dtype=np.float32).reshape(5, 3, 4)
    big, idx = figures.mosaic(maps, cols=2)
    assert big.shape == (3 * 3 + 2, 2 * 4 + 1)
    np.testing.assert_array_equal(big[4:7, 5:9], maps[3])  # map 3: second row, second column
    assert np.isnan(big[3]).all() and np.isnan(big[:, 4]).all()
    assert (idx[4:7, 5:9] == 3).all() and (idx[8:11, 5:9] == -1).all()  # no sixth map


def _conv2_reference(net, digit: np.ndarray) -> np.ndarray:
    """conv2's 32 maps for one digit, computed with torch's own layers (not the page's forward)."""
    x = torch.from_numpy(digit)[None, None]
    with torch.no_grad():
        h = F.max_pool2d(F.relu(net.bn1(F.conv2d(x, net.conv1.weight, net.conv1.bias, padding=2))), 2)
        return F.conv2d(h, net.conv2.weight, net.conv2.bias, padding=2)[0].numpy()


def _band(levels: np.ndarray) -> np.ndarray:
    q = 256 // figures.PICTURE_LEVELS
    return (levels // q) * q + q // 2


def test_map_grid_is_one_png_with_true_values_on_hover(net, seven):
    acts = _conv2_reference(net, seven)
    np.testing.assert_allclose(model.activations(net, seven)["conv2"].numpy()[0], acts, rtol=1e-5, atol=1e-5)
    zmax = np.abs(acts).max()
    # map 20 sits in row 1, column 4 of a 16-column grid of 14×14 tiles: picture cells (15 + r, 60 + c)
    fig = figures.mosaic_figure(acts, cols=16, shared_scale=True)
    hover, clicks, picture = fig.data
    assert (hover.type, clicks.type, picture.type) == ("heatmap", "scatter", "image") and hover.opacity == 0
    px = png_pixels(picture.source)
    assert px.shape == (2 * 15 - 1, 16 * 15 - 1, 3)
    ramp = palette.ramp(256)
    np.testing.assert_array_equal(px[15:29, 60:74], ramp[_band(signed_levels(acts[20], zmax))])  # one shared scale
    assert (px[14] == ramp[128]).all() and (px[:, 59] == ramp[128]).all()  # white gaps between the tiles
    # hover: the real values at sample points, with the map, row and column they belong to
    z, custom = np.asarray(hover.z), np.asarray(hover.customdata)
    xs, ys = np.asarray(hover.x), np.asarray(hover.y)
    assert 200 <= z.size <= 2 * figures.HOVER_POINTS and z.size % 32 == 0
    for i, j in np.ndindex(z.shape):
        k, r, c = (int(v) for v in custom[i, j])
        assert z[i, j] == pytest.approx(acts[k, r, c], rel=HOVER_REL)
        assert f"{z[i, j]:.4g}" == f"{float(acts[k, r, c]):.4g}"  # the hover reads what the unrounded value would show
        assert (ys[i], xs[j]) == (k // 16 * 15 + r, k % 16 * 15 + c)  # drawn over that very cell
    assert "%{z:.4g}" in hover.hovertemplate
    assert set(custom[..., 0].ravel()) == set(range(32)) and hover.zmax == pytest.approx(zmax) and hover.zmin == -hover.zmax
    assert list(clicks.text) == [str(k) for k in range(32)] and clicks.hovertemplate.startswith("map %{text}: click")
    # each map its own scale: the largest |value| of every map reaches an end of the scale
    own = figures.mosaic_figure(acts, cols=16, shared_scale=False)
    px = png_pixels(own.data[2].source)
    np.testing.assert_array_equal(px[15:29, 60:74], ramp[_band(signed_levels(acts[20], np.abs(acts[20]).max()))])
    np.testing.assert_array_equal(np.asarray(own.data[0].z), z)  # hover still gives the true values
    # ReLU maps in gray: 0 black, the layer's largest value white
    relu = np.maximum(acts, 0)
    gray = figures.mosaic_figure(relu, signed=False)
    g = png_pixels(gray.data[2].source)
    assert g.ndim == 2 and gray.data[0].zmin == 0
    want = _band(np.clip(np.rint(relu[0] / relu.max() * 255), 0, 255).astype(np.uint8))
    assert np.abs(g[:14, :14].astype(int) - want).max() <= 256 // figures.PICTURE_LEVELS  # a rounding at a band edge


def test_figure5_activation_is_the_conv1_output(net, seven):
    w = model.weights(net)
    k = 6
    patches = explain.figure5_patches(seven, w["conv1.weight"][k, 0], w["conv1.bias"][k], n=5, seed=3)
    ref = F.conv2d(torch.from_numpy(seven)[None, None], net.conv1.weight, net.conv1.bias, padding=2)[0, k].detach().numpy()
    assert len(patches) == 5 and len({(p.row, p.col) for p in patches}) == 5
    for p in patches:
        assert p.activation == pytest.approx(float(ref[p.row, p.col]), abs=1e-5)
        np.testing.assert_allclose(p.product, p.patch * p.kernel)
        assert p.patch.max() > 0.1  # on_ink: every patch touches the digit
    again = explain.figure5_patches(seven, w["conv1.weight"][k, 0], w["conv1.bias"][k], n=5, seed=3)
    other = explain.figure5_patches(seven, w["conv1.weight"][k, 0], w["conv1.bias"][k], n=5, seed=4)
    assert [(p.row, p.col) for p in again] == [(p.row, p.col) for p in patches]
    assert [(p.row, p.col) for p in other] != [(p.row, p.col) for p in patches]
    fig, big = figures.figure5(patches, ref, k)
    bars = [t for t in fig.data if t.type == "bar"]
    assert [float(b.y[0]) for b in bars] == pytest.approx([p.activation for p in patches])
    assert len(big.layout.shapes) == 5
    with pytest.raises(ValueError):
        explain.figure5_patches(np.zeros((10, 10)), np.zeros((5, 5)), 0.0)


def test_probability_bars_show_the_softmax(net, seven):
    p = model.predict(net, seven)
    fig = figures.probability_figure(p)
    np.testing.assert_allclose(np.asarray(fig.data[0].y), p)
    assert fig.data[0].marker.color[7] == figures.TOP_COLOUR
    both = figures.probability_figure(p, p[::-1], names=("shipped", "yours"))
    assert [t.name for t in both.data] == ["shipped", "yours"] and both.layout.barmode == "group"


def test_conv2_filter_grid_hover_names_the_right_weight(net):
    w2 = model.weights(net)["conv2.weight"]
    fig = figures.conv2_filters_figure(w2, highlight_out=3)
    custom = np.asarray(fig.data[0].customdata)
    # output map 5, input map 11, tap (2, 4): cell (5*6 + 2, 11*6 + 4)
    o, i, tap = custom[32, 70]
    assert (int(o), int(i), int(tap)) == (5, 11, 2 * 5 + 4)
    assert np.asarray(fig.data[0].z)[32, 70] == pytest.approx(w2[5, 11, 2, 4])
    assert fig.layout.shapes[0].y0 == pytest.approx(3 * 6 - 0.5)


def test_gallery_figure_click_targets_return_gallery_positions():
    held = data.train_test_split()[1]
    g = data.gallery(held)
    fig = figures.gallery_figure(held.images[g], [int(held.labels[i]) for i in g], selected=21)
    pts = fig.data[1]
    # column = class, row = which of the three: the target at column 7, row 0 is gallery position 21
    # point k is gallery position k (Streamlit reports the point index of a click)
    at = [k for k, (x, y) in enumerate(zip(pts.x, pts.y)) if (x, y) == (7 * 30 + 13.5, 13.5)]
    assert at == [21] and [int(t) for t in pts.text] == list(held.labels[g])
    assert (pts.x[22], pts.y[22]) == (7 * 30 + 13.5, 30 + 13.5)  # the second 7 is below the first
    assert fig.layout.shapes[0].x0 == pytest.approx(7 * 30 - 1.5)
    # the picture: every digit in its slot at 16 grays (a picker; the chosen digit is drawn exactly beside it)
    px = png_pixels(fig.data[0].source)[..., 0].astype(int)
    assert px.shape == (3 * 30 - 2, 10 * 30 - 2)
    for k in (0, 21, 22, 29):
        r, c = (k % 3, k // 3)
        digit = held.images[g[k]].astype(int)
        err = np.abs(px[r * 30:r * 30 + 28, c * 30:c * 30 + 28] - digit)
        assert err.max() <= 255 / 15 / 2 + 0.5 and err.mean() < 3, (k, err.max(), err.mean())
    assert (px[28:30] == 255).all()  # the gaps between digits are white
    assert len(np.unique(px)) <= figures.GALLERY_LEVELS
    # a picture without axes carries the template's hover and colour-bar part only, not its axes and bars
    lay = builders.spec(fig)["layout"]
    assert set(lay["template"]["layout"]) <= {"autotypenumbers", "hovermode", "hoverlabel"} and set(lay["template"]["data"]) == {"heatmap"}


def test_preprocessing_and_overlays(seven, net):
    from PIL import Image, ImageDraw

    im = Image.new("L", (200, 240), 255)
    ImageDraw.Draw(im).line([(40, 40), (160, 40), (90, 210)], fill=20, width=14)
    prepared = prep.prepare(np.asarray(im, dtype=np.float32) / 255)
    fig = figures.preprocessing_figure(prepared)
    assert len([t for t in fig.data if t.type == "image"]) == 4
    np.testing.assert_array_equal(png_pixels(fig.data[3].source), np.rint(prepared.digit * 255).astype(np.uint8))
    assert "inverted" in fig.layout.annotations[0].text
    sal, _ = model.saliency(net, seven)
    ov = figures.overlay_figure(seven, sal, signed=True)
    assert ov.data[1].zmin == -ov.data[1].zmax == pytest.approx(-np.abs(sal).max())
    cam, _ = model.grad_cam(net, seven)
    ov = figures.overlay_figure(seven, cam)
    assert ov.data[1].zmin == 0 and ov.data[1].zmax == pytest.approx(1.0)


def test_training_figure_and_vector_figures():
    hist = [EpochStats(e, 1.0 / e, 0.5 + e / 10, 1.2 / e, 0.45 + e / 10, 2.0) for e in (1, 2, 3)]
    fig = figures.training_figure(hist, reference_acc=0.989)
    held_acc = next(t for t in fig.data if t.name == "held-out accuracy")
    assert list(held_acc.y) == pytest.approx([0.55, 0.65, 0.75])
    v = np.linspace(-1, 1, 128)
    vf = figures.vector_figure(v)
    assert np.asarray(vf.data[0].z).shape == (8, 16) and np.asarray(vf.data[0].z)[7, 15] == pytest.approx(1.0)
    lf = figures.logits_figure(np.arange(10) - 4.5)
    assert list(lf.data[0].y) == pytest.approx(list(np.arange(10) - 4.5))


def test_layer_figure_sizes_and_scales_each_layer(net, seven):
    acts = {k: v.numpy()[0] for k, v in model.activations(net, seven).items()}
    np.testing.assert_allclose(acts["conv2"], _conv2_reference(net, seven), rtol=1e-5, atol=1e-5)
    conv2 = figures.layer_figure("conv2", acts["conv2"])
    assert png_pixels(conv2.data[2].source).shape[:2] == (2 * 15 - 1, 16 * 15 - 1)  # 32 maps of 14×14 in 16 columns, 1-px gaps
    assert conv2.data[0].zmin == -conv2.data[0].zmax == pytest.approx(-np.abs(acts["conv2"]).max())
    relu1 = figures.layer_figure("relu1", acts["relu1"])
    assert png_pixels(relu1.data[2].source).shape == (2 * 29 - 1, 8 * 29 - 1) and relu1.data[0].zmin == 0  # 16 maps in 8 columns
    own = figures.layer_figure("pool2", acts["pool2"], shared_scale=False)
    z, custom = np.asarray(own.data[0].z), np.asarray(own.data[0].customdata)
    assert z.size == 32 * 9  # 3×3 points of every 7×7 map
    assert all(z[i, j] == pytest.approx(acts["pool2"][tuple(int(v) for v in custom[i, j])], rel=HOVER_REL) for i, j in np.ndindex(z.shape))
    assert figures.layer_figure("pool2", acts["pool2"]).layout.height < conv2.layout.height  # 7×7 tiles are smaller
    # every layer's figure is small on the wire: a PNG and a few hundred values, no full template
    sizes = {name: len(json.dumps(builders.spec(figures.layer_figure(name, acts[name])))) for name in explain.MAP_LAYERS}
    assert max(sizes.values()) < 20_000, sizes


def test_figures_are_the_data_plotly_writes():
    """The page's figures are built as plain data (no go.Figure): the same JSON as Plotly's own figure and encoder."""
    import plotly.graph_objects as go
    from _plotly_utils.utils import to_typed_array_spec

    arrays = [np.arange(12, dtype=np.float32).reshape(3, 4), np.arange(5, dtype=np.int64) * 300, np.arange(70000, dtype=np.int64),
              np.arange(4, dtype=np.uint8), np.linspace(0, 1, 7), np.arange(6, dtype=np.uint16).reshape(6, 1)]
    for a in arrays:
        assert figures._typed(a) == to_typed_array_spec(a), a.dtype
    data = [dict(type="heatmap", z=np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32), colorbar=None,
                 customdata=np.arange(30, dtype=np.uint8).reshape(5, 6), zmax=np.float32(2.5), hovertemplate="%{z}"),
            go.Scatter(x=[1, 2, 3], y=np.array([0.5, 1.5, 2.5]), text=["a", "b", "c"], mode="markers"),
            go.Bar(x=["0", "1"], y=np.array([3, 4]), marker=dict(color=["#111", "#222"]))]
    lay = dict(title="a title", xaxis=dict(title="x", range=[-0.5, 5.5]), yaxis=dict(range=np.array([4.5, -0.5])), height=300,
               shapes=[dict(type="rect", x0=0, x1=1, y0=0, y1=1)])
    ours = figures._figure(data, lay)
    theirs = go.Figure(data, layout={"template": figures.SLIM_TEMPLATE, "title": {"text": "a title"},
                                     "xaxis": dict(title={"text": "x"}, range=[-0.5, 5.5]), "yaxis": dict(range=[4.5, -0.5]),
                                     "height": 300, "shapes": lay["shapes"]})
    assert builders.spec(ours) == builders.spec(theirs)
    assert json.loads(ours.to_json()) == builders.spec(ours)
    # read back like a Plotly figure
    np.testing.assert_array_equal(ours.data[0].z, data[0]["z"])
    assert ours.data[1].type == "scatter" and ours.data[0].name is None and ours.layout.shapes[0].x1 == 1
