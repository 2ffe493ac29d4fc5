"""The one palette of the app: fonts, the diverging scale for signed values, the sequential scale, the
named line colours, and the same scales as RGB for PNG downloads and GIF frames, so a picture looks alike
wherever it is shown.

Two schemes, one app-wide choice (the sidebar's "Colour-vision-safe colours", in the URL):

- ``default``: ColorBrewer RdBu (blue–white–red) for signed values, Viridis for sequential ones;
- ``safe``: dark blue–white–orange for signed values (the two ends also differ in lightness, so the sign
  never rests on hue alone), Cividis for sequential ones, and Okabe–Ito line colours. Checked by
  simulating deuteranopia and protanopia in tests/test_palette.py.

Figure builders ask for colours when they build (``diverging()``, ``signed_scale``, ``signed_to_rgb``,
``sequential()``, ``colour(name)``, ``named(...)``), so they follow the scheme of the session that calls
them. The core never imports Streamlit: the UI registers where the session's choice lives with
``use_source`` (see cnn_viz/ui/access.py); ``using(name)`` overrides it in a block (tests, GIF frames).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np

FONT = dict(size=15)
BLUE, WHITE, RED = (33, 102, 172), (247, 247, 247), (178, 24, 43)
# Negative blue, zero white, positive red (ColorBrewer RdBu's 10 % / 50 % / 90 % colours).
DIVERGING = [[0.0, "rgb(33,102,172)"], [0.5, "rgb(247,247,247)"], [1.0, "rgb(178,24,43)"]]
HIGHLIGHT = "#e67e22"  # orange: the current step, row or window

# The colour-vision-safe diverging scale: dark blue (CAM02-UCS lightness J ≈ 31) – white – orange (J ≈ 63).
SAFE_NEG, SAFE_POS = (8, 69, 148), (230, 97, 1)
SAFE_DIVERGING = [[0.0, "rgb(8,69,148)"], [0.5, "rgb(247,247,247)"], [1.0, "rgb(230,97,1)"]]


@dataclass(frozen=True)
class Scheme:
    name: str
    label: str  # for the settings
    diverging: list  # [[pos, "rgb(...)"], ...], negative → zero → positive
    neg: tuple[int, int, int]
    pos: tuple[int, int, int]
    sequential: str  # a Plotly scale name for one-signed values (not images: those stay grey)
    neg_word: str  # "blue" — for captions that say which colour is which sign
    pos_word: str
    colours: Mapping[str, str]  # named line / marker colours


SCHEMES = {
    "default": Scheme(
        "default", "Blue–red (default)", DIVERGING, BLUE, RED, "Viridis", "blue", "red",
        {"red": "#c0392b", "green": "#27ae60", "blue": "#2471a3", "orange": "#d35400", "purple": "#8e44ad",
         "yellow": "#b7950b", "teal": "#16a085", "dark": "#222222", "grey": "#7f8c8d", "gold": "#f1c40f"},
    ),
    "safe": Scheme(
        "safe", "Colour-vision-safe (blue–orange, Cividis)", SAFE_DIVERGING, SAFE_NEG, SAFE_POS, "Cividis",
        "dark blue", "orange",
        # Okabe & Ito's colour-universal-design set; "green" and "teal" become sky blue and bluish green, so a
        # red/green pair of lines stays two colours apart under deuteranopia and protanopia.
        {"red": "#d55e00", "green": "#56b4e9", "blue": "#005a9c", "orange": "#e69f00", "purple": "#cc79a7",
         "yellow": "#f0e442", "teal": "#009e73", "dark": "#222222", "grey": "#bbbbbb", "gold": "#f0e442"},
    ),
}
DEFAULT = "default"

_override: contextvars.ContextVar[str | None] = contextvars.ContextVar("cnn_viz_scheme", default=None)
_source: Callable[[], str] = lambda: DEFAULT  # noqa: E731


def use_source(source: Callable[[], str]) -> None:
    """Where the current scheme's name comes from (the UI passes a function reading the session)."""
    global _source
    _source = source


