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
from cnn_viz.common.metrics import relative_error
from cnn_viz.pooling.stages import activate, pool2d

# The report's example sizes.
REPORT_INPUT = (128, 128, 3)  # H, W, C
REPORT_HIDDEN = 512
REPORT_KERNEL = 3
REPORT_FEATURES = 20
# Input sides of the parameter curve: 8 to 2048 pixels, evenly spaced on a log scale.
CURVE_SIDES = np.unique(np.geomspace(8, 2048, 60).astype(int))


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


@dataclass(frozen=True)
class Multiplications:
    """Multiply-adds of one forward pass of each layer, and how often each conv weight is used in it."""

    dense: int
    conv: int
    reuse: int


def multiplications(height: int, width: int, channels: int, hidden: int, kernel_size, features: int) -> Multiplications:
    """Multiply-adds of one forward pass ('same' padding, stride 1) and how often each conv weight is reused."""
    kh, kw = _pair(kernel_size, "kernel size")
    dense = dense_params(height, width, channels, hidden).weights
    conv = height * width * kh * kw * channels * features
    return Multiplications(dense, conv, height * width)


@dataclass(frozen=True)
class ParamCurve:
    """Weights of both layers for square inputs of each side in ``side``."""

    side: np.ndarray
    dense: np.ndarray
    conv: np.ndarray

    @property
    def csv(self) -> np.ndarray:
        """Columns side, dense, conv."""
        return np.stack([self.side, self.dense, self.conv], axis=1)


def param_curve(sides, channels: int, hidden: int, kernel_size, features: int) -> ParamCurve:
    """Both weight counts for square inputs of each side length in ``sides``."""
    sides = np.asarray(sides, dtype=np.int64)
    dense = np.array([dense_params(s, s, channels, hidden).weights for s in sides], dtype=np.int64)
    conv = np.full(sides.shape, conv_params(kernel_size, channels, features).weights, dtype=np.int64)
    return ParamCurve(sides, dense, conv)


@dataclass(frozen=True)
class ParameterSharing:
    """A fully connected layer against a conv layer on the same H×W×C input."""

    height: int
    width: int
    channels: int
    hidden: int
    kernel: int
    features: int
    dense: ParamCount
    conv: ParamCount
    mults: Multiplications
    curve: ParamCurve  # both counts for square inputs of the CURVE_SIDES

    @property
    def ratio(self) -> float:
        """How many times fewer weights the conv layer has."""
        return self.dense.weights / self.conv.weights

    @property
    def side(self) -> int:
        """The side of a square input with as many pixels, where the curve marks these sizes."""
        return int(round(np.sqrt(self.height * self.width)))

    def describe(self) -> str:
        """Both counts written out, and what parameter sharing buys (Markdown)."""
        h, w, c, n, k, f = self.height, self.width, self.channels, self.hidden, self.kernel, self.features
        d, cv, m = self.dense, self.conv, self.mults
        return (
            f"A {h}×{w}×{c} input into {n:,} hidden units: {h}·{w}·{c}·{n} = **{d.weights:,} weights** "
            f"(+{d.biases:,} biases). A bank of {f} kernels of {k}×{k}×{c}: {k}·{k}·{c}·{f} = **{cv.weights:,} weights** "
            f"(+{f} biases).\n\n**Parameter sharing**: the conv layer applies those {cv.weights:,} weights at all {m.reuse:,} "
            f"positions, {m.conv:,} multiplications in one pass, so it still does a lot of work with very few numbers to learn "
            f"(and to store: {4 * cv.total:,} bytes against {4 * d.total / 2**20:,.1f} MB in float32)."
        )


def parameter_sharing(height: int, width: int, channels: int, hidden: int, kernel: int, features: int) -> ParameterSharing:
    """Weights and multiply-adds of a dense layer (``hidden`` units) and of a conv layer (``features``
    kernels of ``kernel``×``kernel``×C) on an H×W×C input, and both counts against the input side."""
    return ParameterSharing(
        height, width, channels, hidden, kernel, features,
        dense_params(height, width, channels, hidden), conv_params(kernel, channels, features),
        multiplications(height, width, channels, hidden, kernel, features),
        param_curve(CURVE_SIDES, channels, hidden, kernel, features),
    )


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


