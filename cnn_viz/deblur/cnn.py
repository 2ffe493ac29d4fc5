"""Learned deblurring (PyTorch): two small residual CNNs, their training data and training loop.

(a) "direct": blurred image b → b + net(b)                  (the network must undo the blur itself)
(b) "tikcnn": Tikhonov solution x_λ → x_λ + net(x_λ)        (the network removes Tikhonov's artefacts)

Both are trained on patches of scikit-image's bundled pictures (cameraman and the validation
image are never used for training), blurred with the same PSF, boundary condition and noise
level as the evaluation (``experiment.TRAINED``). This module imports torch: import it only when
a CNN is needed.
"""

from __future__ import annotations

import copy
import time
import uuid
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cnn_viz.common import assets
from cnn_viz.common.images import load_skimage, to_gray
from cnn_viz.common.metrics import psnr, psnr_from_mse, ssim
from cnn_viz.common.torch_tools import count_parameters
from cnn_viz.deblur import forward, restore
from cnn_viz.deblur.experiment import CNN_KINDS, TRAINED, Degradation, NetworkInfo, Networks

WEIGHTS = assets.DEBLUR_WEIGHTS

# Bundled with scikit-image (no download). Cameraman is the evaluation image; coins is the validation image.
TRAIN_IMAGES = (
    "astronaut", "coffee", "chelsea", "text", "moon", "brick", "checkerboard", "grass", "gravel",
    "rocket", "page", "hubble_deep_field", "immunohistochemistry", "retina", "shepp_logan_phantom",
)
VALIDATION_IMAGE = "coins"
HELD_OUT = "camera"


class ResidualCNN(nn.Module):
    """depth conv layers of width channels (3×3, ReLU between); the output is added to the input."""

    def __init__(self, depth: int = 8, width: int = 32, dilations: tuple[int, ...] | None = None):
        super().__init__()
        dil = tuple(dilations) if dilations else (1,) * depth
        if len(dil) != depth:
            raise ValueError("one dilation per layer")
        self.config = {"depth": depth, "width": width, "dilations": list(dil)}
        layers: list[nn.Module] = []
        for i, dl in enumerate(dil):
            cin = 1 if i == 0 else width
            cout = 1 if i == depth - 1 else width
            layers.append(nn.Conv2d(cin, cout, 3, padding=dl, dilation=dl, padding_mode="reflect"))
            if i < depth - 1:
                layers.append(nn.ReLU(inplace=True))
        self.body = nn.Sequential(*layers)
        for mod in self.body:
            if isinstance(mod, nn.Conv2d):
                nn.init.kaiming_normal_(mod.weight, nonlinearity="relu")
                nn.init.zeros_(mod.bias)
        nn.init.normal_(self.body[-1].weight, std=1e-3)  # start close to the identity: the residual is learned

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


ARCH = {"direct": dict(depth=8, width=32, dilations=(1, 2, 3, 4, 4, 3, 2, 1)), "tikcnn": dict(depth=8, width=32)}


def model_input(b: np.ndarray, kind: str, deg: Degradation = TRAINED, solver_bc: str | None = None) -> np.ndarray:
    """What the network sees: the blurred image (direct) or its Tikhonov solution (tikcnn)."""
    if kind == "direct":
        return np.asarray(b, dtype=np.float64)
    return restore.tikhonov_auto(b, deg.psf(), solver_bc or deg.bc, deg.lam_rule)[0]


@dataclass
class Pairs:
    """Full-size training pairs (input, truth), one per image, scale and noise draw."""

    inputs: list[np.ndarray] = field(default_factory=list)
    truths: list[np.ndarray] = field(default_factory=list)


def make_pairs(kind: str, deg: Degradation = TRAINED, names=TRAIN_IMAGES, sides=(256, 512), draws: int = 2, seed: int = 1,
               progress=None) -> Pairs:
    """Blur, add noise and (for tikcnn) solve with Tikhonov each whole image, so the inputs
    carry the real boundary behaviour; patches are cut later."""
    if HELD_OUT in names:
        raise ValueError("cameraman is the held-out evaluation image; it must not be used for training")
    psf = deg.psf()
    out = Pairs()
    jobs = [(n, s, k) for n in names for s in sides for k in range(draws)]
    cache: dict = {}
    for j, (name, side, k) in enumerate(jobs):
        if (name, side) not in cache:
            cache[(name, side)] = to_gray(load_skimage(name, side)).astype(np.float64)
        x = cache[(name, side)]
        if min(x.shape) < 48:
            continue
        b, _ = forward.add_noise(forward.blur(x, psf, deg.bc), deg.noise, seed=seed * 100003 + j)
        out.inputs.append(model_input(b, kind, deg).astype(np.float32))
        out.truths.append(x.astype(np.float32))
        if progress:
            progress(j + 1, len(jobs))
    return out


