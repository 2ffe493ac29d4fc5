"""Your own network: a CNN for 28×28 digits described as a list of layer specs, checked, sized and built.

* ``LayerSpec`` / ``Design``: the layers as plain dataclasses (conv, batch norm, ReLU, leaky ReLU, tanh,
  max / average pooling, dropout, flatten, fully connected), ``SIMPLE_CNN`` the report's network exactly.
* ``from_rows`` (the page's table), ``from_code`` / ``Design.code`` (one compact URL parameter),
  ``from_json`` / ``Design.to_json`` (files): every way in validates kinds, numbers and bounds and raises
  ``DesignError`` naming the failed check, before anything is built.
* ``summarize``: before any training, every layer's output shape C×H×W for a 28×28 input, parameters,
  multiply-adds and receptive field (``pooling.why_cnn.receptive_fields``, the ReLU/pooling page's code),
  and the budgets (parameters, estimated training time per epoch on this machine).
* ``build``: a ``DesignNet`` (an nn.Module). Layers with weights are named like the report's SimpleCNN
  (conv1, bn1, conv2, bn2, fc1, fc2), so the shipped state dict loads into the SimpleCNN design as it is.
"""

from __future__ import annotations

import json
import math
import numbers
import re
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F

from cnn_viz.pooling import why_cnn

INPUT = (1, 28, 28)
N_CLASSES = 10

# kind -> what the editor calls it
KINDS = {
    "conv": "conv",
    "batchnorm": "batch norm",
    "relu": "ReLU",
    "leaky_relu": "leaky ReLU",
    "tanh": "tanh",
    "maxpool": "max pool",
    "avgpool": "avg pool",
    "dropout": "dropout",
    "flatten": "flatten",
    "linear": "fully connected",
}
KIND_OF_NAME = {v: k for k, v in KINDS.items()}
ACTIVATIONS = ("relu", "leaky_relu", "tanh")

# Bounds of every number (inclusive); a design outside them is refused before anything is built.
MAX_LAYERS = 24
BOUNDS = {
    "conv": dict(out=(1, 128), size=(1, 11), stride=(1, 4), padding=(0, 5), dilation=(1, 4)),
    "maxpool": dict(size=(1, 8), stride=(1, 8)),
    "avgpool": dict(size=(1, 8), stride=(1, 8)),
    "linear": dict(out=(1, 1024)),
}
RATE_BOUNDS = {"dropout": (0.0, 0.9), "leaky_relu": (0.0, 1.0)}
MAX_PARAMS = 1_500_000  # the report's network has 215,466
MAX_UNITS = 500_000  # numbers in one layer's output for one digit (memory of a training batch)
MAX_CODE = 400  # characters of the URL parameter
MAX_JSON = 8_000  # characters of a design's JSON
# Training speed on this machine, one thread, forward + backward ≈ 3× the forward multiply-adds:
# fitted to epochs of the smaller, the report's and the larger example measured on this box (bench/bench_design.py).
MACS_PER_SECOND = 4.0e9
SECONDS_PER_DIGIT = 2.5e-4  # fixed cost per training digit (augmentation, optimizer, Python)
TRAIN_DIGITS = 4000


class DesignError(ValueError):
    """A design that cannot be built: the message names the check that failed and why."""


@dataclass(frozen=True)
class LayerSpec:
    kind: str
    out: int = 0  # conv: output channels; fully connected: units
    size: int = 0  # conv kernel side; pooling window side
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    rate: float = 0.0  # dropout probability; leaky ReLU's negative slope

    def describe(self) -> str:
        k = self.kind
        if k == "conv":
            extra = "".join(f", {n} {v}" for n, v in (("stride", self.stride), ("dilation", self.dilation)) if v != 1)
            return f"{self.size}×{self.size} convolution → {self.out} channels, padding {self.padding}{extra}"
        if k in ("maxpool", "avgpool"):
            return f"{self.size}×{self.size} {'max' if k == 'maxpool' else 'average'} pooling, stride {self.stride}"
        if k == "linear":
            return f"fully connected → {self.out} units"
        if k == "dropout":
            return f"dropout, p = {self.rate:g} (training only)"
        if k == "leaky_relu":
            return f"leaky ReLU, slope {self.rate:g} below 0"
        return {"batchnorm": "batch normalization (running statistics)", "relu": "ReLU: negatives set to 0",
                "tanh": "tanh: squashed into (−1, 1)", "flatten": "the maps in one row of numbers"}[k]


