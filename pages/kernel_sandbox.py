"""Kernel sandbox: any kernel over any image, with stride, padding, dilation and ReLU."""

import streamlit as st

from cnn_viz import ui
from cnn_viz.common import fmt, text
from cnn_viz.figures import builders, palette
from cnn_viz.sandbox import core as sandbox

st.title("Kernel sandbox")
ui.explain(
    "A convolutional layer slides a small grid of weights, the **kernel**, over the image. At every position it "
    "multiplies the kernel with the patch of pixels under it and adds the products up: one number of the "
    "**feature map**. Pick a preset or type your own numbers, and watch what the kernel detects."
)

with st.sidebar:
    st.header("Image")
    picked = ui.image_picker("img", min_side=8)
    colour = picked.image.ndim == 3
    st.header("Kernel")
    colour_mode, kernel = ui.colour_kernel_editor("k", colour)
    st.header("Sliding")
    sliding = ui.sliding_settings(unit="pixels", max_stride=16, max_padding=16)
    relu = st.toggle("ReLU on the output", key="relu", bind="query-params", help="max(0, x): keep only the positive responses.")
    flip = st.toggle("Flip the kernel (true convolution)", key="flip", bind="query-params",
                     help="Deep learning 'convolution' is cross-correlation; signal processing flips the kernel first.")

img = picked.image
run = sandbox.run(img, kernel, sandbox.Settings(**sliding._asdict(), relu=relu, flip=flip), colour_mode)
result, view = run.result, run.kernel

col_in, col_k, col_out = st.columns([5, 3, 5], gap="medium")
with col_in:
    st.subheader("Input")
    ui.plot(ui.figure(builders.image_figure, img, height=430), key="input_fig")
    st.caption(fmt.describe_image(picked.name, img) + ". Hover for pixel values.")

with col_k:
    st.subheader("Kernel")
    if view is None:
        st.info("Fix the kernel in the sidebar to see the feature map.")
    else:
        for idx, (title, k2) in enumerate(zip(view.titles, view.slices)):
            ui.plot(ui.figure(builders.kernel_figure, k2, title=title, height=view.figure_height), key=f"kernel_fig_{idx}")
        st.caption(view.alt + f" Weights: {palette.sign_words()}. Each output value is the sum of these weights times the pixels under them.")
        ui.download_csv(view.table, "kernel.csv", "Kernel as CSV", key="dl_kernel")

with col_out:
    st.subheader("Feature map")
    if run.error:
        st.error(run.error)
    elif result is None:
        st.info("No feature map until the kernel is valid.")
    else:
        if result.n_maps == 1:
            ui.plot(ui.figure(builders.signed_map_figure, result.stack[0], height=430, zmax=result.zmax), key="out_fig_0")
            ui.download_png(lambda: result.rgb(0), "feature_map.png", "Feature map as PNG", key="dl_map_0")
        st.caption(result.caption)

if result is not None and result.n_maps > 1:
    for i, (c, label) in enumerate(zip(st.columns(result.n_maps), result.labels)):
        ui.plot(ui.figure(builders.signed_map_figure, result.stack[i], title=label, height=380, zmax=result.zmax), key=f"out_fig_{i}",
                container=c)
        ui.download_png(lambda i=i: result.rgb(i), f"feature_map_{'rgb'[i]}.png", f"{label} as PNG", key=f"dl_map_{i}", container=c)
    st.caption("One kernel, three channels: each colour channel gets its own feature map on one shared colour scale.")

if result is not None:
    st.markdown("**Output size**, from the report's formula (input n, kernel k, padding p, dilation d, stride s):")
    st.latex(result.formula)
    for note in result.notes:
        st.warning(note)

if view is not None:
    c1, c2 = st.columns([3, 2])
    c1.markdown(view.rank_text)
    c1.markdown(view.cost_text)
    if view.separability.rank == 1:
        ui.plot(ui.figure(builders.separable_figure, view.separability.column, view.separability.row), key="sep_fig", container=c2)

with st.expander("The maths"):
    st.markdown("One entry of the feature map is a dot product of the kernel with one patch of the padded image:")
    st.latex(r"A(i,j) = \sum_{m=0}^{k_h-1}\sum_{n=0}^{k_w-1} I(i\,s + m\,d,\; j\,s + n\,d)\, K(m,n)")
    st.markdown(
        "with stride *s* and dilation *d*. This is **cross-correlation**: the kernel is not flipped, as in PyTorch's "
        "`conv2d`. Flipping it gives the convolution of signal processing; for a symmetric kernel they agree. "
        "Padding modes decide what lies outside the image: zeros, a mirror image (reflect), the edge pixel repeated "
        "(replicate) or the opposite side (circular)."
    )
