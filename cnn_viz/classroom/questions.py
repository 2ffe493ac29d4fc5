"""Check-your-understanding questions computed from a page's live settings (its URL query parameters).

Every generator calls the lesson's own core for the right answer (``conv.output_size``, ``conv.conv2d``,
``stages.pool_window``, ``svd.image_svd``, ``signal1d.analyse``, ``model.predict``), so the questions never
run out and always agree with what the page shows. ``for_page(page, params, seed)`` gives the questions of
one page; the settings come as the strings the URL holds, and anything missing or malformed falls back to
the page's default (a forged URL yields a question about the defaults, never an error).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np

from cnn_viz.common import conv, fmt, images, kernels, metrics


@dataclass(frozen=True, eq=False)
class Question:
    kind: str
    prompt: str
    choices: tuple[str, ...]
    answer: str
    explanation: str
    image: np.ndarray | None = field(default=None, repr=False)  # a picture the question is about

    def check(self, given: object) -> bool:
        return str(given).strip() == self.answer


# ------------------------------------------------------------------ settings from the URL, defensively
def _get(params: dict, key: str, default: str) -> str:
    v = params.get(key, default)
    if isinstance(v, (list, tuple)):
        v = v[0] if v else default
    return str(v)


def _int(params: dict, key: str, default: int, lo: int, hi: int) -> int:
    try:
        v = int(float(_get(params, key, str(default))))
    except ValueError:
        return default
    return v if lo <= v <= hi else default


def _held_position(params: dict, held) -> int | None:
    """The held-out digit of the MNIST page's ``mn_gallery``: its position, or the page's list label as the URL
    holds it ("3  (sample row 1503)"); None when absent or unknown."""
    import re

    v = _get(params, "mn_gallery", "")
    m = re.search(r"sample row (\d+)", v)
    if m:
        rows = [int(r) for r in held.rows]
        return rows.index(int(m.group(1))) if int(m.group(1)) in rows else None
    i = _int(params, "mn_gallery", -1, 0, len(held.labels) - 1)
    return None if i < 0 else i


def _float(params: dict, key: str, default: float, lo: float, hi: float) -> float:
    try:
        v = float(_get(params, key, str(default)))
    except ValueError:
        return default
    return v if lo <= v <= hi and np.isfinite(v) else default


def _choice(params: dict, key: str, default: str, options) -> str:
    v = _get(params, key, default)
    return v if v in options else default


def _sample(params: dict, prefix: str, default: str, max_side: int = images.DEFAULT_MAX_SIDE):
    """The page's sample image (uploads are not in the URL: the default sample stands in), gray."""
    name = _choice(params, f"{prefix}_sample", default, images.SAMPLES)
    img = images.load_sample(name, max_side)
    return (images.to_gray(img) if img.ndim == 3 else img), name


def _mix(answer: str, wrong, rng: random.Random, n: int = 4) -> tuple[str, ...]:
    out = [answer] + [w for w in dict.fromkeys(wrong) if w != answer][: n - 1]
    rng.shuffle(out)
    return tuple(out)


# ------------------------------------------------------------------------------------ the generators
def output_size(h: int, w: int, kh: int, kw: int, stride: int, padding: int, dilation: int, seed: int = 0) -> Question:
    """What is the feature map's size for this input, kernel, stride, padding and dilation?"""
    rng = random.Random(seed)
    try:
        oh, ow = (conv.output_size(h, kh, stride, padding, dilation), conv.output_size(w, kw, stride, padding, dilation))
    except ValueError as e:
        return Question("output_size", f"Does a {kh}×{kw} kernel (dilation {dilation}) fit a {h}×{w} input with padding {padding}?",
                        ("yes", "no"), "no", str(e))
    ans = f"{oh}×{ow}"

    def size(p, s, d):
        try:
            return f"{conv.output_size(h, kh, s, p, d)}×{conv.output_size(w, kw, s, p, d)}"
        except ValueError:
            return f"{h}×{w}"

    wrong = [size(0, stride, dilation), size(padding, 1, dilation), size(padding, stride, 1), f"{h}×{w}",
             f"{oh + 1}×{ow + 1}", f"{max(oh - 1, 1)}×{max(ow - 1, 1)}"]
    span = dilation * (kh - 1) + 1
    expl = (f"Rows: ⌊({h} + 2·{padding} − {dilation}·({kh} − 1) − 1) / {stride}⌋ + 1 = "
            f"⌊{h + 2 * padding - span} / {stride}⌋ + 1 = {oh}; columns the same way with {w} and {kw}: {ow}. "
            f"The dilated kernel covers {span} pixels, the padded input {h + 2 * padding}.")
    return Question("output_size", f"A {kh}×{kw} kernel slides over a {h}×{w} input with stride {stride}, "
                    f"padding {padding} and dilation {dilation}. What size is the feature map?",
                    _mix(ans, wrong, rng), ans, expl)


