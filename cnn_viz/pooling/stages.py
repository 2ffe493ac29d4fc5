"""The stages after a convolution: activation (ReLU, leaky ReLU) and pooling (max, average).

NumPy only, so the page that uses it does not pay for importing torch; the tests check
every function against ``torch.nn.functional``.

Arrays are (H, W) or (C, H, W) (any number of leading axes); pooling acts on the last
two.  ``max_pool2d`` also returns the position of each window's winner exactly as
torch's ``return_indices=True`` does: the flat index ``row * W + col`` into the
*unpadded* input map of the same channel, the first maximum in row-major order when
several values tie.

``run_pipeline`` chains the stages of one or two CNN layers over a bank of kernels:
input -> conv -> activation -> pool [-> conv -> activation -> pool], and returns every
stage's maps with their shapes. ``pipeline`` runs it for the page: a ``Bank`` of kernels
and the page's ``Settings`` in, a ``Pipeline`` out (the stages, and the message of a
setting that cannot be computed), with what the page shows about it (the stage table,
one pooling window up close: ``PoolDetail``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, fields

import numpy as np

from cnn_viz.common import kernels as kernel_presets
from cnn_viz.common.conv import _as_float_array, _pair, conv2d
from cnn_viz.figures.palette import largest_abs

ACTIVATIONS = ("relu", "leaky", "none")
POOLS = ("max", "avg")
# How the page's radio buttons name the choices (the stages have their own names, ACT_NAMES below).
ACTIVATION_CHOICES = {"relu": "ReLU", "none": "None", "leaky": "Leaky ReLU"}
POOL_CHOICES = {"max": "Max", "avg": "Average"}
REPORT_KERNEL = "Vertical edge (report)"
# The edge detectors the page starts with: vertical and horizontal edges, then a pair of
# opposite-sign Laplacians, so that ReLU visibly keeps a different side in each.
DEFAULT_BANK = (REPORT_KERNEL, "Prewitt y", "Laplacian (4-neighbour)", "Outline")


# ----------------------------------------------------------------------------- activations


def relu(x) -> np.ndarray:
    """max(x, 0), elementwise (``torch.nn.functional.relu``)."""
    x = _as_float_array(x, "feature map")
    return np.maximum(x, 0, dtype=x.dtype)


def leaky_relu(x, negative_slope: float = 0.01) -> np.ndarray:
    """x where x >= 0, slope·x elsewhere (``torch.nn.functional.leaky_relu``, default slope 0.01)."""
    x = _as_float_array(x, "feature map")
    if not np.isfinite(negative_slope):
        raise ValueError(f"The leaky slope must be a finite number, got {negative_slope}.")
    return np.where(x > 0, x, x * x.dtype.type(negative_slope))


def activate(x, kind: str = "relu", negative_slope: float = 0.01) -> np.ndarray:
    """Apply the named activation: "relu", "leaky" (leaky ReLU) or "none" (identity)."""
    if kind == "relu":
        return relu(x)
    if kind == "leaky":
        return leaky_relu(x, negative_slope)
    if kind == "none":
        return _as_float_array(x, "feature map")
    raise ValueError(f"The activation must be one of {', '.join(ACTIVATIONS)}; got {kind!r}.")


# ----------------------------------------------------------------------------- pooling


def pool_output_size(n: int, k: int, stride: int, padding: int = 0, dilation: int = 1, ceil_mode: bool = False) -> int:
    """Length of a pooled axis, with torch's rules (``pooling_output_shape`` in ATen).

    floor((n + 2p - d(k-1) - 1) / s) + 1, or ceil(...) with ``ceil_mode`` as long as the
    last window still starts inside the input or its left padding. Raises ValueError when
    the window does not fit or the padding exceeds half the window, as torch does.
    """
    for value, name in ((k, "pooling size"), (stride, "pooling stride"), (dilation, "pooling dilation")):
        if value < 1:
            raise ValueError(f"The {name} must be at least 1, got {value}.")
    if padding < 0:
        raise ValueError(f"The pooling padding cannot be negative, got {padding}.")
    span = dilation * (k - 1) + 1
    if padding > k // 2:  # torch's max_pool2d checks the undilated size
        raise ValueError(
            f"The pooling padding ({padding}) can be at most half the window ({k} → {k // 2}): "
            "otherwise a window could see nothing but padding."
        )
    num = n + 2 * padding - span + (stride - 1 if ceil_mode else 0)
    out = num // stride + 1
    if ceil_mode and (out - 1) * stride >= n + padding:
        out -= 1
    if out < 1:
        raise ValueError(
            f"The pooling window ({span} pixels) is larger than the map it pools ({n} pixels"
            + (f" + 2×{padding} padding" if padding else "")
            + "): choose a smaller pooling size or pool an earlier, larger map."
        )
    return out


def _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode):
    x = _as_float_array(x, "feature map")
    if x.ndim < 2:
        raise ValueError(f"Pooling needs a map with at least two axes (H, W); got shape {x.shape}.")
    if x.shape[-1] == 0 or x.shape[-2] == 0:
        raise ValueError("The map to pool is empty.")
    k = _pair(kernel_size, "pooling size")
    s = k if stride is None else _pair(stride, "pooling stride")
    p = _pair(padding, "pooling padding")
    d = _pair(dilation, "pooling dilation")
    h, w = x.shape[-2:]
    out = (
        pool_output_size(h, k[0], s[0], p[0], d[0], ceil_mode),
        pool_output_size(w, k[1], s[1], p[1], d[1], ceil_mode),
    )
    return x, k, s, p, d, out


def _padded(x, p, k, s, d, out, fill):
    """Pad with ``fill`` on every side, enough for the last (ceil-mode) window too."""
    h, w = x.shape[-2:]
    extra_h = max(0, (out[0] - 1) * s[0] + d[0] * (k[0] - 1) + 1 - (h + 2 * p[0]))
    extra_w = max(0, (out[1] - 1) * s[1] + d[1] * (k[1] - 1) + 1 - (w + 2 * p[1]))
    if not (p[0] or p[1] or extra_h or extra_w):
        return x
    widths = [(0, 0)] * (x.ndim - 2) + [(p[0], p[0] + extra_h), (p[1], p[1] + extra_w)]
    return np.pad(x, widths, mode="constant", constant_values=fill)


def _tap_view(xp, m, n, s, d, out):
    r0, c0 = m * d[0], n * d[1]
    return xp[..., r0 : r0 + s[0] * (out[0] - 1) + 1 : s[0], c0 : c0 + s[1] * (out[1] - 1) + 1 : s[1]]


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False):
    """Max pooling exactly as ``torch.nn.functional.max_pool2d(..., return_indices=True)``.

    Returns ``(values, indices)``: the maximum of every window, and where it was, as the
    flat index ``row * W + col`` into the unpadded (H, W) map (int64). Ties go to the
    first maximum in row-major order inside the window, as in torch. ``stride`` defaults
    to the window size; padding counts as minus infinity, so it never wins.
    """
    x, k, s, p, d, out = _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode)
    h, w = x.shape[-2:]
    xp = _padded(x, p, k, s, d, out, -np.inf)
    best = np.array(_tap_view(xp, 0, 0, s, d, out), order="C", copy=True)  # a copy: it is written to
    tap = np.zeros(best.shape, dtype=np.int32)
    better = np.empty(best.shape, dtype=bool)
    for t in range(1, k[0] * k[1]):
        view = np.ascontiguousarray(_tap_view(xp, t // k[1], t % k[1], s, d, out))  # contiguous: faster below (bench/)
        np.greater(view, best, out=better)  # strict: an earlier tap keeps a tie, as in torch
        np.maximum(best, view, out=best)
        np.putmask(tap, better, t)
    # Flat input index of each window's winner: window origin + the winning tap's offset.
    origin = (np.arange(out[0]) * s[0] - p[0])[:, None] * w + (np.arange(out[1]) * s[1] - p[1])[None, :]
    offset = np.array([(m * d[0]) * w + n * d[1] for m in range(k[0]) for n in range(k[1])], dtype=np.int64)
    return best, origin + offset[tap]


def _avg_divisors(n, k, s, p, out, count_include_pad):
    """Per output position along one axis: how many cells the mean divides by (torch's rule)."""
    start = np.arange(out) * s - p
    end = np.minimum(start + k, n + p)
    pool = end - start  # the window clipped to the padded input
    valid = np.minimum(end, n) - np.maximum(start, 0)
    return pool if count_include_pad else valid


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad: bool = True) -> np.ndarray:
    """Average pooling exactly as ``torch.nn.functional.avg_pool2d``.

    Zero padding is included in the mean by default (``count_include_pad=True``), as in
    torch; in ``ceil_mode`` the last windows are clipped to the padded input.
    """
    x, k, s, p, d, out = _pool_geometry(x, kernel_size, stride, padding, 1, ceil_mode)
    h, w = x.shape[-2:]
    xp = _padded(x, p, k, s, d, out, 0.0)
    total = np.zeros(x.shape[:-2] + out, dtype=np.float64)
    for m in range(k[0]):
        for n in range(k[1]):
            total += _tap_view(xp, m, n, s, d, out)
    div_r = _avg_divisors(h, k[0], s[0], p[0], out[0], count_include_pad)
    div_c = _avg_divisors(w, k[1], s[1], p[1], out[1], count_include_pad)
    return (total / (div_r[:, None] * div_c[None, :])).astype(x.dtype)


