"""The classroom's pictures: the join link as a QR code (drawn locally, no network) and the live
histogram of the students' answers."""

from __future__ import annotations

import io

import plotly.graph_objects as go

from cnn_viz.common.text import html
from cnn_viz.figures import builders, palette


def qr_png(text: str, box_size: int = 12) -> bytes:
    """``text`` (the join link) as a PNG QR code, black on white, error correction M."""
    import qrcode

    q = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box_size, border=2)
    q.add_data(text)
    q.make(fit=True)
    buf = io.BytesIO()
    q.make_image(fill_color="black", back_color="white").save(buf, format="PNG")
    return buf.getvalue()


def answers_figure(choices, counts: dict[str, int], answer: str | None = None, height: int = 320) -> go.Figure:
    """Bars of how many students gave each choice (answers outside ``choices`` — typed numbers — are
    added after them); the right one is highlighted once ``answer`` is given (after the reveal)."""
    labels = list(choices) + sorted(k for k in counts if k not in choices)
    n = [counts.get(c, 0) for c in labels]
    colours = [palette.HIGHLIGHT if answer is not None and c == answer else "rgb(120,120,120)" for c in labels]
    fig = go.Figure(go.Bar(x=[html(c, 40) for c in labels], y=n, marker_color=colours, text=n, textposition="outside",
                           hovertemplate="%{x}: %{y} answers<extra></extra>"))
    total = sum(counts.values())
    builders.base_layout(fig, title=f"{total} answer{'s' if total != 1 else ''}", height=height, square=False)
    fig.update_yaxes(title="students", rangemode="tozero", dtick=max(1, (max(n or [0]) + 4) // 5))
    return fig
