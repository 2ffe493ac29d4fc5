"""Every cached loader and computation of the app, each a one-line wrapper named after the core call.

st.cache_data returns a copy to each caller; st.cache_resource returns one object shared by every
session (read it, never mutate it). Torch is imported lazily, so the torch-free pages stay light.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import json
import pickle
from typing import NamedTuple

import numpy as np
import streamlit as st

from cnn_viz.common import images
from cnn_viz.figures import palette


def per_scheme(cached):
    """A cached function that draws colours, called with the session's colour scheme as one more argument
    (``scheme``), so a figure or GIF cached in one scheme is never handed to a session using the other."""

    @functools.wraps(cached)
    def call(*args, **kwargs):
        return cached(*args, scheme=palette.current(), **kwargs)

    call.clear = cached.clear
    return call


# ============================== figures (every page)
# A figure is built once per distinct input for the whole server and kept as the JSON text Plotly.js reads
# (PNG pictures and base64 arrays inside), so a rerun, a second student or a hundred followers of the
# teacher on the same settings cost no Plotly work and no JSON encoding: ``ui.plot(ui.figure(builders.image_figure, img))``.
class Spec(NamedTuple):
    """A cached figure: its JSON text (``builders.spec_text``) and the layout's height and width, which
    st.plotly_chart reads to size the chart. ``data()`` is the figure as plain data, for a page that edits it."""

    text: str
    height: int | float | None = None
    width: int | float | None = None
    themed: bool = True  # False: a small figure with Streamlit's theme written in, drawn without it (builders.page_spec)

    def data(self) -> dict:
        return json.loads(self.text)


def _array_key(a: np.ndarray):
    """An array argument of a cached figure as its cache key: shape, dtype and a SHA-1 of every byte (SHA-1
    runs in hardware here: 1.9 ms for a 512² float image, against 6.5 ms for st.cache_data's own MD5, which
    besides only samples arrays of 500,000 values or more). Object arrays are hashed through pickle."""
    if a.dtype.hasobject:
        return a.shape, pickle.dumps(a, protocol=pickle.HIGHEST_PROTOCOL)
    return a.shape, a.dtype.str, hashlib.sha1(np.ascontiguousarray(a), usedforsecurity=False).digest()


def _read_only(obj):
    """``obj`` (an array, a dataclass, a tuple or list of them, at any depth) with every array made unwritable,
    in place: a result that one ``st.cache_resource`` object serves to every session. (st.cache_data instead
    unpickles a copy for each rerun, and a session's widget callbacks and deferred downloads keep its last copy
    alive.)"""
    if isinstance(obj, np.ndarray):
        obj.flags.writeable = False
    elif isinstance(obj, (tuple, list)):
        for item in obj:
            _read_only(item)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for field in dataclasses.fields(obj):
            _read_only(getattr(obj, field.name))
    return obj


# A Spec is immutable (a NamedTuple of text and numbers), so one object serves every session: a resource cache,
# not st.cache_data (which pickles each result and unpickles a copy on every read of every student).
@st.cache_resource(max_entries=384, show_spinner=False, hash_funcs={np.ndarray: _array_key})
def _figure_spec(module: str, name: str, args: tuple, kwargs: dict, scheme: str) -> Spec:
    from cnn_viz.figures import builders

    build = functools.reduce(getattr, name.split("."), importlib.import_module(module))
    with palette.using(scheme):
        fig = build(*args, **kwargs)
    # The JSON text, built once: no dict to encode again on every rerun (the 784-frame sliding animation: 37 ms).
    if isinstance(fig, dict):  # a figure already in plain data (the MNIST pages')
        lay = fig.get("layout") or {}
        size = lay.get("height"), lay.get("width")
    else:
        size = fig.layout.height, fig.layout.width
    text, themed = builders.page_spec(fig)
    return Spec(text, *size, themed)


def figure(builder, *args, **kwargs) -> Spec:
    """``builder(*args, **kwargs)`` (a figure builder of the core, module level) as a ``Spec`` for
    ``ui.plot``, cached on its inputs and the session's colour scheme."""
    # by keyword: for each positional argument Streamlit's cache looks up the function's signature (inspect), on
    # every call of every student's rerun (a dozen figures a rerun on the MNIST page)
    return _figure_spec(module=builder.__module__, name=builder.__qualname__, args=args, kwargs=kwargs,
                        scheme=palette.current())


