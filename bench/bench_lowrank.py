"""Time the low-rank page: the rank-slider rebuild, the image SVDs against NumPy's, and the CNN sweep.

    python bench/bench_lowrank.py [--repeat 7] [--no-torch]

1. Rank slider (what one slider move runs, from cached factors): rebuild (U_k Σ_k)(V_kᵀ), the
   numbers (PSNR, errors, energy), and everything including the four Plotly figures serialised to
   JSON as st.plotly_chart does, for 512² (exact SVD) and 1024² (randomized, top 256) grayscale and colour images. Goal < 50 ms.
2. SVD once per image: ours (exact LAPACK on one BLAS thread, randomized range finder) against
   numpy.linalg.svd with NumPy's default threads; torch.svd_lowrank and scikit-learn's randomized_svd
   for reference (skipped when missing). Ratio = reference / ours (> 1: ours is faster), and the
   relative Frobenius error of rank 50 and 256 against the exact SVD's.
3. The CNN sweeps (fc1 at k = 1..128, conv2 at k = 1..32 on the 1,000 held-out digits).
Median of --repeat runs, milliseconds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import plotly.io as pio
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_conv import median_ms  # noqa: E402  (this folder is on the path when run as a script)
from cnn_viz.common import images  # noqa: E402
from cnn_viz.common.metrics import relative_error  # noqa: E402
from cnn_viz.figures import builders  # noqa: E402
from cnn_viz.lowrank import figures, svd  # noqa: E402


def test_images() -> dict[str, np.ndarray]:
    cam = images.load_sample("Cameraman")  # 512², grayscale
    ast = images.load_sample("Astronaut")  # 512², colour
    big = lambda a: np.clip(np.asarray(  # noqa: E731 - bicubic 2× upscale of each channel
        [np.asarray(Image.fromarray(c).resize((1024, 1024), Image.Resampling.BICUBIC)) for c in np.atleast_3d(a).transpose(2, 0, 1)]
    ).transpose(1, 2, 0).squeeze(), 0, 1).astype(np.float32)
    return {"512² gray": cam, "512² colour": ast, "1024² gray": big(cam), "1024² colour": big(ast)}


def slider_move(img, f, k, eps=0.05):
    """Everything the page's rank fragment computes for one k."""
    view = svd.at_rank(img, f, k)
    target = svd.eps_target(f, eps)
    figs = [
        builders.image_figure(view.shown, title="r", height=420),
        builders.signed_map_figure(view.error, title="e", height=420),
        figures.spectrum_figure(f.s, k),
        figures.error_curve_figure(target.ks, target.errors, k, eps, target.k),
    ]
    # What st.plotly_chart does with a figure: to_dict(), then plotly.io.to_json(validate=False).
    return view.stats, [pio.to_json(fig.to_dict(), validate=False) for fig in figs]


