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
@st.cache_data(max_entries=4, show_spinner="Drawing the frames of the GIF…",
               hash_funcs={"cnn_viz.sliding.ops.Sweep": lambda sweep: sweep.key()})
def make_gif(sweep, fps: float):
    """The sweep's GIF (a few seconds for hundreds of steps), keyed on the sweep's inputs and the speed."""
    from cnn_viz.sliding import gif

    return gif.make_gif(sweep, fps=fps)


# ============================== pooling


# ============================== mnist

@st.cache_resource(show_spinner="Loading the trained MNIST network…")
def load_mnist_model():
    """The shipped SimpleCNN (assets/simple_cnn.pt) in eval mode, one object shared by every session:
    read it, never train it, never attach hooks. Imports torch (lazily), and sets one torch thread."""
    import torch

    from cnn_viz.mnist import model

    torch.set_num_threads(1)
    return model.load_pretrained()


@st.cache_data(show_spinner=False)
def mnist_split():
    """(training, held-out) digits of the shipped MNIST sample: the fixed 4,000 / 1,000 split."""
    from cnn_viz.mnist import data as mnist

    return mnist.train_test_split()


# ============================== deblur


# ============================== lowrank
