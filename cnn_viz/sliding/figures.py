"""Figures of the sliding-kernel page: the animated sweep, the step's grids and the matrix M.

The animation plays in the browser: every step is a Plotly frame, and a frame only
carries the few small scatter traces that move (the taps' outlines, the cover over the
cells not yet computed, the products' numbers, the caption), so Plotly animates it
without a full redraw. The input, output and product-panel backgrounds are drawn once.

Everything is placed on one pair of axes (input | products | output), which keeps every
cell square and lets one line join the receptive field to the output cell it makes.
"""

from __future__ import annotations

import base64

import numpy as np
import plotly.graph_objects as go

from cnn_viz.common import fmt
from cnn_viz.common.images import to_png_bytes, to_uint8
from cnn_viz.figures import builders, palette
from cnn_viz.figures.builders import _merge, layout
from cnn_viz.figures.palette import HIGHLIGHT
from cnn_viz.sliding.ops import CHANNEL_NAMES, Sweep, matrix_view, row_columns

LINK = "rgba({},{},{},0.55)".format(*bytes.fromhex(HIGHLIGHT[1:]))  # from the receptive field to its output cell
COVER_RGB = (236, 236, 236)  # cells not computed yet (here and in the GIF)
COVER = "rgb({},{},{})".format(*COVER_RGB)
PAD_FILL = "rgba(120,170,255,0.35)"
POS, NEG = ("#{:02x}{:02x}{:02x}".format(*c) for c in (palette.RED, palette.BLUE))  # text colours of positive / negative products
SPEEDS = (1, 2, 5, 10, 20, 30, 60)  # steps per second offered by the page
REFRESH_MS = 1000 / 60  # one display refresh
MAX_SLIDER_STEPS = 100  # stops on the figure's own slider (the page's slider reaches every step)


