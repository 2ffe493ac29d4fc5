"""cnn_viz.sliding.ops: every step of the sweep against torch (conv2d, unfold, autograd)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnn_viz.common import fmt
from cnn_viz.common.conv import conv2d
from cnn_viz.sliding import ops

torch.set_num_threads(1)


def _torch_out(sweep: ops.Sweep) -> np.ndarray:
    """The feature map from torch: the (C, kh, kw) kernel as one filter of a conv layer, plus the bias."""
    x = torch.from_numpy(sweep.image)[None]
    ph, pw = sweep.padding
    if sweep.padding_mode != "zeros" and (ph or pw):
        x = F.pad(x, (pw, pw, ph, ph), mode=sweep.padding_mode)
        pad = 0
    else:
        pad = sweep.padding
    w = torch.from_numpy(sweep.kernel)[None]
    b = torch.tensor([sweep.bias], dtype=torch.float64)
    return F.conv2d(x, w, b, stride=sweep.stride, padding=pad, dilation=sweep.dilation)[0, 0].numpy()


def _torch_patches(sweep: ops.Sweep) -> np.ndarray:
    """(N, C, kh, kw): every patch as torch's unfold (im2col) cuts it from the padded input."""
    x = torch.from_numpy(sweep.padded)[None]
    cols = F.unfold(x, sweep.kernel_shape, dilation=sweep.dilation, stride=sweep.stride)[0]  # (C·kh·kw, N)
    return cols.T.reshape(-1, sweep.channels, *sweep.kernel_shape).numpy()


def _random_sweeps(seed: int, count: int):
    rng = np.random.default_rng(seed)
    made = 0
    while made < count:
        c = int(rng.choice([1, 1, 3]))
        h, w = (int(v) for v in rng.integers(1, 12, size=2))
        kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
        s = tuple(int(v) for v in rng.integers(1, 4, size=2))
        p = tuple(int(v) for v in rng.integers(0, 3, size=2))
        d = tuple(int(v) for v in rng.integers(1, 3, size=2))
        mode = str(rng.choice(["zeros", "zeros", "reflect", "replicate", "circular"]))
        if mode == "reflect" and (p[0] >= h or p[1] >= w):
            continue
        if mode == "circular" and (p[0] > h or p[1] > w):
            continue
        if any(dd * (k - 1) + 1 > n + 2 * pp or ss > n + 2 * pp for n, k, ss, pp, dd in zip((h, w), (kh, kw), s, p, d)):
            continue
        x = rng.random((c, h, w))
        k = rng.standard_normal((c, kh, kw))
        bias = float(rng.choice([0.0, rng.standard_normal()]))
        made += 1
        yield ops.make_sweep(x, k, stride=s, padding=p, dilation=d, padding_mode=mode, bias=bias)


def test_figure1_preset_is_3x4_with_2x2_kernel_giving_six_patches():
    sw = ops.figure1_sweep()
    assert sw.image.shape == (1, 3, 4) and sw.kernel_shape == (2, 2)
    assert sw.out_shape == (2, 3) and sw.n_steps == 6
    np.testing.assert_allclose(sw.values, _torch_out(sw), rtol=1e-12)
    # Goodfellow et al. Fig. 9.1: the first output is aw + bx + ey + fz, the last gw + hx + ky + lz.
    assert "aw + bx + ey + fz" in sw.formula_latex(0)
    assert "gw + hx + ky + lz" in sw.formula_latex(5)


def test_every_frame_of_random_sweeps_matches_torch():
    """Frame k: the first k+1 entries (row by row) are torch's, the rest not computed (NaN)."""
    checked = 0
    for sw in _random_sweeps(11, 150):
        ref = _torch_out(sw)
        assert sw.out_shape == ref.shape
        assert sw.n_steps == ref.size  # one frame per output value
        np.testing.assert_allclose(sw.values, ref, rtol=1e-10, atol=1e-10)
        patches = _torch_patches(sw)
        assert patches.shape[0] == sw.n_steps
        flat = ref.ravel()
        for k in range(sw.n_steps):
            part = sw.partial(k).ravel()
            np.testing.assert_allclose(part[: k + 1], flat[: k + 1], rtol=1e-10, atol=1e-10)
            assert np.isnan(part[k + 1 :]).all()
            np.testing.assert_allclose(sw.patch(k), patches[k], rtol=0, atol=0)
            np.testing.assert_allclose(sw.products(k), patches[k] * sw.kernel, rtol=1e-12)
            assert sw.channel_sums(k).sum() + sw.bias == pytest.approx(flat[k], rel=1e-10, abs=1e-10)
            checked += 1
    assert checked > 2000


