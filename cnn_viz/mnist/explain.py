"""What the page shows of a network reading one digit, as NumPy results (no tensors leave this module).

* ``read``: every intermediate of the forward pass, the probabilities and the answer;
* ``filters``: the learned conv1 and conv2 kernels;
* ``big_map``: one feature map with the kernel that made it;
* ``figure5``: the report's Figure 5, random 5×5 patches and their conv1 dot products;
* ``evidence``: saliency and Grad-CAM for the predicted class or any digit.

All of it works for the report's SimpleCNN and for any built design (``design.DesignNet``): ``map_layers``,
``conv_filters`` and ``figure5_conv`` are the design-general forms of the SimpleCNN's fixed layer names.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnn_viz.common import fmt
from cnn_viz.mnist import model

MAP_LAYERS = ("conv1", "bn1", "relu1", "pool1", "conv2", "bn2", "relu2", "pool2")  # the layers made of feature maps
# shown at first: each conv, what its ReLU lets through and its pooling (batch norm's per-map rescaling is one
# click away): a new digit then sends ~6 map grids, not 8
SHOWN_LAYERS = ("conv1", "relu1", "pool1", "conv2", "relu2", "pool2")
CONV1_LAYERS = MAP_LAYERS[:4]  # their maps come from one conv1 kernel each
PREDICTION = "the prediction"
TARGETS = (PREDICTION,) + tuple(str(d) for d in range(10))  # whose score saliency and Grad-CAM explain


@dataclass(frozen=True)
class Reading:
    """One digit through one network: every intermediate (``model.LAYERS`` order) for this digit alone."""

    digit: np.ndarray  # (28, 28) float32 in [0, 1]
    maps: dict[str, np.ndarray]  # layer name -> (C, H, W) maps, or (N,) values after flatten

    @property
    def probs(self) -> np.ndarray:
        return self.maps["softmax"]

    @property
    def guess(self) -> int:
        return int(np.argmax(self.probs))

    @property
    def confidence(self) -> float:
        return float(self.probs[self.guess])

    @property
    def active_units(self) -> int:
        """How many of the 128 hidden units are above zero after their ReLU."""
        return int(np.count_nonzero(self.maps["relu"] > 0))

    def n_maps(self, layer: str) -> int:
        return int(self.maps[layer].shape[0])

    @property
    def probs_alt(self) -> str:
        """Text alternative of the probability bars: the three likeliest digits with their probabilities."""
        top = np.argsort(self.probs)[::-1][:3]
        return "Probabilities: " + ", ".join(f"{int(d)}: {100 * float(self.probs[d]):.1f}%" for d in top) + "."

    @property
    def logits_alt(self) -> str:
        """Text alternative of the logit bars: the largest and the smallest logit."""
        z = np.asarray(self.maps["fc2"], dtype=np.float64)
        hi, lo = int(np.argmax(z)), int(np.argmin(z))
        return fmt.minus(f"Logits from {fmt.num(z[lo])} (digit {lo}) to {fmt.num(z[hi])} (digit {hi}).")

    def layer_alt(self, layer: str) -> str:
        """Text alternative of a layer's grid of maps: shape, value range and the most active map."""
        m = np.asarray(self.maps[layer], dtype=np.float64)
        strongest = int(np.argmax(np.abs(m).reshape(len(m), -1).max(axis=1)))
        return fmt.minus(f"{layer}: {self.shape_text(layer)}, values {fmt.num(m.min())} to {fmt.num(m.max())}; "
                         f"the strongest response is in map {strongest}.")

    def shape_text(self, layer: str) -> str:
        """E.g. "16 maps of 28×28"."""
        n, h, w = self.maps[layer].shape
        return f"{n} maps of {h}×{w}"


def read(net: model.SimpleCNN, digit: np.ndarray) -> Reading:
    """``digit`` (28, 28) in [0, 1] through ``net`` (eval mode), every intermediate kept."""
    return Reading(np.asarray(digit, dtype=np.float32), {k: v.numpy()[0] for k, v in model.activations(net, digit).items()})