class AnimatedFigure(go.Figure):
    """A go.Figure whose animation frames and slider steps are kept as plain dicts.

    Plotly's object model validates each frame and slider step on creation (slow for the
    784 steps of a 28×28 sweep); these are built from plain numbers that are valid by
    construction, so they are only attached when the figure is serialised.
    ``st.plotly_chart`` and ``plotly.io.to_json`` both call ``to_dict``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._raw_frames: list[dict] = []  # plotly only lets "_" attributes be set on a figure
        self._raw_sliders: list[dict] = []

    def to_dict(self):
        d = super().to_dict()
        if self._raw_frames:
            d["frames"] = self._raw_frames
        if self._raw_sliders:
            d["layout"]["sliders"] = self._raw_sliders
        return d


LINE_PX = 24  # height of one line of text in the animation, in pixels
CONTAINER_PX = 1100  # width the page gives the figure (wide layout with the sidebar open)


def _font_for(cell_px: float, texts, largest: int = 18) -> int:
    """The font size (px) that fits nearly all the texts (90%) in a cell, 0 when unreadable."""
    lengths = [len(t) for t in texts]
    longest = float(np.percentile(lengths, 90)) if lengths else 1.0
    size = int(min(largest, cell_px / (0.62 * max(longest, 1) + 0.2)))
    return size if size >= 9 else 0


def _layout_geometry(sweep: Sweep, height_px: int, bottom_px: int) -> dict:
    """Where each panel sits on the shared axes (a cell of the input or output is 1 unit),
    and how many pixels one unit gets, so the text can be sized to fit its cells."""
    c = sweep.channels
    hp, wp = sweep.padded.shape[1:]
    kh, kw = sweep.kernel_shape
    ho, wo = sweep.out_shape
    gap = max(1.5, 0.12 * max(wp, wo))
    plot_px = height_px - bottom_px - 10
    lines = 3.2 if c == 1 else 4.3  # caption and titles above; sums below
    u, gapc = 1.0, 1.0
    for _ in range(3):  # the product cells' size and the scale depend on each other
        prod_h = c * kh * u + (c - 1) * gapc
        body = max(hp, ho, prod_h)
        yrange = body / (1 - lines * LINE_PX / plot_px)
        width = wp + 2 * gap + kw * u + wo
        ppu = min(plot_px / yrange, CONTAINER_PX / width)
        line = LINE_PX / ppu
        gapc = 1.3 * line  # room for each channel's sum under its grid
        u = float(np.clip(48 / ppu, 1.0, max(1.0, (0.95 * max(hp, ho) - (c - 1) * gapc) / (c * kh))))
    prod_h = c * kh * u + (c - 1) * gapc
    body = max(hp, ho, prod_h)
    px0 = wp - 0.5 + gap  # left edge of the products
    ox0 = px0 + kw * u + gap + 0.5  # centre of output column 0
    return dict(
        u=u,
        cstep=kh * u + gapc,  # from one channel's product grid to the next
        ppu=ppu,
        line=line,
        px0=px0,
        py0=(body - prod_h) / 2 - 0.5,  # top edge of the first product grid
        iy0=(body - hp) / 2,  # centre of input row 0
        ox0=ox0,
        oy0=(body - ho) / 2,  # centre of output row 0
        height=body,
        width=ox0 + wo,
        y_top=-0.5 - 2.1 * line,
        y_bottom=body - 0.5 + (1.1 if c == 1 else 2.2) * line,
        # a wide, flat sweep (Figure 1) is limited by the width: no taller than it needs
        fit_height=int(min(height_px, yrange * ppu + bottom_px + 10)),
    )


def _rect(x0, y0, x1, y1) -> tuple[list, list]:
    return [x0, x1, x1, x0, x0, None], [y0, y0, y1, y1, y0, None]


def _product_centres(sweep: Sweep, g: dict) -> tuple[np.ndarray, np.ndarray]:
    """x, y of every product cell, channel by channel, row by row."""
    c = sweep.channels
    kh, kw = sweep.kernel_shape
    u = g["u"]
    ch, m, n = np.meshgrid(np.arange(c), np.arange(kh), np.arange(kw), indexing="ij")
    x = g["px0"] + (n + 0.5) * u
    y = g["py0"] + ch * g["cstep"] + (m + 0.5) * u
    return np.round(x.ravel(), 3), np.round(y.ravel(), 3)


def _rects(x0, y0, x1, y1) -> tuple[np.ndarray, np.ndarray]:
    """Closed outlines of N rectangles, one row each, ending in a gap (NaN): (N, 6) x and y."""
    gap = np.full_like(x0, np.nan)
    return np.stack([x0, x1, x1, x0, x0, gap], -1), np.stack([y0, y0, y1, y1, y0, gap], -1)


def _lists(a: np.ndarray) -> list:
    """Rows of a float array as lists, rounded, NaN as None (a gap in a Plotly line)."""
    o = np.round(a, 3).astype(object)
    o[np.isnan(a)] = None
    return o.tolist()


def _moving_all(sweep: Sweep, g: dict) -> list[dict[str, dict]]:
    """Per step, the data of the moving traces: plain lists, rounded, so the frames stay small."""
    n_steps = sweep.n_steps
    ho, wo = sweep.out_shape
    kh, kw = sweep.kernel_shape
    (sh, sw), (dh, dw) = sweep.stride, sweep.dilation
    iy0, ox0, oy0 = g["iy0"], g["ox0"], g["oy0"]
    ii, jj = np.divmod(np.arange(n_steps), wo)
    ii, jj = ii.astype(float), jj.astype(float)
    top, left = iy0 + ii * sh, jj * sw  # centre of the first tap
    bottom, right = top + (kh - 1) * dh, left + (kw - 1) * dw  # centre of the last tap
    span = _rects(left - 0.5, top - 0.5, right + 0.5, bottom + 0.5)
    cell = _rects(ox0 + jj - 0.5, oy0 + ii - 0.5, ox0 + jj + 0.5, oy0 + ii + 0.5)
    dilated = dh > 1 or dw > 1
    if dilated:  # every tap outlined on its own, since they are apart
        ty = (top[:, None, None] + dh * np.arange(kh)[None, :, None]) + 0 * np.arange(kw)[None, None, :]
        tx = (left[:, None, None] + dw * np.arange(kw)[None, None, :]) + 0 * np.arange(kh)[None, :, None]
        taps = _rects(tx - 0.5, ty - 0.5, tx + 0.5, ty + 0.5)
        ox_ = np.concatenate([taps[0].reshape(n_steps, -1), cell[0]], 1)
        oy_ = np.concatenate([taps[1].reshape(n_steps, -1), cell[1]], 1)
    else:
        ox_, oy_ = np.concatenate([span[0], cell[0]], 1), np.concatenate([span[1], cell[1]], 1)
    # Link: from the field's right edge to the output cell's left edge (top and bottom).
    gap = np.full(n_steps, np.nan)
    lx = np.stack([right + 0.5, ox0 + jj - 0.5, gap, right + 0.5, ox0 + jj - 0.5, gap], -1)
    ly = np.stack([top - 0.5, oy0 + ii - 0.5, gap, bottom + 0.5, oy0 + ii + 0.5, gap], -1)
    if dilated:
        lx, ly = np.concatenate([lx, span[0]], 1), np.concatenate([ly, span[1]], 1)
    # Cover over the cells after (i, j): the rest of row i and every row below.
    le, ri, bo = ox0 - 0.5, ox0 + wo - 0.5, oy0 + ho - 0.5
    mt, mb, cut = oy0 + ii - 0.5, oy0 + ii + 0.5, ox0 + jj + 0.5
    full = np.ones(n_steps)
    cx = np.stack([cut, ri * full, ri * full, le * full, le * full, cut, cut], -1)
    cy = np.stack([mt, mt, bo * full, bo * full, mb, mb, mt], -1)
    # After the last step the cover shrinks to a point (an empty trace would leave the last
    # drawing on screen: Plotly does not redraw a scatter that lost all its points).
    cx[-1], cy[-1] = ri, bo
    # Products, their colours, and the captions.
    prods = (sweep.windows * sweep.kernel).reshape(n_steps, -1)
    show = sweep.kernel.size <= 3 * 49
    fmt_all = np.vectorize(fmt.short, otypes=[object])
    text = fmt_all(prods).tolist() if show else [[""] * prods.shape[1]] * n_steps
    pos, neg = palette.pos_neg_hex()
    colours = np.where(prods > 0, pos, np.where(prods < 0, neg, "#555")).tolist()
    sums = prods.reshape(n_steps, sweep.channels, -1).sum(-1)
    values = sweep.values.ravel()
    caps = []
    for t in range(n_steps):
        cap = [f"step {t + 1} of {n_steps}: A({int(ii[t])}, {int(jj[t])}) = {fmt.num(values[t])}"]
        if sweep.channels > 1:
            cap += [f"S_{CHANNEL_NAMES[c] if sweep.channels == 3 else c} = {fmt.num(v)}" for c, v in enumerate(sums[t])]
            cap += [f"ΣS + b = {' + '.join(fmt.num(v) for v in sums[t])} + {fmt.num(sweep.bias)}"]
        else:
            cap += [f"Σ = {fmt.num(sums[t, 0])}" + (f" + b ({fmt.num(sweep.bias)})" if sweep.bias else "")]
        caps.append(cap)
    ox_l, oy_l, lx_l, ly_l, cx_l, cy_l = (_lists(a) for a in (ox_, oy_, lx, ly, cx, cy))
    out = []
    for t in range(n_steps):
        out.append(
            {
                "outline": dict(x=ox_l[t], y=oy_l[t]),
                "link": dict(x=lx_l[t], y=ly_l[t]),
                "cover": dict(x=cx_l[t], y=cy_l[t]),
                "products": dict(text=text[t], textfont=dict(color=colours[t])),
                "caption": dict(text=caps[t]),
            }
        )
    return out


def _cells_image(rgb: np.ndarray, x0: float, y0: float, gaps: bool = False) -> dict:
    """A layout image of (H, W, 3) uint8 cells with its top-left corner at (x0, y0), one unit per cell.

    Each cell becomes a block of pixels (so the browser does not blur it); with ``gaps`` a
    white line separates the cells, like a table."""
    h, w = rgb.shape[:2]
    f = int(max(1, min(24, np.ceil(360 / max(h, w)))))
    big = np.repeat(np.repeat(rgb, f, axis=0), f, axis=1)
    if gaps and f >= 8:
        big[::f, :] = 255
        big[:, ::f] = 255
    uri = "data:image/png;base64," + base64.b64encode(to_png_bytes(big)).decode()
    return dict(source=uri, xref="x", yref="y", x=x0, y=y0, sizex=w, sizey=h, sizing="stretch", layer="below",
                xanchor="left", yanchor="top")


def _cell_marks(x, y, hover: list[str], text, font: int, name: str, rgb: np.ndarray):
    """Invisible markers on cell centres that show the hover text, and the numbers on small grids
    (white on dark cells, dark on light ones)."""
    font_spec = None
    if text is not None:  # (Plotly's validator checks a colour per cell, which is slow: only when shown)
        dark = (rgb.reshape(-1, 3).astype(float) @ [0.299, 0.587, 0.114]) < 110
        font_spec = dict(size=font, color=np.where(dark, "white", "#222").tolist())
    return go.Scatter(
        x=np.asarray(x, dtype=np.float32), y=np.asarray(y, dtype=np.float32), mode="markers+text" if text is not None else "markers",
        marker=dict(symbol="square", size=14, color="rgba(0,0,0,0)"), text=text, textfont=font_spec,
        textposition="middle center", hovertext=hover, hoverinfo="text", name=name, showlegend=False,
    )


def _caption_positions(sweep: Sweep, g: dict) -> tuple[list, list]:
    kh, kw = sweep.kernel_shape
    u, line = g["u"], g["line"]
    xc = g["px0"] + kw * u / 2
    xs, ys = [g["width"] / 2 - 0.5], [-0.5 - 1.6 * line]
    if sweep.channels > 1:
        for c in range(sweep.channels):
            xs.append(xc)
            ys.append(g["py0"] + c * g["cstep"] + kh * u + 0.55 * line)
    else:
        xs.append(xc)
        ys.append(g["py0"] + kh * u + 0.6 * line)
    if sweep.channels > 1:
        xs.append(g["width"] / 2 - 0.5)
        ys.append(g["height"] - 0.5 + 1.65 * line)
    return xs, ys


def play_order(n_steps: int, k: int) -> list[str] | None:
    """Frames the Play button runs: from the server's step k on to the end.

    Plotly resumes after the frame last shown (``fromcurrent``) once it has animated, but a
    fresh figure would start at frame 0, so the list starts after k. At the end (or at the
    start) it is every frame; the Restart button always plays them all."""
    if k <= 0 or k >= n_steps - 1:
        return None
    return [str(t) for t in range(k + 1, n_steps)]


def slider_stops(n_steps: int, k: int) -> list[int]:
    """Steps the figure's slider can stop at: every one up to MAX_SLIDER_STEPS, else evenly
    spaced ones plus the last and the current step."""
    if n_steps <= MAX_SLIDER_STEPS:
        return list(range(n_steps))
    every = int(np.ceil(n_steps / MAX_SLIDER_STEPS))
    return sorted(set(range(0, n_steps, every)) | {n_steps - 1, k})


def sweep_figure(sweep: Sweep, k: int = 0, *, animate: bool = True, fps: float = 10, height: int = 520) -> go.Figure:
    """Input | products | output at step k; with ``animate`` every step is a client-side frame
    with Play / Pause buttons and a scrubber slider."""
    bottom_px = 110 if animate else 50
    g = _layout_geometry(sweep, height, bottom_px)
    hp, wp = sweep.padded.shape[1:]
    ho, wo = sweep.out_shape
    kh, kw = sweep.kernel_shape
    iy0, ox0, oy0, u = g["iy0"], g["ox0"], g["oy0"], g["u"]
    ph, pw = sweep.padding
    traces = []

    # 0: the padded input. The pictures of the input and of the map are layout images, not
    # heatmaps: Plotly removes heatmap traces when it animates scatter traces without a full
    # redraw, and a full redraw per frame costs several times more (bench/bench_sliding.py). Transparent
    # markers on the cell centres carry the hover text and, on small grids, the numbers.
    x = sweep.padded
    rr, qq = np.indices((hp, wp))
    where = np.where(sweep.padding_mask, "padding", np.char.add(np.char.add("pixel (", (rr - ph).astype(str)), np.char.add(", ", np.char.add((qq - pw).astype(str), ")"))))
    vals = np.vectorize(fmt.num, otypes=[object])(x[0]) if sweep.channels == 1 else np.vectorize(
        lambda r, q: ", ".join(fmt.num(v) for v in x[:, r, q]), otypes=[object])(rr, qq)
    hover = [f"I({r}, {q}) = {v}<br>{w}" for r, q, v, w in zip(rr.ravel(), qq.ravel(), vals.ravel(), where.ravel())]
    image_like = x.min() >= 0 and x.max() <= 1
    in_text = np.vectorize(fmt.short, otypes=[object])(x.mean(axis=0))
    in_font = _font_for(g["ppu"], in_text.ravel()) if max(hp, wp) <= 16 and sweep.channels == 1 else 0
    if sweep.channels == 3:
        in_rgb = to_uint8(np.moveaxis(x, 0, -1))
    elif image_like and not in_font:
        in_rgb = np.repeat(to_uint8(x[0])[..., None], 3, axis=-1)
    else:
        lo, hi = float(x.min()), float(x.max())
        in_rgb = palette.to_rgb(x[0], lo - 0.25 * (hi - lo + 1e-9), hi + 0.6 * (hi - lo + 1e-9), scale="Blues")
    images = [_cells_image(in_rgb, -0.5, iy0 - 0.5, gaps=bool(in_font))]
    traces.append(_cell_marks(qq.ravel(), iy0 + rr.ravel(), hover, in_text.ravel() if in_font else None, in_font, "input", in_rgb))
    # 1: padding cells (hatched bands) and the image's border
    bx, by = [], []
    if ph or pw:
        for x0_, y0_, x1_, y1_ in (
            (-0.5, -0.5, wp - 0.5, ph - 0.5),
            (-0.5, hp - ph - 0.5, wp - 0.5, hp - 0.5),
            (-0.5, ph - 0.5, pw - 0.5, hp - ph - 0.5),
            (wp - pw - 0.5, ph - 0.5, wp - 0.5, hp - ph - 0.5),
        ):
            if x1_ > x0_ and y1_ > y0_:
                a, b = _rect(x0_, iy0 + y0_, x1_, iy0 + y1_)
                bx += a
                by += b
    traces.append(
        go.Scatter(
            x=bx or [None], y=by or [None], mode="lines", fill="toself", fillcolor=PAD_FILL,
            fillpattern=dict(shape="/", fgcolor="rgba(40,90,200,0.55)", size=6, solidity=0.15),
            line=dict(width=0), hoverinfo="skip", name=f"padding ({sweep.padding_mode})", showlegend=bool(bx),
        )
    )
    # 2: product panel background (one neutral grid per channel)
    pxs, pys = _product_centres(sweep, g)
    traces.append(
        go.Scatter(
            x=pxs, y=pys, mode="markers", marker=dict(symbol="square", size=1, color="rgba(0,0,0,0)"),
            hoverinfo="skip", showlegend=False,
        )
    )
    # 3: the output map (values everywhere; the cover hides what is not computed yet)
    out = sweep.values
    oi, oj = np.indices(out.shape)
    ohover = [f"A({a}, {b}) = {fmt.num(v)}" for a, b, v in zip(oi.ravel(), oj.ravel(), out.ravel())]
    out_text = np.vectorize(fmt.short, otypes=[object])(out)
    out_font = _font_for(g["ppu"], out_text.ravel()) if max(ho, wo) <= 16 else 0
    out_rgb = palette.signed_to_rgb(out)
    images.append(_cells_image(out_rgb, ox0 - 0.5, oy0 - 0.5, gaps=bool(out_font)))
    traces.append(_cell_marks(ox0 + oj.ravel(), oy0 + oi.ravel(), ohover, out_text.ravel() if out_font else None, out_font, "feature map", out_rgb))
    # Moving traces: 4 outline, 5 link, 6 cover, 7 products, 8 caption
    moving_data = _moving_all(sweep, g)
    mv = moving_data[k]
    traces.append(go.Scatter(mode="lines", line=dict(color=HIGHLIGHT, width=3), hoverinfo="skip", name="kernel / current cell", **mv["outline"]))
    traces.append(go.Scatter(mode="lines", line=dict(color=LINK, width=1.5, dash="dot"), hoverinfo="skip", showlegend=False, **mv["link"]))
    traces.append(
        go.Scatter(mode="lines", fill="toself", fillcolor=COVER, line=dict(width=1, color="#cfcfcf"), hoverinfo="skip", name="not computed yet", **mv["cover"])
    )
    pfont = max(8, _font_for(u * g["ppu"], [t for m in moving_data for t in m["products"]["text"]], largest=16))
    traces.append(
        go.Scatter(
            x=pxs, y=pys, mode="text", text=mv["products"]["text"], textfont=dict(size=pfont, color=mv["products"]["textfont"]["color"]),
            hoverinfo="skip", showlegend=False, name="products",
        )
    )
    cx, cy = _caption_positions(sweep, g)
    traces.append(go.Scatter(x=cx, y=cy, mode="text", text=mv["caption"]["text"], textfont=dict(size=15), hoverinfo="skip", showlegend=False))

    # Static decorations: product-grid cells and panel titles (one layout dict: building a
    # figure from it is several times faster than adding shapes one by one).
    shapes, notes = [], []
    grey = dict(color="#ccc", width=1)
    for c in range(sweep.channels):
        y0 = g["py0"] + c * g["cstep"]
        x0, x1, y1 = g["px0"], g["px0"] + kw * u, y0 + kh * u
        shapes.append(dict(type="rect", x0=x0, x1=x1, y0=y0, y1=y1, line=dict(color="#999", width=1), fillcolor="rgba(250,250,250,1)", layer="below"))
        shapes += [dict(type="line", x0=x0, x1=x1, y0=y0 + m * u, y1=y0 + m * u, line=grey, layer="below") for m in range(1, kh)]
        shapes += [dict(type="line", x0=x0 + n * u, x1=x0 + n * u, y0=y0, y1=y1, line=grey, layer="below") for n in range(1, kw)]
        if sweep.channels > 1:
            name = CHANNEL_NAMES[c] if sweep.channels == 3 else str(c)
            notes.append(dict(x=x0 - 0.3, y=y0 + kh * u / 2, text=f"<b>{name}</b>", showarrow=False, xanchor="right"))
    for xc, text in (
        ((wp - 1) / 2, "input I" + (" (padded)" if ph or pw else "")),
        (g["px0"] + kw * u / 2, "I ⊙ K"),
        (ox0 + (wo - 1) / 2, "feature map A"),
    ):
        notes.append(dict(x=xc, y=-0.5 - 0.15 * g["line"], text=f"<b>{text}</b>", showarrow=False, yanchor="bottom"))
    lay = _merge(
        layout(None, g["fit_height"]),
        dict(
            xaxis=dict(visible=False, range=[-1, g["width"]]),
            yaxis=dict(visible=False, range=[g["y_bottom"], g["y_top"]], autorange=False),
            shapes=shapes, annotations=notes, images=images, showlegend=False, hovermode="closest",
            margin=dict(l=10, r=10, t=10, b=bottom_px),
        ),
    )
    fig = AnimatedFigure(data=traces, layout=lay)
    if not animate:
        return fig

    names = [str(t) for t in range(sweep.n_steps)]
    moving = [4, 5, 6, 7, 8]
    frames = []
    for t in range(sweep.n_steps):
        m = moving_data[t]
        frames.append(
            {
                "name": names[t],
                "data": [
                    {"type": "scatter", **m["outline"]},
                    {"type": "scatter", **m["link"]},
                    {"type": "scatter", **m["cover"]},
                    {"type": "scatter", "text": m["products"]["text"], "textfont": {"color": m["products"]["textfont"]["color"], "size": pfont}},
                    {"type": "scatter", "text": m["caption"]["text"]},
                ],
                "traces": moving,
            }
        )
    # Plotly checks once per display refresh (longer apart on a busy machine) whether
    # `duration` has passed since the last frame started. Asking for two refreshes less
    # than 1000/fps keeps the rate at or above `fps` (one refresh less fell below it on a
    # loaded machine); bench/bench_sliding.py measures the rate at each setting.
    duration = max(1, int(round(1000 / fps - 2 * REFRESH_MS)))
    play = dict(frame=dict(duration=duration, redraw=False), transition=dict(duration=0), fromcurrent=True, mode="immediate")
    still = dict(frame=dict(duration=0, redraw=False), transition=dict(duration=0), mode="immediate")
    fig.update_layout(
        updatemenus=[
            dict(
                type="buttons", direction="left", x=0, y=0, xanchor="left", yanchor="top", pad=dict(t=40, r=10), showactive=False,
                buttons=[
                    dict(label=f"▶ Play ({fps:g}/s)", method="animate", args=[play_order(sweep.n_steps, k), play]),
                    dict(label="❚❚ Pause", method="animate", args=[[None], still]),
                    dict(label="⟲ Restart", method="animate", args=[None, {**play, "fromcurrent": False}]),
                ],
            )
        ],
    )
    # The slider follows the animation, and Plotly redraws it on every frame: with one step
    # per position (784 for the digit) that costs more than the frame itself, so it gets
    # at most MAX_SLIDER_STEPS evenly spaced stops. No labels, for the same reason; the
    # caption names the step shown.
    stops = slider_stops(sweep.n_steps, k)
    fig._raw_sliders = [
        dict(
            active=stops.index(k), x=0.2, len=0.8, y=0, yanchor="top", pad=dict(t=30, b=10), ticklen=0, minorticklen=0,
            currentvalue=dict(visible=False),
            steps=[dict(method="animate", label="", args=[[names[t]], still]) for t in stops],
        )
    ]
    fig._raw_frames = frames
    return fig


def slider_stop(n_steps: int, k: int) -> int:
    """The stop of the figure's slider (``slider_stops(n_steps, 0)``: the figure is the same at every step)
    at or just before step k, where the page puts the slider when it shows step k."""
    stops = slider_stops(n_steps, 0)
    return int(np.searchsorted(stops, k, side="right")) - 1


def step_grids_figure(sweep: Sweep, k: int) -> go.Figure:
    """For each channel: the patch under the kernel ⊙ the kernel = the products, with every number written."""
    c = sweep.channels
    patch, kern, prod = sweep.patch(k), sweep.kernel, sweep.products(k)
    sums = prod.sum(axis=(1, 2))
    titles = []
    for ch in range(c):
        name = f" {CHANNEL_NAMES[ch]}" if c == 3 else (f" {ch}" if c > 1 else "")
        titles += [f"patch of I{name}", f"kernel K{name}", f"I ⊙ K{name} (sum {fmt.num(sums[ch])})"]
    # Subplots laid out by hand in one layout dict (make_subplots + update_* is much slower).
    hs, vs = 0.08, 0.12 if c > 1 else 0.05
    cw, rh = (1 - 2 * hs) / 3, (1 - (c - 1) * vs) / c
    traces, lay = [], layout(None, 50 + 170 * c, square=False)
    lay.update(margin=dict(l=5, r=5, t=40, b=5), annotations=[])
    for ch in range(c):
        top = 1 - ch * (rh + vs)
        for col, (z, hv) in enumerate(((patch[ch], "I = %{z:.4g}"), (kern[ch], "K(%{y}, %{x}) = %{z:.4g}"), (prod[ch], "I·K = %{z:.4g}"))):
            n = ch * 3 + col + 1
            ax = "" if n == 1 else str(n)
            traces.append(builders.number_grid_trace(z, hv + "<extra></extra>", xaxis=f"x{ax}", yaxis=f"y{ax}"))
            left = col * (cw + hs)
            lay[f"xaxis{ax}"] = dict(domain=[round(left, 6), min(1.0, round(left + cw, 6))], anchor=f"y{ax}", showticklabels=False, showgrid=False, zeroline=False, constrain="domain")
            lay[f"yaxis{ax}"] = dict(domain=[max(0.0, round(top - rh, 6)), min(1.0, round(top, 6))], anchor=f"x{ax}", showticklabels=False, showgrid=False, zeroline=False,
                                     autorange="reversed", constrain="domain", scaleanchor=f"x{ax}", scaleratio=1)
            lay["annotations"].append(dict(text=titles[n - 1], x=left + cw / 2, y=top, xref="paper", yref="paper", xanchor="center",
                                           yanchor="bottom", showarrow=False, font=dict(size=14)))
    return go.Figure(data=traces, layout=lay)


def _matrix_step_traces(m, k: int) -> list[dict]:
    """The current row of M (CSR) outlined and the pixels it reads marked: the matrix figure's last two traces."""
    cols = m.shape[1]
    rx, ry = _rect(-0.5, k - 0.5, cols - 0.5, k + 0.5)
    cols_k = row_columns(m, k).tolist()
    return [
        dict(type="scatter", x=rx, y=ry, mode="lines", line=dict(color=HIGHLIGHT, width=3), hoverinfo="skip", name=f"row {k} = step {k + 1}"),
        dict(type="scatter", x=cols_k, y=[k] * len(cols_k), mode="markers", marker=dict(symbol="square-open", size=9, color=HIGHLIGHT, line=dict(width=2)),
             hovertemplate="pixel %{x} read at this step<extra></extra>", name="pixels under the kernel"),
    ]


