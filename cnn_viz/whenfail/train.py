"""Rebuild the "When CNNs fail" results from the command line (new files; shipped ones only with --out).

    python -m cnn_viz.whenfail.train lab --signals csc            # the 1-D table, every operator and method
    python -m cnn_viz.whenfail.train jpeg --minutes 8             # the JPEG artifact CNN
    python -m cnn_viz.whenfail.train descent --data mnist         # gradient descent against SGD on MNIST

Without ``--out`` the file goes to ./whenfail-results/ (never over a shipped file in assets/).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from cnn_viz.common import assets

OUT_DIR = Path("whenfail-results")


def _out(args, name: str) -> Path:
    if args.out:
        return Path(args.out)
    OUT_DIR.mkdir(exist_ok=True)
    path = OUT_DIR / name
    if path.resolve().parent == assets.ASSETS.resolve():  # pragma: no cover - guarded by OUT_DIR
        raise SystemExit("refusing to overwrite a shipped file; name it with --out")
    return path


def _command() -> str:
    return "python -m cnn_viz.whenfail.train " + " ".join(sys.argv[1:])


def lab_main(args) -> Path:
    from cnn_viz.whenfail import lab, nets
    from cnn_viz.whenfail.results import LabTable

    torch.set_num_threads(args.threads)
    cfg = nets.TrainConfig(steps=args.steps, seed=args.seed)
    t0, runs = time.perf_counter(), []
    for op in args.operators:
        setup = lab.Setup(operator=op, signals=args.signals, n=args.n, m=args.n // 2, seed=args.seed)
        run = nets.run_operator(setup, cfg, progress=lambda m, d, tot: print(f"\r{op:9s} {m:9s} {d}/{tot}", end="", flush=True))
        runs.append(run)
        print(f"\r{op:9s} " + "  ".join(f"{m} {v:.3f} ({run.seconds[m]:.1f} s)" for m, v in run.errors.items()), flush=True)
    comp = lab.compressibility(lab.signals(args.signals, args.n, 200, args.seed + 100))
    table = LabTable.from_runs(runs, comp, {"command": _command(), "seconds": round(time.perf_counter() - t0, 1),
                                            "steps": args.steps, "torch": str(torch.__version__), "threads": args.threads})
    out = _out(args, f"whenfail_lab_{args.signals}.npz")
    table.save(out)
    print(f"wrote {out} in {table.meta['seconds']} s; compressibility {comp}")
    return out


def jpeg_main(args) -> Path:
    from cnn_viz.whenfail import jpeg_cnn

    torch.set_num_threads(args.threads)
    out = _out(args, "whenfail_jpeg_cnn.pt")
    info = jpeg_cnn.train_and_save(out, minutes=args.minutes, max_steps=args.max_steps, seed=args.seed, command=_command(),
                                   progress=lambda d, msg: print(f"\r{msg}", end="", flush=True))
    print(f"\nwrote {out}: {info}")
    return out


def descent_main(args) -> Path:
    from cnn_viz.whenfail import descent

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    if args.data == "mnist":
        problem = descent.mnist_problem()
    else:
        problem = descent.lab_problem()
    cmp = descent.compare(problem, passes=args.passes, batch=args.batch, seed=args.seed,
                          progress=lambda msg: print(f"\r{msg:70s}", end="", flush=True))
    out = _out(args, f"whenfail_descent_{args.data}.npz")
    cmp.save(out, {"command": _command(), "seconds": round(time.perf_counter() - t0, 1), "torch": str(torch.__version__)})
    print(f"\nwrote {out}: {cmp.summary()}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cnn_viz.whenfail.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    a = sub.add_parser("lab", help="the 1-D operator × method table")
    a.add_argument("--signals", default="csc", choices=["csc", "generic"])
    a.add_argument("--operators", nargs="+", default=["blur", "block", "dense", "permuted"])
    a.add_argument("--n", type=int, default=128)
    a.add_argument("--steps", type=int, default=600)
    b = sub.add_parser("jpeg", help="the JPEG artifact CNN")
    b.add_argument("--minutes", type=float, default=8.0)
    b.add_argument("--max-steps", type=int, default=3000)
    c = sub.add_parser("descent", help="gradient descent against SGD")
    c.add_argument("--data", default="mnist", choices=["mnist", "lab"])
    c.add_argument("--passes", type=int, default=None)
    c.add_argument("--batch", type=int, default=None)
    for s in (a, b, c):
        s.add_argument("--seed", type=int, default=0)
        s.add_argument("--threads", type=int, default=1)
        s.add_argument("--out", default=None, help="where to write (default: ./whenfail-results/...)")
    args = p.parse_args(argv)
    {"lab": lab_main, "jpeg": jpeg_main, "descent": descent_main}[args.what](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
