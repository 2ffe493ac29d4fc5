"""The sliding-kernel page in Chromium: Play runs in the browser and fills the map; the GIF downloads."""

from __future__ import annotations

import io
import json

import pytest
from conftest import OUTPUT, assert_no_exception, wait_idle
from PIL import Image

CHART = ".st-key-sk_anim .js-plotly-plot"
# Count the frames Plotly draws (plotly_animatingframe fires once per frame, in the browser) and the times its
# animation loop stops (plotly_animated: at the end of the frames, or after Pause has emptied the queue).
LISTEN = """() => { const gd = document.querySelector('%s'); window.__frames = []; window.__stops = 0;
  gd.on('plotly_animatingframe', e => window.__frames.push([performance.now(), e.name]));
  gd.on('plotly_animated', () => { window.__stops += 1; }); }""" % CHART
# True once Plotly's animation loop has stopped: no frame queued, no animation frame requested.
STOPPED = """() => { const t = document.querySelector('%s')._transitionData;
  return window.__stops > 0 && t._frameQueue.length === 0 && !t._animationRaf; }""" % CHART
CAPTION = "() => document.querySelector('%s').data[8].text[0]" % CHART
# Area of the grey cover over the cells not computed yet (shoelace formula).
COVER_AREA = """() => { const t = document.querySelector('%s').data[6]; let a = 0;
  for (let i = 0; i < t.x.length; i++) { const j = (i + 1) %% t.x.length; a += t.x[i] * t.y[j] - t.x[j] * t.y[i]; }
  return Math.abs(a) / 2; }""" % CHART
PICTURES = "() => document.querySelectorAll('%s .imagelayer image').length" % CHART


def expect_pictures(page, n: int = 2) -> None:
    """The input and the map are layout images: wait for exactly ``n`` (while Plotly redraws after a rerun
    it can hold the old images and the new ones for a moment)."""
    page.wait_for_function("() => (%s)() === %d" % (PICTURES, n), timeout=10_000)


def _open(page, app_url):
    page.goto(app_url + "/sliding_kernel")
    page.get_by_text("Convolution as a matrix").wait_for()
    wait_idle(page)
    page.locator(CHART).wait_for()
    assert_no_exception(page)


@pytest.mark.browser
def test_play_fills_the_map_and_the_gif_downloads(page, app_url):
    _open(page, app_url)
    assert page.evaluate(CAPTION) == "step 1 of 6: A(0, 0) = 10"
    for shown in (2, 3):  # two steps through the server, each seen drawn before the next click (two clicks
        # within one rerun would be merged into one)
        page.get_by_role("button", name="Step ▶").click()
        page.wait_for_function("() => document.querySelector('%s').data[8].text[0].startsWith('step %d of 6')" % (CHART, shown))
        wait_idle(page)
    assert page.evaluate(COVER_AREA) == pytest.approx(3.0)  # three cells still blank
    expect_pictures(page)  # the input and the map
    page.evaluate(LISTEN)
    page.locator(CHART).get_by_text("Play").click()
    page.wait_for_function("() => document.querySelector('%s').data[8].text[0].startsWith('step 6 of 6')" % CHART, timeout=20_000)
    page.wait_for_function(STOPPED, timeout=20_000)  # it stops at the end
    names = [name for _, name in page.evaluate("window.__frames")]
    assert names == ["3", "4", "5"]  # on from the server's step, frame after frame, in the browser
    assert page.evaluate(CAPTION).startswith("step 6 of 6")
    assert page.evaluate(COVER_AREA) == 0  # the whole map is filled in
    expect_pictures(page)  # and still drawn after the frames
    page.locator(CHART).scroll_into_view_if_needed()
    page.screenshot(path=str(OUTPUT / "sliding_kernel_figure1_played.png"))
    assert_no_exception(page)

    page.get_by_role("button", name="Make a GIF of the sweep").click()
    page.get_by_role("button", name="Download GIF").wait_for()
    wait_idle(page)
    with page.expect_download() as info:
        page.get_by_role("button", name="Download GIF").click()
    download = info.value
    assert download.suggested_filename == "sliding_kernel.gif"
    path = OUTPUT / "sliding_kernel.gif"
    download.save_as(str(path))
    data = path.read_bytes()
    im = Image.open(io.BytesIO(data))
    assert data[:6] == b"GIF89a" and im.size == (960, 540) and im.n_frames == 6
    page.screenshot(path=str(OUTPUT / "sliding_kernel.png"), full_page=True)


