"""One file per network: the design (JSON) and the weights (state dict), and the checks a file passes
before anything in it is used.

    {"format": "cnn_viz-network", "version": 1, "design": "<Design.to_json()>", "state_dict": {...}, "meta": {...}}

written by ``torch.save`` and read by ``torch.load(..., weights_only=True)`` only: tensors, numbers,
strings, lists and dicts, never an arbitrary pickled object. ``load`` also accepts a plain state dict of the
report's SimpleCNN (e.g. from a student's notebook, or the shipped ``{"state_dict", "meta"}`` file).

The checks, in order, each with its own message (``LoadError.check`` names it):
size → format (a torch zip archive) → weights-only unpickling → structure → design (kinds, bounds,
shapes, budgets; ``design.check``) → keys → shapes → finite values → build and load.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field

import torch

from cnn_viz.mnist import design as dz

FORMAT = "cnn_viz-network"
MAX_BYTES = 4 * dz.MAX_PARAMS + 2_000_000  # float32 weights of the largest allowed design, plus room
ZIP_MAGIC = b"PK\x03\x04"
CHECKS = ("size", "format", "weights-only loading", "structure", "design", "keys", "shapes", "values")


class LoadError(ValueError):
    """A network file that failed a check: ``check`` is one of ``CHECKS``; the message says why."""

    def __init__(self, check: str, why: str):
        self.check = check
        super().__init__(f"Check '{check}' failed: {why}")


@dataclass(frozen=True)
class Network:
    """A network the page holds: trained here, or read from a file (checked and built, eval mode)."""

    design: dz.Design
    model: dz.DesignNet
    kind: str  # "trained here", "network file" or "SimpleCNN state dict"
    meta: dict = field(default_factory=dict)  # run_meta: settings, held_out_accuracy, history
    confusion: object = None  # 10×10 counts on the held-out digits, once measured
    finished: bool = True

    @property
    def accuracy(self) -> float | None:
        v = self.meta.get("held_out_accuracy")
        return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None

    @property
    def seconds_per_epoch(self) -> float | None:
        """Mean wall-clock seconds of the epochs in the history (None without one)."""
        s = [h[5] for h in self.meta.get("history", []) if isinstance(h, (list, tuple)) and len(h) >= 6
             and isinstance(h[5], (int, float)) and math.isfinite(h[5])]
        return sum(s) / len(s) if s else None

    @property
    def epochs(self) -> int:
        return len(self.meta.get("history", []))


def run_meta(result, **extra) -> dict:
    """What a training run stores beside its weights: settings, per-epoch history, and ``extra``."""
    info = {k: v for k, v in dict(result.config, **extra).items() if isinstance(v, (int, float, str, bool)) or v is None}
    info["history"] = [[h.epoch, h.train_loss, h.train_acc, h.test_loss if h.test_loss is not None else float("nan"),
                        h.test_acc if h.test_acc is not None else float("nan"), h.seconds] for h in result.history]
    return info


def to_bytes(design: dz.Design, model: torch.nn.Module, meta: dict | None = None) -> bytes:
    """The network file: design JSON + state dict (+ plain meta), as ``torch.save`` writes it."""
    buf = io.BytesIO()
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    torch.save({"format": FORMAT, "version": 1, "design": design.to_json(), "state_dict": state, "meta": dict(meta or {})}, buf)
    return buf.getvalue()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def load(data: bytes, max_bytes: int = MAX_BYTES) -> Network:
    """Check and build a network from a file's bytes; ``LoadError`` names the first check that fails.
    Nothing in the file is executed: ``torch.load(weights_only=True)`` refuses every object that is not
    plain data, and the design is validated before any layer is built."""
    if len(data) > max_bytes:
        raise LoadError("size", f"the file is {len(data) / 1e6:.1f} MB; at most {max_bytes / 1e6:.1f} MB are read "
                                f"(the largest allowed design has {dz.MAX_PARAMS:,} parameters).")
    if len(data) < 22 or not data.startswith(ZIP_MAGIC):
        raise LoadError("format", "this is not a file written by torch.save (a PyTorch zip archive); "
                                  "save the network with torch.save(model.state_dict(), 'file.pt').")
    try:
        blob = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - every refusal of torch.load is a message, never a traceback
        raise LoadError("weights-only loading", f"torch.load(weights_only=True) refused it ({_first_line(exc)}). "
                        "Only tensors, numbers, strings, lists and dicts are accepted.") from None
    if not isinstance(blob, dict):
        raise LoadError("structure", f"the file holds a {type(blob).__name__}, not a dict of weights.")
    meta = blob.get("meta") if isinstance(blob.get("meta"), dict) else {}
    if "design" in blob:
        if blob.get("format") != FORMAT:
            raise LoadError("structure", f'a file with a design must say "format": "{FORMAT}".')
        if not isinstance(blob["design"], str):
            raise LoadError("structure", "its design is not JSON text.")
        try:
            design = dz.from_json(blob["design"])
        except dz.DesignError as exc:
            raise LoadError("design", str(exc)) from None
        state, kind = blob.get("state_dict"), "network file"
    else:
        design, kind = dz.SIMPLE_CNN, "SimpleCNN state dict"
        state = blob["state_dict"] if isinstance(blob.get("state_dict"), dict) else blob
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise LoadError("structure", "the weights must be a dict of names to tensors (a state dict).")
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}  # DataParallel's prefix
    expected = dz.expected_state(design)
    missing, extra = [k for k in expected if k not in state], [k for k in state if k not in expected]
    if missing or extra:
        what = "the report's SimpleCNN" if kind == "SimpleCNN state dict" else "its design"
        parts = ([f"missing {', '.join(missing[:4])}" + (" …" if len(missing) > 4 else "")] if missing else []) + \
                ([f"unexpected {', '.join(k[:40] for k in extra[:4])}" + (" …" if len(extra) > 4 else "")] if extra else [])
        raise LoadError("keys", f"the weights do not match {what}: " + "; ".join(parts) + ".")
    for k, shape in expected.items():
        if tuple(state[k].shape) != shape:
            raise LoadError("shapes", f"{k} is {'×'.join(map(str, state[k].shape)) or 'a scalar'}, expected "
                                      f"{'×'.join(map(str, shape)) or 'a scalar'}.")
        if k.endswith("num_batches_tracked"):
            continue
        if not state[k].is_floating_point():
            raise LoadError("values", f"{k} holds {state[k].dtype} numbers, not floating-point weights.")
        if not bool(torch.isfinite(state[k]).all()):
            raise LoadError("values", f"{k} holds infinite or NaN values.")
    net = dz.DesignNet(design)
    net.load_state_dict({k: v.to(torch.float32) if v.is_floating_point() else v for k, v in state.items()})
    clean = {k: v for k, v in meta.items() if isinstance(k, str) and isinstance(v, (int, float, str, bool))}
    if isinstance(meta.get("history"), list):
        clean["history"] = meta["history"]
    return Network(design, net.eval(), kind, clean)


def design_json(design: dz.Design) -> str:
    """The design alone, pretty-printed (what ``python -m cnn_viz.mnist.train --design`` reads)."""
    return json.dumps(json.loads(design.to_json()), indent=1)
