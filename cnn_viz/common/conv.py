"""2-D convolution (cross-correlation) in NumPy, exactly as ``torch.nn.functional.conv2d``.

The course report writes one output entry as

    A(i, j) = sum_m sum_n I(i*s + m*d, j*s + n*d) K(m, n)

for stride ``s`` and dilation ``d`` after the input ``I`` has been padded.  That is a
cross-correlation (the kernel is *not* flipped), which is what every deep learning
library calls "convolution".  ``flip=True`` turns it into the true convolution of
signal processing.

Two evaluation strategies give the same numbers:

* shift-and-add over the kernel taps (one strided view of the input per tap), fast
  for small kernels;
* the FFT (``scipy.fft``) for large kernels, where its cost no longer grows with
  the number of taps.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
_NUMPY_PAD_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}

# Use the FFT when the kernel has at least this many taps (measured in bench/bench_conv.py).
FFT_MIN_TAPS = 40


def _pair(value, name: str) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be one number or a pair (rows, columns), got {value!r}.")
        pair = tuple(value)
    else:
        pair = (value, value)
    for v in pair:
        if isinstance(v, bool) or not isinstance(v, (Integral, np.integer)):
            raise ValueError(f"{name} must be a whole number, got {v!r}.")
    return int(pair[0]), int(pair[1])


def output_size(n: int, k: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Length of the output along one axis: floor((n + 2p - d(k-1) - 1) / s) + 1.

    Raises ValueError when the (dilated) kernel does not fit in the padded input.
    """
    for value, name in ((n, "input size"), (k, "kernel size"), (stride, "stride"), (dilation, "dilation")):
        if value < 1:
            raise ValueError(f"The {name} must be at least 1, got {value}.")
    if padding < 0:
        raise ValueError(f"Padding cannot be negative, got {padding}.")
    span = dilation * (k - 1) + 1
    if span > n + 2 * padding:
        raise ValueError(
            f"The kernel covers {span} pixels (size {k}, dilation {dilation}) but the padded input "
            f"is only {n + 2 * padding} pixels wide ({n} + 2×{padding} padding): "
            "make the kernel smaller or add padding."
        )
    return (n + 2 * padding - dilation * (k - 1) - 1) // stride + 1


