"""The ReLU and pooling page's figures carry the right numbers (checked against torch where it has them)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import HOVER_REL, png_pixels
import torch
import torch.nn.functional as F

from cnn_viz.common import images
from cnn_viz.common.images import to_uint8
from cnn_viz.figures import builders
from cnn_viz.figures.palette import ramp
from cnn_viz.pooling import figures, stages, why_cnn

torch.set_num_threads(1)
DIGIT = images.load_sample("Handwritten 7 (MNIST)")


@pytest.fixture(scope="module")
def pipe():
    bank = stages.preset_bank(stages.DEFAULT_BANK, with_negatives=True)
    return stages.run_pipeline(DIGIT, bank.weights, labels=list(bank.labels), bank2=stages.random_bank(3, 8, 3, seed=1))


def _columns(fig) -> list[list]:
    """The pipeline figure's traces per column (stage), in order: [value heatmap, PNG picture] or [exact heatmap]."""
    cols: dict[str, list] = {}
    for tr in fig.data:
        cols.setdefault(tr.xaxis, []).append(tr)
    return [cols[k] for k in sorted(cols, key=lambda a: int(a[1:] or 1))]


def _column_png(picture) -> np.ndarray:
    """A column's PNG as RGB (the input's is stored gray)."""
    px = png_pixels(picture.source)
    return np.stack([px] * 3, axis=-1) if px.ndim == 2 else px


def _expected_rgb(st, shown: np.ndarray) -> np.ndarray:
    """The colours a stage's maps must have in the PNG: gray levels of [0, 1] for the input, else the builders'
    diverging ramp at ±(largest |value| of the stage)."""
    if st.kind == "input":
        g = to_uint8(shown, 0.0, 1.0)
        return np.stack([g] * 3, axis=-1)
    return ramp(256)[builders.signed_levels(shown, float(np.abs(st.maps).max()))]


def _mosaic_values(fig) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """A PNG mosaic's hover values per map: {map: (rows, cols, values)} (mnist.figures.mosaic_figure)."""
    z = np.asarray(fig.data[0].z, dtype=np.float64)
    custom = np.asarray(fig.data[0].customdata).astype(int)
    out: dict[int, list] = {}
    for i, j in zip(*np.nonzero(~np.isnan(z))):
        k, r, c = custom[i, j]
        out.setdefault(int(k), []).append((r, c, z[i, j]))
    return {k: tuple(np.array(v).T) for k, v in out.items()}


def _assert_mosaic_maps(fig, maps, every_value: bool = False):
    got = _mosaic_values(fig)
    assert sorted(got) == list(range(len(maps)))
    for k, m in enumerate(maps):
        rows, cols, vals = got[k]
        np.testing.assert_allclose(vals, np.asarray(m, dtype=np.float64)[rows.astype(int), cols.astype(int)], rtol=HOVER_REL, atol=1e-12)
        if every_value:
            assert len(vals) == np.asarray(m).size


