"""Figures of the sliding-kernel page: what each animation frame shows, the matrix view, the GIF."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import plotly.io as pio
import pytest
import torch
import torch.nn.functional as F
from conftest import plotly_array
from PIL import Image

from cnn_viz.common import assets, fmt, images
from cnn_viz.figures import palette
from cnn_viz.sliding import figures, gif, ops

torch.set_num_threads(1)
MOVING = {"outline": 4, "link": 5, "cover": 6, "products": 7, "caption": 8}


def _digit_sweep():
    return ops.make_sweep(images.load_sample("Handwritten 7 (MNIST)"), np.array([[-1.0, 0, 1]] * 3), padding=1)


def _torch_map(sw):
    return F.conv2d(torch.from_numpy(sw.image)[None], torch.from_numpy(sw.kernel)[None], stride=sw.stride, padding=sw.padding, dilation=sw.dilation)[0, 0].numpy() + sw.bias


def _inside(px, py, poly_x, poly_y) -> bool:
    """Even-odd ray casting: is (px, py) inside the closed polygon?"""
    inside = False
    n = len(poly_x)
    for a in range(n):
        x1, y1, x2, y2 = poly_x[a], poly_y[a], poly_x[(a + 1) % n], poly_y[(a + 1) % n]
        if (y1 > py) != (y2 > py) and px < x1 + (py - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


def _cell_centres(fig_json, name):
    tr = next(t for t in fig_json["data"] if t.get("name") == name)
    return plotly_array(tr["x"]).astype(float), plotly_array(tr["y"]).astype(float)


@pytest.mark.parametrize("make", [ops.figure1_sweep, lambda: ops.make_sweep(np.random.default_rng(0).random((3, 6, 5)), np.ones((3, 2, 3)), stride=(1, 2), padding=1, dilation=2, bias=0.5)])
def test_one_frame_per_position_and_the_cover_hides_exactly_the_cells_not_computed(make):
    sw = make()
    fig = figures.sweep_figure(sw, 0, fps=10)
    d = json.loads(pio.to_json(fig, validate=False))
    frames = d["frames"]
    assert len(frames) == sw.n_steps == _torch_map(sw).size
    assert len(d["layout"]["sliders"][0]["steps"]) == sw.n_steps
    ox, oy = _cell_centres(d, "feature map")  # output cell centres on the shared axes, row by row
    ref = _torch_map(sw)
    assert ox.size == ref.size
    for k, fr in enumerate(frames):
        assert fr["traces"] == list(MOVING.values())
        cover = fr["data"][2]
        blank = np.array([_inside(x, y, cover["x"], cover["y"]) for x, y in zip(ox, oy)]).reshape(ref.shape)
        expected = np.isnan(sw.partial(k))
        np.testing.assert_array_equal(blank, expected)
        assert not np.isnan(ref[~expected]).any()
        i, j = divmod(k, ref.shape[1])
        assert fr["data"][4]["text"][0] == f"step {k + 1} of {sw.n_steps}: A({i}, {j}) = {fmt.num(ref[i, j])}"


def test_frame_outlines_every_dilated_tap_and_products_are_torchs():
    rng = np.random.default_rng(1)
    sw = ops.make_sweep(rng.random((7, 8)), rng.standard_normal((3, 3)), stride=2, padding=1, dilation=2)
    fig = figures.sweep_figure(sw, 0)
    d = fig.to_dict()
    patches = F.unfold(torch.from_numpy(sw.padded)[None], (3, 3), dilation=2, stride=2)[0].T.numpy()  # (N, 9)
    g = figures._layout_geometry(sw, 520, 110)
    for k in (0, 5, sw.n_steps - 1):
        fr = d["frames"][k]
        xs, ys = fr["data"][0]["x"], fr["data"][0]["y"]
        # rectangles are 5 corners and a gap; the centre of each is a tap (the last one is the output cell)
        centres = {(round((xs[a] + xs[a + 1]) / 2), round((ys[a] + ys[a + 2]) / 2 - g["iy0"])) for a in range(0, len(xs) - 6, 6)}
        i, j = divmod(k, sw.out_shape[1])
        assert centres == {(j * 2 + n * 2, i * 2 + m * 2) for m in range(3) for n in range(3)}
        prods = patches[k] * sw.kernel.ravel()
        assert fr["data"][3]["text"] == [fmt.short(v) for v in prods]
        assert fr["data"][3]["textfont"]["color"] == [figures.POS if v > 0 else figures.NEG if v < 0 else "#555" for v in prods]


def test_digit_animation_is_light_and_starts_at_the_server_step():
    sw = _digit_sweep()
    fig = figures.sweep_figure(sw, 100, fps=10)
    text = pio.to_json(fig, validate=False)
    d = json.loads(text)
    assert len(d["frames"]) == 784
    assert len(text) < 1_500_000  # frames carry only the moving traces
    assert all(len(fr["data"]) == 5 for fr in d["frames"])
    slider = d["layout"]["sliders"][0]
    stops = [st["args"][0][0] for st in slider["steps"]]
    assert len(stops) <= figures.MAX_SLIDER_STEPS + 2  # a light slider: it is redrawn every frame
    assert stops[0] == "0" and stops[-1] == "783" and stops[slider["active"]] == "100"
    gaps = np.diff([int(t) for t in stops])
    assert gaps.max() <= 8  # every part of the sweep is reachable from the figure's slider
    play = d["layout"]["updatemenus"][0]["buttons"][0]
    assert play["args"][0] == [str(t) for t in range(101, 784)]
    restart = d["layout"]["updatemenus"][0]["buttons"][2]
    assert restart["args"][0] is None and restart["args"][1]["fromcurrent"] is False
    assert play["args"][1]["fromcurrent"] is True
    assert play["args"][1]["frame"]["duration"] == 67 and play["args"][1]["frame"]["redraw"] is False
    # the static traces show step 100 as it is: cover after A(3, 16)
    assert d["data"][8]["text"][0].startswith("step 101 of 784: A(3, 16)")
    # the input and the map are PNG layout images (they survive frames drawn without a redraw)
    pictures = d["layout"]["images"]
    assert len(pictures) == 2
    png = Image.open(io.BytesIO(base64.b64decode(pictures[0]["source"].split(",", 1)[1])))
    f = png.size[0] // 30
    assert png.size == (30 * f, 30 * f) and (pictures[0]["sizex"], pictures[0]["sizey"]) == (30, 30)
    digit = np.pad(np.asarray(Image.open(assets.DIGIT_7).convert("L")), 1)
    np.testing.assert_array_equal(np.asarray(png.convert("L"))[f // 2 :: f, f // 2 :: f], digit)


def test_static_step_figure_has_no_frames():
    fig = figures.sweep_figure(ops.figure1_sweep(), 2, animate=False)
    assert "frames" not in fig.to_dict()
    assert not fig.layout.sliders


def test_step_grids_are_patch_kernel_and_products():
    rng = np.random.default_rng(3)
    sw = ops.make_sweep(rng.random((3, 5, 5)), rng.standard_normal((3, 2, 2)), padding=1)
    k = 7
    fig = figures.step_grids_figure(sw, k)
    patches = F.unfold(torch.from_numpy(sw.padded)[None], (2, 2))[0].T.reshape(-1, 3, 2, 2).numpy()
    assert len(fig.data) == 9
    for c in range(3):
        np.testing.assert_array_equal(fig.data[3 * c].z, patches[k, c])
        np.testing.assert_array_equal(fig.data[3 * c + 1].z, sw.kernel[c])
        np.testing.assert_allclose(fig.data[3 * c + 2].z, patches[k, c] * sw.kernel[c])


@pytest.mark.parametrize("dense_limit", [40_000, 0])
def test_matrix_figure_highlights_the_row_and_its_pixels(dense_limit):
    sw = ops.make_sweep(np.random.default_rng(4).random((6, 7)), np.array([[1.0, 2.0], [3.0, 0.0]]), stride=1, padding=1)
    m = ops.conv_matrix_of(sw)
    k = 17
    fig = figures.matrix_figure(m, sw, k, dense_limit=dense_limit)
    if dense_limit:
        z = np.asarray(fig.data[0].z, dtype=float)
        np.testing.assert_array_equal(np.nan_to_num(z), m.toarray())
    else:
        assert fig.data[0].type == "scattergl" and len(fig.data[0].x) == m.nnz
    row = next(t for t in fig.data if t.name and t.name.startswith("row "))
    assert set(np.asarray(row.y, dtype=float)[~np.isnan(np.asarray(row.y, dtype=float))]) == {k - 0.5, k + 0.5}
    marked = next(t for t in fig.data if t.name == "pixels under the kernel")
    # the pixels step k reads, from torch: where d A_k / d I is nonzero
    x = torch.from_numpy(sw.image[0]).requires_grad_(True)
    F.conv2d(x[None, None], torch.from_numpy(sw.kernel)[None], padding=1)[0, 0].reshape(-1)[k].backward()
    np.testing.assert_array_equal(np.sort(marked.x), np.flatnonzero(x.grad.numpy()))


def test_gif_has_every_step_fills_cell_by_cell_and_fits_a_slide():
    sw = ops.figure1_sweep()
    data = gif.sweep_gif(sw, fps=5)
    im = Image.open(io.BytesIO(data))
    assert data[:6] == b"GIF89a"
    assert im.size == (960, 540)
    assert im.n_frames == 6
    cover_rgb = gif.UI["cover"]
    counts, durations = [], []
    for t in range(im.n_frames):
        im.seek(t)
        durations.append(im.info["duration"])
        rgb = np.asarray(im.convert("RGB"))
        counts.append(int(np.all(rgb == cover_rgb, axis=-1).sum()))
    # the grey cover shrinks by one output cell per frame and is gone at the end
    cell = counts[0] / (sw.n_steps - 1)
    assert cell > 100
    # (the orange link lines may cross the cover: a few hundred pixels, far less than a cell)
    assert [round(n / cell, 1) for n in counts] == [float(sw.n_steps - 1 - t) for t in range(sw.n_steps)]
    assert durations[:-1] == [200] * 5 and durations[-1] == 2000


def test_gif_of_the_digit_has_784_frames_and_reports_progress():
    seen = []
    data = gif.sweep_gif(_digit_sweep(), fps=20, progress=seen.append)
    im = Image.open(io.BytesIO(data))
    assert im.n_frames == 784
    assert seen[-1] == 1.0 and seen == sorted(seen)
    assert len(data) < 12_000_000


def test_make_gif_says_what_it_holds():
    sw = ops.figure1_sweep()
    g = gif.make_gif(sw, fps=5)
    im = Image.open(io.BytesIO(g.data))
    assert (g.frames, g.size) == (im.n_frames, im.size) == (sw.n_steps, (960, 540))
    assert g.caption == f"6 frames, 960×540, {len(g.data) / 1e6:.1f} MB, 1 s at 5 steps per second."


def test_the_sweep_uses_the_app_palette():
    assert figures.POS == "#%02x%02x%02x" % palette.RED and figures.NEG == "#%02x%02x%02x" % palette.BLUE
    assert gif.UI["highlight"] == tuple(int(palette.HIGHLIGHT[i : i + 2], 16) for i in (1, 3, 5))
    assert gif.UI["cover"] == figures.COVER_RGB
    np.testing.assert_array_equal(palette.ramp(gif.N_INPUT, gif.GREY)[:, 0], np.linspace(0, 255, gif.N_INPUT).round())


def test_number_grid_trace_writes_every_number_on_the_signed_scale():
    """The step grids' trace (builders.number_grid_trace, also inside kernel_figure): z is the grid, each
    cell's text its value to 3 significant digits, the scale symmetric about zero at the largest |value|."""
    from cnn_viz.figures.builders import kernel_figure, number_grid_trace

    for grid in (np.array([[1 / 9, -0.5, 2.0], [3.0, -1.5, 0.25]]), np.random.default_rng(5).standard_normal((7, 8))):
        for tr in (number_grid_trace(grid).to_plotly_json(), kernel_figure(grid).data[0].to_plotly_json()):
            np.testing.assert_array_equal(plotly_array(tr["z"]), grid)
            assert [list(r) for r in plotly_array(tr["text"])] == [[f"{v:.3g}" for v in r] for r in grid]
            top = float(np.abs(grid).max())
            assert (tr["zmin"], tr["zmax"], tr["zmid"]) == (-top, top, 0)
            assert tr["textfont"]["size"] == (16 if max(grid.shape) <= 5 else 12)


