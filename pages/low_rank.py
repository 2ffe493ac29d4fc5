"""Low rank: truncated SVDs of images, why big data matrices are approximately low rank
(Udell & Townsend), and the trained CNN's own weights compressed."""

import json
import time

import numpy as np
import streamlit as st

from cnn_viz.common import assets, images
from cnn_viz.lowrank import latent
from cnn_viz.lowrank import svd as lowrank
from cnn_viz.figures import builders as plots
from cnn_viz import ui
from cnn_viz.ui import cached
from cnn_viz.lowrank import figures as lp

SWEEP_ASSET = assets.LOWRANK_SWEEP
EPS_TARGETS = [0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001]
SIDES = [256, 512, 1024]

st.title("Low rank")
st.markdown(
    "Every matrix is a sum of rank-one pieces, σ₁u₁v₁ᵀ + σ₂u₂v₂ᵀ + …, ordered from the most to the least "
    "important (the **singular value decomposition**). Keeping only the first k pieces gives the best rank-k "
    "approximation there is. Below: how few pieces a photograph needs, why the matrices of data science so "
    "often need few pieces too, and how the trained digit network's own weight matrices shrink the same way."
)

tab_img, tab_why, tab_cnn = st.tabs(["Images", "Why low rank", "The CNN compressed"], key="lr_part", bind="query-params")


# ---------------------------------------------------------------------------------------- images


@st.cache_data(max_entries=12, show_spinner="Computing the SVD of every channel…")
def image_factors(img: np.ndarray, method: str) -> tuple[lowrank.Factors, float]:
    t0 = time.perf_counter()
    f = lowrank.image_svd(img, method)
    return f, time.perf_counter() - t0


@st.fragment
def rank_explorer(img: np.ndarray, f: lowrank.Factors, name: str) -> None:
    """Everything that depends on k: only this part reruns when the slider moves."""
    m, n = f.shape[0], f.shape[1]
    if st.session_state.get("lr_k", 1) > f.rank:  # a smaller image than the last one: keep k in range
        st.session_state["lr_k"] = f.rank
    k = st.slider(
        "Rank k: how many singular triplets σᵢuᵢvᵢᵀ to keep", 1, f.rank, min(20, f.rank), key="lr_k",
        bind="query-params", help="Moving it only multiplies the stored thin factors (U_k Σ_k)(V_kᵀ); the SVD is not recomputed.",
    )
    approx = lowrank.rebuild(f, k)
    stats = lowrank.rank_stats(img, approx, f, k)
    c = st.columns(5)
    c[0].metric("PSNR", f"{stats.psnr:.2f} dB", help="10·log10(1 / mean squared error), pixel values in [0, 1].")
    c[1].metric("Measured error", f"{stats.rel_error:.4f}", help="‖A − A_k‖_F / ‖A‖_F, measured on the pixels of the rank-k image.")
    c[2].metric("Eckart–Young error", f"{stats.eckart_young:.4f}",
                help="√(Σᵢ>ₖ σᵢ²) / ‖A‖_F, computed from the singular values alone. It equals the measured error: no rank-k matrix does better.")
    c[3].metric("Energy captured", f"{100 * stats.energy:.2f} %", help="Σᵢ≤ₖ σᵢ² / ‖A‖_F²")
    chans = f.channels
    c[4].metric("Numbers stored", f"{stats.stored:,}", f"{stats.compression:.1f}× fewer than {stats.pixels:,}" if stats.compression >= 1
                else f"{1 / stats.compression:.1f}× more than {stats.pixels:,}", delta_color="normal" if stats.compression >= 1 else "inverse",
                help=f"k(m + n + 1) = {k}·({m} + {n} + 1){' per channel × 3' if chans == 3 else ''}, against m·n pixels.")
    st.caption(
        f"Rank {k} of {f.full_rank}. The measured error and the Eckart–Young value agree"
        + (" (to the accuracy of the randomized SVD, which computed only the top "
           f"{f.rank} singular values)" if not f.exact else "")
        + f". Storing U_k, Σ_k and V_k takes {stats.stored:,} numbers against {stats.pixels:,} pixels."
    )
    c1, c2 = st.columns(2)
    with c1:
        shown = np.clip(approx, 0, 1)
        ui.plot(plots.image_figure(shown, title=f"Rank-{k} image", height=420), key="lr_approx")
        st.caption("The rank-k image, clipped to [0, 1] for display (the numbers above use the unclipped matrix).")
        # The PNG is encoded only when clicked (a callable), not on every slider move.
        st.download_button("Download the rank-k image", lambda: images.to_png_bytes(shown), file_name=f"rank{k}_{_stem(name)}.png",
                           mime="image/png", key="lr_dl_approx", icon="⬇️")
    with c2:
        err = lp.error_image(img, approx)
        ui.plot(plots.signed_map_figure(err, title="Error A − A_k", height=420), key="lr_err")
        st.caption("What the first k pieces leave out: red where the image is brighter than its rank-k version, blue "
                   "where darker" + (" (mean of the three channels)" if chans == 3 else "") + ". Fine texture and sharp edges go last.")
    c1, c2 = st.columns(2)
    with c1:
        ui.plot(lp.spectrum_figure(f.s, k, "Singular values"), key="lr_spectrum")
        st.caption("The singular values on a log scale, largest first. The shaded ones are kept. A photograph's "
                   "values fall fast at first and then slowly: a few pieces hold the shapes, many small ones the texture.")
        ui.download_csv(f.s.T, f"singular_values_{_stem(name)}.csv", "Download the singular values (CSV)", key="lr_dl_s")
    with c2:
        eps = st.select_slider("Target relative error ε", EPS_TARGETS, value=0.05, key="lr_eps", bind="query-params",
                               format_func=lambda v: f"{v:g}")
        k_eps = lowrank.smallest_rank(f, eps)
        ks, errs = lowrank.error_curve(f)
        ui.plot(lp.error_curve_figure(ks, errs, k, eps, k_eps, "Error of the best rank-k image"), key="lr_curve")
        if k_eps is None:
            st.caption(f"No rank up to {f.rank} reaches ε = {eps:g}: the randomized SVD computed only the top {f.rank} "
                       "singular values. Try a larger ε or a smaller image.")
        else:
            st.caption(f"**Smallest k for ε = {eps:g}: k = {k_eps}**, the first rank whose Eckart–Young error "
                       f"√(Σᵢ>ₖ σᵢ²)/‖A‖_F is at most ε; it stores {lowrank.storage(f.shape, k_eps)[0]:,} numbers.")


