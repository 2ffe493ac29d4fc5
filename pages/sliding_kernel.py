"""Sliding kernel: watch the kernel compute every output value, then see convolution as a matrix."""

import hashlib

import numpy as np
import pandas as pd
import streamlit as st

from cnn_viz.common import fmt, images
from cnn_viz.sliding import ops as sliding
from cnn_viz.sliding import gif as sliding_gif
from cnn_viz.sliding import figures as sliding_plots
from cnn_viz import ui
from cnn_viz.ui import cached
from cnn_viz.common.conv import PADDING_MODES

FIGURE1 = "Figure 1 of the report (3×4 input, 2×2 kernel)"
DIGIT = "Handwritten digit (28×28)"
IMAGE = "Any image (shrunk to at most 32×32)"
GRID = "Type a small grid"
SOURCES = [FIGURE1, DIGIT, IMAGE, GRID]
MAX_SIDE = 32
SAME_ON_ALL = "Same 2-D kernel on R, G and B"
EACH = "A different slice per channel"
state = st.session_state

st.title("Sliding kernel")
st.markdown(
    "The kernel starts on the top-left patch, multiplies each of its weights with the pixel under it, adds the "
    "products up into **one entry of the feature map**, slides by the stride, and repeats until the map is full. "
    "Step through it by hand, or press **Play** under the picture to watch the whole sweep."
)

# ---------------------------------------------------------------------------------- inputs
labels = (None, None)


def _source_changed() -> None:
    """Each input gets the padding it is usually shown with (the digit: 28×28 in, 28×28 out for 3×3)."""
    state["sk_padding"] = 1 if state["sk_source"] in (DIGIT, IMAGE) else 0
    state["sk_pos"] = 1


with st.sidebar:
    st.header("Input")
    source = st.radio("Input", SOURCES, key="sk_source", label_visibility="collapsed", on_change=_source_changed)
    if source == FIGURE1:
        image = sliding.FIGURE1_INPUT
        st.caption("The report's Figure 1: input cells a … l, kernel w x / y z. Six patches make a 2×3 map.")
    elif source == DIGIT:
        image = cached.load_sample("Handwritten 7 (MNIST)")
        st.caption("A 28×28 MNIST digit: 784 positions with padding 1, the size the report's network reads.")
    elif source == IMAGE:
        picked = ui.image_picker("sk_img", default="Star chart (edges at every angle)", camera=False)
        image = images.resize_max(picked.image, MAX_SIDE)
        st.caption(f"{picked.name}, shrunk to {image.shape[0]}×{image.shape[1]} so every position can be shown.")
    else:
        c1, c2 = st.columns(2)
        rows = int(c1.number_input("Rows", 1, 12, 5, key="sk_grid_rows"))
        cols = int(c2.number_input("Columns", 1, 12, 5, key="sk_grid_cols"))
        seed = (np.add.outer(np.arange(rows), np.arange(cols)) % 4).astype(float)
        grid = st.data_editor(
            pd.DataFrame(seed, columns=[str(j) for j in range(cols)]),
            key=f"sk_grid_{rows}x{cols}",
            num_rows="fixed",
            column_config={str(j): st.column_config.NumberColumn(str(j), step=0.5, format="%.4g") for j in range(cols)},
        )
        try:
            image = sliding.parse_grid(grid.to_numpy(dtype=object), max_side=12)
        except ValueError as exc:
            st.error(str(exc))
            image = None
    channels = 3 if image is not None and np.ndim(image) == 3 else 1

    st.header("Kernel")
    if source == FIGURE1 and st.toggle("Use Figure 1's kernel", value=True, key="sk_fig1_kernel"):
        kernel = sliding.FIGURE1_KERNEL
        labels = (sliding.FIGURE1_INPUT_LABELS, sliding.FIGURE1_KERNEL_LABELS)
        st.dataframe(pd.DataFrame(kernel, columns=["0", "1"]), width="content")
    elif channels == 3:
        mode = st.radio("3-channel kernel", [SAME_ON_ALL, EACH], key="sk_kmode",
                        help="A conv layer's kernel has one slice per input channel; the three products are summed.")
        if mode == SAME_ON_ALL:
            kernel = ui.kernel_editor("sk_k", url=False)
        else:
            kernel = ui.channel_kernel_editor("sk_k")
    else:
        kernel = ui.kernel_editor("sk_k", url=False)
    bias = st.number_input("Bias b", value=0.0, step=0.1, format="%.3g", key="sk_bias", help="Added to every output value.")

    st.header("Sliding")
    c1, c2 = st.columns(2)
    stride = int(c1.number_input("Stride", 1, 64, 1, key="sk_stride", help="How many cells the kernel moves each step."))
    dilation = int(c2.number_input("Dilation", 1, 8, 1, key="sk_dilation", help="Gap between taps: d = 2 spreads a 3×3 kernel over 5×5 cells."))
    c1, c2 = st.columns(2)
    padding = int(c1.number_input("Padding", 0, 8, key="sk_padding", help="Cells added on every side (hatched in the picture)."))
    padding_mode = c2.selectbox("Padding mode", PADDING_MODES, key="sk_padding_mode", help="What the padding cells hold: zeros, a mirror, the edge, or the opposite side.")
    st.header("Playback")
    fps = st.select_slider("Speed (steps per second)", sliding_plots.SPEEDS, value=10, key="sk_fps",
                           help="Play runs in your browser at least this fast: the browser draws on its display refreshes, "
                           "so 10/s plays at about 12/s and 30 or 60/s as fast as it can draw. The GIF uses the exact rate.")

