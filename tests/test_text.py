"""cnn_viz.common.text: user text never becomes markup. The Markdown check renders with markdown-it-py
(CommonMark, the grammar Streamlit's front end follows) (a test dependency)."""

import html

import markdown_it
import pytest

from cnn_viz.common import text

HOSTILE = [
    "**bold** [link](https://example.invalid) ![img](https://example.invalid/x.png).png",
    "0 [Click_here_to_log_in](https://example.invalid/login)",
    "0 ![x](https://example.invalid/pixel.png)",
    "<a href='https://example.invalid/x'>CLICK</a><span style='font-size:60px'>BIG</span>.png",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    ":red[alarm] :material/home: :smile:",
    "# heading\n- list",
    "<https://example.invalid/auto>",
]


@pytest.mark.parametrize("s", HOSTILE)
def test_markdown_escape_renders_literally(s):
    rendered = markdown_it.MarkdownIt("commonmark").render(text.md(s, limit=None))
    assert "<a" not in rendered and "<img" not in rendered and "<script" not in rendered
    assert "<strong" not in rendered and "<em" not in rendered and "<h1" not in rendered and "<li" not in rendered
    # what the reader sees is the original text (newlines folded to spaces)
    inner = rendered.removeprefix("<p>").removesuffix("</p>\n")
    assert html.unescape(inner) == s.replace("\n", " ")


@pytest.mark.parametrize("s", HOSTILE)
def test_html_escape_forms_no_tag(s):
    out = text.html(s, limit=None)
    assert "<" not in out and ">" not in out
    assert html.unescape(out) == s.replace("\n", " ")


def test_long_values_are_clipped():
    assert len(text.md("a" * 10_000)) == text.LIMIT
    assert text.html("b" * 10_000).endswith("…")
    assert text.md(None) == ""
