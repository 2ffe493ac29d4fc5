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
stage's maps with their shapes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnn_viz.common import kernels as kernel_presets
from cnn_viz.common.conv import _as_float_array, _pair, conv2d

ACTIVATIONS = ("relu", "leaky", "none")
POOLS = ("max", "avg")
# The edge detectors the page starts with: vertical and horizontal edges, then a pair of
# opposite-sign Laplacians, so that ReLU visibly keeps a different side in each.
DEFAULT_BANK = ("Vertical edge (report)", "Prewitt y", "Laplacian (4-neighbour)", "Outline")


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
        view = np.ascontiguousarray(_tap_view(xp, t // k[1], t % k[1], s, d, out))  # contiguous: ~2× faster below
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


def preset_bank(names, with_negatives: bool = False) -> tuple[np.ndarray, list[str]]:
    """A bank of named presets (and, optionally, each one's negative −K) with their labels."""
    names = list(names)
    ks = [kernel_presets.preset(n) for n in names]
    labels = list(names)
    if with_negatives:
        ks += [-k for k in ks]
        labels += [f"−({n})" for n in names]
    return make_bank(ks), labels


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


@dataclass
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
            stages.append(Stage(f"{ACT_NAMES[activation]} {n}", "act", y, labels))
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
    import io

    arrays = {}
    for i, st in enumerate(stages):
        key = f"{i:02d}_{st.name.lower().replace(' ', '_')}"
        arrays[key] = st.maps
        if st.indices is not None:
            arrays[key + "_indices"] = st.indices
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def edge_example(gray, kernel=None) -> dict:
    """The report's example: the vertical-edge kernel, 3×3 with padding 1, before and after ReLU."""
    kernel = kernel_presets.preset("Vertical edge (report)") if kernel is None else np.asarray(kernel, dtype=np.float64)
    g = _as_float_array(gray, "image")
    if g.ndim != 2:
        raise ValueError(f"The edge example needs a grayscale image (H, W); got shape {g.shape}.")
    before = conv2d(g, kernel, padding=(kernel.shape[0] // 2, kernel.shape[1] // 2))
    after = relu(before)
    return {
        "kernel": kernel,
        "before": before,
        "after": after,
        "positive": float(np.mean(before > 0)),
        "negative": float(np.mean(before < 0)),
        "min": float(before.min()),
        "max": float(before.max()),
    }
