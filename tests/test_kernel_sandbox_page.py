"""The kernel sandbox page under AppTest: what it draws equals the reference convolution."""

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from conftest import HOVER_REL, map_samples, plotly_array, plotly_figure

from cnn_viz.common import images, kernels

PAGE = "pages/kernel_sandbox.py"


def png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def torch_ref(img, k, stride=1, padding=0, dilation=1):
    x = torch.from_numpy(np.asarray(img, dtype=np.float64))[None, None]
    return F.conv2d(x, torch.from_numpy(np.asarray(k, dtype=np.float64))[None, None], stride=stride,
                    padding=padding, dilation=dilation)[0, 0].numpy()


@pytest.fixture
def sandbox(app_test):
    at = app_test()
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception
    return at


def assert_map(at, ref, key="out_fig_0"):
    """The page's feature map holds the reference's values (at the hover grid's points for a big map,
    which the page draws as a PNG) and is as large as the reference."""
    fig = plotly_figure(at, key)
    rows, cols, z = map_samples(fig)
    assert rows.max() < ref.shape[0] and cols.max() < ref.shape[1]
    np.testing.assert_allclose(z, ref[np.ix_(rows, cols)], rtol=HOVER_REL, atol=1e-5)  # to the 4 digits a hover shows
    assert list(fig["layout"]["xaxis"]["range"]) == [-0.5, ref.shape[1] - 0.5]
    assert list(fig["layout"]["yaxis"]["range"]) == [ref.shape[0] - 0.5, -0.5]


def test_default_shows_the_report_kernel_on_the_cameraman(sandbox):
    at = sandbox
    assert not at.error
    cam = images.load_sample("Cameraman")
    ref = torch_ref(cam, kernels.preset("Vertical edge (report)"))
    assert_map(at, ref)
    assert "= 510" in at.latex[0].value
    kz = plotly_array(plotly_figure(at, "kernel_fig_0")["data"][0]["z"])
    np.testing.assert_array_equal(kz, kernels.preset("Vertical edge (report)"))
    assert any("Rank 1" in m.value for m in at.markdown)


def test_every_preset_runs(sandbox):
    at = sandbox
    for name in at.selectbox(key="k_preset").options:
        at.selectbox(key="k_preset").select(name).run()
        assert not at.exception, name
        assert not at.error, (name, [e.value for e in at.error])


def test_stride_padding_dilation_and_relu(sandbox):
    at = sandbox
    at.selectbox(key="k_preset").select("Sobel x").run()
    at.number_input(key="stride").set_value(3).run()
    at.number_input(key="padding").set_value(2).run()
    at.number_input(key="dilation").set_value(2).run()
    cam = images.load_sample("Cameraman")
    ref = torch_ref(cam, kernels.preset("Sobel x"), stride=3, padding=2, dilation=2)
    assert_map(at, ref)
    assert f"= {ref.shape[0]}" in at.latex[0].value
    at.toggle(key="relu").set_value(True).run()
    assert_map(at, np.maximum(ref, 0))


def edit_kernel_cells(at, edited_rows: dict) -> None:
    """Seed edits into the kernel grid as the browser would, then rerun."""
    grid_key = f"k_grid_{at.session_state['k_gen']}"  # the editor's key moves on with each reseed
    assert grid_key in at.session_state
    at.session_state[grid_key] = {"edited_rows": edited_rows, "added_rows": [], "deleted_rows": []}
    at.run()


def test_edited_kernel_is_used(sandbox):
    at = sandbox
    edit_kernel_cells(at, {1: {"1": 4.0}})
    assert not at.exception
    k = kernels.preset("Vertical edge (report)")
    k[1, 1] = 4.0
    cam = images.load_sample("Cameraman")
    assert_map(at, torch_ref(cam, k))