# ---------------------------------------------------------------------------------- the sweep
if image is None or kernel is None:
    st.info("Fix the input or the kernel in the sidebar (the message there says what is wrong) to see the sweep.")
    st.stop()

chw = images.hwc_to_chw(np.asarray(image, dtype=np.float64))
try:
    sweep = sliding.make_sweep(
        chw, kernel, stride=stride, padding=padding, dilation=dilation, padding_mode=padding_mode, bias=bias,
        input_labels=labels[0], kernel_labels=labels[1],
    )
except ValueError as exc:
    st.error(f"This kernel cannot slide over this input: {exc}")
    st.caption(f"Input {chw.shape[1]}×{chw.shape[2]}, kernel {np.shape(kernel)[-2]}×{np.shape(kernel)[-1]}, stride {stride}, padding {padding}, dilation {dilation}. Change a setting in the sidebar; nothing else is lost.")
    st.stop()

n = sweep.n_steps
if state.get("sk_pos", 1) > n:
    state["sk_pos"] = n


def _move(delta: int | None = None, to: int | None = None) -> None:
    k = state.get("sk_pos", 1)
    state["sk_pos"] = int(np.clip(to if to is not None else k + delta, 1, n))


c0, c1, c2, c3, c4 = st.columns([1, 1, 1, 1, 6], vertical_alignment="bottom")
c0.button("⏮ First", key="sk_first", on_click=_move, kwargs=dict(to=1), width="stretch")
c1.button("◀ Back", key="sk_back", on_click=_move, kwargs=dict(delta=-1), width="stretch")
c2.button("Step ▶", key="sk_next", on_click=_move, kwargs=dict(delta=1), width="stretch", type="primary")
c3.button("Last ⏭", key="sk_last", on_click=_move, kwargs=dict(to=n), width="stretch")
if n > 1:
    c4.slider("Position", 1, n, key="sk_pos", help="Scrub to any position; the step buttons move one at a time.")
else:
    state["sk_pos"] = 1
    c4.caption("This kernel fits only once: there is a single position.")
k = state["sk_pos"] - 1
i, j = sweep.position(k)
ho, wo = sweep.out_shape

m1, m2, m3, m4 = st.columns(4)
m1.metric("Position", f"{k + 1} of {n}")
m2.metric(f"Output A({i}, {j})", fmt.num(sweep.values[i, j]), help="The value this step computes.")
m3.metric("Feature map", f"{ho} × {wo}")
m4.metric("Padded input", f"{sweep.padded.shape[1]} × {sweep.padded.shape[2]}" + (f" × {sweep.channels}" if sweep.channels > 1 else ""))
st.latex(sweep.output_size_latex())
st.caption("The output-size formula with the current numbers: n input cells, padding p, kernel size k, dilation d, stride s.")

