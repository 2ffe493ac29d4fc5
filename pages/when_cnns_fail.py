"""When CNNs fail: convolutional structure in the operator and the signal (Chodosh and Lucey), JPEG's blocks,
and gradient descent against SGD (McCann, Jin and Unser)."""

import streamlit as st

from cnn_viz import ui
from cnn_viz.common import assets, fmt, text
from cnn_viz.whenfail import figures, jpeg, lab
from cnn_viz.ui import cached, training

st.title("When CNNs fail")
st.markdown(
    "A CNN is a stack of small shared kernels: it approximates **convolutional sparse coding**, so it suits an "
    "inverse problem when the signal is made of a few short patterns repeated anywhere *and* the measurement "
    "M x keeps that local, shift-invariant structure (Chodosh and Lucey, CVPR 2020). Below, the same signals "
    "are measured by four operators and solved six ways; then JPEG's independent 8×8 blocks; then how the "
    "networks are trained: gradient descent against stochastic gradient descent (McCann, Jin and Unser)."
)
tab_lab, tab_jpeg, tab_sgd = st.tabs(["1-D lab: operator × method", "2-D: JPEG artifacts", "Gradient descent against SGD"],
                                     key="wf_tab", bind="query-params", on_change="rerun")  # only the open tab runs


# ============================================================================ 1-D lab
def render_lab() -> None:
    with st.sidebar:
        st.header("1-D lab")
        setup = ui.whenfail_lab_settings()
    shown = setup or lab.Setup()
    own = training.whenfail_lab_table(shown.signals)
    path = assets.WHENFAIL_LAB.get(shown.signals)
    table = own or (cached.load_lab_table(str(path)) if path and path.exists() else None)

    c1, c2 = st.columns(2)
    with c1:
        ui.plot(ui.figure(figures.setup_operator_figure, shown), key="wf_M")
        st.caption({"blur": "The course's Gaussian kernel (σ = 2 samples): a band along the diagonal, the same in every row — a convolution.",
                    "block": "Sixteen independent random 8×8 blocks: local, but every block is different and nothing crosses a block border (JPEG's structure).",
                    "dense": "Every measurement mixes every sample: no locality at all (compressed sensing, m < n).",
                    "permuted": "The blur with rows and columns shuffled by one fixed permutation: the same singular values, no band, no shift invariance."}[shown.operator]
                   + " Each M is scaled to ‖M‖₂ = 1; hover for the entries.")
    with c2:
        ui.plot(ui.figure(figures.spectra_figure, shown.n, shown.m, shown.operator), key="wf_sv")
        st.caption("The blur and the permuted blur have identical singular values (the dotted line lies on the solid one): "
                   "any difference between them in the table is structure, not conditioning.")

    st.subheader("The result table")
    if table is None:
        st.info("No results for this signal set yet: train them below.")
    else:
        if table.n != shown.n:
            st.caption(f"The table is for n = {table.n}; train below to get it for n = {shown.n}.")
        ui.indexed_table(table.columns(), table.row_labels(), key="wf_table")
        st.markdown(f"**What the numbers say.** {table.lesson()}")
        comp = table.compress
        if comp:
            st.caption(f"Convolutional compressibility of these signals: with k = {comp['k']} terms, the best convolutional code "
                       f"(greedy, the model's atoms) leaves a relative error of {fmt.num(comp['conv_error'])}, the best k DCT "
                       f"coefficients {fmt.num(comp['dct_error'])}. Small on the left and large on the right means the set is "
                       "convolutionally compressible.")
        st.caption("Relative error ‖X̂ − X‖_F/‖X‖_F over 200 held-out signals (b = Mx + 1 % noise), networks trained on "
                   f"2,000 pairs; {'trained on this page' if own else table.meta.get('command', '')}.")
        ui.plot(ui.figure(figures.errors_figure, table.row_labels(), table.errors, table.methods), key="wf_bars")
        run = table.run(shown.operator)
        if run is not None:
            k = st.slider("Held-out example", 1, len(run.x), 1, key="wf_ex") - 1
            ui.plot(ui.figure(figures.run_example_figure, run, k), key="wf_sig_fig")
            st.caption("Black: the true signal; grey: the data (for the dense M, only m values). Click legend entries to hide methods.")
            ui.download_csv(lambda: table.errors, "whenfail_table.csv", "Download the table (CSV, rows = operators)", key="wf_csv")
    with st.expander("Train the networks here (seconds each, one thread)"):
        st.markdown("Trains the five networks on every operator for the settings in the sidebar (signal set, n, m, noise, "
                    "seed), reproducibly from the seed. Only one training runs on the server at a time. Offline: "
                    "`python -m cnn_viz.whenfail.train lab --signals csc`.")
        steps = st.select_slider("Adam steps per network", [100, 200, 400, 600], 200, key="wf_steps")
        training.whenfail_lab_training(setup, int(steps))
    with st.expander("The maths"):
        st.latex(r"x=\sum_{k=1}^{3} d_k * z_k,\ z_k \text{ sparse};\qquad b = Mx+e;\qquad "
                 r"\text{ISTA: } z \leftarrow \mathrm{soft}_{\theta}\big(z-\eta\,D^TM^T(MDz-b)\big)")
        st.markdown("Tikhonov: one λ by GCV over the held-out set. Unrolled ISTA: 10 steps with learned atoms, steps and "
                    "thresholds. The CNN fed Mᵀb or Tikhonov's x sees a signal again instead of scrambled measurements.")


