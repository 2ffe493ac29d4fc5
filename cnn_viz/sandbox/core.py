"""What the kernel sandbox computes: one kernel (or a 3-channel kernel) over an image."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cnn_viz.common import fmt, kernels
from cnn_viz.common.conv import conv2d, output_size
from cnn_viz.figures import palette

COLOUR_MODES = ("each channel", "3-channel kernel")


@dataclass(frozen=True)
class Settings:
    stride: int = 1
    padding: int = 0
    padding_mode: str = "zeros"
    dilation: int = 1
    relu: bool = False
    flip: bool = False


@dataclass(frozen=True)
class Result:
    """The feature map(s), and what the page says about them (computed once, when the result is made)."""

    maps: np.ndarray  # (Ho, Wo) or (3, Ho, Wo) for "each channel"
    labels: tuple[str, ...]  # one per map
    formula: str  # LaTeX of the output-size formula with the numbers substituted
    notes: tuple[str, ...]  # warnings worth showing (e.g. stride skips pixels)
    relu: bool = False
    stack: np.ndarray = field(init=False, repr=False)  # (C, Ho, Wo): the maps, one per entry
    zmax: float = field(init=False)  # the largest |value| of all maps: their one shared colour scale
    lo: float = field(init=False)  # smallest value of all maps
    hi: float = field(init=False)  # largest value

    def __post_init__(self) -> None:
        stack = self.maps if self.maps.ndim == 3 else self.maps[None]
        object.__setattr__(self, "stack", stack)
        object.__setattr__(self, "zmax", palette.largest_abs(stack))
        object.__setattr__(self, "lo", float(stack.min()))
        object.__setattr__(self, "hi", float(stack.max()))

    @property
    def n_maps(self) -> int:
        return self.stack.shape[0]

    def rgb(self, i: int) -> np.ndarray:
        """Map i as (Ho, Wo, 3) uint8 on the shared diverging scale (for a PNG)."""
        return palette.signed_to_rgb(self.stack[i], self.zmax)

    def alt(self, i: int = 0) -> str:
        """Text alternative of map i: size, range and the strongest response with its place."""
        return fmt.describe_map(self.labels[i] if self.n_maps > 1 else "Feature map", self.stack[i]) + "."

    def strongest(self, i: int = 0) -> str:
        """"Strongest response 2.53 at row 227, col 303." (with the map's label when there are several)."""
        m = self.stack[i]
        r, c = np.unravel_index(int(np.argmax(np.abs(m))), m.shape)
        who = f"{self.labels[i]}: s" if self.n_maps > 1 else "S"
        return fmt.minus(f"{who}trongest response {fmt.num(m[r, c])} at row {r}, col {c}.")

    @property
    def caption(self) -> str:
        n, (ho, wo) = self.n_maps, self.stack.shape[1:]
        strongest = " ".join(self.strongest(i) for i in range(n))
        return (
            f"Output {ho}×{wo}{' ×' + str(n) if n > 1 else ''}, values from {self.lo:.3g} to {self.hi:.3g}. {strongest} "
            f"{palette.sign_words().capitalize()}, white zero: an edge kernel answers with both signs on the two sides "
            "of an edge" + (" (ReLU has removed the negative side)." if self.relu else ".")
            + (" One map per colour channel, below." if n > 1 else "")
        )


def size_formula(n: int, k: int, s: int, p: int, d: int, axis: str) -> str:
    """LaTeX: the report's output-size formula along one axis with the numbers written in."""
    out = output_size(n, k, s, p, d)
    return (
        rf"{axis}_{{out}} = \left\lfloor \frac{{{n} + 2\cdot{p} - {d}\,({k}-1) - 1}}{{{s}}} \right\rfloor + 1 = {out}"
    )


def apply_kernel(img: np.ndarray, kernel: np.ndarray, settings: Settings, colour_mode: str = "each channel") -> Result:
    """Convolve a (H, W) or (H, W, 3) image with ``kernel``.

    ``kernel`` is (kh, kw), or (3, kh, kw) for colour_mode "3-channel kernel" (the report's
    3×3×3 kernel: one slice per channel, products summed over the channels into one map).
    Raises ValueError with a message for the user when the settings do not fit the image.
    """
    img = np.asarray(img, dtype=np.float32)
    kernel = np.asarray(kernel, dtype=np.float64)
    kw_args = dict(
        stride=settings.stride, padding=settings.padding, dilation=settings.dilation,
        padding_mode=settings.padding_mode, flip=settings.flip,
    )
    h, w = img.shape[:2]
    kh, kwid = kernel.shape[-2:]
    formula = size_formula(h, kh, settings.stride, settings.padding, settings.dilation, "H") + r",\qquad " + size_formula(
        w, kwid, settings.stride, settings.padding, settings.dilation, "W"
    ) if _fits(h, w, kh, kwid, settings) else ""
    if img.ndim == 2:
        if kernel.ndim == 3:
            raise ValueError("A 3-channel kernel needs a colour image: turn on 'Keep colour'.")
        maps = conv2d(img, kernel, **kw_args)
        labels = ("feature map",)
    elif colour_mode == "3-channel kernel":
        if kernel.ndim != 3 or kernel.shape[0] != 3:
            raise ValueError("The 3-channel kernel needs one slice for each of R, G and B.")
        maps = conv2d(np.moveaxis(img, -1, 0), kernel, **kw_args)
        labels = ("sum over R, G, B",)
    else:
        if kernel.ndim != 2:
            raise ValueError("Use one 2-D kernel for 'each channel'.")
        maps = conv2d(np.moveaxis(img, -1, 0), kernel, **kw_args)
        labels = ("red channel", "green channel", "blue channel")
    if settings.relu:
        maps = np.maximum(maps, 0)
    if not np.all(np.isfinite(maps)):
        big = float(np.max(np.abs(kernel)))
        raise ValueError(
            f"the kernel's values are too large (up to {big:.3g}): the feature map overflows the largest number the "
            f"computation holds (about {float(np.finfo(maps.dtype).max):.2g}). Use smaller weights, e.g. Normalize (÷ sum)."
        )
    notes = []
    span = settings.dilation * (max(kh, kwid) - 1) + 1
    if settings.stride > span:
        notes.append(
            f"The stride ({settings.stride}) is larger than the kernel's reach ({span} pixels): some pixels are never looked at."
        )
    return Result(maps, labels, formula, tuple(notes), settings.relu)


def _fits(h, w, kh, kw, s: Settings) -> bool:
    try:
        output_size(h, kh, s.stride, s.padding, s.dilation)
        output_size(w, kw, s.stride, s.padding, s.dilation)
    except ValueError:
        return False
    return True


@dataclass(frozen=True, eq=False)
class KernelView:
    """A (kh, kw) or (3, kh, kw) kernel as the page shows it: its slices, a CSV table, and its rank."""

    slices: tuple[np.ndarray, ...]  # (kh, kw) each
    titles: tuple[str | None, ...]  # None for a single 2-D kernel, "slice R" ... for a 3-channel one
    table: np.ndarray  # 2-D, the slices one under the other (for the CSV download)
    separability: kernels.Separability  # of the first slice

    @property
    def figure_height(self) -> int:
        return min(320, 70 + 45 * self.slices[0].shape[0])

    @property
    def alt(self) -> str:
        """Text alternative of the kernel picture(s): size, weights, sum, largest weight and its place."""
        parts = [fmt.describe_map(t or "Kernel", s, "largest weight") + f", sum {fmt.minus(fmt.num(s.sum()))}"
                 for t, s in zip(self.titles, self.slices)]
        return "; ".join(parts) + "."

    @property
    def rank_text(self) -> str:
        """Markdown: the rank of the (first slice of the) kernel and its leading singular values."""
        sep, (kh, kw) = self.separability, self.slices[0].shape
        values = ", ".join(fmt.cells(sep.singular_values[:5])) + ("…" if sep.singular_values.size > 5 else "")
        return (
            f"**Rank {sep.rank}**{' (slice R)' if len(self.slices) > 1 else ''}: the numerical rank of the {kh}×{kw} "
            f"grid by SVD, singular values {values}."
        )

    @property
    def cost_text(self) -> str:
        """Markdown: what separability saves (a rank-1 kernel) or why the filter needs every tap."""
        kh, kw = self.slices[0].shape
        if self.separability.rank == 1:
            return (
                "Rank 1 means **separable**: the kernel is a column times a row, K = u vᵀ, so the 2-D filter can run as two "
                f"1-D passes: {kh} + {kw} multiplications per pixel instead of {kh * kw}."
            )
        return ("Not separable: no single column times row gives this kernel; the 2-D filter needs all "
                f"{kh * kw} multiplications per pixel.")


def kernel_view(kernel: np.ndarray) -> KernelView:
    k = np.asarray(kernel, dtype=np.float64)
    if k.ndim == 2:
        return KernelView((k,), (None,), k, kernels.separability(k))
    return KernelView(tuple(k), tuple(f"slice {'RGB'[i]}" for i in range(len(k))), k.reshape(-1, k.shape[-1]),
                      kernels.separability(k[0]))


@dataclass(frozen=True, eq=False)
class Run:
    """One rerun of the sandbox: the result or why there is none, and the kernel as the page shows it."""

    result: Result | None
    error: str | None  # the message for the user when the settings do not fit the image
    kernel: KernelView | None  # None while the kernel editor holds no valid kernel


def run(img, kernel, settings: Settings, colour_mode: str = "each channel") -> Run:
    """apply_kernel and kernel_view for the page; a kernel that cannot slide gives an error instead of a result."""
    if kernel is None:
        return Run(None, None, None)
    try:
        return Run(apply_kernel(img, kernel, settings, colour_mode), None, kernel_view(kernel))
    except ValueError as exc:
        return Run(None, f"Cannot slide this kernel: {exc}", kernel_view(kernel))
