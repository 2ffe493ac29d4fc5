"""Train the deblurring CNNs shipped in assets/ (command line).

    python -m cnn_viz.deblur.train --kind tikcnn --minutes 14 --threads 1 --patch 40 --out assets/deblur_tikhonov_cnn.pt
    python -m cnn_viz.deblur.train --kind direct --minutes 14 --threads 1 --out assets/deblur_direct_cnn.pt

Without ``--out`` the network goes to a new file under ``runs/`` (printed at the end): the shipped
weights in assets/ are overwritten only when ``--out`` names them. Those two commands rebuilt what ships
(assets/README.md gives their measured times).

Progress goes to stdout (one line every --log-every steps); at the end the network is
evaluated on the validation image (coins) and on the held-out cameraman 256² (σ = 2 px
Gaussian, 1 % noise, reflexive boundary, noise seed 0, the page's default) and saved with
that record in its metadata.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time
from pathlib import Path

PROG = "python -m cnn_viz.deblur.train"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kind", choices=["direct", "tikcnn"], required=True)
    ap.add_argument("--minutes", type=float, default=10.0, help="training time budget (wall clock)")
    ap.add_argument("--max-steps", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=48)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--draws", type=int, default=2, help="noise draws per training image and scale")
    ap.add_argument("--out", type=Path, default=None,
                    help="where to write the network (default: a new file under runs/; the shipped file in assets/ "
                         "is overwritten only when --out names it)")
    ap.add_argument("--log-every", type=int, default=100)
    args = ap.parse_args(argv)

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from cnn_viz.common import assets
    from cnn_viz.common.torch_tools import count_parameters
    from cnn_viz.deblur import cnn as dc
    from cnn_viz.deblur.experiment import TRAINED

    out = args.out or assets.new_run_path(dc.WEIGHTS[args.kind].stem)
    deg = TRAINED  # the conditions the page measures the CNN methods in
    t0 = time.perf_counter()
    print(f"[{args.kind}] preparing training pairs from {len(dc.TRAIN_IMAGES)} images ...", flush=True)
    pairs = dc.make_pairs(args.kind, deg, draws=args.draws, seed=args.seed + 1)
    prep = time.perf_counter() - t0
    print(f"[{args.kind}] {len(pairs.inputs)} pairs in {prep:.0f} s; training {args.minutes:g} min on {args.threads} thread(s)", flush=True)

    def progress(frac, msg):
        print(f"[{args.kind}] {100 * frac:5.1f}%  {msg}", flush=True)

    val_pair = dc.eval_pair(args.kind, deg, name=dc.VALIDATION_IMAGE)  # monitoring only: cameraman stays unseen

    def validate(model):
        return f"validation ({dc.VALIDATION_IMAGE}) {dc.evaluate(model, args.kind, deg, pair=val_pair).psnr:.2f} dB"

    model, hist = dc.train(args.kind, seconds=60 * args.minutes, max_steps=args.max_steps, batch=args.batch,
                           patch=args.patch, lr=args.lr, seed=args.seed, deg=deg, pairs=pairs,
                           threads=args.threads, progress=progress, log_every=args.log_every, validate=validate)
    train_s = time.perf_counter() - t0 - prep
    val = dc.evaluate(model, args.kind, deg, pair=val_pair)
    cam = dc.evaluate(model, args.kind, deg)
    steps = hist[-1][0] if hist else 0
    meta = {
        "command": f"{PROG} " + " ".join(argv if argv is not None else sys.argv[1:]),
        "train_seconds": round(train_s, 1), "prep_seconds": round(prep, 1), "steps": steps,
        "batch": args.batch, "patch": args.patch, "threads": args.threads, "params": count_parameters(model),
        "train_images": list(dc.TRAIN_IMAGES), "validation": dc.VALIDATION_IMAGE,
        "degradation": dataclasses.asdict(deg), "coins_psnr": round(val.psnr, 2),
        "camera_psnr": round(cam.psnr, 2), "camera_input_psnr": round(cam.input_psnr, 2),
        "camera_ssim": round(cam.ssim, 4), "machine": platform.processor() or platform.machine(),
        "date": time.strftime("%Y-%m-%d"),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    dc.save(model, args.kind, out, meta)
    print(f"[{args.kind}] done: {steps} steps in {train_s:.0f} s (+{prep:.0f} s data); "
          f"coins {val.input_psnr:.2f} -> {val.psnr:.2f} dB; cameraman {cam.input_psnr:.2f} -> {cam.psnr:.2f} dB "
          f"(SSIM {cam.ssim:.3f}); saved {out} ({out.stat().st_size / 1024:.0f} kB)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
