"""The trained CNN's own weights compressed by truncated SVDs, and separable kernels (torch).

fc1 (1568 → 128) holds a 128 × 1568 weight matrix W. Its rank-k truncation W_k = U_k Σ_k V_kᵀ
is applied as two thinner layers, x ↦ (Σ_k^{1/2} V_kᵀ) x ↦ (U_k Σ_k^{1/2}) (·) + bias, with
k(1568 + 128) weights instead of 1568·128. conv2's 32 kernels of 16 × 5 × 5 are the rows of a
32 × 400 matrix; its rank-k truncation is a 5 × 5 convolution to k channels followed by a 1 × 1
convolution to 32 channels. The models built here are new copies: the shared cached model is
never modified.

A 2-D kernel of rank 1 is an outer product K = c rᵀ: convolving with it equals a column pass with c
then a row pass with r, kh + kw multiplications per pixel instead of kh·kw.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from cnn_viz.common import fmt, kernels
from cnn_viz.common.torch_tools import count_parameters


def _svd(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    u, s, vh = torch.linalg.svd(w.detach().to(torch.float64), full_matrices=False)
    return u, s, vh


def _check_rank(k: int, full: int, what: str) -> int:
    k = int(k)
    if k < 1 or k > full:
        raise ValueError(f"The rank of {what} must be between 1 and {full}, got {k}.")
    return k


def _factor_pair(first: nn.Module, second: nn.Module, mat: torch.Tensor, k: int, bias: torch.Tensor | None) -> nn.Sequential:
    """Load ``first`` with Σ_k^{1/2} V_kᵀ and ``second`` with U_k Σ_k^{1/2} (and ``bias``), reshaped to their
    weights: together they apply the rank-k truncation of ``mat`` (out × in)."""
    u, s, vh = _svd(mat)
    root = s[:k].sqrt()
    with torch.no_grad():
        first.weight.copy_((root[:, None] * vh[:k]).reshape(first.weight.shape).to(first.weight.dtype))
        second.weight.copy_((u[:, :k] * root[None, :]).reshape(second.weight.shape).to(second.weight.dtype))
        if bias is not None:
            second.bias.copy_(bias)
    return nn.Sequential(first, second)


def factorize_linear(layer: nn.Linear, k: int) -> nn.Sequential:
    """Two linear layers whose product is the rank-k truncation of ``layer.weight`` (bias kept)."""
    out_f, in_f = layer.weight.shape
    k = _check_rank(k, min(out_f, in_f), "a linear layer")
    first = nn.Linear(in_f, k, bias=False)
    second = nn.Linear(k, out_f, bias=layer.bias is not None)
    return _factor_pair(first, second, layer.weight, k, layer.bias)


def conv_matrix(conv: nn.Conv2d) -> torch.Tensor:
    """The conv weights (out, in, kh, kw) as an out × (in·kh·kw) matrix: one row per kernel."""
    return conv.weight.detach().reshape(conv.out_channels, -1)


def factorize_conv(conv: nn.Conv2d, k: int) -> nn.Sequential:
    """A kh × kw convolution to k channels then a 1 × 1 convolution back to ``out_channels``,
    whose combined weights are the rank-k truncation of ``conv_matrix(conv)`` (bias kept)."""
    if conv.groups != 1:
        raise ValueError("Only ordinary (groups = 1) convolutions can be factorized here.")
    mat = conv_matrix(conv)
    k = _check_rank(k, min(mat.shape), "a convolution")
    first = nn.Conv2d(conv.in_channels, k, conv.kernel_size, stride=conv.stride, padding=conv.padding,
                      dilation=conv.dilation, bias=False, padding_mode=conv.padding_mode)
    second = nn.Conv2d(k, conv.out_channels, 1, bias=conv.bias is not None)
    return _factor_pair(first, second, mat, k, conv.bias)


def factored_weight(seq: nn.Sequential) -> torch.Tensor:
    """The single weight matrix a factorized pair applies: second · first (as out × in matrices)."""
    first, second = seq[0], seq[1]
    a = first.weight.reshape(first.weight.shape[0], -1)
    b = second.weight.reshape(second.weight.shape[0], -1)
    return b @ a


def compressed(model: nn.Module, fc1_rank: int | None = None, conv2_rank: int | None = None) -> nn.Module:
    """A copy of ``model`` with fc1 and/or conv2 replaced by their rank-k factorizations, in eval mode."""
    new = copy.deepcopy(model)
    if fc1_rank is not None:
        new.fc1 = factorize_linear(model.fc1, fc1_rank)
    if conv2_rank is not None:
        new.conv2 = factorize_conv(model.conv2, conv2_rank)
    return new.eval()


# SimpleCNN's two compressed weight matrices, out × in: fc1 1568 → 128, conv2 32 kernels of 16 × 5 × 5.
SHAPES = {"fc1": (128, 32 * 7 * 7), "conv2": (32, 16 * 5 * 5)}


def factored_parameters(shape: tuple[int, int], k: int | None) -> int:
    """Weights + biases of an out × in layer (m × n) at rank k, k(m + n) + m, or m·n + m in full (k None)."""
    m, n = int(shape[0]), int(shape[1])
    return m * n + m if k is None else int(k) * (m + n) + m


def layer_parameters(layer: str, k: int | None) -> int:
    """Weights + biases of SimpleCNN's fc1 (1568 → 128) or conv2 (16 → 32, 5 × 5) at rank k (None: full)."""
    if layer not in SHAPES:
        raise ValueError(f"layer must be 'fc1' or 'conv2', got {layer!r}.")
    return factored_parameters(SHAPES[layer], k)


