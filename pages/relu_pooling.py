"""ReLU and pooling: what happens to a feature map after the convolution, and why CNNs work."""

from cnn_viz import ui  # first: it leaves Streamlit's legacy pages/ mode

import streamlit as st

from cnn_viz.common import fmt, images, kernels
from cnn_viz.figures import builders, palette
from cnn_viz.pooling import figures, stages, why_cnn
from cnn_viz.ui import cached

EDGE_HOVER = 32  # the edge example's maps: real values on hover at up to 32×32 points (64×64 were 22 kB a map)

st.title("ReLU and pooling")
ui.explain(
    "A convolutional layer is more than the convolution. Each feature map then goes through an **activation** "
    "(ReLU keeps the positive responses and sets the rest to zero) and a **pooling** step (each 2×2 window is "
    "replaced by its maximum or its mean, halving the map), and the pooled maps are the input of the next layer. "
    "Below: every stage of that pipeline on your image, the report's edge example, one pooling window up close, "
    "and the three reasons CNNs beat fully connected networks on images, measured."
)

# ----------------------------------------------------------------------------- controls
with st.sidebar:
    st.header("Input")
    work_side = st.select_slider(
        "Working size (longest side, pixels)", [32, 64, 96, 128, 192, 256], value=128, key="rp_side", bind="query-params",
        help="Images are shrunk to this size first, so every pixel and every pooling window stays visible. "
        "The MNIST digit is 28×28 and is never enlarged.",
    )
    picked = ui.image_picker("rp_img", default="Handwritten 7 (MNIST)", max_side=int(work_side), min_side=16)

    st.header("Kernel bank (layer 1)")
    names = st.multiselect("Kernels", list(kernels.PRESETS), default=list(stages.DEFAULT_BANK), key="rp_bank",
                           bind="query-params", help="Each kernel makes one feature map: the layer's output channels.")
    negatives = st.toggle("Add each kernel's negative (−K)", key="rp_neg", bind="query-params",
                          help="After ReLU, K keeps one side of an edge and −K the other, as learned filters often come in pairs.")
    own = st.toggle("Add a kernel of my own", key="rp_own", bind="query-params")
    own_kernel = ui.kernel_editor("rp_kernel", url=False) if own else None

    settings = ui.pipeline_settings("rp")

if own and own_kernel is None:
    st.sidebar.warning("Your kernel is not valid yet, so it is left out of the bank.")

gray = images.to_gray(picked.image)
bank = stages.preset_bank(names, with_negatives=negatives, own=own_kernel)
pipe = cached.run_pipeline(picked.image, bank, settings)

# ----------------------------------------------------------------------------- the pipeline
st.header("1. The pipeline, stage by stage")
if pipe.error:
    st.error(f"**Cannot compute every stage.** {pipe.error}" + (" The stages before it are shown below." if len(pipe.stages) > 1 else ""))
if pipe.stages:
    ui.plot(ui.figure(figures.pipeline_figure, pipe.stages, max_side=64), key="rp_pipeline")
    st.caption(
        "Each column is a stage, each row one map (channel), all drawn at the same pixel scale: a conv layer stacks one map per "
        "kernel, the activation keeps the size, and pooling with stride 2 halves the height and the width. The size under "
        "each column is H×W×C (height × width × channels). Red is positive, blue negative, white zero; each stage has "
        "its own colour scale." + (" Only the first 8 maps of each stage are drawn here; the stage view below shows all."
                                   if pipe.most_maps > 8 else "")
    )
    c1, c2 = st.columns([3, 1])
    c1.dataframe(pipe.table(picked.name), hide_index=True, width="stretch")
    with c2:
        st.caption("The numbers each stage holds: a 2×2 stride-2 pooling divides them by 4; a conv layer multiplies them by "
                   "(kernels ÷ input maps). 'weights' are what a network would learn (no biases: these kernels are hand-made).")
        st.download_button("All stages (.npz)", lambda: stages.stages_npz(pipe.stages), file_name="relu_pooling_stages.npz",
                           mime="application/octet-stream", key="rp_dl_npz", icon="⬇️", on_click="ignore")
    pick = st.radio("Stage to look at", pipe.names, index=pipe.default_stage, horizontal=True,
                    key=f"rp_stage_{len(pipe.stages)}_{settings.activation}", bind="query-params")
    stage = pipe.stages[pipe.names.index(pick)]
    ui.plot(ui.figure(figures.stage_grid_figure, stage, cols=8), key="rp_stage_grid")
    st.caption(stage.caption)