@pytest.mark.browser
def test_digit_plays_in_the_browser_and_pauses(page, app_url):
    _open(page, app_url)
    page.get_by_text("Handwritten digit (28×28)").click()
    page.wait_for_function("() => document.querySelector('%s') && document.querySelector('%s').data[8].text[0].includes('of 784')" % (CHART, CHART), timeout=60_000)
    wait_idle(page)
    assert_no_exception(page)
    assert page.evaluate(COVER_AREA) == pytest.approx(783)  # all but A(0, 0) blank
    # The figure's own slider scrubs in the browser: half way along, no server run.
    page.locator(CHART).scroll_into_view_if_needed()
    rail = page.locator(CHART + " .slider-rail-touch-rect").bounding_box()
    page.mouse.click(rail["x"] + rail["width"] / 2, rail["y"] + rail["height"] / 2)
    page.wait_for_function("() => !document.querySelector('%s').data[8].text[0].startsWith('step 1 of')" % CHART)
    scrubbed = int(page.evaluate(CAPTION).split()[1])
    assert 300 < scrubbed < 490
    assert page.locator('[data-testid="stStatusWidget"]').count() == 0
    assert page.evaluate(COVER_AREA) == pytest.approx(784 - scrubbed)
    page.evaluate(LISTEN)
    page.locator(CHART).get_by_text("Play").click()
    page.wait_for_function("() => window.__frames.length >= 40")  # about 4 s of playing at the 10/s setting
    page.locator(CHART).get_by_text("Pause").click()
    page.wait_for_function(STOPPED)  # Pause empties the queue and Plotly's loop ends
    frames = page.evaluate("window.__frames")
    assert page.evaluate(STOPPED) and len(page.evaluate("window.__frames")) == len(frames)  # paused: no more frames
    assert len(frames) >= 10
    assert int(frames[0][1]) == scrubbed  # Play went on from where the slider left it (frame names count from 0)
    shown = int(frames[-1][1])
    assert page.evaluate(CAPTION).startswith(f"step {shown + 1} of 784")
    assert page.evaluate(COVER_AREA) == pytest.approx(784 - 1 - shown)  # one cell filled per frame shown
    # The measured rate is a benchmark, not a pass/fail goal (bench/bench_sliding.py prints it too).
    span = (frames[-1][0] - frames[0][0]) / 1000
    fps = (len(frames) - 1) / span
    (OUTPUT / "sliding_fps.json").write_text(json.dumps({"setting": 10, "frames": len(frames), "seconds": round(span, 3), "fps": round(fps, 2)}))
    print(f"digit sweep played at {fps:.1f} steps/s (setting 10/s) in headless Chromium")
    expect_pictures(page)
    page.screenshot(path=str(OUTPUT / "sliding_kernel_digit_playing.png"))
    assert_no_exception(page)


def _torch_digit_map(bias: float = 0.0):
    import numpy as np
    import torch
    import torch.nn.functional as F

    from cnn_viz.common import images

    digit = torch.from_numpy(images.load_sample("Handwritten 7 (MNIST)").astype(np.float64))[None, None]
    return F.conv2d(digit, torch.tensor([[-1.0, 0, 1]] * 3, dtype=torch.float64)[None, None], padding=1)[0, 0].numpy() + bias


@pytest.mark.browser
def test_the_picture_follows_the_servers_step_without_being_sent_again(page, app_url):
    """The animation is one figure for every step, moved to the step in the browser: from a link, after a
    step (a fragment run that does not resend the figure), and after a new sweep with the same positions."""
    from urllib.parse import quote

    from cnn_viz.common import fmt

    page.goto(f"{app_url}/sliding_kernel?sk_source={quote('Handwritten digit (28×28)')}&sk_padding=1&sk_pos=300")
    page.get_by_text("Convolution as a matrix").wait_for()
    wait_idle(page)
    ref = _torch_digit_map()
    shown = "() => (document.querySelector('%s') || {data: [0,0,0,0,0,0,0,0,{text: ['']}]}).data[8].text[0]" % CHART
    page.wait_for_function(f"() => ({shown})().startsWith('step 300 of 784: A(10, 19) = {fmt.num(ref[10, 19])}')", timeout=30_000)
    assert page.evaluate(COVER_AREA) == pytest.approx(784 - 300)  # the cells after A(10, 19) are still covered
    page.locator(CHART).evaluate("gd => { window.__sameChart = gd; }")
    page.get_by_role("button", name="Step ▶").click()
    page.wait_for_function(f"() => ({shown})().startsWith('step 301 of 784: A(10, 20) = {fmt.num(ref[10, 20])}')", timeout=30_000)
    wait_idle(page)
    assert page.locator(CHART).evaluate("gd => gd === window.__sameChart")  # the chart was not drawn again
    # A new sweep (a bias) with the same 784 positions: redrawn from new data, and still on step 301.
    bias = page.locator(".st-key-sk_bias input")
    bias.fill("0.5")
    bias.press("Enter")
    ref = _torch_digit_map(0.5)
    page.wait_for_function(f"() => ({shown})().startsWith('step 301 of 784: A(10, 20) = {fmt.num(ref[10, 20])}')", timeout=30_000)
    wait_idle(page)
    assert page.evaluate(COVER_AREA) == pytest.approx(784 - 301)
    assert_no_exception(page)
