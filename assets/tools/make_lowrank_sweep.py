"""Precompute the ε-rank sweeps that the low-rank page shows first (so its first view is instant).

    python assets/tools/make_lowrank_sweep.py            # writes assets/lowrank_sweep.json

For the Gaussian kernel X_ij = exp(−‖a_i − b_j‖²) with a, b uniform in [−1, 1]^d (seed 0), d = 2
and d = 3, ε = 0.01, n = 100 … 4000, and the random matrix of the same sizes (full SVDs up to
4000 × 4000: a few minutes on one core). Other settings are computed on the page on request.
"""

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

from cnn_viz.lowrank import latent  # noqa: E402

OUT = ROOT / "assets" / "lowrank_sweep.json"
SETTINGS = [dict(kind="gaussian", d=2, eps=0.01), dict(kind="gaussian", d=3, eps=0.01)]


def main() -> None:
    sweeps = []
    for s in SETTINGS:
        t0 = time.perf_counter()
        sw = latent.eps_rank_sweep(latent.DEFAULT_NS, s["d"], s["eps"], s["kind"], seed=0, random_up_to=4000,
                                   progress=lambda f, msg: print(f"  {100 * f:5.1f}%  {msg}", flush=True))
        print(f"{s}: latent {sw.latent_max}, random {sw.random_max} ({time.perf_counter() - t0:.0f} s)", flush=True)
        sweeps.append(sw.to_dict())
    OUT.write_text(json.dumps({"sweeps": sweeps}, separators=(",", ":")))
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
