"""The sweep GIF is encoded frame by frame: the file decodes (Pillow's reader) to exactly the frames drawn,
like Pillow's own all-frames writer; long sweeps are sampled to at most MAX_FRAMES frames; and making the
largest GIF the page allows keeps the peak memory within 100 MB of idle (measured in a child process)."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest
from conftest import ROOT
from PIL import Image

from cnn_viz.common import images
from cnn_viz.sliding import gif, ops


def _decoded(data: bytes):
    im = Image.open(io.BytesIO(data))
    out = []
    for t in range(im.n_frames):
        im.seek(t)
        out.append((np.asarray(im.convert("RGB")), im.info["duration"]))
    return out


def _colour_sweep(side: int, padding: int, kernel):
    pic = images.resize_max(images.load_sample("Astronaut"), side)
    sw, failure = ops.try_sweep(pic, kernel, padding=padding)
    assert failure is None
    return sw


@pytest.mark.parametrize("make", [ops.figure1_sweep, lambda: _colour_sweep(6, 1, np.ones((3, 3)) / 9)],
                         ids=["figure1", "colour_6x6"])
def test_streamed_gif_decodes_to_the_drawn_frames_like_pillows_writer(make):
    sw = make()
    drawn = [(np.asarray(f.convert("RGB")), d) for f, d in gif.sweep_frames(sw, fps=5)]
    ours = _decoded(gif.sweep_gif(sw, fps=5))
    frames = [f for f, _ in gif.sweep_frames(sw, fps=5)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=[d for _, d in drawn], loop=0)
    pillow = _decoded(buf.getvalue())
    assert len(ours) == len(drawn) == len(pillow) == sw.n_steps
    for (a, da), (b, db), (c, dc) in zip(ours, drawn, pillow):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
        assert da == db == dc
    assert Image.open(io.BytesIO(gif.sweep_gif(sw, fps=5))).info["loop"] == 0


def test_frame_steps_sample_long_sweeps_and_keep_the_last_step():
    assert gif.frame_steps(6) == (list(range(6)), 1)
    assert gif.frame_steps(gif.MAX_FRAMES) == (list(range(gif.MAX_FRAMES)), 1)
    steps, every = gif.frame_steps(2304)
    assert every == 3 and steps[:3] == [0, 3, 6] and steps[-1] == 2303 and len(steps) == 769 <= gif.MAX_FRAMES
    steps, every = gif.frame_steps(gif.MAX_FRAMES + 1)
    assert every == 2 and steps[-1] == gif.MAX_FRAMES and len(steps) <= gif.MAX_FRAMES


def test_the_largest_sweep_is_sampled_and_fills_the_map_by_its_steps():
    sw = _colour_sweep(32, 8, np.ones((3, 1, 1)))  # the largest the page allows: 48 × 48 = 2,304 positions
    assert sw.n_steps == 2304
    g = gif.make_gif(sw, fps=10)
    dec = Image.open(io.BytesIO(g.data))
    assert dec.n_frames == g.frames == 769 and g.every == 3
    assert "one per 3 steps of 2,304" in g.caption and f"at most {gif.MAX_FRAMES} frames" in g.caption
    assert "230 s at 10 steps per second" in g.caption  # 2,304 steps at 10 per second, as without sampling
    cover = np.array(gif.UI["cover"])
    counts = {}
    for t in (0, 1, 2, dec.n_frames - 1):
        dec.seek(t)
        counts[t] = int(np.all(np.asarray(dec.convert("RGB")) == cover, axis=-1).sum())
        assert dec.info["duration"] == (2000 if t == dec.n_frames - 1 else 300)
    cell = counts[0] / (sw.n_steps - 1)  # frame 0: every cell but the first is still covered
    assert cell >= 9
    # frame t shows step 3t: 3t + 1 cells computed (the orange link lines may cross the cover: under a cell)
    for t in (1, 2):
        assert abs(counts[t] / cell - (sw.n_steps - 1 - 3 * t)) < 1, (t, counts[t] / cell)
    assert counts[dec.n_frames - 1] == 0


def test_the_largest_gif_stays_within_100_mb_of_idle():
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_gif import GOAL_MB, run_case

    for case in ("digit", "colour"):
        r = run_case(ROOT, case, 10)
        assert r["frames"] <= gif.MAX_FRAMES < r["steps"]
        assert r["peak"] - r["idle"] <= GOAL_MB, r