def sweep_matrix_figure(sweep: Sweep) -> go.Figure:
    """``matrix_figure`` of the sweep's own M at step 0, so a cache of it is keyed on the sweep alone
    (``matrix_at_step`` lights another row)."""
    return matrix_figure(matrix_view(sweep).matrix, sweep, 0)


def matrix_at_step(spec: dict, matrix, k: int) -> dict:
    """The matrix figure in plain data (``builders.spec(matrix_figure(matrix, sweep, 0))``) with row k lit,
    as ``matrix_figure(matrix, sweep, k)`` draws it; the cached spec is not mutated."""
    return {**spec, "data": spec["data"][:-2] + _matrix_step_traces(matrix.tocsr(), k)}


def matrix_figure(matrix, sweep: Sweep, k: int, *, dense_limit: int = 40_000, height: int = 520) -> go.Figure:
    """M as a picture: each row is one kernel position; the row of step k is outlined and the
    pixels it reads are marked. Lines split M into blocks (one output row × one input row)."""
    m = matrix.tocsr()
    rows, cols = m.shape
    coo = m.tocoo()
    zmax = float(np.max(np.abs(coo.data))) if coo.nnz else 1.0
    if rows * cols <= dense_limit:
        z = np.full((rows, cols), np.nan, dtype=np.float32)
        z[coo.row, coo.col] = coo.data
        text = np.where(np.isnan(z), "", np.vectorize(fmt.num)(np.nan_to_num(z))) if rows * cols <= 1200 else None
        tr = go.Heatmap(
            z=z, colorscale=palette.diverging(), zmin=-zmax, zmax=zmax, zmid=0, xgap=1 if cols <= 60 else 0, ygap=1 if rows <= 60 else 0,
            text=text, texttemplate="%{text}" if text is not None else None,
            hovertemplate="row %{y} (kernel position), column %{x} (pixel)<br>weight %{z:.4g}<extra></extra>",
            colorbar=dict(thickness=12, len=0.8, title="weight"),
        )
    else:
        index = np.int16 if max(rows, cols) < 2**15 else np.int32
        tr = go.Scattergl(
            x=coo.col.astype(index), y=coo.row.astype(index), mode="markers",  # 2-byte indices when they fit: resent every step
            marker=dict(symbol="square", size=max(2, min(6, 500 // max(rows, 1))), color=coo.data.astype(np.float32), colorscale=palette.diverging(), cmin=-zmax, cmax=zmax,
                        colorbar=dict(thickness=12, len=0.8, title="weight")),
            hovertemplate="row %{y}, column %{x}<br>weight %{marker.color:.4g}<extra></extra>", showlegend=False,
        )
    traces = [tr]
    # Block lines: every output row (Wo rows of M) and every input row (W columns of M).
    ho, wo = sweep.out_shape
    c, h, w = sweep.image.shape
    lx, ly = [], []
    if ho > 1:
        for b in range(1, ho):
            lx += [-0.5, cols - 0.5, None]
            ly += [b * wo - 0.5, b * wo - 0.5, None]
    for b in range(1, c * h):
        lx += [b * w - 0.5, b * w - 0.5, None]
        ly += [-0.5, rows - 0.5, None]
    traces.append(go.Scatter(x=lx, y=ly, mode="lines", line=dict(color="rgba(120,120,120,0.35)", width=1), hoverinfo="skip", name="blocks"))
    traces += [go.Scatter(t) for t in _matrix_step_traces(m, k)]
    lay = _merge(
        layout(None, height, square=False),
        dict(
            xaxis=dict(range=[-0.5, cols - 0.5], title=dict(text="column = pixel of vec(I)"), showgrid=False, zeroline=False),
            yaxis=dict(range=[rows - 0.5, -0.5], title=dict(text="row = kernel position"), showgrid=False, zeroline=False),
            legend=dict(orientation="h", y=-0.15, x=0), margin=dict(l=10, r=10, t=10, b=60),
        ),
    )
    return go.Figure(data=traces, layout=lay)