def which_kernel(img: np.ndarray, seed: int = 0, names=None) -> Question:
    """Which of these kernels made this feature map? (one of four presets, the map shown)"""
    rng = random.Random(seed)
    pool = list(names or ["Vertical edge (report)", "Sobel y", "Box blur 5×5", "Laplacian (8-neighbour)",
                          "Sharpen", "Emboss", "Prewitt y", "Outline"])
    picked = rng.sample(pool, 4)
    right = picked[0]
    k = kernels.preset(right)
    fmap = conv.conv2d(img, k, padding="same")
    expl = (f"The map is {right}: {kernels.PRESETS[right].description} Its values run from {fmt.num(float(fmap.min()))} "
            f"to {fmt.num(float(fmap.max()))}; a blur keeps them within the image's 0…1, edge kernels are signed.")
    return Question("which_kernel", "Which of these kernels made the feature map shown?", _mix(right, picked[1:], rng),
                    right, expl, image=fmap)


def pool_value(fmap: np.ndarray, size: int = 2, stride: int = 2, seed: int = 0, mode: str = "max") -> Question:
    """After size×size max pooling, what is this window's value? (the window's numbers are given)"""
    from cnn_viz.pooling import stages

    rng = random.Random(seed)
    oh, ow = stages.pool_output_size(fmap.shape[0], size, stride), stages.pool_output_size(fmap.shape[1], size, stride)
    # the window with the strongest response, or a random one for other seeds
    pooled = stages.pool2d(fmap, "max", size, stride)[0]
    pos = np.unravel_index(int(np.argmax(pooled)), pooled.shape) if seed == 0 else (rng.randrange(oh), rng.randrange(ow))
    win = stages.pool_window(fmap, pos, mode, size, stride)
    vals = win.values[np.isfinite(win.values)]
    f = lambda v: f"{float(v):.3f}"  # noqa: E731
    ans = f(win.value)
    wrong = [f(vals.mean()), f(vals.min()), f(vals.sum()), f(np.sort(vals)[-2] if vals.size > 1 else -vals[0])]
    grid = " / ".join(" ".join(f(v) for v in row) for row in win.values)
    expl = (f"The window at pooled position ({pos[0]}, {pos[1]}) covers rows {win.rows[0]}–{win.rows[-1]} and columns "
            f"{win.cols[0]}–{win.cols[-1]}: {grid}. {'Max' if mode == 'max' else 'Average'} pooling keeps {ans}.")
    return Question("pool_value", f"After {size}×{size} {mode} pooling with stride {stride}, what value does the window "
                    f"{grid} give?", _mix(ans, wrong, rng), ans, expl, image=win.values)