def _stem(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name.rsplit(".", 1)[0])[:40] or "image"


if tab_img.open:
    with st.sidebar:
        st.header("Image")
        side = st.selectbox("Largest side (pixels)", SIDES, index=1, key="lr_side", bind="query-params",
                            help="Uploads are shrunk to this size. Above 640×640 pixels a randomized SVD computes the top 256 singular values.")
        picked = ui.image_picker("lr_img", max_side=int(side))
        method = st.radio("SVD", ["auto", "exact", "randomized"], horizontal=True, key="lr_method", bind="query-params",
                          help="auto: exact LAPACK SVD up to 640×640 pixels, randomized (Halko–Martinsson–Tropp) above.")
    img = picked.image
    try:
        f, seconds = image_factors(img, method)
    except ValueError as exc:
        st.error(f"Cannot take the SVD of this image: {exc}")
        st.stop()
    c1, c2 = st.columns([2, 3])
    with c1:
        ui.plot(plots.image_figure(img, title=f"Original: {picked.name}", height=420), key="lr_original")
        chans = "3 colour channels, each its own matrix" if img.ndim == 3 else "grayscale"
        st.caption(f"{img.shape[0]}×{img.shape[1]} pixels, {chans}. "
                   f"{'Exact' if f.exact else 'Randomized'} SVD: {f.rank} singular triplets per channel in {seconds:.2f} s "
                   "(computed once, then cached).")
    with c2:
        st.markdown(
            "**How to read this.** The image is a matrix A of pixel values. Its SVD writes it as "
            "A = σ₁u₁v₁ᵀ + σ₂u₂v₂ᵀ + … with σ₁ ≥ σ₂ ≥ … ≥ 0. Keeping the first k terms gives A_k, and the "
            "**Eckart–Young theorem** says no matrix of rank k is closer to A. The error it leaves is "
            "exactly the size of the terms thrown away, √(σ²ₖ₊₁ + σ²ₖ₊₂ + …): compare the two error numbers "
            "below. A rank-k image is stored as k columns u, k rows v and k numbers σ: k(m + n + 1) numbers instead of m·n."
        )
        st.markdown("Move the slider: the picture sharpens as k grows, and the numbers stored grow in proportion.")
    rank_explorer(img, f, picked.name)
    st.subheader("Ranks 1, 2, 5, 10, 20, 50 side by side")
    ui.plot(lp.strip_figure(lowrank.strip(f)), key="lr_strip")
    st.caption("Rank 1 is one column times one row: only horizontal and vertical bands. Each new rank adds a "
               "weaker, finer pattern. By rank 50 most photographs are recognisable at a fraction of the storage.")
    with st.expander("The maths"):
        st.latex(r"A = U\Sigma V^\top=\sum_{i=1}^{r}\sigma_i u_i v_i^\top,\qquad A_k=\sum_{i=1}^{k}\sigma_i u_i v_i^\top")
        st.latex(r"\min_{\operatorname{rank}B\le k}\|A-B\|_F=\|A-A_k\|_F=\Big(\sum_{i>k}\sigma_i^2\Big)^{1/2},\qquad "
                 r"\min_{\operatorname{rank}B\le k}\|A-B\|_2=\sigma_{k+1}")
        st.latex(r"\text{PSNR}=10\log_{10}\frac{1}{\tfrac{1}{mn}\|A-A_k\|_F^2}\ \text{dB},\qquad \text{energy}=\frac{\sum_{i\le k}\sigma_i^2}{\|A\|_F^2}")
        st.markdown(
            "A colour image is three matrices (red, green, blue), each compressed on its own. For images above "
            "640×640 pixels the page uses a **randomized SVD**: multiply A by a thin random matrix, orthonormalize "
            "the result to get a basis Q of A's dominant column space, sharpen it with two power iterations, and take "
            "the SVD of the small matrix QᵀA (Halko, Martinsson & Tropp, *SIAM Review* 53, 2011). Its error is "
            "within 0.1% of the exact SVD's here, in a fraction of the time."
        )


