"""The low-rank page in Chromium: moving the rank slider with the keyboard changes the numbers, and the
measured error keeps agreeing with the Eckart–Young value; the Udell–Townsend part shows the shipped sweep."""

from __future__ import annotations

import json
import re

import pytest
from conftest import OUTPUT, ROOT, assert_no_exception, wait_idle
from playwright.sync_api import expect

from cnn_viz.common import images
from cnn_viz.lowrank import svd

PSNR = "PSNR"
MEASURED = "Measured error"
EY = "Eckart–Young error"
SLIDER = ".st-key-lr_k input[type=range]"  # the rank slider (react-aria keeps a real range input)
RERUN_MS = 60_000  # how long a rerun may take on a busy machine (Playwright's expect waits only 5 s by default)


def _goto(page, app_url):
    """A deep link to the page (the ui package makes even a cold server's first visit go through app.py)."""
    page.goto(app_url + "/low_rank")


def _metric_value(page, label: str):
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return box.locator('[data-testid="stMetricValue"]')


def _metric(page, label: str) -> str:
    return _metric_value(page, label).inner_text().strip()


def _slider_value(page) -> int:
    return int(float(page.locator(SLIDER).first.input_value()))


@pytest.mark.browser
def test_rank_slider_moves_and_the_numbers_follow(page, app_url):
    _goto(page, app_url)
    page.get_by_text("Ranks 1, 2, 5, 10, 20, 50 side by side").wait_for()
    wait_idle(page)
    assert_no_exception(page)
    assert page.locator("[data-testid=stSidebarNav] a").filter(has_text="Low rank").count() == 1
    k0 = _slider_value(page)
    psnr0 = _metric(page, PSNR)
    assert k0 == 20 and _metric(page, MEASURED) == _metric(page, EY)

    cam = images.load_sample("Cameraman")
    f = svd.image_svd(cam)

    def psnr_at(k: int) -> str:
        return f"{svd.rank_stats(cam, svd.rebuild(f, k), f, k).psnr:.2f} dB"

    page.locator(SLIDER).first.focus()
    for k in (21, 22, 23):  # 20 → 23 one step at a time: every press is a (fragment) rerun, awaited by its PSNR
        page.keyboard.press("ArrowRight")
        expect(_metric_value(page, PSNR)).to_have_text(psnr_at(k), timeout=RERUN_MS)
    wait_idle(page)
    assert_no_exception(page)
    k1 = _slider_value(page)
    assert k1 == 23
    psnr1 = _metric(page, PSNR)
    assert psnr1 != psnr0
    stats = svd.rank_stats(cam, svd.rebuild(f, k1), f, k1)
    assert psnr1 == f"{stats.psnr:.2f} dB"
    assert _metric(page, MEASURED) == _metric(page, EY) == f"{stats.eckart_young:.4f}"
    assert _metric(page, "Numbers stored") == f"{k1 * 1025:,}"
    assert "lr_k=23" in page.url  # the rank lives in the address bar: a bookmarkable demo
    page.screenshot(path=str(OUTPUT / "low_rank_images_k23.png"), full_page=True)

    page.keyboard.press("End")  # one jump to full rank: the image is rebuilt exactly
    expect(_metric_value(page, EY)).to_have_text("0.0000", timeout=RERUN_MS)
    wait_idle(page)
    assert _slider_value(page) == 512
    assert float(_metric(page, PSNR).split()[0]) > 90 and _metric(page, EY) == "0.0000"
    page.keyboard.press("Home")
    expect(_metric_value(page, PSNR)).to_have_text(psnr_at(1), timeout=RERUN_MS)
    wait_idle(page)
    assert _slider_value(page) == 1
    assert float(_metric(page, PSNR).split()[0]) < float(psnr0.split()[0])
    assert_no_exception(page)


@pytest.mark.browser
def test_why_low_rank_tab_shows_the_measured_eps_ranks(page, app_url):
    _goto(page, app_url)
    wait_idle(page)
    page.get_by_role("tab", name="Why low rank").click()
    page.get_by_text("The Johnson–Lindenstrauss step", exact=True).wait_for()
    wait_idle(page)
    assert_no_exception(page)
    shipped = json.loads((ROOT / "assets" / "lowrank_sweep.json").read_text())["sweeps"][0]
    value = _metric(page, "ε-rank at n = 100 → 4000")
    assert re.sub(r"\s+", " ", value) == f"{shipped['latent_max'][0]} → {shipped['latent_max'][-1]}"
    assert page.locator(".st-key-lr_epsrank .js-plotly-plot").count() == 1
    page.screenshot(path=str(OUTPUT / "low_rank_why.png"), full_page=True)
