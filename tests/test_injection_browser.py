"""User text is never markup, in Chromium: the issue's hostile strings reach the app through a shared URL
(the deblurring page's typed signal) and through upload file names (the "Could not use …" message, the
sandbox and sliding captions, the low-rank figure title). In the rendered page no link, image, script or
styled span comes out of them, the text reads as typed, and (Playwright's request log) the browser asks
nothing of any host but the app's own 127.0.0.1."""

from __future__ import annotations

import io
import urllib.parse

import numpy as np
import pytest
from conftest import assert_no_exception, wait_idle
from PIL import Image
from test_injection import NAMES

from cnn_viz.common import text

pytestmark = pytest.mark.browser

URL_VALUES = ["0 [Click_here_to_log_in](https://example.invalid/login)", "0 ![x](https://example.invalid/pixel.png)",
              "0 <img src=x onerror=alert(1)>", "0 [x](javascript:alert(1))", "0 :red[alarm] www.example.invalid"]

# Inside every markdown or figure container that shows one of the hostile strings: links, images, scripts,
# styled spans or handlers that the text could have made (the app's own <strong> around a quoted name is fine).
_MARKUP_JS = """(expected) => {
  const hostile = /example\\.invalid|alert\\(1\\)|alarm|Click_here|CLICK|bold/;
  const found = [];
  let boxes = 0;
  for (const box of document.querySelectorAll('[data-testid="stMarkdownContainer"], [data-testid="stCaptionContainer"], [data-testid="stPlotlyChart"]')) {
    const shown = box.textContent.replaceAll('\\u2060', '');
    if (!hostile.test(shown) && !expected.some((s) => shown.includes(s))) continue;
    boxes += 1;
    for (const el of box.querySelectorAll('a, img, script, iframe, span[style], tspan[style*="size"], tspan[style*="color"], [onerror], [href]')) {
      if (el.closest('.modebar')) continue;  // Plotly's toolbar
      found.push(el.outerHTML.slice(0, 200));
    }
  }
  return {boxes, found};
}"""



def _record(page, app_url):
    """Every request the page makes that does not go to the app's own host (data:/blob: are in-page)."""
    host = urllib.parse.urlsplit(app_url).netloc
    outside = []
    page.on("request", lambda r: None if r.url.startswith(("data:", "blob:")) or urllib.parse.urlsplit(r.url).netloc == host
            else outside.append(r.url))
    page.on("dialog", lambda d: (outside.append(f"dialog: {d.message}"), d.dismiss()))
    return outside


def _shown(page) -> str:
    return "\n".join(page.locator('[data-testid="stMain"], [data-testid="stSidebar"]').all_inner_texts()).replace(text.WJ, "")


def _wait_text(page, s: str, timeout: float = 60) -> None:
    """Wait until the page shows ``s`` (word joiners aside) in the app or in a figure."""
    page.wait_for_function("(s) => document.body.textContent.replaceAll('\\u2060', '').includes(s)", arg=s,
                           polling=200, timeout=timeout * 1000)


_STATE_JS = """() => { const app = document.querySelector('[data-testid="stApp"]');
  return {script: app && app.getAttribute('data-test-script-state'), connection: app && app.getAttribute('data-test-connection-state'),
          status: [...document.querySelectorAll('[data-testid="stStatusWidget"]')].map((e) => e.innerText.slice(0, 200))}; }"""


def _check(page, expected: list[str], outside: list[str]) -> None:
    try:
        wait_idle(page, 180)  # a guard against a hang only (a loaded CI box once took over 60 s here)
    except Exception as e:  # say what the page was doing: the flake seen beside other browser tests
        raise AssertionError(f"the page never went idle: {page.evaluate(_STATE_JS)}") from e
    assert_no_exception(page)
    seen = page.evaluate(_MARKUP_JS, expected)
    assert seen["found"] == [] and seen["boxes"] >= len(expected), seen
    assert page.locator('a[href*="example.invalid"], img[src*="example.invalid"], [href^="javascript:"]').count() == 0
    visible = _shown(page)
    for s in expected:
        assert s in visible, (s, visible[:3000])
    assert outside == []


def test_typed_signal_from_a_shared_url_is_text(page, app_url):
    outside = _record(page, app_url)
    for value in URL_VALUES:
        query = urllib.parse.urlencode({"db1_signal": "Typed values", "db1_typed": value}, quote_via=urllib.parse.quote_plus)
        page.goto(f"{app_url}/deblurring?{query}")
        # a value with tag brackets never reaches the widget: the link check drops it and its warning quotes
        # it; any other value reaches the parser, whose error quotes the cell that is not a number
        dropped = "<" in value
        alert, said = ("stAlertContentWarning", "db1_typed") if dropped else ("stAlertContentError", "not a number")
        page.locator(f'[data-testid="{alert}"]').filter(has_text=said).first.wait_for()
        bad = value.split(" ", 1)[1].split()[0]
        _check(page, [bad], outside)


def _png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (48, 48), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _upload(page, key: str, name: str, data: bytes) -> None:
    """Hand the uploader a file. The caller waits for what the upload must show (its error, or its caption):
    a fast rerun can start and end inside one render, so the script state alone cannot say it ran."""
    page.locator(f'.st-key-{key}_upload [data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        files=[{"name": name, "mimeType": "image/png", "buffer": data}])


@pytest.mark.parametrize("path,key,query", [
    ("kernel_sandbox", "img", "img_source=Upload"),
    ("low_rank", "lr_img", "lr_img_source=Upload"),
], ids=["sandbox", "low_rank"])
def test_upload_names_are_text(page, app_url, path, key, query):
    outside = _record(page, app_url)
    page.goto(f"{app_url}/{path}?{query}")
    page.locator(f'.st-key-{key}_upload [data-testid="stFileUploaderDropzoneInput"]').wait_for(state="attached")
    wait_idle(page)
    for name in NAMES:
        _upload(page, key, name, b"not an image")
        page.locator('[data-testid="stAlertContentError"]').filter(has_text="Could not use").first.wait_for()
        _check(page, [name], outside)
        _upload(page, key, name, _png())
        # the caption (sandbox) or the figure title (low rank, SVG text drawn by Plotly) shows the name as text
        _wait_text(page, f"Original: {name}" if path == "low_rank" else f"{name}: 48×48 pixels")
        _check(page, [name], outside)
        if path == "low_rank":
            assert page.locator('.st-key-lr_original .gtitle').first.text_content() == f"Original: {name}"
