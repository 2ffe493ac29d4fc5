"""The course report's SimpleCNN for MNIST, run layer by layer (section 2.5).

Everything here treats a model as read-only: ``activations`` calls the layers one after
another (no hooks), and ``saliency`` / ``grad_cam`` ask ``torch.autograd.grad`` for the
gradient with respect to the input or a feature map only, so no ``.grad`` is written into
the parameters of the shared (cached) model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from cnn_viz.common import assets
from cnn_viz.common.torch_tools import on_torch_thread
from cnn_viz.mnist.data import to_float

WEIGHTS_PATH = assets.SIMPLE_CNN_WEIGHTS

# Every intermediate of the forward pass, in order, with what it is.
LAYERS = {
    "conv1": "5×5 convolution, 1 → 16 channels, padding 2",
    "bn1": "batch normalization of conv1 (running statistics)",
    "relu1": "ReLU: negative values set to 0",
    "pool1": "2×2 max pooling, stride 2",
    "conv2": "5×5 convolution, 16 → 32 channels, padding 2",
    "bn2": "batch normalization of conv2",
    "relu2": "ReLU",
    "pool2": "2×2 max pooling, stride 2",
    "flatten": "32·7·7 = 1568 numbers in a row",
    "fc1": "fully connected, 1568 → 128",
    "relu": "ReLU on the 128 hidden units",
    "fc2": "fully connected, 128 → 10: the logits",
    "softmax": "probabilities of the 10 digits",
}


class SimpleCNN(nn.Module):
    """The report's model, kept exactly (215,466 parameters)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=5, padding=2)
        self.bn1 = nn.BatchNorm2d(16)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(16, 32, kernel_size=5, padding=2)
        self.bn2 = nn.BatchNorm2d(32)
        self.fc1 = nn.Linear(32 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        x = self.pool(F.relu(self.bn2(self.conv2(x))))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        return self.fc2(x)

    def forward_cam(self, x):
        """(logits, the conv2 maps after BN and ReLU): what Grad-CAM needs (designs have the same method)."""
        h = self.pool(F.relu(self.bn1(self.conv1(x))))
        maps = F.relu(self.bn2(self.conv2(h)))
        h = self.pool(maps)
        return self.fc2(F.relu(self.fc1(torch.flatten(h, 1)))), maps


def as_input(x) -> torch.Tensor:
    """A digit (28, 28) or a batch (N, 28, 28) / (N, 1, 28, 28), uint8 (0-255) or float in [0, 1],
    NumPy or torch -> float32 tensor (N, 1, 28, 28), white ink on black as in MNIST."""
    if isinstance(x, torch.Tensor):
        t = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    else:
        t = torch.from_numpy(np.ascontiguousarray(to_float(x)))
    if t.ndim == 2:
        t = t[None, None]
    elif t.ndim == 3:
        t = t[:, None]
    if t.ndim != 4 or tuple(t.shape[1:]) != (1, 28, 28):
        raise ValueError(f"The network reads 28×28 grayscale digits; got an array of shape {tuple(x.shape)}.")
    return t


def _forward_all(model: SimpleCNN, x: torch.Tensor) -> dict[str, torch.Tensor]:
    out = {}
    out["conv1"] = h = model.conv1(x)
    out["bn1"] = h = model.bn1(h)
    out["relu1"] = h = F.relu(h)
    out["pool1"] = h = model.pool(h)
    out["conv2"] = h = model.conv2(h)
    out["bn2"] = h = model.bn2(h)
    out["relu2"] = h = F.relu(h)
    out["pool2"] = h = model.pool(h)
    out["flatten"] = h = torch.flatten(h, 1)
    out["fc1"] = h = model.fc1(h)
    out["relu"] = h = F.relu(h)
    out["fc2"] = h = model.fc2(h)
    out["softmax"] = F.softmax(h, dim=1)
    return out


@on_torch_thread
def activations(model: SimpleCNN, x) -> dict[str, torch.Tensor]:
    """Every intermediate of the forward pass, in order (keys of ``LAYERS``), for a digit or a batch.

    The layers are called one after another: no hooks, nothing stored on the model.
    Put the model in eval mode first (``load_pretrained`` does). A built design (``design.DesignNet``)
    gives its own layers, by their names, and "softmax".
    """
    with torch.inference_mode():
        forward_all = getattr(model, "forward_all", None)
        return forward_all(as_input(x)) if forward_all else _forward_all(model, as_input(x))


@on_torch_thread
def predict(model: SimpleCNN, x) -> np.ndarray:
    """Class probabilities, (10,) for one digit or (N, 10) for a batch."""
    t = as_input(x)
    with torch.inference_mode():
        p = F.softmax(model(t), dim=1).numpy()
    return p[0] if np.ndim(x) == 2 or (isinstance(x, torch.Tensor) and x.ndim == 2) else p


def accuracy(model: SimpleCNN, images: np.ndarray, labels: np.ndarray, batch: int = 500) -> float:
    """Fraction of ``images`` (uint8 (N, 28, 28)) classified as ``labels``."""
    right = 0
    with torch.inference_mode():
        for i in range(0, len(labels), batch):
            logits = model(as_input(images[i:i + batch]))
            right += int((logits.argmax(1).numpy() == np.asarray(labels[i:i + batch])).sum())
    return right / max(1, len(labels))


def confusion(model, images: np.ndarray, labels: np.ndarray, batch: int = 500) -> np.ndarray:
    """10×10 counts: row = true digit, column = the network's answer, over ``images`` (uint8 (N, 28, 28))."""
    out = np.zeros((10, 10), dtype=np.int64)
    with torch.inference_mode():
        for i in range(0, len(labels), batch):
            guess = model(as_input(images[i:i + batch])).argmax(1).numpy()
            np.add.at(out, (np.asarray(labels[i:i + batch], dtype=np.int64), guess), 1)
    return out


def weights(model: SimpleCNN) -> dict[str, np.ndarray]:
    """Copies of every parameter and BN statistic as NumPy arrays, by name ("conv1.weight" (16, 1, 5, 5), "conv1.bias", ...)."""
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def load_pretrained(path: Path | str | None = None) -> SimpleCNN:
    """The shipped weights (``assets/simple_cnn.pt``) in a SimpleCNN, in eval mode."""
    path = Path(path) if path else WEIGHTS_PATH
    if not path.exists():
        raise ValueError(f"No trained weights at {path}; run `python -m cnn_viz.mnist.train` to make them.")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    state = blob["state_dict"] if isinstance(blob, dict) and "state_dict" in blob else blob
    model = SimpleCNN()
    model.load_state_dict(state)
    return model.eval()


def load_meta(path: Path | str | None = None) -> dict:
    """What the training run stored beside the weights (command, epochs, held-out accuracy, ...)."""
    blob = torch.load(Path(path) if path else WEIGHTS_PATH, map_location="cpu", weights_only=True)
    return dict(blob.get("meta", {})) if isinstance(blob, dict) else {}


@on_torch_thread
def _class_score_grads(model: SimpleCNN, x: torch.Tensor, target: int | None, want_maps: bool):
    """Forward with the input (and the last conv block's maps) in the graph; gradients of one class score
    by autograd.grad. Works for SimpleCNN and any built design (both have ``forward_cam``; a design
    without convolution has no maps, so only saliency).

    Only the requested tensors get gradients; the model's parameters' ``.grad`` are untouched.
    """
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        if want_maps:
            logits, maps = model.forward_cam(x)
        else:
            logits, maps = model(x), None
        c = int(logits[0].argmax()) if target is None else int(target)
        if not 0 <= c < logits.shape[1]:
            raise ValueError(f"The class must be a digit 0-9, got {target}.")
        wrt = [x, maps] if want_maps else [x]
        grads = torch.autograd.grad(logits[0, c], wrt)
    return c, x.detach(), None if maps is None else maps.detach(), grads


def saliency(model: SimpleCNN, digit, target: int | None = None) -> tuple[np.ndarray, int]:
    """∂(logit of ``target``)/∂(input pixels), a (28, 28) array, and the class used (default: the prediction)."""
    if model.training:
        raise ValueError("Put the model in eval mode before computing a saliency map.")
    c, _, _, grads = _class_score_grads(model, as_input(digit)[:1], target, want_maps=False)
    return grads[0][0, 0].numpy().copy(), c


def grad_cam(model: SimpleCNN, digit, target: int | None = None) -> tuple[np.ndarray, int]:
    """Grad-CAM on conv2 (after its BN and ReLU, 32×14×14; for a design: its last conv layer's block):
    ReLU(Σ_k α_k A_k) with α_k the spatial mean of ∂score/∂A_k, upsampled bilinearly to 28×28 and scaled
    to [0, 1]. Returns (map, class)."""
    if model.training:
        raise ValueError("Put the model in eval mode before computing Grad-CAM.")
    c, _, maps, grads = _class_score_grads(model, as_input(digit)[:1], target, want_maps=True)
    alpha = grads[1].mean(dim=(2, 3), keepdim=True)
    cam = F.relu((alpha * maps).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=(28, 28), mode="bilinear", align_corners=False)[0, 0]
    top = float(cam.max())
    return (cam / top if top > 0 else cam).numpy().copy(), c

