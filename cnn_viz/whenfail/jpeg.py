"""The 2-D case: JPEG's independent 8×8 blocks (Pillow), their DCT and quantisation, classical restorations.

JPEG cuts the image into 8×8 blocks and treats each alone: the 2-D DCT-II (orthonormal), each coefficient
divided by its entry of the quantisation table and rounded. Pillow (libjpeg) scales the standard luminance
table with the quality q: s = 5000/q for q < 50, 200 − 2q otherwise; Qᵤᵥ = clip(⌊(Tᵤᵥ s + 50)/100⌋, 1, 255).

Classical restorations with their strength chosen by one stated rule, **quantisation consistency**: the
strongest smoothing whose result, cut into the same blocks and quantised with the same table, still gives
the JPEG file's own quantised coefficients for at least ``CONSISTENT`` of them. No true image is used.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy.fft import dctn
from scipy.ndimage import gaussian_filter

from cnn_viz.common import metrics

BLOCK = 8
MIN_Q, MAX_Q = 5, 50
MIN_SIDE = 16
PAGE_IMAGE, PAGE_SIDE = "Cameraman", 256  # the page's default picture and working size (the warm-up precomputes it)
CONSISTENT = 0.95
GAUSS_SIGMAS = (0.3, 0.45, 0.6, 0.8, 1.0, 1.3, 1.7, 2.2)
TV_WEIGHTS = (0.005, 0.01, 0.02, 0.035, 0.05, 0.08, 0.12, 0.18)
# The standard luminance table (ITU T.81, Annex K.1), row by row.
LUMA = np.array([
    [16, 11, 10, 16, 24, 40, 51, 61], [12, 12, 14, 19, 26, 58, 60, 55], [14, 13, 16, 24, 40, 57, 69, 56],
    [14, 17, 22, 29, 51, 87, 80, 62], [18, 22, 37, 56, 68, 109, 103, 77], [24, 35, 55, 64, 81, 104, 113, 92],
    [49, 64, 78, 87, 103, 121, 120, 101], [72, 92, 95, 98, 112, 100, 103, 99]], dtype=np.int64)


def check_quality(q) -> int:
    try:
        q = int(q)
    except (TypeError, ValueError):
        raise ValueError(f"The JPEG quality must be a whole number from {MIN_Q} to {MAX_Q}.") from None
    if not MIN_Q <= q <= MAX_Q:
        raise ValueError(f"The JPEG quality must be between {MIN_Q} and {MAX_Q}, got {q}.")
    return q


def quant_table(q: int) -> np.ndarray:
    """libjpeg's luminance table at quality q (what Pillow writes into the file)."""
    q = int(q)
    s = 5000 // q if q < 50 else 200 - 2 * q
    return np.clip((LUMA * s + 50) // 100, 1, 255)


def crop_to_blocks(img: np.ndarray) -> np.ndarray:
    """Grayscale float image cropped to whole 8×8 blocks; a ValueError when it is too small."""
    img = np.asarray(img, dtype=np.float64)
    if img.ndim == 3:
        img = img @ np.array([0.299, 0.587, 0.114])  # JPEG's own luma weights (ITU-R BT.601)
    if img.ndim != 2 or min(img.shape) < MIN_SIDE:
        raise ValueError(f"The image must be at least {MIN_SIDE}×{MIN_SIDE} pixels, got "
                         f"{'×'.join(str(s) for s in img.shape[:2])}.")
    h, w = (img.shape[0] // BLOCK) * BLOCK, (img.shape[1] // BLOCK) * BLOCK
    return img[:h, :w]


def to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(img) * 255), 0, 255).astype(np.uint8)


def compress(img: np.ndarray, quality: int) -> tuple[np.ndarray, int, np.ndarray]:
    """Pillow's JPEG round trip of a grayscale image in [0, 1] (cropped to whole blocks, no chroma, baseline):
    (decoded image in [0, 1], size in bytes, the quantisation table read back from the file)."""
    q = check_quality(quality)
    x = crop_to_blocks(img)
    buf = io.BytesIO()
    Image.fromarray(to_uint8(x), mode="L").save(buf, format="JPEG", quality=q, subsampling=0, optimize=False)
    data = buf.getvalue()
    with Image.open(io.BytesIO(data)) as im:
        table = np.array(im.quantization[0], dtype=np.int64)
        dec = np.asarray(im.convert("L"), dtype=np.float64) / 255.0
    return dec, len(data), table.reshape(BLOCK, BLOCK)  # Pillow gives it in natural (row by row) order


def block_dct(img: np.ndarray) -> np.ndarray:
    """(H/8, W/8, 8, 8) orthonormal 2-D DCT-II of every block of 255·x − 128 (JPEG's level shift)."""
    x = 255.0 * np.asarray(img, dtype=np.float64) - 128.0
    h, w = x.shape
    blocks = x.reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK).transpose(0, 2, 1, 3)
    return dctn(blocks, type=2, norm="ortho", axes=(2, 3))


def quantised_indices(img: np.ndarray, table: np.ndarray) -> np.ndarray:
    return np.round(block_dct(img) / table)


def consistency(img: np.ndarray, jpeg_indices: np.ndarray, table: np.ndarray) -> float:
    """Fraction of the JPEG file's nonzero quantised coefficients that ``img`` quantises to the same index
    (the zero ones are left out: nearly any smoothing keeps them at zero)."""
    nz = jpeg_indices != 0
    if not nz.any():
        return 1.0
    return float(np.mean(quantised_indices(img, table)[nz] == jpeg_indices[nz]))


