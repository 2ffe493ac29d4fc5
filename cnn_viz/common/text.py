"""Text from outside the app shown as text: the one helper for every string a user controls.

A file name, a typed value, a URL query parameter, a canvas label or a student's display name must never
become markup. Streamlit renders Markdown (links, images, emphasis, and a few HTML-like directives) in
``st.markdown``, ``st.caption``, ``st.error``, ``st.warning``, ``st.info``, ``st.success``, labels and help
texts; Plotly renders a subset of HTML (``<a>``, ``<span style>``, ``<b>``, ``<br>`` ...) in titles, hover
text and annotations. ``md`` escapes for the first, ``html`` for the second. Both also cut very long
strings (a 10,000-character URL value) to ``limit`` characters with an ellipsis.
"""

from __future__ import annotations

import html as _html
import re

LIMIT = 120
MESSAGE_LIMIT = 400  # a whole message that quotes user text (an exception's), escaped with md(..., MESSAGE_LIMIT)

# Every character Markdown (CommonMark + GitHub extensions + Streamlit's directives) gives meaning to.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:=$^&\"'])")


def _clip(s: object, limit: int | None) -> str:
    s = "" if s is None else str(s)
    s = s.replace("\r", " ").replace("\n", " ").replace("\t", " ")
    if limit is not None and len(s) > limit:
        s = s[: max(limit - 1, 0)] + "…"
    return s


# Streamlit's front end turns some plain text into markup after the Markdown parse, on the text itself,
# where backslash escapes are already gone: GFM autolink literals (``https://…``, ``www.…``, ``a@b.c``) and
# material icons (``:material/home:``). A word joiner (U+2060, invisible, no width) breaks those patterns:
# after every colon, between "www" and its dot, and after "@". (Measured in Chromium, Streamlit 1.67.)
WJ = "\u2060"
_AUTOLINK = re.compile(r"(:)|(?<=www)(?=\\\.)|(@)", re.IGNORECASE)


def md(s: object, limit: int | None = LIMIT) -> str:
    """``s`` escaped so that Streamlit's Markdown shows it literally: no link (written or bare), image,
    emphasis, heading, HTML tag, colour directive, icon or emoji shortcode can come out of it. Newlines
    become spaces; invisible word joiners (``WJ``) are put where a bare link or icon would start."""
    escaped = _MD_SPECIAL.sub(r"\\\1", _clip(s, limit))
    return _AUTOLINK.sub(lambda m: (m.group(0) or "") + WJ, escaped)


def html(s: object, limit: int | None = LIMIT) -> str:
    """``s`` escaped for Plotly's HTML subset (titles, hover text, annotations): ``<``, ``>``, ``&`` and
    quotes become entities, so no tag is ever formed."""
    return _html.escape(_clip(s, limit), quote=True)
