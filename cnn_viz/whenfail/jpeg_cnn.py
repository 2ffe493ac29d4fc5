"""The small JPEG artifact CNN: the deblurring lesson's residual network (:class:`cnn_viz.deblur.cnn.ResidualCNN`,
here 5 layers of 24 channels, 3×3, 16,081 parameters) trained on grid-aligned patches of bundled pictures
compressed at qualities 5–50 (one network for every quality; the cameraman is held out)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from cnn_viz.common import assets
from cnn_viz.common.images import load_skimage, to_gray
from cnn_viz.common.metrics import psnr
from cnn_viz.deblur.cnn import TRAIN_IMAGES, ResidualCNN, restore_image
from cnn_viz.whenfail import jpeg

ARCH = dict(depth=5, width=24)
QUALITIES = (5, 8, 10, 15, 20, 30, 40, 50)
PATCH, BATCH, LR = 32, 16, 1e-3
HELD_OUT = "camera"
WEIGHTS = assets.WHENFAIL_JPEG_CNN


def make_pairs(names=TRAIN_IMAGES, sides=(256,)):
    """(JPEG, truth) full images, one per picture, side and quality."""
    pairs = []
    for name in names:
        for side in sides:
            x = jpeg.crop_to_blocks(to_gray(load_skimage(name, side)))
            for q in QUALITIES:
                pairs.append((jpeg.compress(x, q)[0].astype(np.float32), x.astype(np.float32)))
    return pairs


def _batch(pairs, rng: np.random.Generator):
    xs, ys = [], []
    for i in rng.integers(0, len(pairs), BATCH):
        y, x = pairs[i]
        h, w = y.shape
        r = jpeg.BLOCK * rng.integers(0, (h - PATCH) // jpeg.BLOCK + 1)  # on the block grid, as JPEG cut it
        c = jpeg.BLOCK * rng.integers(0, (w - PATCH) // jpeg.BLOCK + 1)
        xs.append(y[r:r + PATCH, c:c + PATCH])
        ys.append(x[r:r + PATCH, c:c + PATCH])
    return torch.from_numpy(np.stack(xs)[:, None]), torch.from_numpy(np.stack(ys)[:, None])


def train(minutes: float = 8.0, max_steps: int = 3000, seed: int = 0, progress=None):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    pairs = make_pairs()
    model = ResidualCNN(**ARCH)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    t0, step, loss_v = time.perf_counter(), 0, float("nan")
    while step < max_steps and time.perf_counter() - t0 < 60 * minutes:
        a, b = _batch(pairs, rng)
        loss = F.mse_loss(model(a), b)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        loss_v = float(loss.detach())
        if progress is not None and step % 25 == 0:
            progress(step, f"step {step}, loss {loss_v:.2e}, {time.perf_counter() - t0:.0f} s")
    model.eval()
    return model, {"steps": step, "seconds": round(time.perf_counter() - t0, 1), "final_loss": loss_v}


def held_out_psnr(model, quality: int = 10, side: int = 256) -> tuple[float, float]:
    """(JPEG, CNN) PSNR on the held-out cameraman."""
    x = jpeg.crop_to_blocks(to_gray(load_skimage(HELD_OUT, side)))
    y = jpeg.compress(x, quality)[0]
    return psnr(y, x), psnr(np.clip(restore_image(model, y), 0, 1), x)


def train_and_save(path, minutes: float, max_steps: int, seed: int, command: str, progress=None) -> dict:
    model, info = train(minutes, max_steps, seed, progress)
    info.update(command=command, torch=str(torch.__version__), patch=PATCH, batch=BATCH, lr=LR, qualities=list(QUALITIES),
                train_images=list(TRAIN_IMAGES), held_out=HELD_OUT,
                cameraman_q10=[round(v, 2) for v in held_out_psnr(model, 10)])
    torch.save({"config": model.config, "state_dict": model.state_dict(), "meta": info}, Path(path))
    return info


def load(path=WEIGHTS):
    ck = torch.load(path, map_location="cpu", weights_only=True)
    cfg = ck["config"]
    model = ResidualCNN(cfg["depth"], cfg["width"], tuple(cfg["dilations"]))
    model.load_state_dict(ck["state_dict"])
    model.eval()
    return model, ck.get("meta", {})


def restore(model, y: np.ndarray) -> np.ndarray:
    torch.set_num_threads(1)
    return np.clip(restore_image(model, y), 0, 1)


def with_cnn(model, img: np.ndarray, quality: int):
    """The classical case plus the CNN on the JPEG and the same CNN on the half-block-shifted image's JPEG:
    (JpegCase with every restoration, the shifted truth, the shifted JPEG, the shift's non-equivariance)."""
    case = jpeg.classical(img, quality)
    xs = jpeg.shift_half_block(case.truth)
    ys = jpeg.compress(xs, quality)[0]
    extra = (jpeg.Restoration("cnn", "Small CNN (shipped)", restore(model, case.jpeg), case.truth),
             jpeg.Restoration("cnn_shift", "Same CNN, image shifted by half a block", restore(model, ys), xs,
                              note="scored against the shifted original"))
    case = jpeg.JpegCase(case.truth, case.jpeg, case.nbytes, case.quality, case.table, case.restorations + extra)
    return case, xs, ys, jpeg.grid_non_equivariance(case.truth, quality)
