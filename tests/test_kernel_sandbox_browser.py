"""The real app in headless Chromium: home page, kernel sandbox, an upload through the file chooser."""

import re

import numpy as np
import pytest
from conftest import OUTPUT, assert_no_exception, wait_idle
from PIL import Image

pytestmark = pytest.mark.browser


def expect_one(page, pattern: str) -> None:
    """Exactly one element matches: waited for, since a rerun may still be drawing after wait_idle."""
    loc = page.get_by_text(re.compile(pattern))
    loc.first.wait_for(timeout=60_000)
    assert loc.count() == 1


def test_home_lists_the_pages(page, app_url):
    page.goto(app_url)
    wait_idle(page)
    assert_no_exception(page)
    assert page.get_by_role("heading", name="CNN Viz").is_visible()
    assert page.get_by_text("Kernel sandbox").first.is_visible()
    page.screenshot(path=str(OUTPUT / "home.png"), full_page=True)


def test_sandbox_upload_and_edit(page, app_url, tmp_path):
    page.goto(app_url + "/kernel_sandbox")
    wait_idle(page)
    assert_no_exception(page)
    assert page.get_by_text("Feature map", exact=True).first.is_visible()
    expect_one(page, r"^Output 510×510")

    # upload a 120×90 picture through the real file chooser
    y, x = np.mgrid[0:90, 0:120]
    Image.fromarray(((x // 20 + y // 20) % 2 * 255).astype(np.uint8)).save(tmp_path / "checks.png")
    page.get_by_text("Upload", exact=True).click()
    wait_idle(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(tmp_path / "checks.png"))
    page.get_by_text(re.compile(r"^checks\.png: 90×120 pixels")).wait_for(timeout=60_000)
    wait_idle(page)
    assert_no_exception(page)
    expect_one(page, r"^Output 88×118")
    page.screenshot(path=str(OUTPUT / "sandbox-upload.png"), full_page=True)

    # a broken file: a message, and the page keeps working
    (tmp_path / "broken.png").write_bytes(b"not an image at all")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(tmp_path / "broken.png"))
    page.get_by_text(re.compile("not an image that can be read")).wait_for(timeout=60_000)
    wait_idle(page)
    assert_no_exception(page)
    expect_one(page, r"^Output 510×510")


def test_settings_live_in_the_url(page, app_url):
    page.goto(app_url + "/kernel_sandbox?k_preset=Sobel+y&stride=2&padding=1")
    wait_idle(page)
    assert_no_exception(page)
    expect_one(page, r"^Output 256×256")  # floor((512 + 2 - 2 - 1) / 2) + 1
    assert page.get_by_text("Vertical derivative with smoothing", exact=False).count() >= 1
    page.screenshot(path=str(OUTPUT / "sandbox-url.png"), full_page=True)


def test_a_bookmarked_page_on_a_cold_server_goes_through_app_py(browser):
    """Streamlit's legacy pages/ mode must not show on the first visit after a restart."""
    from conftest import start_app, stop_app

    proc, url = start_app("streamlit-cold-server.log")
    try:
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        pg = ctx.new_page()
        pg.goto(url + "/kernel_sandbox?k_preset=Sobel+y")
        pg.get_by_text("Vertical derivative with smoothing").first.wait_for(timeout=60_000)  # the URL's settings survived
        wait_idle(pg)
        assert_no_exception(pg)
        nav = pg.locator('[data-testid="stSidebarNav"]')
        nav.get_by_text("Home", exact=True).wait_for(timeout=60_000)
        assert nav.get_by_text("app", exact=True).count() == 0  # the legacy menu names app.py "app"
        pg.screenshot(path=str(OUTPUT / "cold-server-bookmark.png"), full_page=True)
        ctx.close()
    finally:
        stop_app(proc)