# ----------------------------------------------------------------------------- the report's edge example
st.header("2. The report's edge example")
ex = stages.edge_example(gray)
c1, c2, c3 = st.columns([2, 4, 4])
with c1:
    ui.plot(ui.figure(builders.kernel_figure, ex.kernel, title="vertical-edge kernel", height=240), key="rp_edge_kernel")
    st.caption("The report's 3×3 kernel: right column minus left column. Padding 1 keeps the output the size of the input.")
with c2:
    ui.plot(ui.figure(builders.signed_map_figure, ex.before, title="before ReLU", height=380, zmax=ex.zmax, hover_side=EDGE_HOVER),
            key="rp_edge_before")
    st.caption(f"Both signs: **{100 * ex.positive:.1f}%** of the pixels are positive ({palette.scheme().pos_word}, dark → bright going right) and "
               f"**{100 * ex.negative:.1f}%** negative ({palette.scheme().neg_word}, bright → dark); values from {ex.min:.3g} to {ex.max:.3g}. "
               + fmt.describe_map("Map", ex.before) + ".")
    ui.download_png(lambda: palette.signed_to_rgb(ex.before, ex.zmax), "edge_before_relu.png", "Before ReLU as PNG", key="rp_dl_before")
with c3:
    ui.plot(ui.figure(builders.signed_map_figure, ex.after, title="after ReLU", height=380, zmax=ex.zmax, hover_side=EDGE_HOVER),
            key="rp_edge_after")
    st.caption(f"ReLU(x) = max(0, x): only the positive side is left, the {100 * ex.negative:.1f}% negative pixels are now 0 "
               "(white). The layer now says *where* dark turns bright going right, and nothing about the opposite edge; "
               "a −K kernel would keep that one. " + fmt.describe_map("Map", ex.after) + ".")
    ui.download_csv(ex.after, "edge_after_relu.csv", "After ReLU as CSV", key="rp_dl_after")

# ----------------------------------------------------------------------------- sections 3 and 4
# They are fragments: moving one of their sliders reruns that section only.


@st.fragment
def pooling_detail(pipe: stages.Pipeline):
    if not pipe.pool_stages:
        st.info("No pooled map to look into: fix the pooling settings in the sidebar (the message above says what is wrong).")
        return
    s = pipe.settings
    c1, c2 = st.columns(2)
    which = pipe.pool_stages[0]
    if len(pipe.pool_stages) > 1:
        which = c1.radio("Which pooling", pipe.pool_stages, format_func=lambda i: pipe.stages[i].name, horizontal=True, key="rp_which_pool", bind="query-params")
    source = pipe.stages[which - 1]
    ch = c2.selectbox("Map", range(source.maps.shape[0]), format_func=lambda i: source.labels[i], key=f"rp_map_{which}_{source.maps.shape[0]}", bind="query-params")
    detail = pipe.pool_detail(which, ch)
    (ho, wo), (bi, bj) = detail.pooled_map.shape, detail.largest
    c1, c2 = st.columns(2)
    wi = c1.slider("Window row (in the pooled map)", 0, ho - 1, bi, key=f"rp_wi_{which}_{ho}x{wo}", bind="query-params") if ho > 1 else 0
    wj = c2.slider("Window column (in the pooled map)", 0, wo - 1, bj, key=f"rp_wj_{which}_{ho}x{wo}", bind="query-params") if wo > 1 else 0
    win = detail.window((wi, wj))
    c1, c2, c3 = st.columns([5, 3, 4])
    with c1:
        ui.plot(ui.figure(figures.pool_input_figure, detail.fmap, win, detail.indices, size=s.pool_size, stride=s.pool_stride, padding=s.pool_padding),
                key="rp_pool_input")
        st.caption(detail.input_caption)
    with c2:
        ui.plot(ui.figure(figures.window_figure, win, detail.zmax), key="rp_pool_window")
        st.markdown(win.describe())
        st.caption("The window's numbers" + (" ('pad' cells are padding: −∞ for max, 0 for average)." if win.has_padding else ".")
                   + " Move the sliders to pick another window; it starts on the one with the largest pooled value.")
        ui.download_csv(win.csv, "pool_window.csv", "Window as CSV", key="rp_dl_window")
    with c3:
        ui.plot(ui.figure(figures.pooled_figure, detail.pooled_map, (wi, wj), zmax=detail.zmax), key="rp_pool_out")
        st.caption(detail.caption)
        ui.download_csv(detail.pooled_map, "pooled_map.csv", "Pooled map as CSV", key="rp_dl_pooled")


