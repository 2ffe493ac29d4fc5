"""cnn_viz.common.text: user text never becomes markup. The Markdown check renders with markdown-it-py
(CommonMark, the grammar Streamlit's front end follows) (a test dependency)."""

import html
import re

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
    "bare https://example.invalid/x and WWW.example.invalid and mail a@example.invalid",
    ":material/home: :streamlit: :+1: :red-badge[x]",
]
# What Streamlit's front end (remark-gfm's autolink literals, its material-icon and emoji replacements)
# turns into markup on the text after the Markdown parse, where backslash escapes no longer count.
TEXT_PATTERNS = [r"https?://", r"(?i)www\.", r"@[-\w]", r":material/", r":[\w+-]+:"]


@pytest.mark.parametrize("s", HOSTILE)
def test_markdown_escape_renders_literally(s):
    rendered = markdown_it.MarkdownIt("commonmark").render(text.md(s, limit=None))
    assert "<a" not in rendered and "<img" not in rendered and "<script" not in rendered
    assert "<strong" not in rendered and "<em" not in rendered and "<h1" not in rendered and "<li" not in rendered
    # what the reader sees is the original text (newlines folded to spaces), word joiners aside
    inner = html.unescape(rendered.removeprefix("<p>").removesuffix("</p>\n"))
    assert inner.replace(text.WJ, "") == s.replace("\n", " ")
    # and the text left after the parse carries none of the patterns the front end links or replaces
    for pattern in TEXT_PATTERNS:
        assert not re.search(pattern, inner), (pattern, inner)


@pytest.mark.parametrize("s", HOSTILE)
def test_html_escape_forms_no_tag(s):
    out = text.html(s, limit=None)
    assert "<" not in out and ">" not in out
    assert html.unescape(out) == s.replace("\n", " ")


def test_long_values_are_clipped():
    assert len(text.md("a" * 10_000)) == text.LIMIT
    assert text.html("b" * 10_000).endswith("…")
    assert text.md(None) == ""