# ---------------------------------------------------------------------------------------- why low rank


@st.cache_data(show_spinner=False)
def shipped_sweeps() -> list[dict]:
    try:
        return json.loads(SWEEP_ASSET.read_text())["sweeps"]
    except (OSError, ValueError, KeyError):
        return []


@st.cache_data(max_entries=200, show_spinner=False)
def measure_size(kind: str, d: int, eps: float, n: int, with_random: bool) -> dict:
    return latent.measure_size(n, d, eps, kind, seed=0, with_random=with_random)


RANDOM_UP_TO = 1000  # live sweeps measure random matrices up to this n (the shipped one goes to 4000)


def live_sweep(kind: str, d: int, eps: float, n_max: int) -> dict:
    """The sweep one size at a time: each size is cached, and the bar moves between sizes."""
    ns = [n for n in latent.DEFAULT_NS if n <= n_max]
    sweep = latent.Sweep(kind, d, eps, 0)
    bar = st.progress(0.0, text="Measuring ε-ranks…")
    for n, before in zip(ns, latent.work_done_before(ns, RANDOM_UP_TO)):
        bar.progress(before, text=f"Measuring ε-ranks: n = {n} (largest {n_max})")
        sweep.add(measure_size(kind, d, eps, n, n <= RANDOM_UP_TO))
    bar.empty()
    return sweep.to_dict()


@st.cache_data(max_entries=8, show_spinner=False)
def small_pair(kind: str, d: int) -> tuple[np.ndarray, np.ndarray]:
    return latent.latent_matrix(200, d, kind, sort=True), latent.random_matrix(200)


@st.cache_data(show_spinner="Principal components of 4,000 digits…")
def digit_pca():
    train, _ = cached.mnist_split()
    x = train.images.reshape(len(train), -1).astype(np.float64) / 255.0
    return lowrank.pca(x, 64), x[:200]


