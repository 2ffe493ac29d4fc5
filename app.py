"""CNN Viz: interactive convolution and CNN lessons. Start with `streamlit run app.py`."""

import os

# Before anything imports torch: idle OpenMP threads sleep instead of spinning on a shared 2-core server
# (with spinning threads, batch-1 inference was ~100x slower under load; see NOTES, "Torch threads").
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import streamlit as st  # noqa: E402

from cnn_viz import ui  # noqa: E402
from cnn_viz.common import assets, kernels  # noqa: E402
from cnn_viz.figures import builders, palette  # noqa: E402
from cnn_viz.sandbox import core as sandbox  # noqa: E402
from cnn_viz.ui import access, cached, warmup  # noqa: E402

HOME_SIDE = 192  # the home page's picture: small, it is a glimpse

# The tab's icon is a shipped picture, sent as a small data: URI made once per process (a file path was
# re-encoded as JPEG and re-registered as media on every rerun: ~1/4 of the home page's script time). An
# emoji or a Material icon as the page icon makes the browser fetch a favicon from the internet.
# Navigation icons are Streamlit's bundled Material Symbols font, which renders without an emoji font
# (Debian's Chromium has none by default) and offline.
st.set_page_config(page_title="CNN Viz", page_icon=assets.favicon_uri(), layout="wide", initial_sidebar_state=access.sidebar_state())

# Once per server process, on a background thread: stop the config-file polling, import torch and the lessons'
# modules, load the shipped network, so that the first visit of a page finds them loaded (off under AppTest).
warmup.start(load=(cached.load_mnist_model, cached.mnist_split, warmup.whenfail_jpeg))

# One line per page: (file, title, icon, what it teaches). Only pages that exist are listed.
PAGES = [
    ("pages/kernel_sandbox.py", "Kernel sandbox", ":material/tune:", "slide any kernel over any image: presets or your own numbers, stride, padding, dilation, ReLU."),
    ("pages/sliding_kernel.py", "Sliding kernel", ":material/animation:", "watch the kernel compute every output value, step by step or played as an animation (GIF for slides), and see the convolution as a sparse doubly block Toeplitz matrix."),
    ("pages/relu_pooling.py", "ReLU and pooling", ":material/layers:", "ReLU and max/average pooling stage by stage; why CNNs work: shared weights, receptive fields, shifts."),
    ("pages/mnist_activations.py", "MNIST activations", ":material/draw:", "draw, pick or upload a digit and watch the report's trained CNN read it: every layer's maps, learned filters, Figure 5 patches, saliency, Grad-CAM, and train your own."),
    ("pages/your_network.py", "Your own network", ":material/schema:", "design a CNN layer by layer (shapes, parameters, receptive fields before training), train it, compare it with the report's, save it as one file, load it back, and look inside it."),
    ("pages/deblurring.py", "Deblurring", ":material/blur_on:", "undo a blur on a signal and on an image: naive inverse, TSVD, Tikhonov with GCV / L-curve / discrepancy, Wiener, Richardson–Lucy and two trained CNNs, with the numbers and the lessons."),
    ("pages/when_cnns_fail.py", "When CNNs fail", ":material/report:", "a CNN against Tikhonov, ISTA and a dense network on a blur, independent 8×8 blocks, compressed sensing and a scrambled blur (Chodosh and Lucey); JPEG artifacts; gradient descent against SGD."),
    ("pages/low_rank.py", "Low rank", ":material/compress:", "truncated SVDs compress images, why big data matrices are approximately low rank (Udell–Townsend and its critique), eigendigits, and the trained CNN's layers at rank k."),
]


def home() -> None:
    st.title("CNN Viz")
    access.explain(
        "Convolution and convolutional neural networks, from the dot product of a kernel with an image patch "
        "to a trained digit classifier, with the linear algebra underneath: convolution as a matrix, "
        "regularized deblurring as an inverse problem, and low-rank structure."
    )
    st.subheader("The pages")
    for page, (_, title, _, blurb) in zip(LESSONS, PAGES):
        # the registered st.Page itself: a file path was resolved (realpath) and searched among the pages per link
        st.page_link(page, label=f"**{title}**: {blurb}")
    # One picture, last on the page: the first lesson's idea at a glance, and the first chart a student's browser
    # draws, so Plotly's code (the largest part of the app's JavaScript) is loaded and compiled while they read this
    # page, not when they open their first lesson (first page from the sidebar: 2.7-2.9 s, the next ones 1.4 s).
    st.subheader("The first idea, in one picture")
    img = ui.sample_image("Cameraman", max_side=HOME_SIDE)
    run = sandbox.run(img, kernels.preset(kernels.DEFAULT_PRESET), sandbox.Settings())
    left, right = st.columns(2)
    with left:
        ui.plot(ui.figure(builders.image_figure, img, title="Input: the cameraman", height=300), key="home_input")
    with right:
        ui.plot(ui.figure(builders.signed_map_figure, run.result.stack[0], title="Feature map of the report's kernel", height=300,
                          zmax=run.result.zmax), key="home_map")
        ui.download_png(lambda: run.result.rgb(0), "feature_map.png", "Feature map as PNG", key="home_dl_map")
    words = palette.scheme()
    st.caption(f"The report's 3×3 vertical-edge kernel (right column minus left column) slid over the image: "
               f"{words.pos_word} where the image gets brighter from left to right, {words.neg_word} where it gets darker, "
               "white where nothing changes. The Kernel sandbox does this with any kernel on any image.")
    st.subheader("Using it in class")
    st.markdown(
        "- Every picture shows its values on hover and has a download button (PNG, CSV or GIF) for your slides.\n"
        "- Every page keeps its settings in the address bar: bookmark a demo and open it again later.\n"
        "- The sidebar's Display settings: colour-vision-safe colours and presenter view (larger, without the spoken explanations).\n"
        "- Everything runs on this machine, without the internet: sample images, MNIST digits and trained weights ship with the app.\n"
        "- Students can upload their own pictures (PNG, JPEG, GIF, BMP, WebP, TIFF up to 20 MB); big images are shrunk to 512 pixels."
    )


LESSONS = [st.Page(path, title=title, icon=icon) for path, title, icon, _ in PAGES]
nav = st.navigation([st.Page(home, title="Home", icon=":material/home:", default=True)] + LESSONS)
from cnn_viz.ui import classroom  # noqa: E402  (after st.navigation: the legacy page mode is off by now)

access.app_settings()  # colour-vision-safe colours and presenter view, on every page, in the URL
classroom.panel(nav.url_path)  # the classroom sidebar on every page: join / teach / follow / questions
try:
    nav.run()
finally:  # also after a page's st.stop(): a teacher's page and URL settings reach the students' store
    classroom.publish(nav.url_path)