def conv(out, size, padding=0, stride=1, dilation=1) -> LayerSpec:
    return LayerSpec("conv", out=out, size=size, stride=stride, padding=padding, dilation=dilation)


def pool(size=2, stride=None, kind="maxpool") -> LayerSpec:
    return LayerSpec(kind, size=size, stride=size if stride is None else stride)


def linear(out) -> LayerSpec:
    return LayerSpec("linear", out=out)


BN, RELU, TANH, FLATTEN = LayerSpec("batchnorm"), LayerSpec("relu"), LayerSpec("tanh"), LayerSpec("flatten")


def leaky(slope=0.01) -> LayerSpec:
    return LayerSpec("leaky_relu", rate=slope)


def dropout(p=0.5) -> LayerSpec:
    return LayerSpec("dropout", rate=p)


@dataclass(frozen=True)
class Design:
    layers: tuple[LayerSpec, ...]

    @property
    def code(self) -> str:
        """The compact text of the URL parameter (``from_code`` reads it back)."""
        return "-".join(_token(s) for s in self.layers)

    def to_json(self) -> str:
        rows = []
        for s in self.layers:
            keep = {f.name for f in fields(LayerSpec) if f.name in _USED[s.kind]}
            rows.append({"kind": s.kind, **{k: v for k, v in asdict(s).items() if k in keep}})
        return json.dumps({"format": "cnn_viz-design", "version": 1, "layers": rows})

    def rows(self) -> list[dict]:
        """The editor's table: one dict per layer (type shown by its editor name; unused cells None)."""
        out = []
        for s in self.layers:
            used = _USED[s.kind]
            out.append({"type": KINDS[s.kind], **{n: (getattr(s, n) if n in used else None) for n in EDITOR_COLUMNS}})
        return out

    def names(self) -> list[str]:
        return layer_names(self.layers)


SIMPLE_CNN = Design((conv(16, 5, 2), BN, RELU, pool(2), conv(32, 5, 2), BN, RELU, pool(2), FLATTEN,
                     linear(128), RELU, linear(10)))
EXAMPLES = {
    "the report's SimpleCNN": SIMPLE_CNN,
    "smaller: 8 and 16 channels, 3×3": Design((conv(8, 3, 1), RELU, pool(2), conv(16, 3, 1), RELU, pool(2), FLATTEN,
                                                linear(32), RELU, linear(10))),
    "larger: VGG-style, 32-64 channels": Design((conv(32, 3, 1), BN, RELU, conv(32, 3, 1), BN, RELU, pool(2),
                                                  conv(64, 3, 1), BN, RELU, conv(64, 3, 1), BN, RELU, pool(2), FLATTEN,
                                                  linear(256), RELU, dropout(0.25), linear(10))),
    "no convolution: one hidden layer": Design((FLATTEN, linear(128), RELU, linear(10))),
}

EDITOR_COLUMNS = ("out", "size", "stride", "padding", "dilation", "rate")
_USED = {
    "conv": {"out", "size", "stride", "padding", "dilation"},
    "maxpool": {"size", "stride"}, "avgpool": {"size", "stride"},
    "linear": {"out"}, "dropout": {"rate"}, "leaky_relu": {"rate"},
    "batchnorm": set(), "relu": set(), "tanh": set(), "flatten": set(),
}


# ----------------------------------------------------------------------------- checking numbers


def _int(v, what: str) -> int:
    if isinstance(v, bool) or v is None:
        raise DesignError(f"{what} must be a whole number, got {v!r}.")
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, numbers.Real):
        v = float(v)
        if not math.isfinite(v) or v != int(v):
            raise DesignError(f"{what} must be a whole number, got {v!r}.")
        return int(v)
    if isinstance(v, str) and re.fullmatch(r"\s*\d{1,7}\s*", v):
        return int(v)
    raise DesignError(f"{what} must be a whole number, got {str(v)[:40]!r}.")


