"""Named kernel presets, validation of a user's kernel, and its rank / separability."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_KERNEL_SIZE = 15


@dataclass(frozen=True)
class Preset:
    name: str
    kernel: np.ndarray
    description: str


def gaussian(size: int = 5, sigma: float = 1.0) -> np.ndarray:
    """Sampled 2-D Gaussian, normalised to sum 1 (an outer product, so rank 1)."""
    if size < 1 or size > MAX_KERNEL_SIZE:
        raise ValueError(f"The Gaussian size must be between 1 and {MAX_KERNEL_SIZE}, got {size}.")
    if not np.isfinite(sigma) or sigma <= 0:
        raise ValueError(f"The Gaussian width σ must be a positive number, got {sigma}.")
    t = np.arange(size) - (size - 1) / 2
    g = np.exp(-(t**2) / (2 * sigma**2))
    g /= g.sum()
    return np.outer(g, g)


def _k(rows) -> np.ndarray:
    return np.array(rows, dtype=np.float64)


_SOBEL_X = _k([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
_PREWITT_X = _k([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]])
_SCHARR_X = _k([[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]])

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset("Identity", _k([[0, 0, 0], [0, 1, 0], [0, 0, 0]]), "Copies the image: the output pixel is the input pixel."),
        Preset(
            "Vertical edge (report)",
            _k([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]]),
            "The report's kernel: right column minus left column, so it responds to vertical edges "
            "(positive for dark→bright going right, negative for bright→dark).",
        ),
        Preset("Box blur 3×3", np.full((3, 3), 1 / 9), "Average of the 3×3 neighbourhood: smooths noise and detail."),
        Preset("Box blur 5×5", np.full((5, 5), 1 / 25), "Average of the 5×5 neighbourhood: a stronger blur."),
        Preset("Gaussian 5×5 (σ=1)", gaussian(5, 1.0), "Weighted average, heavier in the centre: a smooth blur without blocky artefacts."),
        Preset("Sharpen", _k([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]), "Adds the difference from the neighbours back: edges and detail look crisper."),
        Preset("Sobel x", _SOBEL_X, "Horizontal derivative with smoothing: detects vertical edges."),
        Preset("Sobel y", _SOBEL_X.T.copy(), "Vertical derivative with smoothing: detects horizontal edges."),
        Preset("Prewitt x", _PREWITT_X, "Horizontal derivative, plain average across rows: vertical edges."),
        Preset("Prewitt y", _PREWITT_X.T.copy(), "Vertical derivative, plain average across columns: horizontal edges."),
        Preset("Scharr x", _SCHARR_X, "Like Sobel x with weights tuned for rotation invariance: vertical edges."),
        Preset("Scharr y", _SCHARR_X.T.copy(), "Like Sobel y with weights tuned for rotation invariance: horizontal edges."),
        Preset("Laplacian (4-neighbour)", _k([[0, 1, 0], [1, -4, 1], [0, 1, 0]]), "Second derivative: zero on flat areas and ramps, strong at edges and points."),
        Preset("Laplacian (8-neighbour)", _k([[1, 1, 1], [1, -8, 1], [1, 1, 1]]), "Second derivative including diagonals: edges in every direction."),
        Preset("Emboss", _k([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]), "A directional derivative plus the image: looks like a relief lit from the top left."),
        Preset("Outline", _k([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]), "Pixel minus its neighbours: dark except along outlines."),
    ]
}

DEFAULT_PRESET = "Vertical edge (report)"


def preset(name: str) -> np.ndarray:
    """A copy of the named preset's kernel."""
    try:
        return PRESETS[name].kernel.copy()
    except KeyError:
        raise ValueError(f"Unknown kernel preset {name!r}; choose one of: {', '.join(PRESETS)}.") from None


# The largest magnitude a typed cell may have: beyond it products and sums of a few hundred cells overflow
# float64 (1e308 · 2 = inf) and every number on the page becomes ∞ or nan.
MAX_ABS_VALUE = 1e6


def validate_kernel(values, max_size: int = MAX_KERNEL_SIZE) -> np.ndarray:
    """Turn a user's grid (nested lists, a DataFrame's values, strings) into a float kernel.

    Raises ValueError naming the first problem: an empty or non-numeric cell, NaN or
    infinity, a magnitude above MAX_ABS_VALUE, or a size outside 1×1 .. max_size×max_size.
    """
    arr = np.asarray(values, dtype=object)
    if arr.ndim != 2:
        raise ValueError(f"A kernel is a 2-D grid of numbers; got {arr.ndim} dimension(s).")
    rows, cols = arr.shape
    if rows < 1 or cols < 1:
        raise ValueError("The kernel is empty: it needs at least one row and one column.")
    if rows > max_size or cols > max_size:
        raise ValueError(f"The kernel is {rows}×{cols}; the largest allowed is {max_size}×{max_size}.")
    out = np.empty((rows, cols), dtype=np.float64)
    for i in range(rows):
        for j in range(cols):
            v = arr[i, j]
            where = f"row {i + 1}, column {j + 1}"
            if v is None or (isinstance(v, str) and not v.strip()):
                raise ValueError(f"The kernel cell at {where} is empty: type a number there.")
            try:
                f = float(v.strip()) if isinstance(v, str) else float(v)
            except (TypeError, ValueError):
                raise ValueError(f"The kernel cell at {where} is {str(v)[:40]!r}, which is not a number.") from None
            if not np.isfinite(f):
                what = "empty (NaN)" if np.isnan(f) else "infinite"
                raise ValueError(f"The kernel cell at {where} is {what}: every cell needs a finite number.")
            if abs(f) > MAX_ABS_VALUE:
                raise ValueError(f"The kernel cell at {where} is {f:.3g}: numbers up to ±{MAX_ABS_VALUE:.0e} are allowed.")
            out[i, j] = f
    return out


def normalize(kernel: np.ndarray) -> np.ndarray:
    """Divide by the sum so the kernel keeps the mean brightness; refuses a zero sum."""
    k = np.asarray(kernel, dtype=np.float64)
    s = k.sum()
    if abs(s) < 1e-12:
        raise ValueError("This kernel sums to zero (typical of edge detectors), so it cannot be normalized.")
    return k / s


@dataclass(frozen=True)
class Separability:
    rank: int
    singular_values: np.ndarray
    column: np.ndarray | None  # u (kh,) when rank 1
    row: np.ndarray | None  # v (kw,) when rank 1: kernel = outer(column, row)


def separability(kernel, rtol: float = 1e-10) -> Separability:
    """Numerical rank of the kernel by SVD; a rank-1 kernel is split as outer(column, row)."""
    k = np.asarray(kernel, dtype=np.float64)
    u, s, vt = np.linalg.svd(k)
    if s.size == 0 or s[0] == 0:
        return Separability(0, s, None, None)
    rank = int(np.sum(s > rtol * s[0]))
    if rank != 1:
        return Separability(rank, s, None, None)
    col = u[:, 0] * np.sqrt(s[0])
    row = vt[0] * np.sqrt(s[0])
    # Make the larger-magnitude entries positive for readability.
    if col[np.argmax(np.abs(col))] < 0:
        col, row = -col, -row
    return Separability(1, s, col, row)
