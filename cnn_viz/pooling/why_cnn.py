"""Why CNNs work, in numbers: parameter sharing, sparse interactions (receptive fields)
and translation equivariance.

NumPy only. The report's figures are the defaults: a 128×128×3 input fully connected to
512 hidden units needs 25,165,824 weights (+512 biases), while a bank of 20 kernels of
3×3×3 needs 540 weights (+20 biases).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnn_viz.common.conv import _as_float_array, _pair, conv2d
from cnn_viz.pooling.stages import activate, pool2d

# The report's example sizes.
REPORT_INPUT = (128, 128, 3)  # H, W, C
REPORT_HIDDEN = 512
REPORT_KERNEL = 3
REPORT_FEATURES = 20


# ----------------------------------------------------------------------------- parameter counts


@dataclass(frozen=True)
class ParamCount:
    weights: int
    biases: int

    @property
    def total(self) -> int:
        return self.weights + self.biases


def _positive(value, name):
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"The {name} must be a whole number of at least 1, got {value!r}.")
    return int(value)


def dense_params(height: int, width: int, channels: int, hidden: int) -> ParamCount:
    """A fully connected layer from an H×W×C input to ``hidden`` units: every unit has its own
    weight for every input number."""
    h, w, c = _positive(height, "input height"), _positive(width, "input width"), _positive(channels, "number of channels")
    n = _positive(hidden, "number of hidden units")
    return ParamCount(h * w * c * n, n)


def conv_params(kernel_size, channels: int, features: int) -> ParamCount:
    """A convolutional layer of ``features`` kernels of k×k×C: the same weights at every position,
    so the count does not depend on the image size."""
    kh, kw = _pair(kernel_size, "kernel size")
    kh, kw = _positive(kh, "kernel size"), _positive(kw, "kernel size")
    c, f = _positive(channels, "number of channels"), _positive(features, "number of features")
    return ParamCount(kh * kw * c * f, f)


def multiplications(height: int, width: int, channels: int, hidden: int, kernel_size, features: int) -> dict:
    """Multiply-adds of one forward pass ('same' padding, stride 1) and how often each conv weight is reused."""
    kh, kw = _pair(kernel_size, "kernel size")
    dense = dense_params(height, width, channels, hidden).weights
    conv = height * width * kh * kw * channels * features
    return {"dense": dense, "conv": conv, "reuse": height * width}


def param_curve(sides, channels: int, hidden: int, kernel_size, features: int) -> dict:
    """Both weight counts for square inputs of each side length in ``sides``."""
    sides = np.asarray(sides, dtype=np.int64)
    dense = np.array([dense_params(s, s, channels, hidden).weights for s in sides], dtype=np.int64)
    conv = np.full(sides.shape, conv_params(kernel_size, channels, features).weights, dtype=np.int64)
    return {"side": sides, "dense": dense, "conv": conv}


# ----------------------------------------------------------------------------- receptive fields


@dataclass(frozen=True)
class Layer:
    kind: str  # "conv" or "pool"
    size: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1

    @property
    def label(self) -> str:
        if self.kind == "conv":
            extra = f", dilation {self.dilation}" if self.dilation > 1 else ""
            return f"conv {self.size}×{self.size}" + (f", stride {self.stride}" if self.stride > 1 else "") + extra
        return f"pool {self.size}×{self.size}, stride {self.stride}"


def conv(size: int = 3, stride: int = 1, padding: int | None = None, dilation: int = 1) -> Layer:
    """A convolution; padding defaults to 'same' for odd sizes (k // 2)."""
    return Layer("conv", size, stride, size // 2 if padding is None else padding, dilation)


def pool(size: int = 2, stride: int | None = None) -> Layer:
    return Layer("pool", size, size if stride is None else stride, 0)


def stack(name: str, blocks: int = 2) -> list[Layer]:
    """The layer stacks the page offers (``blocks`` repeats of the pattern)."""
    if blocks < 1:
        raise ValueError("A stack needs at least one block.")
    if name == "report":  # SimpleCNN: conv 5×5 (padding 2) then 2×2 max pool, twice by default
        return [layer for _ in range(blocks) for layer in (conv(5), pool(2))]
    if name == "vgg":  # two 3×3 convs then a 2×2 pool
        return [layer for _ in range(blocks) for layer in (conv(3), conv(3), pool(2))]
    if name == "conv3":  # 3×3 convs only
        return [conv(3) for _ in range(blocks)]
    raise ValueError(f"Unknown stack {name!r}: use 'report', 'vgg' or 'conv3'.")


STACKS = {
    "report": "The report's SimpleCNN: 5×5 conv, 2×2 pool (per block)",
    "vgg": "VGG-style: two 3×3 convs, then a 2×2 pool (per block)",
    "conv3": "3×3 convs only, no pooling (one per block)",
}


@dataclass(frozen=True)
class Field:
    """Receptive field after a layer: output pixel i (along an axis) sees input pixels
    ``first + i*jump`` .. ``first + i*jump + size - 1`` (before clipping to the image)."""

    layer: str
    out_size: int  # length of this layer's output along the axis
    size: int  # receptive field size in input pixels
    jump: int  # input pixels between neighbouring outputs
    first: int  # input index of the first pixel seen by output 0 (negative: in the padding)


def receptive_fields(layers, input_size: int) -> list[Field]:
    """Receptive field of every layer of ``layers`` on an input of ``input_size`` pixels (one axis).

    r_out = r_in + (k_eff − 1)·j_in, j_out = j_in·s, first_out = first_in − p·j_in,
    n_out = ⌊(n_in + 2p − k_eff)/s⌋ + 1 with k_eff = d(k − 1) + 1.
    """
    n, r, j, first = int(input_size), 1, 1, 0
    out = [Field("input", n, r, j, first)]
    for layer in layers:
        k_eff = layer.dilation * (layer.size - 1) + 1
        if k_eff > n + 2 * layer.padding:
            raise ValueError(
                f"After {len(out) - 1} layer(s) the map is only {n} pixels across: the next {layer.label} "
                "does not fit. Use a larger input or fewer layers."
            )
        first -= layer.padding * j
        r += (k_eff - 1) * j
        j *= layer.stride
        n = (n + 2 * layer.padding - k_eff) // layer.stride + 1
        out.append(Field(layer.label, n, r, j, first))
    return out


def field_box(f: Field, i: int, input_size: int) -> tuple[int, int]:
    """[lo, hi] (inclusive) of input pixels that output ``i`` of this layer sees, clipped to the image."""
    lo = f.first + i * f.jump
    return max(lo, 0), min(lo + f.size - 1, input_size - 1)


def _nearest_output(f: Field, p: int) -> int:
    """The output index of this layer whose receptive field is centred closest to input pixel p."""
    i = int(np.floor((p - f.first - (f.size - 1) / 2) / f.jump + 0.5))
    return min(max(i, 0), f.out_size - 1)


@dataclass(frozen=True)
class FieldBox:
    layer: str
    out_pos: tuple[int, int]  # (i, j) in this layer's output
    out_shape: tuple[int, int]
    size: int  # receptive field side in input pixels (before clipping)
    rows: tuple[int, int]  # inclusive input rows it sees, clipped to the image
    cols: tuple[int, int]


def boxes_at(layers, shape, point) -> list[FieldBox]:
    """For every layer, the output pixel centred nearest to input pixel ``point`` = (row, col)
    and the input rectangle it sees (its receptive field)."""
    h, w = (int(v) for v in shape[:2])
    r, c = (int(v) for v in point)
    if not (0 <= r < h and 0 <= c < w):
        raise ValueError(f"The point ({r}, {c}) is outside the {h}×{w} image.")
    fr, fc = receptive_fields(layers, h), receptive_fields(layers, w)
    out = []
    for a, b in zip(fr, fc):
        i, j = _nearest_output(a, r), _nearest_output(b, c)
        out.append(FieldBox(a.layer, (i, j), (a.out_size, b.out_size), a.size, field_box(a, i, h), field_box(b, j, w)))
    return out


# ----------------------------------------------------------------------------- equivariance


SHIFT_MODES = ("circular", "zeros")


def shift(x, dy: int, dx: int, mode: str = "circular") -> np.ndarray:
    """Move the picture down by ``dy`` and right by ``dx`` pixels (negative: up / left).

    "circular" wraps what falls off one side back in at the other (``np.roll``); "zeros"
    lets it fall off and brings in black.
    """
    x = np.asarray(x)
    dy, dx = int(dy), int(dx)
    if mode == "circular":
        return np.roll(x, (dy, dx), axis=(-2, -1))
    if mode != "zeros":
        raise ValueError(f"The shift mode must be 'circular' or 'zeros'; got {mode!r}.")
    h, w = x.shape[-2:]
    out = np.zeros_like(x)
    if abs(dy) >= h or abs(dx) >= w:
        return out
    src_r = slice(max(0, -dy), h - max(0, dy))
    dst_r = slice(max(0, dy), h - max(0, -dy))
    src_c = slice(max(0, -dx), w - max(0, dx))
    dst_c = slice(max(0, dx), w - max(0, -dx))
    out[..., dst_r, dst_c] = x[..., src_r, src_c]
    return out


def feature(x, kernel, padding_mode: str = "circular", activation: str = "none", negative_slope: float = 0.01) -> np.ndarray:
    """act(conv(x)) with 'same' padding, computed tap by tap (so equal inputs give equal bits)."""
    mode = "circular" if padding_mode == "circular" else "zeros"
    return activate(conv2d(x, kernel, padding="same", padding_mode=mode, method="direct"), activation, negative_slope)


def _check_gray(x):
    x = _as_float_array(x, "image")
    if x.ndim != 2:
        raise ValueError(f"The equivariance lab works on a grayscale image (H, W); got shape {x.shape}.")
    return x


def equivariance(x, kernel, dy: int, dx: int, mode: str = "circular", activation: str = "none",
                 negative_slope: float = 0.01) -> dict:
    """conv(shift(x)) against shift(conv(x)); ``mode`` is both the padding and the shift.

    With "circular" the residual is exactly zero: every output pixel is the same sum of
    the same products. With "zeros" it is zero except near the borders, where the
    shifted picture lost or gained pixels.
    """
    x = _check_gray(x)
    a = feature(shift(x, dy, dx, mode), kernel, mode, activation, negative_slope)
    b = shift(feature(x, kernel, mode, activation, negative_slope), dy, dx, mode)
    res = a - b
    return {"conv_of_shift": a, "shift_of_conv": b, "residual": res, "max_abs": float(np.max(np.abs(res)))}


def border_reach(residual, tol: float = 0.0) -> int:
    """How far in from the nearest border the residual reaches: the largest distance (in
    pixels, 0 = on the border) of an entry with |value| > tol; −1 when it is zero everywhere."""
    r = np.asarray(residual)
    h, w = r.shape[-2:]
    rows, cols = np.nonzero(np.abs(r) > tol)[-2:]
    if rows.size == 0:
        return -1
    return int(np.max(np.minimum(np.minimum(rows, h - 1 - rows), np.minimum(cols, w - 1 - cols))))


def relative_change(a, b) -> float:
    """‖a − b‖ / ‖b‖ (0 when both are zero)."""
    nb = float(np.linalg.norm(b))
    d = float(np.linalg.norm(np.asarray(a, dtype=np.float64) - b))
    return d / nb if nb > 0 else (0.0 if d == 0 else float("inf"))


def unchanged_fraction(a, b, active: float = 0.01) -> float:
    """Of the entries that matter (|value| above ``active`` × the largest in either map), the
    fraction whose value did not change at all (to 1e-6 of that largest value)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    scale = max(float(np.max(np.abs(a))) if a.size else 0.0, float(np.max(np.abs(b))) if b.size else 0.0)
    if scale == 0:
        return 1.0
    mask = (np.abs(a) > active * scale) | (np.abs(b) > active * scale)
    if not mask.any():
        return 1.0
    return float(np.mean(np.abs(a - b)[mask] <= 1e-6 * scale))


def pooled_shift(x, kernel, dy: int, dx: int, pool_mode: str = "max", size: int = 2, stride: int | None = None,
                 mode: str = "circular", activation: str = "relu", negative_slope: float = 0.01) -> dict:
    """Pool the feature map of the input and of the shifted input, and compare.

    ``change`` is the relative change of the pooled map, ``map_change`` that of the
    unpooled feature map; ``unchanged`` / ``map_unchanged`` the fraction of active values
    that kept exactly the same value. When the shift is a multiple of the stride, the pooled map of
    the shifted input is also compared with the pooled map shifted by shift / stride:
    ``coarse_residual`` (exactly zero with circular padding when the stride divides the
    image size).
    """
    x = _check_gray(x)
    s = size if stride is None else stride
    f0 = feature(x, kernel, mode, activation, negative_slope)
    f1 = feature(shift(x, dy, dx, mode), kernel, mode, activation, negative_slope)
    p0, _ = pool2d(f0, pool_mode, size, s)
    p1, _ = pool2d(f1, pool_mode, size, s)
    out = {
        "pooled": p0,
        "pooled_shifted": p1,
        "difference": p1 - p0,
        "change": relative_change(p1, p0),
        "map_change": relative_change(f1, f0),
        "unchanged": unchanged_fraction(p1, p0),
        "map_unchanged": unchanged_fraction(f1, f0),
        "coarse_residual": None,
    }
    if dy % s == 0 and dx % s == 0:
        out["coarse_residual"] = float(np.max(np.abs(p1 - shift(p0, dy // s, dx // s, mode))))
    return out


def invariance_curve(x, kernel, pool_mode: str = "max", size: int = 2, stride: int | None = None,
                     max_shift: int | None = None, direction: tuple[int, int] = (0, 1),
                     mode: str = "circular", activation: str = "relu", negative_slope: float = 0.01) -> dict:
    """How much the feature map and the pooled map change as the input moves by 0, 1, ...,
    ``max_shift`` (default: the pool size) pixels along ``direction`` (dy, dx per step)."""
    x = _check_gray(x)
    max_shift = size if max_shift is None else int(max_shift)
    if max_shift < 0:
        raise ValueError("The largest shift cannot be negative.")
    shifts = np.arange(max_shift + 1)
    rows = [pooled_shift(x, kernel, t * direction[0], t * direction[1], pool_mode, size, stride, mode, activation, negative_slope)
            for t in shifts]
    return {
        "shift": shifts,
        "map_change": np.array([r["map_change"] for r in rows]),
        "pooled_change": np.array([r["change"] for r in rows]),
        "map_unchanged": np.array([r["map_unchanged"] for r in rows]),
        "pooled_unchanged": np.array([r["unchanged"] for r in rows]),
    }
