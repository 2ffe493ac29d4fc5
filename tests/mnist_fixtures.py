"""Fixtures of the MNIST lesson's tests: the shipped network, the fixed split and two held-out digits.

A test module imports the ones it uses (``from mnist_fixtures import held, net``); each module loads them once.
They do not depend on one another, so any one can be imported alone.
"""

from __future__ import annotations

import numpy as np
import pytest

from cnn_viz.mnist import data, model


@pytest.fixture(scope="module")
def net():
    """The shipped SimpleCNN, in eval mode."""
    return model.load_pretrained()


@pytest.fixture(scope="module")
def split():
    return data.train_test_split()


@pytest.fixture(scope="module")
def held():
    return data.train_test_split()[1]


@pytest.fixture(scope="module")
def seven():
    """The report's 7 (sample row 3999) as the network reads it, (28, 28) float32 in [0, 1]."""
    held = data.train_test_split()[1]
    return held.images[list(held.rows).index(data.DIGIT_7_ROW)].astype(np.float32) / 255


@pytest.fixture(scope="module")
def four():
    """The first 4 of the page's gallery, (28, 28) float32 in [0, 1]."""
    held = data.train_test_split()[1]
    return held.images[data.gallery(held)[12]].astype(np.float32) / 255
