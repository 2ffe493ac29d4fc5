"""Keyboard, URL state, presenter view and the colour-vision-safe option in a real Chromium.

- Tab from the top of every page reaches the sidebar's controls and the main column's controls.
- The sliding-kernel page: N / B / L / F step, step back, jump to the end and the start; P plays the
  animation in the browser (the picture changes on its own) and pauses it (the picture stays); the
  Position slider moves with the arrow keys and the step's picture is redrawn.
- A link with settings opens every page with those settings shown, and a setting changed from the
  keyboard goes into the address bar.
- ?presenter=true collapses the sidebar, enlarges the main column and hides the spoken prose;
  ?safe_colours=true draws the feature map on the blue–orange scale.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from playwright.sync_api import expect
from conftest import assert_no_exception, wait_idle

from cnn_viz.figures import palette

pytestmark = pytest.mark.browser

PAGES = ["kernel_sandbox", "sliding_kernel", "relu_pooling", "mnist_activations", "deblurring", "low_rank"]
CONTROLS = {"stCheckbox", "stNumberInputField", "stSelectbox", "stSlider", "stRadioOption", "stBaseButton-secondary",
            "stBaseButton-primary", "stTextInputRootElement", "stMultiSelect", "stDataFrameResizable", "stTab",
            "stFileUploaderDropzone", "stBaseButton-pills"}

_FOCUS_JS = """() => {
  const e = document.activeElement;
  const zone = e.closest('[data-testid="stSidebar"]') ? 'sidebar' : e.closest('[data-testid="stMain"]') ? 'main' : 'other';
  let w = e, ids = [];
  while (w) { const t = w.getAttribute && w.getAttribute('data-testid'); if (t) ids.push(t); w = w.parentElement; }
  return [zone, e.tagName, ids];
}"""


def _open(page, url: str) -> None:
    """Open ``url`` and wait for its first run to finish. A fresh page reads idle before that run has drawn
    anything, so first wait for the sidebar's Display toggles (app.py draws them before the page), then idle."""
    page.goto(url)
    expect(page.locator('[data-testid="stSidebar"] input').nth(1)).to_be_attached(timeout=60_000)
    wait_idle(page, 180)
    assert_no_exception(page)


@pytest.mark.parametrize("name", PAGES)
def test_tab_reaches_the_sidebar_and_the_main_controls(page, app_url, name):
    _open(page, f"{app_url}/{name}")
    # the script can read idle before its first run's widgets are drawn: wait for the sidebar's controls
    expect(page.locator('[data-testid="stSidebar"] input').nth(2)).to_be_attached(timeout=60_000)
    seen = {"sidebar": set(), "main": set()}
    for _ in range(160):
        page.keyboard.press("Tab")
        zone, tag, ids = page.evaluate(_FOCUS_JS)
        if zone in seen and tag in ("INPUT", "BUTTON", "CANVAS", "TEXTAREA") or zone in seen and "stTab" in ids:
            seen[zone] |= set(ids) & CONTROLS
        if seen["sidebar"] and seen["main"]:
            break
    assert seen["sidebar"], "Tab never reached a control in the sidebar"
    assert seen["main"], "Tab never reached a control in the main column"


def _metric(page) -> str:
    return page.locator('[data-testid="stMetricValue"]').first.inner_text()


def _press(page, key: str, metric: str | None = None) -> None:
    """Press ``key``; with ``metric``, wait until the step counter shows it (the rerun has landed)."""
    page.keyboard.press(key)
    if metric is not None:
        expect(page.locator('[data-testid="stMetricValue"]').first).to_have_text(metric, timeout=60_000)
    wait_idle(page, 60)


ANIM = "document.querySelector('.st-key-sk_anim .js-plotly-plot')"


