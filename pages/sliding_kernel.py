"""Sliding kernel: watch the kernel compute every output value, then see convolution as a matrix."""

import streamlit as st

from cnn_viz import ui
from cnn_viz.common import fmt, images, kernels, text
from cnn_viz.figures import palette
from cnn_viz.sliding import figures, gif, ops
from cnn_viz.ui import cached

FIGURE1 = "Figure 1 of the report (3×4 input, 2×2 kernel)"
DIGIT = "Handwritten digit (28×28)"
IMAGE = "Any image (shrunk to at most 32×32)"
GRID = "Type a small grid"
SOURCES = [FIGURE1, DIGIT, IMAGE, GRID]
KERNEL_MODES = ("Same 2-D kernel on R, G and B", "A different slice per channel")

st.title("Sliding kernel")
ui.explain(
    "The kernel starts on the top-left patch, multiplies each of its weights with the pixel under it, adds the "
    "products up into **one entry of the feature map**, slides by the stride, and repeats until the map is full. "
    "Step through it by hand, or press **Play** under the picture to watch the whole sweep."
)

# ---------------------------------------------------------------------------------- inputs
def _source_changed() -> None:
    """Each input gets the padding it is usually shown with (the digit: 28×28 in, 28×28 out for 3×3)."""
    st.session_state["sk_padding"] = 1 if st.session_state["sk_source"] in (DIGIT, IMAGE) else 0
    st.session_state["sk_pos"] = 1


with st.sidebar:
    st.header("Input")
    source = st.radio("Input", SOURCES, key="sk_source", bind="query-params", label_visibility="collapsed", on_change=_source_changed)
    if source == FIGURE1:
        image = ops.FIGURE1_INPUT
        st.caption("The report's Figure 1: input cells a … l, kernel w x / y z. Six patches make a 2×3 map.")
    elif source == DIGIT:
        image = cached.load_sample("Handwritten 7 (MNIST)")
        st.caption("A 28×28 MNIST digit: 784 positions with padding 1, the size the report's network reads.")
    elif source == IMAGE:
        picked = ui.image_picker("sk_img", default="Star chart (edges at every angle)", min_side=3, camera=False)
        image = images.resize_max(picked.image, ops.PICTURE_SIDE)
        st.caption(f"{text.md(picked.name)}, shrunk to {image.shape[0]}×{image.shape[1]} so every position can be shown.")
    else:
        image = ui.typed_grid("sk_grid", ops.grid_seed, lambda cells: ops.parse_grid(cells, max_side=12))

    st.header("Kernel")
    figure1_kernel = source == FIGURE1 and st.toggle("Use Figure 1's kernel", value=True, key="sk_fig1_kernel", bind="query-params")
    if figure1_kernel:
        kernel = ops.FIGURE1_KERNEL
        st.dataframe(ops.table(kernel), width="content")
    else:
        _, kernel = ui.colour_kernel_editor(
            "sk_k", image is not None and image.ndim == 3, mode_key="sk_kmode", label="3-channel kernel", modes=KERNEL_MODES,
            help="A conv layer's kernel has one slice per input channel; the three products are summed.",
        )
    bias = st.number_input("Bias b", -kernels.MAX_ABS_VALUE, kernels.MAX_ABS_VALUE, value=0.0, step=0.1, format="%.3g", key="sk_bias", bind="query-params",
                           help="Added to every output value.")

    st.header("Sliding")
    sliding = ui.sliding_settings("sk_", unit="cells", max_stride=64, max_padding=8)
    st.header("Playback")
    fps = st.select_slider("Speed (steps per second)", figures.SPEEDS, value=10, key="sk_fps", bind="query-params",
                           help="Play runs in your browser at least this fast: the browser draws on its display refreshes, "
                           "so 10/s plays at about 12/s and 30 or 60/s as fast as it can draw. The GIF uses the exact rate.")

# ---------------------------------------------------------------------------------- the sweep
if image is None or kernel is None:
    st.info("Fix the input or the kernel in the sidebar (the message there says what is wrong) to see the sweep.")
    st.stop()

sweep, failure = ops.try_sweep(image, kernel, **sliding._asdict(), bias=bias, labels=ops.FIGURE1_LABELS if figure1_kernel else None)
if failure:
    st.error(f"This kernel cannot slide over this input: {failure.reason}")
    st.caption(f"{failure.settings}. Change a setting in the sidebar; nothing else is lost.")
    st.stop()

# The animation is the same at every step: built once per sweep for the server and drawn outside the fragment
# below, so a step neither rebuilds nor resends it; the fragment moves it to the step in the browser.
ui.plot(ui.figure(figures.sweep_figure, sweep, fps=fps), key="sk_anim")
ui.play_shortcut("sk_anim")
st.caption(
    "Left: the input (hatched cells are padding), the kernel's taps outlined in orange. Middle: the products "
    f"I·K at this position ({palette.sign_words()}). Right: the feature map, filled in one cell per step; "
    "grey cells are not computed yet. **Play** runs in your browser from the current step (no server work per "
    "frame); the slider under the picture scrubs there too (in strides of a few steps on long sweeps). The buttons "
    "and the Position slider below move the step that the picture and the rest of the page (formula, matrix row) follow. "
    "Keys: **N** step, **B** back, **F** first, **L** last, **P** play / pause; the Position slider moves with the arrow keys."
)


