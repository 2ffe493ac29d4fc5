"""CNN Viz: interactive convolution and CNN lessons. Start with `streamlit run app.py`."""

import streamlit as st

from cnn_viz.ui import access

st.set_page_config(page_title="CNN Viz", page_icon="🔍", layout="wide", initial_sidebar_state=access.sidebar_state())

# One line per page: (file, title, icon, what it teaches). Only pages that exist are listed.
PAGES = [
    ("pages/kernel_sandbox.py", "Kernel sandbox", "🎛️", "slide any kernel over any image: presets or your own numbers, stride, padding, dilation, ReLU."),
    ("pages/sliding_kernel.py", "Sliding kernel", "🎞️", "watch the kernel compute every output value, step by step or played as an animation (GIF for slides), and see the convolution as a sparse doubly block Toeplitz matrix."),
    ("pages/relu_pooling.py", "ReLU and pooling", "🧱", "ReLU and max/average pooling stage by stage; why CNNs work: shared weights, receptive fields, shifts."),
    ("pages/mnist_activations.py", "MNIST activations", "✍️", "draw, pick or upload a digit and watch the report's trained CNN read it: every layer's maps, learned filters, Figure 5 patches, saliency, Grad-CAM, and train your own."),
    ("pages/deblurring.py", "Deblurring", "🌫️", "undo a blur on a signal and on an image: naive inverse, TSVD, Tikhonov with GCV / L-curve / discrepancy, Wiener, Richardson–Lucy and two trained CNNs, with the numbers and the lessons."),
    ("pages/low_rank.py", "Low rank", "🗜️", "truncated SVDs compress images, why big data matrices are approximately low rank (Udell–Townsend and its critique), eigendigits, and the trained CNN's layers at rank k."),
]


def home() -> None:
    st.title("CNN Viz")
    access.explain(
        "Convolution and convolutional neural networks, from the dot product of a kernel with an image patch "
        "to a trained digit classifier, with the linear algebra underneath: convolution as a matrix, "
        "regularized deblurring as an inverse problem, and low-rank structure."
    )
    st.subheader("The pages")
    for path, title, icon, blurb in PAGES:
        st.page_link(path, label=f"**{title}**: {blurb}", icon=icon)
    st.subheader("Using it in class")
    st.markdown(
        "- Every picture shows its values on hover and has a download button (PNG, CSV or GIF) for your slides.\n"
        "- Every page keeps its settings in the address bar: bookmark a demo and open it again later.\n"
        "- The sidebar's Display settings: colour-vision-safe colours and presenter view (larger, without the spoken explanations).\n"
        "- Everything runs on this machine, without the internet: sample images, MNIST digits and trained weights ship with the app.\n"
        "- Students can upload their own pictures (PNG, JPEG, GIF, BMP, WebP, TIFF up to 20 MB); big images are shrunk to 512 pixels."
    )


nav = st.navigation(
    [st.Page(home, title="Home", icon="🏠", default=True)]
    + [st.Page(path, title=title, icon=icon) for path, title, icon, _ in PAGES]
)
access.app_settings()  # colour-vision-safe colours and presenter view, on every page, in the URL
nav.run()
