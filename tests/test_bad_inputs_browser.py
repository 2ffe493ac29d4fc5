"""A subset of the bad-input corpus (test_bad_inputs.py) in real Chromium: tampered links and odd uploads
through the real file chooser each end in a message and no exception box; and the app, navigation icons
included, makes no request beyond 127.0.0.1."""

from __future__ import annotations

import io
from urllib.parse import quote, urlparse

import numpy as np
import pytest
from conftest import OUTPUT, assert_no_exception, wait_idle
from test_app import PAGES
from PIL import Image

pytestmark = pytest.mark.browser

ALERT = "<script>alert(1)</script>"


def _png(h: int, w: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (h, w), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _float_tiff_with_inf() -> bytes:
    a = np.linspace(0, 1, 24 * 24, dtype=np.float32).reshape(24, 24)
    a[3, 4] = np.inf
    buf = io.BytesIO()
    Image.fromarray(a, mode="F").save(buf, format="TIFF")
    return buf.getvalue()


def _open(page, app_url, path: str, query: dict[str, str]):
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{app_url}/{path}?" + "&".join(f"{k}={quote(v)}" for k, v in query.items()))
    page.wait_for_selector('[data-testid="stApp"]')
    wait_idle(page, 120)
    return dialogs


def _wait_for_alert(page, text: str) -> None:
    page.wait_for_function(
        "(s) => [...document.querySelectorAll('[data-testid=\"stAlert\"]')].some(e => e.innerText.includes(s))",
        arg=text, timeout=120_000)


def _alerts(page) -> list[str]:
    return page.locator('[data-testid="stAlert"]').all_inner_texts()


LINKS = [
    ("kernel_sandbox", {"stride": "inf", "dilation": "1e999", "k_preset": ALERT, "img_sample": "No such picture"}, "stride"),
    ("relu_pooling", {"rp_psize": "1e999", "rp_act": ALERT, "rp_side": "-1"}, "rp_psize"),
    ("deblurring", {"db1_n": "nan", "db1_sigma": "inf", "db1_signal": "9" * 10_000}, "db1_sigma"),
]


@pytest.mark.parametrize("path, query, key", LINKS, ids=[p for p, _, _ in LINKS])
def test_a_tampered_link_shows_a_warning_not_a_traceback(page, app_url, path, query, key):
    dialogs = _open(page, app_url, path, query)
    _wait_for_alert(page, "The link set")  # a cold server reruns once first (ui leaves the legacy page mode)
    wait_idle(page, 120)
    assert_no_exception(page)
    alerts = _alerts(page)
    assert any(a.startswith("The link set") and key in a for a in alerts), alerts
    assert dialogs == []  # no script ran
    assert page.locator("script:text('alert(1)')").count() == 0
    if any(v == ALERT for v in query.values()):
        assert any(ALERT in a for a in alerts), alerts  # quoted as text, visibly
    for k, v in query.items():  # the bad values are gone from the address bar
        assert f"{k}={quote(v)}" not in page.url
    page.screenshot(path=str(OUTPUT / f"bad-link-{path}.png"), full_page=False)


UPLOADS = [
    ("relu_pooling", "rp_img", "one.png", lambda: _png(1, 1), "at least 16"),
    ("low_rank", "lr_img", "column.png", lambda: _png(5000, 1), "at least 8"),
    ("kernel_sandbox", "img", "hot.tif", _float_tiff_with_inf, "not a finite number"),
    ("kernel_sandbox", "img", "notes.png", lambda: b"lecture notes, not a picture\n" * 10, "not an image"),
]


@pytest.mark.parametrize("path, picker, name, make, said", UPLOADS, ids=[f"{p}-{n}" for p, _, n, _, _ in UPLOADS])
def test_an_odd_upload_shows_a_message_not_a_traceback(page, app_url, path, picker, name, make, said, tmp_path):
    _open(page, app_url, path, {f"{picker}_source": "Upload"})
    f = tmp_path / name
    f.write_bytes(make())
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(f))
    _wait_for_alert(page, said)
    wait_idle(page, 120)
    assert_no_exception(page)


def test_nothing_is_fetched_beyond_this_machine_and_the_icons_are_bundled(page, app_url):
    """Every request the home page and a lesson make (favicon and navigation icons included) goes to
    127.0.0.1; the navigation shows Material icons from Streamlit's own font, not emoji."""
    hosts = []
    page.on("request", lambda r: hosts.append(urlparse(r.url).hostname))
    page.goto(app_url)
    page.wait_for_selector('[data-testid="stSidebarNav"]')
    wait_idle(page, 120)
    page.goto(app_url + "/kernel_sandbox")
    page.wait_for_selector('[data-testid="stSidebarNav"]')
    wait_idle(page, 120)
    page.wait_for_load_state("networkidle")  # late requests (favicon, fonts) have gone out
    outside = sorted({h for h in hosts if h not in ("127.0.0.1", None)})
    assert outside == [], outside
    icons = page.locator('[data-testid="stSidebarNav"] [data-testid="stIconMaterial"]')
    assert icons.count() == len(PAGES) + 1, icons.count()  # every page and Home
    assert "tune" in icons.all_inner_texts()
    page.screenshot(path=str(OUTPUT / "nav-material-icons.png"))