@dataclass(frozen=True)
class RankPoint:
    """One rank k of a layer's sweep, against the full model."""

    k: int
    accuracy: float  # %
    accuracy_change: float  # percentage points against the full model
    layer_params: int
    full_layer_params: int
    model_params: int

    @property
    def fewer(self) -> bool:
        return self.layer_params < self.full_layer_params

    @property
    def size_change(self) -> str:
        if self.fewer:
            return f"{self.full_layer_params / self.layer_params:.1f}× fewer"
        return f"{self.layer_params / self.full_layer_params:.2f}× more"


@dataclass(frozen=True)
class RankSweep:
    layer: str
    shape: tuple[int, int]  # the layer's weight matrix, out × in
    ranks: np.ndarray  # k = 1 .. full
    accuracy: np.ndarray  # % of the held-out digits, at each k
    layer_params: np.ndarray  # parameters of the (factorized) layer at each k
    model_params: np.ndarray  # parameters of the whole model at each k
    full_accuracy: float
    full_layer_params: int
    full_model_params: int
    singular_values: np.ndarray
    n_digits: int  # how many held-out digits the accuracies are measured on

    @property
    def full_rank(self) -> int:
        return int(self.ranks[-1])

    def smallest_within(self, points: float = 0.5) -> int | None:
        """Smallest k whose accuracy is within ``points`` percentage points of the full model."""
        return smallest_rank_within(self.ranks, self.accuracy, self.full_accuracy, points)

    def at(self, k: int) -> RankPoint:
        """The accuracy and size at rank ``k`` (one of ``ranks``)."""
        i = int(np.searchsorted(self.ranks, int(k)))
        if i >= len(self.ranks) or self.ranks[i] != int(k):
            raise ValueError(f"Rank {k} of {self.layer} was not measured.")
        acc = float(self.accuracy[i])
        return RankPoint(int(k), acc, acc - self.full_accuracy, int(self.layer_params[i]), self.full_layer_params,
                         int(self.model_params[i]))

    @property
    def table(self) -> np.ndarray:
        """Columns k, accuracy %, layer parameters, model parameters (the CSV download)."""
        return np.column_stack([self.ranks, self.accuracy, self.layer_params, self.model_params])

    def caption(self, points: float = 0.5, zoom: float = 8.0) -> str:
        """What the accuracy curve shows (``points``: the band under the full model; ``zoom``: the y axis's span)."""
        kmin = self.smallest_within(points)
        text = (f"{self.layer} as a {self.shape[0]} × {self.shape[1]} matrix, truncated to rank k = 1 … {self.full_rank} "
                f"(log axis); accuracy on the {self.n_digits:,} held-out digits (full model {self.full_accuracy:.1f}%, "
                f"green band: within {points:g} points; the axis shows the top {zoom:g} points, rank 1 is at "
                f"{self.accuracy[0]:.0f}%). ")
        if kmin is None:
            return text + f"No rank reaches within {points:g} points of the full model ({self.full_accuracy:.1f}%)."
        best = self.at(kmin)
        return text + (f"The smallest k inside the band is {kmin}: {best.layer_params:,} parameters instead of "
                       f"{self.full_layer_params:,} ({best.size_change}), the whole model {best.model_params:,} "
                       f"instead of {self.full_model_params:,}.")


def smallest_rank_within(ranks, accuracy, full_accuracy: float, points: float = 0.5) -> int | None:
    ok = np.flatnonzero(np.asarray(accuracy, dtype=np.float64) >= float(full_accuracy) - points - 1e-9)
    return int(np.asarray(ranks)[ok[0]]) if ok.size else None