@st.fragment
def pca_explorer(p: lowrank.PCA, digits: np.ndarray) -> None:
    """The k slider and the digit picker rerun only this part."""
    c1, c2 = st.columns([3, 2])
    cum = p.cumulative_ratio
    with c1:
        kd = st.slider("Components k", 1, p.components.shape[0], 20, key="lr_pca_k")
        ui.plot(lp.explained_variance_figure(p.explained_ratio, kd), key="lr_explained")
        st.caption(f"The first 10 components explain {100 * cum[9]:.1f}% of the variance, the first 50 "
                   f"{100 * cum[49]:.1f}%: the digits are close to a low-dimensional subspace of the 784 pixels.")
    with c2:
        which = st.number_input("Digit (row of the training set)", 0, len(digits) - 1, 0, key="lr_pca_digit")
        rec = lowrank.pca_reconstruct(p, digits[int(which)], kd)
        ui.plot(lp.digit_pair_figure(digits[int(which)], rec, kd), key="lr_digit_pair")
        st.caption(f"The digit rebuilt from the mean digit plus its coordinates along the first {kd} eigendigits.")


DEFAULT_SWEEP = {"kind": "gaussian", "d": 2, "eps": 0.01, "n_max": 4000}

if tab_why.open:
    st.markdown(
        "Madeleine Udell and Alex Townsend asked why the matrices of data science (ratings, documents, "
        "measurements) are so often approximately low rank. Their model: every row i has a hidden point aᵢ and "
        "every column j a hidden point bⱼ, and the entry is a smooth function of the two, **Xᵢⱼ = f(aᵢ, bⱼ)**. "
        "Such a matrix is full rank, yet all its entries can be matched to within ε by a matrix whose rank grows "
        "only like **log n**. Here: latent points uniform in [−1, 1]^d, and the measured ε-rank as n grows."
    )
    with st.form("lr_sweep_form", border=True):
        c = st.columns(4)
        kind = c[0].selectbox("Function f", list(latent.KINDS), format_func=lambda k: latent.KINDS[k].split(":")[0],
                              key="lr_kind")
        d = c[1].select_slider("Latent dimension d", [1, 2, 3, 4, 5], value=2, key="lr_d")
        eps_l = c[2].select_slider("Tolerance ε", [0.1, 0.05, 0.02, 0.01, 0.005], value=0.01, key="lr_eps_latent")
        n_max = c[3].selectbox("Largest n", [1000, 2000, 4000], index=2, key="lr_nmax")
        st.caption(latent.KINDS[kind])
        submitted = st.form_submit_button("Measure the ε-ranks", type="primary")
    if submitted:
        st.session_state["lr_sweep_params"] = {"kind": kind, "d": int(d), "eps": float(eps_l), "n_max": int(n_max)}
    params = st.session_state.get("lr_sweep_params", DEFAULT_SWEEP)
    found = None
    if params["n_max"] == 4000:
        for s in shipped_sweeps():
            if s["kind"] == params["kind"] and s["d"] == params["d"] and abs(s["eps"] - params["eps"]) < 1e-12:
                found = s
    if found is None:
        try:
            found = live_sweep(params["kind"], params["d"], params["eps"], params["n_max"])
        except ValueError as exc:
            st.error(f"Cannot run this sweep: {exc}")
            st.stop()
    sweep = latent.Sweep.from_dict(found)
    a, b = sweep.fit()
    bound = latent.jl_bound(np.array(sweep.ns), sweep.eps)
    rn = [(n, r) for n, r in zip(sweep.ns, sweep.random_max) if r is not None]
    c = st.columns(4)
    c[0].metric(f"ε-rank at n = {sweep.ns[0]} → {sweep.ns[-1]}", f"{sweep.latent_max[0]} → {sweep.latent_max[-1]}",
                help="Smallest k whose truncated SVD matches every entry to within ε (max-entry sense).")
    c[1].metric("Growth per ×e in n", f"+{b:.2f}", help=f"Slope b of the least-squares fit ε-rank ≈ a + b·ln n = {a:.1f} + {b:.2f}·ln n: multiplying n by e ≈ 2.7 adds b to the rank.")
    if rn:
        c[2].metric(f"Random matrix, n = {rn[-1][0]}", f"{rn[-1][1]:,}", f"{rn[-1][1] / rn[-1][0]:.0%} of n", delta_color="off",
                    help="The same max-entry ε-rank for independent uniform entries in [0, 1]: almost full rank.")
    c[3].metric(f"JL bound, n = {sweep.ns[-1]}", f"{bound[-1]:,.0f}", help="Udell & Townsend, Theorem 1.0: ⌈72 ln(2n + 1)/ε²⌉")
    ui.plot(lp.eps_rank_figure(sweep, title=f"ε-rank of exp-type latent matrices, d = {sweep.d}, ε = {sweep.eps:g}"
                               if sweep.kind != "abs difference" else f"ε-rank, f = Σ|a − b|, d = {sweep.d}, ε = {sweep.eps:g}"),
            key="lr_epsrank")
    st.caption(
        f"f = {latent.KINDS[sweep.kind].split(':')[0]}, d = {sweep.d}, ε = {sweep.eps:g}. Red: the max-entry ε-rank "
        f"(smallest k with max |X − X_k| ≤ ε, X_k the SVD truncation, an upper bound on the paper's ε-rank) goes from "
        f"{sweep.latent_max[0]} to {sweep.latent_max[-1]} while n grows {sweep.ns[-1] // sweep.ns[0]}-fold; dashed black: "
        f"the fit {a:.1f} + {b:.2f}·ln n. Green dashed: the spectral ε-rank #{{σᵢ > ε σ₁}}. Purple: a random matrix "
        "of the same size needs nearly full rank. Orange: the paper's bound, far above everything (log scale)."
        + ("" if len(rn) == len(sweep.ns) else f" Random matrices are measured up to n = {rn[-1][0] if rn else 0} here.")
    )
    st.markdown("##### The Johnson–Lindenstrauss step")
    st.markdown(
        "Write the matrix as inner products, Xᵢⱼ = ⟨xᵢ, yⱼ⟩: for any X take xᵢ = the rows of UΣ^½ and yⱼ = the rows "
        "of VΣ^½ from its SVD, so that ‖xᵢ‖² ≤ ‖X‖₂ and ‖yⱼ‖² ≤ ‖X‖₂. The **Johnson–Lindenstrauss lemma** says "
        "that any N points, in any dimension, can be mapped by one linear map Q into r = O(log N / ε²) dimensions "
        "keeping every distance (and so every inner product) up to a factor 1 ± ε. Apply one Q to all m + n vectors: "
        "Yᵢⱼ = ⟨Qxᵢ, Qyⱼ⟩ has rank at most r, and every entry is off by at most about ε‖X‖₂. "
        "The log comes from *how many* points there are, not from their dimension."
    )
    st.markdown("**Theorem 1.0** (Udell & Townsend 2019), as the paper states it:")
    st.latex(r"X\in\mathbb{R}^{m\times n},\ m\ge n,\ 0<\varepsilon<1:\qquad "
             r"\operatorname{rank}_{\varepsilon\|X\|_2}(X)\le r=\Big\lceil \frac{72\log(2n+1)}{\varepsilon^2}\Big\rceil")
    st.latex(r"\text{where}\quad \operatorname{rank}_\varepsilon(X)=\min\{\operatorname{rank}(Y):\ \|X-Y\|_{\max}\le\varepsilon\},"
             r"\qquad \|Z\|_{\max}=\max_{i,j}|Z_{ij}|")
    i_last = len(sweep.ns) - 1
    tol = sweep.eps * sweep.latent_norm2[i_last]
    st.markdown(
        f"**How loose it is here.** At n = {sweep.ns[i_last]:,} and ε = {sweep.eps:g} the bound is "
        f"r = {bound[i_last]:,.0f}, which is {bound[i_last] / sweep.ns[i_last]:,.0f} times the size of the matrix "
        f"itself (even at ε = 0.1 it would be {latent.jl_bound(sweep.ns[i_last], 0.1):,.0f}), while the measured ε-rank is "
        f"{sweep.latent_max[i_last]}. Worse, it only promises an entrywise error of "
        f"ε‖X‖₂ = {tol:,.1f} here (‖X‖₂ = σ₁ = {sweep.latent_norm2[i_last]:,.0f} grows with n), and at that tolerance "
        f"the measured rank is {sweep.latent_rel_max[i_last]}. The constant 72 and the 1/ε² make the bound useless "
        f"at classroom sizes: for ε = {sweep.eps:g} it beats the trivial rank n only from n = {latent.jl_crossover(sweep.eps):,} on."
    )
    st.markdown(
        "**Why it still matters.** It holds for *every* matrix, with no assumption on how its singular values decay, "
        "and its dependence on the size is only logarithmic. For the latent variable model the paper combines it with "
        "a polynomial approximation of f: the feature vectors then have bounded length no matter how many rows there "
        "are, so a fixed *absolute* error ε needs rank O(log(m + n)/ε²), with a constant that depends on f and on the "
        "latent space but not on n. That is the qualitative law the red curve shows: doubling n adds a constant, "
        "it does not double the rank."
    )
    st.markdown("##### The other side: Budzinskiy (2024)")
    st.markdown(
        "Stanislav Budzinskiy, *When big data actually are low-rank, or entrywise approximation of certain "
        "function-generated matrices* (arXiv:2407.03250, 2024), identifies misconceptions around the claim that for "
        "a class of analytic f these n × n matrices admit entrywise approximation with rank that grows like log n "
        "*independently of the dimension d of the latent points*. He explains the numerical evidence by three "
        "narrower classes for which a rank of order log(n)·ε⁻²·log(1/ε), independent of d, does suffice: (i) "
        "functions of the inner product ⟨a, b⟩, (ii) functions of the Euclidean distance ‖a − b‖, and (iii) "
        "shift-invariant positive-definite kernels. The Gaussian kernel here is in classes (ii) and (iii); try "
        "d = 1 … 5 to see how strongly the measured rank still depends on d at these sizes, and the non-smooth "
        "Σ|aₗ − bₗ| to see the log n law fail. A class should take both away: low rank from smooth latent structure "
        "is real and measurable, but the general dimension-free claim is narrower than \"big data are low rank\"."
    )
    c1, c2 = st.columns(2)
    with c1:
        lat, rnd = small_pair(sweep.kind, sweep.d)
        ui.plot(lp.matrix_pair_figure(lat, rnd), key="lr_pair")
        st.caption("n = 200. Left: Xᵢⱼ = f(aᵢ, bⱼ), rows and columns ordered by the first latent coordinate so the "
                   "smooth structure shows (reordering does not change the rank). Right: independent random entries.")
    with c2:
        ui.plot(lp.sigma_decay_figure(sweep, "Singular values divided by σ₁"), key="lr_sigma")
        st.caption("The latent matrix's σᵢ/σ₁ fall geometrically below ε after a few dozen terms; the random matrix's "
                   "stay above it for almost all i. (The latent curve shows the leading values the randomized SVD computed.)")
    with st.expander("Exactly what is measured"):
        st.markdown(
            "- **max-entry ε-rank**: the smallest k for which the truncated SVD X_k satisfies max |Xᵢⱼ − (X_k)ᵢⱼ| ≤ ε, "
            "found by bisection on k (the truncation at k meets ε and the one at k − 1 does not). The true ε-rank, a "
            "minimum over *all* rank-k matrices, can only be smaller.\n"
            "- **spectral ε-rank**: #{σᵢ > ε σ₁}, the smallest k with ‖X − X_k‖₂ ≤ ε‖X‖₂.\n"
            "- latent points uniform in [−1, 1]^d, seed 0; random matrix: independent uniform entries in [0, 1]. "
            "Above n = 700 the leading singular triplets come from a randomized SVD, enlarged until the truncation meets ε.\n"
            "- The matrices here are square (m = n), so the theorem's 2n + 1 is m + n + 1: the number of points the "
            "Johnson–Lindenstrauss step embeds (the m rows xᵢ, the n columns yⱼ and the origin)."
        )
    st.subheader("PCA in one view: eigendigits")
    try:
        p, digits = digit_pca()
    except (OSError, ValueError) as exc:
        st.warning(f"The MNIST sample could not be loaded: {exc}")
    else:
        st.markdown(
            "Stack 4,000 handwritten digits as the rows of a 4000 × 784 matrix, subtract the mean digit, and take the "
            "SVD: the right singular vectors are the **principal components**, here drawn as 28 × 28 images "
            "(\"eigendigits\"), and σᵢ²/(N − 1) is the variance each one explains."
        )
        ui.plot(lp.eigendigits_figure(p.components[:16], p.explained_ratio[:16]), key="lr_eigendigits")
        st.caption("The first 16 principal directions of the digits (red positive, blue negative, each on its own scale). "
                   "The first ones are broad strokes shared by many digits; later ones add finer detail.")
        pca_explorer(p, digits)


