"""Low rank: truncated SVDs of images, why big data matrices are approximately low rank
(Udell & Townsend), and the trained CNN's own weights compressed."""

import streamlit as st

from cnn_viz import ui
from cnn_viz.common import fmt, text
from cnn_viz.figures import builders, palette
from cnn_viz.lowrank import figures, latent, svd
from cnn_viz.ui import cached

EPS_TARGETS = [0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001]
SIDES = [256, 512, 1024]

st.title("Low rank")
ui.explain(
    "Every matrix is a sum of rank-one pieces, σ₁u₁v₁ᵀ + σ₂u₂v₂ᵀ + …, ordered from the most to the least "
    "important (the **singular value decomposition**). Keeping only the first k pieces gives the best rank-k "
    "approximation there is. Below: how few pieces a photograph needs, why the matrices of data science so "
    "often need few pieces too, and how the trained digit network's own weight matrices shrink the same way."
)

tab_img, tab_why, tab_cnn = st.tabs(["Images", "Why low rank", "The CNN compressed"], key="lr_part", bind="query-params")


# ---------------------------------------------------------------------------------------- images


@st.fragment
def rank_explorer(img, f: svd.Factors, name: str) -> None:
    """Everything that depends on k: only this part reruns when the slider moves."""
    if st.session_state.get("lr_k", 1) > f.rank:  # a smaller image than the last one: keep k in range
        st.session_state["lr_k"] = f.rank
    k = ui.data_slider(
        "Rank k: how many singular triplets σᵢuᵢvᵢᵀ to keep", 1, f.rank, min(20, f.rank), key="lr_k",
        bind="query-params", help="Moving it only multiplies the stored thin factors (U_k Σ_k)(V_kᵀ); the SVD is not recomputed.",
    )
    view = svd.at_rank(img, f, k)
    stats = view.stats
    c = st.columns(5)
    c[0].metric("PSNR", f"{stats.psnr:.2f} dB", help="10·log10(1 / mean squared error), pixel values in [0, 1].")
    c[1].metric("Measured error", f"{stats.rel_error:.4f}", help="‖A − A_k‖_F / ‖A‖_F, measured on the pixels of the rank-k image.")
    c[2].metric("Eckart–Young error", f"{stats.eckart_young:.4f}",
                help="√(Σᵢ>ₖ σᵢ²) / ‖A‖_F, computed from the singular values alone. It equals the measured error: no rank-k matrix does better.")
    c[3].metric("Energy captured", f"{100 * stats.energy:.2f} %", help="Σᵢ≤ₖ σᵢ² / ‖A‖_F²")
    c[4].metric("Numbers stored", f"{stats.stored:,}", view.stored_delta, delta_color="normal" if view.fewer else "inverse",
                help=view.stored_help)
    st.caption(view.caption)
    c1, c2 = st.columns(2)
    with c1:
        ui.plot(ui.figure(builders.image_figure, view.shown, title=f"Rank-{k} image", height=420, max_side=svd.VIEW_SIDE), key="lr_approx")
        st.caption(fmt.describe_image(f"Rank-{k} image", view.shown) + ". "
                   "The rank-k image, clipped to [0, 1] for display (the numbers above use the unclipped matrix).")
        ui.download_png(view.shown, f"rank{k}_{svd.file_stem(name)}.png", "Download the rank-k image", key="lr_dl_approx")
    with c2:
        ui.plot(ui.figure(builders.signed_map_figure, view.error, title="Error A − A_k", height=420, max_side=svd.ERROR_SIDE,
                          hover_side=svd.ERROR_HOVER), key="lr_err")
        st.caption(fmt.describe_map("Error A − A_k", view.error, "largest error") + ". "
                   f"What the first k pieces leave out: {palette.scheme().pos_word} where the image is brighter than its rank-k version, "
                   f"{palette.scheme().neg_word} where darker" + (" (mean of the three channels)" if f.channels == 3 else "") + ". Fine texture and sharp edges go last.")
    c1, c2 = st.columns(2)
    with c1:
        ui.plot(ui.figure(figures.spectrum_figure, f.s, k, "Singular values"), key="lr_spectrum")
        st.caption("The singular values on a log scale, largest first. The shaded ones are kept. A photograph's "
                   "values fall fast at first and then slowly: a few pieces hold the shapes, many small ones the texture.")
        ui.download_csv(lambda: f.s_columns, f"singular_values_{svd.file_stem(name)}.csv", "Download the singular values (CSV)", key="lr_dl_s")
    with c2:
        eps = st.select_slider("Target relative error ε", EPS_TARGETS, value=0.05, key="lr_eps", bind="query-params",
                               format_func=lambda v: f"{v:g}")
        target = svd.eps_target(f, eps)
        ui.plot(ui.figure(figures.error_curve_figure, target.ks, target.errors, k, eps, target.k, "Error of the best rank-k image"),
                key="lr_curve")
        st.caption(target.caption)


