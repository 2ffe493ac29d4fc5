"""ReLU and pooling: what happens to a feature map after the convolution, and why CNNs work."""

import numpy as np
import pandas as pd
import streamlit as st

from cnn_viz.common import images
from cnn_viz.common import kernels
from cnn_viz.figures import builders as plots
from cnn_viz.figures import palette
from cnn_viz.sandbox import core as sandbox
from cnn_viz.pooling import stages
from cnn_viz.pooling import figures as stages_plots
from cnn_viz import ui
from cnn_viz.pooling import why_cnn

ACT_LABELS = {"relu": "ReLU", "none": "None", "leaky": "Leaky ReLU"}
POOL_LABELS = {"max": "Max", "avg": "Average"}

# Results and figures are cached: Plotly spends tens of milliseconds validating every trace and most
# reruns change only one section. Cached objects are shared by every session and never mutated.


@st.cache_resource(max_entries=48, show_spinner=False)
def figure(builder: str, *args, **kwargs):
    """A stages_plots (or plots) figure, built once per distinct input."""
    return (getattr(stages_plots, builder, None) or getattr(plots, builder))(*args, **kwargs)


@st.cache_resource(max_entries=16, show_spinner=False)
def run_pipeline(img, bank, labels, settings, bank2, labels2):
    """(stages, error message or None): the stages before a failing one are kept."""
    try:
        return stages.run_pipeline(img, bank, labels=list(labels), bank2=bank2, labels2=labels2 and list(labels2), **dict(settings)), None
    except stages.PipelineError as exc:
        return exc.stages, str(exc)
    except ValueError as exc:
        return [], str(exc)


@st.cache_resource(max_entries=32, show_spinner=False)
def pipeline_figure(which, *run_args):
    """The overview (which=None) or one stage's grid, keyed on the pipeline's inputs, not its (large) maps."""
    pipe, _ = run_pipeline(*run_args)
    if which is None:
        return stages_plots.pipeline_figure(pipe, max_side=64)
    return stages_plots.stage_grid_figure(pipe[which], cols=min(8, pipe[which].maps.shape[0]))