def _rate(v, what: str) -> float:
    try:
        r = float(v)
    except (TypeError, ValueError):
        raise DesignError(f"{what} must be a number, got {str(v)[:40]!r}.") from None
    if isinstance(v, bool) or not math.isfinite(r):
        raise DesignError(f"{what} must be a finite number, got {v!r}.")
    return r


def check_layer(spec: LayerSpec, i: int) -> LayerSpec:
    """The spec with its unused numbers reset, or DesignError (check: kind, then every number's bounds)."""
    where = f"Layer {i + 1}"
    if spec.kind not in KINDS:
        raise DesignError(f"{where}: unknown layer type {str(spec.kind)[:40]!r} (allowed: {', '.join(KINDS.values())}).")
    vals = {}
    for name, (lo, hi) in BOUNDS.get(spec.kind, {}).items():
        v = _int(getattr(spec, name), f"{where} ({KINDS[spec.kind]}) {name}")
        if not lo <= v <= hi:
            raise DesignError(f"{where} ({KINDS[spec.kind]}): {name} {v} is outside the allowed {lo}–{hi}.")
        vals[name] = v
    if spec.kind in RATE_BOUNDS:
        lo, hi = RATE_BOUNDS[spec.kind]
        r = _rate(spec.rate, f"{where} ({KINDS[spec.kind]}) rate")
        if not lo <= r <= hi:
            raise DesignError(f"{where} ({KINDS[spec.kind]}): rate {r:g} is outside the allowed {lo:g}–{hi:g}.")
        vals["rate"] = r
    return LayerSpec(spec.kind, **vals)


def check(design: Design) -> Design:
    """Every layer checked (``check_layer``) and the whole design sized (``summarize``); DesignError otherwise."""
    if not design.layers:
        raise DesignError("The design has no layers.")
    if len(design.layers) > MAX_LAYERS:
        raise DesignError(f"The design has {len(design.layers)} layers; at most {MAX_LAYERS} are allowed.")
    d = Design(tuple(check_layer(s, i) for i, s in enumerate(design.layers)))
    summarize(d)  # raises on a design that does not fit
    return d


# ----------------------------------------------------------------------------- ways in


def from_rows(rows: list[dict]) -> Design:
    """The page's table (``Design.rows`` columns) -> a checked Design. Empty rows (no type) are skipped."""
    specs = []
    for i, row in enumerate(rows):
        name = row.get("type")
        if name is None or (isinstance(name, float) and math.isnan(name)) or name == "":
            continue
        kind = KIND_OF_NAME.get(str(name), str(name))
        if kind not in KINDS:
            raise DesignError(f"Row {i + 1}: unknown layer type {str(name)[:40]!r}.")
        vals = {}
        for col in _USED[kind]:
            v = row.get(col)
            if v is None or (isinstance(v, float) and math.isnan(v)):
                v = _DEFAULTS[kind].get(col)
            vals[col] = v
        if kind in ("maxpool", "avgpool") and vals.get("stride") in (None, 0):
            vals["stride"] = vals.get("size")
        specs.append(LayerSpec(kind, **vals))
    return check(Design(tuple(specs)))


_DEFAULTS = {"conv": dict(out=16, size=3, stride=1, padding=1, dilation=1), "maxpool": dict(size=2), "avgpool": dict(size=2),
             "linear": dict(out=64), "dropout": dict(rate=0.25), "leaky_relu": dict(rate=0.01)}
_SIMPLE_TOKENS = {"batchnorm": "bn", "relu": "relu", "tanh": "tanh", "flatten": "flat"}
_TOKEN = re.compile(r"conv(\d{1,4})k(\d{1,3})(?:p(\d{1,3}))?(?:s(\d{1,3}))?(?:d(\d{1,3}))?|(max|avg)(\d{1,3})(?:s(\d{1,3}))?"
                    r"|fc(\d{1,5})|drop(\d?\.\d{1,4}|\d)|leaky(\d?\.\d{1,4}|\d)?|bn|relu|tanh|flat")


