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
@st.cache_data(max_entries=32, show_spinner=False)
def analyse_1d(f: np.ndarray, sigma: float, noise: float, seed: int, lam: float, k: int | None):
    from cnn_viz.deblur import signal1d

    return signal1d.analyse(f, sigma, noise, seed, lam_slider=lam, k=k)


@st.cache_data(max_entries=8, show_spinner=False)
def cond_curve(n: int):
    from cnn_viz.deblur import signal1d

    return signal1d.cond_curve(n)


@st.cache_data(max_entries=16, show_spinner=False)
def make_scene(img: np.ndarray, side: int, psf: np.ndarray, bc: str, noise: float, seed: int):
    """The 2-D scene from the picked image at its working size."""
    from cnn_viz.deblur import experiment

    return experiment.make_scene(images.resize_max(img, side), psf, bc, noise, seed)


@st.cache_data(max_entries=16, show_spinner=False)
def compare_methods(scene, solver_bc: str, methods: tuple, lam: float, iters: int, cnn_stamp: str, solver_psf: np.ndarray,
                    noise: float | None, _cnn=None):
    """``cnn_stamp`` (Networks.stamp) names the networks behind ``_cnn``, which is not hashed."""
    from cnn_viz.deblur import experiment

    return experiment.compare(scene, solver_bc, methods, lam, iters, _cnn, solver_psf, noise)


@st.cache_data(max_entries=16, show_spinner=False)
def lambda_sweep(scene, solver_bc: str, solver_psf: np.ndarray, noise: float | None):
    from cnn_viz.deblur import experiment

    return experiment.lambda_sweep(scene, solver_bc, solver_psf=solver_psf, noise=noise)


@st.cache_data(max_entries=16, show_spinner=False)
def rl_curves(scene, solver_psf: np.ndarray, including: int):
    from cnn_viz.deblur import experiment

    return experiment.rl_curves(scene, solver_psf=solver_psf, including=including)


@st.cache_data(max_entries=16, show_spinner=False)
def inverse_crime(truth: np.ndarray, psf: np.ndarray):
    from cnn_viz.deblur import experiment

    return experiment.inverse_crime(truth, psf)


@st.cache_data(max_entries=16, show_spinner=False)
def boundary_models(scene):
    from cnn_viz.deblur import experiment

    return experiment.boundary_models(scene)


@st.cache_data(max_entries=8, show_spinner=False)
def cnn_boundaries(truth: np.ndarray, psf: np.ndarray, noise: float, seed: int, cnn_stamp: str, _cnn=None):
    from cnn_viz.deblur import experiment

    return experiment.cnn_boundaries(truth, psf, noise, seed, _cnn)


@st.cache_resource(show_spinner="Loading PyTorch and the trained CNNs (first time only)…")
def load_deblur_cnns():
    """{kind: (network, meta)} of the shipped deblurring CNNs in eval mode, one object shared by every
    session: read them, never train them (a retrain copies). Imports torch (lazily), on one thread."""
    import os

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch starts its OpenMP threads
    from cnn_viz.common.torch_tools import one_torch_thread
    from cnn_viz.deblur import cnn

    one_torch_thread()
    return cnn.load_shipped()


@st.cache_data(max_entries=2, show_spinner=False)
def deblur_training_pairs(kind: str):
    """The page's training pairs for ``kind``: 256 px, one noise draw (the command line uses more)."""
    from cnn_viz.deblur import cnn

    return cnn.make_pairs(kind, sides=(256,), draws=1)


# ============================== lowrank