def test_digit_with_padding_one_has_784_frames_equal_to_conv2d():
    from cnn_viz.common import images

    digit = images.load_sample("Handwritten 7 (MNIST)")
    assert digit.shape == (28, 28)
    k = np.array([[-1.0, 0, 1]] * 3)
    sw = ops.make_sweep(digit, k, padding=1)
    assert sw.n_steps == 784
    ref = _torch_out(sw)
    ours = conv2d(digit.astype(np.float64), k, padding=1)
    for t in range(0, 784, 37):
        part = sw.partial(t)
        done = ~np.isnan(part)
        assert done.sum() == t + 1
        np.testing.assert_allclose(part[done], ref[done], atol=1e-12)
        np.testing.assert_allclose(part[done], ours[done], atol=1e-12)
    np.testing.assert_allclose(sw.partial(783), ref, atol=1e-12)


def test_position_and_taps_follow_the_report_formula():
    sw = ops.make_sweep(np.zeros((9, 11)), np.ones((3, 2)), stride=(2, 3), padding=1, dilation=(2, 1))
    ho, wo = sw.out_shape
    assert (ho, wo) == ((9 + 2 - 2 * 2 - 1) // 2 + 1, (11 + 2 - 1 - 1) // 3 + 1)
    k = wo + 2  # second row of outputs, third column
    assert sw.position(k) == (1, 2)
    rows, cols = sw.taps(k)
    np.testing.assert_array_equal(rows, [1 * 2 + m * 2 for m in range(3)])
    np.testing.assert_array_equal(cols, [2 * 3 + n * 1 for n in range(2)])
    with pytest.raises(ValueError, match="outside the sweep"):
        sw.position(sw.n_steps)


def test_rgb_sweep_per_channel_sums_and_bias():
    rng = np.random.default_rng(5)
    sw = ops.make_sweep(rng.random((3, 6, 7)), rng.standard_normal((3, 3, 3)), padding=1, bias=0.25)
    ref = _torch_out(sw)
    k = 9
    i, j = sw.position(k)
    per_channel = [
        F.conv2d(torch.from_numpy(sw.image[c])[None, None], torch.from_numpy(sw.kernel[c])[None, None], padding=1)[0, 0, i, j].item()
        for c in range(3)
    ]
    np.testing.assert_allclose(sw.channel_sums(k), per_channel, rtol=1e-12)
    assert sum(per_channel) + 0.25 == pytest.approx(ref[i, j], rel=1e-12)
    tex = sw.formula_latex(k)
    for name in ("S_{R}", "S_{G}", "S_{B}", "+ b"):
        assert name in tex
    # A 2-D kernel on three channels is used on each and summed, like one conv-layer filter.
    same = ops.make_sweep(sw.image, sw.kernel[0], padding=1)
    np.testing.assert_allclose(same.values, _torch_out(ops.make_sweep(sw.image, np.repeat(sw.kernel[:1], 3, 0), padding=1)), rtol=1e-12)


def test_formula_substitutes_the_current_numbers():
    x = np.arange(30, dtype=float).reshape(5, 6)
    k = np.array([[1.0, -2.0], [0.5, 3.0]])
    sw = ops.make_sweep(x, k, stride=2, dilation=2)
    assert sw.out_shape == (2, 2)
    t = 2
    i, j = sw.position(t)  # (1, 0)
    tex = sw.formula_latex(t)
    assert rf"I({i}\cdot2 + m\cdot2,\ {j}\cdot2 + n\cdot2)" in tex
    # the taps of A(1, 0) are rows 2, 4 and columns 0, 2: I(2,0)·1 + I(2,2)·(-2) + I(4,0)·0.5 + I(4,2)·3
    assert r"I(2,0)\,K(0,0) + I(2,2)\,K(0,1)" in tex
    assert r"12\cdot1 + 14\cdot(-2) + 24\cdot0.5 + 26\cdot3" in tex
    expected = 12 - 28 + 12 + 78
    assert tex.endswith(rf"&= {expected}\end{{aligned}}")
    assert F.conv2d(torch.from_numpy(x)[None, None], torch.from_numpy(k)[None, None], stride=2, dilation=2)[0, 0, 1, 0].item() == expected


def test_output_size_formula_with_numbers():
    sw = ops.make_sweep(np.zeros((28, 28)), np.ones((5, 5)), stride=2, padding=2, dilation=1)
    tex = sw.output_size_latex()
    assert r"\frac{28 + 2\cdot2 - 1\cdot(5-1) - 1}{2}" in tex
    assert tex.count("= 14") == 2
    assert sw.out_shape == tuple(F.conv2d(torch.zeros(1, 1, 28, 28), torch.zeros(1, 1, 5, 5), stride=2, padding=2).shape[2:])


def test_coverage_is_where_the_output_depends_on_the_input():
    """Cells never under a tap (stride larger than the kernel's reach) have zero gradient in torch."""
    sw = ops.make_sweep(np.ones((10, 10)), np.ones((2, 2)), stride=4, padding=1)
    xp = torch.from_numpy(sw.padded[None]).requires_grad_(True)
    F.conv2d(xp, torch.ones(1, 1, 2, 2, dtype=torch.float64), stride=4).sum().backward()
    np.testing.assert_array_equal(sw.coverage(), xp.grad[0, 0].numpy())
    assert (sw.coverage()[~sw.padding_mask] == 0).any()


def test_matrix_of_the_sweep_is_torchs_jacobian():
    rng = np.random.default_rng(2)
    for mode in ("zeros", "reflect", "circular"):
        sw = ops.make_sweep(rng.random((3, 5, 6)), rng.standard_normal((3, 3, 2)), stride=(1, 2), padding=1, dilation=(2, 1), padding_mode=mode)
        jac = _jacobian(sw)
        m = ops.conv_matrix_of(sw)
        np.testing.assert_allclose(m.toarray(), jac, atol=1e-12)
        counts = ops.matrix_counts(sw)
        assert counts.nnz == np.count_nonzero(jac)
        assert counts.dense == jac.size
        assert counts.weights == sw.kernel.size
        ones = ops.conv_matrix_of(sw, ones=True)
        for k in (0, sw.n_steps // 2, sw.n_steps - 1):
            np.testing.assert_array_equal(np.sort(ops.row_columns(ones, k)), np.flatnonzero(_jacobian(sw, ones=True)[k]))


def _jacobian(sw: ops.Sweep, ones: bool = False) -> np.ndarray:
    """d vec(A) / d vec(I) by torch autograd (bias does not matter)."""
    w = torch.from_numpy(np.ones_like(sw.kernel) if ones else sw.kernel)[None]
    ph, pw = sw.padding

    def f(x):
        x = x[None]
        if sw.padding_mode != "zeros":
            x = F.pad(x, (pw, pw, ph, ph), mode=sw.padding_mode)
            return F.conv2d(x, w, stride=sw.stride, dilation=sw.dilation).reshape(-1)
        return F.conv2d(x, w, stride=sw.stride, padding=sw.padding, dilation=sw.dilation).reshape(-1)

    jac = torch.autograd.functional.jacobian(f, torch.from_numpy(sw.image))
    return jac.reshape(sw.n_steps, -1).numpy()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(image=np.zeros((5, 5)), kernel=np.ones((3, 3)), stride=9), "stride 9 is larger than the padded image"),
        (dict(image=np.zeros((3, 4)), kernel=np.ones((5, 5))), "kernel covers 5 pixels"),
        (dict(image=np.zeros((5, 5)), kernel=np.ones((3, 3)), dilation=3), "dilation 3"),
        (dict(image=np.zeros((5, 5)), kernel=np.ones((3, 3)), stride=0), "at least 1"),
        (dict(image=np.zeros((5, 5)), kernel=np.array([[1.0, np.nan]])), "not a finite number"),
        (dict(image=np.zeros((65, 10)), kernel=np.ones((3, 3))), "at most 64"),
        (dict(image=np.zeros((3, 5, 5)), kernel=np.ones((2, 3, 3))), "channel"),
        (dict(image=np.zeros((5, 5)), kernel=np.ones((3, 3)), padding=5, padding_mode="reflect"), "Reflect padding"),
        (dict(image=np.zeros((5, 5)), kernel=np.ones((3, 3)), bias=float("inf")), "bias"),
    ],
)
def test_invalid_settings_raise_readable_errors(kwargs, message):
    image, kernel = kwargs.pop("image"), kwargs.pop("kernel")
    with pytest.raises(ValueError, match=message):
        ops.make_sweep(image, kernel, **kwargs)