def rank_for_psnr(img: np.ndarray, target_db: float = 30.0, seed: int = 0) -> Question:
    """Which rank k first reaches ``target_db`` PSNR? (truncated SVD of the page's image)"""
    from cnn_viz.lowrank import svd

    rng = random.Random(seed)
    f = svd.image_svd(img, method="exact")
    n = img.size
    psnr = [metrics.psnr_from_mse(svd.tail_energy(f, k) / n) for k in range(f.rank + 1)]
    k = next((k for k, p in enumerate(psnr) if p >= target_db), f.rank)
    ans = str(k)
    wrong = [str(max(1, k // 2)), str(2 * k), str(max(1, k - 5)), str(k + 10), str(max(1, k // 4))]
    expl = (f"PSNR of the rank-k image = 10·log₁₀(1 / MSE) with MSE = Σ_(i>k) σᵢ² / {n} (Eckart–Young): "
            f"k = {max(k - 1, 0)} gives {psnr[max(k - 1, 0)]:.2f} dB, k = {k} gives {psnr[k]:.2f} dB.")
    return Question("rank_for_psnr", f"This {img.shape[0]}×{img.shape[1]} image: which rank k is the first to reach "
                    f"{target_db:g} dB PSNR?", _mix(ans, wrong, rng), ans, expl)


GCV_CHOICES = ("under-smooth (λ too small)", "over-smooth (λ too large)", "about right (within 2×)")


def gcv_smoothing(signal: str, n: int, sigma: float, noise: float, seed: int = 0) -> Question:
    """Will GCV under- or over-smooth here? Compared with the λ that minimises the true error."""
    from cnn_viz.deblur import signal1d

    a = signal1d.analyse(signal1d.test_signal(signal, n), sigma, noise, seed)
    g, best = a.pick("gcv").lam, a.pick("best").lam
    ratio = g / best
    ans = GCV_CHOICES[2] if 0.5 <= ratio <= 2 else GCV_CHOICES[0] if ratio < 1 else GCV_CHOICES[1]
    err_g = a.solution(f"Tikhonov ({signal1d.RULES['gcv'].label})").error
    err_b = a.solution(f"Tikhonov ({signal1d.RULES['best'].label})").error
    expl = (f"GCV picks λ = {fmt.sci(g, 2)}; the λ with the smallest true error is {fmt.sci(best, 2)} "
            f"(ratio {ratio:.2g}). Relative errors: {err_g:.3f} with GCV, {err_b:.3f} at the best λ. "
            "A smaller λ keeps more noisy components (under-smoothing), a larger one damps signal too (over-smoothing).")
    return Question("gcv_smoothing", f"'{signal}', n = {n}, kernel width σ = {sigma:g}, noise {100 * noise:g} %, seed {seed}: "
                    "will Tikhonov with λ from GCV under- or over-smooth?", GCV_CHOICES, ans, expl)


def digit_read(model, digit: np.ndarray, label: int | None = None) -> Question:
    """What digit will the network read? (predict, then reveal)"""
    from cnn_viz.mnist import model as M

    p = M.predict(model, digit)
    k = int(np.argmax(p))
    order = np.argsort(p)[::-1]
    expl = (f"The network reads {k} with probability {p[k]:.3f}; next {int(order[1])} ({p[order[1]]:.3f})."
            + (f" The digit's true label is {label}." if label is not None else ""))
    return Question("digit_read", "What digit will the network read? Decide before you look at its output.",
                    tuple(str(d) for d in range(10)), str(k), expl, image=digit)


# ------------------------------------------------------------------------------------- one page's set
PAGES = ("kernel_sandbox", "sliding_kernel", "relu_pooling", "mnist_activations", "deblurring", "low_rank")


def _kernel_shape(params: dict, key: str) -> tuple[int, int]:
    name = _get(params, f"{key}_preset", kernels.DEFAULT_PRESET)
    if name in kernels.PRESETS:
        return kernels.PRESETS[name].kernel.shape
    if name.startswith("Gaussian"):
        s = _int(params, f"{key}_gsize", 5, 1, kernels.MAX_KERNEL_SIZE)
        return s, s
    return (_int(params, f"{key}_rows", 3, 1, kernels.MAX_KERNEL_SIZE), _int(params, f"{key}_cols", 3, 1, kernels.MAX_KERNEL_SIZE))


def for_page(page: str, params: dict | None = None, seed: int = 0, model=None) -> list[Question]:
    """The questions of ``page`` (a url path such as "kernel_sandbox") at the settings ``params``.
    ``model`` is the trained SimpleCNN for the MNIST page (None: no digit question)."""
    params = params or {}
    page = (page or "").strip("/")
    if page == "kernel_sandbox":
        img, _ = _sample(params, "img", "Cameraman")
        kh, kw = _kernel_shape(params, "k")
        return [output_size(img.shape[0], img.shape[1], kh, kw, _int(params, "stride", 1, 1, 16),
                            _int(params, "padding", 0, 0, 16), _int(params, "dilation", 1, 1, 8), seed),
                which_kernel(img, seed)]
    if page == "sliding_kernel":
        img, _ = _sample(params, "sk_img", "Star chart (edges at every angle)", 32)
        return [output_size(img.shape[0], img.shape[1], 3, 3, 1 + seed % 3, seed % 2, 1, seed), which_kernel(img, seed)]
    if page == "relu_pooling":
        side = _int(params, "rp_side", 128, 32, 256)
        img, _ = _sample(params, "rp_img", "Handwritten 7 (MNIST)", side)
        from cnn_viz.pooling import stages

        fmap = stages.relu(conv.conv2d(img, kernels.preset(stages.REPORT_KERNEL), padding="same"))
        size = _int(params, "rp_psize", 2, 1, 8)
        return [pool_value(fmap, size, _int(params, "rp_pstride", size, 1, 8), seed),
                output_size(img.shape[0], img.shape[1], 3, 3, 1, 1, 1, seed)]
    if page == "low_rank":
        side = _int(params, "lr_side", 512, 32, 1024)
        img, _ = _sample(params, "lr_img", "Cameraman", min(side, 512))
        return [rank_for_psnr(img, 30.0, seed)]
    if page == "deblurring":
        from cnn_viz.deblur import signal1d

        sig = _choice(params, "db1_signal", signal1d.TEST_SIGNALS[0], signal1d.TEST_SIGNALS)
        n = _int(params, "db1_n", 256, 64, 512)
        return [gcv_smoothing(sig, n, _float(params, "db1_sigma", 0.05, 0.005, 0.2),
                              _float(params, "db1_noise", 1.0, 0.0, 10.0) / 100, _int(params, "db1_seed", 0, 0, 9999) + seed)]
    if page == "mnist_activations" and model is not None:
        from cnn_viz.mnist import data

        _, held = data.load_split()
        i = _held_position(params, held)
        i = (seed * 97) % len(held.labels) if i is None else i
        return [digit_read(model, data.to_float(held.images[i]), int(held.labels[i]))]
    return []