@dataclass(frozen=True)
class StackFields:
    """The receptive field of every layer of a stack at one point of the input."""

    layers: tuple[Layer, ...]
    boxes: tuple[FieldBox, ...]  # the input first

    @property
    def table(self) -> dict[str, list]:
        """Column by column: layer, its output size, its field, and how many inputs (per map) a unit reads."""
        return {
            "layer": [b.layer for b in self.boxes],
            "output": [f"{b.out_shape[0]}×{b.out_shape[1]}" for b in self.boxes],
            "field": [f"{b.size}×{b.size}" for b in self.boxes],
            "inputs/unit": [1] + [lay.size**2 for lay in self.layers],
        }


def stack_fields(name: str, blocks: int, shape, point) -> StackFields:
    """``boxes_at`` for the page's stack ``name`` of ``blocks`` blocks (ValueError when it does not fit)."""
    layers = stack(name, blocks)
    return StackFields(tuple(layers), tuple(boxes_at(layers, shape, point)))


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


def _exactly(v: float) -> str:
    return "0 exactly" if v == 0 else f"{v:.3g}"


@dataclass(frozen=True)
class Equivariance:
    """conv(shift(x)) and shift(conv(x)), and their difference."""

    conv_of_shift: np.ndarray
    shift_of_conv: np.ndarray
    residual: np.ndarray
    max_abs: float

    @property
    def maps(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.conv_of_shift, self.shift_of_conv, self.residual

    @property
    def max_abs_text(self) -> str:
        return _exactly(self.max_abs)

    @property
    def reach(self) -> int:
        """``border_reach`` of the residual: −1 when it is zero everywhere."""
        return border_reach(self.residual)

    @property
    def reach_text(self) -> str:
        """How many pixels in from the border the differences reach, "nowhere" when there are none."""
        return "nowhere" if self.reach < 0 else f"{self.reach + 1} px"


def equivariance(x, kernel, dy: int, dx: int, mode: str = "circular", activation: str = "none",
                 negative_slope: float = 0.01) -> Equivariance:
    """conv(shift(x)) against shift(conv(x)); ``mode`` is both the padding and the shift.

    With "circular" the residual is exactly zero: every output pixel is the same sum of
    the same products. With "zeros" it is zero except near the borders, where the
    shifted picture lost or gained pixels.
    """
    x = _check_gray(x)
    a = feature(shift(x, dy, dx, mode), kernel, mode, activation, negative_slope)
    b = shift(feature(x, kernel, mode, activation, negative_slope), dy, dx, mode)
    res = a - b
    return Equivariance(a, b, res, float(np.max(np.abs(res))))


def border_reach(residual, tol: float = 0.0) -> int:
    """How far in from the nearest border the residual reaches: the largest distance (in
    pixels, 0 = on the border) of an entry with |value| > tol; −1 when it is zero everywhere."""
    r = np.asarray(residual)
    h, w = r.shape[-2:]
    rows, cols = np.nonzero(np.abs(r) > tol)[-2:]
    if rows.size == 0:
        return -1
    return int(np.max(np.minimum(np.minimum(rows, h - 1 - rows), np.minimum(cols, w - 1 - cols))))


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


@dataclass(frozen=True)
class PooledShift:
    """The pooled feature map of an image and of the image shifted, compared."""

    pooled: np.ndarray
    pooled_shifted: np.ndarray
    difference: np.ndarray
    change: float  # relative change of the pooled map
    map_change: float  # ... and of the feature map before pooling
    unchanged: float  # share of the active pooled values that kept exactly their value
    map_unchanged: float
    coarse_shift: tuple[int, int] | None  # the shift ÷ the stride, when the stride divides it
    coarse_residual: float | None  # pool(shifted) against pool shifted by coarse_shift

    @property
    def maps(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.pooled, self.pooled_shifted, self.difference

    @property
    def coarse_text(self) -> str:
        """The coarse residual as the page writes it ("" when the stride does not divide the shift)."""
        return "" if self.coarse_residual is None else _exactly(self.coarse_residual)


def pooled_shift(x, kernel, dy: int, dx: int, pool_mode: str = "max", size: int = 2, stride: int | None = None,
                 mode: str = "circular", activation: str = "relu", negative_slope: float = 0.01) -> PooledShift:
    """Pool the feature map of the input and of the shifted input, and compare.

    ``change`` is the relative change of the pooled map, ``map_change`` that of the
    unpooled feature map; ``unchanged`` / ``map_unchanged`` the fraction of active values
    that kept exactly the same value. When the shift is a multiple of the stride, the pooled map of
    the shifted input is also compared with the pooled map shifted by shift / stride
    (``coarse_shift``): ``coarse_residual`` (exactly zero with circular padding when the stride
    divides the image size), else both are None.
    """
    x = _check_gray(x)
    s = size if stride is None else stride
    f0 = feature(x, kernel, mode, activation, negative_slope)
    f1 = feature(shift(x, dy, dx, mode), kernel, mode, activation, negative_slope)
    p0, _ = pool2d(f0, pool_mode, size, s)
    p1, _ = pool2d(f1, pool_mode, size, s)
    coarse, residual = None, None
    if dy % s == 0 and dx % s == 0:
        coarse = (dy // s, dx // s)
        residual = float(np.max(np.abs(p1 - shift(p0, *coarse, mode))))
    return PooledShift(p0, p1, p1 - p0, relative_error(p1, p0), relative_error(f1, f0),
                       unchanged_fraction(p1, p0), unchanged_fraction(f1, f0), coarse, residual)


# The page's directions for the shift curve: (dy, dx) per step.
SHIFT_DIRECTIONS = {"right": (0, 1), "down": (1, 0), "diagonal": (1, 1)}


@dataclass(frozen=True)
class InvarianceCurve:
    """How much the feature map and the pooled map change for each shift 0, 1, ... pixels."""

    shift: np.ndarray
    map_change: np.ndarray
    pooled_change: np.ndarray
    map_unchanged: np.ndarray
    pooled_unchanged: np.ndarray

    @property
    def csv(self) -> np.ndarray:
        """Columns shift, map change, pooled change, map unchanged, pooled unchanged."""
        return np.stack([self.shift, self.map_change, self.pooled_change, self.map_unchanged, self.pooled_unchanged], axis=1)

    def describe(self) -> str:
        """What the curve shows at a 1-pixel shift, in the report's words (Markdown)."""
        one = 1 if len(self.shift) > 1 else 0
        return (
            f"The shift grows from 0 to {int(self.shift[-1])} pixels. At 1 pixel the feature map changes by "
            f"{100 * self.map_change[one]:.0f}% but the pooled map by {100 * self.pooled_change[one]:.0f}%, and "
            f"{100 * self.pooled_unchanged[one]:.0f}% of the pooled values do not change at all (feature map: "
            f"{100 * self.map_unchanged[one]:.0f}%): as the report says, after pooling the output is less likely to change "
            "if a feature moves slightly. Max pooling keeps a value as long as the winner stays inside its window. When the shift "
            "reaches the stride the pooled map has moved by a whole cell: then it is equivariant on its coarser grid, not unchanged."
        )


def invariance_curve(x, kernel, pool_mode: str = "max", size: int = 2, stride: int | None = None,
                     max_shift: int | None = None, direction: tuple[int, int] = (0, 1),
                     mode: str = "circular", activation: str = "relu", negative_slope: float = 0.01) -> InvarianceCurve:
    """How much the feature map and the pooled map change as the input moves by 0, 1, ...,
    ``max_shift`` (default: the pool size) pixels along ``direction`` (dy, dx per step)."""
    x = _check_gray(x)
    max_shift = size if max_shift is None else int(max_shift)
    if max_shift < 0:
        raise ValueError("The largest shift cannot be negative.")
    shifts = np.arange(max_shift + 1)
    rows = [pooled_shift(x, kernel, t * direction[0], t * direction[1], pool_mode, size, stride, mode, activation, negative_slope)
            for t in shifts]
    return InvarianceCurve(
        shifts,
        np.array([r.map_change for r in rows]),
        np.array([r.change for r in rows]),
        np.array([r.map_unchanged for r in rows]),
        np.array([r.unchanged for r in rows]),
    )