def test_parse_grid_names_the_bad_cell():
    np.testing.assert_array_equal(ops.parse_grid([["1", "2"], [3, "4.5"]]), [[1, 2], [3, 4.5]])
    with pytest.raises(ValueError, match=r"input grid cell at row 2, column 1 is 'x'"):
        ops.parse_grid([["1", "2"], ["x", "4"]])
    with pytest.raises(ValueError, match="input grid cell at row 1, column 2 is empty"):
        ops.parse_grid([[1.0, None]])
    with pytest.raises(ValueError, match="largest allowed is 12×12"):
        ops.parse_grid(np.zeros((13, 2)), max_side=12)


def test_grid_seed_and_table():
    seed = ops.grid_seed(3, 5)
    assert seed.shape == (3, 5) and seed.dtype == np.float64
    assert seed.tolist() == [[float((r + c) % 4) for c in range(5)] for r in range(3)]
    g = np.array([[1.0, 0.0], [-1.0, 2.0]])
    assert ops.table(g) == {"0": [1.0, -1.0], "1": [0.0, 2.0]}  # columns, as st.dataframe shows them


def test_input_coverage_counts_the_cells_torch_never_differentiates():
    for stride, pad in ((4, 1), (1, 1), (3, 0)):
        sw = ops.make_sweep(np.ones((10, 11)), np.ones((2, 2)), stride=stride, padding=pad)
        x = torch.ones(1, 1, 10, 11, dtype=torch.float64, requires_grad=True)
        F.conv2d(x, torch.ones(1, 1, 2, 2, dtype=torch.float64), stride=stride, padding=pad).sum().backward()
        cover = sw.input_coverage()
        assert cover.cells == 110
        assert cover.unseen == int((x.grad == 0).sum())
    assert ops.make_sweep(np.ones((6, 6)), np.ones((3, 3))).input_coverage().unseen == 0