def _anim_state(page) -> dict:
    """The sliding animation's frame on the scrubber and whether Plotly is running an animation."""
    return page.evaluate(f"() => {{ const gd = {ANIM}; const t = gd._transitionData || {{}};"
                         " return {active: gd._fullLayout.sliders[0].active,"
                         " running: !!t._animationRaf || (t._frameQueue || []).length > 0}; }")


def test_the_sliding_kernels_shortcuts_step_and_play(page, app_url):
    _open(page, f"{app_url}/sliding_kernel?sk_source={quote('Handwritten digit (28×28)')}")
    n = int(_metric(page).split()[-1])
    assert _metric(page) == f"1 of {n}"
    _press(page, "n", f"2 of {n}")
    _press(page, "n", f"3 of {n}")
    _press(page, "b", f"2 of {n}")
    assert "sk_pos=2" in page.url  # the step is part of the link
    _press(page, "l", f"{n} of {n}")
    _press(page, "f", f"1 of {n}")

    start = _anim_state(page)["active"]
    page.keyboard.press("p")  # Play: runs in the browser, no rerun
    page.wait_for_function(f"(start) => {ANIM}._fullLayout.sliders[0].active > start + 1", arg=start, timeout=30_000)
    page.keyboard.press("p")  # Pause
    page.wait_for_function(f"() => {{ const t = {ANIM}._transitionData || {{}}; "
                           "return !t._animationRaf && !(t._frameQueue || []).length; }", timeout=30_000)
    paused = _anim_state(page)["active"]
    # 30 more animation frames of the browser: the scrubber stays where Pause left it
    page.evaluate("() => new Promise(done => { let k = 0; const tick = () => (++k < 30 ? requestAnimationFrame(tick) : done());"
                  " requestAnimationFrame(tick); })")
    assert _anim_state(page) == {"active": paused, "running": False}, "P did not pause the animation"


def test_the_position_slider_moves_with_the_arrow_keys_and_the_picture_follows(page, app_url):
    _open(page, f"{app_url}/sliding_kernel")
    grids = page.locator(".st-key-sk_grids")
    before = grids.screenshot()
    heading = page.get_by_text("Step 1: computing A(0, 0)")
    assert heading.count() == 1
    page.locator(".st-key-sk_pos input[type=range]").focus()
    n = int(_metric(page).split()[-1])
    _press(page, "ArrowRight", f"2 of {n}")
    assert page.get_by_text("Step 2: computing A(0, 1)").count() == 1
    assert grids.screenshot() != before


# page → (query string, [(element key, text the widget shows)])
LINKS = {
    "kernel_sandbox": (f"k_preset={quote('Sobel x')}&stride=2&padding_mode=reflect&relu=true",
                       [("k_preset", "Sobel x"), ("padding_mode", "reflect")]),
    "sliding_kernel": (f"sk_source={quote('Handwritten digit (28×28)')}&sk_stride=2&sk_pos=5&sk_k_preset=Sharpen",
                       [("sk_k_preset", "Sharpen")]),
    "relu_pooling": (f"rp_act={quote('Leaky ReLU')}&rp_slope=0.2&rp_pool=Average&rp_psize=3",
                     [("rp_slope", "0.20")]),
    "mnist_activations": (f"mn_scale={quote('each map its own')}&mn_big_layer=conv2", [("mn_big_layer", "conv2")]),
    "deblurring": (f"db_tab={quote('2-D: images')}&db_psf=Motion&db_len=15", [("db_psf", "Motion"), ("db_len", "15")]),
    "low_rank": ("lr_k=7&lr_method=exact", [("lr_k", "7")]),
}
INPUTS = {  # number inputs and checked options: (element key, value)
    "kernel_sandbox": [("stride", "2")],
    "sliding_kernel": [("sk_stride", "2")],
    "relu_pooling": [("rp_psize", "3")],
}
CHECKED = {
    "kernel_sandbox": [("relu", None)],
    "relu_pooling": [("rp_act", "Leaky ReLU"), ("rp_pool", "Average")],
    "mnist_activations": [("mn_scale", "each map its own")],
    "low_rank": [("lr_method", "exact")],
}


