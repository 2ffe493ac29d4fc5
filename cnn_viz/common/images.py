"""Loading images robustly: uploads of any common format, and samples that need no network.

Every image leaves this module as float32 in [0, 1], shaped (H, W) for grayscale or
(H, W, 3) for colour, with its longest side at most ``max_side`` pixels.

The two rules for odd images, the same on every page:
- non-finite pixels (NaN, +inf, -inf in a float TIFF): +inf becomes the brightest finite value, -inf and
  NaN the darkest, and ``read_image`` says how many there were (``non_finite_note``);
- an image smaller than a page needs (``min_side``): ``fit_min_side`` enlarges it by repeating each
  pixel, and pads it by repeating its edge where the longest side would otherwise pass ``max_side``;
  the note says what was done.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from cnn_viz.common import assets

DEFAULT_MAX_SIDE = 512
# Refuse anything that would decode to more than this many pixels (decompression bombs).
MAX_PIXELS = 40_000_000
MAX_BYTES = 50 * 1024 * 1024


class ImageLoadError(ValueError):
    """An upload that is not a usable image; the message is meant for the user."""


@dataclass(frozen=True, eq=False)
class Loaded:
    """An upload as an image plus what the loader had to do to it (sentences for the user)."""

    image: np.ndarray
    notes: tuple[str, ...] = ()


def non_finite_note(nan: int, pos: int, neg: int) -> str | None:
    """The sentence that says how many pixels were not finite numbers and what replaced them."""
    if nan + pos + neg == 0:
        return None
    parts = [f"{n:,} {what}" for n, what in ((nan, "NaN"), (pos, "+∞"), (neg, "−∞")) if n]
    return (f"{nan + pos + neg:,} pixel{'s' if nan + pos + neg > 1 else ''} of this image "
            f"{'are' if nan + pos + neg > 1 else 'is'} not a finite number ({', '.join(parts)}): "
            "+∞ is shown as the brightest finite value, −∞ and NaN as the darkest.")


def replace_non_finite(a: np.ndarray) -> tuple[np.ndarray, str | None]:
    """``a`` with +inf set to its largest finite value and -inf, NaN to its smallest (0 where no value
    is finite), and the note saying so (None when every value was finite)."""
    a = np.asarray(a)
    if not np.issubdtype(a.dtype, np.floating):
        return a, None
    finite = np.isfinite(a)
    if finite.all():
        return a, None
    nan, pos = int(np.isnan(a).sum()), int(np.isposinf(a).sum())
    neg = int(a.size - finite.sum() - nan - pos)
    lo, hi = (float(a[finite].min()), float(a[finite].max())) if finite.any() else (0.0, 0.0)
    out = np.where(np.isposinf(a), hi, np.where(finite, a, lo)).astype(a.dtype)
    return out, non_finite_note(nan, pos, neg)


def fit_min_side(img: np.ndarray, min_side: int, max_side: int = DEFAULT_MAX_SIDE) -> tuple[np.ndarray, str | None]:
    """Make the shortest side at least ``min_side`` pixels: enlarge by an integer factor (each pixel
    repeated, so no value is invented) as far as the longest side stays within ``max_side``, then pad
    by repeating the edge. Returns the image and a note (None when nothing was done)."""
    img = np.asarray(img)
    h, w = img.shape[:2]
    if min(h, w) >= min_side:
        return img, None
    factor = max(1, min(-(-min_side // min(h, w)), max(max_side, min_side) // max(h, w)))
    out = img
    if factor > 1:
        out = np.repeat(np.repeat(img, factor, axis=0), factor, axis=1)
    note = f"The image is {h}×{w} pixels; this page needs at least {min_side} on each side, so it"
    done = []
    if factor > 1:
        done.append(f"was enlarged {factor}× (each pixel repeated)")
    ph, pw = max(0, min_side - out.shape[0]), max(0, min_side - out.shape[1])
    if ph or pw:
        pad = [(ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)] + [(0, 0)] * (out.ndim - 2)
        out = np.pad(out, pad, mode="edge")
        done.append("was padded by repeating its edge")
    return np.ascontiguousarray(out), f"{note} {' and '.join(done)} to {out.shape[0]}×{out.shape[1]}."


def _finite_frame(im: Image.Image) -> tuple[Image.Image, str | None]:
    """A float ("F") frame with its non-finite pixels replaced (``replace_non_finite``)."""
    if im.mode != "F":
        return im, None
    a, note = replace_non_finite(np.asarray(im, dtype=np.float32))
    return (im if note is None else Image.fromarray(a, mode="F")), note


def _to_array(im: Image.Image) -> np.ndarray:
    """PIL image of any mode -> float32 (H, W) or (H, W, 3) in [0, 1]."""
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        a = np.asarray(im, dtype=np.float32) / 65535.0
        return np.clip(a, 0, 1)
    if mode in ("I", "F"):
        a = np.asarray(im, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        if mode == "I" and lo >= 0 and hi <= 255:
            a = a / 255.0
        elif mode == "I" and lo >= 0 and hi <= 65535:
            a = a / 65535.0
        else:
            a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
        return a.astype(np.float32)
    if mode == "1":
        im = im.convert("L")
    elif mode == "P":
        im = im.convert("RGBA")
    elif mode == "CMYK" or mode == "YCbCr" or mode == "LAB" or mode == "HSV":
        im = im.convert("RGB")
    elif mode == "PA":
        im = im.convert("RGBA")
    if im.mode in ("LA", "RGBA", "La", "RGBa"):
        # Flatten transparency onto white (scanned and drawn digits are dark on white).
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba).convert("L" if mode in ("LA", "La") else "RGB")
    if im.mode not in ("L", "RGB"):
        im = im.convert("RGB")
    a = np.asarray(im, dtype=np.float32) / 255.0
    if a.ndim == 3 and np.allclose(a[..., 0], a[..., 1]) and np.allclose(a[..., 0], a[..., 2]):
        a = a[..., 0]  # a grey picture saved as RGB is grayscale
    return np.ascontiguousarray(a)


def _shrink(im: Image.Image, max_side: int) -> Image.Image:
    w, h = im.size
    if max(w, h) <= max_side:
        return im
    scale = max_side / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        im = im.convert("F")
    return im.resize(size, Image.Resampling.LANCZOS if im.mode != "F" else Image.Resampling.BILINEAR, reducing_gap=3.0)


def load_image(data: bytes, max_side: int = DEFAULT_MAX_SIDE) -> np.ndarray:
    """Decode an uploaded file (PNG, JPEG, GIF, BMP, WebP, TIFF, ...) to float32 in [0, 1].

    EXIF orientation is applied; the first frame of an animation is used; the result is
    downscaled so its longest side is at most ``max_side``. Raises ImageLoadError with a
    message for the user when the bytes are not a usable image. ``read_image`` also says
    what it had to change.
    """
    return read_image(data, max_side).image


def read_image(data: bytes, max_side: int = DEFAULT_MAX_SIDE, min_side: int = 1) -> Loaded:
    """``load_image`` plus the two rules for odd images (module docstring): the image and the notes."""
    if data is None or len(data) == 0:
        raise ImageLoadError("The file is empty.")
    if len(data) > MAX_BYTES:
        raise ImageLoadError(f"The file is {len(data) / 2**20:.0f} MB; the limit is {MAX_BYTES // 2**20} MB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise ImageLoadError(
                    f"The image is {w}×{h} pixels ({w * h / 1e6:.0f} megapixels); the limit is "
                    f"{MAX_PIXELS / 1e6:.0f} megapixels. Please shrink it first."
                )
            if im.format == "JPEG":
                im.draft("RGB" if im.mode != "L" else "L", (max_side, max_side))
            im.seek(0)
            im.load()
            im = ImageOps.exif_transpose(im)
            im, finite_note = _finite_frame(im)
            im = _shrink(im, max_side)
            arr = _to_array(im)
    except ImageLoadError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        if isinstance(exc, UnidentifiedImageError):
            raise ImageLoadError("This file is not an image that can be read (PNG, JPEG, GIF, BMP, WebP or TIFF).") from exc
        raise ImageLoadError("This image is too large to open safely (it would decode to too many pixels).") from exc
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as exc:
        raise ImageLoadError(f"The image could not be decoded; the file may be damaged ({type(exc).__name__}).") from exc
    if arr.size == 0:
        raise ImageLoadError("The image has no pixels.")
    arr, size_note = fit_min_side(arr, min_side, max_side)
    return Loaded(arr, tuple(n for n in (finite_note, size_note) if n))


def to_gray(img: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma of an (H, W, 3) image; a 2-D image is returned unchanged."""
    img = np.asarray(img, dtype=np.float32)
    if img.ndim == 2:
        return img
    return (img[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).astype(np.float32)


def resize_max(img: np.ndarray, max_side: int) -> np.ndarray:
    """Downscale (never upscale) so the longest side is at most ``max_side`` (area-averaging)."""
    img = np.asarray(img, dtype=np.float32)
    h, w = img.shape[:2]
    if max(h, w) <= max_side:
        return img
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if img.ndim == 2:
        out = np.asarray(Image.fromarray(img, mode="F").resize(size, Image.Resampling.BOX))
    else:
        out = np.stack(
            [np.asarray(Image.fromarray(img[..., c], mode="F").resize(size, Image.Resampling.BOX)) for c in range(img.shape[2])],
            axis=-1,
        )
    return np.clip(out, 0, 1).astype(np.float32)


def to_uint8(img: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Map [lo, hi] (default [0, 1]) to 0..255 uint8, clipping outside."""
    a = np.asarray(img)
    if a.dtype == np.uint8 and lo is None and hi is None:
        return a
    a = a.astype(np.float32, copy=False)
    lo = 0.0 if lo is None else lo
    hi = 1.0 if hi is None else hi
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    out = (a - np.float32(lo)) * np.float32(scale) + np.float32(0.5)
    np.clip(out, 0, 255, out=out)
    return out.astype(np.uint8)


def to_png_bytes(img: np.ndarray) -> bytes:
    """PNG file of a float image in [0, 1] or a uint8 image, (H, W) or (H, W, 3)."""
    a = np.asarray(img)
    if a.dtype != np.uint8:
        a = to_uint8(a)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG", compress_level=3)
    return buf.getvalue()


def _skimage(name: str):
    def load():
        from skimage import data

        return getattr(data, name)()

    return load


def _asset(path: Path):
    def load():
        with Image.open(path) as im:
            im.load()
            return np.asarray(im)

    return load


# Samples that load without a network: scikit-image's bundled images and our own assets.
SAMPLES = {
    "Cameraman": _skimage("camera"),
    "Star chart (edges at every angle)": _asset(assets.STAR_CHART),
    "Handwritten 7 (MNIST)": _asset(assets.DIGIT_7),
    "Astronaut": _skimage("astronaut"),
    "Coffee": _skimage("coffee"),
    "Cat": _skimage("chelsea"),
    "Text": _skimage("text"),
    "Checkerboard": _skimage("checkerboard"),
    "Moon": _skimage("moon"),
    "Brick": _skimage("brick"),
}


def load_sample(name: str, max_side: int = DEFAULT_MAX_SIDE) -> np.ndarray:
    """A bundled sample as float32 in [0, 1] (grayscale 2-D or colour (H, W, 3))."""
    if name not in SAMPLES:
        raise ValueError(f"Unknown sample {name!r}; choose one of: {', '.join(SAMPLES)}.")
    return _from_raw(SAMPLES[name](), max_side)


def load_skimage(name: str, max_side: int = DEFAULT_MAX_SIDE) -> np.ndarray:
    """One of scikit-image's bundled images (``skimage.data.<name>``, no network) as float32 in [0, 1]."""
    return _from_raw(_skimage(name)(), max_side)


def _from_raw(raw, max_side: int) -> np.ndarray:
    raw = np.asarray(raw)
    if raw.dtype == np.uint8:
        img = raw.astype(np.float32) / 255.0
    elif raw.dtype == np.bool_:
        img = raw.astype(np.float32)
    else:
        img = raw.astype(np.float32)
        if img.max() > 1:
            img /= float(img.max())
    if img.ndim == 3:
        img = img[..., :3]
    return resize_max(img, max_side)


def hwc_to_chw(img: np.ndarray) -> np.ndarray:
    """(H, W) -> (1, H, W); (H, W, C) -> (C, H, W)."""
    img = np.asarray(img)
    return img[None] if img.ndim == 2 else np.moveaxis(img, -1, 0)