# ============================== images (every page)
# A student's upload is that student's: cached per session (freed with it), a few at a time, so the
# server's memory grows with the class, not with every picture anyone ever uploaded (64 × 6 MB before).
@st.cache_data(max_entries=4, show_spinner=False, scope="session")
def read_image(data: bytes, max_side: int, min_side: int = 1) -> images.Loaded:
    return images.read_image(data, max_side=max_side, min_side=min_side)


@st.cache_data(max_entries=32, show_spinner=False)
def load_sample(name: str, max_side: int = images.DEFAULT_MAX_SIDE) -> np.ndarray:
    return images.load_sample(name, max_side=max_side)


# ============================== sandbox


# ============================== sliding
@per_scheme
@st.cache_data(max_entries=4, show_spinner="Drawing the frames of the GIF…",
               hash_funcs={"cnn_viz.sliding.ops.Sweep": lambda sweep: sweep.key()})
def make_gif(sweep, fps: float, scheme: str = ""):
    """The sweep's GIF (a few seconds for hundreds of steps), keyed on the sweep's inputs, the speed and the
    colour scheme (``per_scheme`` passes it)."""
    from cnn_viz.sliding import gif

    return gif.make_gif(sweep, fps=fps)


@st.cache_data(max_entries=16, show_spinner=False, hash_funcs={"cnn_viz.sliding.ops.Sweep": lambda sweep: sweep.key()})
def matrix_view(sweep):
    """The sweep's matrix M and its numbers (``ops.matrix_view``), kept while the sweep stays: a step does not rebuild it."""
    from cnn_viz.sliding import ops

    return ops.matrix_view(sweep)


# ============================== pooling
# Its figures go through ``figure`` (above): built once per input for the server, as plain data.
@st.cache_data(max_entries=16, show_spinner=False)
def run_pipeline(image, bank, settings):
    from cnn_viz.pooling import stages

    return stages.pipeline(image, bank, settings)


@st.cache_data(max_entries=32, show_spinner=False)
def invariance_curve(gray, kernel, pool, size, stride, max_shift, direction, mode, activation, negative_slope):
    """The 0 … max_shift curve: it does not depend on the lab's shift sliders, so moving them reuses it."""
    from cnn_viz.pooling import why_cnn

    return why_cnn.invariance_curve(gray, kernel, pool, size, stride, max_shift=max_shift, direction=direction,
                                    mode=mode, activation=activation, negative_slope=negative_slope)


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


# A resource (_read_only): as st.cache_data, each rerun got its own 4 MB copy, and each session's gallery
# callbacks kept its last one alive (tracemalloc, 25 MNIST students: 118 MB of them).
@st.cache_resource(show_spinner=False)
def mnist_split():
    """(training, held-out) digits of the shipped MNIST sample: the fixed 4,000 / 1,000 split, shared by every
    session (read-only arrays)."""
    from cnn_viz.mnist import data

    return _read_only(data.train_test_split())


@st.cache_data(max_entries=4, show_spinner=False, scope="session")
def prepare_upload(data: bytes):
    """An uploaded photo of a digit prepared the MNIST way (``prep.Prepared``); raises ValueError for a bad file."""
    from cnn_viz.mnist import prep

    return prep.prepare_upload(data)


@st.cache_resource(show_spinner=False)
def from_simple_cnn():
    """The shipped network as a built design (``design.DesignNet``, same weights): shared, read-only."""
    from cnn_viz.mnist import design

    return design.from_simple_cnn(load_mnist_model())


@st.cache_resource(max_entries=16, show_spinner=False)
def build(code: str, seed: int):
    """A design (given by its ``Design.code``) built with initial weights from ``seed``: shared, read-only."""
    from cnn_viz.mnist import design

    return design.build(design.from_code(code), seed)