@dataclass(frozen=True, eq=False)
class BlockView:
    """One block: the original's DCT coefficients, after quantisation (index × Q), and the table."""

    row: int
    col: int
    before: np.ndarray
    after: np.ndarray
    table: np.ndarray
    pixels: np.ndarray  # the original block (8×8, [0, 1])
    decoded: np.ndarray  # the JPEG block

    @property
    def zeroed(self) -> int:
        return int(np.sum((self.after == 0) & (np.abs(self.before) > 0.5)))


def block_view(x: np.ndarray, y: np.ndarray, table: np.ndarray, row: int, col: int) -> BlockView:
    h, w = x.shape
    row = int(np.clip(row, 0, h // BLOCK - 1))
    col = int(np.clip(col, 0, w // BLOCK - 1))
    sl = (slice(row * BLOCK, (row + 1) * BLOCK), slice(col * BLOCK, (col + 1) * BLOCK))
    F = block_dct(x[sl])[0, 0]
    return BlockView(row, col, F, np.round(F / table) * table, table, x[sl], y[sl])


# ------------------------------------------------------------------ restorations
def _by_consistency(y: np.ndarray, table: np.ndarray, outputs: dict):
    """The strongest of ``outputs`` (strength → smoothed y, weakest first) still quantisation-consistent with y
    (the weakest when none is)."""
    idx = quantised_indices(y, table)
    items = list(outputs.items())
    best = items[0]
    for s, out in items:
        if consistency(out, idx, table) < CONSISTENT:
            break
        best = (s, out)
    return best


def gaussian(y: np.ndarray, sigma: float) -> np.ndarray:
    return gaussian_filter(y, sigma, mode="reflect")


def tv(y: np.ndarray, weight: float) -> np.ndarray:
    from skimage.restoration import denoise_tv_chambolle

    return denoise_tv_chambolle(y, weight=weight)


@dataclass(frozen=True, eq=False)
class Restoration:
    key: str
    label: str
    image: np.ndarray  # [0, 1]
    truth: np.ndarray
    note: str = ""

    @functools.cached_property  # measured once (the page reads them on every rerun)
    def psnr(self) -> float:
        return metrics.psnr(np.clip(self.image, 0, 1), self.truth)

    @functools.cached_property
    def ssim(self) -> float:
        return metrics.ssim(np.clip(self.image, 0, 1), self.truth)


@dataclass(frozen=True, eq=False)
class JpegCase:
    """One image at one quality: the truth, the JPEG, the file size, the table, and the classical restorations."""

    truth: np.ndarray
    jpeg: np.ndarray
    nbytes: int
    quality: int
    table: np.ndarray
    restorations: tuple  # Restoration, classical ones (the page adds the CNN's)

    @property
    def bits_per_pixel(self) -> float:
        return 8.0 * self.nbytes / self.truth.size


def classical(img: np.ndarray, quality: int) -> JpegCase:
    """Compress, then restore by none / Gaussian / TV (both by quantisation consistency) and TV at the weight
    that is best against the truth (an oracle, shown for reference)."""
    x = crop_to_blocks(img)
    y, nbytes, table = compress(x, quality)
    s_g, g = _by_consistency(y, table, {s: gaussian(y, s) for s in GAUSS_SIGMAS})
    tvs = {w: tv(y, w) for w in TV_WEIGHTS}
    w_t, t = _by_consistency(y, table, tvs)
    oracle = max(tvs.items(), key=lambda p: metrics.psnr(np.clip(p[1], 0, 1), x))
    rest = (Restoration("none", "JPEG as decoded", y, x),
            Restoration("gauss", f"Gaussian σ = {s_g:g} px (consistency rule)", g, x),
            Restoration("tv", f"TV (Chambolle) weight {w_t:g} (consistency rule)", t, x),
            Restoration("tv_oracle", f"TV weight {oracle[0]:g} (best against the truth: an oracle)", oracle[1], x))
    return JpegCase(x, y, nbytes, int(quality), table, rest)


def shift_half_block(img: np.ndarray) -> np.ndarray:
    """The image moved by half a block (4 px) down and right: the JPEG grid now cuts it elsewhere."""
    x = crop_to_blocks(img)
    return crop_to_blocks(x[BLOCK // 2:, BLOCK // 2:])


def grid_non_equivariance(img: np.ndarray, quality: int) -> float:
    """‖JPEG(shift x) − shift(JPEG x)‖ / ‖shift(JPEG x) − shift x‖ on the common part: 0 for a shift-equivariant
    operator; about 1 or more means the artifacts are entirely different after the shift."""
    x = crop_to_blocks(img)
    y = compress(x, quality)[0]
    xs = shift_half_block(x)
    ys = compress(xs, quality)[0]
    h, w = xs.shape
    sy = y[BLOCK // 2: BLOCK // 2 + h, BLOCK // 2: BLOCK // 2 + w]
    return metrics.relative_error(ys, sy) * metrics.norm(sy) / max(metrics.norm(sy - xs), 1e-12)


DEBLUR_GAIN_DB = 1.12  # the deblurring page's measured gain: Tikhonov + CNN over the best classical method (cameraman)


def gain_over_classical(case: JpegCase, key: str = "cnn") -> float:
    """PSNR of restoration ``key`` minus the best classical restoration chosen by a rule (the oracle left out)."""
    rest = {r.key: r for r in case.restorations}
    best = max(rest[k].psnr for k in ("none", "gauss", "tv") if k in rest)
    return rest[key].psnr - best