def _token(s: LayerSpec) -> str:
    k = s.kind
    if k == "conv":
        return (f"conv{s.out}k{s.size}" + (f"p{s.padding}" if s.padding else "") + (f"s{s.stride}" if s.stride != 1 else "")
                + (f"d{s.dilation}" if s.dilation != 1 else ""))
    if k in ("maxpool", "avgpool"):
        return f"{k[:3]}{s.size}" + (f"s{s.stride}" if s.stride != s.size else "")
    if k == "linear":
        return f"fc{s.out}"
    if k == "dropout":
        return f"drop{s.rate:g}"
    if k == "leaky_relu":
        return "leaky" if s.rate == 0.01 else f"leaky{s.rate:g}"
    return _SIMPLE_TOKENS[k]


def from_code(code: str) -> Design:
    """The URL parameter (``Design.code``, e.g. ``conv16k5p2-bn-relu-max2-…-fc10``) -> a checked Design."""
    if not isinstance(code, str) or not code.strip():
        raise DesignError("The network in the address is empty.")
    if len(code) > MAX_CODE:
        raise DesignError(f"The network in the address is {len(code):,} characters long; at most {MAX_CODE} are read.")
    specs = []
    for i, tok in enumerate(code.strip().split("-")):
        m = _TOKEN.fullmatch(tok)
        if not m:
            raise DesignError(f"Layer {i + 1} of the address, {tok[:30]!r}, is not a layer this page knows "
                              "(conv16k5p2, bn, relu, leaky, tanh, max2, avg2s1, drop0.25, flat, fc10).")
        g = m.groups()
        if g[0]:
            specs.append(conv(int(g[0]), int(g[1]), int(g[2] or 0), int(g[3] or 1), int(g[4] or 1)))
        elif g[5]:
            specs.append(pool(int(g[6]), int(g[7]) if g[7] else None, kind=g[5] + "pool"))
        elif g[8]:
            specs.append(linear(int(g[8])))
        elif g[9]:
            specs.append(dropout(float(g[9])))
        elif tok.startswith("leaky"):
            specs.append(leaky(float(g[10]) if g[10] else 0.01))
        else:
            specs.append(LayerSpec({v: k for k, v in _SIMPLE_TOKENS.items()}[tok]))
    return check(Design(tuple(specs)))