def test_step_sentences_name_the_first_tap_and_the_value():
    rng = np.random.default_rng(8)
    x, k = rng.random((7, 9)), rng.standard_normal((2, 3))
    sw = ops.make_sweep(x, k, stride=(2, 3), padding=1, dilation=2, bias=0.5)
    ref = F.conv2d(torch.from_numpy(x)[None, None], torch.from_numpy(k)[None, None], torch.tensor([0.5], dtype=torch.float64),
                   stride=(2, 3), padding=1, dilation=2)[0, 0].numpy()
    t = ref.shape[1] + 1  # A(1, 1)
    st = sw.step(t)
    assert (st.k, st.i, st.j) == (t, 1, 1) and st.value == pytest.approx(ref[1, 1], rel=1e-12)
    assert st.where == (f"Output cell (1, 1) is step {t + 1} of {ref.size} (row by row). Its first tap sits at row 1·2 = 2, "
                        "column 1·3 = 3 of the padded input; the taps are 2 cells apart (dilation: the kernel reaches "
                        "further with the same number of weights).")
    assert st.what == f"6 products, plus the bias 0.5, give A(1, 1) = {fmt.num(ref[1, 1])}."
    rgb = ops.make_sweep(rng.random((3, 5, 5)), np.ones((3, 3, 3)))
    assert rgb.step(0).what.startswith("27 products (3 channels × 3×3), give A(0, 0)")
    assert rgb.step(0).where.endswith("the taps are 1 cell apart.")