def _resolve_padding(padding, kernel_shape, stride, dilation):
    """Padding as ((top, bottom), (left, right))."""
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0), (0, 0))
        if padding == "same":
            if stride != (1, 1):
                raise ValueError("padding='same' only works with stride 1 (the output could not keep the input's size).")
            out = []
            for k, d in zip(kernel_shape, dilation):
                total = d * (k - 1)
                out.append((total // 2, total - total // 2))
            return tuple(out)
        raise ValueError(f"padding must be a number, a pair, 'same' or 'valid', got {padding!r}.")
    ph, pw = _pair(padding, "padding")
    if ph < 0 or pw < 0:
        raise ValueError(f"Padding cannot be negative, got {padding!r}.")
    return ((ph, ph), (pw, pw))


def pad(x: np.ndarray, padding, mode: str = "zeros") -> np.ndarray:
    """Pad the last two axes of ``x`` like ``torch.nn.functional.pad``.

    ``padding`` is an int, a pair (rows, columns), or ((top, bottom), (left, right)).
    """
    if mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {', '.join(PADDING_MODES)}; got {mode!r}.")
    x = np.asarray(x)
    if isinstance(padding, (tuple, list)) and len(padding) == 2 and all(isinstance(p, (tuple, list)) for p in padding):
        (pt, pb), (pl, pr) = padding
    else:
        ph, pw = _pair(padding, "padding")
        pt = pb = ph
        pl = pr = pw
    if min(pt, pb, pl, pr) < 0:
        raise ValueError("Padding cannot be negative.")
    h, w = x.shape[-2:]
    if mode == "reflect" and (max(pt, pb) >= h or max(pl, pr) >= w):
        raise ValueError(
            f"Reflect padding must be smaller than the image ({h}×{w}); got {max(pt, pb)}×{max(pl, pr)}."
        )
    if mode == "circular" and (max(pt, pb) > h or max(pl, pr) > w):
        raise ValueError(f"Circular padding cannot exceed the image size ({h}×{w}).")
    if mode == "replicate" and (h == 0 or w == 0):
        raise ValueError("Cannot replicate the border of an empty image.")
    widths = [(0, 0)] * (x.ndim - 2) + [(pt, pb), (pl, pr)]
    return np.pad(x, widths, mode=_NUMPY_PAD_MODE[mode])


def _as_float_array(a, name: str) -> np.ndarray:
    try:
        arr = np.asarray(a)
        if arr.dtype.kind not in "fiub":
            arr = arr.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"The {name} must contain only numbers.") from exc
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    if arr.size and not np.all(np.isfinite(arr)):
        raise ValueError(f"The {name} contains a value that is not a finite number (NaN or infinity).")
    return arr


# Output elements per block (whole rows of about this many values): a block's input and output
# stay in the CPU cache across all the taps.
BLOCK_ELEMENTS = 64 * 1024


def _tap_range(n_out: int, n_in: int, offset: int, step: int, r0: int = 0, r1: int | None = None):
    """Output indices i in [r0, r1) whose input index i*step + offset lies in [0, n_in), as (lo, hi)."""
    r1 = n_out if r1 is None else r1
    lo = max(r0, -(offset // step) if offset < 0 else 0)  # ceil(-offset / step)
    hi = min(r1, (n_in - 1 - offset) // step + 1) if n_in - 1 - offset >= 0 else lo
    return lo, max(lo, hi)


def _shift_and_add(x, w, out_hw, stride, dilation, dtype, pads=((0, 0), (0, 0))):
    """x: (C, H, W); w: (F, C, kh, kw) -> (F, Ho, Wo), one strided view of the input per tap.

    ``pads`` are zero paddings applied implicitly: a tap simply skips the output cells whose
    input pixel lies in the padding, so no padded copy of the image is made.
    """
    c, h, wd = x.shape
    f, _, kh, kw = w.shape
    ho, wo = out_hw
    sh, sw = stride
    dh, dw = dilation
    (pt, _), (pl, _) = pads
    out = np.zeros((f, ho, wo), dtype=dtype)
    # few maps: scalar multiply-adds; many maps: one matrix product per tap mixes the channels
    scalar = f * c <= 32
    # blocks of output rows, so that a block's input and output stay in the CPU cache across the taps
    block = max(1, BLOCK_ELEMENTS // max(wo, 1)) if scalar else ho
    tmp = np.empty((min(block, ho), wo), dtype=dtype)
    for r0 in range(0, ho, block):
        r1 = min(ho, r0 + block)
        for m in range(kh):
            i0, i1 = _tap_range(ho, h, m * dh - pt, sh, r0, r1)
            if i0 >= i1:
                continue
            rows = slice(i0 * sh + m * dh - pt, (i1 - 1) * sh + m * dh - pt + 1, sh)
            for n in range(kw):
                j0, j1 = _tap_range(wo, wd, n * dw - pl, sw)
                if j0 >= j1:
                    continue
                cols = slice(j0 * sw + n * dw - pl, (j1 - 1) * sw + n * dw - pl + 1, sw)
                view = x[:, rows, cols]
                if not scalar:
                    out[:, i0:i1, j0:j1] += np.tensordot(w[:, :, m, n], view, axes=(1, 0))
                    continue
                t = tmp[: i1 - i0, : j1 - j0]
                for fi in range(f):
                    o = out[fi, i0:i1, j0:j1]
                    for ci in range(c):
                        tap = w[fi, ci, m, n]
                        if tap != 0:
                            np.multiply(view[ci], tap, out=t)
                            o += t
    return out


def _fft_correlate(xp, w, out_hw, stride, dilation, dtype):
    """Same result as _shift_and_add, by the FFT (valid cross-correlation, then subsample)."""
    from scipy import fft as sfft

    c, hp, wp = xp.shape
    f, _, kh, kw = w.shape
    dh, dw = dilation
    # Dilate the kernel, then flip it: correlation = convolution with the flipped kernel.
    kd = np.zeros((f, c, dh * (kh - 1) + 1, dw * (kw - 1) + 1), dtype=np.float64)
    kd[:, :, ::dh, ::dw] = w
    kd = kd[:, :, ::-1, ::-1]
    eh, ew = kd.shape[-2:]
    shape = (sfft.next_fast_len(hp + eh - 1, real=True), sfft.next_fast_len(wp + ew - 1, real=True))
    xf = sfft.rfft2(xp.astype(np.float64, copy=False), shape, workers=-1)  # (C, ., .)
    kf = sfft.rfft2(kd, shape, workers=-1)  # (F, C, ., .)
    prod = np.einsum("chw,fchw->fhw", xf, kf) if c > 1 else kf[:, 0] * xf[0]
    full = sfft.irfft2(prod, shape, workers=-1)
    ho, wo = out_hw
    sh, sw = stride
    valid = full[:, eh - 1 : eh - 1 + sh * (ho - 1) + 1 : sh, ew - 1 : ew - 1 + sw * (wo - 1) + 1 : sw]
    return valid.astype(dtype, copy=False)


def conv2d(
    x,
    w,
    *,
    stride=1,
    padding=0,
    dilation=1,
    padding_mode: str = "zeros",
    bias=None,
    flip: bool = False,
    method: str = "auto",
) -> np.ndarray:
    """Cross-correlate ``x`` with ``w`` exactly as ``torch.nn.functional.conv2d``.

    Parameters
    ----------
    x : (H, W) or (C, H, W) array
    w : (kh, kw), (C, kh, kw) or (F, C, kh, kw) array.  A 2-D kernel on a (C, H, W)
        input is applied to each channel separately (depthwise) and gives (C, Ho, Wo).
    stride, padding, dilation : int or pair; padding may also be "same" or "valid".
    padding_mode : "zeros", "reflect", "replicate" or "circular".
    bias : scalar or (F,) array added to each output map.
    flip : flip the kernel first, i.e. a true convolution.
    method : "auto", "direct" (shift-and-add) or "fft".

    Returns the output with the axes the input lacked dropped: (Ho, Wo) for a 2-D input
    and a 2-D or 3-D kernel, (F, Ho, Wo) for a 4-D kernel or a (C, H, W) input.
    """
    x = _as_float_array(x, "image")
    w = _as_float_array(w, "kernel")
    dtype = np.float32 if x.dtype == np.float32 else np.float64
    if x.ndim not in (2, 3):
        raise ValueError(f"The image must be 2-D (H, W) or 3-D (C, H, W); got shape {x.shape}.")
    if w.ndim not in (2, 3, 4):
        raise ValueError(f"The kernel must be (kh, kw), (C, kh, kw) or (F, C, kh, kw); got shape {w.shape}.")
    if x.shape[-1] == 0 or x.shape[-2] == 0:
        raise ValueError("The image is empty.")
    if w.size == 0:
        raise ValueError("The kernel is empty.")
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode must be one of {', '.join(PADDING_MODES)}; got {padding_mode!r}.")
    squeeze = x.ndim == 2
    depthwise = False
    x3 = x[None] if x.ndim == 2 else x
    c = x3.shape[0]
    if w.ndim == 2:
        if c == 1:
            w4 = w[None, None]
        else:
            depthwise = True
            w4 = np.broadcast_to(w, (c, 1) + w.shape)
    elif w.ndim == 3:
        if w.shape[0] != c:
            raise ValueError(f"The kernel has {w.shape[0]} channels but the image has {c}.")
        w4 = w[None]
        squeeze = True
    else:
        if w.shape[1] != c:
            raise ValueError(f"The kernel expects {w.shape[1]} input channels but the image has {c}.")
        w4 = w
        squeeze = False
    if flip:
        w4 = w4[..., ::-1, ::-1]
    stride = _pair(stride, "stride")
    dilation = _pair(dilation, "dilation")
    if min(stride) < 1:
        raise ValueError(f"The stride must be at least 1 (the kernel has to move), got {stride}.")
    if min(dilation) < 1:
        raise ValueError(f"The dilation must be at least 1, got {dilation}.")
    kh, kw = w4.shape[-2:]
    pads = _resolve_padding(padding, (kh, kw), stride, dilation)
    h, wd = x3.shape[-2:]
    out_hw = []
    for n, k, s, d, (p0, p1) in zip((h, wd), (kh, kw), stride, dilation, pads):
        span = d * (k - 1) + 1
        if span > n + p0 + p1:
            raise ValueError(
                f"The kernel covers {span} pixels (size {k}, dilation {d}) but the padded image is only "
                f"{n + p0 + p1} pixels across ({n} + {p0 + p1} padding): use a smaller kernel or more padding."
            )
        out_hw.append((n + p0 + p1 - span) // s + 1)
    x3 = x3.astype(dtype, copy=False)
    w4 = np.ascontiguousarray(w4, dtype=dtype)
    if method not in ("auto", "direct", "fft"):
        raise ValueError(f"method must be 'auto', 'direct' or 'fft', got {method!r}.")
    use_fft = method == "fft" or (method == "auto" and kh * kw >= FFT_MIN_TAPS and out_hw[0] * out_hw[1] >= 64 * 64)
    if use_fft or padding_mode != "zeros":
        # pad for real (the FFT needs it; other modes copy pixels into the border)
        xp = pad(x3, pads, padding_mode) if any(p for pair in pads for p in pair) else x3
        run = _fft_correlate if use_fft else _shift_and_add
        args = (out_hw, stride, dilation, dtype)
    else:
        # zero padding stays implicit: taps skip the cells that would read it
        xp, run, args = x3, _shift_and_add, (out_hw, stride, dilation, dtype, pads)
    if depthwise:
        out = np.stack([run(xp[i : i + 1], w4[i : i + 1], *args)[0] for i in range(c)])
    else:
        out = run(xp, w4, *args)
    if bias is not None:
        b = _as_float_array(bias, "bias").astype(dtype)
        if b.ndim == 0:
            out = out + b
        else:
            if b.shape != (out.shape[0],):
                raise ValueError(f"The bias must have one value per output map ({out.shape[0]}), got shape {b.shape}.")
            out = out + b[:, None, None]
    if squeeze and out.shape[0] == 1:
        out = out[0]
    return out


def conv_matrix(input_shape, w, *, stride=1, padding=0, dilation=1, padding_mode: str = "zeros", flip: bool = False):
    """The matrix M of the convolution: ``conv2d(x, w, ...).ravel() == M @ x.ravel()``.

    ``input_shape`` is (H, W) or (C, H, W); ``w`` takes the shapes ``conv2d`` takes (a 2-D
    kernel on C channels acts on each channel separately). Rows follow the output in
    C order ((F,) Ho, Wo), columns the input in C order (C, H, W): one row per kernel
    position, holding the kernel's weights at the pixels under it, so the same weights
    repeat along diagonals (a doubly block Toeplitz matrix for zero padding).
    Every padding mode is linear, so each gives a matrix; a bias is not part of M.
    Returns a ``scipy.sparse.csr_matrix`` (float64) without stored zeros.
    """
    from scipy import sparse

    shape = tuple(input_shape)
    if len(shape) not in (2, 3) or any(isinstance(v, bool) or not isinstance(v, (Integral, np.integer)) or v < 1 for v in shape):
        raise ValueError(f"The input shape must be (H, W) or (C, H, W) with positive whole numbers; got {input_shape!r}.")
    c, h, wd = (1, *shape) if len(shape) == 2 else shape
    w = _as_float_array(w, "kernel")
    if w.size == 0:
        raise ValueError("The kernel is empty.")
    groups = 1
    if w.ndim == 2:
        w4 = w[None, None] if c == 1 else np.broadcast_to(w, (c, 1) + w.shape)
        groups = c
    elif w.ndim == 3 and w.shape[0] == c:
        w4 = w[None]
    elif w.ndim == 4 and w.shape[1] == c:
        w4 = w
    else:
        raise ValueError(f"A kernel of shape {w.shape} does not fit an image with {c} channel(s).")
    if flip:
        w4 = w4[..., ::-1, ::-1]
    stride, dilation = _pair(stride, "stride"), _pair(dilation, "dilation")
    if min(stride) < 1 or min(dilation) < 1:
        raise ValueError(f"The stride and the dilation must be at least 1, got {stride} and {dilation}.")
    f, cg, kh, kw = w4.shape
    pads = _resolve_padding(padding, (kh, kw), stride, dilation)
    ho, wo = (
        output_size(n, k, s, p0, d) if p0 == p1 else output_size(n + p0 + p1, k, s, 0, d)
        for n, k, s, d, (p0, p1) in zip((h, wd), (kh, kw), stride, dilation, pads)
    )
    # Column of every padded pixel, 1-based, so that zero padding reads as "no pixel" (0).
    index = pad(np.arange(1, c * h * wd + 1).reshape(c, h, wd), pads, padding_mode)
    rows_p = (np.arange(ho) * stride[0])[:, None] + (np.arange(kh) * dilation[0])[None, :]  # (Ho, kh)
    cols_p = (np.arange(wo) * stride[1])[:, None] + (np.arange(kw) * dilation[1])[None, :]  # (Wo, kw)
    chan = (np.arange(f) // (f // groups))[:, None] * cg + np.arange(cg)[None, :]  # (F, cg)
    src = index[chan[:, :, None, None, None, None], rows_p[None, None, :, None, :, None], cols_p[None, None, None, :, None, :]]
    vals = np.broadcast_to(w4[:, :, None, None, :, :], src.shape)
    out_rows = (np.arange(f)[:, None, None] * ho * wo + np.arange(ho)[None, :, None] * wo + np.arange(wo)[None, None, :])
    out_rows = np.broadcast_to(out_rows[:, None, :, :, None, None], src.shape)
    keep = (src > 0) & (vals != 0)
    m = sparse.csr_matrix((vals[keep], (out_rows[keep], src[keep] - 1)), shape=(f * ho * wo, c * h * wd))
    m.sum_duplicates()
    m.eliminate_zeros()
    return m