@st.fragment
def parameter_sharing():
    c = st.columns(6)
    ph = int(c[0].number_input("Input height", 1, 4096, why_cnn.REPORT_INPUT[0], key="rp_ph", bind="query-params"))
    pw = int(c[1].number_input("Input width", 1, 4096, why_cnn.REPORT_INPUT[1], key="rp_pw", bind="query-params"))
    pc = int(c[2].number_input("Channels", 1, 512, why_cnn.REPORT_INPUT[2], key="rp_pc", bind="query-params"))
    hidden = int(c[3].number_input("Hidden units", 1, 100_000, why_cnn.REPORT_HIDDEN, key="rp_hidden", bind="query-params"))
    pk = int(c[4].number_input("Kernel size", 1, 15, why_cnn.REPORT_KERNEL, key="rp_pk", bind="query-params"))
    pf = int(c[5].number_input("Features (kernels)", 1, 4096, why_cnn.REPORT_FEATURES, key="rp_pf", bind="query-params"))
    ps = why_cnn.parameter_sharing(ph, pw, pc, hidden, pk, pf)
    m = st.columns(4)
    m[0].metric("Fully connected: weights", f"{ps.dense.weights:,}", f"+{ps.dense.biases:,} biases", delta_color="off", delta_arrow="off")
    m[1].metric("Convolutional: weights", f"{ps.conv.weights:,}", f"+{ps.conv.biases:,} biases", delta_color="off", delta_arrow="off")
    m[2].metric("Fewer weights", f"{ps.ratio:,.0f}×")
    m[3].metric("Uses of each conv weight", f"{ps.mults.reuse:,}", "one per output position", delta_color="off", delta_arrow="off")
    c1, c2 = st.columns([3, 2])
    with c1:
        ui.plot(ui.figure(figures.params_figure, ps.curve, ps.side, pc), key="rp_params")
        st.caption("Weights against the side of a square input (log scales). The fully connected layer needs one weight per "
                   "input number per hidden unit, so it grows with the number of pixels; the conv layer's kernels are the "
                   "same at every position, so its count does not depend on the image at all. Dots: your sizes.")
        ui.download_csv(ps.curve.csv, "parameter_counts.csv", "Counts as CSV (side, dense, conv)", key="rp_dl_params")
    c2.markdown(ps.describe())


