"""The app as a whole: every registered page exists and runs without an exception."""

import ast

import pytest
from conftest import OUTPUT, ROOT, assert_no_exception, heavy_modules_after, wait_idle


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
