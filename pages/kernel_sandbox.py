"""Kernel sandbox: any kernel over any image, with stride, padding, dilation and ReLU."""

import numpy as np
import streamlit as st

from cnn_viz.common import fmt, kernels
from cnn_viz.figures import builders as plots
from cnn_viz.figures import palette
from cnn_viz.sandbox import core as sandbox
from cnn_viz import ui
from cnn_viz.common.conv import PADDING_MODES

st.title("Kernel sandbox")
st.markdown(
    "A convolutional layer slides a small grid of weights, the **kernel**, over the image. At every position it "
    "multiplies the kernel with the patch of pixels under it and adds the products up: one number of the "
    "**feature map**. Pick a preset or type your own numbers, and watch what the kernel detects."
)

with st.sidebar:
    st.header("Image")
    picked = ui.image_picker("img")
    colour = picked.image.ndim == 3
    colour_mode = "each channel"
    if colour:
        colour_mode = st.radio(
            "Colour image", sandbox.COLOUR_MODES, key="colour_mode", bind="query-params",
            help="'each channel': the same kernel on R, G and B separately, three maps. "
            "'3-channel kernel': one kernel slice per channel, summed into one map, as a conv layer does.",
        )
    st.header("Kernel")
    if colour and colour_mode == "3-channel kernel":
        kernel = ui.channel_kernel_editor("k")
    else:
        kernel = ui.kernel_editor("k")
    st.header("Sliding")
    c1, c2 = st.columns(2)
    stride = c1.number_input("Stride", 1, 16, 1, key="stride", bind="query-params", help="How many pixels the kernel moves each step.")
    dilation = c2.number_input("Dilation", 1, 8, 1, key="dilation", bind="query-params", help="Gap between kernel taps: d = 2 spreads a 3×3 kernel over 5×5 pixels.")
    c1, c2 = st.columns(2)
    padding = c1.number_input("Padding", 0, 16, 0, key="padding", bind="query-params", help="Extra border pixels added on every side.")
    padding_mode = c2.selectbox("Padding mode", PADDING_MODES, key="padding_mode", bind="query-params")
    relu = st.toggle("ReLU on the output", key="relu", bind="query-params", help="max(0, x): keep only the positive responses.")
    flip = st.toggle("Flip the kernel (true convolution)", key="flip", bind="query-params",
                     help="Deep learning 'convolution' is cross-correlation; signal processing flips the kernel first.")

img = picked.image
settings = sandbox.Settings(int(stride), int(padding), padding_mode, int(dilation), bool(relu), bool(flip))

result, error = None, None
if kernel is not None:
    try:
        result = sandbox.apply_kernel(img, kernel, settings, colour_mode)
    except ValueError as exc:
        error = f"Cannot slide this kernel: {exc}"

col_in, col_k, col_out = st.columns([5, 3, 5], gap="medium")
with col_in:
    st.subheader("Input")
    ui.plot(plots.image_figure(img, height=430), key="input_fig")
    st.caption(f"{picked.name}: {img.shape[0]}×{img.shape[1]} pixels, {'3 channels (RGB)' if colour else '1 channel'}. Hover for pixel values.")

with col_k:
    st.subheader("Kernel")
    if kernel is None:
        st.info("Fix the kernel in the sidebar to see the feature map.")
    else:
        for idx, k2 in enumerate([kernel] if kernel.ndim == 2 else list(kernel)):
            title = None if kernel.ndim == 2 else f"slice {'RGB'[idx]}"
            ui.plot(plots.kernel_figure(k2, title=title, height=min(320, 70 + 45 * k2.shape[0])), key=f"kernel_fig_{idx}")
        st.caption("Red weights are positive, blue negative. Each output value is the sum of these weights times the pixels under them.")
        ui.download_csv(kernel if kernel.ndim == 2 else kernel.reshape(-1, kernel.shape[-1]), "kernel.csv", "Kernel as CSV", key="dl_kernel")

maps = None
with col_out:
    st.subheader("Feature map")
    if error:
        st.error(error)
    elif result is not None:
        maps = result.maps if result.maps.ndim == 3 else result.maps[None]
        zmax = float(np.max(np.abs(maps))) or 1.0
        if len(maps) == 1:
            ui.plot(plots.signed_map_figure(maps[0], height=430, zmax=zmax), key="out_fig_0")
            ui.download_png(lambda: palette.signed_to_rgb(maps[0], zmax), "feature_map.png", "Feature map as PNG", key="dl_map_0")
        st.caption(
            f"Output {maps.shape[1]}×{maps.shape[2]}{' ×' + str(len(maps)) if len(maps) > 1 else ''}, values from "
            f"{maps.min():.3g} to {maps.max():.3g}. Red is positive, blue negative, white zero: an edge kernel answers "
            "with both signs on the two sides of an edge" + (" (ReLU has removed the negative side)." if relu else ".")
            + (" One map per colour channel, below." if len(maps) > 1 else "")
        )
    else:
        st.info("No feature map until the kernel is valid.")

if maps is not None and len(maps) > 1:
    for i, (c, m, label) in enumerate(zip(st.columns(len(maps)), maps, result.labels)):
        with c:
            ui.plot(plots.signed_map_figure(m, title=label, height=380, zmax=zmax, max_side=320), key=f"out_fig_{i}")
            ui.download_png(lambda m=m: palette.signed_to_rgb(m, zmax), f"feature_map_{'rgb'[i]}.png", f"{label} as PNG", key=f"dl_map_{i}")
    st.caption("One kernel, three channels: each colour channel gets its own feature map on one shared colour scale.")

if result is not None:
    st.markdown("**Output size**, from the report's formula (input n, kernel k, padding p, dilation d, stride s):")
    st.latex(result.formula)
    for note in result.notes:
        st.warning(note)

if kernel is not None:
    show = kernel if kernel.ndim == 2 else kernel[0]
    sep = kernels.separability(show)
    c1, c2 = st.columns([3, 2])
    with c1:
        st.markdown(
            f"**Rank {sep.rank}**{' (slice R)' if kernel.ndim == 3 else ''}: the numerical rank of the {show.shape[0]}×{show.shape[1]} "
            "grid by SVD, singular values " + ", ".join(fmt.cells(sep.singular_values[:5]))
            + ("…" if sep.singular_values.size > 5 else "") + "."
        )
        if sep.rank == 1:
            st.markdown(
                "Rank 1 means **separable**: the kernel is a column times a row, K = u vᵀ, so the 2-D filter can run as two "
                f"1-D passes: {show.shape[0]} + {show.shape[1]} multiplications per pixel instead of {show.size}."
            )
        else:
            st.markdown("Not separable: no single column times row gives this kernel; the 2-D filter needs all "
                        f"{show.size} multiplications per pixel.")
    if sep.rank == 1:
        with c2:
            ui.plot(plots.separable_figure(sep.column, sep.row), key="sep_fig")

with st.expander("The maths"):
    st.markdown("One entry of the feature map is a dot product of the kernel with one patch of the padded image:")
    st.latex(r"A(i,j) = \sum_{m=0}^{k_h-1}\sum_{n=0}^{k_w-1} I(i\,s + m\,d,\; j\,s + n\,d)\, K(m,n)")
    st.markdown(
        "with stride *s* and dilation *d*. This is **cross-correlation**: the kernel is not flipped, as in PyTorch's "
        "`conv2d`. Flipping it gives the convolution of signal processing; for a symmetric kernel they agree. "
        "Padding modes decide what lies outside the image: zeros, a mirror image (reflect), the edge pixel repeated "
        "(replicate) or the opposite side (circular)."
    )
