"""User text is never markup, under AppTest: each hostile string from the issue (Markdown link and image, an
<a>/<span style> file name, <script>, <img onerror>, a javascript: link, bare links and Streamlit's icon
directives) goes through every place that shows user text, and the element's body, rendered with a
CommonMark renderer (markdown-it-py), holds no link, image, script or styled span and reads as the original
text; Plotly titles built from a file name form no tag. The browser side is test_injection_browser.py."""

from __future__ import annotations

import html
import io
import json
import re

import markdown_it
import numpy as np
import pytest
from conftest import plotly_figure
from PIL import Image
from test_text import TEXT_PATTERNS

from cnn_viz.common import text

# The strings (as file names they end in .png); none longer than text.LIMIT, so none is clipped.
HOSTILE = [
    "**bold** [link](https://example.invalid) ![img](https://example.invalid/x.png).png",
    "<a href='https://example.invalid/x'>CLICK</a><span style='font-size:60px'>BIG</span>.png",
    "0 [Click_here_to_log_in](https://example.invalid/login)",
    "0 ![x](https://example.invalid/pixel.png)",
    "<script>alert(1)</script>.png",
    "<img src=x onerror=alert(1)>.png",
    "[x](javascript:alert(1)).png",
    ":red[alarm] :material/home: www.example.invalid a@example.invalid.png",
]
NAMES = [s if s.endswith(".png") else s + ".png" for s in HOSTILE]  # as upload names (Streamlit checks the extension)
TAGS = re.compile(r"<(a|img|script|span|iframe|h\d|li|del|code)\b", re.IGNORECASE)
RENDER = markdown_it.MarkdownIt("commonmark")


def _png(side: int = 40) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (side, side), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def assert_literal(body: str, s: str) -> None:
    """``body`` (Markdown source of one element) renders with no markup from ``s`` and shows ``s`` as typed."""
    rendered = RENDER.render(body)
    assert not TAGS.search(rendered), (s, rendered)
    shown = html.unescape(re.sub(r"<[^>]+>", "", rendered))
    assert s in shown.replace(text.WJ, ""), (s, shown)
    for pattern in TEXT_PATTERNS:
        assert not re.search(pattern, shown), (pattern, shown)


def _bodies(at, kinds=("error", "warning", "info", "caption", "markdown", "success")) -> list[str]:
    return [el.value for kind in kinds for el in getattr(at, kind)]


def _showing(at, s: str) -> list[str]:
    """Every element body that shows ``s`` (matched on its letters, escaped or not)."""
    core = re.sub(r"\W", "", s)[:12]
    return [b for b in _bodies(at) if core in re.sub(r"\W", "", b.replace(text.WJ, ""))]


def _open(app_test, page, state=None):
    at = app_test(300)
    at.run()
    for k, v in (state or {}).items():
        at.session_state[k] = v
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


# page, image_picker key, state that puts the picker on screen
PICKERS = [
    ("pages/kernel_sandbox.py", "img", {}),
    ("pages/sliding_kernel.py", "sk_img", {"sk_source": "Any image (shrunk to at most 32×32)"}),
    ("pages/relu_pooling.py", "rp_img", {}),
    ("pages/deblurring.py", "db_img", {"db_tab": "2-D: images"}),
    ("pages/low_rank.py", "lr_img", {}),
]


@pytest.mark.parametrize("page,key,state", PICKERS, ids=[p[1] for p in PICKERS])
def test_file_names_are_text_in_every_image_picker(app_test, page, key, state):
    at = _open(app_test, page, {**state, f"{key}_source": "Upload"})
    for s in NAMES:
        # a file that is not an image: the "Could not use …" message quotes its name
        at.file_uploader(key=f"{key}_upload").set_value((s, b"not an image", "image/png")).run()
        assert not at.exception, at.exception
        errors = [e.value for e in at.error if "Could not use" in e.value]
        assert len(errors) == 1, _bodies(at)
        assert_literal(errors[0], s)
        # a real image with that name: every caption or message that names it
        at.file_uploader(key=f"{key}_upload").set_value((s, _png(), "image/png")).run()
        assert not at.exception, at.exception
        for body in _showing(at, s):
            assert_literal(body, s)
        if page.endswith(("kernel_sandbox.py", "sliding_kernel.py")):
            assert _showing(at, s), "the caption names the upload"


@pytest.mark.parametrize("page,key,fig_key", [("pages/low_rank.py", "lr_img", "lr_original"),
                                              ("pages/deblurring.py", "db_img", "db_truth")])
