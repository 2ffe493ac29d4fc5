"""The one palette of the app: fonts, the diverging blue–white–red scale for signed values, and the
same scale as RGB for PNG downloads and GIF frames, so a picture looks alike wherever it is shown."""

from __future__ import annotations

import numpy as np

FONT = dict(size=15)
BLUE, WHITE, RED = (33, 102, 172), (247, 247, 247), (178, 24, 43)
# Negative blue, zero white, positive red (ColorBrewer RdBu's 10 % / 50 % / 90 % colours).
DIVERGING = [[0.0, "rgb(33,102,172)"], [0.5, "rgb(247,247,247)"], [1.0, "rgb(178,24,43)"]]
HIGHLIGHT = "#e67e22"  # orange: the current step, row or window


def largest_abs(a) -> float:
    """max |a|, or 1 when ``a`` is empty or all zero: the half-width of a diverging colour scale."""
    m = float(np.max(np.abs(a))) if np.size(a) else 0.0
    return m if m > 0 else 1.0


def signed_scale(zmax: float) -> dict:
    """Heatmap keywords that put zero at white and ±zmax at the ends of the diverging scale."""
    zmax = float(zmax) if zmax and zmax > 0 else 1.0
    return dict(colorscale=DIVERGING, zmin=-zmax, zmax=zmax, zmid=0)


def _stops(scale) -> tuple[np.ndarray, np.ndarray]:
    """(positions, RGB rows) of a colour scale: DIVERGING-style [[pos, "rgb(...)"], ...] or a Plotly name."""
    import plotly.colors as pc

    if isinstance(scale, str):
        name, rev = (scale[:-2], True) if scale.endswith("_r") else (scale, False)
        scale = pc.get_colorscale(name)
        if rev:
            scale = [[1 - p, c] for p, c in reversed(scale)]
    pos = np.array([float(p) for p, _ in scale])
    rgb = np.array([pc.unlabel_rgb(pc.convert_colors_to_same_type(c, "rgb")[0][0]) for _, c in scale], dtype=float)
    return pos, rgb


def to_rgb(z: np.ndarray, lo: float, hi: float, scale=DIVERGING) -> np.ndarray:
    """Values → (..., 3) uint8 through a colour scale, ``lo`` and ``hi`` at its two ends (clipped)."""
    pos, rgb = _stops(scale)
    t = np.clip((np.asarray(z, dtype=float) - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
    return np.stack([np.interp(t, pos, rgb[:, c]) for c in range(3)], -1).round().astype(np.uint8)


def signed_to_rgb(fmap: np.ndarray, zmax: float | None = None) -> np.ndarray:
    """A signed map as uint8 RGB on the diverging scale, zero white and ±zmax at the ends."""
    f = np.asarray(fmap, dtype=np.float64)
    zmax = largest_abs(f) if zmax is None or not zmax > 0 else float(zmax)
    return to_rgb(f, -zmax, zmax)


def ramp(n: int, scale=DIVERGING) -> np.ndarray:
    """``n`` evenly spaced colours of a scale, (n, 3) uint8 (a GIF palette)."""
    return to_rgb(np.linspace(0.0, 1.0, n), 0.0, 1.0, scale)
