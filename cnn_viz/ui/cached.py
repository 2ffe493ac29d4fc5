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