# ---------------------------------------------------------------------------------------- the CNN


@st.cache_data(max_entries=4, show_spinner="Accuracy of the network with the layer at every rank k on 1,000 held-out "
               "digits (fc1 about 2 s, conv2 about 10 s; once per server, then cached)…")
def cnn_sweep(layer: str, weights_stamp: str, _model, _images, _labels):
    from cnn_viz.lowrank import compress

    return compress.rank_sweep(_model, _images, _labels, layer)


@st.fragment
def layer_panel(sw, n_digits: int) -> None:
    """One layer's rank slider, numbers and curve: moving the slider reruns only this part."""
    layer = sw.layer
    full = int(sw.ranks[-1])
    kmin = sw.smallest_within(0.5)
    k = st.slider(f"Inspect rank k of {layer}", 1, full, kmin or full, key=f"lr_cnn_k_{layer}")
    i = k - 1
    m = st.columns(3)
    m[0].metric(f"Accuracy at k = {k}", f"{sw.accuracy[i]:.1f}%", f"{sw.accuracy[i] - sw.full_accuracy:+.1f} points")
    fewer = sw.layer_params[i] < sw.full_layer_params
    m[1].metric(f"{layer} parameters", f"{sw.layer_params[i]:,}",
                f"{sw.full_layer_params / sw.layer_params[i]:.1f}× fewer" if fewer else f"{sw.layer_params[i] / sw.full_layer_params:.2f}× more",
                delta_color="normal" if fewer else "inverse")
    m[2].metric("Smallest good k", str(kmin) if kmin else "none",
                help="The smallest rank whose accuracy is within 0.5 percentage points of the full model.")
    ui.plot(lp.accuracy_rank_figure(sw, k, 0.5, f"{layer}: accuracy and size against the rank"), key=f"lr_cnn_{layer}")
    shape = "128 × 1568" if layer == "fc1" else "32 × 400"
    st.caption(
        f"{layer} as a {shape} matrix, truncated to rank k = 1 … {full} (log axis); accuracy on the {n_digits:,} "
        f"held-out digits (full model {sw.full_accuracy:.1f}%, green band: within 0.5 points; the axis shows the top "
        f"8 points, rank 1 is at {sw.accuracy[0]:.0f}%). "
        + (f"The smallest k inside the band is {kmin}: {sw.layer_params[kmin - 1]:,} parameters instead of "
           f"{sw.full_layer_params:,} ({sw.full_layer_params / sw.layer_params[kmin - 1]:.1f}× fewer), the whole "
           f"model {sw.model_params[kmin - 1]:,} instead of {sw.full_model_params:,}." if kmin else
           f"No rank reaches within 0.5 points of the full model ({sw.full_accuracy:.1f}%).")
    )
    ui.download_csv(np.column_stack([sw.ranks, sw.accuracy, sw.layer_params, sw.model_params]),
                    f"{layer}_rank_sweep.csv", "Download the curve (k, accuracy %, layer, model parameters)", key=f"lr_dl_{layer}")


