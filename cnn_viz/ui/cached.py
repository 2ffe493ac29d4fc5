"""Every cached loader and computation of the app, each a one-line wrapper named after the core call.

st.cache_data returns a copy to each caller; st.cache_resource returns one object shared by every
session (read it, never mutate it). Torch is imported lazily, so the torch-free pages stay light.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from cnn_viz.common import images


# ============================== images (every page)
@st.cache_data(max_entries=64, show_spinner=False)
def load_image(data: bytes, max_side: int) -> np.ndarray:
    return images.load_image(data, max_side=max_side)


@st.cache_data(max_entries=32, show_spinner=False)
def load_sample(name: str, max_side: int = images.DEFAULT_MAX_SIDE) -> np.ndarray:
    return images.load_sample(name, max_side=max_side)


# ============================== sandbox


# ============================== sliding


# ============================== pooling
# Figures are cached only where building one costs clearly more than the copy st.cache_data hands
# back (unpickling a figure validates it again): the multi-trace and subplot figures.
@st.cache_data(max_entries=16, show_spinner=False)
def run_pipeline(image, bank, settings):
    from cnn_viz.pooling import stages

    return stages.pipeline(image, bank, settings)


@st.cache_data(max_entries=16, show_spinner=False)
def pipeline_figure(stages, max_side: int = 128):
    from cnn_viz.pooling import figures

    return figures.pipeline_figure(stages, max_side=max_side)


@st.cache_data(max_entries=32, show_spinner=False)
def stage_grid_figure(stage, cols: int = 4):
    from cnn_viz.pooling import figures

    return figures.stage_grid_figure(stage, cols=cols)


@st.cache_data(max_entries=32, show_spinner=False)
def window_figure(win, zmax: float):
    from cnn_viz.pooling import figures

    return figures.window_figure(win, zmax=zmax)


@st.cache_data(max_entries=16, show_spinner=False)
def params_figure(curve, side: int, channels: int):
    from cnn_viz.pooling import figures

    return figures.params_figure(curve, side, channels)


@st.cache_data(max_entries=16, show_spinner=False)
def equivariance_figure(eq):
    from cnn_viz.pooling import figures

    return figures.equivariance_figure(eq)


@st.cache_data(max_entries=16, show_spinner=False)
def pooled_shift_figure(ps):
    from cnn_viz.pooling import figures

    return figures.pooled_shift_figure(ps)


@st.cache_data(max_entries=32, show_spinner=False)
def invariance_curve(gray, kernel, pool, size, stride, max_shift, direction, mode, activation, negative_slope):
    """The 0 … max_shift curve: it does not depend on the lab's shift sliders, so moving them reuses it."""
    from cnn_viz.pooling import why_cnn

    return why_cnn.invariance_curve(gray, kernel, pool, size, stride, max_shift=max_shift, direction=direction,
                                    mode=mode, activation=activation, negative_slope=negative_slope)


@st.cache_data(max_entries=16, show_spinner=False)
def invariance_figure(curve, pool_name: str):
    from cnn_viz.pooling import figures

    return figures.invariance_figure(curve, pool_name)


# ============================== mnist
@st.cache_resource(show_spinner="Loading the trained MNIST network…")
def load_mnist_model():
    """The shipped SimpleCNN (assets/simple_cnn.pt) in eval mode, one object shared by every session:
    read it, never train it, never attach hooks. Imports torch (lazily), and sets one torch thread."""
    from cnn_viz.common.torch_tools import one_torch_thread
    from cnn_viz.mnist import model

    one_torch_thread()
    return model.load_pretrained()


@st.cache_data(max_entries=1, show_spinner=False)
def load_mnist_meta() -> dict:
    """What the training run stored beside the shipped weights (epochs, held-out accuracy, command, ...)."""
    from cnn_viz.mnist import model

    return model.load_meta()


@st.cache_data(show_spinner=False)
def mnist_split():
    """(training, held-out) digits of the shipped MNIST sample: the fixed 4,000 / 1,000 split."""
    from cnn_viz.mnist import data

    return data.train_test_split()


@st.cache_data(max_entries=32, show_spinner=False)
def prepare_upload(data: bytes):
    """An uploaded photo of a digit prepared the MNIST way (``prep.Prepared``); raises ValueError for a bad file."""
    from cnn_viz.mnist import prep

    return prep.prepare_upload(data)


# ============================== deblur


# ============================== lowrank