@dataclass(frozen=True)
class Filters:
    """The learned kernels of the two convolutions."""

    conv1: np.ndarray  # (16, 5, 5): one kernel per conv1 map (the input has one channel)
    conv1_bias: np.ndarray  # (16,)
    conv2: np.ndarray  # (32, 16, 5, 5): output map, pool1 map it reads, 5×5
    conv2_bias: np.ndarray  # (32,)

    @property
    def conv1_rows(self) -> np.ndarray:
        """One row of 25 weights per conv1 kernel (a CSV)."""
        return self.conv1.reshape(len(self.conv1), -1)

    @property
    def conv2_rows(self) -> np.ndarray:
        """One row of 16·25 weights per conv2 output map (a CSV)."""
        return self.conv2.reshape(len(self.conv2), -1)


def map_layers(reading: Reading) -> list[str]:
    """The layers of ``reading`` made of feature maps (C×H×W), in order: the SimpleCNN's are ``MAP_LAYERS``."""
    return [k for k, v in reading.maps.items() if np.ndim(v) == 3]


def vector_layers(reading: Reading) -> list[str]:
    """The flat layers (flatten, fully connected and what follows them), softmax excluded."""
    return [k for k, v in reading.maps.items() if np.ndim(v) == 1 and k != "softmax"]


def shown_layers(layers: list[str]) -> list[str]:
    """The layers drawn at first ("Your own network"): all but batch norm (each map rescaled by a constant) and
    flatten (the last maps again, in one row), which a new digit would otherwise send as well."""
    return [n for n in layers if not n.startswith(("bn", "flat"))]


@dataclass(frozen=True)
class ConvFilter:
    """One conv layer's learned kernels (out, in, k, k), its bias, and how it slides."""

    layer: str
    weight: np.ndarray
    bias: np.ndarray
    padding: int = 0
    stride: int = 1
    dilation: int = 1

    @property
    def rows(self) -> np.ndarray:
        """One row per output map (a CSV)."""
        return self.weight.reshape(len(self.weight), -1)


def conv_filters(net) -> list[ConvFilter]:
    """Every conv layer's kernels, in order, for SimpleCNN or a design."""
    out = []
    for name, mod in net.named_children():
        if isinstance(mod, model.nn.Conv2d):
            out.append(ConvFilter(name, mod.weight.detach().numpy().copy(), mod.bias.detach().numpy().copy(),
                                  int(mod.padding[0]), int(mod.stride[0]), int(mod.dilation[0])))
    return out


def filters(net: model.SimpleCNN) -> Filters:
    """The two conv layers' kernels and biases, as copies (only these: every rerun of the page asks for them, and
    copying the whole state dict copied fc1's 200,704 weights too)."""
    def copy(p):
        return p.detach().numpy().copy()

    return Filters(copy(net.conv1.weight)[:, 0], copy(net.conv1.bias), copy(net.conv2.weight), copy(net.conv2.bias))


@dataclass(frozen=True)
class BigMap:
    """One feature map and the kernel that made it: a conv1 kernel (5, 5) for the conv1 block's maps,
    the 16 slices (16, 5, 5) of a conv2 kernel for the conv2 block's."""

    layer: str
    index: int
    values: np.ndarray  # (H, W)
    kernel: np.ndarray
    bias: float

    @property
    def from_conv1(self) -> bool:
        return self.layer in CONV1_LAYERS

    @property
    def title(self) -> str:
        h, w = self.values.shape
        return f"{self.layer} map {self.index} ({h}×{w})"

    @property
    def after_conv(self) -> str:
        """What happened to a conv1 map between the convolution and this layer ("" for conv1 itself)."""
        if self.layer not in CONV1_LAYERS[1:]:
            return ""
        steps = ["Then BN rescales it"] + ([] if self.layer == "bn1" else ["ReLU clips negatives"])
        return ", ".join(steps) + (", and 2×2 max pooling halves its size." if self.layer == "pool1" else ".")


def big_map(reading: Reading, kernels: Filters, layer: str, index: int) -> BigMap:
    """Map ``index`` of ``layer`` with its kernel and bias (conv1's for the conv1 block, conv2's after)."""
    if layer not in MAP_LAYERS or not 0 <= index < reading.n_maps(layer):
        raise ValueError(f"No map {index} in layer {layer!r}.")
    if layer in CONV1_LAYERS:
        kernel, bias = kernels.conv1[index], kernels.conv1_bias[index]
    else:
        kernel, bias = kernels.conv2[index], kernels.conv2_bias[index]
    return BigMap(layer, int(index), reading.maps[layer][index], kernel, float(bias))


@dataclass(frozen=True)
class Patch:
    """One position of Figure 5: the 5×5 patch of the zero-padded digit centred there, the kernel,
    their element-wise product and the activation Σ(product) + bias."""

    row: int
    col: int
    patch: np.ndarray
    kernel: np.ndarray
    product: np.ndarray
    sum: float
    bias: float
    activation: float