@pytest.mark.parametrize("k", [0, 1, 57, 300, 783])
def test_the_cached_matrix_lit_at_a_step_and_the_slider_stop_of_a_step(k):
    """The page builds M's figure once (step 0) and lights row k with matrix_at_step: the result is what
    matrix_figure draws at step k (the cached data unchanged), and the row's marked pixels are the nonzeros
    of row k of torch's Jacobian. The animation is the same at every step; the slider goes to the stop at
    or before k."""
    sw = _digit_sweep()
    mat = ops.matrix_view(sw).matrix
    mbase = json.loads(pio.to_json(figures.sweep_matrix_figure(sw), validate=False))
    frozen = json.dumps(mbase, sort_keys=True)
    mk = json.loads(json.dumps(figures.matrix_at_step(mbase, mat, k)))
    assert json.dumps(mbase, sort_keys=True) == frozen
    assert mk == json.loads(pio.to_json(figures.matrix_figure(mat, sw, k), validate=False))
    marked = next(t for t in mk["data"] if t.get("name") == "pixels under the kernel")
    x = torch.from_numpy(sw.image[0])
    jac = torch.autograd.functional.jacobian(lambda t: F.conv2d(t[None, None], torch.from_numpy(sw.kernel)[None], padding=1).reshape(-1), x)
    assert sorted(marked["x"]) == np.flatnonzero(jac.reshape(784, -1)[k].numpy()).tolist()
    assert next(t for t in mk["data"] if t.get("name", "").startswith("row "))["name"] == f"row {k} = step {k + 1}"
    steps = figures.sweep_figure(sw, 0).to_dict()["layout"]["sliders"][0]["steps"]
    stop = figures.slider_stop(784, k)
    assert int(steps[stop]["args"][0][0]) <= k < (int(steps[stop + 1]["args"][0][0]) if stop + 1 < len(steps) else 785)