def test_try_sweep_takes_the_page_layout_and_explains_a_failure():
    rng = np.random.default_rng(9)
    picture = rng.random((6, 8, 3))  # (H, W, C), as images are loaded
    k = rng.standard_normal((3, 3, 3))
    sw, failure = ops.try_sweep(picture, k, padding=1, bias=0.25)
    assert failure is None and sw.image.shape == (3, 6, 8)
    ref = F.conv2d(torch.from_numpy(np.moveaxis(picture, -1, 0))[None], torch.from_numpy(k)[None],
                   torch.tensor([0.25], dtype=torch.float64), padding=1)[0, 0].numpy()
    np.testing.assert_allclose(sw.values, ref, rtol=1e-12)
    assert (sw.out_size, sw.padded_size) == ("6 × 8", "8 × 10 × 3")
    fig1, _ = ops.try_sweep(ops.FIGURE1_INPUT, ops.FIGURE1_KERNEL, labels=ops.FIGURE1_LABELS)
    assert "aw + bx + ey + fz" in fig1.formula_latex(0)
    none, failure = ops.try_sweep(np.zeros((3, 4)), np.ones((2, 2)), stride=9)
    assert none is None and "stride 9 is larger than the padded image" in failure.reason
    assert failure.settings == "Input 3×4, kernel 2×2, stride 9, padding 0, dilation 1"


def test_key_is_equal_exactly_for_equal_inputs():
    x, k = np.arange(12.0).reshape(3, 4), np.ones((2, 2))
    a, b = ops.make_sweep(x, k), ops.make_sweep(x.copy(), k.copy())
    assert a.key() == b.key() and hash(a.key()) == hash(b.key())
    y = x.copy()
    y[2, 3] += 1e-9
    for other in (ops.make_sweep(y, k), ops.make_sweep(x, k, bias=1.0), ops.make_sweep(x, k, padding=1),
                  ops.make_sweep(x.reshape(4, 3), k), ops.figure1_sweep()):
        assert other.key() != a.key()


def test_matrix_view_counts_and_residual_against_torch():
    rng = np.random.default_rng(10)
    sw = ops.make_sweep(rng.random((2, 5, 6)), np.array([[[1.0, 0.0], [2.0, -1.0]]] * 2), stride=(1, 2), padding=1, bias=-0.3)
    jac = _jacobian(sw)
    mv = ops.matrix_view(sw)
    np.testing.assert_allclose(mv.matrix.toarray(), jac, atol=1e-12)
    assert (mv.rows, mv.cols) == jac.shape and mv.dense == jac.size
    assert mv.nnz == np.count_nonzero(jac) and mv.connections == np.count_nonzero(_jacobian(sw, ones=True))
    assert mv.weights == 8
    assert mv.dense_per_nonzero == pytest.approx(jac.size / np.count_nonzero(jac))
    assert mv.percent_nonzero == pytest.approx(100 * np.count_nonzero(jac) / jac.size)
    # vec(A) = M vec(I) + b, with torch's map
    ref = F.conv2d(torch.from_numpy(sw.image)[None], torch.from_numpy(sw.kernel)[None], torch.tensor([-0.3], dtype=torch.float64),
                   stride=(1, 2), padding=1)[0, 0].numpy()
    assert mv.residual == pytest.approx(np.abs(jac @ sw.image.ravel() - 0.3 - ref.ravel()).max(), abs=1e-12)
    assert mv.residual < 1e-12 and mv.csv_ok
    assert f"needs m × n = {jac.size:,} weights" in mv.sparse_text and f"M has {mv.nnz:,} nonzeros" in mv.sparse_text
    big = ops.matrix_view(ops.make_sweep(np.zeros((64, 64)), np.ones((3, 3)), padding=1))
    assert big.dense == 4096**2 and not big.csv_ok