SHOWN_JS = ("(key) => { const el = document.querySelector('.st-key-' + key); if (!el) return '';"
            " return el.innerText + ' ' + [...el.querySelectorAll('input')].map(i => i.value).join(' '); }")


def _shown(page, key: str) -> str:
    """What a widget shows: its text and the values of its inputs (a selectbox's choice is an input's value)."""
    return page.evaluate(SHOWN_JS, key)


def _wait_shown(page, key: str, text: str) -> None:
    page.wait_for_function(f"([key, text]) => ({SHOWN_JS})(key).includes(text)", arg=[key, text], timeout=60_000)


@pytest.mark.parametrize("name", PAGES)
def test_a_link_with_settings_shows_them(page, app_url, name):
    query, shown = LINKS[name]
    _open(page, f"{app_url}/{name}?{query}")
    # the script can read idle before the first run's widgets are drawn with their URL values: wait for
    # each value to show (up to 60 s), then check it
    for key, text in shown:
        _wait_shown(page, key, text)
        assert text in _shown(page, key), (key, text)
    for key, value in INPUTS.get(name, []):
        expect(page.locator(f".st-key-{key} input")).to_have_value(value, timeout=60_000)
    for key, label in CHECKED.get(name, []):
        if label is None:  # a toggle
            assert page.locator(f".st-key-{key} input").is_checked(), key
        else:
            assert page.locator(f".st-key-{key}").get_by_label(label, exact=True).is_checked(), (key, label)
    if name == "sliding_kernel":
        assert _metric(page).startswith("5 of")


def test_a_setting_typed_on_the_keyboard_goes_into_the_link(page, app_url):
    _open(page, f"{app_url}/kernel_sandbox")
    box = page.locator(".st-key-stride input")
    box.focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("3")
    _press(page, "Enter")
    assert "stride=3" in page.url
    page.goto(page.url)  # the bookmark
    wait_idle(page, 120)
    expect(page.locator(".st-key-stride input")).to_have_value("3", timeout=60_000)


def _fig_colorscale(page, key: str):
    """The first trace's colour scale of the Plotly chart drawn with ``key``, once Plotly has drawn it."""
    page.wait_for_function(f"() => {{ const e = document.querySelector('.st-key-{key} .js-plotly-plot'); return e && e.data; }}")
    return page.evaluate(f"() => document.querySelector('.st-key-{key} .js-plotly-plot').data[0].colorscale")


_ZOOM_JS = "() => getComputedStyle(document.querySelector('[data-testid=stMainBlockContainer]')).zoom"


def test_presenter_view_and_safe_colours_from_the_link(page, app_url):
    _open(page, f"{app_url}/kernel_sandbox")
    intro = "A convolutional layer slides a small grid of weights"
    assert page.get_by_text(intro).count() == 1
    assert [c[1] for c in _fig_colorscale(page, "out_fig_0")] == [c for _, c in palette.DIVERGING]
    normal_width = page.locator(".st-key-out_fig_0").bounding_box()["width"]

    _open(page, f"{app_url}/kernel_sandbox?presenter=true&safe_colours=true")
    expect(page.locator(".st-key-out_fig_0 .js-plotly-plot")).to_be_attached(timeout=60_000)
    assert page.get_by_text(intro).count() == 0, "presenter view hides the spoken explanation"
    assert float(page.evaluate(_ZOOM_JS)) == pytest.approx(1.3)
    assert page.locator('[data-testid="stSidebar"]').get_attribute("data-collapsed") == "true"
    assert page.locator(".st-key-out_fig_0").bounding_box()["width"] > normal_width
    assert [c[1] for c in _fig_colorscale(page, "out_fig_0")] == [c for _, c in palette.SAFE_DIVERGING]
    assert "orange is positive" in page.locator('[data-testid="stMain"]').inner_text()
