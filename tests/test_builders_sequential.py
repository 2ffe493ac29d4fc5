"""``builders.sequential_map_traces``: a one-signed map as a PNG on the sequential scale (Viridis, Cividis in the
colour-vision-safe scheme) with its real values on hover at sample points. The PNG's colours are checked against
Plotly's own colour scales (``plotly.colors.sample_colorscale``), the hover values against NumPy indexing."""

from __future__ import annotations

import numpy as np
import plotly.colors as pc
import pytest
from conftest import map_samples, png_pixels

from cnn_viz.figures import builders, palette
from cnn_viz.lowrank import figures as lr_figures
from cnn_viz.lowrank import latent


def _plotly_rgb(scale: str, t: np.ndarray) -> np.ndarray:
    """Plotly's colour of each t in [0, 1] on the named scale, as (N, 3) floats 0-255."""
    cols = pc.sample_colorscale(scale, list(np.asarray(t, dtype=float)), colortype="rgb")
    return np.array([[float(v) for v in c[c.index("(") + 1:c.index(")")].split(",")] for c in cols])


def _spec(traces: list) -> dict:
    import plotly.graph_objects as go

    return builders.spec(go.Figure(traces))


@pytest.mark.parametrize(("scheme", "scale"), [("default", "Viridis"), ("safe", "Cividis")])
def test_large_map_is_a_png_on_the_schemes_sequential_scale(scheme, scale):
    rng = np.random.default_rng(3)
    fmap = rng.uniform(0.2, 3.0, (200, 150))
    lo, hi = float(fmap.min()), float(fmap.max())
    with palette.using(scheme):
        fig = _spec(builders.sequential_map_traces(fmap))
    hover, picture = fig["data"]
    assert picture["type"] == "image" and (picture["x0"], picture["dx"], picture["y0"], picture["dy"]) == (0, 1, 0, 1)
    px = png_pixels(picture["source"]).astype(float)
    assert px.shape == (200, 150, 3)
    # the level of each value (lo -> 0, hi -> 255, rounded), and Plotly's colour of that level
    levels = np.round((fmap - lo) / (hi - lo) * 255)
    want = _plotly_rgb(scale, levels.ravel() / 255).reshape(px.shape)
    assert np.abs(px - want).max() <= 1.0
    import plotly.graph_objects as go

    assert hover["colorscale"] == [list(s) for s in go.Heatmap(colorscale=scale).colorscale]  # the bar: the same scale
    assert (hover["zmin"], hover["zmax"], hover["opacity"]) == (pytest.approx(lo), pytest.approx(hi), 0)


def test_hover_grid_holds_the_true_values_at_their_rows_and_columns():
    rng = np.random.default_rng(4)
    fmap = rng.uniform(0, 1, (700, 500)).astype(np.float32)
    traces = builders.sequential_map_traces(fmap, colorbar=True)
    fig = _spec(traces)
    rows, cols, z = map_samples(fig)
    assert 1 < len(rows) <= builders.HOVER_SIDE and 1 < len(cols) <= builders.HOVER_SIDE
    assert rows.max() < 700 and cols.max() < 500
    np.testing.assert_array_equal(z, fmap[np.ix_(rows, cols)])
    assert fig["data"][0]["showscale"] is True and fig["data"][1]["hoverinfo"] == "skip"
    # a picture larger than MAP_DISPLAY is thinned to every step-th value
    px = png_pixels(fig["data"][1]["source"]).astype(float)
    assert px.shape[:2] == (234, 167) and fig["data"][1]["dx"] == 3  # ceil(700 / 320) = 3
    sub = fmap[::3, ::3].astype(float)
    levels = np.round((sub - fmap.min()) / (fmap.max() - fmap.min()) * 255)
    assert np.abs(px - _plotly_rgb("Viridis", levels.ravel() / 255).reshape(px.shape)).max() <= 1.0


def test_small_map_stays_one_exact_heatmap_with_given_ends():
    fmap = np.arange(12.0).reshape(3, 4)
    with palette.using("safe"):
        (tr,) = _spec(builders.sequential_map_traces(fmap, lo=0, hi=20))["data"]
    rows, cols, z = map_samples({"data": [tr]})
    np.testing.assert_array_equal(z, fmap)
    assert (tr["zmin"], tr["zmax"]) == (0, 20) and tr.get("opacity", 1) == 1


def test_matrix_pair_figure_is_small_and_shows_the_real_entries():
    lat, rnd = latent.matrix_pair("gaussian", 2)
    fig = builders.spec(lr_figures.matrix_pair_figure(lat, rnd))
    import json

    assert len(json.dumps(fig)) < 100_000  # two 200² float heatmaps were ~430 kB
    assert len(map_samples(fig, 0)[0]) == 29  # hover at every 7th row: ceil(200 / 32) = 7
    for trace, m in ((0, lat), (2, rnd)):
        rows, cols, z = map_samples(fig, trace)
        np.testing.assert_allclose(z, m[np.ix_(rows, cols)], rtol=1e-6)
        px = png_pixels(fig["data"][trace + 1]["source"]).astype(float)
        levels = np.round((m - m.min()) / (m.max() - m.min()) * 63)  # 64 colours
        want = _plotly_rgb("Viridis", levels.ravel() / 63).reshape(px.shape)
        assert np.abs(px - want).max() <= 1.0
