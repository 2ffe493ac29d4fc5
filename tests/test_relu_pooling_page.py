"""The ReLU and pooling page: AppTest of every control that matters, with the numbers it shows
checked against torch (the real browser is in test_relu_pooling_browser.py)."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import ROOT

from cnn_viz.common import images, kernels

torch.set_num_threads(1)
PAGE = "pages/relu_pooling.py"
DIGIT = images.load_sample("Handwritten 7 (MNIST)")  # 28×28, the page's default input


def _open(app_test):
    at = app_test()
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


EQUIVARIANCE = "Equivariance lab"


def _tab(at, name: str):
    """Open a tab of section 4 (only the open tab runs: st.tabs(on_change="rerun"))."""
    at.session_state["rp_part"] = name
    at.run()
    assert not at.exception, at.exception
    return at


def _stage_table(at):
    tables = [d.value for d in at.dataframe if "H×W×C" in d.value.columns]
    assert len(tables) == 1
    return tables[0]


def _metric(at, label):
    found = [m for m in at.metric if m.label == label]
    assert found, [m.label for m in at.metric]
    return found[0].value


def _markdown_with(at, text):
    hits = [m.value for m in at.markdown if text in m.value]
    assert hits, text
    return hits[0]


def _torch_relu_map(kernel_name="Vertical edge (report)"):
    x = torch.from_numpy(DIGIT.astype(np.float64))[None, None]
    k = torch.from_numpy(kernels.preset(kernel_name))[None, None]
    return F.relu(F.conv2d(x, k, padding=1))


def test_default_page_shows_the_report_pipeline_and_numbers(app_test):
    at = _open(app_test)
    assert not at.error
    table = _stage_table(at)
    assert list(table["stage"]) == ["Input", "Conv 1", "ReLU 1", "Max pool 1"]
    assert list(table["H×W×C"]) == ["28×28×1", "28×28×4", "28×28×4", "14×14×4"]
    assert list(table["numbers"]) == [784, 3136, 3136, 784]
    # The report's parameter counts, and the equivariance residual under circular padding.
    assert _metric(at, "Fully connected: weights") == "25,165,824"
    assert _metric(at, "Convolutional: weights") == "540"
    assert not [m for m in at.metric if m.label == "Largest |difference|"]  # a closed tab does not run
    assert _metric(_tab(at, EQUIVARIANCE), "Largest |difference|") == "0 exactly"
    assert not [m for m in at.metric if m.label == "Fully connected: weights"]
    # The edge example: torch's conv2d with padding 1 gives the same share of positive / negative pixels.
    before = F.conv2d(torch.from_numpy(DIGIT.astype(np.float64))[None, None],
                      torch.from_numpy(kernels.preset("Vertical edge (report)"))[None, None], padding=1)
    pos, neg = float((before > 0).double().mean()) * 100, float((before < 0).double().mean()) * 100
    caption = [c.value for c in at.caption if c.value.startswith("Both signs")][0]
    assert f"**{pos:.1f}%**" in caption and f"**{neg:.1f}%**" in caption
    # Pooling in detail starts on the largest pooled value; torch says where it came from.
    pooled, idx = F.max_pool2d(_torch_relu_map(), 2, 2, return_indices=True)
    i, j = np.unravel_index(int(torch.argmax(pooled)), pooled.shape[-2:])
    r, c = divmod(int(idx[0, 0, i, j]), 28)
    text = _markdown_with(at, "Largest value")
    assert f"**Largest value {float(pooled.max()):.4g}** at row {r}, column {c}" in text
    assert f"**({i}, {j})**" in text


def test_average_pooling_shows_the_mean_of_the_chosen_window(app_test):
    at = _open(app_test)
    at.radio(key="rp_pool").set_value("avg").run()
    assert not at.exception and not at.error
    table = _stage_table(at)
    assert list(table["stage"]) == ["Input", "Conv 1", "ReLU 1", "Avg pool 1"]
    assert list(table["H×W×C"])[-1] == "14×14×4"
    # The window stays where it was (on the largest max-pooled value), so max and mean can be compared.
    relu = _torch_relu_map()
    i, j = np.unravel_index(int(torch.argmax(F.max_pool2d(relu, 2, 2))), (14, 14))
    mean = F.avg_pool2d(relu, 2, 2)[0, 0, i, j]
    text = _markdown_with(at, "Mean =")
    assert f"**Mean = {4 * float(mean):.4g} / 4 = {float(mean):.4g}**" in text and f"**({i}, {j})**" in text
    # Move the window: the page follows.
    at.slider(key="rp_wi_3_14x14").set_value(0).run()
    at.slider(key="rp_wj_3_14x14").set_value(0).run()
    assert "= 0**: it lands in the pooled map at **(0, 0)**" in _markdown_with(at, "Mean =")
    assert "max-pooled" not in " ".join(c.value for c in at.caption)


def test_pool_size_and_stride_change_the_shapes(app_test):
    at = _open(app_test)
    at.number_input(key="rp_psize").set_value(3).run()
    at.number_input(key="rp_pstride").set_value(3).run()
    assert not at.exception and not at.error
    assert list(_stage_table(at)["H×W×C"])[-1] == "9×9×4"  # floor((28 - 3) / 3) + 1
    at.number_input(key="rp_ppad").set_value(1).run()
    assert list(_stage_table(at)["H×W×C"])[-1] == "10×10×4"  # floor((28 + 2 - 3) / 3) + 1


def test_second_layer_stacks_maps_and_halves_again(app_test):
    at = _open(app_test)
    at.toggle(key="rp_second").set_value(True).run()
    assert not at.exception and not at.error
    table = _stage_table(at)
    assert list(table["H×W×C"]) == ["28×28×1", "28×28×4", "28×28×4", "14×14×4", "14×14×8", "14×14×8", "7×7×8"]
    assert list(table["weights"])[4] == torch.nn.Conv2d(4, 8, 3, bias=False).weight.numel()
    at.radio(key="rp_l2src").set_value("bank").run()
    assert list(_stage_table(at)["H×W×C"])[-1] == "7×7×4"
    # Two poolings now: the detail can look into the second one.
    at.radio(key="rp_which_pool").set_value(6).run()
    assert not at.exception
    assert "Max pool 2" in " ".join(c.value for c in at.caption)


@pytest.mark.parametrize("act, names", [("none", ["Input", "Conv 1", "Max pool 1"]),
                                        ("leaky", ["Input", "Conv 1", "Leaky ReLU 1", "Max pool 1"])])
def test_activation_choice(app_test, act, names):
    at = _open(app_test)
    at.radio(key="rp_act").set_value(act).run()
    assert not at.exception and not at.error
    assert list(_stage_table(at)["stage"]) == names


def test_invalid_pooling_size_shows_a_message_and_the_page_goes_on(app_test):
    at = _open(app_test)
    at.number_input(key="rp_psize").set_value(40).run()
    assert not at.exception
    messages = " ".join(e.value for e in at.error)
    assert "Max pool 1" in messages and "larger than the map it pools (28 pixels)" in messages
    # The stages before the pooling are still shown, and the rest of the page works.
    assert list(_stage_table(at)["stage"]) == ["Input", "Conv 1", "ReLU 1"]
    assert _metric(at, "Fully connected: weights") == "25,165,824"
    assert any("No pooled map" in i.value for i in at.info)
    assert _metric(_tab(at, EQUIVARIANCE), "Largest |difference|") == "0 exactly"
    # Padding larger than half the window: torch refuses it, so do we, politely.
    at.number_input(key="rp_psize").set_value(2).run()
    at.number_input(key="rp_ppad").set_value(2).run()
    assert not at.exception
    assert "at most half the window" in " ".join(e.value for e in at.error)
    # Back to sane settings: everything is back.
    at.number_input(key="rp_ppad").set_value(0).run()
    assert not at.error and list(_stage_table(at)["H×W×C"])[-1] == "14×14×4"


def test_second_pool_too_large_keeps_the_first_layer(app_test):
    at = _open(app_test)
    at.toggle(key="rp_second").set_value(True).run()
    at.number_input(key="rp_psize").set_value(8).run()
    at.number_input(key="rp_pstride").set_value(4).run()  # 28 → 6 after the first pooling: no room for an 8×8 window
    assert not at.exception
    assert "Max pool 2" in " ".join(e.value for e in at.error)
    assert list(_stage_table(at)["stage"]) == ["Input", "Conv 1", "ReLU 1", "Max pool 1", "Conv 2", "ReLU 2"]


def test_empty_bank_and_broken_own_kernel(app_test):
    at = _open(app_test)
    at.multiselect(key="rp_bank").set_value([]).run()
    assert not at.exception
    assert "kernel bank is empty" in " ".join(e.value for e in at.error)
    assert _metric(at, "Convolutional: weights") == "540"  # the rest of the page carries on
    # Add an own kernel with text in a cell: a message, and the last good kernel (the preset's) stays in use.
    at.toggle(key="rp_own").set_value(True).run()
    grid_key = f"rp_kernel_grid_{at.session_state['rp_kernel_gen']}"  # ui.kernel_editor's data_editor
    at.session_state[grid_key] = {"edited_rows": {0: {"0": "abc"}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception
    assert any("row 1, column 1" in e.value and "last good kernel" in e.value for e in at.error)


def test_own_kernel_and_negatives_join_the_bank(app_test):
    at = _open(app_test)
    at.toggle(key="rp_own").set_value(True).run()
    at.toggle(key="rp_neg").set_value(True).run()
    assert not at.exception and not at.error
    table = _stage_table(at)
    assert list(table["H×W×C"])[1] == "28×28×10"  # 4 presets + my kernel, and their negatives
    assert list(table["weights"])[1] == 10 * 9


def test_colour_input_keeps_three_channels(app_test):
    at = _open(app_test)
    at.selectbox(key="rp_img_sample").set_value("Astronaut").run()
    at.toggle(key="rp_img_colour").set_value(True).run()
    assert not at.exception and not at.error
    table = _stage_table(at)
    assert list(table["H×W×C"])[:2] == ["128×128×3", "128×128×4"]
    assert list(table["weights"])[1] == 4 * 3 * 9


def test_zero_padding_equivariance_is_border_confined(app_test):
    at = _tab(_open(app_test), EQUIVARIANCE)
    at.slider(key="rp_dx").set_value(3).run()
    at.slider(key="rp_dy").set_value(-2).run()
    assert _metric(at, "Largest |difference|") == "0 exactly"
    at.radio(key="rp_eqmode").set_value("zeros").run()
    assert not at.exception
    # The digit sits in the middle of a black frame, so nothing reaches the border: 0 again ...
    assert _metric(at, "Largest |difference|") == "0 exactly"
    # ... while the cameraman fills the frame: a difference, but only in a band along the border.
    at.selectbox(key="rp_img_sample").set_value("Cameraman").run()
    assert _metric(at, "Largest |difference|") != "0 exactly"
    reach = int(re.match(r"(\d+) px", _metric(at, "Differences reach in from the border")).group(1))
    assert 1 <= reach <= 3 + 1  # the shift plus half the 3×3 kernel


def test_broken_upload_is_reported(app_test):
    at = _open(app_test)
    at.radio(key="rp_img_source").set_value("Upload").run()
    at.file_uploader(key="rp_img_upload").set_value(("bad.png", b"not an image", "image/png")).run()
    assert not at.exception
    assert any("Could not use" in e.value for e in at.error)
    assert list(_stage_table(at)["H×W×C"])[0] == "28×28×1"  # the sample is used instead


def test_parameter_inputs(app_test):
    at = _open(app_test)
    at.number_input(key="rp_ph").set_value(28).run()
    at.number_input(key="rp_pw").set_value(28).run()
    at.number_input(key="rp_pc").set_value(1).run()
    at.number_input(key="rp_hidden").set_value(128).run()
    assert _metric(at, "Fully connected: weights") == f"{torch.nn.Linear(784, 128, device='meta').weight.numel():,}"
    assert _metric(at, "Convolutional: weights") == f"{torch.nn.Conv2d(1, 20, 3, device='meta').weight.numel():,}"


def test_the_page_does_not_import_torch():
    """The page is NumPy only: importing torch would cost every new server seconds and ~500 MB."""
    code = ("import sys, ast, importlib; src = open('pages/relu_pooling.py').read(); "
            "mods = [n.module + '.' + a.name for n in ast.walk(ast.parse(src)) if isinstance(n, ast.ImportFrom) and (n.module or '').startswith('cnn_viz') for a in n.names]; "
            "[__import__(m.rsplit('.', 1)[0], fromlist=[m.rsplit('.', 1)[1]]) for m in mods]; "
            "print(len(mods), 'torch' in sys.modules, 'torchvision' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert int(out[0]) >= 6 and out[1:] == ["False", "False"]