@st.cache_data(show_spinner=False)
def separable_checks():
    """The separable presets and, for the rank-1 ones, max |two 1-D passes − full 2-D convolution| on the cameraman."""
    from cnn_viz.lowrank import compress

    cam = cached.load_sample("Cameraman")
    cases = compress.separable_cases()
    return [(c, compress.separable_error(cam, c.kernel, c.column, c.row) if c.rank == 1 else None) for c in cases]


if tab_cnn.open:
    st.markdown(
        "The trained digit network stores its layers as matrices, and they too are approximately low rank. "
        "Replace **fc1** (a 128 × 1568 matrix) by its rank-k truncation, applied as two thinner layers "
        "1568 → k → 128, and **conv2** (32 kernels of 16 × 5 × 5, the rows of a 32 × 400 matrix) by a 5 × 5 "
        "convolution to k channels followed by a 1 × 1 convolution to 32. No retraining: just the SVD."
    )
    try:
        model = cached.load_mnist_model()
        _, held_out = cached.mnist_split()
    except (OSError, ValueError) as exc:
        st.warning(f"The trained network is not available, so this part cannot run: {exc}")
        model = None
    if model is not None:
        from cnn_viz.lowrank import compress
        from cnn_viz.mnist import model as cnn_model

        stamp = str(cnn_model.WEIGHTS_PATH.stat().st_mtime_ns)
        sweeps = {}
        for layer in ("fc1", "conv2"):
            sweeps[layer] = cnn_sweep(layer, stamp, model, held_out.images, held_out.labels)
        cols = st.columns(2)
        for col, layer in zip(cols, ("fc1", "conv2")):
            with col:
                layer_panel(sweeps[layer], len(held_out))
        ui.plot(lp.weight_spectrum_figure([sweeps["fc1"], sweeps["conv2"]]), key="lr_wspec")
        st.caption("Singular values of the two trained weight matrices, each divided by its largest. A few directions "
                   "carry most of the weight, which is why a small rank keeps most of the accuracy without any retraining "
                   "(retraining the two thin layers, not done here, can win back part of what a smaller rank loses).")

        st.subheader("Separable kernels: rank 1 convolutions")
        st.markdown(
            "A kernel of rank 1 is an outer product K = c rᵀ of a column and a row. Sliding it over an image is the "
            "same as sliding the column down and then the row across: kh + kw multiplications per pixel instead of kh·kw."
        )
        checks = separable_checks()
        cols = st.columns(len(checks))
        for col, (case, diff) in zip(cols, checks):
            with col:
                ui.plot(plots.kernel_figure(case.kernel, title=case.name, height=260, decimals=2), key=f"lr_sep_k_{case.name}")
                top = float(case.singular_values[0])
                sv = ", ".join(f"{v:.3g}" if v > 1e-12 * top else "0" for v in case.singular_values)
                if case.rank == 1:
                    ui.plot(plots.separable_figure(case.column, case.row), key=f"lr_sep_f_{case.name}")
                    st.caption(f"Rank 1 (σ = {sv}): K = c rᵀ. On the 512×512 cameraman the two 1-D passes match the "
                               f"full 2-D convolution to {diff:.1e}.")
                else:
                    st.caption(f"Rank {case.rank} (σ = {sv}): not an outer product, so it does not split into one "
                               "column pass and one row pass (it is a sum of two separable kernels).")
        c1, c2 = st.columns([3, 2])
        with c1:
            ui.plot(lp.flops_figure(range(3, 16, 2), 512, 512), key="lr_flops")
        with c2:
            full5 = compress.conv_flops(512, 512, 5, 5, separable=False)
            sep5 = compress.conv_flops(512, 512, 5, 5, separable=True)
            st.metric("Multiply-adds, 5 × 5 Gaussian, 512 × 512", f"{sep5 / 1e6:.2f} M", f"{full5 / sep5:.1f}× fewer than {full5 / 1e6:.2f} M")
            e1 = compress.rank1_energy(model.conv1)
            st.caption(
                "Multiply-adds of a 'same' convolution of a 512 × 512 image: kh·kw per pixel for the full kernel, "
                f"kh + kw for the two passes; the saving grows with the size (15 × 15: "
                f"{compress.conv_flops(512, 512, 15, 15, False) / compress.conv_flops(512, 512, 15, 15, True):.1f}×). "
                f"The network's own learned 5 × 5 conv1 kernels are not separable: their first singular value holds "
                f"on average {100 * e1.mean():.0f}% of their energy (from {100 * e1.min():.0f}% to {100 * e1.max():.0f}%)."
            )