def rank_sweep(model: nn.Module, images, labels, layer: str = "fc1", ranks=None, progress=None) -> RankSweep:
    """Held-out accuracy and parameter counts of SimpleCNN ``model`` with ``layer`` ("fc1" or "conv2")
    at every rank in ``ranks`` (default 1 .. full). ``images``: uint8 (N, 28, 28) or float (N, 1, 28, 28);
    ``progress(fraction, text)`` reports.

    Fast but exact: the layers before the replaced one run once, and the replaced layer's input is
    multiplied once by all of V (fc1) or convolved once with all the right singular "kernels" (conv2);
    rank k then keeps the first k of those channels and combines them with U_k Σ_k, which is by
    linearity the same as running ``compressed(model, ...)`` (the tests check it).
    """
    from cnn_viz.mnist.model import as_input

    if layer not in ("fc1", "conv2"):
        raise ValueError(f"layer must be 'fc1' or 'conv2', got {layer!r}.")
    x = as_input(images)
    y = torch.tensor(np.asarray(labels), dtype=torch.long)  # a copy: the labels may be read-only (shared)
    mat = model.fc1.weight.detach() if layer == "fc1" else conv_matrix(model.conv2)
    full = min(mat.shape)
    ranks = np.arange(1, full + 1) if ranks is None else np.array(sorted({int(k) for k in ranks}))
    for k in ranks:
        _check_rank(k, full, layer)
    u, s, vh = (t.to(torch.float32) for t in _svd(mat))
    us = u * s[None, :]
    full_model = count_parameters(model)
    accs = []

    def acc(logits):
        return 100.0 * float((logits.argmax(1) == y).sum()) / max(1, len(y))

    with torch.inference_mode():
        h1 = model.pool(F.relu(model.bn1(model.conv1(x))))
        feats = torch.flatten(model.pool(F.relu(model.bn2(model.conv2(h1)))), 1)
        full_acc = acc(model.fc2(F.relu(model.fc1(feats))))
        if layer == "fc1":
            z = feats @ vh.T  # (N, 128): coordinates of the input along every right singular vector
        else:
            c = model.conv2
            z = F.conv2d(h1, vh.reshape(-1, *c.weight.shape[1:]), stride=c.stride, padding=c.padding, dilation=c.dilation)
        for i, k in enumerate(ranks):
            if progress:
                progress(i / len(ranks), f"{layer} at rank {k} of {full}")
            k = int(k)
            if layer == "fc1":
                hidden = z[:, :k] @ us[:, :k].T + model.fc1.bias
                logits = model.fc2(F.relu(hidden))
            else:
                maps = torch.einsum("ok,nkhw->nohw", us[:, :k], z[:, :k]) + model.conv2.bias[None, :, None, None]
                h = model.pool(F.relu(model.bn2(maps)))
                logits = model.fc2(F.relu(model.fc1(torch.flatten(h, 1))))
            accs.append(acc(logits))
    if progress:
        progress(1.0, "done")
    shape = (int(mat.shape[0]), int(mat.shape[1]))
    lps = np.array([factored_parameters(shape, int(k)) for k in ranks])
    full_layer = factored_parameters(shape, None)
    return RankSweep(layer, shape, ranks, np.array(accs), lps, full_model - full_layer + lps, full_acc, full_layer,
                     full_model, s.numpy().astype(np.float64), len(y))


# ---------------------------------------------------------------- separable kernels


@dataclass(frozen=True)
class SeparableCase:
    name: str
    kernel: np.ndarray
    rank: int
    singular_values: np.ndarray
    column: np.ndarray | None
    row: np.ndarray | None


def separable_cases() -> list[SeparableCase]:
    """Sobel x, Sobel y, Gaussian 5 × 5 (σ = 1) and a Laplacian (rank 2, for contrast)."""
    out = []
    for name in ("Sobel x", "Sobel y", "Gaussian 5×5 (σ=1)", "Laplacian (4-neighbour)"):
        k = kernels.preset(name)
        sep = kernels.separability(k)
        out.append(SeparableCase(name, k, sep.rank, sep.singular_values, sep.column, sep.row))
    return out


