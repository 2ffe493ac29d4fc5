"""Presets, kernel validation and separability against independent references."""

import numpy as np
import pytest
from scipy import ndimage
from skimage import filters

from cnn_viz.common import kernels
from cnn_viz.common.conv import conv2d

REQUIRED = [
    "Identity", "Box blur 3×3", "Box blur 5×5", "Sharpen", "Sobel x", "Sobel y", "Prewitt x", "Prewitt y",
    "Scharr x", "Scharr y", "Laplacian (4-neighbour)", "Laplacian (8-neighbour)", "Emboss", "Outline",
    "Vertical edge (report)",
]


def test_required_presets_exist_with_descriptions():
    for name in REQUIRED:
        p = kernels.PRESETS[name]
        assert p.kernel.ndim == 2 and np.all(np.isfinite(p.kernel))
        assert len(p.description) > 20
    assert any(name.startswith("Gaussian") for name in kernels.PRESETS)


def test_report_kernel_is_exactly_the_report_one():
    np.testing.assert_array_equal(kernels.preset("Vertical edge (report)"), [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]])


def test_gaussian_matches_scipy_gaussian_filter():
    # Correlating with our 9×9 σ=1.5 kernel equals scipy's truncated Gaussian filter of the same support.
    rng = np.random.default_rng(0)
    x = rng.random((40, 40))
    g = kernels.gaussian(9, 1.5)
    assert g.sum() == pytest.approx(1.0)
    ours = conv2d(x, g, padding=4, padding_mode="reflect")
    ref = ndimage.gaussian_filter(x, 1.5, mode="mirror", truncate=4 / 1.5)
    np.testing.assert_allclose(ours, ref, atol=1e-12)


@pytest.mark.parametrize(
    "name,reference",
    [
        ("Sobel x", lambda x: filters.sobel_v(x)),  # skimage's vertical-edge Sobel, scaled by 1/4
        ("Sobel y", lambda x: filters.sobel_h(x)),
        ("Prewitt x", lambda x: filters.prewitt_v(x)),  # scaled by 1/3
        ("Scharr x", lambda x: filters.scharr_v(x)),  # scaled by 1/16
    ],
)
def test_edge_presets_agree_with_scikit_image_up_to_scale(name, reference):
    rng = np.random.default_rng(1)
    x = rng.random((30, 30))
    ours = conv2d(x, kernels.preset(name))
    ref = reference(x)[1:-1, 1:-1]
    scale = ours.ravel() @ ref.ravel() / (ref.ravel() @ ref.ravel())
    np.testing.assert_allclose(ours, scale * ref, atol=1e-10)
    assert scale > 0


def test_laplacian_matches_scipy():
    rng = np.random.default_rng(2)
    x = rng.random((25, 25))
    np.testing.assert_allclose(conv2d(x, kernels.preset("Laplacian (4-neighbour)")), ndimage.laplace(x)[1:-1, 1:-1], atol=1e-12)


def test_validate_accepts_strings_and_any_shape_up_to_15():
    k = kernels.validate_kernel([["1", " -2.5 "], [3, 4.0]])
    np.testing.assert_array_equal(k, [[1, -2.5], [3, 4]])
    assert kernels.validate_kernel(np.ones((1, 15))).shape == (1, 15)
    assert kernels.validate_kernel(np.ones((4, 2))).shape == (4, 2)


@pytest.mark.parametrize(
    "values,fragment",
    [
        ([[1, None], [0, 0]], "row 1, column 2 is empty"),
        ([[1, "abc"]], "'abc', which is not a number"),
        ([[1, float("nan")]], "NaN"),
        ([[float("inf")]], "infinite"),
        (np.ones((16, 3)), "16×3"),
        ([[]], "empty"),
        ([1, 2, 3], "2-D"),
    ],
)
def test_validate_explains_what_is_wrong(values, fragment):
    with pytest.raises(ValueError, match=fragment):
        kernels.validate_kernel(values)


def test_normalize():
    np.testing.assert_allclose(kernels.normalize(np.full((3, 3), 2.0)).sum(), 1.0)
    with pytest.raises(ValueError, match="sums to zero"):
        kernels.normalize(kernels.preset("Sobel x"))


def test_separability_against_numpy_rank():
    rng = np.random.default_rng(3)
    for name, p in kernels.PRESETS.items():
        sep = kernels.separability(p.kernel)
        assert sep.rank == np.linalg.matrix_rank(p.kernel), name
        if sep.rank == 1:
            np.testing.assert_allclose(np.outer(sep.column, sep.row), p.kernel, atol=1e-12)
    assert kernels.separability(kernels.preset("Sobel x")).rank == 1
    assert kernels.separability(kernels.gaussian(7, 2.0)).rank == 1
    assert kernels.separability(kernels.preset("Laplacian (4-neighbour)")).rank == 2
    assert kernels.separability(rng.standard_normal((5, 5))).rank == 5
    assert kernels.separability(np.zeros((3, 3))).rank == 0


def test_separable_kernel_as_two_1d_passes():
    sep = kernels.separability(kernels.preset("Sobel x"))
    x = np.random.default_rng(4).random((20, 20))
    two_pass = conv2d(conv2d(x, sep.column[:, None]), sep.row[None, :])
    np.testing.assert_allclose(two_pass, conv2d(x, kernels.preset("Sobel x")), atol=1e-12)