if tab_img.open:
    with st.sidebar:
        st.header("Image")
        side = st.selectbox("Largest side (pixels)", SIDES, index=1, key="lr_side", bind="query-params",
                            help="Uploads are shrunk to this size. Above 640×640 pixels a randomized SVD computes the top 256 singular values.")
        picked = ui.image_picker("lr_img", max_side=int(side), min_side=8)
        method = st.radio("SVD", ["auto", "exact", "randomized"], horizontal=True, key="lr_method", bind="query-params",
                          help="auto: exact LAPACK SVD up to 640×640 pixels, randomized (Halko–Martinsson–Tropp) above.")
    img = picked.image
    try:
        f = cached.image_svd(img, method)
    except ValueError as exc:
        st.error(f"Cannot take the SVD of this image: {exc}")
        st.stop()
    c1, c2 = st.columns([2, 3])
    with c1:
        ui.plot(ui.figure(builders.image_figure, img, title=f"Original: {text.html(picked.name)}", height=420), key="lr_original")
        st.caption(f.caption)
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
    ui.plot(ui.figure(figures.factors_strip_figure, f), key="lr_strip")
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


@st.fragment
def pca_explorer(e: svd.Eigendigits) -> None:
    """The k slider and the digit picker rerun only this part."""
    c1, c2 = st.columns([3, 2])
    with c1:
        kd = ui.data_slider("Components k", 1, e.pca.components.shape[0], 20, key="lr_pca_k", bind="query-params")
        ui.plot(ui.figure(figures.explained_variance_figure, e.pca.explained_ratio, kd), key="lr_explained")
        st.caption(e.caption)
    with c2:
        which = st.number_input("Digit (row of the training set)", 0, len(e.digits) - 1, 0, key="lr_pca_digit", bind="query-params")
        ui.plot(ui.figure(figures.digit_pair_figure, *e.rebuild(which, kd), kd), key="lr_digit_pair")
        st.caption(f"The digit rebuilt from the mean digit plus its coordinates along the first {kd} eigendigits.")