@st.cache_data(max_entries=1, show_spinner="The shipped network on the 1,000 held-out digits…")
def confusion():
    """The shipped network's 10×10 confusion matrix on the held-out digits (row = true digit)."""
    from cnn_viz.mnist import model

    held_out = mnist_split()[1]
    return model.confusion(load_mnist_model(), held_out.images, held_out.labels)


# ============================== deblur
SCENE = {"cnn_viz.deblur.experiment.Scene": lambda scene: scene.stamp}  # hash a scene by its digest, not by pickling it
# A resource (_read_only): as st.cache_data, each session's CSV download kept its own 1.6 MB copy alive.
@st.cache_resource(max_entries=32, show_spinner=False, hash_funcs={np.ndarray: _array_key})
def analyse_1d(f: np.ndarray, sigma: float, noise: float, seed: int, k: int | None):
    """Without the reader's λ (``signal1d.with_slider`` adds it in a millisecond), so the slider reuses this."""
    from cnn_viz.deblur import signal1d

    return _read_only(signal1d.analyse(f, sigma, noise, seed, k=k))


@st.cache_data(max_entries=8, show_spinner=False)
def cond_curve(n: int):
    from cnn_viz.deblur import signal1d

    return signal1d.cond_curve(n)


@st.cache_data(max_entries=16, show_spinner=False)
def make_scene(img: np.ndarray, side: int, psf: np.ndarray, bc: str, noise: float, seed: int):
    """The 2-D scene from the picked image at its working size."""
    from cnn_viz.deblur import experiment

    return experiment.make_scene(images.resize_max(img, side), psf, bc, noise, seed)


def compare_methods(scene, solver_bc: str, methods: tuple, lam: float, iters: int, cnn_stamp: str, solver_psf: np.ndarray,
                    noise: float | None, cnn=None):
    """``compare`` cached per group of methods (``experiment.compare_groups``): the λ slider redoes one row."""
    from cnn_viz.deblur import experiment

    return experiment.in_order(methods, *(compare(scene, solver_bc, group, a, b, cnn_stamp, solver_psf, noise, cnn)
                                          for group, a, b in experiment.compare_groups(methods, lam, iters)))


@st.cache_data(max_entries=32, show_spinner=False, hash_funcs=SCENE)
def compare(scene, solver_bc: str, methods: tuple, lam: float, iters: int, cnn_stamp: str, solver_psf: np.ndarray,
            noise: float | None, _cnn=None):
    """``cnn_stamp`` (Networks.stamp) names the networks behind ``_cnn``, which is not hashed."""
    from cnn_viz.deblur import experiment

    return experiment.compare(scene, solver_bc, methods, lam, iters, _cnn, solver_psf, noise)


@st.cache_data(max_entries=16, show_spinner=False, hash_funcs=SCENE)
def lambda_sweep(scene, solver_bc: str, solver_psf: np.ndarray, noise: float | None):
    from cnn_viz.deblur import experiment

    return experiment.lambda_sweep(scene, solver_bc, solver_psf=solver_psf, noise=noise)


@st.cache_data(max_entries=16, show_spinner=False, hash_funcs=SCENE)
def rl_curves(scene, solver_psf: np.ndarray, including: int):
    from cnn_viz.deblur import experiment

    return experiment.rl_curves(scene, solver_psf=solver_psf, including=including)


@st.cache_data(max_entries=16, show_spinner=False)
def inverse_crime(truth: np.ndarray, psf: np.ndarray):
    from cnn_viz.deblur import experiment

    return experiment.inverse_crime(truth, psf)


@st.cache_data(max_entries=16, show_spinner=False, hash_funcs=SCENE)
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

# A resource (_read_only): as st.cache_data, each session's download of the singular values kept its own 2 MB
# copy of the factors alive; keyed on every byte of the image (_array_key).
@st.cache_resource(max_entries=12, show_spinner="Computing the SVD of every channel…", hash_funcs={np.ndarray: _array_key})
def image_svd(img: np.ndarray, method: str):
    from cnn_viz.lowrank import svd

    return _read_only(svd.image_svd(img, method))