@st.fragment
def receptive_fields(gray):
    c1, c2 = st.columns([2, 3])
    with c1:
        stack_name = st.radio("Layer stack", list(why_cnn.STACKS), format_func=why_cnn.STACKS.get, key="rp_stack", bind="query-params")
        blocks = st.slider("Blocks", 1, 4, 2, key="rp_blocks", bind="query-params")
        h, w = gray.shape
        pr = ui.data_slider("Point: row", 0, h - 1, h // 2, key=f"rp_rfr_{h}", bind="query-params")
        pcol = ui.data_slider("Point: column", 0, w - 1, w // 2, key=f"rp_rfc_{w}", bind="query-params")
    try:
        rf = why_cnn.stack_fields(stack_name, blocks, gray.shape, (pr, pcol))
    except ValueError as exc:
        c2.error(f"{exc}")
        return
    with c2:
        ui.plot(ui.figure(figures.receptive_field_figure, gray, rf.boxes, (pr, pcol)), key="rp_rf")
        st.caption("Each rectangle is the patch of input pixels that one unit of that layer depends on (its receptive "
                   "field), for the unit nearest the red cross. Each 3×3 or 5×5 conv widens it by k − 1 steps of the layer's "
                   "grid, and each pooling doubles the grid step, so deep units see large regions although every "
                   "connection is local.")
    with c1:
        st.dataframe(rf.table, hide_index=True, width="stretch")
        st.caption(f"**Sparse interactions**: a unit of a conv layer is connected to only k×k values of the layer below "
                   f"('inputs/unit', per map), while a fully connected unit is connected to all {h * w:,} pixels of this image.")


@st.fragment
def equivariance_lab(gray, bank: stages.Bank, s: stages.Settings):
    c = st.columns([3, 2, 2, 3])
    k_idx = c[0].selectbox("Kernel", range(len(bank)), format_func=lambda i: bank.labels[i], key="rp_eq_k", bind="query-params") if len(bank) else None
    dy = c[1].slider("Shift down (dy)", -8, 8, 0, key="rp_dy", bind="query-params")
    dx = c[2].slider("Shift right (dx)", -8, 8, 1, key="rp_dx", bind="query-params")
    mode = c[3].radio("Padding and shift", list(why_cnn.SHIFT_MODES), horizontal=True, key="rp_eqmode", bind="query-params",
                      format_func={"circular": "circular (wrap around)", "zeros": "zeros (falls off the edge)"}.get)
    kernel = bank.kernel(k_idx)
    eq = why_cnn.equivariance(gray, kernel, dy, dx, mode, s.activation, s.negative_slope)
    ui.plot(ui.figure(figures.equivariance_figure, eq), key="rp_eq_maps")
    m = st.columns(3)
    m[0].metric("Largest |difference|", eq.max_abs_text)
    m[1].metric("Differences reach in from the border", eq.reach_text)
    m[2].metric("Shift", f"({dy}, {dx}) px")
    st.caption(
        "Convolution commutes with shifting: filtering a moved picture gives the moved feature map. With circular padding "
        "the picture wraps around, nothing is lost, and the two are equal to the last bit. With zero padding they differ "
        "only where the shift pushed pixels off the edge or the kernel hangs over the border: a band as wide as the shift "
        "plus half the kernel. The activation ('" + stages.ACTIVATION_CHOICES[s.activation] + "') acts on each value alone, so it changes nothing here."
    )
    st.subheader("After pooling")
    try:
        ps = why_cnn.pooled_shift(gray, kernel, dy, dx, s.pool, s.pool_size, s.pool_stride, mode, s.activation, s.negative_slope)
        curve_dir = st.radio("Shift direction for the curve", list(why_cnn.SHIFT_DIRECTIONS), horizontal=True, key="rp_curve_dir", bind="query-params")
        curve = cached.invariance_curve(gray, kernel, s.pool, s.pool_size, s.pool_stride, max(s.pool_size, 2),
                                        why_cnn.SHIFT_DIRECTIONS[curve_dir], mode, s.activation, s.negative_slope)
    except ValueError as exc:
        st.error(f"Cannot pool here: {exc}")
        return
    ui.plot(ui.figure(figures.pooled_shift_figure, ps), key="rp_eq_pooled")
    m = st.columns(3)
    m[0].metric("Pooled map changed by", f"{100 * ps.change:.1f}%", f"feature map: {100 * ps.map_change:.1f}%", delta_color="off", delta_arrow="off")
    m[1].metric("Pooled values unchanged", f"{100 * ps.unchanged:.0f}%", f"feature map: {100 * ps.map_unchanged:.0f}%", delta_color="off", delta_arrow="off")
    if ps.coarse_shift is not None and (dy or dx):
        m[2].metric(f"Shift ÷ stride = ({ps.coarse_shift[0]}, {ps.coarse_shift[1]})", ps.coarse_text, "pooled map just moves",
                    delta_color="off", delta_arrow="off")
    pooled_name = f"{stages.POOL_CHOICES[s.pool].lower()}-pooled map"
    st.caption(
        f"Here the input moves by ({dy}, {dx}) and nothing is shifted back: the numbers say how much the {pooled_name} "
        "changed compared with the feature map itself (relative change ‖after − before‖/‖before‖, and the share of "
        "non-zero values that stayed exactly the same). A shift by a multiple of the stride just moves the pooled map on its "
        "coarser grid."
    )
    ui.plot(ui.figure(figures.invariance_figure, curve, pooled_name), key="rp_eq_curve")
    st.caption(curve.describe())
    ui.download_csv(curve.csv, "shift_curve.csv", "Curve as CSV", key="rp_dl_curve")


st.header("3. Pooling in detail")
pooling_detail(pipe)

st.header("4. Why CNNs work")
ui.explain("The report gives three reasons a convolutional layer beats a fully connected one on images: **parameter sharing**, "
            "**sparse interactions** and **equivariance to translation**. Each tab measures one.")
tab_p, tab_rf, tab_eq = st.tabs(["Parameter sharing", "Sparse interactions: receptive fields", "Equivariance lab"], key="rp_part",
                                bind="query-params", on_change="rerun")  # only the open tab runs
if tab_p.open:
    with tab_p:
        parameter_sharing()
if tab_rf.open:
    with tab_rf:
        receptive_fields(gray)
if tab_eq.open:
    with tab_eq:
        equivariance_lab(gray, bank, settings)

with st.expander("The maths"):
    st.markdown("**Activations**, applied to every value of every map:")
    st.latex(r"\mathrm{ReLU}(x) = \max(0, x), \qquad \mathrm{LeakyReLU}(x) = \begin{cases} x & x > 0 \\ a\,x & x \le 0 \end{cases}")
    st.markdown("**Pooling** with window k, stride s and padding p (one output per window, per map):")
    st.latex(r"P_{\max}(i,j) = \max_{0\le m,n<k} A(is - p + m,\ js - p + n), \qquad "
             r"P_{\mathrm{avg}}(i,j) = \frac{1}{k^2}\sum_{0\le m,n<k} A(is - p + m,\ js - p + n)")
    st.latex(r"n_{\mathrm{out}} = \left\lfloor \frac{n + 2p - k}{s} \right\rfloor + 1")
    st.markdown("**Parameters** of a fully connected layer (H·W·C inputs, N units) and of a conv layer (F kernels of k×k×C):")
    st.latex(r"H\,W\,C\,N + N \qquad\text{vs}\qquad k^2\,C\,F + F")
    st.markdown("**Receptive field** through layers with kernel kₗ and stride sₗ (r₀ = 1, j₀ = 1):")
    st.latex(r"r_\ell = r_{\ell-1} + (k_\ell - 1)\, j_{\ell-1}, \qquad j_\ell = j_{\ell-1}\, s_\ell")
    st.markdown("**Equivariance**: with T a shift, convolution commutes with it (exactly, with circular padding); pooling "
                "with stride s commutes with shifts by multiples of s, on its coarser grid:")
    st.latex(r"K * (T x) = T (K * x), \qquad \mathrm{pool}(T_{s\,d}\, y) = T_d\, \mathrm{pool}(y)")