def current() -> str:
    """The name of the scheme in use: a ``using`` block's, else the registered source's, else "default"."""
    name = _override.get()
    if name is None:
        try:
            name = _source()
        except Exception:  # no session (a script outside the app): the default
            name = DEFAULT
    return name if name in SCHEMES else DEFAULT


def scheme() -> Scheme:
    return SCHEMES[current()]


@contextlib.contextmanager
def using(name: str) -> Iterator[Scheme]:
    """Build figures in scheme ``name`` inside this block (whatever the session chose)."""
    token = _override.set(name if name in SCHEMES else DEFAULT)
    try:
        yield scheme()
    finally:
        _override.reset(token)


def diverging() -> list:
    """The current diverging scale (negative → white → positive)."""
    return scheme().diverging


def sequential() -> str:
    """The current sequential scale, for one-signed values that are not images."""
    return scheme().sequential


def colour(name: str) -> str:
    """A named line colour ("red", "green", "blue", "orange", "purple", "yellow", "teal", "dark", "grey", "gold")."""
    return scheme().colours[name]


def hex_rgb(rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def pos_neg_hex() -> tuple[str, str]:
    """Text colours of positive and negative numbers: the diverging scale's two ends."""
    s = scheme()
    return hex_rgb(s.pos), hex_rgb(s.neg)


def sign_words() -> str:
    """"red is positive, blue negative" in the current scheme, for captions."""
    s = scheme()
    return f"{s.pos_word} is positive, {s.neg_word} negative"


class named(Mapping):
    """A dict of role → colour name whose colours are looked up in the current scheme when read:
    ``BC_COLORS = palette.named(zero="red", reflexive="green")`` then ``BC_COLORS["zero"]``."""

    def __init__(self, **roles: str) -> None:
        self._roles = roles

    def __getitem__(self, role: str) -> str:
        return colour(self._roles[role])

    def __iter__(self):
        return iter(self._roles)

    def __len__(self) -> int:
        return len(self._roles)


def largest_abs(a) -> float:
    """max |a|, or 1 when ``a`` is empty or all zero: the half-width of a diverging colour scale."""
    m = float(np.max(np.abs(a))) if np.size(a) else 0.0
    return m if m > 0 else 1.0


def signed_scale(zmax: float) -> dict:
    """Heatmap keywords that put zero at white and ±zmax at the ends of the diverging scale."""
    zmax = float(zmax) if zmax and zmax > 0 else 1.0
    return dict(colorscale=diverging(), zmin=-zmax, zmax=zmax, zmid=0)


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


def to_rgb(z: np.ndarray, lo: float, hi: float, scale=None) -> np.ndarray:
    """Values → (..., 3) uint8 through a colour scale (the current diverging one unless given), ``lo`` and
    ``hi`` at its two ends (clipped)."""
    pos, rgb = _stops(diverging() if scale is None else scale)
    t = np.clip((np.asarray(z, dtype=float) - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
    return np.stack([np.interp(t, pos, rgb[:, c]) for c in range(3)], -1).round().astype(np.uint8)


def signed_to_rgb(fmap: np.ndarray, zmax: float | None = None) -> np.ndarray:
    """A signed map as uint8 RGB on the diverging scale, zero white and ±zmax at the ends."""
    f = np.asarray(fmap, dtype=np.float64)
    zmax = largest_abs(f) if zmax is None or not zmax > 0 else float(zmax)
    return to_rgb(f, -zmax, zmax)


def ramp(n: int, scale=None) -> np.ndarray:
    """``n`` evenly spaced colours of a scale (the current diverging one unless given), (n, 3) uint8 (a GIF palette)."""
    return to_rgb(np.linspace(0.0, 1.0, n), 0.0, 1.0, scale)