def pool2d(x, mode: str, kernel_size, stride=None, padding=0):
    """``(values, indices)`` of max pooling, or ``(values, None)`` of average pooling."""
    if mode == "max":
        return max_pool2d(x, kernel_size, stride, padding)
    if mode == "avg":
        return avg_pool2d(x, kernel_size, stride, padding), None
    raise ValueError(f"The pooling must be 'max' or 'avg'; got {mode!r}.")


@dataclass(frozen=True)
class PoolWindow:
    """One pooling window of a 2-D map, for showing what the pooling did there."""

    out_pos: tuple[int, int]  # (i, j) in the pooled map
    rows: np.ndarray  # input row of each window row (may be < 0 or >= H in the padding)
    cols: np.ndarray  # input column of each window column
    values: np.ndarray  # (kh, kw) the window's values; NaN where it lies in the padding
    value: float  # what lands at out_pos: the max or the mean
    winner: tuple[int, int] | None  # (row, col) of the max in the input map (max pooling)
    divisor: int | None  # what the sum was divided by (average pooling)

    @property
    def total(self) -> float:
        """The sum of the window's cells inside the map (padding adds nothing)."""
        return float(np.nansum(self.values))

    @property
    def has_padding(self) -> bool:
        return bool(np.isnan(self.values).any())

    @property
    def csv(self) -> np.ndarray:
        """The window's numbers with the padding cells as 0, for a CSV download."""
        return np.nan_to_num(self.values, nan=0.0)

    def describe(self) -> str:
        """Where the window is in the input map, what it computes and where that lands (Markdown)."""
        where = f"Rows {self.rows[0]}–{self.rows[-1]}, columns {self.cols[0]}–{self.cols[-1]} of the input map."
        lands = f"it lands in the pooled map at **({self.out_pos[0]}, {self.out_pos[1]})**."
        if self.winner is not None:
            return f"{where} **Largest value {self.value:.4g}** at row {self.winner[0]}, column {self.winner[1]}: {lands}"
        return f"{where} **Mean = {self.total:.4g} / {self.divisor} = {self.value:.4g}**: {lands}"


