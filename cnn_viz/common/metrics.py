"""Image and signal quality measures, one implementation each (checked against scikit-image).

Every function takes the estimate first and the reference second.
"""

from __future__ import annotations

import numpy as np


def mse(x: np.ndarray, ref: np.ndarray) -> float:
    """Mean squared error."""
    return float(np.mean((np.asarray(x, dtype=np.float64) - np.asarray(ref, dtype=np.float64)) ** 2))


def psnr_from_mse(err: float, data_range: float = 1.0) -> float:
    """10 log₁₀(range² / MSE) in dB; infinite for a perfect estimate."""
    return float("inf") if err == 0 else float(10 * np.log10(data_range**2 / err))


def psnr(x: np.ndarray, ref: np.ndarray, data_range: float = 1.0) -> float:
    """Peak signal-to-noise ratio, 10 log₁₀(range² / mean squared error), in dB."""
    return psnr_from_mse(mse(x, ref), data_range)


def norm(x: np.ndarray) -> float:
    """Euclidean (Frobenius) norm without BLAS: np.linalg.norm calls a multi-threaded BLAS dot,
    whose threads wait on each other on a busy 2-core server."""
    x = np.asarray(x)
    return float(np.sqrt(np.sum(np.abs(x) ** 2 if np.iscomplexobj(x) else x * x)))


def relative_error(x: np.ndarray, ref: np.ndarray) -> float:
    """‖x − ref‖ / ‖ref‖ (0 when both are zero)."""
    ref = np.asarray(ref, dtype=np.float64)
    den = norm(ref)
    diff = norm(np.asarray(x, dtype=np.float64) - ref)
    return diff / den if den > 0 else (0.0 if diff == 0 else float("inf"))


def ssim(x: np.ndarray, ref: np.ndarray, data_range: float = 1.0, win: int = 7) -> float:
    """Structural similarity with scikit-image's defaults (7×7 uniform window, sample
    covariance, K1 = 0.01, K2 = 0.03, border of 3 px left out); colour = mean over channels."""
    from scipy.ndimage import uniform_filter

    x = np.asarray(x, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if x.shape != ref.shape:
        raise ValueError("SSIM needs two images of the same shape.")
    if x.ndim == 3:
        return float(np.mean([ssim(x[..., c], ref[..., c], data_range, win) for c in range(x.shape[2])]))
    if min(x.shape) < win:
        raise ValueError(f"SSIM needs an image of at least {win}×{win} pixels.")
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    npx = win * win
    cov_norm = npx / (npx - 1)
    ux, uy = uniform_filter(x, win), uniform_filter(ref, win)
    uxx, uyy, uxy = uniform_filter(x * x, win), uniform_filter(ref * ref, win), uniform_filter(x * ref, win)
    vx, vy, vxy = cov_norm * (uxx - ux * ux), cov_norm * (uyy - uy * uy), cov_norm * (uxy - ux * uy)
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    p = (win - 1) // 2
    return float(s[p:-p, p:-p].mean())