st.title("ReLU and pooling")
st.markdown(
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
    picked = ui.image_picker("rp_img", default="Handwritten 7 (MNIST)", max_side=int(work_side))

    st.header("Kernel bank (layer 1)")
    names = st.multiselect("Kernels", list(kernels.PRESETS), default=list(stages.DEFAULT_BANK), key="rp_bank",
                           bind="query-params", help="Each kernel makes one feature map: the layer's output channels.")
    negatives = st.toggle("Add each kernel's negative (−K)", key="rp_neg", bind="query-params",
                          help="After ReLU, K keeps one side of an edge and −K the other, as learned filters often come in pairs.")
    own = st.toggle("Add a kernel of my own", key="rp_own", bind="query-params")
    own_kernel = ui.kernel_editor("rp_kernel", url=False) if own else None

    st.header("After the convolution")
    conv_padding = st.radio("Convolution padding", ["same", "valid"], horizontal=True, key="rp_cpad", bind="query-params",
                            format_func={"same": "same (keep size)", "valid": "valid (none)"}.get)
    act = st.radio("Activation", list(ACT_LABELS), format_func=ACT_LABELS.get, horizontal=True, key="rp_act", bind="query-params")
    slope = 0.01
    if act == "leaky":
        slope = st.slider("Leaky slope", 0.01, 0.5, 0.1, 0.01, key="rp_slope", bind="query-params",
                          help="Negative values are multiplied by this instead of being set to zero.")
    pool = st.radio("Pooling", list(POOL_LABELS), format_func=POOL_LABELS.get, horizontal=True, key="rp_pool", bind="query-params")
    c1, c2, c3 = st.columns(3)
    psize = int(c1.number_input("Size", 1, 64, 2, key="rp_psize", bind="query-params", help="Window side: 2 means 2×2 windows."))
    pstride = int(c2.number_input("Stride", 1, 64, 2, key="rp_pstride", bind="query-params", help="How far the window moves each step."))
    ppad = int(c3.number_input("Padding", 0, 32, 0, key="rp_ppad", bind="query-params", help="At most half the window; padding never wins a max."))

    st.header("Second layer")
    second = st.toggle("Add a second conv + activation + pool", key="rp_second", bind="query-params")
    l2_source, l2_maps, l2_size, l2_seed = "random", 8, 3, 0
    if second:
        l2_source = st.radio("Its kernels", ["random", "bank"], key="rp_l2src", bind="query-params",
                             format_func={"random": "random, like an untrained layer", "bank": "the layer-1 bank on the mean of the maps"}.get)
        if l2_source == "random":
            c1, c2 = st.columns(2)
            l2_maps = int(c1.number_input("Maps", 1, 16, 8, key="rp_l2maps", bind="query-params"))
            l2_size = int(c2.selectbox("Kernel", [3, 5], key="rp_l2k", bind="query-params", format_func=lambda k: f"{k}×{k}"))
            l2_seed = int(st.number_input("Random seed", 0, 9999, 0, key="rp_seed", bind="query-params"))

img = picked.image
gray = images.to_gray(img)

# ----------------------------------------------------------------------------- the bank and the pipeline
bank_list, bank_labels = [kernels.preset(n) for n in names], list(names)
if own:
    if own_kernel is None:
        st.sidebar.warning("Your kernel is not valid yet, so it is left out of the bank.")
    else:
        bank_list.append(own_kernel)
        bank_labels.append("my kernel")
if negatives:
    bank_labels += [f"−({n})" for n in bank_labels]
    bank_list += [-k for k in bank_list]
bank = stages.make_bank(bank_list) if bank_list else None

pipe, pipe_error, run_args = [], None, None
if bank is None:
    pipe_error = "The kernel bank is empty: pick at least one kernel in the sidebar (or add your own)."
else:
    bank2, labels2 = None, None
    if second:
        if l2_source == "random":
            bank2 = stages.random_bank(l2_maps, bank.shape[0], l2_size, seed=l2_seed)
            labels2 = tuple(f"random {i + 1}" for i in range(l2_maps))
        else:
            bank2, labels2 = bank, tuple(f"{lab} (layer 2)" for lab in bank_labels)
    settings = (("conv_padding", conv_padding), ("activation", act), ("negative_slope", slope), ("pool", pool),
                ("pool_size", psize), ("pool_stride", pstride), ("pool_padding", ppad))
    run_args = (img, bank, tuple(bank_labels), settings, bank2, labels2)
    pipe, pipe_error = run_pipeline(*run_args)

st.header("1. The pipeline, stage by stage")
if pipe_error:
    st.error(f"**Cannot compute every stage.** {pipe_error}" + (" The stages before it are shown below." if len(pipe) > 1 else ""))
if pipe:
    ui.plot(pipeline_figure(None, *run_args), key="rp_pipeline")
    more = max(s.maps.shape[0] for s in pipe) > 8
    st.caption(
        "Each column is a stage, each row one map (channel), all drawn at the same pixel scale: a conv layer stacks one map per "
        "kernel, the activation keeps the size, and pooling with stride 2 halves the height and the width. The size under "
        "each column is H×W×C (height × width × channels). Red is positive, blue negative, white zero; each stage has "
        "its own colour scale." + (" Only the first 8 maps of each stage are drawn here; the stage view below shows all." if more else "")
    )
    table = pd.DataFrame({
        "stage": [s.name for s in pipe],
        "H×W×C": [s.shape_text for s in pipe],
        "numbers": [int(np.prod(s.shape)) for s in pipe],
        "weights": [s.params for s in pipe],
        "what it does": [s.note or {"input": picked.name, "act": ACT_LABELS[act] + " on every value"}.get(s.kind, "") for s in pipe],
    })
    c1, c2 = st.columns([3, 1])
    with c1:
        st.dataframe(table, hide_index=True, width="stretch")
    with c2:
        st.caption("The numbers each stage holds: a 2×2 stride-2 pooling divides them by 4; a conv layer multiplies them by "
                   "(kernels ÷ input maps). 'weights' are what a network would learn (no biases: these kernels are hand-made).")
        st.download_button("All stages (.npz)", lambda: stages.stages_npz(pipe), file_name="relu_pooling_stages.npz",
                           mime="application/octet-stream", key="rp_dl_npz", icon="⬇️", on_click="ignore")
    names_in_pipe = [s.name for s in pipe]
    default_stage = next((i for i, s in enumerate(pipe) if s.kind == "act"), min(1, len(pipe) - 1))
    pick = st.radio("Stage to look at", names_in_pipe, index=default_stage, horizontal=True, key=f"rp_stage_{len(pipe)}_{act}")
    stage = pipe[names_in_pipe.index(pick)]
    ui.plot(pipeline_figure(names_in_pipe.index(pick), *run_args), key="rp_stage_grid")
    explain = {
        "input": "The input: one map per channel (gray, or red, green and blue when colour is kept).",
        "conv": "Each kernel slides over all input maps and adds their responses: one map per kernel. "
                "An edge kernel answers with both signs, red on one side of an edge and blue on the other.",
        "act": "The activation acts on every value alone: ReLU sets the negatives (blue) to zero, "
               "leaky ReLU shrinks them, 'None' leaves them.",
        "pool": "Pooling summarises each window by one number, so the map shrinks; with stride 2 each side halves.",
    }[stage.kind]
    st.caption(f"**{stage.name}: {stage.shape_text}** ({stage.maps.shape[0]} maps of {stage.maps.shape[1]}×{stage.maps.shape[2]}), "
               f"values from {stage.maps.min():.3g} to {stage.maps.max():.3g}, one colour scale for all. {explain}")

# ----------------------------------------------------------------------------- the report's edge example
st.header("2. The report's edge example")
ex = stages.edge_example(gray)
z = max(abs(ex["min"]), abs(ex["max"])) or 1.0
c1, c2, c3 = st.columns([2, 4, 4])
with c1:
    ui.plot(figure("kernel_figure", ex["kernel"], title="vertical-edge kernel", height=240), key="rp_edge_kernel")
    st.caption("The report's 3×3 kernel: right column minus left column. Padding 1 keeps the output the size of the input.")
with c2:
    ui.plot(figure("signed_map_figure", ex["before"], title="before ReLU", height=380, zmax=z), key="rp_edge_before")
    st.caption(f"Both signs: **{100 * ex['positive']:.1f}%** of the pixels are positive (red, dark → bright going right) and "
               f"**{100 * ex['negative']:.1f}%** negative (blue, bright → dark); values from {ex['min']:.3g} to {ex['max']:.3g}.")
    ui.download_png(palette.signed_to_rgb(ex["before"], z), "edge_before_relu.png", "Before ReLU as PNG", key="rp_dl_before")
with c3:
    ui.plot(figure("signed_map_figure", ex["after"], title="after ReLU", height=380, zmax=z), key="rp_edge_after")
    st.caption(f"ReLU(x) = max(0, x): only the positive side is left, the {100 * ex['negative']:.1f}% negative pixels are now 0 "
               "(white). The layer now says *where* dark turns bright going right, and nothing about the opposite edge; "
               "a −K kernel would keep that one.")
    ui.download_csv(ex["after"], "edge_after_relu.csv", "After ReLU as CSV", key="rp_dl_after")

# ----------------------------------------------------------------------------- pooling in detail
# Sections 3 and 4 are fragments: moving one of their sliders reruns that section only.


@st.fragment
def pooling_detail(pipe, pool, psize, pstride, ppad):
    pool_stages = [i for i, s in enumerate(pipe) if s.kind == "pool"]
    if not pool_stages:
        st.info("No pooled map to look into: fix the pooling settings in the sidebar (the message above says what is wrong).")
        return
    c1, c2 = st.columns(2)
    which = pool_stages[0]
    if len(pool_stages) > 1:
        which = c1.radio("Which pooling", pool_stages, format_func=lambda i: pipe[i].name, horizontal=True, key="rp_which_pool")
    pooled_stage, source = pipe[which], pipe[which - 1]
    ch = c2.selectbox("Map", range(source.maps.shape[0]), format_func=lambda i: source.labels[i], key=f"rp_map_{which}_{source.maps.shape[0]}")
    fmap, pooled = source.maps[ch], pooled_stage.maps[ch]
    ho, wo = pooled.shape
    best = np.unravel_index(int(np.argmax(pooled)), pooled.shape)
    c1, c2 = st.columns(2)
    shape_key = f"{which}_{ho}x{wo}"
    wi = c1.slider("Window row (in the pooled map)", 0, ho - 1, int(best[0]), key=f"rp_wi_{shape_key}") if ho > 1 else 0
    wj = c2.slider("Window column (in the pooled map)", 0, wo - 1, int(best[1]), key=f"rp_wj_{shape_key}") if wo > 1 else 0
    win = stages.pool_window(fmap, (wi, wj), pool, psize, pstride, ppad)
    zp = float(np.max(np.abs(fmap))) or 1.0
    indices = pooled_stage.indices[ch] if pooled_stage.indices is not None else None
    c1, c2, c3 = st.columns([5, 3, 4])
    with c1:
        ui.plot(figure("pool_input_figure", fmap, win, indices, size=psize, stride=pstride, padding=ppad), key="rp_pool_input")
        st.caption(f"**{source.name}**, {source.labels[ch]} ({fmap.shape[0]}×{fmap.shape[1]}): the black square is the chosen "
                   f"{psize}×{psize} window"
                   + (". Every black dot is the winner of a window with something in it, the position max pooling remembers (its *argmax*, "
                      "PyTorch's return_indices); the gold star is this window's." if pool == "max" else
                      "; average pooling keeps no position, every pixel of the window counts."))
    with c2:
        ui.plot(figure("window_figure", win, zmax=zp), key="rp_pool_window")
        rows_txt, cols_txt = f"{win.rows[0]}–{win.rows[-1]}", f"{win.cols[0]}–{win.cols[-1]}"
        if pool == "max":
            st.markdown(f"Rows {rows_txt}, columns {cols_txt} of the input map. **Largest value {win.value:.4g}** at "
                        f"row {win.winner[0]}, column {win.winner[1]}: it lands in the pooled map at **({wi}, {wj})**.")
        else:
            st.markdown(f"Rows {rows_txt}, columns {cols_txt} of the input map. **Mean = {np.nansum(win.values):.4g} / {win.divisor} "
                        f"= {win.value:.4g}**: it lands in the pooled map at **({wi}, {wj})**.")
        st.caption("The window's numbers" + (" ('pad' cells are padding: −∞ for max, 0 for average)." if np.isnan(win.values).any() else ".")
                   + " Move the sliders to pick another window; it starts on the one with the largest pooled value.")
        ui.download_csv(np.nan_to_num(win.values, nan=0.0), "pool_window.csv", "Window as CSV", key="rp_dl_window")
    with c3:
        ui.plot(figure("pooled_figure", pooled, (wi, wj), zmax=zp), key="rp_pool_out")
        overlap = "overlap" if pstride < psize else "do not overlap" if pstride == psize else "skip pixels"
        st.caption(f"**{pooled_stage.name}** ({ho}×{wo}): each cell is one window's {'maximum' if pool == 'max' else 'mean'}. "
                   f"With stride {pstride} and size {psize} the windows {overlap}.")
        ui.download_csv(pooled, "pooled_map.csv", "Pooled map as CSV", key="rp_dl_pooled")


@st.fragment
def parameter_sharing():
    c = st.columns(6)
    ph = int(c[0].number_input("Input height", 1, 4096, why_cnn.REPORT_INPUT[0], key="rp_ph"))
    pw = int(c[1].number_input("Input width", 1, 4096, why_cnn.REPORT_INPUT[1], key="rp_pw"))
    pc = int(c[2].number_input("Channels", 1, 512, why_cnn.REPORT_INPUT[2], key="rp_pc"))
    hidden = int(c[3].number_input("Hidden units", 1, 100_000, why_cnn.REPORT_HIDDEN, key="rp_hidden"))
    pk = int(c[4].number_input("Kernel size", 1, 15, why_cnn.REPORT_KERNEL, key="rp_pk"))
    pf = int(c[5].number_input("Features (kernels)", 1, 4096, why_cnn.REPORT_FEATURES, key="rp_pf"))
    dense, convp = why_cnn.dense_params(ph, pw, pc, hidden), why_cnn.conv_params(pk, pc, pf)
    mults = why_cnn.multiplications(ph, pw, pc, hidden, pk, pf)
    m = st.columns(4)
    m[0].metric("Fully connected: weights", f"{dense.weights:,}", f"+{dense.biases:,} biases", delta_color="off", delta_arrow="off")
    m[1].metric("Convolutional: weights", f"{convp.weights:,}", f"+{convp.biases:,} biases", delta_color="off", delta_arrow="off")
    m[2].metric("Fewer weights", f"{dense.weights / convp.weights:,.0f}×")
    m[3].metric("Uses of each conv weight", f"{mults['reuse']:,}", "one per output position", delta_color="off", delta_arrow="off")
    c1, c2 = st.columns([3, 2])
    with c1:
        sides = np.unique(np.geomspace(8, 2048, 60).astype(int))
        curve = why_cnn.param_curve(sides, pc, hidden, pk, pf)
        ui.plot(figure("params_figure", curve, int(round(np.sqrt(ph * pw))), pc), key="rp_params")
        st.caption("Weights against the side of a square input (log scales). The fully connected layer needs one weight per "
                   "input number per hidden unit, so it grows with the number of pixels; the conv layer's kernels are the "
                   "same at every position, so its count does not depend on the image at all. Dots: your sizes.")
        ui.download_csv(np.stack([curve["side"], curve["dense"], curve["conv"]], axis=1), "parameter_counts.csv",
                        "Counts as CSV (side, dense, conv)", key="rp_dl_params")
    with c2:
        st.markdown(
            f"A {ph}×{pw}×{pc} input into {hidden:,} hidden units: {ph}·{pw}·{pc}·{hidden} = **{dense.weights:,} weights** "
            f"(+{dense.biases:,} biases). A bank of {pf} kernels of {pk}×{pk}×{pc}: {pk}·{pk}·{pc}·{pf} = **{convp.weights:,} weights** "
            f"(+{pf} biases).\n\n**Parameter sharing**: the conv layer applies those {convp.weights:,} weights at all {mults['reuse']:,} "
            f"positions, {mults['conv']:,} multiplications in one pass, so it still does a lot of work with very few numbers to learn "
            f"(and to store: {4 * convp.total:,} bytes against {4 * dense.total / 2**20:,.1f} MB in float32)."
        )


@st.fragment
def receptive_fields(gray):
    c1, c2 = st.columns([2, 3])
    with c1:
        stack_name = st.radio("Layer stack", list(why_cnn.STACKS), format_func=why_cnn.STACKS.get, key="rp_stack")
        blocks = st.slider("Blocks", 1, 4, 2, key="rp_blocks")
        h, w = gray.shape
        pr = st.slider("Point: row", 0, h - 1, h // 2, key=f"rp_rfr_{h}")
        pcol = st.slider("Point: column", 0, w - 1, w // 2, key=f"rp_rfc_{w}")
    layers = why_cnn.stack(stack_name, blocks)
    try:
        boxes = why_cnn.boxes_at(layers, gray.shape, (pr, pcol))
    except ValueError as exc:
        c2.error(f"{exc}")
        return
    with c2:
        ui.plot(figure("receptive_field_figure", gray, boxes, (pr, pcol)), key="rp_rf")
        st.caption("Each rectangle is the patch of input pixels that one unit of that layer depends on (its receptive "
                   "field), for the unit nearest the red cross. Each 3×3 or 5×5 conv widens it by k − 1 steps of the layer's "
                   "grid, and each pooling doubles the grid step, so deep units see large regions although every "
                   "connection is local.")
    with c1:
        st.dataframe(pd.DataFrame({
            "layer": [b.layer for b in boxes],
            "output": [f"{b.out_shape[0]}×{b.out_shape[1]}" for b in boxes],
            "field": [f"{b.size}×{b.size}" for b in boxes],
            "inputs/unit": [1] + [lay.size**2 for lay in layers],
        }), hide_index=True, width="stretch")
        st.caption(f"**Sparse interactions**: a unit of a conv layer is connected to only k×k values of the layer below "
                   f"('inputs/unit', per map), while a fully connected unit is connected to all {h * w:,} pixels of this image.")


@st.cache_data(max_entries=32, show_spinner=False)
def shift_curve(gray, kernel, pool, psize, pstride, direction, mode, act, slope):
    """The 0 … pool-size shift curve: it does not depend on the lab's shift sliders, so moving them reuses it."""
    return why_cnn.invariance_curve(gray, kernel, pool, psize, pstride, max_shift=max(psize, 2), direction=direction,
                                    mode=mode, activation=act, negative_slope=slope)


@st.fragment
def equivariance_lab(gray, bank_list, bank_labels, act, slope, pool, psize, pstride):
    c = st.columns([3, 2, 2, 3])
    k_idx = c[0].selectbox("Kernel", range(len(bank_list)), format_func=lambda i: bank_labels[i], key="rp_eq_k") if bank_list else None
    dy = c[1].slider("Shift down (dy)", -8, 8, 0, key="rp_dy")
    dx = c[2].slider("Shift right (dx)", -8, 8, 1, key="rp_dx")
    mode = c[3].radio("Padding and shift", list(why_cnn.SHIFT_MODES), horizontal=True, key="rp_eqmode",
                      format_func={"circular": "circular (wrap around)", "zeros": "zeros (falls off the edge)"}.get)
    kernel = bank_list[k_idx] if k_idx is not None and k_idx < len(bank_list) else kernels.preset("Vertical edge (report)")
    eq = why_cnn.equivariance(gray, kernel, dy, dx, mode, act, slope)
    ui.plot(figure("compare_figure", [eq["conv_of_shift"], eq["shift_of_conv"], eq["residual"]],
                   ["conv(shift(x))", "shift(conv(x))", "difference"]), key="rp_eq_maps")
    reach = why_cnn.border_reach(eq["residual"])
    m = st.columns(3)
    m[0].metric("Largest |difference|", "0 exactly" if eq["max_abs"] == 0 else f"{eq['max_abs']:.3g}")
    m[1].metric("Differences reach in from the border", "nowhere" if reach < 0 else f"{reach + 1} px")
    m[2].metric("Shift", f"({dy}, {dx}) px")
    st.caption(
        "Convolution commutes with shifting: filtering a moved picture gives the moved feature map. With circular padding "
        "the picture wraps around, nothing is lost, and the two are equal to the last bit. With zero padding they differ "
        "only where the shift pushed pixels off the edge or the kernel hangs over the border: a band as wide as the shift "
        "plus half the kernel. The activation ('" + ACT_LABELS[act] + "') acts on each value alone, so it changes nothing here."
    )
    st.subheader("After pooling")
    try:
        ps = why_cnn.pooled_shift(gray, kernel, dy, dx, pool, psize, pstride, mode, act, slope)
        curve_dir = st.radio("Shift direction for the curve", ["right", "down", "diagonal"], horizontal=True, key="rp_curve_dir")
        direction = {"right": (0, 1), "down": (1, 0), "diagonal": (1, 1)}[curve_dir]
        curve = shift_curve(gray, kernel, pool, psize, pstride, direction, mode, act, slope)
    except ValueError as exc:
        st.error(f"Cannot pool here: {exc}")
        return
    ui.plot(figure("compare_figure", [ps["pooled"], ps["pooled_shifted"], ps["difference"]],
                   ["pool(f(x))", "pool(f(shift(x)))", "difference"]), key="rp_eq_pooled")
    m = st.columns(3)
    m[0].metric("Pooled map changed by", f"{100 * ps['change']:.1f}%", f"feature map: {100 * ps['map_change']:.1f}%", delta_color="off", delta_arrow="off")
    m[1].metric("Pooled values unchanged", f"{100 * ps['unchanged']:.0f}%", f"feature map: {100 * ps['map_unchanged']:.0f}%", delta_color="off", delta_arrow="off")
    if ps["coarse_residual"] is not None and (dy or dx):
        m[2].metric(f"Shift ÷ stride = ({dy // pstride}, {dx // pstride})", "0 exactly" if ps["coarse_residual"] == 0 else f"{ps['coarse_residual']:.3g}",
                    "pooled map just moves", delta_color="off", delta_arrow="off")
    st.caption(
        f"Here the input moves by ({dy}, {dx}) and nothing is shifted back: the numbers say how much the {POOL_LABELS[pool].lower()}-pooled "
        "map changed compared with the feature map itself (relative change ‖after − before‖/‖before‖, and the share of "
        "non-zero values that stayed exactly the same). A shift by a multiple of the stride just moves the pooled map on its "
        "coarser grid."
    )
    ui.plot(figure("invariance_figure", curve, f"{POOL_LABELS[pool].lower()}-pooled map"), key="rp_eq_curve")
    one = 1 if len(curve["shift"]) > 1 else 0
    st.caption(
        f"The shift grows from 0 to {int(curve['shift'][-1])} pixels. At 1 pixel the feature map changes by "
        f"{100 * curve['map_change'][one]:.0f}% but the pooled map by {100 * curve['pooled_change'][one]:.0f}%, and "
        f"{100 * curve['pooled_unchanged'][one]:.0f}% of the pooled values do not change at all (feature map: "
        f"{100 * curve['map_unchanged'][one]:.0f}%): as the report says, after pooling the output is less likely to change "
        "if a feature moves slightly. Max pooling keeps a value as long as the winner stays inside its window. When the shift "
        "reaches the stride the pooled map has moved by a whole cell: then it is equivariant on its coarser grid, not unchanged."
    )
    ui.download_csv(np.stack([curve["shift"], curve["map_change"], curve["pooled_change"], curve["map_unchanged"], curve["pooled_unchanged"]], axis=1),
                    "shift_curve.csv", "Curve as CSV", key="rp_dl_curve")


st.header("3. Pooling in detail")
pooling_detail(pipe, pool, psize, pstride, ppad)

st.header("4. Why CNNs work")
st.markdown("The report gives three reasons a convolutional layer beats a fully connected one on images: **parameter sharing**, "
            "**sparse interactions** and **equivariance to translation**. Each tab measures one.")
tab_p, tab_rf, tab_eq = st.tabs(["Parameter sharing", "Sparse interactions: receptive fields", "Equivariance lab"])
with tab_p:
    parameter_sharing()
with tab_rf:
    receptive_fields(gray)
with tab_eq:
    equivariance_lab(gray, bank_list, bank_labels, act, slope, pool, psize, pstride)

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