def figure5_patches(digit: np.ndarray, kernel: np.ndarray, bias: float, n: int = 5, seed: int = 0,
                    on_ink: bool = True, padding: int = 2, stride: int = 1, dilation: int = 1) -> list[Patch]:
    """The report's Figure 5: ``n`` random patches of the zero-padded digit, each with the kernel,
    their element-wise product and the activation Σ(patch × kernel) + bias at that position.

    ``digit`` is (28, 28) in [0, 1]; ``kernel`` is one first-layer kernel (5, 5 for the report's conv1,
    any k×k for a design, which also gives its ``padding``, ``stride`` and ``dilation``; a dilated patch
    takes every ``dilation``-th pixel). With ``on_ink`` the positions are drawn among those whose patch
    touches the digit (more telling than empty black). The same seed gives the same positions.
    """
    d = np.asarray(digit, dtype=np.float64)
    k = np.asarray(kernel, dtype=np.float64)
    if d.shape != (28, 28) or k.ndim != 2 or k.shape[0] != k.shape[1]:
        raise ValueError("Figure 5 needs a 28×28 digit and a square kernel.")
    span = dilation * (k.shape[0] - 1) + 1
    if span > 28 + 2 * padding:
        raise ValueError("The kernel is larger than the padded digit.")
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(d, padding), (span, span))[::stride, ::stride, ::dilation, ::dilation]
    candidates = np.argwhere(windows.max(axis=(2, 3)) > 0.1) if on_ink else np.empty((0, 2), int)
    if len(candidates) == 0:
        candidates = np.argwhere(np.ones(windows.shape[:2], bool))
    rng = np.random.default_rng(seed)
    pick = candidates[rng.choice(len(candidates), size=min(n, len(candidates)), replace=False)]
    out = []
    for r, c in pick:
        patch = windows[r, c].copy()
        product = patch * k
        s = float(product.sum())
        out.append(Patch(int(r), int(c), patch, k, product, s, float(bias), s + float(bias)))
    return out


@dataclass(frozen=True)
class Figure5:
    map_index: int
    patches: tuple[Patch, ...]
    fmap: np.ndarray  # the whole conv1 map (28, 28) the patches sample


def figure5(reading: Reading, kernels: Filters, map_index: int, seed: int = 0, on_ink: bool = True, n: int = 5) -> Figure5:
    """Figure 5 for conv1 map ``map_index`` of ``reading``."""
    conv1 = ConvFilter("conv1", kernels.conv1[:, None], kernels.conv1_bias, padding=2)
    return figure5_conv(reading, conv1, map_index, seed=seed, on_ink=on_ink, n=n)


def figure5_conv(reading: Reading, first: ConvFilter, map_index: int, seed: int = 0, on_ink: bool = True, n: int = 5) -> Figure5:
    """Figure 5 for map ``map_index`` of a network's first conv layer ``first`` (it reads the digit itself)."""
    k = int(map_index)
    if first.weight.shape[1] != 1 or not 0 <= k < len(first.weight):
        raise ValueError(f"No map {map_index} in {first.layer}, or it does not read the digit directly.")
    patches = figure5_patches(reading.digit, first.weight[k, 0], first.bias[k], n=n, seed=seed, on_ink=on_ink,
                              padding=first.padding, stride=first.stride, dilation=first.dilation)
    return Figure5(k, tuple(patches), reading.maps[first.layer][k])


@dataclass(frozen=True)
class Evidence:
    """Which pixels and regions made ``target``'s score: saliency and Grad-CAM, both (28, 28)."""

    target: int
    saliency: np.ndarray
    cam: np.ndarray | None  # None for a network without convolution


def evidence(net: model.SimpleCNN, digit: np.ndarray, target: str | int | None = PREDICTION) -> Evidence:
    """Saliency and Grad-CAM of the score of ``target``: a digit (0-9, or its text as in ``TARGETS``),
    or ``PREDICTION`` / None for the class the network predicts."""
    c = None if target in (None, PREDICTION) else int(target)
    sal, used = model.saliency(net, digit, c)
    has_conv = any(isinstance(m, model.nn.Conv2d) for m in net.children())
    cam = model.grad_cam(net, digit, used)[0] if has_conv else None
    return Evidence(used, sal, cam)