def from_json(text: str | bytes) -> Design:
    """A design file (``Design.to_json``) -> a checked Design. Unknown keys and types are refused."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if len(text) > MAX_JSON:
        raise DesignError(f"The design is {len(text):,} characters long; at most {MAX_JSON:,} are read.")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DesignError(f"The design is not valid JSON ({exc.msg}, line {exc.lineno}).") from None
    if not isinstance(obj, dict) or obj.get("format") != "cnn_viz-design" or not isinstance(obj.get("layers"), list):
        raise DesignError('The design must be a JSON object with "format": "cnn_viz-design" and a list of "layers".')
    if len(obj["layers"]) > MAX_LAYERS:
        raise DesignError(f"The design has {len(obj['layers'])} layers; at most {MAX_LAYERS} are allowed.")
    specs = []
    for i, row in enumerate(obj["layers"]):
        if not isinstance(row, dict) or not isinstance(row.get("kind"), str):
            raise DesignError(f"Layer {i + 1} must be an object with a \"kind\".")
        kind = row["kind"]
        if kind not in KINDS:
            raise DesignError(f"Layer {i + 1}: unknown layer type {kind[:40]!r} (allowed: {', '.join(KINDS)}).")
        extra = set(row) - {"kind"} - _USED[kind]
        if extra:
            raise DesignError(f"Layer {i + 1} ({kind}): unknown field(s) {', '.join(sorted(map(str, extra)))[:80]}.")
        vals = {k: row.get(k, _DEFAULTS.get(kind, {}).get(k)) for k in _USED[kind]}
        if kind in ("maxpool", "avgpool") and vals.get("stride") is None:
            vals["stride"] = vals["size"]
        specs.append(LayerSpec(kind, **vals))
    return check(Design(tuple(specs)))


# ----------------------------------------------------------------------------- sizes, budgets


def layer_names(layers) -> list[str]:
    """conv1, bn1, relu1, pool1, conv2, …, flatten, fc1, fc1_relu, fc2: weight layers named as in SimpleCNN."""
    names, n_conv, n_fc, seen = [], 0, 0, set()
    short = {"batchnorm": "bn", "relu": "relu", "leaky_relu": "leaky", "tanh": "tanh", "maxpool": "pool",
             "avgpool": "pool", "dropout": "drop"}
    for s in layers:
        if s.kind == "conv":
            n_conv += 1
            name = f"conv{n_conv}"
        elif s.kind == "linear":
            n_fc += 1
            name = f"fc{n_fc}"
        elif s.kind == "flatten":
            name = "flatten"
        elif n_fc:
            name = f"fc{n_fc}_{short[s.kind]}"
        else:
            name = f"{short[s.kind]}{n_conv}"
        base, k = name, 2
        while name in seen:
            name, k = f"{base}_{k}", k + 1
        seen.add(name)
        names.append(name)
    return names


@dataclass(frozen=True)
class LayerSize:
    name: str
    spec: LayerSpec
    shape: tuple[int, ...]  # (C, H, W) or (N,)
    params: int
    macs: int  # multiply-adds for one digit
    field: int | None  # receptive field side in input pixels; None after flatten (the whole digit)

    @property
    def shape_text(self) -> str:
        return "×".join(str(v) for v in self.shape)

    @property
    def units(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Summary:
    design: Design
    layers: tuple[LayerSize, ...]
    params: int
    macs: int
    seconds_per_epoch: float  # estimated, 4,000 digits on one thread of this machine

    @property
    def table(self) -> dict[str, list]:
        return {
            "layer": [s.name for s in self.layers],
            "what": [s.spec.describe() for s in self.layers],
            "output C×H×W": [s.shape_text for s in self.layers],
            "parameters": [s.params for s in self.layers],
            "multiply-adds": [s.macs for s in self.layers],
            "receptive field": [f"{s.field}×{s.field}" if s.field else "the whole digit" for s in self.layers],
        }

    @property
    def field_layers(self) -> list[why_cnn.Layer]:
        """The conv and pooling layers as ``why_cnn`` layers (what a receptive field depends on)."""
        return [_rf_layer(s.spec) for s in self.layers if _rf_layer(s.spec) is not None]

    @property
    def field_names(self) -> list[str]:
        return [s.name for s in self.layers if _rf_layer(s.spec) is not None]

    def boxes_at(self, point: tuple[int, int]) -> list[why_cnn.FieldBox]:
        """For every conv / pooling layer, the unit nearest ``point`` of the 28×28 digit and the input it sees
        (``why_cnn.boxes_at``), labelled with this design's layer names."""
        from dataclasses import replace

        boxes = why_cnn.boxes_at(self.field_layers, INPUT[1:], point)
        return [boxes[0]] + [replace(b, layer=n) for b, n in zip(boxes[1:], self.field_names)]

    def estimate_seconds(self, epochs: int, n_train: int = TRAIN_DIGITS) -> float:
        return self.seconds_per_epoch * epochs * n_train / TRAIN_DIGITS


def _rf_layer(s: LayerSpec):
    if s.kind == "conv":
        return why_cnn.Layer("conv", s.size, s.stride, s.padding, s.dilation)
    if s.kind in ("maxpool", "avgpool"):
        return why_cnn.Layer("pool", s.size, s.stride, 0)
    return None


def estimate_seconds_per_epoch(macs: int, n_train: int = TRAIN_DIGITS) -> float:
    return n_train * (3 * macs / MACS_PER_SECOND + SECONDS_PER_DIGIT)


