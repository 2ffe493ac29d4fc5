"""The whole sweep as an animated GIF for slides (drawn with Pillow).

Each frame is drawn on a palette image: a fixed palette (grey or the image's own colours
for the input, the app's diverging blue-white-red ramp for the feature map, a few UI
colours), so no frame needs quantizing. Frames are encoded one at a time as they are drawn
(only the rectangle that changed from the frame before, with Pillow's GIF frame encoder):
memory stays at two frames plus the compressed file, whatever the sweep's length. A sweep
longer than MAX_FRAMES steps is sampled (every 2nd, 3rd, ... step, the last one always),
at the same steps per second. 16:9, 960×540 by default.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import GifImagePlugin, Image, ImageDraw, ImageFont

from cnn_viz.common import fmt
from cnn_viz.figures import palette
from cnn_viz.sliding.figures import COVER_RGB
from cnn_viz.sliding.ops import CHANNEL_NAMES, Sweep

N_INPUT = 64  # palette slots for the input's colours
N_OUTPUT = 64  # palette slots for the feature map's ramp
UI = {
    "bg": (255, 255, 255),
    "text": (30, 30, 30),
    "highlight": tuple(bytes.fromhex(palette.HIGHLIGHT[1:])),
    "cover": COVER_RGB,
    "pad": (120, 160, 235),
    "grid": (200, 200, 200),
    "pos": palette.RED,
    "neg": palette.BLUE,
}
GREY = [[0.0, "rgb(0,0,0)"], [1.0, "rgb(255,255,255)"]]  # a linear black-to-white scale for grey inputs
MIN_DELAY_MS = 20  # browsers play shorter GIF delays at 10 fps
MAX_FRAMES = 800  # a longer sweep is sampled: ~12 MB of GIF at most, ~80 s at 10 steps per second


def frame_steps(n_steps: int, max_frames: int = MAX_FRAMES) -> tuple[range | list[int], int]:
    """The steps that get a frame and the sampling ``every``: every step up to ``max_frames`` steps,
    else every ``every``-th step (``every`` = ceil(n_steps / max_frames)) and always the last one."""
    every = max(1, -(-n_steps // max_frames))
    steps = list(range(0, n_steps, every))
    if steps[-1] != n_steps - 1:
        steps.append(n_steps - 1)
    return steps, every


def _input_palette(sweep: Sweep) -> tuple[np.ndarray, np.ndarray]:
    """(Hp, Wp) palette indices of the padded input and the N_INPUT colours they point to."""
    x = sweep.padded
    lo, hi = float(x.min()), float(x.max())
    if not (lo >= 0 and hi <= 1):  # typed numbers: stretch to [0, 1]
        x = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
    if sweep.channels == 3:
        rgb = Image.fromarray((np.moveaxis(x, 0, -1) * 255).round().astype(np.uint8))
        q = rgb.quantize(colors=N_INPUT, method=Image.Quantize.MEDIANCUT)
        pal = np.array(q.getpalette()[: 3 * N_INPUT], dtype=np.uint8).reshape(-1, 3)
        pal = np.vstack([pal, np.zeros((N_INPUT - len(pal), 3), dtype=np.uint8)])
        return np.asarray(q, dtype=np.uint8), pal
    g = x.mean(axis=0)
    idx = np.clip(np.rint(g * (N_INPUT - 1)), 0, N_INPUT - 1).astype(np.uint8)
    pal = palette.ramp(N_INPUT, GREY)
    if not (float(sweep.padded.min()) >= 0 and float(sweep.padded.max()) <= 1):
        pal = (255 - 0.45 * (255 - pal)).astype(np.uint8)  # light cells, so the numbers read
    return idx, pal


def _font(size: int):
    return ImageFont.load_default(size=size)


class _Stamps:
    """Text rendered once per (string, font) and pasted after: most numbers repeat."""

    def __init__(self):
        self._cache: dict = {}

    def put(self, img: Image.Image, xy, text: str, font, fill: int) -> None:
        key = (text, id(font))
        if key not in self._cache:
            left, top, right, bottom = font.getbbox(text, anchor="mm")
            mask = Image.new("L", (max(1, right - left), max(1, bottom - top)), 0)
            ImageDraw.Draw(mask).text((-left, -top), text, font=font, fill=255, anchor="mm")
            self._cache[key] = (mask.point(lambda v: 255 if v >= 110 else 0).convert("1"), left, top)
        mask, left, top = self._cache[key]
        img.paste(fill, (int(round(xy[0] + left)), int(round(xy[1] + top))), mask)


def _grid_lines(d: ImageDraw.ImageDraw, x0: int, y0: int, rows: int, cols: int, cell: int, fill: int) -> None:
    """The lines around and between rows × cols square cells of ``cell`` pixels, top-left corner at (x0, y0)."""
    for r in range(rows + 1):
        d.line([(x0, y0 + r * cell), (x0 + cols * cell, y0 + r * cell)], fill=fill)
    for q in range(cols + 1):
        d.line([(x0 + q * cell, y0), (x0 + q * cell, y0 + rows * cell)], fill=fill)


class _GifStream:
    """An animated GIF written frame by frame into ``fp``: the global palette once, then each frame as the
    rectangle that differs from the frame before (Pillow's ``GifImagePlugin.getheader`` / ``getdata``)."""

    def __init__(self, fp, loop: int = 0):
        self.fp, self.loop, self.prev = fp, loop, None

    def add(self, frame: Image.Image, duration_ms: int) -> None:
        a = np.asarray(frame)
        if self.prev is None:
            header, _ = GifImagePlugin.getheader(frame, info={"loop": self.loop, "duration": duration_ms})
            self.fp.write(b"".join(header))
            box, part = (0, 0), frame
        else:
            changed = a != self.prev
            rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
            if rows.size == 0:  # the same picture: one unchanged pixel carries the delay
                rows, cols = np.array([0]), np.array([0])
            box = (int(cols[0]), int(rows[0]))
            part = frame.crop((box[0], box[1], int(cols[-1]) + 1, int(rows[-1]) + 1))
        self.fp.write(b"".join(GifImagePlugin.getdata(part, offset=box, duration=duration_ms)))
        self.prev = a

    def close(self) -> None:
        self.fp.write(b";")


@dataclass(frozen=True)
class Gif:
    data: bytes
    frames: int
    size: tuple[int, int]
    fps: float
    steps: int = 0  # the sweep's steps (frames == steps unless the sweep was sampled)
    every: int = 1  # one frame per ``every`` steps

    @property
    def caption(self) -> str:
        sampled = (f" (one per {self.every} steps of {self.steps:,}: at most {MAX_FRAMES} frames)"
                   if self.every > 1 else "")
        return (f"{self.frames} frames{sampled}, {self.size[0]}×{self.size[1]}, {len(self.data) / 1e6:.1f} MB, "
                f"{max(self.steps, self.frames) / self.fps:.0f} s at {self.fps} steps per second.")


def make_gif(sweep: Sweep, fps: float = 10, size: tuple[int, int] = (960, 540)) -> Gif:
    """The sweep's GIF (``sweep_gif``) with what the page says about it."""
    steps, every = frame_steps(sweep.n_steps)
    return Gif(sweep_gif(sweep, fps=fps, size=size), len(steps), tuple(size), fps, sweep.n_steps, every)


def sweep_gif(sweep: Sweep, fps: float = 10, size: tuple[int, int] = (960, 540), hold_ms: int = 2000, progress=None) -> bytes:
    """Every step of the sweep as one GIF frame (sampled as ``frame_steps`` says beyond MAX_FRAMES steps),
    each encoded as soon as it is drawn; the last frame is held ``hold_ms``.

    ``progress``, if given, is called with the fraction done (0..1) while frames are drawn."""
    buf = io.BytesIO()
    gif = _GifStream(buf)
    for frame, duration in sweep_frames(sweep, fps=fps, size=size, hold_ms=hold_ms, progress=progress):
        gif.add(frame, duration)
    gif.close()
    return buf.getvalue()


def sweep_frames(sweep: Sweep, fps: float = 10, size: tuple[int, int] = (960, 540), hold_ms: int = 2000, progress=None):
    """The GIF's frames, one at a time: (palette image, duration in ms) for each step ``frame_steps`` picks."""
    width, height = size
    hp, wp = sweep.padded.shape[1:]
    ho, wo = sweep.out_shape
    kh, kw = sweep.kernel_shape
    c = sweep.channels
    ui_base = N_INPUT + N_OUTPUT
    col = {name: ui_base + i for i, name in enumerate(UI)}
    in_idx, in_pal = _input_palette(sweep)
    s = palette.scheme()  # the session's colour scheme: signed numbers tinted like the feature map's ends
    ui = dict(UI, pos=s.pos, neg=s.neg)
    colours = np.vstack([in_pal, palette.ramp(N_OUTPUT), np.array(list(ui.values()), dtype=np.uint8)])
    colours = np.vstack([colours, np.zeros((256 - len(colours), 3), dtype=np.uint8)])

    # Layout: title band, then input | products | output, all cells square.
    top, margin, gap = 64, 24, 40
    prod_rows = c * kh + (c - 1)
    avail_w, avail_h = width - 2 * margin - 2 * gap, height - top - margin
    pc = int(np.clip(avail_h / prod_rows, 16, 60))  # a product cell: big enough for its number
    pc = int(min(pc, 0.3 * avail_w / kw))
    cs = int(max(3, min((avail_w - kw * pc) / (wp + wo), avail_h / max(hp, ho))))  # an input / output cell
    body = max(hp * cs, ho * cs, prod_rows * pc)
    x_in = (width - (wp * cs + kw * pc + wo * cs + 2 * gap)) // 2
    y_in = top + (body - hp * cs) // 2
    x_pr = x_in + wp * cs + gap
    y_pr = top + (body - prod_rows * pc) // 2
    x_out = x_pr + kw * pc + gap
    y_out = top + (body - ho * cs) // 2

    base = np.full((height, width), col["bg"], dtype=np.uint8)
    base[y_in : y_in + hp * cs, x_in : x_in + wp * cs] = np.kron(in_idx, np.ones((cs, cs), dtype=np.uint8))
    out = sweep.values
    zmax = palette.largest_abs(out)
    out_idx = (N_INPUT + np.clip(np.rint((out / zmax + 1) / 2 * (N_OUTPUT - 1)), 0, N_OUTPUT - 1)).astype(np.uint8)
    base[y_out : y_out + ho * cs, x_out : x_out + wo * cs] = np.kron(out_idx, np.ones((cs, cs), dtype=np.uint8))
    img = Image.frombytes("P", (width, height), base.tobytes())
    img.putpalette(colours.ravel().tolist())
    d = ImageDraw.Draw(img)
    small_font = _font(max(9, min(20, int(cs * 0.45))))
    title_font, label_font = _font(22), _font(16)
    ph, pw = sweep.padding
    # Padding: hatch, and the image's border.
    if ph or pw:
        for r in range(hp):
            for q in range(wp):
                if sweep.padding_mask[r, q]:
                    x0, y0 = x_in + q * cs, y_in + r * cs
                    for t in range(-cs, cs, max(3, cs // 3)):
                        d.line([(x0 + max(t, 0), y0 + max(-t, 0)), (x0 + min(cs, cs + t), y0 + min(cs, cs - t))], fill=col["pad"])
        d.rectangle([x_in + pw * cs, y_in + ph * cs, x_in + (wp - pw) * cs - 1, y_in + (hp - ph) * cs - 1], outline=col["pad"], width=2)
    # Cell grids and numbers on small inputs / outputs.
    if cs >= 14:
        _grid_lines(d, x_in, y_in, hp, wp, cs, col["grid"])
    if cs >= 40 and c == 1:
        g = sweep.padded[0]
        for r in range(hp):
            for q in range(wp):
                d.text((x_in + q * cs + cs / 2, y_in + r * cs + cs / 2), fmt.short(g[r, q]), fill=col["text"], font=small_font, anchor="mm")
    for ch in range(c):
        y0 = y_pr + ch * (kh + 1) * pc
        _grid_lines(d, x_pr, y0, kh, kw, pc, col["grid"])
        if c > 1:
            d.text((x_pr - 6, y0 + kh * pc / 2), CHANNEL_NAMES[ch] if c == 3 else str(ch), fill=col["text"], font=label_font, anchor="rm")
    for x, text in ((x_in + wp * cs / 2, "input I"), (x_pr + kw * pc / 2, "I · K (each pixel x its weight)"), (x_out + wo * cs / 2, "feature map A")):
        d.text((x, top - 8), text, fill=col["text"], font=label_font, anchor="ms")
    base_img = img

    prod_font = _font(max(8, min(18, int(pc / 3.2))))
    out_font = small_font
    stamps = _Stamps()
    products = (sweep.windows * sweep.kernel).reshape(sweep.n_steps, c, kh, kw)
    vals = out.ravel()
    steps, every = frame_steps(sweep.n_steps)
    delay = max(MIN_DELAY_MS, int(round(1000 * every / fps / 10)) * 10)
    for f, k in enumerate(steps):
        i, j = divmod(k, wo)
        fr = base_img.copy()
        a = np.asarray(fr).copy()
        # Cover the cells not computed yet.
        a[y_out + i * cs : y_out + (i + 1) * cs, x_out + (j + 1) * cs : x_out + wo * cs] = col["cover"]
        a[y_out + (i + 1) * cs : y_out + ho * cs, x_out : x_out + wo * cs] = col["cover"]
        fr = Image.frombytes("P", (width, height), a.tobytes())
        fr.putpalette(colours.ravel().tolist())
        dr = ImageDraw.Draw(fr)
        if cs >= 40:
            for t in range(k + 1):
                ti, tj = divmod(t, wo)
                stamps.put(fr, (x_out + tj * cs + cs / 2, y_out + ti * cs + cs / 2), fmt.short(vals[t]), out_font, col["text"])
        r0, c0 = i * sweep.stride[0], j * sweep.stride[1]
        for m in range(kh):
            for n in range(kw):
                r, q = r0 + m * sweep.dilation[0], c0 + n * sweep.dilation[1]
                dr.rectangle([x_in + q * cs, y_in + r * cs, x_in + (q + 1) * cs - 1, y_in + (r + 1) * cs - 1], outline=col["highlight"], width=max(1, cs // 10))
        dr.rectangle([x_out + j * cs, y_out + i * cs, x_out + (j + 1) * cs - 1, y_out + (i + 1) * cs - 1], outline=col["highlight"], width=max(2, cs // 8))
        r_end = r0 + (kh - 1) * sweep.dilation[0]
        c_end = c0 + (kw - 1) * sweep.dilation[1]
        dr.line([(x_in + (c_end + 1) * cs, y_in + r0 * cs), (x_out + j * cs, y_out + i * cs)], fill=col["highlight"])
        dr.line([(x_in + (c_end + 1) * cs, y_in + (r_end + 1) * cs), (x_out + j * cs, y_out + (i + 1) * cs)], fill=col["highlight"])
        for ch in range(c):
            y0 = y_pr + ch * (kh + 1) * pc
            for m in range(kh):
                for n in range(kw):
                    v = products[k, ch, m, n]
                    tint = col["pos"] if v > 0 else col["neg"] if v < 0 else col["text"]
                    stamps.put(fr, (x_pr + n * pc + pc / 2, y0 + m * pc + pc / 2), fmt.short(v), prod_font, tint)
        bias = " + b" if sweep.bias else ""
        dr.text((width / 2, 8), f"step {k + 1} of {sweep.n_steps}:  A({i}, {j}) = sum of I·K{bias} = {fmt.short(vals[k])}", fill=col["text"], font=title_font, anchor="ma")
        if progress is not None and (f % 50 == 0 or f == len(steps) - 1):
            progress((f + 1) / len(steps))
        yield fr, (max(delay, hold_ms) if f == len(steps) - 1 else delay)
