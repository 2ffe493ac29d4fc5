"""The one family of number formatters for captions, formulas, cells and hover text."""

from __future__ import annotations

import math

import numpy as np

from cnn_viz.common import text


def _special(v: float) -> str | None:
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "∞" if v > 0 else "−∞"
    return None


def num(v: float) -> str:
    """A number for formulas and captions: 3 significant digits, integers without a point."""
    v = float(v)
    if (s := _special(v)) is not None:
        return s
    if v == 0:
        return "0"
    if v == round(v) and abs(v) < 1e6:
        return str(int(round(v)))
    return f"{v:.3g}"


def short(v: float) -> str:
    """Two significant digits, for numbers written inside small cells."""
    v = float(v)
    if (s := _special(v)) is not None:
        return s
    if v == round(v) and abs(v) < 1000:
        return str(int(round(v)))
    return f"{v:.2g}"


def sci(v: float, digits: int = 1) -> str:
    """Scientific notation, e.g. λ = 1.2e-03."""
    return f"{float(v):.{digits}e}"


def cells(a: np.ndarray, digits: int = 3) -> np.ndarray:
    """Numbers to write in cells: ``digits`` significant digits, no "-0" or "1e-17" noise."""
    a = np.asarray(a, dtype=np.float64)
    finite = a[np.isfinite(a)]
    scale = float(np.max(np.abs(finite))) if finite.size else 0.0
    clean = np.where(np.abs(a) < 1e-9 * max(scale, 1e-300), 0.0, a) + 0.0
    return np.vectorize(lambda v: f"{v:.{digits}g}", otypes=[object])(clean).astype(str)


def round_sig(a, digits: int) -> np.ndarray:
    """Values rounded to ``digits`` significant digits, exactly as ``f"{v:.{digits}g}"`` writes them (NaN and ±inf
    kept), as float64: a hover that shows them with ``%{z:.<digits>g}`` reads the same, from fewer bytes of JSON."""
    a = np.asarray(a, dtype=np.float64)
    return np.array([float(f"{v:.{digits}g}") for v in a.ravel().tolist()], dtype=np.float64).reshape(a.shape)


def minus(s: str) -> str:
    """A hyphen-minus as the real minus sign (read as "minus" by screen readers)."""
    return s.replace("-", "−")


def shape(a) -> str:
    """"510×510" (rows × columns) of an array's first two axes."""
    return "×".join(str(int(n)) for n in np.shape(a)[:2])


def describe_map(what: str, a, strongest: str = "strongest response") -> str:
    """A text alternative for a picture of a 2-D array of numbers: size, range and where the largest |value| is,
    e.g. "feature map 510×510, values −2.53 to 2.5, strongest response −2.53 at row 120, col 300"."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.size == 0:
        return f"{what}, shape {tuple(a.shape)}"
    finite = np.isfinite(a)
    if not finite.any():
        return f"{what} {shape(a)}, no finite values"
    r, c = np.unravel_index(np.argmax(np.where(finite, np.abs(a), -1.0)), a.shape)
    lo, hi = float(a[finite].min()), float(a[finite].max())
    rng = f"every value {num(lo)}" if lo == hi else f"values {num(lo)} to {num(hi)}"
    where = "" if lo == hi else f", {strongest} {num(a[r, c])} at row {r}, col {c}"
    return minus(f"{what} {shape(a)}, {rng}{where}")


def describe_image(name: str, img) -> str:
    """A text alternative for a picture (Markdown; the name, which may come from a user, is escaped): its
    size, channels and brightness (pixel values in [0, 1])."""
    a = np.asarray(img, dtype=np.float64)
    kind = "colour (RGB)" if a.ndim == 3 else "grey"
    lum = a.mean(axis=-1) if a.ndim == 3 else a
    if lum.size == 0:
        return f"{text.md(name)}: empty image"
    return (f"{text.md(name)}: {shape(a)} pixels, {kind}, mean brightness {num(lum.mean())} "
            f"(darkest {num(lum.min())}, brightest {num(lum.max())})")