@st.cache_data(max_entries=16, show_spinner=False)
def shipped_sweep(settings):
    """The precomputed ε-rank sweep for these ``latent.SweepSettings``, or None."""
    from cnn_viz.lowrank import latent

    return latent.shipped_sweep(settings)


@st.cache_data(max_entries=200, show_spinner=False)
def measure_size(n: int, d: int, eps: float, kind: str, seed: int, with_random: bool):
    """One size of a sweep run on the page, cached on its own (the progress bar moves between sizes)."""
    from cnn_viz.lowrank import latent

    return latent.measure_size(n, d, eps, kind, seed, with_random)


@st.cache_data(max_entries=8, show_spinner=False)
def matrix_pair(kind: str, d: int):
    from cnn_viz.lowrank import latent

    return latent.matrix_pair(kind, d)


@st.cache_data(max_entries=1, show_spinner="Principal components of 4,000 digits…")
def eigendigits():
    from cnn_viz.lowrank import svd

    return svd.eigendigits(mnist_split()[0].images)


@st.cache_data(max_entries=4, show_spinner="Accuracy of the network with the layer at every rank k on 1,000 held-out "
               "digits (fc1 about 2 s, conv2 about 10 s; once per server, then cached)…")
def rank_sweep(layer: str):
    """The shipped network (``load_mnist_model``) on the held-out digits, "fc1" or "conv2" at every rank:
    keyed on the layer alone, since the shipped weights and the split do not change while the server runs."""
    from cnn_viz.lowrank import compress

    held_out = mnist_split()[1]
    return compress.rank_sweep(load_mnist_model(), held_out.images, held_out.labels, layer)


@st.cache_data(max_entries=1, show_spinner=False)
def separable_checks():
    """The separable presets checked on the 512 × 512 cameraman."""
    from cnn_viz.lowrank import compress

    return compress.separable_checks(load_sample("Cameraman"))


@st.cache_data(max_entries=1, show_spinner=False)
def separable_cost():
    """Multiply-adds of full and separable convolutions, and how far the shipped conv1 kernels are from rank 1."""
    from cnn_viz.lowrank import compress

    return compress.separable_cost(load_mnist_model().conv1)


# ============================== classroom
@st.cache_resource(show_spinner=False)
def open_store(url: str):
    """The class session store named by ``url`` (one object per server process, shared by every session)."""
    from cnn_viz.classroom import store

    return store.open_store(url)


@st.cache_resource(show_spinner=False)
def class_watch(url: str):
    """The one watcher of this server process on the store named by ``url`` (see cnn_viz/classroom/watch.py)."""
    from cnn_viz.classroom import watch

    return watch.Watch(open_store(url))


@st.cache_resource(show_spinner=False)
def follow_stagger():
    """The one queue of this server process that starts the followers' pushed runs a few at a time."""
    from cnn_viz.classroom import watch

    return watch.Stagger()


@st.cache_data(max_entries=64, show_spinner="Writing questions about this page…")
def questions_for_page(page: str, params: tuple, seed: int):
    from cnn_viz.classroom import questions

    return questions.for_page(page, dict(params), seed, model=load_mnist_model() if page == "mnist_activations" else None)
# ============================== whenfail
# The page's figures go through ``figure`` (plain data, built once per input, shared by every session).
@st.cache_data(max_entries=4, show_spinner=False)
def load_lab_table(path: str):
    from cnn_viz.whenfail import results

    return results.LabTable.load(path)


@st.cache_resource(show_spinner=False)
def load_jpeg_cnn():
    from cnn_viz.whenfail import jpeg_cnn

    return jpeg_cnn.load()


# shared, read-only: its restorations' PSNR/SSIM are measured once and kept with it
@st.cache_resource(max_entries=16, show_spinner="Compressing and restoring (TV at eight weights, the CNN twice)…")
def with_cnn(img: np.ndarray, quality: int):
    from cnn_viz.whenfail import jpeg_cnn

    return jpeg_cnn.with_cnn(load_jpeg_cnn()[0], img, quality)


@st.cache_data(max_entries=4, show_spinner=False)
def load_descent(path: str):
    from cnn_viz.whenfail import results

    return results.Descent.load(path)
