""""Your own network" in Chromium: a design from a shared link → train it (tiny) → download the file →
upload it in a fresh tab → the same network is back; a hostile file gets its message."""

from __future__ import annotations

import io

import pytest
import torch

from conftest import OUTPUT, assert_no_exception, wait_idle
from cnn_viz.mnist import design, netfile

pytestmark = pytest.mark.browser
TINY = "conv4k3p1-relu-max2-flat-fc10"
METRIC = '[data-testid="stMetric"]'


def metric_texts(page) -> list[str]:
    m = page.locator(METRIC)
    return [m.nth(i).inner_text() for i in range(m.count())]


def open_page(page, url: str) -> None:
    """Go to the page and wait until it has drawn its metrics (a cold server first reruns into st.navigation)."""
    page.goto(url)
    page.locator(METRIC).filter(has_text="Parameters").first.wait_for(timeout=180_000)
    wait_idle(page, timeout=180)


def upload(page, path) -> None:
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').last.set_input_files(str(path))


def test_design_train_download_upload_in_the_browser(page, app_url, tmp_path):
    open_page(page, f"{app_url}/your_network?net={TINY}")
    assert_no_exception(page)
    params = design.summarize(design.from_code(TINY)).params
    assert any(t.startswith("Parameters") and f"{params:,}" in t for t in metric_texts(page))
    assert f"net={TINY}" in page.url

    # train: 1 epoch, 250 digits (the select sliders are moved with the keyboard)
    page.get_by_test_id("stSlider").filter(has_text="Epochs").get_by_role("slider").focus()
    page.keyboard.press("Home")  # 1 epoch
    wait_idle(page)
    digits = page.get_by_test_id("stSlider").filter(has_text="Training digits").get_by_role("slider")
    digits.focus()
    page.keyboard.press("Home")  # 250 digits
    wait_idle(page)
    page.get_by_role("button", name="Train").click()
    page.get_by_role("button", name="Download this network (.pt)").wait_for(timeout=180_000)
    wait_idle(page, timeout=120)
    assert_no_exception(page)
    acc = [t for t in metric_texts(page) if t.startswith("Held-out accuracy")]
    assert len(acc) == 2 and "98.90%" in acc[1], acc  # yours, then the shipped network
    page.screenshot(path=str(OUTPUT / "your-network-trained.png"), full_page=True)

    with page.expect_download() as info:
        page.get_by_role("button", name="Download this network (.pt)").click()
    path = tmp_path / "my_network.pt"
    info.value.save_as(str(path))
    net = netfile.load(path.read_bytes())
    assert net.design.code == TINY and net.kind == "network file" and net.epochs == 1
    assert net.meta["n_train"] == 250 and net.meta["epochs"] == 1

    # a fresh tab (a new session, the report's network in the table): upload the file
    fresh = page.context.new_page()
    open_page(fresh, f"{app_url}/your_network")
    upload(fresh, path)
    fresh.get_by_text("Loaded my_network.pt").wait_for(timeout=120_000)
    wait_idle(fresh, timeout=120)
    assert_no_exception(fresh)
    assert f"net={TINY}" in fresh.url  # the table and the address now hold the loaded design
    assert any(t.startswith("Parameters") and f"{params:,}" in t for t in metric_texts(fresh))
    acc2 = [t for t in metric_texts(fresh) if t.startswith("Held-out accuracy")]
    assert acc2[0].split("\n")[1] == acc[0].split("\n")[1]  # the same accuracy as before the download

    # a hostile file: refused with the check named, the loaded network stays
    class Payload:
        def __reduce__(self):
            return exec, (f"open({str(tmp_path / 'marker')!r}, 'w').write('x')",)

    buf = io.BytesIO()
    torch.save({"state_dict": Payload()}, buf)
    evil = tmp_path / "evil.pt"
    evil.write_bytes(buf.getvalue())
    upload(fresh, evil)
    fresh.get_by_text("Check 'weights-only loading' failed").wait_for(timeout=60_000)
    wait_idle(fresh)
    assert_no_exception(fresh)
    assert fresh.get_by_text("keeps the network it had").count() == 1
    assert not (tmp_path / "marker").exists()
    fresh.screenshot(path=str(OUTPUT / "your-network-uploaded.png"), full_page=True)
    fresh.close()
