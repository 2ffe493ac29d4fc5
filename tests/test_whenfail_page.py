"""The 'When CNNs fail' page under AppTest: it opens on the shipped results, and bad settings (m ≥ n, quality 0,
a 1×1 image) give a message while the page carries on. Also the networks and the GD/SGD comparison in small."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

PAGE = "pages/when_cnns_fail.py"


@pytest.fixture(scope="module")
def opened():
    import streamlit as st
    from streamlit.testing.v1 import AppTest
    from conftest import ROOT

    st.cache_data.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    at.switch_page(PAGE).run()
    return at


LAB, JPEG, SGD = "1-D lab: operator × method", "2-D: JPEG artifacts", "Gradient descent against SGD"


def _tab(at, name: str):
    """Open a tab (only the open tab runs: st.tabs(on_change="rerun"))."""
    at.session_state["wf_tab"] = name
    at.run()
    assert not at.exception, at.exception
    return at


def test_page_opens_on_the_shipped_table(opened):
    at = opened
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "What the numbers say" in text
    assert "wf_q" not in {w.key for w in at.number_input}  # the closed JPEG tab did not run
    text = " ".join(m.value for m in _tab(at, JPEG).markdown)
    assert "The CNN gains" in text and "+1.12 dB" in text
    assert "wf_op" not in {w.key for w in at.selectbox}  # nor the closed lab tab
    _tab(at, SGD)
    from cnn_viz.common import assets
    from cnn_viz.whenfail import results
    t = results.LabTable.load(assets.WHENFAIL_LAB["csc"])
    assert t.error("blur", "cnn") < t.error("blur", "fc")
    assert any("Measured:" in c.value for c in at.caption)
    _tab(at, LAB)


def test_m_not_below_n_gives_a_message(opened):
    at = opened
    at.selectbox(key="wf_op").set_value("dense")
    at.number_input(key="wf_m").set_value(500).run()
    assert not at.exception
    assert any("compressed sensing" in e.value for e in at.error), [e.value for e in at.error]
    at.number_input(key="wf_m").set_value(64).run()
    assert not at.error


def test_quality_zero_gives_a_message(opened):
    at = _tab(opened, JPEG)
    at.number_input(key="wf_q").set_value(0).run()
    assert not at.exception
    assert any("quality" in e.value for e in at.error)
    at.number_input(key="wf_q").set_value(10).run()
    assert not at.exception


def test_a_1x1_image_gives_a_message(opened):
    at = _tab(opened, JPEG)
    buf = io.BytesIO()
    Image.fromarray(np.full((1, 1), 128, np.uint8)).save(buf, "PNG")
    at.radio(key="wf_img_source").set_value("Upload").run()
    at.file_uploader(key="wf_img_upload").set_value(("[x](http://evil).png", buf.getvalue(), "image/png")).run()
    assert not at.exception
    msgs = [e.value for e in at.error]
    assert any("at least 16×16" in m for m in msgs), msgs
    assert not any("](http" in m for m in msgs)  # the file name is escaped, never a link


def test_networks_train_and_beat_nothing_on_the_blur():
    import torch  # noqa: F401
    from cnn_viz.whenfail import lab, nets
    d = lab.make_data(lab.Setup(operator="blur", n=64, n_train=400, n_test=50))
    model, info = nets.train_net("cnn", d.M, nets.inputs("cnn", d.M, d.b_train), d.x_train, nets.TrainConfig(steps=150))
    err = lab.errors(nets.predict(model, nets.inputs("cnn", d.M, d.b_test)), d.x_test)
    assert info.parameters == nets.cnn_parameters() and info.steps == 150
    assert err < 0.9  # better than predicting zero (relative error 1)
    again, _ = nets.train_net("cnn", d.M, nets.inputs("cnn", d.M, d.b_train), d.x_train, nets.TrainConfig(steps=150))
    np.testing.assert_array_equal(nets.predict(model, d.b_test[:2]), nets.predict(again, d.b_test[:2]))  # seeded
    fc = nets.build("fc", d.M, 0)
    from cnn_viz.common.torch_tools import count_parameters
    assert abs(count_parameters(fc) - nets.cnn_parameters()) < 0.1 * nets.cnn_parameters()


def test_descent_compares_three_optimisers():
    from cnn_viz.whenfail import descent
    p = descent.lab_problem(passes=1, batch=32)
    p = descent.Problem(p.name, p.make_model, p.x_train[:200], p.y_train[:200], p.x_test, p.y_test, p.loss, p.metric,
                        p.metric_name, p.higher_better, 1, 32, (0.3, 0.03))
    d = descent.compare(p)
    assert [c.method for c in d.curves] == ["gd", "minibatch", "sgd1"]
    assert [c.batch for c in d.curves] == [200, 32, 1]
    gd = d.curve("gd")
    assert len(gd.passes) == 2 and gd.passes[-1] == 1.0  # one step = one pass
    assert d.curve("sgd1").passes[-1] == pytest.approx(1.0)
    assert all(np.all(np.diff(c.seconds) >= 0) for c in d.curves)


def test_mnist_training_tab_has_the_descent_expander():
    import streamlit as st
    from streamlit.testing.v1 import AppTest
    from conftest import ROOT

    st.cache_data.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    at.session_state["mn_tab"] = "Train your own"
    at.switch_page("pages/mnist_activations.py").run()
    assert not at.exception
    assert "Gradient descent against SGD" in [e.label for e in at.expander]
    measured = [c.value for c in at.caption if c.value.startswith("**Measured:**")]
    assert measured and "One-sample SGD" in measured[0]


def test_train_in_class_mode_shows_the_message(opened, monkeypatch):
    monkeypatch.setenv("CNN_VIZ_CLASS_MODE", "1")
    at = _tab(opened, LAB)
    at.button(key="wf_train").click().run()
    assert not at.exception
    assert any("class mode" in i.value for i in at.info), [i.value for i in at.info]
    _tab(at, SGD).button(key="wf_sgd_run").click().run()
    assert sum("class mode" in i.value for i in at.info) >= 1


def test_the_lab_figures_are_plain_data_with_the_real_numbers(opened):
    """The lab's figures come from ui.figure (cached plain data): M's entries, NumPy's singular values, the table's errors."""
    from conftest import HOVER_REL, map_samples, plotly_array, plotly_figure

    from cnn_viz.common import assets
    from cnn_viz.whenfail import lab, results

    at = _tab(opened, LAB)
    at.selectbox(key="wf_op").set_value("blur")
    at.number_input(key="wf_m").set_value(64)
    at.run()  # the shipped setup (earlier tests in this module changed the sidebar)
    assert not at.exception and not at.error
    M = lab.operator(lab.Setup())
    rows, cols, z = map_samples(plotly_figure(at, "wf_M"))
    np.testing.assert_allclose(z, M[np.ix_(rows, cols)], rtol=HOVER_REL, atol=1e-7)  # to the 4 digits a hover shows
    sv = plotly_figure(at, "wf_sv")
    blur = next(t for t in sv["data"] if t["name"] == lab.OPERATORS["blur"])
    np.testing.assert_allclose(plotly_array(blur["y"]), np.linalg.svd(M, compute_uv=False), rtol=1e-6, atol=1e-12)
    bars = plotly_figure(at, "wf_bars")
    table = results.LabTable.load(assets.WHENFAIL_LAB["csc"])
    for j, trace in enumerate(bars["data"]):
        np.testing.assert_allclose(plotly_array(trace["y"]), table.errors[:, j])


def test_the_warm_up_computes_the_jpeg_tab_for_the_cnns_qualities(opened, monkeypatch):
    """warmup.whenfail_jpeg fills the server-wide cache with the very case the page asks for (same picture bytes,
    same quality): afterwards the JPEG tab at those qualities computes nothing, a quality outside them once."""
    from cnn_viz.ui import cached, warmup
    from cnn_viz.whenfail import jpeg_cnn

    cached.with_cnn.clear()
    warmup.whenfail_jpeg()
    calls = []
    real = jpeg_cnn.with_cnn
    monkeypatch.setattr(jpeg_cnn, "with_cnn", lambda *a: calls.append(a[2]) or real(*a))
    at = _tab(opened, JPEG)
    at.radio(key="wf_img_source").set_value("Sample").run()
    for q in (jpeg_cnn.QUALITIES[0], 10, jpeg_cnn.QUALITIES[-1], 11):
        at.number_input(key="wf_q").set_value(q).run()
        assert not at.exception
        assert any(f"quality-{q} table" in c.value for c in at.caption)
    assert calls == [11]
