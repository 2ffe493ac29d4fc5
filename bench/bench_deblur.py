"""The deblurring page's goals, measured: quality and time of every method on the held-out image.

    python bench/bench_deblur.py [--repeat 5] [--side 256]

Cameraman (never used in training), Gaussian σ = 2 px, 1 % noise, reflexive boundary, noise seed 0,
solver reflexive (the page's defaults). Prints, per method, PSNR / SSIM / time (median of --repeat
runs of the same call the page makes), then the goals:
  GCV within 1 dB of the oracle λ; Tikhonov + CNN ≥ best classical + 1 dB;
  every classical method < 300 ms; the whole comparison < 2 s,
and the speed of our Wiener, Richardson–Lucy and SSIM against scikit-image's (ratio = ours / theirs).
The box is shared (2 cores, several developers): the load average is printed with the times.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from bench_conv import median_ms  # noqa: E402  (median of repeated timings, in ms)

from cnn_viz.common.images import load_sample, resize_max  # noqa: E402
from cnn_viz.common.linalg import one_blas_thread  # noqa: E402
from cnn_viz.common.metrics import psnr, ssim  # noqa: E402
from cnn_viz.deblur import experiment, forward, restore  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--side", type=int, default=256)
    args = ap.parse_args()

    from cnn_viz.common.torch_tools import one_torch_thread
    from cnn_viz.deblur import cnn

    one_torch_thread()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; torch threads 1, BLAS threads 1")
    truth = resize_max(load_sample("Cameraman", 512), args.side).astype(np.float64)
    scene = experiment.make_scene(truth, forward.gaussian_psf(2.0), "reflexive", 0.01, seed=0)
    nets = cnn.networks(cnn.load_shipped(), {})
    methods = experiment.CLASSICAL + tuple(n for n in experiment.LEARNED if n in nets.restorers)

    with one_blas_thread():
        res = {r.name: r for r in experiment.compare(scene, "reflexive", methods, cnn=nets.restorers)}
        print(f"\ncameraman {truth.shape[0]}×{truth.shape[1]}, σ = 2 px, 1 % noise, reflexive; blurred "
              f"{psnr(np.clip(scene.blurred, 0, 1), truth):.2f} dB")
        print(f"{'method':<28}{'PSNR':>8}{'SSIM':>8}{'ms':>9}   details")
        times = {}
        for name in methods:
            times[name] = median_ms(lambda n=name: experiment.compare(scene, "reflexive", (n,), cnn=nets.restorers), args.repeat)
            r = res[name]
            print(f"{name:<28}{r.psnr:8.2f}{r.ssim:8.3f}{times[name]:9.1f}   {r.note}")
        whole = median_ms(lambda: experiment.compare(scene, "reflexive", methods, cnn=nets.restorers), max(1, args.repeat // 2))

        gap = res[experiment.TIK_BEST].psnr - res[experiment.TIK_GCV].psnr
        classical = {n: r for n, r in res.items() if n in experiment.CLASSICAL}
        best = max(classical.values(), key=lambda r: r.psnr)
        slowest = max((n for n in classical), key=times.get)
        print("\ngoals")
        print(f"  GCV within 1 dB of the best λ:       {gap:.2f} dB  {'OK' if gap <= 1 else 'MISSED'}")
        if experiment.CNN_TIK in res:
            gain = res[experiment.CNN_TIK].psnr - best.psnr
            print(f"  Tikhonov + CNN − best classical:      {gain:+.2f} dB (best classical: {best.name}, {best.psnr:.2f} dB)  "
                  f"{'OK' if gain >= 1 else 'MISSED'}")
        print(f"  slowest classical method:             {times[slowest]:.0f} ms ({slowest})  {'OK' if times[slowest] < 300 else 'MISSED'}")
        print(f"  whole comparison ({len(methods)} methods):       {whole:.0f} ms  {'OK' if whole < 2000 else 'MISSED'}")

        from skimage import metrics, restoration

        b = scene.blurred
        psf = scene.psf
        op = forward.BlurOperator(psf, b.shape, "zero")
        x = res[experiment.TIK_GCV].image.astype(np.float64)
        rows = [
            ("Wiener (periodic, fixed balance)", lambda: restore.wiener(b, forward.spectral(psf, b.shape, "periodic"), 1e-3),
             lambda: restoration.wiener(b, psf, 1e-3, clip=False)),
            ("Richardson–Lucy, zero pad, 30 it.", lambda: restore.richardson_lucy(np.maximum(b, 0), op, 30, normalize=False),
             lambda: restoration.richardson_lucy(np.maximum(b, 0), psf, 30, clip=False)),
            ("SSIM", lambda: ssim(x, truth), lambda: metrics.structural_similarity(truth, x, data_range=1.0)),
            ("PSNR", lambda: psnr(x, truth), lambda: metrics.peak_signal_noise_ratio(truth, x, data_range=1.0)),
        ]
        print(f"\n{'against scikit-image':<36}{'ours ms':>9}{'skimage':>9}{'ratio':>7}")
        for name, ours, ref in rows:
            a, c = median_ms(ours, args.repeat), median_ms(ref, args.repeat)
            print(f"{name:<36}{a:9.2f}{c:9.2f}{a / c:7.2f}")
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