# ============================================================================ JPEG
@st.fragment
def block_panel(case, quality: int) -> None:
    """The block grid and one block's DCT: the block sliders change only this panel, which reruns alone."""
    h, w = case.truth.shape
    c1, c2 = st.columns([3, 2])
    with c2:
        br = st.slider("Block row", 0, h // 8 - 1, min(h // 16, h // 8 - 1), key="wf_br", bind="query-params")
        bc = st.slider("Block column", 0, w // 8 - 1, min(w // 16, w // 8 - 1), key="wf_bc", bind="query-params")
    with c1:
        ui.plot(ui.figure(figures.grid_figure, case.jpeg, f"JPEG at quality {quality}: {case.nbytes:,} bytes, "
                                               f"{case.bits_per_pixel:.2f} bits per pixel", (br, bc)), key="wf_grid")
        st.caption("Orange: the 8×8 blocks JPEG codes one by one. At low quality each block becomes a few flat or "
                   "wavy tiles and the seams show.")
        ui.download_png(lambda: jpeg.to_uint8(case.jpeg), "jpeg.png", "Download the JPEG (PNG)", key="wf_dl_jpeg")
    view = jpeg.block_view(case.truth, case.jpeg, case.table, br, bc)
    ui.plot(ui.figure(figures.block_figure, view), key="wf_block")
    st.caption(f"Block ({view.row}, {view.col}): its 64 DCT coefficients F, divided by the quality-{quality} table Q and "
               f"rounded. {view.zeroed} coefficients that were not zero become zero: the fine detail inside the block is "
               "gone, and each block loses it independently of its neighbours.")


def render_jpeg() -> None:
    with st.sidebar:
        st.header("JPEG")
        picked = ui.image_picker("wf_img", default=jpeg.PAGE_IMAGE, max_side=jpeg.PAGE_SIDE, colour="gray")
        quality = ui.whenfail_quality()
    if quality is None:
        return
    try:
        case, xs, ys, non_eq = cached.with_cnn(picked.image, quality)
    except ValueError as exc:
        st.error(f"Cannot compress {text.md(picked.name)}: {text.md(exc, 300)}")
        return
    block_panel(case, quality)
    h, w = case.truth.shape
    st.subheader("Restorations")
    rows = {r.label: r for r in case.restorations}
    ui.indexed_table({"PSNR (dB)": [f"{r.psnr:.2f}" for r in rows.values()], "SSIM": [f"{r.ssim:.3f}" for r in rows.values()]},
                     list(rows), key="wf_jpeg_table")
    gain = jpeg.gain_over_classical(case)
    st.markdown(f"**The CNN gains {gain:+.2f} dB** over the best classical method chosen by a rule here, against "
                f"**{jpeg.DEBLUR_GAIN_DB:+.2f} dB** for Tikhonov + CNN over the best classical method on the deblurring page "
                "(cameraman, Gaussian blur: a convolutional operator). On half-block-shifted input the JPEG grid cuts the "
                f"picture elsewhere: JPEG(shift x) and shift(JPEG x) differ by {fmt.num(non_eq)} of the artifacts' own size "
                "(0 would mean shift-equivariant), so the block operator is not a convolution.")
    st.caption("Gaussian σ and TV weight by quantisation consistency: the strongest smoothing whose DCT still quantises "
               f"to the file's own nonzero coefficients for ≥ {jpeg.CONSISTENT:.0%} of them (no truth used). The oracle row "
               "uses the truth. The CNN (16,081 parameters) was trained offline on 15 other pictures at qualities 5–50.")
    r0, c0 = max(0, h // 2 - 48), max(0, w // 2 - 48)
    crop = lambda a: a[r0:r0 + 96, c0:c0 + 96]  # noqa: E731
    keys = ["none", "tv", "cnn"]
    pick = {r.key: r for r in case.restorations}
    ui.plot(ui.figure(figures.crops_figure, [crop(case.truth)] + [crop(pick[k].image) for k in keys], ["original"] + [pick[k].label for k in keys]),
            key="wf_crops")
    ui.plot(ui.figure(figures.crops_figure, [crop(pick[k].image - case.truth) for k in keys], [f"error: {pick[k].label}" for k in keys], errors=True),
            key="wf_errs")
    st.caption("A 96×96 crop from the centre and the signed errors (restored − original, in 1/255). Blocking errors are "
               "square; the CNN removes part of them.")
    ui.download_png(lambda: jpeg.to_uint8(pick["cnn"].image), "jpeg_cnn.png", "Download the CNN restoration (PNG)", key="wf_dl_cnn")


# ============================================================================ GD vs SGD
def render_sgd() -> None:
    problem = st.radio("Data", ["mnist", "lab"], format_func={"mnist": "MNIST (4,000 / 1,000 digits)", "lab": "1-D lab (blur, CNN)"}.get,
                       horizontal=True, key="wf_sgd_data", bind="query-params")
    ui.descent_panel(problem, "wf_sgd")


if tab_lab.open:
    with tab_lab:
        render_lab()
if tab_jpeg.open:
    with tab_jpeg:
        render_jpeg()
if tab_sgd.open:
    with tab_sgd:
        render_sgd()
