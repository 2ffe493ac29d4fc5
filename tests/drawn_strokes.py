"""Pen strokes of the digits 0-9 that the browser test draws on the canvas with the mouse.

Each digit is a list of strokes; a stroke is a list of (u, v) points in a unit box (u to the
right, v down). ``variants`` places every digit twice on the 280×280 canvas: large and upright,
and smaller, slanted and off-centre, as two different people might draw it.
"""

from __future__ import annotations

import math


def _arc(cx, cy, rx, ry, a0, a1, n=16):
    return [(cx + rx * math.cos(math.radians(a0 + (a1 - a0) * i / n)), cy + ry * math.sin(math.radians(a0 + (a1 - a0) * i / n)))
            for i in range(n + 1)]


DIGITS: dict[int, list[list[tuple[float, float]]]] = {
    0: [_arc(0.5, 0.5, 0.38, 0.48, -90, 275, 24)],
    1: [[(0.3, 0.22), (0.58, 0.0), (0.55, 1.0)]],
    2: [_arc(0.5, 0.28, 0.36, 0.28, 190, 385, 10) + [(0.12, 1.0), (0.92, 1.0)]],
    3: [_arc(0.48, 0.25, 0.36, 0.25, 200, 450, 12) + _arc(0.48, 0.75, 0.4, 0.25, -90, 160, 12)],
    4: [[(0.6, 0.0), (0.08, 0.68), (0.95, 0.68)], [(0.68, 0.3), (0.68, 1.0)]],
    5: [[(0.88, 0.0), (0.25, 0.0), (0.18, 0.45)] + _arc(0.48, 0.7, 0.38, 0.3, -120, 160, 14)],
    6: [[(0.78, 0.0), (0.42, 0.25), (0.2, 0.6)] + _arc(0.5, 0.72, 0.32, 0.27, 180, 540, 20)],
    7: [[(0.05, 0.04), (0.95, 0.04), (0.42, 1.0)]],
    8: [[(0.5 - 0.32 * math.sin(2 * math.pi * i / 28) * math.cos(2 * math.pi * i / 28) * 2,
           0.5 - 0.49 * math.cos(2 * math.pi * i / 28)) for i in range(29)]],
    9: [_arc(0.45, 0.3, 0.32, 0.29, 0, 370, 18) + [(0.76, 0.32), (0.68, 1.0)]],
}


def variants() -> list[tuple[int, dict]]:
    """(digit, placement) pairs: 20 drawings, two per digit."""
    big = dict(x0=70, y0=35, w=140, h=210, slant=0.0)
    small = dict(x0=95, y0=70, w=95, h=150, slant=0.22)
    return [(d, p) for d in range(10) for p in (big, small)]


def to_canvas(u: float, v: float, p: dict) -> tuple[float, float]:
    """Unit-box point -> canvas pixel (a slant pushes the top to the right)."""
    return p["x0"] + (u + p["slant"] * (1 - v)) * p["w"] / (1 + p["slant"]), p["y0"] + v * p["h"]
