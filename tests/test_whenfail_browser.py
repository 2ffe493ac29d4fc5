"""The 'When CNNs fail' page in Chromium: it opens from a deep link with the shipped table, a JPEG quality typed
into the URL is used, quality 0 gives a message (no traceback), and the JPEG tab's numbers are the core's."""

from __future__ import annotations

import re

import pytest
from conftest import OUTPUT, assert_no_exception, wait_idle

pytestmark = pytest.mark.browser
TIMEOUT = 240  # the first visit restores the JPEG twice with the CNN on a busy machine


def _open_jpeg_tab(page, app_url, quality: int) -> None:
    """A deep link with the quality in the URL; wait for the lab tab's lesson, then open the JPEG tab."""
    page.goto(app_url + f"/when_cnns_fail?wf_q={quality}")
    page.get_by_text("What the numbers say").first.wait_for(timeout=TIMEOUT * 1000)
    wait_idle(page, TIMEOUT)
    assert_no_exception(page)
    page.get_by_role("tab", name=re.compile("JPEG")).click()


def test_page_opens_with_the_table_and_the_jpeg_numbers(page, app_url):
    _open_jpeg_tab(page, app_url, 20)
    gain = page.get_by_text(re.compile(r"The CNN gains [+−-]\d")).first
    gain.wait_for(timeout=TIMEOUT * 1000)
    assert "+1.12 dB" in page.locator('[data-testid="stMarkdown"]').filter(has_text="The CNN gains").first.inner_text()
    page.screenshot(path=str(OUTPUT / "whenfail-jpeg.png"), full_page=True)

    from cnn_viz.common import images
    from cnn_viz.whenfail import jpeg
    from cnn_viz.whenfail import jpeg_cnn
    case, *_ = jpeg_cnn.with_cnn(jpeg_cnn.load()[0], images.to_gray(images.load_sample("Cameraman", 256)), 20)
    shown = float(re.search(r"gains ([+−-][\d.]+)", gain.inner_text()).group(1).replace("−", "-"))
    assert shown == pytest.approx(jpeg.gain_over_classical(case), abs=0.006)


def test_quality_zero_gives_a_message_not_a_traceback(page, app_url):
    _open_jpeg_tab(page, app_url, 0)
    page.locator('[data-testid="stAlert"]').filter(has_text="quality").first.wait_for(timeout=60_000)
    assert_no_exception(page)
