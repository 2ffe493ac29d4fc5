"""The app as a whole: every registered page exists and runs without an exception."""

import ast

import pytest
from conftest import HOVER_REL, OUTPUT, ROOT, assert_no_exception, heavy_modules_after, map_samples, png_pixels, plotly_figure, wait_idle


def registered_pages() -> list[tuple[str, str]]:
    tree = ast.parse((ROOT / "app.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "PAGES":
            return [(entry[0], entry[1]) for entry in ast.literal_eval(node.value)]
    raise AssertionError("app.py has no PAGES list")


PAGES = registered_pages()


def test_every_page_file_is_registered_and_exists():
    files = {p for p, _ in PAGES}
    on_disk = {f"pages/{p.name}" for p in (ROOT / "pages").glob("*.py")}
    assert files == on_disk
    assert all((ROOT / p).is_file() for p in files)


def test_home_page_lists_every_page(app_test):
    at = app_test()
    at.run()
    assert not at.exception
    assert at.title[0].value == "CNN Viz"
    text = " ".join(m.value for m in at.markdown)
    assert "Using it in class" in " ".join(h.value for h in at.subheader)
    assert "without the internet" in text


def test_the_home_picture_is_the_report_kernel_on_the_cameraman(app_test):
    """The home page's one picture: the cameraman at 192 px as shipped, and its feature map under the report's
    vertical-edge kernel equal to SciPy's valid cross-correlation (to the 4 digits a hover shows)."""
    import numpy as np
    from scipy.signal import correlate2d

    from cnn_viz.common import images

    at = app_test()
    at.run()
    cam = images.load_sample("Cameraman", max_side=192)
    assert cam.shape == (192, 192)
    shown = plotly_figure(at, "home_input")["data"][0]
    np.testing.assert_allclose(png_pixels(shown["source"]).astype(float), 255 * cam, atol=0.5 + 1e-9)  # 0-1 → 0-255
    ref = correlate2d(cam.astype(np.float64), np.array([[-1, 0, 1]] * 3, dtype=np.float64), mode="valid")
    rows, cols, z = map_samples(plotly_figure(at, "home_map"))
    assert ref.shape == (190, 190) and rows.max() < 190 and cols.max() < 190
    np.testing.assert_allclose(z, ref[np.ix_(rows, cols)], rtol=HOVER_REL, atol=1e-5)
    assert at.get("download_button")


@pytest.mark.parametrize("path,title", PAGES)
def test_every_page_runs(app_test, path, title):
    at = app_test(timeout=120)
    at.run()
    at.switch_page(path).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title, f"{path} has no title"


def test_the_home_page_does_not_import_torch():
    """Pages that need neither torch nor torchvision must not pay for them (2.5 s + 4 s here)."""
    assert heavy_modules_after("assert not at.exception\nat.switch_page('pages/kernel_sandbox.py').run()") == []


@pytest.mark.browser
def test_every_page_loads_in_the_browser(page, app_url):
    for path, title in PAGES:
        page.goto(f"{app_url}/{path.removeprefix('pages/').removesuffix('.py')}")
        wait_idle(page, timeout=120)
        assert_no_exception(page)
        page.screenshot(path=str(OUTPUT / f"page-{title.replace(' ', '_')}.png"), full_page=True)