def _batch(pairs: Pairs, rng: np.random.Generator, batch: int, patch: int):
    xs, ys = [], []
    weights = np.array([a.size for a in pairs.inputs], dtype=np.float64)
    idx = rng.choice(len(pairs.inputs), size=batch, p=weights / weights.sum())
    for i in idx:
        a, t = pairs.inputs[i], pairs.truths[i]
        h, w = a.shape
        r, c = rng.integers(0, h - patch + 1), rng.integers(0, w - patch + 1)
        pa, pt = a[r: r + patch, c: c + patch], t[r: r + patch, c: c + patch]
        k = int(rng.integers(8))  # the 8 symmetries of the square commute with a symmetric blur
        if k & 1:
            pa, pt = pa[::-1], pt[::-1]
        if k & 2:
            pa, pt = pa[:, ::-1], pt[:, ::-1]
        if k & 4:
            pa, pt = pa.T, pt.T
        xs.append(np.ascontiguousarray(pa))
        ys.append(np.ascontiguousarray(pt))
    return torch.from_numpy(np.stack(xs)[:, None]), torch.from_numpy(np.stack(ys)[:, None])


def restore_image(model: nn.Module, img: np.ndarray) -> np.ndarray:
    """Run the network on an (H, W) or (H, W, C) image, channel by channel; returns float64."""
    img = np.asarray(img, dtype=np.float32)
    if img.ndim == 3:
        return np.stack([restore_image(model, img[..., c]) for c in range(img.shape[2])], axis=-1)
    with torch.inference_mode():
        out = model(torch.from_numpy(np.ascontiguousarray(img))[None, None])
    return out[0, 0].numpy().astype(np.float64)


def eval_pair(kind: str, deg: Degradation = TRAINED, name: str = HELD_OUT, side: int = 256, seed: int = 0):
    """(network input, true image) for one bundled image, degraded as in training (seed 0 = the page's default noise)."""
    x = to_gray(load_skimage(name, side)).astype(np.float64)
    b, _ = forward.add_noise(forward.blur(x, deg.psf(), deg.bc), deg.noise, seed=seed)
    return model_input(b, kind, deg), x


@dataclass(frozen=True)
class Evaluation:
    input_psnr: float  # of the network's input (the blurred image or Tikhonov's solution)
    psnr: float  # of its output
    ssim: float


def evaluate(model: nn.Module, kind: str, deg: Degradation = TRAINED, name: str = HELD_OUT, side: int = 256, seed: int = 0,
             pair=None) -> Evaluation:
    """PSNR of the input and PSNR and SSIM of the network's output on one image."""
    inp, x = pair if pair is not None else eval_pair(kind, deg, name, side, seed)
    out = np.clip(restore_image(model, inp), 0, 1)
    return Evaluation(psnr(np.clip(inp, 0, 1), x), psnr(out, x), ssim(out, x))


