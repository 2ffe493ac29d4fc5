"""cnn_viz.common.conv against torch.nn.functional.conv2d / pad and SciPy."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage, signal

from cnn_viz.common.conv import PADDING_MODES, conv2d, output_size, pad

TORCH_MODE = {"reflect": "reflect", "replicate": "replicate", "circular": "circular"}


def torch_conv(x, w, *, stride, padding, dilation, mode, bias=None):
    """Reference: F.pad for the non-zero modes, then F.conv2d, in float64."""
    xt = torch.from_numpy(np.asarray(x, dtype=np.float64))
    squeeze_c = xt.ndim == 2
    if squeeze_c:
        xt = xt[None]
    xt = xt[None]
    ph, pw = padding
    if mode != "zeros":
        xt = F.pad(xt, (pw, pw, ph, ph), mode=TORCH_MODE[mode])
        ph = pw = 0
    wt = torch.from_numpy(np.asarray(w, dtype=np.float64))
    bt = None if bias is None else torch.from_numpy(np.asarray(bias, dtype=np.float64))
    return F.conv2d(xt, wt, bt, stride=stride, padding=(ph, pw), dilation=dilation)[0].numpy()


def random_case(rng):
    c, f = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    h, w = int(rng.integers(1, 24)), int(rng.integers(1, 24))
    kh, kw = int(rng.integers(1, 7)), int(rng.integers(1, 7))
    stride = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    dilation = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    padding = (int(rng.integers(0, 4)), int(rng.integers(0, 4)))
    return c, f, h, w, kh, kw, stride, dilation, padding


@pytest.mark.parametrize("mode", PADDING_MODES)
@pytest.mark.parametrize("method", ["direct", "fft"])
def test_matches_torch_on_random_shapes(mode, method):
    rng = np.random.default_rng(PADDING_MODES.index(mode) * 10 + (method == "fft"))
    checked = refused = 0
    while checked < 150:
        c, f, h, w, kh, kw, stride, dilation, padding = random_case(rng)
        x = rng.standard_normal((c, h, w))
        k = rng.standard_normal((f, c, kh, kw))
        b = rng.standard_normal(f)
        try:
            ref = torch_conv(x, k, stride=stride, padding=padding, dilation=dilation, mode=mode, bias=b)
        except RuntimeError:
            # torch refuses (kernel larger than the padded input, reflect padding >= size): so must we.
            with pytest.raises(ValueError):
                conv2d(x, k, stride=stride, padding=padding, dilation=dilation, padding_mode=mode, bias=b, method=method)
            refused += 1
            continue
        out = conv2d(x, k, stride=stride, padding=padding, dilation=dilation, padding_mode=mode, bias=b, method=method)
        assert out.shape == ref.shape
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-9 * np.abs(ref).max())
        checked += 1
    assert refused > 0  # the generator does produce impossible combinations


def test_float32_input_stays_float32_and_accurate():
    rng = np.random.default_rng(1)
    x = rng.random((64, 80), dtype=np.float32)
    k = rng.standard_normal((5, 5))
    out = conv2d(x, k, padding=2)
    assert out.dtype == np.float32
    ref = torch_conv(x, k[None, None], stride=1, padding=(2, 2), dilation=1, mode="zeros")[0]
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_large_kernel_fft_path_matches_scipy_correlate():
    rng = np.random.default_rng(2)
    x = rng.random((200, 150))
    k = rng.standard_normal((15, 15))
    out = conv2d(x, k, padding=7, padding_mode="reflect")  # auto picks the FFT for 225 taps
    # scipy's 'mirror' is torch's 'reflect' (edge pixel not repeated)
    ref = ndimage.correlate(x, k, mode="mirror")
    np.testing.assert_allclose(out, ref, rtol=1e-7, atol=1e-9)


def test_shapes_drop_the_axes_the_input_lacked():
    rng = np.random.default_rng(3)
    x2, x3 = rng.random((10, 12)), rng.random((3, 10, 12))
    assert conv2d(x2, np.ones((3, 3))).shape == (8, 10)
    assert conv2d(x3, np.ones((3, 3, 3))).shape == (8, 10)  # one 3-channel kernel: one map
    assert conv2d(x3, np.ones((4, 3, 3, 3))).shape == (4, 8, 10)
    assert conv2d(x2, np.ones((2, 1, 3, 3))).shape == (2, 8, 10)
    # a 2-D kernel on a colour image: each channel on its own (depthwise)
    k = rng.standard_normal((3, 3))
    out = conv2d(x3, k, padding=1)
    for c in range(3):
        np.testing.assert_allclose(out[c], conv2d(x3[c], k, padding=1))


def test_flip_is_true_convolution():
    rng = np.random.default_rng(4)
    x, k = rng.random((20, 17)), rng.standard_normal((4, 3))
    np.testing.assert_allclose(conv2d(x, k, flip=True), signal.convolve2d(x, k, mode="valid"), rtol=1e-10)
    np.testing.assert_allclose(conv2d(x, k), signal.correlate2d(x, k, mode="valid"), rtol=1e-10)


def test_same_padding_keeps_the_size_like_torch():
    rng = np.random.default_rng(5)
    x, k = rng.random((1, 13, 9)), rng.standard_normal((1, 1, 4, 3))
    out = conv2d(x, k, padding="same", dilation=2)
    ref = F.conv2d(torch.from_numpy(x)[None], torch.from_numpy(k), padding="same", dilation=2)[0].numpy()
    assert out.shape == (1, 13, 9)
    np.testing.assert_allclose(out, ref, rtol=1e-10)


@pytest.mark.parametrize("mode", PADDING_MODES)
def test_pad_matches_torch(mode):
    rng = np.random.default_rng(6)
    x = rng.random((2, 6, 7))
    ref = F.pad(torch.from_numpy(x)[None], (3, 3, 2, 2), mode={"zeros": "constant"}.get(mode, mode))[0].numpy()
    np.testing.assert_array_equal(pad(x, (2, 3), mode), ref)


def test_report_example_vertical_edge():
    # A dark left half and a bright right half: the report's vertical-edge kernel answers only at the edge.
    x = np.zeros((5, 6))
    x[:, 3:] = 1
    k = np.array([[-1, 0, 1]] * 3, dtype=float)
    out = conv2d(x, k)
    np.testing.assert_array_equal(out, np.tile([0, 3, 3, 0], (3, 1)))


@pytest.mark.parametrize(
    "n,k,s,p,d",
    [(n, k, s, p, d) for n in (1, 5, 28, 33) for k in (1, 2, 3, 5) for s in (1, 2, 3) for p in (0, 1, 2) for d in (1, 2)],
)
def test_output_size_formula_matches_torch(n, k, s, p, d):
    try:
        ref = F.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), stride=s, padding=p, dilation=d).shape[-1]
    except RuntimeError:
        with pytest.raises(ValueError):
            output_size(n, k, s, p, d)
        return
    assert output_size(n, k, s, p, d) == ref


@pytest.mark.parametrize(
    "kwargs,fragment",
    [
        (dict(stride=0), "stride"),
        (dict(padding=-1), "negative"),
        (dict(dilation=0), "dilation"),
        (dict(padding_mode="mirror"), "padding_mode"),
        (dict(stride=1.5), "whole number"),
    ],
)
def test_invalid_settings_raise_readable_errors(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        conv2d(np.ones((8, 8)), np.ones((3, 3)), **kwargs)


def test_kernel_larger_than_padded_input_is_explained():
    with pytest.raises(ValueError, match="padded image is only 6 pixels"):
        conv2d(np.ones((4, 4)), np.ones((7, 7)), padding=1)


def test_non_finite_numbers_are_refused():
    x = np.ones((5, 5))
    x[2, 2] = np.nan
    with pytest.raises(ValueError, match="finite"):
        conv2d(x, np.ones((3, 3)))
    with pytest.raises(ValueError, match="kernel"):
        conv2d(np.ones((5, 5)), np.array([[1.0, np.inf]]))
    with pytest.raises(ValueError, match="numbers"):
        conv2d(np.ones((5, 5)), np.array([["a", "b"]], dtype=object))


def test_channel_mismatch_is_explained():
    with pytest.raises(ValueError, match="channels"):
        conv2d(np.ones((3, 8, 8)), np.ones((2, 3, 3)))
