"""cnn_viz.common.conv.conv_matrix against torch: M·vec(x) = conv2d(x) and Mᵀ·vec(y) = conv_transpose2d(y)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from cnn_viz.common.conv import conv2d, conv_matrix

torch.set_num_threads(1)
RNG_SEED = 20240603
N_CASES = 300


def _random_case(rng):
    """A random valid (input, kernel, stride, padding, dilation) with an output of at least 1×1."""
    while True:
        c = int(rng.choice([1, 1, 2, 3]))
        f = int(rng.choice([1, 1, 2, 3]))
        h, w = (int(v) for v in rng.integers(1, 13, size=2))
        kh, kw = (int(v) for v in rng.integers(1, 6, size=2))
        stride = tuple(int(v) for v in rng.integers(1, 4, size=2))
        padding = tuple(int(v) for v in rng.integers(0, 4, size=2))
        dilation = tuple(int(v) for v in rng.integers(1, 4, size=2))
        if all(d * (k - 1) + 1 <= n + 2 * p for n, k, p, d in zip((h, w), (kh, kw), padding, dilation)):
            return (c, h, w), (f, c, kh, kw), stride, padding, dilation


def _torch_conv(x, w, **kw):
    return F.conv2d(torch.from_numpy(x)[None], torch.from_numpy(w), **kw)[0].numpy()


def test_matrix_times_vec_equals_torch_conv2d_on_random_cases():
    rng = np.random.default_rng(RNG_SEED)
    for case in range(N_CASES):
        xs, ws, stride, padding, dilation = _random_case(rng)
        x = rng.standard_normal(xs)
        w = rng.standard_normal(ws)
        m = conv_matrix(xs, w, stride=stride, padding=padding, dilation=dilation)
        ref = _torch_conv(x, w, stride=stride, padding=padding, dilation=dilation)
        assert sp.issparse(m)
        assert m.shape == (ref.size, x.size), (case, xs, ws, stride, padding, dilation)
        np.testing.assert_allclose(m @ x.ravel(), ref.ravel(), rtol=1e-10, atol=1e-10, err_msg=str((case, xs, ws, stride, padding, dilation)))


def test_transpose_equals_torch_conv_transpose2d_on_random_cases():
    """Mᵀ is the transposed convolution; output_padding recovers the rows/columns the stride skipped."""
    rng = np.random.default_rng(RNG_SEED + 1)
    for case in range(N_CASES):
        (c, h, w_), ws, stride, padding, dilation = _random_case(rng)
        w = rng.standard_normal(ws)
        m = conv_matrix((c, h, w_), w, stride=stride, padding=padding, dilation=dilation)
        ho, wo = (
            (n + 2 * p - d * (k - 1) - 1) // s + 1 for n, k, s, p, d in zip((h, w_), ws[2:], stride, padding, dilation)
        )
        y = rng.standard_normal((ws[0], ho, wo))
        out_pad = tuple((n + 2 * p - d * (k - 1) - 1) % s for n, k, s, p, d in zip((h, w_), ws[2:], stride, padding, dilation))
        assert all(op < s for op, s in zip(out_pad, stride))  # so torch accepts it: every case is checked
        ref = F.conv_transpose2d(
            torch.from_numpy(y)[None], torch.from_numpy(w), stride=stride, padding=padding, dilation=dilation, output_padding=out_pad
        )[0].numpy()
        assert ref.shape == (c, h, w_)
        np.testing.assert_allclose(m.T @ y.ravel(), ref.ravel(), rtol=1e-10, atol=1e-10, err_msg=str(case))


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_every_padding_mode_matches_torch_and_the_adjoint_identity_holds(mode):
    rng = np.random.default_rng(7)
    for _ in range(40):
        c, h, w_ = int(rng.integers(1, 4)), int(rng.integers(4, 11)), int(rng.integers(4, 11))
        k = int(rng.integers(1, 4))
        p = int(rng.integers(0, 3))
        s, d = int(rng.integers(1, 3)), int(rng.integers(1, 3))
        if d * (k - 1) + 1 > min(h, w_) + 2 * p:
            continue
        x = rng.standard_normal((c, h, w_))
        w = rng.standard_normal((2, c, k, k))
        m = conv_matrix(x.shape, w, stride=s, padding=p, dilation=d, padding_mode=mode)
        xt = torch.from_numpy(x)[None]
        if mode != "zeros" and p:
            xt = F.pad(xt, (p, p, p, p), mode=mode)
        ref = F.conv2d(xt, torch.from_numpy(w), stride=s, dilation=d, padding=0 if mode != "zeros" else p)[0].numpy()
        np.testing.assert_allclose(m @ x.ravel(), ref.ravel(), rtol=1e-10, atol=1e-10)
        y = rng.standard_normal(m.shape[0])
        assert np.dot(m @ x.ravel(), y) == pytest.approx(np.dot(x.ravel(), m.T @ y), rel=1e-10, abs=1e-10)


def test_depthwise_same_padding_and_flip_follow_conv2d():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 9, 8))
    k = rng.standard_normal((4, 2))
    m = conv_matrix(x.shape, k, padding="same", flip=True)
    ref = F.conv2d(
        F.pad(torch.from_numpy(x)[None], (0, 1, 1, 2)), torch.from_numpy(np.ascontiguousarray(k[::-1, ::-1])).expand(3, 1, 4, 2), groups=3
    )[0].numpy()
    np.testing.assert_allclose(m @ x.ravel(), ref.ravel(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(m @ x.ravel(), conv2d(x, k, padding="same", flip=True).ravel(), rtol=1e-10, atol=1e-10)
    # depthwise: block diagonal, no weight couples two channels
    hw = 9 * 8
    for a in range(3):
        for b in range(3):
            if a != b:
                assert m[a * hw : (a + 1) * hw, b * hw : (b + 1) * hw].nnz == 0


def test_doubly_block_toeplitz_structure_and_counts():
    """No padding, stride 1: M[(i,j), (i+m, j+n)] = K(m, n); nnz = Ho·Wo·kh·kw; the same value along each diagonal."""
    k = np.array([[1.0, 2.0], [3.0, 4.0]])
    m = conv_matrix((3, 4), k).toarray()
    assert m.shape == (6, 12)
    for i in range(2):
        for j in range(3):
            row = np.zeros((3, 4))
            row[i : i + 2, j : j + 2] = k
            np.testing.assert_array_equal(m[i * 3 + j], row.ravel())
    assert np.count_nonzero(m) == 6 * 4
    # Blocks (output row i, input row r) are Toeplitz (3×4), and depend only on r - i.
    blocks = {(i, r): m[i * 3 : (i + 1) * 3, r * 4 : (r + 1) * 4] for i in range(2) for r in range(3)}
    for (i, r), b in blocks.items():
        for dj in range(-2, 4):
            diag = np.diagonal(b, offset=dj)
            assert np.all(diag == diag[0])
        if (i + 1, r + 1) in blocks:
            np.testing.assert_array_equal(b, blocks[(i + 1, r + 1)])
    # zero weights are not stored; padding taps are not stored
    sparse_m = conv_matrix((5, 5), np.array([[0.0, 1.0, 0.0]]), padding=1)
    assert sparse_m.nnz == 25


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(input_shape=(3, 3), w=np.ones((5, 5))), "padded input"),
        (dict(input_shape=(3, 3), w=np.ones((2, 2)), stride=0), "at least 1"),
        (dict(input_shape=(3, 0), w=np.ones((2, 2))), "input shape"),
        (dict(input_shape=(2, 3, 3), w=np.ones((3, 2, 2))), "does not fit"),
        (dict(input_shape=(3, 3), w=np.array([[np.nan]])), "not a finite number"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, message):
    input_shape = kwargs.pop("input_shape")
    w = kwargs.pop("w")
    with pytest.raises(ValueError, match=message):
        conv_matrix(input_shape, w, **kwargs)