ui.plot(sliding_plots.sweep_figure(sweep, k, fps=fps), key="sk_anim")
st.caption(
    "Left: the input (hatched cells are padding), the kernel's taps outlined in orange. Middle: the products "
    "I·K at this position (red positive, blue negative). Right: the feature map, filled in one cell per step; "
    "grey cells are not computed yet. **Play** runs in your browser from the current step (no server work per "
    "frame); the slider under the picture scrubs there too (in strides of a few steps on long sweeps). The buttons "
    "and the Position slider above move the step that the rest of the page (formula, matrix row) follows."
)
seen = sweep.coverage()[~sweep.padding_mask]
if (seen == 0).any():
    st.warning(f"{int((seen == 0).sum())} of the {seen.size} input cells are never under a tap: the stride is larger than the kernel's reach, so they do not affect the map.")

# GIF export: drawn on request (a few seconds for hundreds of steps), kept for this input.
sig = hashlib.sha1(
    b"".join(np.ascontiguousarray(a, dtype=np.float64).tobytes() for a in (sweep.image, sweep.kernel))
    + repr((sweep.stride, sweep.padding, sweep.dilation, sweep.padding_mode, sweep.bias, fps)).encode()
).hexdigest()
g1, g2, g3 = st.columns([3, 2, 4], vertical_alignment="center")
if g1.button("🎞️ Make a GIF of the sweep", key="sk_make_gif", help="960×540 (16:9) for slides, every step, at the speed set in the sidebar."):
    bar = g3.progress(0.0, text="Drawing the frames…")
    data = sliding_gif.sweep_gif(sweep, fps=fps, progress=lambda f: bar.progress(min(1.0, f), text=f"Drawing the frames… {f:.0%}"))
    bar.empty()
    state["sk_gif"] = (sig, data)
if state.get("sk_gif", (None,))[0] == sig:
    gif = state["sk_gif"][1]
    g2.download_button("⬇️ Download GIF", gif, file_name="sliding_kernel.gif", mime="image/gif", key="sk_dl_gif")
    g3.caption(f"{n} frames, 960×540, {len(gif) / 1e6:.1f} MB, {n / fps:.0f} s at {fps} steps per second.")
else:
    g3.caption("The GIF shows every step at the speed set in the sidebar, ready to drop into slides.")

# ---------------------------------------------------------------------------------- this step
st.subheader(f"Step {k + 1}: computing A({i}, {j})")
left, right = st.columns([1, 1], gap="large")
with left:
    ui.plot(sliding_plots.step_grids_figure(sweep, k), key="sk_grids")
    st.caption(
        "The patch under the kernel, the kernel, and their element-wise product"
        + (": one row per colour channel; the three sums add up (plus the bias) to one output value." if sweep.channels > 1 else ". Adding the products (plus the bias) gives the output value.")
    )
with right:
    st.markdown(
        f"**Where the kernel is.** Output cell ({i}, {j}) is step {k + 1} of {n} (row by row). Its first tap sits at "
        f"row {i}·{sweep.stride[0]} = {i * sweep.stride[0]}, column {j}·{sweep.stride[1]} = {j * sweep.stride[1]} of the "
        f"padded input; the taps are {sweep.dilation[0]} cell{'s' if sweep.dilation[0] > 1 else ''} apart"
        + (" (dilation: the kernel reaches further with the same number of weights)." if max(sweep.dilation) > 1 else ".")
    )
    st.markdown(
        f"**What it adds up.** {sweep.kernel.size} products"
        + (f" ({sweep.channels} channels × {sweep.kernel_shape[0]}×{sweep.kernel_shape[1]})" if sweep.channels > 1 else "")
        + (f", plus the bias {fmt.num(sweep.bias)}" if sweep.bias else "")
        + f", give A({i}, {j}) = {fmt.num(sweep.values[i, j])}."
    )
