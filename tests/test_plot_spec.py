"""ui.figure keeps a figure as JSON text and ui.plot hands that text to st.plotly_chart as it is: the chart
the browser gets must be the figure Plotly itself encodes (plotly.io.to_json of the built figure), with the
layout's size, and every other figure must still go through Plotly's own encoder. A small figure (builders.page_spec)
carries the same values as plain lists, Streamlit's theme and its own template written out, and a datarevision
(that it draws the same as Streamlit's theme would: tests/test_plot_theme_browser.py)."""

import base64
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


def _values(x):
    """Plotly's typed arrays ({dtype, bdata, shape}) as nested lists, NaN as None (JSON's null), for comparing."""
    if isinstance(x, dict):
        if "bdata" in x and "dtype" in x:
            a = np.frombuffer(base64.b64decode(x["bdata"]), dtype=np.dtype(x["dtype"]))
            if "shape" in x:
                a = a.reshape([int(v) for v in str(x["shape"]).split(",")])
            return np.where(np.isfinite(a), a, None).tolist() if a.dtype.kind == "f" else a.tolist()
        return {k: _values(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_values(v) for v in x]
    return x


def _contains(big, small, path=""):
    """Every value of ``small`` is in ``big`` (floats as float32), recursively."""
    if isinstance(small, dict):
        assert isinstance(big, dict), path
        for k, v in small.items():
            _contains(big.get(k), v, f"{path}.{k}")
    elif isinstance(small, list) and small and isinstance(small[0], (list, float, int)) and not isinstance(small[0], bool):
        assert len(big) == len(small), path
        for i, (b, v) in enumerate(zip(big, small)):
            _contains(b, v, f"{path}[{i}]")
    elif isinstance(small, float):
        assert big is not None and np.float32(big) == np.float32(small), (path, big, small)
    else:
        assert big == small, (path, big, small)


def test_a_small_figure_carries_plotlys_values_as_lists_and_the_theme_written_in():
    img = images.load_sample("Handwritten 7 (MNIST)")
    fig = builders.signed_map_figure(img[:40, :40] - 0.5, title="map", height=300)  # an exact heatmap: arrays, ticks, no grid
    ref = _values(_plotly(fig))
    text, themed = builders.page_spec(fig)
    got = json.loads(text)
    assert not themed and "bdata" not in text and "template" not in got["layout"]
    for t_got, t_ref in zip(got["data"], ref["data"], strict=True):
        _contains(t_got, t_ref)
    ref_layout = {k: v for k, v in ref["layout"].items() if k != "title"}
    _contains(got["layout"], ref_layout)  # the figure's own settings win over the theme's
    assert got["layout"]["title"]["text"] == f"<b>{ref['layout']['title']['text']}</b>"  # as Streamlit's theme writes it
    theme = builders.streamlit_theme()["layout"]
    # the figure's size, the theme's colour; the theme's family (the layout's) is inherited, so not written twice
    title_font = {**theme["title"]["font"], **(ref["layout"]["title"].get("font") or {})}
    assert theme["title"]["font"]["family"] == theme["hoverlabel"]["font"]["family"] == theme["font"]["family"]
    assert got["layout"]["title"]["font"] == {k: v for k, v in title_font.items() if k != "family"}
    assert got["layout"]["hoverlabel"] == theme["hoverlabel"]  # its family kept: plotly.js gives hover labels Arial
    assert got["layout"]["font"]["family"] == theme["font"]["family"] and got["layout"]["font"]["size"] == fig.layout.font.size
    # the datarevision: the same for the same figure, another for other data
    again, _ = builders.page_spec(builders.signed_map_figure(img[:40, :40] - 0.5, title="map", height=300))
    other, _ = builders.page_spec(builders.signed_map_figure(img[:40, :40] - 0.4, title="map", height=300))
    rev = [json.loads(t)["layout"]["datarevision"] for t in (text, again, other)]
    assert rev[0] == rev[1] != rev[2]


def test_a_figures_own_template_goes_under_the_theme_and_its_trace_defaults_into_the_traces():
    """Streamlit's theme merges its layout over the figure's template layout, its own values winning (the MNIST
    figures' slim template: white axis lines, a colour bar without outline); plotly.js fills from the template only
    what the figure leaves unset."""
    from cnn_viz.mnist import figures as mnist_figures

    vec = mnist_figures.vector_figure(np.linspace(-1, 1, 128))
    tpl = vec["layout"]["template"]
    out = json.loads(builders.page_spec(vec)[0])
    assert "template" not in out["layout"] and out["layout"]["hovermode"] == tpl["layout"]["hovermode"]  # not in the theme
    assert out["data"][0]["colorbar"]["outlinewidth"] == tpl["data"]["heatmap"][0]["colorbar"]["outlinewidth"]
    assert out["data"][0]["colorbar"]["thickness"] == vec["data"][0]["colorbar"]["thickness"]  # the figure's own wins
    bars = mnist_figures.probability_figure(np.full(10, 0.1))
    tpl_x, tpl_y = (bars["layout"]["template"]["layout"][k] for k in ("xaxis", "yaxis"))
    x, y = (json.loads(builders.page_spec(bars)[0])["layout"][k] for k in ("xaxis", "yaxis"))
    theme_x, theme_y = (builders.streamlit_theme()["layout"][k] for k in ("xaxis", "yaxis"))
    assert tpl_y["gridcolor"] != theme_y["gridcolor"] and y["gridcolor"] == theme_y["gridcolor"]  # the theme over the template
    assert y["showgrid"] is True and y["zerolinewidth"] == tpl_y["zerolinewidth"]  # the value axis: its grid, the template's
    assert x["title"]["text"] == "digit" and x["type"] == "category"  # the figure's own
    # plotly.js draws a template's line colour only where the figure turns the line on (coerce2): written into the
    # figure, the line is switched off as plotly.js would leave it; the theme's tick colour does not turn ticks on
    # (a bar chart's category axis: no grid or zero line either); what is switched off goes without its settings
    assert tpl_x["linecolor"] == "white" and x["showline"] is False and "linecolor" not in x
    assert "tickcolor" in theme_x and x["ticks"] == tpl_x["ticks"] == "" and "tickcolor" not in x
    assert x["showgrid"] is False and x["zeroline"] is False and not {"gridcolor", "zerolinecolor", "zerolinewidth"} & x.keys()
    assert "rangeselector" in theme_x and "rangeselector" not in x  # only a date axis has one
    assert "minor" not in x  # a template's minor grid exists only where the figure has one


def test_axes_take_the_theme_where_the_figure_has_them():
    fig = {"data": [{"type": "bar", "x": [1.0, 2.0], "y": ["a", "b"], "orientation": "h", "xaxis": "x2"},
                    {"type": "heatmap", "z": [[1, 2], [3, 4]]}],
           "layout": {"annotations": [{"text": "note"}], "title": "t"}}
    theme = builders.streamlit_theme()["layout"]
    out = json.loads(builders.page_spec(fig)[0])["layout"]
    assert {k for k in out if k.startswith(("xaxis", "yaxis"))} == {"xaxis", "xaxis2", "yaxis"}
    assert "ternary" not in out and "coloraxis" not in out  # not used by the figure
    assert out["xaxis2"]["tickfont"] == theme["xaxis"]["tickfont"] and out["title"]["text"] == "<b>t</b>"
    assert out["yaxis"]["showgrid"] is False and out["yaxis"]["zeroline"] is False  # the category axis of horizontal bars
    assert out["xaxis"]["ticks"] == "outside" and out["xaxis2"]["ticks"] == ""  # heatmap axes keep plotly.js's outer ticks
    assert out["annotations"] == [{"text": "note"}]  # no template defaults for annotations here


def test_the_theme_leaves_out_what_plotly_would_not_read():
    """A legend's settings only where plotly.js draws a legend (two or more traces that would be in it, or
    showlegend); the title without the theme's two keys that are no plotly.js attribute."""
    theme = builders.streamlit_theme()["layout"]
    assert "legend" in theme and {"color", "subtitleColor"} <= theme["title"].keys()
    heat = {"type": "heatmap", "z": [[1, 2], [3, 4]]}
    dots = {"type": "scatter", "x": [0, 1], "y": [0, 1]}
    legend = {name: "legend" in json.loads(builders.page_spec({"data": data, "layout": lay})[0])["layout"]
              for name, data, lay in [("heatmap and one line", [heat, dots], {}), ("two lines", [dots, dots], {}),
                                      ("two lines, one hidden from it", [dots, {**dots, "showlegend": False}], {}),
                                      ("a heatmap in the legend", [{**heat, "showlegend": True}, dots], {}),
                                      ("one line, showlegend", [dots], {"showlegend": True}),
                                      ("two lines, no legend", [dots, dots], {"showlegend": False})]}
    assert legend == {"heatmap and one line": False, "two lines": True, "two lines, one hidden from it": False,
                      "a heatmap in the legend": True, "one line, showlegend": True, "two lines, no legend": False}
    title = json.loads(builders.page_spec({"data": [dots], "layout": {"title": "t"}})[0])["layout"]["title"]
    assert title["font"] == {k: v for k, v in theme["title"]["font"].items() if k != "family"}  # the layout's family
    assert not {"color", "subtitleColor"} & title.keys()


def test_big_figures_and_animations_keep_plotlys_encoding_and_the_theme():
    line = go.Figure(go.Scatter(x=np.arange(4000.0), y=np.arange(4000.0)))
    assert builders.page_spec(line) == (builders.spec_text(line), True)
    big = builders.signed_map_figure(np.random.default_rng(1).normal(size=(200, 200)))
    n = sum(np.asarray(_values(t.get("z") or [])).size for t in builders.spec(big)["data"])
    text, themed = builders.page_spec(big)
    assert (n > builders.PICTURE_LIST_LIMIT) == themed  # the PNG's hover grid is small enough
    assert ("bdata" in text) == themed
    anim = go.Figure(go.Scatter(x=[1, 2], y=[1, 2]), frames=[go.Frame(data=[go.Scatter(x=[1, 2], y=[2, 1])])])
    assert builders.page_spec(anim) == (builders.spec_text(anim), True)


def test_cached_figures_reach_the_browser_as_plotly_encodes_them():
    charts, _ = _charts()
    img = images.load_sample("Handwritten 7 (MNIST)")
    sweep, _ = ops.try_sweep(img, np.array([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]]), padding=1)
    shown = json.loads(charts["img"].proto.spec)  # a picture: Plotly's values, drawn without Streamlit's theme
    ref = _values(_plotly(builders.image_figure(img, title="digit", height=333)))
    for t_got, t_ref in zip(shown["data"], ref["data"], strict=True):
        _contains(t_got, t_ref)
    assert charts["img"].proto.theme == ""
    assert charts["anim"].proto.theme == "streamlit"  # an animation (frames): as Plotly encodes it, themed
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
    assert (spec.height, spec.width, spec.themed) == (333, None, False)
    assert spec.data() == json.loads(builders.page_spec(fig)[0]) and _plotly(fig) == builders.spec(fig)
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