def summarize(design: Design, max_params: int = MAX_PARAMS) -> Summary:
    """Shapes, parameters, multiply-adds and receptive fields of every layer for one 28×28 digit; DesignError
    for a layer that does not fit its input, an output that is not 10 numbers, or a budget exceeded."""
    shape: tuple[int, ...] = INPUT
    out, names = [], layer_names(design.layers)
    for name, s in zip(names, design.layers):
        params = macs = 0
        flat = len(shape) == 1
        if s.kind in ("conv", "maxpool", "avgpool"):
            if flat:
                raise DesignError(f"{name} ({KINDS[s.kind]}) needs maps, but its input is already flat ({shape[0]} numbers): "
                                  "move it before the flatten.")
            c, h, w = shape
            if s.kind == "conv":
                k_eff = s.dilation * (s.size - 1) + 1
                if k_eff > h + 2 * s.padding:
                    raise DesignError(f"{name}: its {s.size}×{s.size} kernel" + (f" (dilation {s.dilation}: {k_eff}×{k_eff})" if s.dilation > 1 else "")
                                      + f" is larger than its {h}×{w} input with padding {s.padding}.")
                ho, wo = (h + 2 * s.padding - k_eff) // s.stride + 1, (w + 2 * s.padding - k_eff) // s.stride + 1
                shape = (s.out, ho, wo)
                params = s.out * c * s.size * s.size + s.out
                macs = s.out * ho * wo * c * s.size * s.size
            else:
                if s.size > h:
                    raise DesignError(f"{name}: a {s.size}×{s.size} pooling window does not fit its {h}×{w} input "
                                      "(the map would shrink below 1×1).")
                shape = (c, (h - s.size) // s.stride + 1, (w - s.size) // s.stride + 1)
        elif s.kind == "flatten":
            shape = (math.prod(shape),)
        elif s.kind == "linear":
            if not flat:
                raise DesignError(f"{name} (fully connected) needs a flat input but gets {'×'.join(map(str, shape))} maps: "
                                  "add a flatten row before it.")
            params = shape[0] * s.out + s.out
            macs = shape[0] * s.out
            shape = (s.out,)
        elif s.kind == "batchnorm":
            params = 2 * shape[0]
        units = math.prod(shape)
        if units > MAX_UNITS:
            raise DesignError(f"{name} outputs {units:,} numbers per digit; at most {MAX_UNITS:,} are allowed (memory).")
        out.append(LayerSize(name, s, shape, params, macs, None))
    # receptive fields, cumulative over the conv / pool layers (why_cnn's recurrence), None once flat
    layers_rf = [_rf_layer(s.spec) for s in out]
    fields_ = why_cnn.receptive_fields([lay for lay in layers_rf if lay is not None], INPUT[1])
    sizes, k = [], 0
    for s, lay in zip(out, layers_rf):
        if lay is not None:
            k += 1
        sizes.append(None if len(s.shape) == 1 else fields_[k].size)
    out = [LayerSize(s.name, s.spec, s.shape, s.params, s.macs, f) for s, f in zip(out, sizes)]
    if shape != (N_CLASSES,):
        raise DesignError(f"The last layer must give {N_CLASSES} numbers (one score per digit); this design ends with "
                          f"{'×'.join(map(str, shape))}: end with a fully connected layer of 10 units.")
    total = sum(s.params for s in out)
    if total > max_params:
        raise DesignError(f"The design has {total:,} parameters; the budget on this server is {max_params:,}.")
    macs = sum(s.macs for s in out)
    return Summary(design, tuple(out), total, macs, estimate_seconds_per_epoch(macs))


def check_time(summary: Summary, epochs: int, seconds: float, n_train: int = TRAIN_DIGITS) -> None:
    """DesignError when even one epoch of this design is estimated to take longer than ``seconds``
    (the server's bound on one training run)."""
    one = summary.estimate_seconds(1, n_train)
    if one > seconds:
        raise DesignError(f"One epoch of this design is estimated at {one:.0f} s on this machine, more than the "
                          f"{seconds:.0f} s a run may take here: make it smaller, or train it offline with "
                          "`python -m cnn_viz.mnist.train --design my.json`.")


# ----------------------------------------------------------------------------- the network


class DesignNet(nn.Module):
    """A built design. ``forward`` gives the 10 logits; ``forward_all`` every intermediate by name;
    ``forward_cam`` the logits and the maps of the last conv layer's block (for Grad-CAM)."""

    def __init__(self, design: Design):
        super().__init__()
        self.design = design
        self.names = layer_names(design.layers)
        summary = summarize(design)
        shape: tuple[int, ...] = INPUT
        for name, s, size in zip(self.names, design.layers, summary.layers):
            self.add_module(name, _module(s, shape))
            shape = size.shape
        last_conv = max((i for i, s in enumerate(design.layers) if s.kind == "conv"), default=None)
        cam = last_conv
        if cam is not None:
            while cam + 1 < len(design.layers) and design.layers[cam + 1].kind in ("batchnorm", "dropout") + ACTIVATIONS:
                cam += 1
        self.cam_layer = None if cam is None else self.names[cam]
        self.conv_layers = [n for n, s in zip(self.names, design.layers) if s.kind == "conv"]

    def forward(self, x):
        for name in self.names:
            x = getattr(self, name)(x)
        return x

    def forward_all(self, x) -> dict[str, torch.Tensor]:
        out = {}
        for name in self.names:
            out[name] = x = getattr(self, name)(x)
        out["softmax"] = F.softmax(x, dim=1)
        return out

    def forward_cam(self, x):
        maps = None
        for name in self.names:
            x = getattr(self, name)(x)
            if name == self.cam_layer:
                maps = x
        if maps is None:
            raise ValueError("This network has no convolution, so there is no Grad-CAM.")
        return x, maps


def _module(s: LayerSpec, shape) -> nn.Module:
    if s.kind == "conv":
        return nn.Conv2d(shape[0], s.out, s.size, stride=s.stride, padding=s.padding, dilation=s.dilation)
    if s.kind == "batchnorm":
        return nn.BatchNorm2d(shape[0]) if len(shape) == 3 else nn.BatchNorm1d(shape[0])
    if s.kind == "relu":
        return nn.ReLU()
    if s.kind == "leaky_relu":
        return nn.LeakyReLU(s.rate)
    if s.kind == "tanh":
        return nn.Tanh()
    if s.kind == "maxpool":
        return nn.MaxPool2d(s.size, s.stride)
    if s.kind == "avgpool":
        return nn.AvgPool2d(s.size, s.stride)
    if s.kind == "dropout":
        return nn.Dropout(s.rate)
    if s.kind == "flatten":
        return nn.Flatten(1)
    return nn.Linear(shape[0], s.out)


def build(design: Design, seed: int | None = None) -> DesignNet:
    """The design as an nn.Module in eval mode; with ``seed``, its initial weights drawn from that seed
    (without touching torch's global random state)."""
    design = check(design)
    if seed is None:
        return DesignNet(design).eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return DesignNet(design).eval()


def from_simple_cnn(model) -> DesignNet:
    """The report's SimpleCNN (``model.SimpleCNN``) as a DesignNet with the same weights: same outputs."""
    net = DesignNet(SIMPLE_CNN)
    net.load_state_dict(model.state_dict())
    return net.eval()


def expected_state(design: Design) -> dict[str, tuple[int, ...]]:
    """Every state-dict key of the design's network and its shape, computed without building it."""
    out: dict[str, tuple[int, ...]] = {}
    shape: tuple[int, ...] = INPUT
    for size in summarize(design).layers:
        s, n = size.spec, size.name
        if s.kind == "conv":
            out[f"{n}.weight"], out[f"{n}.bias"] = (s.out, shape[0], s.size, s.size), (s.out,)
        elif s.kind == "linear":
            out[f"{n}.weight"], out[f"{n}.bias"] = (s.out, shape[0]), (s.out,)
        elif s.kind == "batchnorm":
            for k in ("weight", "bias", "running_mean", "running_var"):
                out[f"{n}.{k}"] = (shape[0],)
            out[f"{n}.num_batches_tracked"] = ()
        shape = size.shape
    return out