st.latex(sweep.formula_latex(k))
st.caption(
    "The report's formula with this step's numbers: I is the padded input, so its row and column count from "
    "the corner of the padding; i, j is the output cell, s the stride, d the dilation."
)

# ---------------------------------------------------------------------------------- the matrix
st.subheader("Convolution as a matrix")
st.markdown(
    "Flatten the input into a vector vec(I) (row after row). Every output value is a weighted sum of input values, "
    "so the whole convolution is one matrix M with **vec(A) = M · vec(I) + b**. Row r of M is the kernel position r: "
    "it holds the kernel's weights at the pixels under it and zeros everywhere else."
)
M = sliding.conv_matrix_of(sweep)
counts = sliding.matrix_counts(sweep)
check = float(np.max(np.abs(M @ sweep.image.ravel() + sweep.bias - sweep.values.ravel())))
a1, a2, a3, a4 = st.columns(4)
a1.metric("Shape of M", f"{counts['rows']} × {counts['cols']}")
a2.metric("Nonzeros of M", f"{counts['nnz']:,}", help="Weights that are exactly zero are not counted; taps on zero padding have no column.")
a3.metric("Dense layer (m × n)", f"{counts['dense']:,}", delta=f"{counts['dense'] / max(counts['nnz'], 1):,.0f}× more", delta_color="off")
a4.metric("Kernel weights", f"{counts['weights']}", help="Parameter sharing: every row of M reuses these same weights.")
mcol, tcol = st.columns([3, 2], gap="large")
with mcol:
    ui.plot(sliding_plots.matrix_figure(M, sweep, k), key="sk_matrix")
    st.caption(
        f"M for the current settings; the orange row is step {k + 1} (A({i}, {j})), its marked columns the pixels under "
        "the kernel. Grey lines cut M into blocks, one per output row and input row: inside a block the same weights "
        "run along diagonals (a Toeplitz block), and the blocks repeat down the block diagonals: a doubly block Toeplitz "
        "matrix. Hover for a weight; drag a box to zoom into a block."
    )
with tcol:
    st.markdown(
        f"- **Sparse interactions.** A fully connected layer from {counts['cols']} inputs to {counts['rows']} outputs "
        f"needs m × n = {counts['dense']:,} weights; the convolution touches only {counts['connections']:,} "
        f"(input, output) pairs, k × n with k = {sweep.kernel.size} taps, and M has {counts['nnz']:,} nonzeros "
        f"({100 * counts['nnz'] / counts['dense']:.2f}% of the entries).\n"
        f"- **Parameter sharing.** Those nonzeros are copies of only {counts['weights']} numbers, the kernel's weights, "
        "repeated on every row.\n"
        f"- **It is the same computation.** max |M·vec(I) + b − vec(A)| = {check:.1e} for this input.\n"
        "- **Mᵀ** maps a feature map back to input space: it is the transposed convolution (the backward pass of "
        "a conv layer, and the 'deconvolution' of decoders)."
    )
    if counts["rows"] * counts["cols"] <= 4_000_000:
        ui.download_csv(M.toarray(), "conv_matrix.csv", "Download M as CSV", key="sk_dl_matrix")

with st.expander("The maths"):
    st.latex(r"A(i,j) = \sum_{c}\sum_{m=0}^{k_h-1}\sum_{n=0}^{k_w-1} I_c(i\,s + m\,d,\; j\,s + n\,d)\,K_c(m,n) + b")
    st.latex(r"n_\text{out} = \left\lfloor \frac{n + 2p - d(k-1) - 1}{s} \right\rfloor + 1")
    st.latex(r"\operatorname{vec}(A) = M\,\operatorname{vec}(I) + b, \qquad \langle M x, y\rangle = \langle x, M^\top y\rangle")
    st.markdown(
        "Deep-learning 'convolution' is cross-correlation: the kernel is not flipped. With zero padding and stride 1 "
        "M is doubly block Toeplitz; a stride keeps every s-th row of it, a dilation spreads the diagonals apart, "
        "and reflect / replicate / circular padding fold the padding taps back onto border pixels (circular padding "
        "makes M doubly block *circulant*, diagonalised by the 2-D DFT)."
    )
