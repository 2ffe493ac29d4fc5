"""The one family of number formatters for captions, formulas, cells and hover text."""

from __future__ import annotations

import math

import numpy as np


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
