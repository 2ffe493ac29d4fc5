"""What the kernel sandbox computes: one kernel (or a 3-channel kernel) over an image."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnn_viz.common.conv import conv2d, output_size

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
    maps: np.ndarray  # (Ho, Wo) or (3, Ho, Wo) for "each channel"
    labels: tuple[str, ...]  # one per map
    formula: str  # LaTeX of the output-size formula with the numbers substituted
    notes: tuple[str, ...]  # warnings worth showing (e.g. stride skips pixels)


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
    notes = []
    span = settings.dilation * (max(kh, kwid) - 1) + 1
    if settings.stride > span:
        notes.append(
            f"The stride ({settings.stride}) is larger than the kernel's reach ({span} pixels): some pixels are never looked at."
        )
    return Result(maps, labels, formula, tuple(notes))


def _fits(h, w, kh, kw, s: Settings) -> bool:
    try:
        output_size(h, kh, s.stride, s.padding, s.dilation)
        output_size(w, kw, s.stride, s.padding, s.dilation)
    except ValueError:
        return False
    return True