if tab_why.open:
    ui.explain(
        "Madeleine Udell and Alex Townsend asked why the matrices of data science (ratings, documents, "
        "measurements) are so often approximately low rank. Their model: every row i has a hidden point aᵢ and "
        "every column j a hidden point bⱼ, and the entry is a smooth function of the two, **Xᵢⱼ = f(aᵢ, bⱼ)**. "
        "Such a matrix is full rank, yet all its entries can be matched to within ε by a matrix whose rank grows "
        "only like **log n**. Here: latent points uniform in [−1, 1]^d, and the measured ε-rank as n grows."
    )
    with st.form("lr_sweep_form", border=True):
        c = st.columns(4)
        kind = c[0].selectbox("Function f", list(latent.KINDS), format_func=latent.kind_name, key="lr_kind", bind="query-params")
        d = c[1].select_slider("Latent dimension d", [1, 2, 3, 4, 5], value=2, key="lr_d", bind="query-params")
        eps_l = c[2].select_slider("Tolerance ε", [0.1, 0.05, 0.02, 0.01, 0.005], value=0.01, key="lr_eps_latent", bind="query-params")
        n_max = c[3].selectbox("Largest n", [1000, 2000, 4000], index=2, key="lr_nmax", bind="query-params")
        st.caption(latent.KINDS[kind])
        submitted = st.form_submit_button("Measure the ε-ranks", type="primary")
    if submitted:
        st.session_state["lr_sweep_params"] = latent.SweepSettings(kind, int(d), float(eps_l), int(n_max))
    settings = st.session_state.get("lr_sweep_params", latent.SweepSettings())
    sweep = ui.eps_rank_sweep(settings)
    summary = latent.summarise(sweep)
    c = st.columns(4)
    c[0].metric(f"ε-rank at n = {summary.n_first} → {summary.n_last}", f"{summary.rank_first} → {summary.rank_last}",
                help="Smallest k whose truncated SVD matches every entry to within ε (max-entry sense).")
    c[1].metric("Growth per ×e in n", f"+{summary.fit_b:.2f}", help=summary.fit_help)
    if summary.random_n is not None:
        c[2].metric(f"Random matrix, n = {summary.random_n}", f"{summary.random_rank:,}", f"{summary.random_share:.0%} of n",
                    delta_color="off", help="The same max-entry ε-rank for independent uniform entries in [0, 1]: almost full rank.")
    c[3].metric(f"JL bound, n = {summary.n_last}", f"{summary.bound:,.0f}", help="Udell & Townsend, Theorem 1.0: ⌈72 ln(2n + 1)/ε²⌉")
    packed = sweep.packed()  # the figures' cache key: quick to hash, unlike the sweep's lists of σ values
    ui.plot(ui.figure(figures.packed_eps_rank_figure, packed, title=summary.title), key="lr_epsrank")
    st.caption(summary.caption)
    st.markdown("##### The Johnson–Lindenstrauss step")
    ui.explain(
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
    st.markdown(summary.looseness)
    ui.explain(
        "**Why it still matters.** It holds for *every* matrix, with no assumption on how its singular values decay, "
        "and its dependence on the size is only logarithmic. For the latent variable model the paper combines it with "
        "a polynomial approximation of f: the feature vectors then have bounded length no matter how many rows there "
        "are, so a fixed *absolute* error ε needs rank O(log(m + n)/ε²), with a constant that depends on f and on the "
        "latent space but not on n. That is the qualitative law the red curve shows: doubling n adds a constant, "
        "it does not double the rank."
    )
    st.markdown("##### The other side: Budzinskiy (2024)")
    ui.explain(
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
        ui.plot(ui.figure(figures.matrix_pair_figure, *cached.matrix_pair(sweep.kind, sweep.d)), key="lr_pair")
        st.caption("n = 200. Left: Xᵢⱼ = f(aᵢ, bⱼ), rows and columns ordered by the first latent coordinate so the "
                   "smooth structure shows (reordering does not change the rank). Right: independent random entries.")
    with c2:
        ui.plot(ui.figure(figures.packed_sigma_decay_figure, packed, "Singular values divided by σ₁"), key="lr_sigma")
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
        e = cached.eigendigits()
    except (OSError, ValueError) as exc:
        st.warning(f"The MNIST sample could not be loaded: {exc}")
    else:
        st.markdown(
            "Stack 4,000 handwritten digits as the rows of a 4000 × 784 matrix, subtract the mean digit, and take the "
            "SVD: the right singular vectors are the **principal components**, here drawn as 28 × 28 images "
            "(\"eigendigits\"), and σᵢ²/(N − 1) is the variance each one explains."
        )
        ui.plot(ui.figure(figures.eigendigits_figure, *e.leading(16)), key="lr_eigendigits")
        st.caption(f"The first 16 principal directions of the digits ({palette.sign_words()}, each on its own scale). "
                   "The first ones are broad strokes shared by many digits; later ones add finer detail.")
        pca_explorer(e)


# ---------------------------------------------------------------------------------------- the CNN


@st.fragment
def layer_panel(sw) -> None:
    """One layer's rank slider, numbers and curve: moving the slider reruns only this part."""
    layer = sw.layer
    kmin = sw.smallest_within(0.5)
    k = ui.data_slider(f"Inspect rank k of {layer}", 1, sw.full_rank, kmin or sw.full_rank, key=f"lr_cnn_k_{layer}", bind="query-params")
    at = sw.at(k)
    m = st.columns(3)
    m[0].metric(f"Accuracy at k = {k}", f"{at.accuracy:.1f}%", f"{at.accuracy_change:+.1f} points")
    m[1].metric(f"{layer} parameters", f"{at.layer_params:,}", at.size_change, delta_color="normal" if at.fewer else "inverse")
    m[2].metric("Smallest good k", str(kmin) if kmin else "none",
                help="The smallest rank whose accuracy is within 0.5 percentage points of the full model.")
    ui.plot(ui.figure(figures.accuracy_rank_figure, sw, k, 0.5, f"{layer}: accuracy and size against the rank"), key=f"lr_cnn_{layer}")
    st.caption(sw.caption(0.5))
    ui.download_csv(lambda: sw.table, f"{layer}_rank_sweep.csv", "Download the curve (k, accuracy %, layer, model parameters)", key=f"lr_dl_{layer}")


if tab_cnn.open:
    ui.explain(
        "The trained digit network stores its layers as matrices, and they too are approximately low rank. "
        "Replace **fc1** (a 128 × 1568 matrix) by its rank-k truncation, applied as two thinner layers "
        "1568 → k → 128, and **conv2** (32 kernels of 16 × 5 × 5, the rows of a 32 × 400 matrix) by a 5 × 5 "
        "convolution to k channels followed by a 1 × 1 convolution to 32. No retraining: just the SVD."
    )
    try:
        cached.load_mnist_model()
        cached.mnist_split()
    except (OSError, ValueError) as exc:
        st.warning(f"The trained network is not available, so this part cannot run: {exc}")
    else:
        sweeps = [cached.rank_sweep(layer) for layer in ("fc1", "conv2")]
        for col, sw in zip(st.columns(2), sweeps):
            with col:
                layer_panel(sw)
        ui.plot(ui.figure(figures.weight_spectrum_figure, sweeps), key="lr_wspec")
        st.caption("Singular values of the two trained weight matrices, each divided by its largest. A few directions "
                   "carry most of the weight, which is why a small rank keeps most of the accuracy without any retraining "
                   "(retraining the two thin layers, not done here, can win back part of what a smaller rank loses).")

        st.subheader("Separable kernels: rank 1 convolutions")
        st.markdown(
            "A kernel of rank 1 is an outer product K = c rᵀ of a column and a row. Sliding it over an image is the "
            "same as sliding the column down and then the row across: kh + kw multiplications per pixel instead of kh·kw."
        )
        checks = cached.separable_checks()
        for col, check in zip(st.columns(len(checks)), checks):
            with col:
                case = check.case
                ui.plot(ui.figure(builders.kernel_figure, case.kernel, title=case.name, height=260, decimals=2), key=f"lr_sep_k_{case.name}")
                if case.rank == 1:
                    ui.plot(ui.figure(builders.separable_figure, case.column, case.row), key=f"lr_sep_f_{case.name}")
                st.caption(check.caption)
        c1, c2 = st.columns([3, 2])
        with c1:
            ui.plot(ui.figure(figures.flops_figure, (3, 5, 7, 9, 11, 13, 15), 512, 512), key="lr_flops")
        with c2:
            cost = cached.separable_cost()
            st.metric("Multiply-adds, 5 × 5 Gaussian, 512 × 512", cost.value, cost.delta)
            st.caption(cost.caption)