def test_empty_cell_shows_a_message_and_the_page_goes_on(sandbox):
    at = sandbox
    edit_kernel_cells(at, {0: {"2": None}})
    assert not at.exception
    assert any("row 1, column 3 is empty" in e.value for e in at.error)
    plotly_figure(at, "input_fig")  # the input is still shown


def test_upload_is_used(sandbox):
    at = sandbox
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (40, 60), dtype=np.uint8)
    at.radio(key="img_source").set_value("Upload").run()
    at.file_uploader(key="img_upload").set_value(("mine.png", png_bytes(arr), "image/png")).run()
    assert not at.exception and not at.error
    assert_map(at, torch_ref(arr / 255.0, kernels.preset("Vertical edge (report)")))


def test_colour_upload_three_channel_kernel(sandbox):
    at = sandbox
    rng = np.random.default_rng(1)
    arr = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    at.radio(key="img_source").set_value("Upload").run()
    at.file_uploader(key="img_upload").set_value(("c.png", png_bytes(arr), "image/png")).run()
    at.toggle(key="img_colour").set_value(True).run()
    # each channel: three maps on one scale
    for c in range(3):
        assert_map(at, torch_ref(arr[..., c] / 255.0, kernels.preset("Vertical edge (report)")), f"out_fig_{c}")
    at.radio(key="colour_mode").set_value("3-channel kernel").run()
    assert not at.exception
    w = np.stack([kernels.preset("Vertical edge (report)")] * 3)
    x = torch.from_numpy(np.moveaxis(arr / 255.0, -1, 0))[None]
    ref = F.conv2d(x, torch.from_numpy(w)[None])[0, 0].numpy()
    assert_map(at, ref)


def test_broken_upload_shows_a_message_and_falls_back(sandbox):
    at = sandbox
    at.radio(key="img_source").set_value("Upload").run()
    at.file_uploader(key="img_upload").set_value(("photo.png", b"definitely not a png", "image/png")).run()
    assert not at.exception
    assert any("not an image" in e.value for e in at.error)
    cam = images.load_sample("Cameraman")
    assert_map(at, torch_ref(cam, kernels.preset("Vertical edge (report)")))


def test_kernel_bigger_than_the_image(sandbox):
    at = sandbox
    at.radio(key="img_source").set_value("Upload").run()
    at.file_uploader(key="img_upload").set_value(("tiny.png", png_bytes(np.zeros((4, 4), np.uint8)), "image/png")).run()
    at.selectbox(key="k_preset").select("Box blur 5×5").run()
    # the page enlarges a 4×4 picture to its minimum of 8×8, so spread the 5×5 kernel over 13 pixels
    assert any("at least 8" in i.value for i in at.info)
    at.number_input(key="dilation").set_value(3).run()
    assert not at.exception
    assert any("kernel covers 13 pixels" in e.value for e in at.error)
    # the input and kernel are still on the page
    plotly_figure(at, "input_fig")
    plotly_figure(at, "kernel_fig_0")


def test_normalize_reset_and_the_kernel_in_the_url(sandbox):
    at = sandbox
    at.selectbox(key="k_preset").select("Box blur 3×3").run()
    edit_kernel_cells(at, {0: {"0": 1.0}})
    edited = np.full((3, 3), 1 / 9)
    edited[0, 0] = 1.0
    kz = plotly_array(plotly_figure(at, "kernel_fig_0")["data"][0]["z"])
    np.testing.assert_allclose(kz, edited)
    assert "k_k" in at.query_params  # an edited kernel is bookmarkable
    at.button(key="k_norm").click().run()
    kz = plotly_array(plotly_figure(at, "kernel_fig_0")["data"][0]["z"])
    np.testing.assert_allclose(kz, edited / edited.sum())
    at.button(key="k_reset").click().run()
    kz = plotly_array(plotly_figure(at, "kernel_fig_0")["data"][0]["z"])
    np.testing.assert_allclose(kz, np.full((3, 3), 1 / 9))
    assert "k_k" not in at.query_params
    assert not at.exception