def separable_conv2d(image: np.ndarray, column: np.ndarray, row: np.ndarray) -> np.ndarray:
    """'same' cross-correlation of an (H, W) image with outer(column, row) as a column pass then a row
    pass (two 1-D convolutions, torch), zero padding like ``F.conv2d(padding=size // 2)``."""
    x = torch.as_tensor(np.asarray(image, dtype=np.float64))[None, None]
    c = torch.as_tensor(np.asarray(column, dtype=np.float64))
    r = torch.as_tensor(np.asarray(row, dtype=np.float64))
    if c.numel() % 2 == 0 or r.numel() % 2 == 0:
        raise ValueError("Separable 'same' convolution here needs odd kernel sizes.")
    x = F.conv2d(x, c.reshape(1, 1, -1, 1), padding=(c.numel() // 2, 0))
    x = F.conv2d(x, r.reshape(1, 1, 1, -1), padding=(0, r.numel() // 2))
    return x[0, 0].numpy()


def conv_flops(h: int, w: int, kh: int, kw: int, separable: bool) -> int:
    """Multiply-adds of a 'same' convolution of an h × w image: h·w·kh·kw, or h·w·(kh + kw) when separable."""
    per_pixel = kh + kw if separable else kh * kw
    return int(h) * int(w) * per_pixel


def full_conv2d(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """'same' cross-correlation of an (H, W) image with a full (odd-sized) 2-D kernel, zero padding (torch)."""
    k = torch.as_tensor(np.asarray(kernel, dtype=np.float64))
    x = torch.as_tensor(np.asarray(image, dtype=np.float64))[None, None]
    return F.conv2d(x, k[None, None], padding=(k.shape[0] // 2, k.shape[1] // 2))[0, 0].numpy()


def separable_error(image: np.ndarray, kernel: np.ndarray, column: np.ndarray, row: np.ndarray) -> float:
    """max |column-then-row passes − full 2-D convolution| over the image."""
    return float(np.max(np.abs(separable_conv2d(image, column, row) - full_conv2d(image, kernel))))


def rank1_energy(conv: nn.Conv2d) -> np.ndarray:
    """σ₁² / Σσᵢ² of every kh × kw kernel slice of ``conv`` (1 for a separable kernel), shape (out·in,)."""
    w = conv.weight.detach().to(torch.float64).reshape(-1, *conv.kernel_size)
    s = torch.linalg.svdvals(w)
    return (s[:, 0] ** 2 / (s**2).sum(dim=1).clamp_min(1e-300)).numpy()


@dataclass(frozen=True)
class SeparableCheck:
    """A preset kernel's rank and, for a rank-1 one, max |two 1-D passes − full 2-D convolution| on an image."""

    case: SeparableCase
    error: float | None  # None for a kernel of rank above 1
    image_shape: tuple[int, int]

    @property
    def sigma_text(self) -> str:
        """The singular values, 3 significant digits, rounding noise written as 0."""
        return ", ".join(fmt.cells(self.case.singular_values, 3))

    @property
    def caption(self) -> str:
        if self.case.rank == 1:
            h, w = self.image_shape
            return (f"Rank 1 (σ = {self.sigma_text}): K = c rᵀ. On the {h}×{w} cameraman the two 1-D passes match the "
                    f"full 2-D convolution to {self.error:.1e}.")
        return (f"Rank {self.case.rank} (σ = {self.sigma_text}): not an outer product, so it does not split into one "
                "column pass and one row pass (it is a sum of two separable kernels).")


def separable_checks(image: np.ndarray) -> list[SeparableCheck]:
    """``separable_cases`` with, for the rank-1 ones, ``separable_error`` on the (H, W) ``image``."""
    shape = (int(image.shape[0]), int(image.shape[1]))
    return [SeparableCheck(c, separable_error(image, c.kernel, c.column, c.row) if c.rank == 1 else None, shape)
            for c in separable_cases()]


@dataclass(frozen=True)
class SeparableCost:
    """Multiply-adds of a full and a separable size × size convolution of an h × w image, and how close a
    network's learned kernels are to rank 1 (σ₁² / Σσᵢ² of each)."""

    h: int
    w: int
    size: int
    full: int
    separable: int
    large: int
    large_ratio: float  # full / separable at large × large
    energy: np.ndarray  # rank1_energy of the network's kernels

    @property
    def ratio(self) -> float:
        return self.full / self.separable

    @property
    def value(self) -> str:
        """The separable multiply-adds in millions, and (``delta``) the saving against the full kernel."""
        return f"{self.separable / 1e6:.2f} M"

    @property
    def delta(self) -> str:
        return f"{self.ratio:.1f}× fewer than {self.full / 1e6:.2f} M"

    @property
    def caption(self) -> str:
        e = self.energy
        return (f"Multiply-adds of a 'same' convolution of a {self.h} × {self.w} image: kh·kw per pixel for the full "
                f"kernel, kh + kw for the two passes; the saving grows with the size ({self.large} × {self.large}: "
                f"{self.large_ratio:.1f}×). The network's own learned {self.size} × {self.size} conv1 kernels are not "
                f"separable: their first singular value holds on average {100 * e.mean():.0f}% of their energy "
                f"(from {100 * e.min():.0f}% to {100 * e.max():.0f}%).")


def separable_cost(conv: nn.Conv2d, h: int = 512, w: int = 512, large: int = 15) -> SeparableCost:
    """``conv_flops`` at ``conv``'s kernel size (square) and at ``large``, with ``rank1_energy(conv)``."""
    size = int(conv.kernel_size[0])
    big = conv_flops(h, w, large, large, False) / conv_flops(h, w, large, large, True)
    return SeparableCost(int(h), int(w), size, conv_flops(h, w, size, size, False), conv_flops(h, w, size, size, True),
                         int(large), big, rank1_energy(conv))
