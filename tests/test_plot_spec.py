"""ui.figure keeps a figure as JSON text and ui.plot hands that text to st.plotly_chart as it is: the chart
the browser gets must be the figure Plotly itself encodes (plotly.io.to_json of the built figure), with the
layout's size, and every other figure must still go through Plotly's own encoder."""

import json

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from streamlit.testing.v1 import AppTest

from cnn_viz.common import images
from cnn_viz.figures import builders
from cnn_viz.sliding import figures as sliding_figures
from cnn_viz.sliding import ops
from cnn_viz.ui import cached

SCRIPT = """
import numpy as np
import plotly.graph_objects as go
from cnn_viz import ui
from cnn_viz.common import images
from cnn_viz.figures import builders
from cnn_viz.sliding import figures, ops

img = images.load_sample("Handwritten 7 (MNIST)")
sweep, _ = ops.try_sweep(img, np.array([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]]), padding=1)
ui.plot(ui.figure(builders.image_figure, img, title="digit", height=333), key="img")
ui.plot(ui.figure(figures.sweep_figure, sweep), key="anim")
ui.plot(go.Figure(go.Scatter(x=[1, 2, 3], y=[3, float("nan"), 1]), layout=dict(height=211)), key="plain")
ui.plot(ui.figure(builders.image_figure, img, title="digit", height=333), key="img_again")
"""


def _charts():
    at = AppTest.from_string(SCRIPT, default_timeout=60).run()
    assert not at.exception, at.exception
    return {el.proto.id.rsplit("-", 1)[-1]: el for el in at.get("plotly_chart")}, at


def _plotly(fig) -> dict:
    """What Plotly's own encoder (on the standard library's json, not orjson) makes of the figure, less its
    default template (as builders.spec_text drops it)."""
    data = json.loads(pio.to_json(fig, validate=False, engine="json"))
    data.get("layout", {}).pop("template", None)
    return data


def test_cached_figures_reach_the_browser_as_plotly_encodes_them():
    charts, _ = _charts()
    img = images.load_sample("Handwritten 7 (MNIST)")
    sweep, _ = ops.try_sweep(img, np.array([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]]), padding=1)
    assert json.loads(charts["img"].proto.spec) == _plotly(builders.image_figure(img, title="digit", height=333))
    anim = json.loads(charts["anim"].proto.spec)
    assert anim == _plotly(sliding_figures.sweep_figure(sweep))
    assert len(anim["frames"]) == 28 * 28  # every position of the padded digit, as the figure was built
    assert charts["img_again"].proto.spec == charts["img"].proto.spec


def test_other_figures_still_go_through_plotly_and_strict_json():
    charts, _ = _charts()
    plain = json.loads(charts["plain"].proto.spec)  # strict JSON: Plotly's encoder turns NaN into null
    assert plain["data"][0]["y"] == [3, None, 1]
    assert plain["layout"]["height"] == 211


def test_a_spec_carries_the_layout_size_and_its_data():
    img = images.load_sample("Handwritten 7 (MNIST)")
    fig = builders.image_figure(img, height=333)
    spec = cached.figure(builders.image_figure, img, height=333)
    assert (spec.height, spec.width) == (333, None)
    assert spec.data() == _plotly(fig) == builders.spec(fig)
    assert json.loads(builders.spec_text(go.Figure(layout=dict(template="plotly_dark"))))["layout"]["template"]  # not the default: kept
    assert isinstance(spec.text, str) and "\n" not in spec.text


def sum_figure(a: np.ndarray) -> go.Figure:
    """A figure that shows every value's contribution (their sum), unlike a thinned picture of a big map."""
    return go.Figure(go.Scatter(x=[0], y=[float(a.sum())]))


def test_the_figure_cache_tells_apart_arrays_that_differ_in_one_value():
    """Figures are cached on every byte of their arrays (st.cache_data alone samples 100,000 values of an array
    of 500,000 or more: one changed pixel of a 1024² image would mostly hand back the old figure)."""
    rng = np.random.default_rng(0)
    a = rng.random((1024, 1024))
    b = a.copy()
    b[517, 3] += 0.5
    fa, fb = cached.figure(sum_figure, a), cached.figure(sum_figure, b)
    assert json.loads(fa.text)["data"][0]["y"] == [float(a.sum())]
    assert json.loads(fb.text)["data"][0]["y"] == [float(b.sum())] != [float(a.sum())]
    assert cached.figure(sum_figure, a.copy()).text == fa.text
    labels = np.array([["a", "b"], ["c", object()]], dtype=object)  # object arrays: keyed through pickle
    assert cached._array_key(labels)[0] == (2, 2)
