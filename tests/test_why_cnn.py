"""cnn_viz.pooling.why_cnn against torch: parameter counts, receptive fields (by autograd) and
translation equivariance of convolution, then of pooling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from cnn_viz.common import images, kernels
from cnn_viz.pooling import why_cnn

torch.set_num_threads(1)


def _numel(module) -> tuple[int, int]:
    return module.weight.numel(), module.bias.numel()


# ----------------------------------------------------------------------------- parameters


def test_parameter_counts_are_the_reports_numbers():
    dense = why_cnn.dense_params(*why_cnn.REPORT_INPUT, why_cnn.REPORT_HIDDEN)
    conv = why_cnn.conv_params(why_cnn.REPORT_KERNEL, why_cnn.REPORT_INPUT[2], why_cnn.REPORT_FEATURES)
    assert (dense.weights, dense.biases, dense.total) == (25_165_824, 512, 25_166_336)
    assert (conv.weights, conv.biases, conv.total) == (540, 20, 560)


@pytest.mark.parametrize("h, w, c, hidden, k, f", [(128, 128, 3, 512, 3, 20), (28, 28, 1, 128, 5, 16), (64, 48, 3, 10, (3, 5), 7)])
def test_parameter_counts_equal_torch_layers(h, w, c, hidden, k, f):
    linear = nn.Linear(h * w * c, hidden, device="meta")  # no memory for the 25 M weights
    conv = nn.Conv2d(c, f, k, device="meta")
    assert (why_cnn.dense_params(h, w, c, hidden).weights, why_cnn.dense_params(h, w, c, hidden).biases) == _numel(linear)
    assert (why_cnn.conv_params(k, c, f).weights, why_cnn.conv_params(k, c, f).biases) == _numel(conv)
    # Multiply-adds of one 'same' forward pass: every output number costs kh·kw·C products.
    kh, kw = (k, k) if isinstance(k, int) else k
    out = F.conv2d(torch.zeros(1, c, h, w), torch.zeros(f, c, kh, kw), padding="same")
    m = why_cnn.multiplications(h, w, c, hidden, k, f)
    assert m.conv == out.numel() * c * kh * kw
    assert m.dense == linear.weight.numel() and m.reuse == h * w


def test_param_curve_grows_with_the_square_of_the_side_only_for_dense():
    curve = why_cnn.param_curve([8, 16, 128, 1024], 3, 512, 3, 20)
    np.testing.assert_array_equal(curve.dense, np.array([8, 16, 128, 1024]) ** 2 * 3 * 512)
    np.testing.assert_array_equal(curve.conv, [540] * 4)
    assert curve.dense[2] == 25_165_824


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_parameter_counts_refuse_nonsense(bad):
    with pytest.raises(ValueError):
        why_cnn.dense_params(bad, 128, 3, 512)
    with pytest.raises(ValueError):
        why_cnn.conv_params(3, 3, bad)


# ----------------------------------------------------------------------------- receptive fields


def _torch_stack(layers):
    """The stack with all-ones kernels and *average* pools of the same geometry: every input
    pixel a unit can see then has a positive gradient (max pooling would pass the gradient to
    one winner only, hiding the rest of the field)."""
    mods = []
    for layer in layers:
        if layer.kind == "conv":
            m = nn.Conv2d(1, 1, layer.size, layer.stride, layer.padding, layer.dilation, bias=False)
            nn.init.ones_(m.weight)
        else:
            m = nn.AvgPool2d(layer.size, layer.stride, layer.padding)
        mods.append(m)
    return mods


@pytest.mark.parametrize("name, blocks, shape", [("report", 2, (28, 28)), ("vgg", 2, (40, 33)), ("conv3", 4, (20, 20)), ("vgg", 3, (64, 64))])
def test_receptive_field_is_the_support_of_the_gradient(name, blocks, shape):
    layers = why_cnn.stack(name, blocks)
    mods = _torch_stack(layers)
    rng = np.random.default_rng(0)
    for point in [(0, 0), (shape[0] // 2, shape[1] // 2), (shape[0] - 1, shape[1] - 1), tuple(int(rng.integers(0, s)) for s in shape)]:
        boxes = why_cnn.boxes_at(layers, shape, point)
        for depth, box in enumerate(boxes):
            x = torch.rand(1, 1, *shape, dtype=torch.float64, requires_grad=True)
            y = x
            for m in mods[:depth]:
                y = m.double()(y)
            assert tuple(y.shape[-2:]) == box.out_shape
            i, j = box.out_pos
            y[0, 0, i, j].backward()
            support = np.argwhere(x.grad[0, 0].numpy() != 0)
            (r0, c0), (r1, c1) = support.min(0), support.max(0)
            assert (r0, r1) == box.rows and (c0, c1) == box.cols, (name, depth, point)
            assert len(support) == (r1 - r0 + 1) * (c1 - c0 + 1)  # a full rectangle
            if depth:
                # Far from the borders the box has the field's full size.
                fr = why_cnn.receptive_fields(layers, shape[0])[depth]
                assert box.size == fr.size and r1 - r0 + 1 <= fr.size


def test_receptive_field_sizes_of_the_report_model():
    # SimpleCNN: conv5 → pool2 → conv5 → pool2 sees 16×16 of the 28×28 digit at the end.
    fields = why_cnn.receptive_fields(why_cnn.stack("report", 2), 28)
    assert [f.out_size for f in fields] == [28, 28, 14, 14, 7]
    x = torch.zeros(1, 1, 28, 28)
    for f, m in zip(fields[1:], _torch_stack(why_cnn.stack("report", 2))):
        x = m(x)
        assert x.shape[-1] == f.out_size


def test_receptive_field_refuses_a_stack_too_deep_for_the_image():
    assert why_cnn.receptive_fields(why_cnn.stack("report", 4), 28)[-1].out_size == 1  # 28 → 14 → 7 → 3 → 1
    with pytest.raises(ValueError, match="does not fit"):
        why_cnn.receptive_fields(why_cnn.stack("vgg", 6), 28)  # a 2×2 pool of a 1-pixel map


# ----------------------------------------------------------------------------- equivariance


def _torch_feature(x, k, mode, act, slope=0.01):
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))[None, None]
    kt = torch.from_numpy(np.ascontiguousarray(k, dtype=np.float64))[None, None]
    kh, kw = k.shape
    pads = ((kw - 1) // 2, kw - 1 - (kw - 1) // 2, (kh - 1) // 2, kh - 1 - (kh - 1) // 2)
    t = F.pad(t, pads, mode="circular") if mode == "circular" else F.pad(t, pads)
    y = F.conv2d(t, kt)
    y = F.relu(y) if act == "relu" else F.leaky_relu(y, slope) if act == "leaky" else y
    return y[0, 0].numpy()


IMAGES = {
    "digit": images.to_gray(images.load_sample("Handwritten 7 (MNIST)")).astype(np.float64),
    "camera": images.to_gray(images.load_sample("Cameraman", 96)).astype(np.float64),
    "noise": np.random.default_rng(9).random((31, 40)),
}
KERNELS = {
    "report": kernels.preset("Vertical edge (report)"),
    "gauss5": kernels.preset("Gaussian 5×5 (σ=1)"),
    "random4x4": np.random.default_rng(2).normal(size=(4, 4)),
    "random3x5": np.random.default_rng(3).normal(size=(3, 5)),
}


@pytest.mark.parametrize("img", IMAGES)
@pytest.mark.parametrize("kname", KERNELS)
def test_circular_equivariance_residual_is_exactly_zero(img, kname):
    x, k = IMAGES[img], KERNELS[kname]
    for dy, dx in [(0, 1), (3, -2), (-5, 7), (x.shape[0] - 1, 1), (17, 0)]:
        for act in ("none", "relu", "leaky"):
            e = why_cnn.equivariance(x, k, dy, dx, "circular", act, negative_slope=0.2)
            assert e.max_abs == 0.0 and np.array_equal(e.conv_of_shift, e.shift_of_conv)
            # ... and both are the real thing: torch's circular convolution of the rolled image.
            ref = _torch_feature(np.roll(x, (dy, dx), axis=(0, 1)), k, "circular", act, 0.2)
            np.testing.assert_allclose(e.conv_of_shift, ref, atol=1e-12)


@pytest.mark.parametrize("img", ["camera", "noise"])
@pytest.mark.parametrize("kname", ["report", "gauss5", "random3x5"])
def test_zero_padding_residual_is_nonzero_but_confined_to_the_borders(img, kname):
    x, k = IMAGES[img], KERNELS[kname]
    kh, kw = k.shape
    h, w = x.shape
    for dy, dx in [(2, 3), (-4, 1), (0, -5)]:
        e = why_cnn.equivariance(x, k, dy, dx, "zeros")
        res = e.residual
        assert e.max_abs > 1e-3
        # Interior: at least half a kernel from the border, before and after the shift.
        top, bottom = (kh - 1) // 2 + max(dy, 0), kh // 2 + max(-dy, 0)
        left, right = (kw - 1) // 2 + max(dx, 0), kw // 2 + max(-dx, 0)
        interior = res[top : h - bottom, left : w - right]
        assert interior.size > 0.5 * res.size
        assert np.max(np.abs(interior)) == 0.0
        ref = _torch_feature(why_cnn.shift(x, dy, dx, "zeros"), k, "zeros", "none")
        np.testing.assert_allclose(e.conv_of_shift, ref, atol=1e-12)
        # How far in the differences reach, counted directly: the distance to the nearest border.
        rr, cc = np.indices(res.shape)
        dist = np.minimum(np.minimum(rr, h - 1 - rr), np.minimum(cc, w - 1 - cc))
        assert why_cnn.border_reach(res) == dist[res != 0].max()
        assert why_cnn.border_reach(res) < max(abs(dy), abs(dx)) + max(kh, kw) // 2 + 1


def test_shift_zeros_moves_content_and_brings_in_black():
    x = np.arange(20.0).reshape(4, 5) + 1
    s = why_cnn.shift(x, 1, -2, "zeros")
    np.testing.assert_array_equal(s[1:, :3], x[:3, 2:])
    assert s[0].sum() == 0 and s[:, 3:].sum() == 0
    np.testing.assert_array_equal(why_cnn.shift(x, 1, -2, "circular"), np.roll(x, (1, -2), axis=(0, 1)))
    assert why_cnn.shift(x, 9, 0, "zeros").sum() == 0


def _torch_pool(f, mode, size, stride):
    t = torch.from_numpy(f)[None, None]
    return (F.max_pool2d(t, size, stride) if mode == "max" else F.avg_pool2d(t, size, stride))[0, 0].numpy()


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("size, stride", [(2, 2), (3, 3), (4, 2)])
def test_pooled_shift_against_torch(mode, size, stride):
    x, k = IMAGES["camera"], KERNELS["report"]
    for dy, dx in [(0, 0), (0, 1), (1, 1), (2, 0), (0, stride)]:
        r = why_cnn.pooled_shift(x, k, dy, dx, mode, size, stride, "circular", "relu")
        f0 = _torch_feature(x, k, "circular", "relu")
        f1 = _torch_feature(np.roll(x, (dy, dx), axis=(0, 1)), k, "circular", "relu")
        p0, p1 = _torch_pool(f0, mode, size, stride), _torch_pool(f1, mode, size, stride)
        np.testing.assert_allclose(r.pooled, p0, atol=1e-12)
        np.testing.assert_allclose(r.pooled_shifted, p1, atol=1e-12)
        assert r.change == pytest.approx(np.linalg.norm(p1 - p0) / np.linalg.norm(p0), abs=1e-12)
        assert r.map_change == pytest.approx(np.linalg.norm(f1 - f0) / np.linalg.norm(f0), abs=1e-12)
        if (dy, dx) == (0, 0):
            assert r.change == 0 and r.unchanged == 1.0


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_shift_by_the_stride_is_exactly_a_shift_of_the_pooled_map(mode):
    x, k = IMAGES["camera"], KERNELS["report"]  # 96×96: 2 and 3 divide it
    for s in (2, 3):
        for dy, dx in [(s, 0), (0, -s), (2 * s, s)]:
            r = why_cnn.pooled_shift(x, k, dy, dx, mode, s, s, "circular", "relu")
            assert r.coarse_residual == 0.0
            assert r.change > 0.1  # it moved: invariance it is not, equivariance on the coarse grid it is
        assert why_cnn.pooled_shift(x, k, 1, 0, mode, s, s).coarse_residual is None


@pytest.mark.parametrize("img", ["digit", "camera"])
def test_max_pooling_changes_less_than_the_map_for_a_small_shift(img):
    """The report: pooling makes the output 'less likely to change if a feature moves slightly'."""
    for kname in ("report", "gauss5"):
        c = why_cnn.invariance_curve(IMAGES[img], KERNELS[kname], "max", 2, 2, direction=(0, 1))
        np.testing.assert_array_equal(c.shift, [0, 1, 2])
        assert c.map_change[0] == 0 == c.pooled_change[0]
        assert c.pooled_change[1] < c.map_change[1]
        # A 1-pixel shift leaves many window maxima where they were; almost no map value survives.
        assert c.pooled_unchanged[1] > max(0.05, 10 * c.map_unchanged[1])
    # A larger window forgives more: a 1-pixel shift changes a 4×4-pooled map less than a 2×2 one.
    c2 = why_cnn.invariance_curve(IMAGES[img], KERNELS["report"], "max", 2, 2, max_shift=1)
    c4 = why_cnn.invariance_curve(IMAGES[img], KERNELS["report"], "max", 4, 4, max_shift=1)
    assert c4.pooled_change[1] < c2.pooled_change[1]


def test_border_reach_of_a_zero_residual():
    assert why_cnn.border_reach(np.zeros((5, 6))) == -1
    r = np.zeros((7, 7))
    r[3, 3] = 1e-9
    assert why_cnn.border_reach(r) == 3


def test_unchanged_fraction():
    a = np.array([[0.0, 1.0], [2.0, 3.0]])
    b = np.array([[0.0, 1.0], [2.5, 3.0]])
    assert why_cnn.unchanged_fraction(a, b) == pytest.approx(2 / 3)
    assert why_cnn.unchanged_fraction(np.zeros(3), np.zeros(3)) == 1.0


def test_equivariance_refuses_colour():
    with pytest.raises(ValueError, match="grayscale"):
        why_cnn.equivariance(np.zeros((8, 8, 3)), KERNELS["report"], 1, 1)


# ----------------------------------------------------------------------------- what the page shows, from the core


def test_parameter_sharing_against_torch_layers():
    ps = why_cnn.parameter_sharing(28, 28, 1, 128, 5, 16)
    linear, conv = nn.Linear(784, 128, device="meta"), nn.Conv2d(1, 16, 5, device="meta")
    assert (ps.dense.weights, ps.dense.biases) == _numel(linear) and (ps.conv.weights, ps.conv.biases) == _numel(conv)
    assert ps.ratio == linear.weight.numel() / conv.weight.numel()
    assert ps.side == 28 and why_cnn.parameter_sharing(100, 64, 3, 10, 3, 4).side == 80  # √(100·64)
    out = F.conv2d(torch.zeros(1, 1, 28, 28), torch.zeros(16, 1, 5, 5), padding="same")
    assert ps.mults.conv == out.numel() * 25 and ps.mults.reuse == 28 * 28
    text = ps.describe()
    assert f"28·28·1·128 = **{linear.weight.numel():,} weights** (+128 biases)" in text
    assert f"5·5·1·16 = **{conv.weight.numel():,} weights** (+16 biases)" in text
    assert f"to store: {4 * (conv.weight.numel() + 16):,} bytes against {4 * (linear.weight.numel() + 128) / 2**20:,.1f} MB" in text
    # The curve: square sides from 8 to 2048, log-spaced, each count as torch's layers have it.
    sides = ps.curve.side
    assert sides[0] == 8 and sides[-1] == 2048 and np.all(np.diff(sides) > 0)
    assert np.allclose(np.diff(np.log(sides[-20:])), np.log(2048 / 8) / 59, rtol=0.1)
    for k in (0, len(sides) // 2, -1):
        assert ps.curve.dense[k] == nn.Linear(int(sides[k]) ** 2, 128, device="meta").weight.numel()
    np.testing.assert_array_equal(ps.curve.csv, np.column_stack([sides, ps.curve.dense, ps.curve.conv]))


def test_stack_fields_table_against_torch():
    rf = why_cnn.stack_fields("vgg", 2, (40, 33), (10, 20))
    x = torch.zeros(1, 1, 40, 33)
    outputs = ["40×33"]
    for m in _torch_stack(rf.layers):
        x = m(x)
        outputs.append(f"{x.shape[-2]}×{x.shape[-1]}")
    t = rf.table
    assert t["output"] == outputs and t["layer"][0] == "input"
    assert t["inputs/unit"] == [1] + [m.weight[0, 0].numel() if isinstance(m, nn.Conv2d) else m.kernel_size ** 2
                                      for m in _torch_stack(rf.layers)]
    assert t["field"][-1] == "16×16"  # r = 1 → 3 → 5 → 6 (grid step 2 from here) → 10 → 14 → 16
    assert t["field"] == [f"{f.size}×{f.size}" for f in why_cnn.receptive_fields(rf.layers, 40)]
    with pytest.raises(ValueError, match="does not fit"):
        why_cnn.stack_fields("vgg", 6, (28, 28), (3, 3))


def test_equivariance_texts():
    x = IMAGES["camera"]
    e = why_cnn.equivariance(x, KERNELS["report"], 2, 3, "zeros")
    rr, cc = np.indices(x.shape)
    dist = np.minimum(np.minimum(rr, x.shape[0] - 1 - rr), np.minimum(cc, x.shape[1] - 1 - cc))
    assert e.reach_text == f"{dist[e.residual != 0].max() + 1} px" and e.max_abs_text == f"{np.abs(e.residual).max():.3g}"
    z = why_cnn.equivariance(x, KERNELS["report"], 2, 3, "circular")
    assert (z.max_abs_text, z.reach_text) == ("0 exactly", "nowhere")
    for a, b in zip(z.maps, (z.conv_of_shift, z.shift_of_conv, z.residual)):
        assert a is b


def test_pooled_shift_coarse_shift():
    x, k = IMAGES["camera"], KERNELS["report"]
    r = why_cnn.pooled_shift(x, k, 4, -2, "max", 2, 2)
    assert r.coarse_shift == (2, -1) and r.coarse_text == "0 exactly"
    p0 = _torch_pool(_torch_feature(x, k, "circular", "relu"), "max", 2, 2)
    np.testing.assert_array_equal(r.pooled_shifted, np.roll(p0, (2, -1), axis=(0, 1)))
    odd = why_cnn.pooled_shift(x, k, 1, 0, "max", 2, 2)
    assert odd.coarse_shift is None and odd.coarse_residual is None and odd.coarse_text == ""


def test_invariance_curve_csv_and_caption_against_torch():
    x, k = IMAGES["digit"], KERNELS["report"]
    c = why_cnn.invariance_curve(x, k, "max", 2, 2, max_shift=3, direction=why_cnn.SHIFT_DIRECTIONS["diagonal"])
    f0 = _torch_feature(x, k, "circular", "relu")
    f1 = _torch_feature(np.roll(x, (1, 1), axis=(0, 1)), k, "circular", "relu")
    p0, p1 = _torch_pool(f0, "max", 2, 2), _torch_pool(f1, "max", 2, 2)
    pooled, feature = np.linalg.norm(p1 - p0) / np.linalg.norm(p0), np.linalg.norm(f1 - f0) / np.linalg.norm(f0)
    assert c.pooled_change[1] == pytest.approx(pooled) and c.map_change[1] == pytest.approx(feature)
    np.testing.assert_array_equal(c.csv, np.column_stack([[0, 1, 2, 3], c.map_change, c.pooled_change, c.map_unchanged, c.pooled_unchanged]))
    text = c.describe()
    assert text.startswith(f"The shift grows from 0 to 3 pixels. At 1 pixel the feature map changes by {100 * feature:.0f}% "
                           f"but the pooled map by {100 * pooled:.0f}%")
    assert why_cnn.SHIFT_DIRECTIONS == {"right": (0, 1), "down": (1, 0), "diagonal": (1, 1)}