# Everything below follows the step: a fragment, so a step (button, key, Position slider) reruns only this part
# (not the sidebar, the sweep, the animation or the app's frame). M is built once per sweep; matrix_at_step lights the row.
@st.fragment
def follow_the_step(sweep: ops.Sweep, fps: float) -> None:
    step = sweep.step(ui.stepper("sk", sweep.n_steps))
    ui.show_frame("sk_anim", step.k, sweep.n_steps, figures.slider_stop(sweep.n_steps, step.k))
    st.caption(sweep.alt(step.k))

    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Position", f"{step.k + 1} of {sweep.n_steps}")
    m2.metric(f"Output A({step.i}, {step.j})", fmt.num(step.value), help="The value this step computes.")
    m3.metric("Feature map", sweep.out_size)
    m4.metric("Padded input", sweep.padded_size)
    st.latex(sweep.output_size_latex())
    st.caption("The output-size formula with the current numbers: n input cells, padding p, kernel size k, dilation d, stride s.")
    coverage = sweep.input_coverage()
    if coverage.unseen:
        st.warning(f"{coverage.unseen} of the {coverage.cells} input cells are never under a tap: the stride is larger than the kernel's reach, so they do not affect the map.")

    # GIF export: drawn on request (a few seconds for hundreds of steps), offered again while the input stays the same.
    ui.file_on_request(
        "sk_make_gif", "🎞️ Make a GIF of the sweep", lambda: cached.make_gif(sweep, fps), made_for=(sweep.key(), fps),
        help=f"960×540 (16:9) for slides, at the speed set in the sidebar: every step, up to {gif.MAX_FRAMES} frames.",
        download_label="⬇️ Download GIF", download_key="sk_dl_gif", file_name="sliding_kernel.gif", mime="image/gif",
        idle=f"The GIF shows every step at the speed set in the sidebar, ready to drop into slides. At most {gif.MAX_FRAMES} "
        "frames: a longer sweep gets one frame every 2nd, 3rd, … step (the last step always).",
    )

    # ---------------------------------------------------------------------------------- this step
    st.subheader(f"Step {step.k + 1}: computing A({step.i}, {step.j})")
    left, right = st.columns([1, 1], gap="large")
    ui.plot(ui.figure(figures.step_grids_figure, sweep, step.k), key="sk_grids", container=left)
    left.caption(
        "The patch under the kernel, the kernel, and their element-wise product"
        + (": one row per colour channel; the three sums add up (plus the bias) to one output value." if sweep.channels > 1 else ". Adding the products (plus the bias) gives the output value.")
    )
    right.markdown(f"**Where the kernel is.** {step.where}")
    right.markdown(f"**What it adds up.** {step.what}")
    st.latex(sweep.formula_latex(step.k))
    st.caption(
        "The report's formula with this step's numbers: I is the padded input, so its row and column count from "
        "the corner of the padding; i, j is the output cell, s the stride, d the dilation."
    )

    # ---------------------------------------------------------------------------------- the matrix
    st.subheader("Convolution as a matrix")
    ui.explain(
        "Flatten the input into a vector vec(I) (row after row). Every output value is a weighted sum of input values, "
        "so the whole convolution is one matrix M with **vec(A) = M · vec(I) + b**. Row r of M is the kernel position r: "
        "it holds the kernel's weights at the pixels under it and zeros everywhere else."
    )
    mat = cached.matrix_view(sweep)
    a1, a2, a3, a4 = st.columns(4)
    a1.metric("Shape of M", f"{mat.rows} × {mat.cols}")
    a2.metric("Nonzeros of M", f"{mat.nnz:,}", help="Weights that are exactly zero are not counted; taps on zero padding have no column.")
    a3.metric("Dense layer (m × n)", f"{mat.dense:,}", delta=f"{mat.dense_per_nonzero:,.0f}× more", delta_color="off")
    a4.metric("Kernel weights", f"{mat.weights}", help="Parameter sharing: every row of M reuses these same weights.")
    mcol, tcol = st.columns([3, 2], gap="large")
    with mcol:
        ui.plot(figures.matrix_at_step(ui.figure(figures.sweep_matrix_figure, sweep).data(), mat.matrix, step.k), key="sk_matrix")
        st.caption(
            f"M for the current settings; the orange row is step {step.k + 1} (A({step.i}, {step.j})), its marked columns the pixels under "
            "the kernel. Grey lines cut M into blocks, one per output row and input row: inside a block the same weights "
            "run along diagonals (a Toeplitz block), and the blocks repeat down the block diagonals: a doubly block Toeplitz "
            "matrix. Hover for a weight; drag a box to zoom into a block."
        )
    with tcol:
        st.markdown(
            f"- **Sparse interactions.** {mat.sparse_text}\n"
            f"- **Parameter sharing.** Those nonzeros are copies of only {mat.weights} numbers, the kernel's weights, "
            "repeated on every row.\n"
            f"- **It is the same computation.** max |M·vec(I) + b − vec(A)| = {mat.residual:.1e} for this input.\n"
            "- **Mᵀ** maps a feature map back to input space: it is the transposed convolution (the backward pass of "
            "a conv layer, and the 'deconvolution' of decoders)."
        )
        if mat.csv_ok:
            ui.download_csv(mat.matrix.toarray, "conv_matrix.csv", "Download M as CSV", key="sk_dl_matrix")


follow_the_step(sweep, fps)

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
