"""Figures of the trained-MNIST page: the numbers they carry are the model's numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnn_viz.mnist import data, explain, figures, model, prep
from cnn_viz.mnist.train import EpochStats
from mnist_fixtures import net, seven  # noqa: F401  (pytest fixtures)

torch.set_num_threads(1)


def test_mosaic_places_every_map_and_leaves_nan_gaps():
    maps = np.arange(5 * 3 * 4, dtype=np.float32).reshape(5, 3, 4)
    big, idx = figures.mosaic(maps, cols=2)
    assert big.shape == (3 * 3 + 2, 2 * 4 + 1)
    np.testing.assert_array_equal(big[4:7, 5:9], maps[3])  # map 3: second row, second column
    assert np.isnan(big[3]).all() and np.isnan(big[:, 4]).all()
    assert (idx[4:7, 5:9] == 3).all() and (idx[8:11, 5:9] == -1).all()  # no sixth map


def test_map_grid_hover_carries_the_true_values_with_either_scale(net, seven):
    acts = model.activations(net, seven)["conv2"].numpy()[0]
    # map 20 sits in row 1, column 4 of a 16-column grid of 14×14 tiles: cells (15 + r, 60 + c)
    shared = figures.mosaic_figure(acts, cols=16, shared_scale=True).data[0]
    np.testing.assert_allclose(np.asarray(shared.z)[15:29, 60:74], acts[20], rtol=1e-6)  # colours are the values
    custom = np.asarray(shared.customdata)
    assert (custom[15:29, 60:74, 0] == 20).all() and (custom[15:29, 60:74, 1] == np.arange(14)[:, None]).all()
    assert shared.zmax == pytest.approx(np.abs(acts).max()) and shared.zmin == -shared.zmax
    own = figures.mosaic_figure(acts, cols=16, shared_scale=False)
    heat = own.data[0]
    np.testing.assert_allclose(np.asarray(heat.customdata)[15:29, 60:74, 3], acts[20], rtol=1e-6)  # hover: true values
    np.testing.assert_allclose(np.asarray(heat.z)[15:29, 60:74], acts[20] / np.abs(acts[20]).max(), rtol=1e-5)
    assert np.isnan(np.asarray(heat.z)[14]).all()  # the gap row between tile rows
    clicks = own.data[1]
    assert [int(c[0]) for c in clicks.customdata] == list(range(32))
    relu = figures.mosaic_figure(np.maximum(acts, 0), signed=False)
    assert relu.data[0].zmin == 0 and relu.data[0].colorscale[0][1] in ("rgb(0,0,0)", "#000000", "rgb(0, 0, 0)")


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


def test_preprocessing_and_overlays(seven, net):
    from PIL import Image, ImageDraw

    im = Image.new("L", (200, 240), 255)
    ImageDraw.Draw(im).line([(40, 40), (160, 40), (90, 210)], fill=20, width=14)
    prepared = prep.prepare(np.asarray(im, dtype=np.float32) / 255)
    fig = figures.preprocessing_figure(prepared)
    assert len([t for t in fig.data if t.type == "heatmap"]) == 4
    np.testing.assert_array_equal(np.asarray(fig.data[3].z), np.rint(prepared.digit * 255).astype(np.uint8))
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
    conv2 = figures.layer_figure("conv2", acts["conv2"])
    assert np.asarray(conv2.data[0].z).shape == (2 * 15 - 1, 16 * 15 - 1)  # 32 maps of 14×14 in 16 columns, 1-px gaps
    assert conv2.data[0].zmin == -conv2.data[0].zmax == pytest.approx(-np.abs(acts["conv2"]).max())
    relu1 = figures.layer_figure("relu1", acts["relu1"])
    assert np.asarray(relu1.data[0].z).shape == (2 * 29 - 1, 8 * 29 - 1) and relu1.data[0].zmin == 0  # 16 maps in 8 columns
    own = figures.layer_figure("pool2", acts["pool2"], shared_scale=False)
    np.testing.assert_allclose(np.asarray(own.data[0].z)[:7, :7], acts["pool2"][0] / acts["pool2"][0].max(), rtol=1e-5)
    assert figures.layer_figure("pool2", acts["pool2"]).layout.height < conv2.layout.height  # 7×7 tiles are smaller
