"""The lab's result table (operator × method) and its .npz file: NumPy only, so the page opens without torch."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from cnn_viz.common import fmt
from cnn_viz.whenfail import lab


@dataclass(frozen=True, eq=False)
class OperatorRun:
    """Every method on one operator: held-out errors, seconds, parameters, and a few held-out examples."""

    setup: lab.Setup
    errors: dict  # method → ‖X̂ − X‖_F / ‖X‖_F on the held-out signals
    seconds: dict  # method → training seconds (networks) or solving seconds (classical)
    parameters: dict
    x: np.ndarray  # (EXAMPLES, n) true held-out signals
    b: np.ndarray  # (EXAMPLES, m) their data
    examples: dict  # method → (EXAMPLES, n) reconstructions
    tik_lambda: float
    stopped: bool = False


@dataclass(frozen=True, eq=False)
class LabTable:
    """Rows: operators; columns: methods (NaN where a method was not run)."""

    signals: str
    n: int
    operators: tuple
    methods: tuple
    errors: np.ndarray
    seconds: np.ndarray
    parameters: np.ndarray
    runs: tuple = ()  # the OperatorRuns (examples for the figures)
    compress: dict = field(default_factory=dict)  # lab.Compressibility fields
    meta: dict = field(default_factory=dict)  # command, torch version, total seconds, steps

    @classmethod
    def from_runs(cls, runs, compress: lab.Compressibility | None = None, meta: dict | None = None) -> "LabTable":
        ops = tuple(r.setup.operator for r in runs)
        meths = tuple(m for m in lab.METHODS if any(m in r.errors for r in runs))
        grid = lambda attr: np.array([[getattr(r, attr).get(m, np.nan) for m in meths] for r in runs], dtype=float)  # noqa: E731
        return cls(runs[0].setup.signals, int(runs[0].setup.n), ops, meths, grid("errors"), grid("seconds"), grid("parameters"),
                   tuple(runs), asdict(compress) if compress else {}, meta or {})

    def error(self, operator: str, method: str) -> float:
        if operator not in self.operators or method not in self.methods:
            return float("nan")
        return float(self.errors[self.operators.index(operator), self.methods.index(method)])

    def run(self, operator: str) -> OperatorRun | None:
        return next((r for r in self.runs if r.setup.operator == operator), None)

    def columns(self) -> dict:
        """The table as named columns of text (rows = operators), for st.dataframe."""
        return {lab.METHODS[m]: [fmt.num(v) if np.isfinite(v) else "–" for v in self.errors[:, j]]
                for j, m in enumerate(self.methods)}

    def row_labels(self) -> list[str]:
        return [lab.OPERATORS[o] for o in self.operators]

    def best(self, operator: str) -> str:
        i = self.operators.index(operator)
        row = np.where(np.isfinite(self.errors[i]), self.errors[i], np.inf)
        return self.methods[int(np.argmin(row))]

    def lesson(self) -> str:
        """What the numbers say, stated from them (nothing here is assumed)."""
        parts = []
        e = self.error
        if "blur" in self.operators and "cnn" in self.methods:
            cnn, tik, fc = e("blur", "cnn"), e("blur", "tikhonov"), e("blur", "fc")
            parts.append(f"On the blur the CNN fed b reaches {fmt.num(cnn)} against Tikhonov's {fmt.num(tik)} and the fully "
                         f"connected network's {fmt.num(fc)} (best here: {lab.METHODS[self.best('blur')]}).")
        for op in ("block", "dense", "permuted"):
            if op in self.operators and "cnn" in self.methods:
                cnn = e(op, "cnn")
                fix = min((e(op, m) for m in ("cnn_mtb", "cnn_tik") if m in self.methods), default=float("nan"))
                word = "loses its edge" if cnn > e(op, "tikhonov") else "still beats Tikhonov"
                parts.append(f"{lab.OPERATORS[op]}: the CNN fed b {word} ({fmt.num(cnn)} against Tikhonov's "
                             f"{fmt.num(e(op, 'tikhonov'))}); fed Mᵀb or Tikhonov's x it reaches {fmt.num(fix)}; "
                             f"best: {lab.METHODS[self.best(op)]} ({fmt.num(np.nanmin(self.errors[self.operators.index(op)]))}).")
        return " ".join(parts)

    # ---- file
    def save(self, path) -> None:
        arrays = {"errors": self.errors, "seconds": self.seconds, "parameters": self.parameters}
        runs = []
        for i, r in enumerate(self.runs):
            arrays[f"x_{i}"], arrays[f"b_{i}"] = r.x, r.b
            for m, v in r.examples.items():
                arrays[f"ex_{i}_{m}"] = v
            runs.append({"setup": asdict(r.setup), "tik_lambda": r.tik_lambda, "examples": list(r.examples)})
        head = {"signals": self.signals, "n": self.n, "operators": list(self.operators), "methods": list(self.methods),
                "compress": self.compress, "meta": self.meta, "runs": runs}
        np.savez_compressed(path, header=np.array(json.dumps(head)), **arrays)

    @classmethod
    def load(cls, path) -> "LabTable":
        with np.load(path, allow_pickle=False) as z:
            head = json.loads(str(z["header"]))
            runs = []
            for i, r in enumerate(head["runs"]):
                setup = lab.Setup(**r["setup"])
                ex = {m: z[f"ex_{i}_{m}"] for m in r["examples"]}
                row = head["operators"].index(setup.operator)
                pick = lambda key: {m: float(z[key][row, j]) for j, m in enumerate(head["methods"]) if np.isfinite(z[key][row, j])}  # noqa: E731
                runs.append(OperatorRun(setup, pick("errors"), pick("seconds"), pick("parameters"), z[f"x_{i}"], z[f"b_{i}"], ex,
                                        r["tik_lambda"]))
            return cls(head["signals"], head["n"], tuple(head["operators"]), tuple(head["methods"]), z["errors"], z["seconds"],
                       z["parameters"], tuple(runs), head["compress"], head["meta"])


# ------------------------------------------------------------------ gradient descent against SGD
@dataclass(frozen=True, eq=False)
class Curve:
    """One optimiser at its chosen learning rate: checkpoints in passes over the data and in training seconds."""

    method: str  # "gd", "minibatch", "sgd1"
    batch: int
    lr: float
    passes: np.ndarray
    seconds: np.ndarray
    loss: np.ndarray  # training loss (on a fixed subset of the training set)
    metric: np.ndarray  # held-out accuracy (MNIST) or relative error (1-D lab)


DESCENT_LABELS = {"gd": "Full-batch gradient descent", "minibatch": "Mini-batch SGD", "sgd1": "One-sample SGD"}


@dataclass(frozen=True, eq=False)
class Descent:
    problem: str  # "mnist" or "lab"
    metric_name: str
    higher_better: bool
    curves: tuple
    search: dict  # method → {lr: final training loss}
    meta: dict = field(default_factory=dict)

    def curve(self, method: str) -> Curve:
        return next(c for c in self.curves if c.method == method)

    def label(self, c: Curve) -> str:
        return f"{DESCENT_LABELS[c.method]} (batch {c.batch}, lr {c.lr:g})"

    def summary(self) -> str:
        """The finding, from the numbers: each optimiser's final loss and held-out metric after the same passes."""
        p = int(round(float(self.curves[0].passes[-1])))
        parts = [f"{DESCENT_LABELS[c.method]} (batch {c.batch}, lr {c.lr:g}): loss {fmt.num(float(c.loss[-1]))}, "
                 f"{self.metric_name} {fmt.num(float(c.metric[-1]))} in {fmt.num(float(c.seconds[-1]))} s"
                 for c in self.curves]
        pick = max if self.higher_better else min
        best = pick(self.curves, key=lambda c: float(c.metric[-1]))
        fastest = min(self.curves, key=lambda c: float(c.seconds[-1]))
        return (f"After {p} passes over the data with each optimiser's best learning rate: " + "; ".join(parts)
                + f". Best {self.metric_name}: {DESCENT_LABELS[best.method]}; least time per pass: "
                f"{DESCENT_LABELS[fastest.method]}.")

    def save(self, path, meta: dict | None = None) -> None:
        arrays = {}
        for c in self.curves:
            for k in ("passes", "seconds", "loss", "metric"):
                arrays[f"{c.method}_{k}"] = getattr(c, k)
        head = {"problem": self.problem, "metric_name": self.metric_name, "higher_better": self.higher_better,
                "curves": [{"method": c.method, "batch": c.batch, "lr": c.lr} for c in self.curves],
                "search": {m: {str(k): v for k, v in d.items()} for m, d in self.search.items()},
                "meta": dict(self.meta, **(meta or {}))}
        np.savez_compressed(path, header=np.array(json.dumps(head)), **arrays)

    @classmethod
    def load(cls, path) -> "Descent":
        with np.load(path, allow_pickle=False) as z:
            head = json.loads(str(z["header"]))
            curves = tuple(Curve(c["method"], c["batch"], c["lr"], *(z[f"{c['method']}_{k}"] for k in ("passes", "seconds", "loss", "metric")))
                           for c in head["curves"])
        return cls(head["problem"], head["metric_name"], head["higher_better"], curves,
                   {m: {float(k): v for k, v in d.items()} for m, d in head["search"].items()}, head["meta"])