def pool_window(fmap, out_pos, mode: str, kernel_size, stride=None, padding=0) -> PoolWindow:
    """The window of ``fmap`` (H, W) that produces pooled entry ``out_pos``, and its result."""
    fmap = _as_float_array(fmap, "feature map")
    if fmap.ndim != 2:
        raise ValueError(f"Pick one map (H, W) to look into; got shape {fmap.shape}.")
    _, k, s, p, _, out = _pool_geometry(fmap, kernel_size, stride, padding, 1, False)
    i, j = (int(v) for v in out_pos)
    if not (0 <= i < out[0] and 0 <= j < out[1]):
        raise ValueError(f"The pooled map is {out[0]}×{out[1]}; there is no window at ({i}, {j}).")
    h, w = fmap.shape
    rows = i * s[0] - p[0] + np.arange(k[0])
    cols = j * s[1] - p[1] + np.arange(k[1])
    inside = (rows[:, None] >= 0) & (rows[:, None] < h) & (cols[None, :] >= 0) & (cols[None, :] < w)
    values = np.full(k, np.nan)
    values[inside] = fmap[np.clip(rows, 0, h - 1)[:, None], np.clip(cols, 0, w - 1)[None, :]][inside]
    if mode == "max":
        flat = np.where(inside, values, -np.inf).ravel()
        t = int(np.argmax(flat))  # first maximum in row-major order, as torch
        return PoolWindow((i, j), rows, cols, values, float(flat[t]), (int(rows[t // k[1]]), int(cols[t % k[1]])), None)
    if mode == "avg":
        div = int(_avg_divisors(h, k[0], s[0], p[0], out[0], True)[i] * _avg_divisors(w, k[1], s[1], p[1], out[1], True)[j])
        return PoolWindow((i, j), rows, cols, values, float(np.nansum(values) / div), None, div)
    raise ValueError(f"The pooling must be 'max' or 'avg'; got {mode!r}.")


def indices_to_rowcol(indices: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat torch-style pooling indices -> (rows, cols) in the input map."""
    return np.divmod(np.asarray(indices, dtype=np.int64), int(width))


def argmax_position(a: np.ndarray) -> tuple[int, int]:
    """(row, column) of the largest value of a 2-D map, the first one in row-major order."""
    a = np.asarray(a)
    i, j = np.unravel_index(int(np.argmax(a)), a.shape)
    return int(i), int(j)


# ----------------------------------------------------------------------------- kernel banks


def make_bank(kernel_list) -> np.ndarray:
    """Stack 2-D kernels of possibly different sizes into one (F, kh, kw) bank.

    Smaller kernels are zero-padded to the largest size, centred (the extra row or
    column goes to the bottom / right), which leaves an odd kernel's "same" output
    unchanged.
    """
    ks = [np.asarray(k, dtype=np.float64) for k in kernel_list]
    if not ks:
        raise ValueError("The kernel bank is empty: pick at least one kernel.")
    for k in ks:
        if k.ndim != 2 or k.size == 0:
            raise ValueError(f"Every kernel of the bank must be a non-empty 2-D grid; got shape {k.shape}.")
    kh = max(k.shape[0] for k in ks)
    kw = max(k.shape[1] for k in ks)
    bank = np.zeros((len(ks), kh, kw))
    for f, k in enumerate(ks):
        r0, c0 = (kh - k.shape[0]) // 2, (kw - k.shape[1]) // 2
        bank[f, r0 : r0 + k.shape[0], c0 : c0 + k.shape[1]] = k
    return bank


@dataclass(frozen=True)
class Bank:
    """The kernels of a layer, each at its own size, and their labels."""

    kernels: tuple[np.ndarray, ...]
    labels: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.kernels)

    @property
    def weights(self) -> np.ndarray:
        """(F, kh, kw): the kernels zero-padded to one size (``make_bank``; an empty bank raises)."""
        return make_bank(self.kernels)

    def kernel(self, i: int | None) -> np.ndarray:
        """Kernel ``i`` at its own size; the report's vertical-edge kernel when there is no kernel ``i``."""
        if i is not None and 0 <= i < len(self.kernels):
            return self.kernels[i]
        return kernel_presets.preset(REPORT_KERNEL)


def preset_bank(names, with_negatives: bool = False, own=None) -> Bank:
    """The named presets, then ``own`` (a kernel of the user's, labelled "my kernel"), then, with
    ``with_negatives``, the negative −K of each of them (labelled "−(name)")."""
    ks = [kernel_presets.preset(n) for n in names]
    labels = list(names)
    if own is not None:
        ks.append(np.asarray(own, dtype=np.float64))
        labels.append("my kernel")
    if with_negatives:
        ks += [-k for k in ks]
        labels += [f"−({n})" for n in labels]
    return Bank(tuple(ks), tuple(labels))


def lift_bank(bank, in_channels: int) -> np.ndarray:
    """(F, kh, kw) 2-D kernels -> (F, C, kh, kw) weights that apply each kernel to the
    channel mean: every channel gets the kernel divided by C."""
    bank = np.asarray(bank, dtype=np.float64)
    if bank.ndim == 4:
        if bank.shape[1] != in_channels:
            raise ValueError(f"The kernels expect {bank.shape[1]} input maps but there are {in_channels}.")
        return bank
    if bank.ndim != 3:
        raise ValueError(f"A kernel bank is (F, kh, kw) or (F, C, kh, kw); got shape {bank.shape}.")
    return np.repeat(bank[:, None] / in_channels, in_channels, axis=1)


def random_bank(out_maps: int, in_maps: int, size: int = 3, seed: int = 0) -> np.ndarray:
    """(F, C, k, k) weights drawn like an untrained layer (He normal: std sqrt(2 / (C k²)))."""
    if out_maps < 1 or in_maps < 1 or size < 1:
        raise ValueError("A random layer needs at least one output map, one input map and a 1×1 kernel.")
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, np.sqrt(2.0 / (in_maps * size * size)), size=(out_maps, in_maps, size, size))


# ----------------------------------------------------------------------------- the pipeline


# What each kind of stage does, said under its maps.
STAGE_EXPLAIN = {
    "input": "The input: one map per channel (gray, or red, green and blue when colour is kept).",
    "conv": "Each kernel slides over all input maps and adds their responses: one map per kernel. "
            "An edge kernel answers with both signs, red on one side of an edge and blue on the other.",
    "act": "The activation acts on every value alone: ReLU sets the negatives (blue) to zero, "
           "leaky ReLU shrinks them, 'None' leaves them.",
    "pool": "Pooling summarises each window by one number, so the map shrinks; with stride 2 each side halves.",
}


@dataclass(frozen=True)
class Stage:
    """One stage of the pipeline: its maps (C, H, W) and what they are."""

    name: str  # "Input", "Conv 1", "ReLU 1", "Max pool 1", ...
    kind: str  # "input", "conv", "act", "pool"
    maps: np.ndarray  # (C, H, W)
    labels: list[str]
    indices: np.ndarray | None = None  # max pooling: flat argmax into the previous stage's maps
    params: int = 0  # learnable numbers in this stage (weights + biases)
    note: str = ""

    @property
    def shape(self) -> tuple[int, int, int]:
        """(H, W, C), the way the report writes a layer's size."""
        c, h, w = self.maps.shape
        return h, w, c

    @property
    def shape_text(self) -> str:
        h, w, c = self.shape
        return f"{h}×{w}×{c}"

    @property
    def size(self) -> int:
        """How many numbers the stage holds (H·W·C)."""
        return int(self.maps.size)

    @property
    def caption(self) -> str:
        """Its size, its range of values and what it does (Markdown)."""
        c, h, w = self.maps.shape
        return (f"**{self.name}: {self.shape_text}** ({c} maps of {h}×{w}), values from {self.maps.min():.3g} to "
                f"{self.maps.max():.3g}, one colour scale for all. {STAGE_EXPLAIN[self.kind]}")


ACT_NAMES = {"relu": "ReLU", "leaky": "Leaky ReLU", "none": "No activation"}
POOL_NAMES = {"max": "Max pool", "avg": "Avg pool"}


class PipelineError(ValueError):
    """A stage could not be computed; ``stages`` holds the ones before it, so a page can
    still show them next to the message."""

    def __init__(self, message: str, stages: list[Stage]):
        super().__init__(message)
        self.stages = stages


def _layer(stages, x, weights, labels, n, *, conv_padding, padding_mode, activation, negative_slope, pool, pool_size, pool_stride, pool_padding):
    f, c, kh, kw = weights.shape
    name = f"Conv {n}"
    try:
        fm = conv2d(x, weights, padding=conv_padding, padding_mode=padding_mode)
        stages.append(Stage(name, "conv", fm, labels, params=weights.size, note=f"{f} kernels of {kh}×{kw}×{c}"))
        y = activate(fm, activation, negative_slope)
        if activation != "none":
            stages.append(Stage(f"{ACT_NAMES[activation]} {n}", "act", y, labels, note=f"{ACT_NAMES[activation]} on every value"))
        if pool is not None:
            name = f"{POOL_NAMES[pool]} {n}"
            values, idx = pool2d(y, pool, pool_size, pool_stride, pool_padding)
            stride_txt = pool_size if pool_stride is None else pool_stride
            stages.append(Stage(name, "pool", values, labels, indices=idx, note=f"{pool_size}×{pool_size} windows, stride {stride_txt}"))
            y = values
    except PipelineError:
        raise
    except ValueError as exc:
        raise PipelineError(f"{name}: {exc}", stages) from exc
    return y


def run_pipeline(
    image,
    bank,
    *,
    labels: list[str] | None = None,
    conv_padding="same",
    padding_mode: str = "zeros",
    activation: str = "relu",
    negative_slope: float = 0.01,
    pool: str | None = "max",
    pool_size: int = 2,
    pool_stride: int | None = 2,
    pool_padding: int = 0,
    bank2=None,
    labels2: list[str] | None = None,
) -> list[Stage]:
    """input -> conv(bank) -> activation -> pool [-> conv(bank2) -> activation -> pool].

    ``image`` is (H, W) or (H, W, 3) in [0, 1]. ``bank`` is (F, kh, kw) (each kernel sees
    the channel mean) or (F, C, kh, kw); ``bank2`` likewise for the second layer, whose
    inputs are the F maps of the first. ``pool=None`` skips pooling. No biases, as in the
    report's hand-made edge example. Returns every stage, input first; a stage that cannot
    be computed (say a pooling window larger than its map) raises PipelineError, which
    carries the stages before it.
    """
    img = _as_float_array(image, "image").astype(np.float32, copy=False)
    if img.ndim == 2:
        x = img[None]
        in_labels = ["gray"]
    elif img.ndim == 3 and img.shape[-1] in (3, 4):
        x = np.ascontiguousarray(np.moveaxis(img[..., :3], -1, 0))
        in_labels = ["red", "green", "blue"]
    else:
        raise ValueError(f"The image must be (H, W) or (H, W, 3); got shape {img.shape}.")
    if pool not in (None, *POOLS):
        raise ValueError(f"The pooling must be 'max', 'avg' or None; got {pool!r}.")
    if activation not in ACTIVATIONS:
        raise ValueError(f"The activation must be one of {', '.join(ACTIVATIONS)}; got {activation!r}.")
    opts = dict(conv_padding=conv_padding, padding_mode=padding_mode, activation=activation, negative_slope=negative_slope,
                pool=pool, pool_size=pool_size, pool_stride=pool_stride, pool_padding=pool_padding)
    stages = [Stage("Input", "input", x, in_labels)]
    w1 = lift_bank(bank, x.shape[0]).astype(np.float32)
    labels = labels or [f"map {i + 1}" for i in range(w1.shape[0])]
    y = _layer(stages, x, w1, labels, 1, **opts)
    if bank2 is not None:
        w2 = lift_bank(bank2, y.shape[0]).astype(np.float32)
        labels2 = labels2 or [f"map {i + 1}" for i in range(w2.shape[0])]
        _layer(stages, y, w2, labels2, 2, **opts)
    return stages


def stages_npz(stages: list[Stage]) -> bytes:
    """Every stage's maps (and max-pool indices) in one NumPy .npz file, for a download."""
    arrays = {}
    for i, st in enumerate(stages):
        key = f"{i:02d}_{st.name.lower().replace(' ', '_')}"
        arrays[key] = st.maps
        if st.indices is not None:
            arrays[key + "_indices"] = st.indices
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


# ----------------------------------------------------------------------------- the page's pipeline


@dataclass(frozen=True)
class SecondLayer:
    """The optional second conv layer: ``maps`` "random" kernels of ``size``×``size`` drawn like an
    untrained layer (``random_bank``), or the layer-1 "bank" again, on the mean of the maps."""

    source: str = "random"
    maps: int = 8
    size: int = 3
    seed: int = 0

    def weights(self, first: Bank) -> tuple[np.ndarray, list[str]]:
        """The layer's weights and labels, on top of the ``first`` layer's maps."""
        if self.source == "random":
            return random_bank(self.maps, len(first), self.size, seed=self.seed), [f"random {i + 1}" for i in range(self.maps)]
        if self.source == "bank":
            return first.weights, [f"{lab} (layer 2)" for lab in first.labels]
        raise ValueError(f"The second layer's kernels are 'random' or 'bank'; got {self.source!r}.")


@dataclass(frozen=True)
class Settings:
    """Everything the page's sidebar sets after the kernel bank (``run_pipeline``'s keywords)."""

    conv_padding: str = "same"
    activation: str = "relu"
    negative_slope: float = 0.01
    pool: str = "max"
    pool_size: int = 2
    pool_stride: int = 2
    pool_padding: int = 0
    second: SecondLayer | None = None

    @property
    def overlap(self) -> str:
        """How neighbouring pooling windows meet: they "overlap", "do not overlap" or "skip pixels"."""
        if self.pool_stride < self.pool_size:
            return "overlap"
        return "do not overlap" if self.pool_stride == self.pool_size else "skip pixels"


EMPTY_BANK = "The kernel bank is empty: pick at least one kernel in the sidebar (or add your own)."


@dataclass(frozen=True)
class PoolDetail:
    """One map of a pooling stage next to the map it pools, to look into one window at a time."""

    source: Stage  # the stage the pooling reads
    pooled: Stage
    channel: int
    settings: Settings

    @property
    def fmap(self) -> np.ndarray:
        return self.source.maps[self.channel]

    @property
    def pooled_map(self) -> np.ndarray:
        return self.pooled.maps[self.channel]

    @property
    def indices(self) -> np.ndarray | None:
        """Max pooling: where each window's winner is (flat indices into ``fmap``); None for average pooling."""
        return None if self.pooled.indices is None else self.pooled.indices[self.channel]

    @property
    def largest(self) -> tuple[int, int]:
        """The window with the largest pooled value, where the page starts."""
        return argmax_position(self.pooled_map)

    @property
    def zmax(self) -> float:
        """One colour scale for the map, the window and the pooled map."""
        return largest_abs(self.fmap)

    def window(self, pos: tuple[int, int]) -> PoolWindow:
        s = self.settings
        return pool_window(self.fmap, pos, s.pool, s.pool_size, s.pool_stride, s.pool_padding)

    @property
    def input_caption(self) -> str:
        """What the map being pooled shows (Markdown)."""
        s, (h, w) = self.settings, self.fmap.shape
        head = (f"**{self.source.name}**, {self.source.labels[self.channel]} ({h}×{w}): the black square is the chosen "
                f"{s.pool_size}×{s.pool_size} window")
        if s.pool == "max":
            return head + (". Every black dot is the winner of a window with something in it, the position max pooling remembers "
                           "(its *argmax*, PyTorch's return_indices); the gold star is this window's.")
        return head + "; average pooling keeps no position, every pixel of the window counts."

    @property
    def caption(self) -> str:
        """What the pooled map is (Markdown)."""
        s = self.settings
        ho, wo = self.pooled_map.shape
        return (f"**{self.pooled.name}** ({ho}×{wo}): each cell is one window's {'maximum' if s.pool == 'max' else 'mean'}. "
                f"With stride {s.pool_stride} and size {s.pool_size} the windows {s.overlap}.")


@dataclass(frozen=True)
class Pipeline:
    """The stages the page shows; ``error`` says why the next one could not be computed."""

    stages: tuple[Stage, ...]
    settings: Settings
    error: str | None = None

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.stages]

    @property
    def most_maps(self) -> int:
        return max((s.maps.shape[0] for s in self.stages), default=0)

    @property
    def default_stage(self) -> int:
        """The stage the page shows first: the first activation (else the conv, else the input)."""
        return next((i for i, s in enumerate(self.stages) if s.kind == "act"), min(1, len(self.stages) - 1))

    @property
    def pool_stages(self) -> list[int]:
        return [i for i, s in enumerate(self.stages) if s.kind == "pool"]

    def table(self, input_name: str) -> dict[str, list]:
        """The stage table, column by column: name, size, numbers held, weights, what it does."""
        return {
            "stage": self.names,
            "H×W×C": [s.shape_text for s in self.stages],
            "numbers": [s.size for s in self.stages],
            "weights": [s.params for s in self.stages],
            "what it does": [input_name if s.kind == "input" else s.note for s in self.stages],
        }

    def pool_detail(self, which: int, channel: int) -> PoolDetail:
        """Map ``channel`` of the pooling stage ``which`` (one of ``pool_stages``) and the map it pools."""
        if which not in self.pool_stages:
            raise ValueError(f"Stage {which} is not a pooling stage.")
        return PoolDetail(self.stages[which - 1], self.stages[which], int(channel), self.settings)


def pipeline(image, bank: Bank, settings: Settings = Settings()) -> Pipeline:
    """``run_pipeline`` of the page: the bank's kernels, then the second layer if ``settings`` has one.

    A setting that cannot be computed (an empty bank, a pooling window larger than its map) is
    no exception here: the Pipeline keeps the stages before it and says what went wrong.
    """
    if not len(bank):
        return Pipeline((), settings, EMPTY_BANK)
    opts = {f.name: getattr(settings, f.name) for f in fields(settings) if f.name != "second"}
    try:
        bank2, labels2 = settings.second.weights(bank) if settings.second is not None else (None, None)
        out = run_pipeline(image, bank.weights, labels=list(bank.labels), bank2=bank2, labels2=labels2, **opts)
    except PipelineError as exc:
        return Pipeline(tuple(exc.stages), settings, str(exc))
    except ValueError as exc:
        return Pipeline((), settings, str(exc))
    return Pipeline(tuple(out), settings)


# ----------------------------------------------------------------------------- the report's edge example


@dataclass(frozen=True)
class EdgeExample:
    """The report's vertical-edge kernel on an image, before and after ReLU."""

    kernel: np.ndarray
    before: np.ndarray
    after: np.ndarray
    positive: float  # share of the pixels > 0 before ReLU
    negative: float  # share < 0
    min: float
    max: float

    @property
    def zmax(self) -> float:
        """One colour scale for before and after."""
        return largest_abs(self.before)


def edge_example(gray, kernel=None) -> EdgeExample:
    """The report's example: the vertical-edge kernel, 3×3 with padding 1, before and after ReLU."""
    kernel = kernel_presets.preset(REPORT_KERNEL) if kernel is None else np.asarray(kernel, dtype=np.float64)
    g = _as_float_array(gray, "image")
    if g.ndim != 2:
        raise ValueError(f"The edge example needs a grayscale image (H, W); got shape {g.shape}.")
    before = conv2d(g, kernel, padding=(kernel.shape[0] // 2, kernel.shape[1] // 2))
    return EdgeExample(kernel, before, relu(before), float(np.mean(before > 0)), float(np.mean(before < 0)),
                       float(before.min()), float(before.max()))
