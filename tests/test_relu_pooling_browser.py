"""The ReLU and pooling page in a real browser, as a person uses it: the pipeline, switching the
pooling mode, the download, a message for a bad setting, and the equivariance lab (a fragment)
following its shift slider. Every number is checked against torch."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import OUTPUT, assert_no_exception, wait_idle
from playwright.sync_api import expect
from test_relu_pooling_page import DIGIT, _torch_relu_map

from cnn_viz.common import kernels

pytestmark = pytest.mark.browser
torch.set_num_threads(1)


def _open(page, app_url):
    page.goto(app_url)  # the home page first: a fresh server only knows st.navigation once app.py has run
    wait_idle(page)
    page.goto(app_url + "/relu_pooling")
    wait_idle(page)
    assert_no_exception(page)


def _plot_z(page, key):
    """The z values of the first trace of a Plotly chart, as plotly.js decoded them in the browser."""
    return np.array(page.evaluate(
        """(key) => { const gd = document.querySelector('.st-key-' + key + ' .js-plotly-plot');
                      return Array.from(gd._fullData[0].z, row => Array.from(row)); }""", key), dtype=np.float64)


def _metric(page, label):
    """The value and the delta of the metric with this label."""
    box = page.locator('[data-testid="stMetric"]').filter(has=page.get_by_text(label, exact=True))
    return box.locator('[data-testid="stMetricValue"]'), box.locator('[data-testid="stMetricDelta"]')


def test_browser_switches_pooling_mode_and_the_maps_follow(page, app_url):
    _open(page, app_url)
    page.get_by_text("28×28×4").first.wait_for()
    page.locator(".st-key-rp_pool_out .js-plotly-plot").wait_for()
    z_max = _plot_z(page, "rp_pool_out")
    relu = _torch_relu_map()
    np.testing.assert_allclose(z_max, F.max_pool2d(relu, 2, 2)[0, 0].numpy(), atol=1e-5)
    assert page.get_by_text(re.compile(r"Largest value")).count() >= 1
    page.screenshot(path=str(OUTPUT / "relu_pooling-max.png"), full_page=True)

    page.locator('[data-testid="stSidebar"]').get_by_text("Average", exact=True).click()
    page.get_by_text(re.compile(r"Mean = ")).first.wait_for(timeout=60_000)
    wait_idle(page)
    assert_no_exception(page)
    z_avg = _plot_z(page, "rp_pool_out")
    np.testing.assert_allclose(z_avg, F.avg_pool2d(relu, 2, 2)[0, 0].numpy(), atol=1e-5)
    assert not np.allclose(z_avg, z_max)
    # The pipeline overview changed too: its last column is now the average-pooled maps.
    names = page.evaluate("""() => Array.from(document.querySelectorAll('.st-key-rp_pipeline .annotation-text'), e => e.textContent)""")
    assert "Avg pool 1" in names and "14×14×4" in names
    page.screenshot(path=str(OUTPUT / "relu_pooling-avg.png"), full_page=True)

    # The download holds every stage as computed on the server.
    with page.expect_download() as dl:
        page.get_by_text("All stages (.npz)").click()
    data = np.load(dl.value.path())
    assert sorted(data.files) == ["00_input", "01_conv_1", "02_relu_1", "03_avg_pool_1"]
    np.testing.assert_allclose(data["03_avg_pool_1"][0], F.avg_pool2d(relu, 2, 2)[0, 0].numpy(), atol=1e-5)

    # A pooling window larger than the map: a message, no traceback.
    size = page.locator('[data-testid="stSidebar"] [data-testid="stNumberInput"]').filter(has_text="Size").locator("input")
    size.fill("40")
    size.press("Enter")
    page.get_by_text(re.compile("larger than the map it pools")).first.wait_for(timeout=60_000)
    wait_idle(page)
    assert_no_exception(page)


def _torch_pooled_shift(dx):
    """Relative change (in %) of the 2×2 max-pooled ReLU map and of the ReLU map itself when the digit
    moves dx pixels right, circular padding and shift, and whether the pooled map just moved by dx / 2."""
    x = torch.from_numpy(DIGIT.astype(np.float64))[None, None]
    k = torch.from_numpy(kernels.preset("Vertical edge (report)"))[None, None]

    def feature(t):
        return F.relu(F.conv2d(F.pad(t, (1, 1, 1, 1), mode="circular"), k))

    f0, f1 = feature(x), feature(torch.roll(x, dx, dims=3))
    p0, p1 = F.max_pool2d(f0, 2, 2), F.max_pool2d(f1, 2, 2)
    moved = dx % 2 == 0 and torch.equal(p1, torch.roll(p0, dx // 2, dims=3))
    return 100 * float((p1 - p0).norm() / p0.norm()), 100 * float((f1 - f0).norm() / f0.norm()), moved


def test_browser_equivariance_lab_follows_its_shift_slider(page, app_url):
    _open(page, app_url)
    page.get_by_role("tab", name="Equivariance lab").click()
    changed, map_changed = _metric(page, "Pooled map changed by")
    pooled, feature, _ = _torch_pooled_shift(1)  # the lab starts with the digit moved one pixel right
    expect(changed).to_have_text(f"{pooled:.1f}%")
    expect(map_changed).to_have_text(f"feature map: {feature:.1f}%")
    assert page.get_by_text(re.compile(r"Shift ÷ stride")).count() == 0  # 1 px is no multiple of the stride

    # One step right on the dx slider (keyboard, as a person would): only the fragment reruns.
    thumb = page.get_by_role("slider", name="Shift right (dx)")
    thumb.focus()
    thumb.press("ArrowRight")
    pooled, feature, moved = _torch_pooled_shift(2)
    expect(changed).to_have_text(f"{pooled:.1f}%")
    expect(map_changed).to_have_text(f"feature map: {feature:.1f}%")
    expect(_metric(page, "Shift")[0]).to_have_text("(0, 2) px")
    # A shift by the stride moves the pooled map by exactly one cell: torch agrees, and so does the page.
    assert moved
    expect(_metric(page, "Shift ÷ stride = (0, 1)")[0]).to_have_text("0 exactly")
    wait_idle(page)
    assert_no_exception(page)
    page.screenshot(path=str(OUTPUT / "relu_pooling-equivariance.png"), full_page=True)