def test_pipeline_figure_one_column_per_stage_at_one_scale(pipe):
    fig = figures.pipeline_figure(pipe, max_maps=8)
    columns = _columns(fig)
    assert len(columns) == len(pipe)
    texts = [a.text for a in fig.layout.annotations]
    for st in pipe:
        assert f"<b>{st.name}</b>" in texts and st.shape_text in texts
    # Every column has the same axis ranges, so a pooled map is drawn half as large.
    ranges = {(tuple(fig.layout[f"xaxis{i + 1}"]["range"]), tuple(fig.layout[f"yaxis{i + 1}"]["range"])) for i in range(len(pipe))}
    assert len(ranges) == 1
    slot = 28 + max(1, 28 // 12)
    for traces, st in zip(columns, pipe):
        c, h, w = st.maps.shape
        values = traces[0]
        z = np.asarray(values.z, dtype=np.float64)
        custom = np.asarray(values.customdata).astype(int)
        x = np.asarray(values.x).astype(int)
        y = np.asarray(values.y).astype(int)
        # every hover value is the real value of its map at its true row and column
        maps_hit = set()
        for i in range(z.shape[0]):
            for j in range(z.shape[1]):
                if np.isnan(z[i, j]):
                    continue
                r, row = custom[i, j, 0] - 1, custom[i, j, 1]
                assert y[i] == r * slot + row
                assert z[i, j] == pytest.approx(float(st.maps[r, row, x[j]]), rel=1e-6)
                maps_hit.add(r)
        assert maps_hit == set(range(min(c, 8)))
        if len(traces) == 2:  # a large column: the PNG shows every map, blank (white) in the gaps and the empty slots
            assert values.opacity == 0
            rgb = _column_png(traces[1])
            assert rgb.shape[:2] == (8 * slot, w)
            blank = 255 if st.kind == "input" else ramp(256)[128]  # white / the zero of the diverging ramp
            for r in range(min(c, 8)):
                np.testing.assert_array_equal(rgb[r * slot:r * slot + h], _expected_rgb(st, st.maps[r]))
                assert (rgb[r * slot + h:(r + 1) * slot] == blank).all()
            assert (rgb[min(c, 8) * slot:] == blank).all()


def test_pipeline_figure_shows_large_maps_every_few_pixels():
    img = images.load_sample("Cameraman", 256)
    out = stages.run_pipeline(img, stages.preset_bank(stages.DEFAULT_BANK).weights)
    fig = figures.pipeline_figure(out, max_side=64)
    values, picture = _columns(fig)[1]
    assert (picture.dx, picture.dy) == (4, 4)
    rgb = _column_png(picture)
    np.testing.assert_array_equal(rgb[:64], _expected_rgb(out[1], out[1].maps[0, ::4, ::4]))
    x = np.asarray(values.x).astype(int)
    assert (x % 4 == 0).all() and len(x) >= 8  # real columns of the full map, every few pixels
    custom = np.asarray(values.customdata).astype(int)
    z = np.asarray(values.z, dtype=np.float64)
    first = custom[:, 0, 0] == 1
    rows = custom[first, 0, 1]
    np.testing.assert_allclose(z[first], out[1].maps[0][np.ix_(rows, x)], rtol=1e-6)


def test_pipeline_figure_sends_a_large_image_as_pictures(pipe):
    """A 128² picture with four kernels: PNG columns and a hover grid, not every value (was ~500 kB)."""
    img = images.resize_max(images.load_sample("Astronaut"), 128)
    out = stages.run_pipeline(img, stages.preset_bank(stages.DEFAULT_BANK).weights)
    data = builders.spec(figures.pipeline_figure(out, max_side=64))
    assert [t["type"] for t in data["data"]].count("image") == len(out)
    assert len(json.dumps(data)) < 150_000


def test_stage_grid_figure_has_every_map(pipe):
    st = pipe[1]
    fig = figures.stage_grid_figure(st, cols=4)
    values = fig.data[0]
    z = np.asarray(values.z, dtype=np.float64)
    custom = np.asarray(values.customdata).astype(int)
    seen = set()
    for i, j in zip(*np.nonzero(~np.isnan(z))):
        k, r, c = custom[i, j]
        assert z[i, j] == pytest.approx(float(st.maps[k, r, c]), rel=HOVER_REL)
        seen.add(int(k))
    assert seen == set(range(st.maps.shape[0]))
    assert [a.text for a in fig.layout.annotations] == list(st.labels[: st.maps.shape[0]])
    picture = next(t for t in fig.data if t.type == "image")
    h, w = st.maps.shape[1:]
    assert png_pixels(picture.source).shape[:2] == (2 * h + 1, 4 * w + 3)  # 8 maps, 4 columns, 1-pixel gaps


def test_pool_detail_figures_agree_with_torch():
    relu = F.relu(F.conv2d(torch.from_numpy(DIGIT)[None, None], torch.tensor([[[[-1.0, 0, 1]] * 3]]), padding=1))
    fmap = relu[0, 0].numpy()
    pooled, idx = F.max_pool2d(relu, 2, 2, return_indices=True)
    ours, ours_idx = stages.max_pool2d(fmap, 2, 2)
    win = stages.pool_window(fmap, (6, 7), "max", 2, 2)
    fig = figures.pool_input_figure(fmap, win, ours_idx, size=2, stride=2)
    dots = next(t for t in fig.data if t.name == "argmax")
    t_idx = idx[0, 0].numpy()
    kept = pooled[0, 0].numpy() > 0.01 * fmap.max()
    expected = sorted(zip((t_idx[kept] // 28).tolist(), (t_idx[kept] % 28).tolist()))
    assert sorted(zip(np.asarray(dots.y).tolist(), np.asarray(dots.x).tolist())) == expected
    star = next(t for t in fig.data if t.name == "winner")
    assert divmod(int(t_idx[6, 7]), 28) == (star.y[0], star.x[0])
    box = [s for s in fig.layout.shapes if s.type == "rect"][-1]
    assert (box.x0, box.x1, box.y0, box.y1) == (13.5, 15.5, 11.5, 13.5)
    grid = next(t for t in fig.data if t.name == "window grid")  # 13 lines each way between the 14×14 windows
    xs, ys = np.asarray(grid.x, dtype=float).reshape(-1, 3)[:, :2], np.asarray(grid.y, dtype=float).reshape(-1, 3)[:, :2]
    horizontal = ys[:, 0] == ys[:, 1]
    assert sorted(ys[horizontal, 0]) == [2 * r - 0.5 for r in range(1, 14)]
    assert sorted(xs[~horizontal, 0]) == [2 * c - 0.5 for c in range(1, 14)]

    wfig = figures.window_figure(win)
    np.testing.assert_array_equal(np.asarray(wfig.data[0].z), fmap[12:14, 14:16])
    pfig = figures.pooled_figure(ours, (6, 7))
    np.testing.assert_allclose(np.asarray(pfig.data[0].z, dtype=np.float64), pooled[0, 0].numpy(), rtol=1e-6)


def test_window_figure_marks_padding():
    fmap = np.arange(16, dtype=np.float64).reshape(4, 4)
    win = stages.pool_window(fmap, (0, 0), "avg", 3, 2, 1)
    fig = figures.window_figure(win)
    text = np.asarray(fig.data[0].text)
    assert (text[0] == "pad").all() and (text[:, 0] == "pad").all() and text[1, 1] == "0"
    assert win.value == pytest.approx(float(F.avg_pool2d(torch.from_numpy(fmap)[None, None], 3, 2, 1)[0, 0, 0, 0]))


def test_params_figure_counts_equal_torch_layers():
    sides = np.array([8, 28, 128])
    fig = figures.params_figure(why_cnn.param_curve(sides, 3, 512, 3, 20), 128, 3)
    dense = [torch.nn.Linear(s * s * 3, 512, device="meta").weight.numel() for s in sides]
    assert list(fig.data[0].y) == dense and list(fig.data[1].y) == [torch.nn.Conv2d(3, 20, 3, device="meta").weight.numel()] * 3
    assert list(fig.data[2].y) == [25_165_824, 540]


def test_receptive_field_figure_draws_each_box():
    layers = why_cnn.stack("report", 2)
    boxes = why_cnn.boxes_at(layers, (28, 28), (14, 10))
    fig = figures.receptive_field_figure(DIGIT, boxes, (14, 10))
    drawn = [t for t in fig.data if t.type == "scatter" and t.mode == "lines"]
    assert len(drawn) == len(layers)
    for tr, b in zip(drawn, boxes[1:]):
        assert (min(tr.x), max(tr.x)) == (b.cols[0] - 0.5, b.cols[1] + 0.5)
        assert (min(tr.y), max(tr.y)) == (b.rows[0] - 0.5, b.rows[1] + 0.5)
    assert drawn[-1].name.endswith("16×16")


def test_equivariance_figures_carry_the_lab_numbers():
    k = np.array([[-1.0, 0, 1]] * 3)
    eq = why_cnn.equivariance(DIGIT, k, 1, 2)
    fig = figures.compare_figure([eq.conv_of_shift, eq.shift_of_conv, eq.residual], ["a", "b", "c"])
    _assert_mosaic_maps(fig, [eq.conv_of_shift, eq.shift_of_conv, eq.residual], every_value=True)  # 28² maps: every value
    assert not _mosaic_values(fig)[2][2].any()
    assert [a.text for a in fig.layout.annotations] == ["a", "b", "c"]
    curve = why_cnn.invariance_curve(DIGIT, k, "max", 2, 2)
    cfig = figures.invariance_figure(curve, "max-pooled map")
    np.testing.assert_allclose(cfig.data[1].y, curve.pooled_change)
    np.testing.assert_allclose(cfig.data[3].y, 100 * curve.pooled_unchanged)


def test_window_figure_is_a_number_grid_at_input_coordinates():
    relu = F.relu(F.conv2d(torch.from_numpy(DIGIT)[None, None], torch.tensor([[[[-1.0, 0, 1]] * 3]]), padding=1))
    fmap = relu[0, 0].numpy()
    win = stages.pool_window(fmap, (6, 7), "max", 3, 2, 1)
    fig = figures.window_figure(win, zmax=5.0)
    tr = fig.data[0]
    assert list(tr.x) == [13, 14, 15] and list(tr.y) == [11, 12, 13]  # input columns and rows, as torch indexes them
    np.testing.assert_array_equal(np.asarray(tr.z), fmap[11:14, 13:16])
    assert (tr.zmin, tr.zmax) == (-5.0, 5.0)
    _, ti = F.max_pool2d(relu, 3, 2, 1, return_indices=True)
    r, c = divmod(int(ti[0, 0, 6, 7]), 28)
    box = fig.layout.shapes[-1]
    assert (box.x0, box.x1, box.y0, box.y1) == (c - 0.5, c + 0.5, r - 0.5, r + 0.5) and box.line.color == "gold"


def test_the_lab_figures_show_the_lab_maps():
    k = np.array([[-1.0, 0, 1]] * 3)
    eq = why_cnn.equivariance(DIGIT, k, 0, 2, "zeros", "relu")
    ps = why_cnn.pooled_shift(DIGIT, k, 0, 2)
    for fig, maps in ((figures.equivariance_figure(eq), eq.maps), (figures.pooled_shift_figure(ps), ps.maps)):
        _assert_mosaic_maps(fig, maps, every_value=True)
    assert [a.text for a in figures.pooled_shift_figure(ps).layout.annotations] == ["pool(f(x))", "pool(f(shift(x)))", "difference"]


def test_pipeline_columns_share_the_diverging_scale_of_the_builders(pipe):
    fig = figures.pipeline_figure(pipe)
    firsts = [traces[0] for traces in _columns(fig)]
    assert firsts[0].colorscale[0][1].replace(" ", "") == "rgb(0,0,0)"  # the input in gray
    for tr, st in zip(firsts[1:], pipe[1:]):
        zmax = float(np.abs(st.maps).max())
        assert (tr.zmin, tr.zmax, tr.zmid) == pytest.approx((-zmax, zmax, 0)) and not tr.showscale
        assert [c for _, c in tr.colorscale] == [c for _, c in builders.signed_map_trace(np.ones((2, 2))).colorscale]