def train(kind: str, *, seconds: float = 600, max_steps: int | None = None, batch: int = 16, patch: int = 48,
          lr: float = 1e-3, seed: int = 0, deg: Degradation = TRAINED, pairs: Pairs | None = None,
          model: nn.Module | None = None, threads: int = 1, progress=None, log_every: int = 50, warmup: int = 100,
          validate=None, should_stop=None):
    """Adam on the mean squared error of random patches; the learning rate warms up linearly over
    ``warmup`` steps (a large first step can kill every ReLU) and is then cosine-decayed over the
    time budget. ``progress(fraction, message)`` is called every ``log_every`` steps, with
    ``validate(model)`` (a string) appended when given; ``should_stop()`` ends it after the current step.
    Returns (model, history) with history = list of (step, seconds, train loss)."""
    if kind not in ARCH:
        raise ValueError(f"Unknown CNN kind {kind!r}; choose one of {', '.join(ARCH)}.")
    torch.set_num_threads(int(threads))
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    if pairs is None:
        pairs = make_pairs(kind, deg)
    model = model or ResidualCNN(**ARCH[kind])
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    t0 = time.perf_counter()
    hist, step, run = [], 0, 0.0
    while True:
        elapsed = time.perf_counter() - t0
        frac = max(elapsed / seconds if seconds else 0.0, step / max_steps if max_steps else 0.0)
        if frac >= 1 or (should_stop is not None and should_stop()):
            break
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / max(warmup, 1)) * 0.5 * (1 + np.cos(np.pi * min(frac, 1.0)))
        xb, yb = _batch(pairs, rng, batch, patch)
        loss = torch.mean((model(xb) - yb) ** 2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        lv = loss.item()
        run = 0.98 * run + 0.02 * lv if step > 1 else lv
        if step % log_every == 0:
            hist.append((step, time.perf_counter() - t0, run))
            if progress:
                extra = ""
                if validate is not None:
                    model.eval()
                    extra = ", " + validate(model)
                    model.train()
                progress(min(frac, 1.0), f"step {step}, {time.perf_counter() - t0:.0f} s, loss {run:.2e} (≈ {psnr_from_mse(max(run, 1e-12)):.1f} dB on patches){extra}")
    model.eval()
    return model, hist


def save(model: ResidualCNN, kind: str, path: Path, meta: dict) -> None:
    torch.save({"kind": kind, "config": model.config, "state_dict": model.state_dict(), "meta": meta}, path)


def load(path: Path) -> tuple[ResidualCNN, dict]:
    """A shipped or retrained network, in eval mode, plus its metadata (how it was trained)."""
    ck = torch.load(path, map_location="cpu", weights_only=True)
    cfg = ck["config"]
    model = ResidualCNN(cfg["depth"], cfg["width"], tuple(cfg["dilations"]))
    model.load_state_dict(ck["state_dict"])
    model.eval()
    return model, dict(ck.get("meta", {}), kind=ck["kind"])


def load_shipped() -> dict[str, tuple[ResidualCNN, dict]]:
    """{kind: (network, meta)} for each shipped weights file there is."""
    return {kind: load(path) for kind, path in WEIGHTS.items() if path.exists()}


def networks(shipped: dict[str, tuple[ResidualCNN, dict]], retrained: dict[str, tuple[ResidualCNN, NetworkInfo]]) -> Networks:
    """The comparison's CNN methods: the shipped networks, with the retrained ones in their place."""
    models = {CNN_KINDS[kind]: (model, NetworkInfo.from_meta(meta)) for kind, (model, meta) in shipped.items()}
    models.update({CNN_KINDS[kind]: pair for kind, pair in retrained.items()})
    return Networks({name: partial(restore_image, m) for name, (m, _) in models.items()},
                    {name: info for name, (_, info) in models.items()})


@dataclass(frozen=True, eq=False)
class Retrained:
    kind: str
    model: ResidualCNN
    info: NetworkInfo
    evaluation: Evaluation  # on the held-out cameraman

    @property
    def summary(self) -> str:
        ev = self.evaluation
        return (f"{CNN_KINDS[self.kind]} retrained for {self.info.train_seconds:.0f} s ({self.info.steps} steps): cameraman "
                f"{ev.input_psnr:.2f} → {ev.psnr:.2f} dB.")


def retrain(kind: str, seconds: float, pairs: Pairs, base: ResidualCNN | None = None, progress=None,
            should_stop=None) -> Retrained:
    """A short training run from ``base`` (a copy of it: the shipped network stays as it is; lr 3e-4)
    or from scratch (lr 1e-3), then the evaluation on the held-out cameraman. ``progress(fraction,
    message)`` is told about each step; ``should_stop()`` ends the training early (what was trained is kept)."""
    model = copy.deepcopy(base) if base is not None else ResidualCNN(**ARCH[kind])
    t0 = time.perf_counter()
    say = progress or (lambda fraction, message: None)
    model, hist = train(kind, seconds=seconds, pairs=pairs, model=model, lr=3e-4 if base is not None else 1e-3, warmup=20,
                        seed=int(t0) % 1000, log_every=5, progress=lambda fr, msg: say(fr, f"Training {CNN_KINDS[kind]}: {msg}"),
                        should_stop=should_stop)
    say(1.0, "Evaluating on the held-out cameraman…")
    ev = evaluate(model, kind)
    info = NetworkInfo(params=count_parameters(model), train_seconds=round(time.perf_counter() - t0, 1),
                       steps=hist[-1][0] if hist else 0, retrained_here=True, stamp=uuid.uuid4().hex)
    return Retrained(kind, model, info, ev)