def bench_slider(imgs, repeat: int) -> None:
    print("\n1. One rank-slider move from cached factors (median ms; goal < 50 ms)")
    print(f"{'image':<14}{'SVD':>11}{'k':>6}{'rebuild':>9}{'+numbers':>10}{'+figures':>10}")
    for name, img in imgs.items():
        f = svd.image_svd(img)
        for k in (20, 100, f.rank):
            rb = median_ms(lambda: svd.rebuild(f, k), repeat)
            nums = median_ms(lambda: svd.rank_stats(img, svd.rebuild(f, k), f, k), repeat)
            full = median_ms(lambda: slider_move(img, f, k), max(3, repeat // 2))
            print(f"{name:<14}{'exact' if f.exact else 'random.':>11}{k:>6}{rb:>9.1f}{nums:>10.1f}{full:>10.1f}")


def bench_svd(imgs, repeat: int, use_torch: bool) -> None:
    print("\n2. SVD of one image channel (median ms); ratio = reference / ours")
    gray = {k: v for k, v in imgs.items() if "gray" in k}
    for name, a in gray.items():
        a64 = a.astype(np.float64)
        ours_exact = median_ms(lambda: svd.image_svd(a, "exact"), repeat)
        numpy_default = median_ms(lambda: np.linalg.svd(a64, full_matrices=False), max(3, repeat // 2))
        print(f"{name}: exact, ours (LAPACK, 1 BLAS thread) {ours_exact:.0f} ms; numpy.linalg.svd (default threads) "
              f"{numpy_default:.0f} ms; ratio {numpy_default / ours_exact:.2f}")
        s_exact = np.linalg.svd(a64, compute_uv=False)
        norm = np.linalg.norm(a64)
        best = {k: np.sqrt(np.sum(s_exact[k:] ** 2)) / norm for k in (50, 256)}
        ours_rand = median_ms(lambda: svd.image_svd(a, "randomized"), repeat)
        f = svd.image_svd(a, "randomized")
        extra = {k: relative_error(svd.rebuild(f, k), a) / best[k] - 1 for k in (50, 256)}
        print(f"  randomized top {f.rank}, ours (NumPy/SciPy range finder, 2 LU power iterations): {ours_rand:.0f} ms "
              f"(vs numpy full SVD: {numpy_default / ours_rand:.1f}× faster); extra error at k=50 {100 * extra[50]:.3f}%, "
              f"k=256 {100 * extra[256]:.3f}%")
        if use_torch:
            import torch

            torch.set_num_threads(1)
            t = torch.from_numpy(a.copy())
            ms = median_ms(lambda: torch.svd_lowrank(t, q=256 + 64, niter=2), repeat)
            u, s, v = torch.svd_lowrank(t, q=256 + 64, niter=2)
            ex = {k: relative_error(((u[:, :k] * s[:k]) @ v[:, :k].T).numpy(), a) / best[k] - 1 for k in (50, 256)}
            print(f"  torch.svd_lowrank(q=320, niter=2), 1 thread: {ms:.0f} ms, ratio {ms / ours_rand:.2f}; extra error "
                  f"k=50 {100 * ex[50]:.3f}%, k=256 {100 * ex[256]:.3f}%")
        try:
            from sklearn.utils.extmath import randomized_svd
            from threadpoolctl import threadpool_limits

            with threadpool_limits(1, user_api="blas"):
                ms = median_ms(lambda: randomized_svd(a, 256, n_oversamples=64, n_iter=2, power_iteration_normalizer="QR", random_state=0), max(3, repeat // 2))
                u, s, vt = randomized_svd(a, 256, n_oversamples=64, n_iter=2, power_iteration_normalizer="QR", random_state=0)
            ex = {k: relative_error((u[:, :k] * s[:k]) @ vt[:k], a) / best[k] - 1 for k in (50, 256)}
            print(f"  sklearn randomized_svd(256, oversample 64, 2 QR iterations), 1 thread: {ms:.0f} ms, ratio {ms / ours_rand:.2f}; "
                  f"extra error k=50 {100 * ex[50]:.3f}%, k=256 {100 * ex[256]:.3f}%")
        except ImportError:
            print("  (scikit-learn not installed: skipped)")


def bench_cnn(repeat: int) -> None:
    import torch

    from cnn_viz.lowrank import compress
    from cnn_viz.mnist import data as mnist
    from cnn_viz.mnist.model import load_pretrained

    torch.set_num_threads(1)
    model = load_pretrained()
    _, held = mnist.train_test_split()
    print("\n3. CNN rank sweeps on the 1,000 held-out digits (median ms, one torch thread)")
    for layer in ("fc1", "conv2"):
        ms = median_ms(lambda: compress.rank_sweep(model, held.images, held.labels, layer), max(1, repeat // 3))
        sw = compress.rank_sweep(model, held.images, held.labels, layer)
        print(f"  {layer}: k = 1..{sw.ranks[-1]} in {ms:.0f} ms; full {sw.full_accuracy:.1f}%, smallest k within 0.5 points "
              f"{sw.smallest_within()} ({sw.accuracy[sw.smallest_within() - 1]:.1f}%, {sw.layer_params[sw.smallest_within() - 1]:,} "
              f"of {sw.full_layer_params:,} parameters)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--no-torch", action="store_true", help="skip torch.svd_lowrank and the CNN sweeps")
    args = ap.parse_args()
    with open("/proc/loadavg") as fh:
        print(f"load average at start: {fh.read().split()[0]} (2 cores, shared)")
    imgs = test_images()
    bench_slider(imgs, args.repeat)
    bench_svd(imgs, args.repeat, not args.no_torch)
    if not args.no_torch:
        bench_cnn(args.repeat)


if __name__ == "__main__":
    main()