def test_file_names_in_plotly_titles_form_no_tag(app_test, page, key, fig_key):
    at = _open(app_test, page, {f"{key}_source": "Upload", "db_tab": "2-D: images"})
    for s in NAMES:
        at.file_uploader(key=f"{key}_upload").set_value((s, _png(64), "image/png")).run()
        assert not at.exception, at.exception
        fig = plotly_figure(at, fig_key)
        strings = json.dumps(fig["layout"], ensure_ascii=False)
        assert not TAGS.search(strings), strings[:500]
        # the figure title as Streamlit's theme writes it (builders.page_spec writes the theme in): one <b>...</b>
        title = fig["layout"].get("title", {}).get("text", "")
        assert not title or (title.startswith("<b>") and title.endswith("</b>")), title
        titles = [a["text"] for a in fig["layout"].get("annotations", [])] + [title.removeprefix("<b>").removesuffix("</b>")]
        named = [t for t in titles if t and "&lt;" in t or s.split()[0][:3] in html.unescape(t or "")]
        assert any(s in html.unescape(t) for t in named), titles
        for t in named:
            assert "<" not in t and ">" not in t, t


def test_mnist_upload_name_is_text(app_test):
    at = _open(app_test, "pages/mnist_activations.py", {"mn_source": "Upload"})
    for s in NAMES[:3]:
        at.file_uploader(key="mn_upload").set_value((s, b"not an image", "image/png")).run()
        assert not at.exception, at.exception
        errors = [e.value for e in at.error if "Could not read a digit" in e.value]
        assert len(errors) == 1
        assert_literal(errors[0], s)


def test_typed_deblurring_signal_is_text(app_test):
    at = _open(app_test, "pages/deblurring.py", {"db1_signal": "Typed values"})
    for s in HOSTILE:
        value = s.removesuffix(".png")
        at.text_input(key="db1_typed").set_value("0 " + value).run()
        assert not at.exception, at.exception
        errors = [e.value for e in at.error if "not a number" in e.value]
        assert len(errors) == 1, _bodies(at)
        bad = next(t for t in value.replace(",", " ").replace(";", " ").split() if not re.fullmatch(r"[-+.\deE]+", t))
        assert_literal(errors[0], bad)


def test_typed_deblurring_signal_from_the_url_is_text(app_test):
    """The issue's link: /deblurring?db1_signal=Typed+values&db1_typed=0+[Click_here_to_log_in](https://…)."""
    at = app_test(300)
    at.query_params["db1_signal"] = "Typed values"
    at.query_params["db1_typed"] = HOSTILE[2]
    at.run()
    at.switch_page("pages/deblurring.py").run()
    assert not at.exception, at.exception
    assert at.text_input(key="db1_typed").value == HOSTILE[2]
    errors = [e.value for e in at.error if "not a number" in e.value]
    assert len(errors) == 1
    assert_literal(errors[0], "[Click_here_to_log_in](https://example.invalid/login)")


def _grid_state(value) -> dict:
    return {"edited_rows": {0: {"0": value}}, "added_rows": [], "deleted_rows": []}


@pytest.mark.parametrize("page,grid,state", [
    ("pages/kernel_sandbox.py", lambda at: f"k_grid_{at.session_state['k_gen']}", {}),
    ("pages/sliding_kernel.py", lambda at: "sk_grid_5x5", {"sk_source": "Type a small grid"}),
], ids=["sandbox_kernel", "sliding_grid"])
def test_typed_grid_cells_are_text(app_test, page, grid, state):
    """Streamlit's number column turns typed text into an empty cell before the page sees it, so the message
    names the cell, not the text; it is still escaped, and reads as the plain sentence it is."""
    at = _open(app_test, page, state)
    for s in HOSTILE[:3]:
        at.session_state[grid(at)] = _grid_state(s)
        at.run()
        assert not at.exception, at.exception
        errors = [e.value for e in at.error if "row 1, column 1" in e.value]
        assert len(errors) == 1, _bodies(at)
        rendered = RENDER.render(errors[0])
        assert not TAGS.search(rendered) and "example" not in rendered
        assert html.unescape(re.sub(r"<[^>]+>", "", rendered)).replace(text.WJ, "").strip().startswith(
            ("The kernel" if "sandbox" in page else "The input grid") + " cell at row 1, column 1 is empty (NaN): ")
