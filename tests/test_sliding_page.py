"""AppTest of pages/sliding_kernel.py: stepping, scrubbing, settings, bad settings, every input source."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import plotly_figure

from cnn_viz.common import images, text
from cnn_viz.common.fmt import num as _fmt  # the page's number format, applied to torch's value

PAGE = "pages/sliding_kernel.py"
DIGIT = "Handwritten digit (28×28)"
IMAGE = "Any image (shrunk to at most 32×32)"
GRID = "Type a small grid"
torch.set_num_threads(1)


def _open(app_test):
    at = app_test(timeout=120)
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metric(at, label):
    return next(m.value for m in at.metric if m.label == label)


def _latex(at):
    return " ".join(el.value for el in at.latex)


def test_figure1_default_step_back_scrub(app_test):
    at = _open(app_test)
    assert _metric(at, "Position") == "1 of 6"
    assert _metric(at, "Feature map") == "2 × 3"
    # torch on the report's Figure 1 numbers
    x = torch.tensor([[3.0, 1, 0, 2], [1, 4, 2, 0], [0, 2, 1, 3]])[None, None]
    ref = F.conv2d(x, torch.tensor([[1.0, 0], [-1, 2]])[None, None])[0, 0]
    assert _metric(at, "Output A(0, 0)") == f"{int(ref[0, 0])}"
    assert "aw + bx + ey + fz" in _latex(at)
    at.button(key="sk_next").click().run()
    at.button(key="sk_next").click().run()
    assert _metric(at, "Position") == "3 of 6"
    assert _metric(at, "Output A(0, 2)") == f"{int(ref[0, 2])}"
    at.button(key="sk_back").click().run()
    assert _metric(at, "Position") == "2 of 6"
    at.slider(key="sk_pos").set_value(5).run()
    assert _metric(at, "Position") == "5 of 6"
    assert _metric(at, "Output A(1, 1)") == f"{int(ref[1, 1])}"
    # the animation is moved to where the server is (in the browser: the figure is the same at every step),
    # and the matrix highlights that row
    anim = plotly_figure(at, "sk_anim")
    assert len(anim["frames"]) == 6
    assert _shown_frame(at) == ("4", 4, 6)  # frame "4" of 6, the slider on its stop 4
    assert anim["frames"][4]["data"][4]["text"][0] == f"step 5 of 6: A(1, 1) = {int(ref[1, 1])}"  # the frame shown, by torch
    mat = plotly_figure(at, "sk_matrix")
    row = next(t for t in mat["data"] if t.get("name", "").startswith("row "))
    assert row["name"] == "row 4 = step 5"
    at.button(key="sk_last").click().run()
    assert _metric(at, "Position") == "6 of 6"
    at.button(key="sk_next").click().run()  # past the end stays at the end
    assert _metric(at, "Position") == "6 of 6"
    at.button(key="sk_first").click().run()
    assert _metric(at, "Position") == "1 of 6"
    assert not at.exception


def _shown_frame(at) -> tuple[str, int, int]:
    """(frame, slider stop, frames) that the page moves the animation to (ui.show_frame's script)."""
    found = [re.search(r"\{frame: '(\d+)', active: (\d+), n: (\d+)\}", h.proto.body) for h in at.get("html")]
    (hit,) = [m for m in found if m]
    return hit.group(1), int(hit.group(2)), int(hit.group(3))


def test_digit_has_784_positions_and_stride_changes_the_sweep(app_test):
    at = _open(app_test)
    at.radio(key="sk_source").set_value(DIGIT).run()
    assert not at.exception
    assert _metric(at, "Position") == "1 of 784"
    assert _metric(at, "Feature map") == "28 × 28"
    assert _metric(at, "Shape of M") == "784 × 784"
    anim = plotly_figure(at, "sk_anim")
    assert len(anim["frames"]) == 784
    at.slider(key="sk_pos").set_value(300).run()
    at.number_input(key="sk_stride").set_value(2).run()
    assert not at.exception
    digit = torch.from_numpy(images.load_sample("Handwritten 7 (MNIST)")).double()[None, None]
    k = torch.tensor([[-1.0, 0, 1]] * 3, dtype=torch.float64)[None, None]
    ref = F.conv2d(digit, k, stride=2, padding=1)[0, 0].numpy()
    assert _metric(at, "Feature map") == f"{ref.shape[0]} × {ref.shape[1]}"
    assert _metric(at, "Position") == f"{ref.size} of {ref.size}"  # clamped: 300 is past the new end
    assert r"\frac{28 + 2\cdot1 - 1\cdot(3-1) - 1}{2}" in _latex(at)
    assert len(plotly_figure(at, "sk_anim")["frames"]) == ref.size
    # nnz(M) is torch's Jacobian's
    assert _metric(at, "Nonzeros of M") == f"{int(np.count_nonzero(_jacobian(digit, k, 2, 1))):,}"


def _jacobian(x, k, stride, padding):
    jac = torch.autograd.functional.jacobian(lambda t: F.conv2d(t[None, None], k, stride=stride, padding=padding).reshape(-1), x[0, 0])
    return jac.reshape(jac.shape[0], -1).numpy()


def test_invalid_stride_and_too_big_kernel_show_a_message_and_keep_the_page(app_test):
    at = _open(app_test)
    at.slider(key="sk_pos").set_value(4).run()
    at.number_input(key="sk_stride").set_value(9).run()
    assert not at.exception
    assert any("stride 9 is larger than the padded image" in e.value for e in at.error)
    assert not at.metric  # nothing is drawn from a sweep that cannot run
    at.number_input(key="sk_stride").set_value(1).run()
    assert not at.error
    assert _metric(at, "Position") == "4 of 6"  # the step survived the bad setting
    # a 5×5 kernel on the 3×4 input
    at.toggle(key="sk_fig1_kernel").set_value(False).run()
    at.selectbox(key="sk_k_preset").set_value("Box blur 5×5").run()
    assert not at.exception
    assert any("kernel covers 5 pixels" in e.value for e in at.error)
    at.number_input(key="sk_padding").set_value(1).run()
    assert not at.error
    assert _metric(at, "Feature map") == "1 × 2"


def test_dilation_and_padding_mode(app_test):
    at = _open(app_test)
    at.radio(key="sk_source").set_value(DIGIT).run()
    at.number_input(key="sk_dilation").set_value(2).run()
    at.selectbox(key="sk_padding_mode").set_value("reflect").run()
    assert not at.exception
    # 28 + 2 - 2·2 - 1 + 1 = 26
    assert _metric(at, "Feature map") == "26 × 26"
    digit = torch.from_numpy(images.load_sample("Handwritten 7 (MNIST)")).double()[None, None]
    k = torch.tensor([[-1.0, 0, 1]] * 3, dtype=torch.float64)[None, None]
    ref = F.conv2d(F.pad(digit, (1, 1, 1, 1), mode="reflect"), k, dilation=2)[0, 0].numpy()
    at.slider(key="sk_pos").set_value(200).run()
    i, j = divmod(199, 26)
    assert _metric(at, f"Output A({i}, {j})") == f"{_fmt(ref[i, j])}"


def test_typed_grid_with_a_bad_cell_then_fixed(app_test):
    at = _open(app_test)
    at.radio(key="sk_source").set_value(GRID).run()
    assert not at.exception
    assert _metric(at, "Feature map") == "3 × 3"  # 5×5 grid, the 3×3 report kernel, no padding
    at.session_state["sk_grid_5x5"] = {"edited_rows": {1: {"2": "abc"}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception
    assert any("input grid cell at row 2, column 3" in e.value for e in at.error)
    at.session_state["sk_grid_5x5"] = {"edited_rows": {0: {"0": 7.0}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.error
    grid = torch.tensor((np.add.outer(np.arange(5), np.arange(5)) % 4).astype(float))
    grid[0, 0] = 7.0
    ref = F.conv2d(grid[None, None], torch.tensor([[-1.0, 0, 1]] * 3, dtype=torch.float64)[None, None])[0, 0]
    assert _metric(at, "Output A(0, 0)") == f"{int(ref[0, 0])}"


def test_rgb_image_with_three_channel_kernel_and_bias(app_test):
    at = _open(app_test)
    at.radio(key="sk_source").set_value(IMAGE).run()
    at.selectbox(key="sk_img_sample").set_value("Astronaut").run()
    at.toggle(key="sk_img_colour").set_value(True).run()
    at.number_input(key="sk_bias").set_value(0.5).run()
    assert not at.exception
    assert _metric(at, "Padded input") == "34 × 34 × 3"
    tex = _latex(at)
    for part in ("S_{R}", "S_{G}", "S_{B}", "+ b"):
        assert part in tex
    img = images.resize_max(images.load_sample("Astronaut"), 32)
    x = torch.from_numpy(np.moveaxis(img, -1, 0).astype(np.float64))[None]
    w = torch.tensor([[-1.0, 0, 1]] * 3, dtype=torch.float64).expand(1, 3, 3, 3)
    ref = F.conv2d(x, w, torch.tensor([0.5], dtype=torch.float64), padding=1)[0, 0].numpy()
    assert _metric(at, "Output A(0, 0)") == f"{_fmt(ref[0, 0])}"
    at.radio(key="sk_kmode").set_value("A different slice per channel").run()
    assert not at.exception
    assert _metric(at, "Kernel weights") == "27"


def test_gif_is_made_on_request_and_offered_for_download(app_test):
    at = _open(app_test)
    assert not at.get("download_button") or all("GIF" not in b.proto.label for b in at.get("download_button"))
    at.button(key="sk_make_gif").click().run()
    assert not at.exception
    labels = [b.proto.label for b in at.get("download_button")]
    assert "⬇️ Download GIF" in labels
    assert any("6 frames, 960×540" in c.value for c in at.caption)


def test_the_page_does_not_import_torch():
    from conftest import heavy_modules_after

    steps = (f"at.switch_page({PAGE!r}).run()\nassert not at.exception, at.exception\n"
             "at.radio(key='sk_source').set_value('Handwritten digit (28×28)').run()")
    assert heavy_modules_after(steps) == []


@pytest.mark.parametrize("source", [DIGIT, IMAGE, GRID])
def test_every_source_runs(app_test, source):
    at = _open(app_test)
    at.radio(key="sk_source").set_value(source).run()
    assert not at.exception
    assert at.metric


def test_upload_is_shrunk_to_32_and_a_broken_upload_keeps_the_page(app_test):
    import io

    from PIL import Image

    at = _open(app_test)
    at.radio(key="sk_source").set_value(IMAGE).run()
    at.radio(key="sk_img_source").set_value("Upload").run()
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (48, 64), dtype=np.uint8)).save(buf, format="PNG")
    at.file_uploader(key="sk_img_upload").set_value(("noise.png", buf.getvalue(), "image/png")).run()
    assert not at.exception
    assert _metric(at, "Padded input") == "26 × 34"  # 48×64 shrunk to 24×32, padding 1
    at.file_uploader(key="sk_img_upload").set_value(("broken.png", b"not an image", "image/png")).run()
    assert not at.exception
    assert any(text.md("broken.png") in e.value for e in at.error)
    assert _metric(at, "Padded input") == "34 × 34"  # the 256×256 sample, shrunk to 32×32, instead


def test_a_kernel_cell_with_text_shows_a_message(app_test):
    at = _open(app_test)
    at.toggle(key="sk_fig1_kernel").set_value(False).run()
    key = f"sk_k_grid_{at.session_state['sk_k_gen']}"  # ui.kernel_editor's grid of the current preset
    at.session_state[key] = {"edited_rows": {0: {"1": "abc"}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception
    assert any("row 1, column 2" in e.value and "last good kernel" in e.value for e in at.error)
    assert at.metric[0].label == "Position"  # the sweep goes on with the last good kernel


def test_the_gif_stays_offered_while_the_sweep_is_the_same(app_test):
    at = _open(app_test)
    at.button(key="sk_make_gif").click().run()
    at.button(key="sk_next").click().run()  # another step: the same sweep, the same GIF
    assert "⬇️ Download GIF" in [b.proto.label for b in at.get("download_button")]
    at.number_input(key="sk_padding").set_value(1).run()  # another sweep: a new GIF only on request
    assert not at.exception
    assert all("GIF" not in b.proto.label for b in at.get("download_button"))
    assert any("ready to drop into slides" in c.value for c in at.caption)
    at.number_input(key="sk_padding").set_value(0).run()  # back to the sweep it was made for
    assert "⬇️ Download GIF" in [b.proto.label for b in at.get("download_button")]
