"""The deblurring page under AppTest: both tabs, the numbers it shows against the core, method switches, bad input."""

import io

import numpy as np
import pytest
from PIL import Image

from cnn_viz.common import text
from cnn_viz.common.images import load_sample, resize_max
from cnn_viz.deblur import experiment, forward, signal1d

PAGE = "pages/deblurring.py"
TAB_2D = "2-D: images"


def _open(app_test, tab=None, state=None):
    at = app_test(300)
    at.run()
    if tab:
        at.session_state["db_tab"] = tab
    for k, v in (state or {}).items():
        at.session_state[k] = v
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def _table(at):
    df = next(d.value for d in at.dataframe if "method" in d.value.columns)
    return df.set_index("method")


def test_1d_tab_shows_the_core_numbers(app_test):
    at = _open(app_test)
    a = signal1d.analyse(signal1d.test_signal("Smooth bump", 256), 0.05, 0.01, 0, lam_slider=float(np.logspace(-8, 0, 81)[50]))
    shown = {m.label: m.value for m in at.metric}
    assert shown["Tik. (GCV)"] == f"{a.solution('Tikhonov (GCV)').error:.3g}"
    assert shown["Tik. (discrepancy)"] == f"{a.solution('Tikhonov (discrepancy)').error:.3g}"
    assert shown["Naive solve"] == f"{a.solution('Naive solve').error:.1e}"
    assert any(f"{a.pick('gcv').lam:.2e}" in c.value for c in at.caption)
    assert not at.error


def test_1d_typed_signal_and_bad_values(app_test):
    at = _open(app_test, state={"db1_signal": "Typed values", "db1_typed": "0 1 one 0"})
    assert any(text.md("'one' is not a number") in e.value for e in at.error)  # quoted as text, escaped
    at.text_input(key="db1_typed").set_value("0 0 1 1 0").run()
    assert not at.exception and not at.error
    at.select_slider(key="db1_n").set_value(128).run()
    at.slider(key="db1_sigma").set_value(0.02).run()
    assert not at.exception
    f = signal1d.parse_signal("0 0 1 1 0", 128)
    a = signal1d.analyse(f, 0.02, 0.01, 0, lam_slider=float(np.logspace(-8, 0, 81)[50]))
    assert {m.label: m.value for m in at.metric}["Tik. (GCV)"] == f"{a.solution('Tikhonov (GCV)').error:.3g}"


def test_1d_drawn_signal_waits_for_a_drawing(app_test):
    at = _open(app_test, state={"db1_signal": "Drawn"})
    assert any("Nothing has been drawn yet" in i.value for i in at.info)  # the canvas returns no image under AppTest
    a = signal1d.analyse(signal1d.test_signal("Smooth bump", 256), 0.05, 0.01, 0, lam_slider=float(np.logspace(-8, 0, 81)[50]))
    assert {m.label: m.value for m in at.metric}["Tik. (GCV)"] == f"{a.solution('Tikhonov (GCV)').error:.3g}"


def test_2d_tab_table_matches_the_core_and_the_cnn_wins(app_test):
    at = _open(app_test, TAB_2D)
    df = _table(at)
    truth = resize_max(load_sample("Cameraman", 512), 256).astype(np.float64)
    scene = experiment.make_scene(truth, forward.gaussian_psf(2.0), "reflexive", 0.01, 0)
    ref = {r.name: r for r in experiment.compare(scene, "reflexive", experiment.CLASSICAL, lam=float(np.logspace(-4, 0, 41)[28]))}
    for name in (experiment.TIK_GCV, experiment.TIK_DP, experiment.TIK_LC, experiment.TIK_BEST, experiment.WIENER, experiment.RL, experiment.TSVD, experiment.NAIVE):
        assert df.loc[name, "PSNR (dB)"] == pytest.approx(round(ref[name].psnr, 2), abs=0.011), name
        assert df.loc[name, "SSIM"] == pytest.approx(round(ref[name].ssim, 3), abs=0.0011), name
    best_classical = df.loc[list(experiment.CLASSICAL), "PSNR (dB)"].max()
    assert df.loc[experiment.CNN_TIK, "PSNR (dB)"] >= best_classical + 1.0
    assert any("Where the CNN wins" in m.value for m in at.markdown)
    assert any("What the numbers teach" in h.value for h in at.subheader)
    lesson = next(m.value for m in at.markdown if "inherits the boundary" in m.value)
    assert f"{df.loc[experiment.CNN_DIRECT, 'PSNR (dB)']:.2f} dB on reflexive" in lesson
    assert f"{df.loc[experiment.TIK_GCV, 'PSNR (dB)']:.2f} → {df.loc[experiment.CNN_TIK, 'PSNR (dB)']:.2f} dB (reflexive)" in lesson
    crime = next(d.value for d in at.dataframe if "solver: periodic" in d.value.columns)
    assert crime.loc["data: reflexive", "solver: reflexive"] > 60 and crime.loc["data: reflexive", "solver: periodic"] < 10


def test_2d_method_switch_changes_the_table(app_test):
    at = _open(app_test, TAB_2D, {"db_methods": [experiment.NAIVE, experiment.TIK_GCV, experiment.RL]})
    df = _table(at)
    assert list(df.index) == [experiment.NAIVE, experiment.TIK_GCV, experiment.RL]
    rl30 = df.loc[experiment.RL, "PSNR (dB)"]
    at.slider(key="db_iters").set_value(5).run()
    assert not at.exception
    df = _table(at)
    truth = resize_max(load_sample("Cameraman", 512), 256).astype(np.float64)
    scene = experiment.make_scene(truth, forward.gaussian_psf(2.0), "reflexive", 0.01, 0)
    ref = experiment.compare(scene, "reflexive", (experiment.RL,), rl_iters=5)[0]
    assert df.loc[experiment.RL, "PSNR (dB)"] == pytest.approx(round(ref.psnr, 2), abs=0.011) and df.loc[experiment.RL, "PSNR (dB)"] != rl30
    at.multiselect(key="db_methods").set_value([experiment.WIENER, experiment.TIK_DP]).run()
    assert list(_table(at).index) == [experiment.WIENER, experiment.TIK_DP]
    at.selectbox(key="db_solver_bc").set_value("periodic").run()  # the periodic model on reflexive data collapses
    assert not at.exception
    assert _table(at).loc[experiment.TIK_DP, "PSNR (dB)"] < 8


def test_2d_other_settings_and_a_too_small_upload(app_test):
    at = _open(app_test, TAB_2D, {"db_methods": [experiment.TIK_GCV, experiment.TSVD, experiment.WIENER, experiment.RL]})
    at.selectbox(key="db_psf").set_value("Motion").run()
    at.slider(key="db_angle").set_value(30).run()
    at.selectbox(key="db_solver_bc").set_value("zero").run()
    assert not at.exception and not at.error
    df = _table(at)
    assert "PCG (zero)" in df.loc[experiment.TIK_GCV, "details"] and "mirror-FFT" in df.loc[experiment.TSVD, "details"]
    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(0).random((12, 12)) * 255).astype(np.uint8)).save(buf, format="PNG")
    at.radio(key="db_img_source").set_value("Upload").run()
    at.file_uploader(key="db_img_upload").set_value(("tiny.png", buf.getvalue(), "image/png")).run()
    assert not at.exception
    # the page's minimum is 64 pixels at its working size: the 12×12 picture is enlarged, with a note
    assert any("12×12 pixels" in i.value and "at least 64" in i.value for i in at.info)
    assert _table(at).shape[0] == 4


def test_1d_tab_does_not_import_torch():
    from conftest import heavy_modules_after

    assert "torch" not in heavy_modules_after("at.switch_page('pages/deblurring.py').run()")


def test_retrain_from_the_page_is_used_by_the_comparison(app_test):
    import re

    at = _open(app_test, TAB_2D, {"db_methods": [experiment.TIK_GCV, experiment.CNN_TIK]})
    shipped = _table(at).loc[experiment.CNN_TIK, "PSNR (dB)"]
    at.selectbox(key="db_rt_kind").set_value("tikcnn")
    at.slider(key="db_rt_secs").set_value(10)
    at.button(key="db_rt_go").click().run()
    assert not at.exception, at.exception
    assert at.session_state["db_job"].join(300)  # the training runs on its own thread
    at.run()  # the next run takes the retrained network into the session and says how it did
    msg = next(s.value for s in at.success)
    before, after = (float(v) for v in re.search(r"cameraman ([0-9.]+) → ([0-9.]+) dB", msg).groups())
    assert before == pytest.approx(_table(at).loc[experiment.TIK_GCV, "PSNR (dB)"], abs=0.011)  # its input: Tikhonov with GCV
    at.run()  # the next rerun compares with this session's retrained network
    assert _table(at).loc[experiment.CNN_TIK, "PSNR (dB)"] == pytest.approx(after, abs=0.011)
    assert any("retrained here" in m.value for m in at.markdown)
    at.button(key="db_rt_reset").click().run()
    assert _table(at).loc[experiment.CNN_TIK, "PSNR (dB)"] == pytest.approx(shipped, abs=0.011)


def test_2d_solver_with_a_wrong_psf_and_a_wrong_noise_level(app_test):
    at = _open(app_test, TAB_2D, {"db_methods": [experiment.TIK_GCV, experiment.TIK_DP, experiment.RL]})
    at.toggle(key="db_s_known").set_value(False).run()
    at.slider(key="db_s_sigma").set_value(2.5).run()
    at.toggle(key="db_n_known").set_value(False).run()
    at.slider(key="db_n_assumed").set_value(3.0).run()
    assert not at.exception
    assert any("different blur" in w.value for w in at.warning)
    truth = resize_max(load_sample("Cameraman", 512), 256).astype(np.float64)
    scene = experiment.make_scene(truth, forward.gaussian_psf(2.0), "reflexive", 0.01, 0)
    ref = {r.name: r for r in experiment.compare(scene, "reflexive", (experiment.TIK_GCV, experiment.TIK_DP, experiment.RL), solver_psf=forward.gaussian_psf(2.5), noise=0.03)}
    df = _table(at)
    for name in ref:
        assert df.loc[name, "PSNR (dB)"] == pytest.approx(round(ref[name].psnr, 2), abs=0.011), name
        assert df.loc[name, "details"] == ref[name].note


def test_2d_colour_image(app_test):
    at = _open(app_test, TAB_2D, {"db_methods": [experiment.TIK_GCV, experiment.WIENER, experiment.RL, experiment.CNN_TIK], "db_img_sample": "Astronaut",
                                  "db_img_colour": True})
    df = _table(at)
    truth = resize_max(load_sample("Astronaut", 512), 256).astype(np.float64)
    assert truth.ndim == 3
    scene = experiment.make_scene(truth, forward.gaussian_psf(2.0), "reflexive", 0.01, 0)
    ref = {r.name: r for r in experiment.compare(scene, "reflexive", (experiment.TIK_GCV, experiment.WIENER, experiment.RL))}
    for name in ref:
        assert df.loc[name, "PSNR (dB)"] == pytest.approx(round(ref[name].psnr, 2), abs=0.011), name
    assert df.loc[experiment.CNN_TIK, "PSNR (dB)"] > df.loc[experiment.TIK_GCV, "PSNR (dB)"]  # the grey-trained network, channel by channel


def test_1d_draws_only_the_chosen_charts_and_they_carry_the_real_numbers(app_test):
    from conftest import map_samples, plotly_array, plotly_figure

    at = _open(app_test)
    keys = {el.proto.id.rsplit("-", 1)[-1] for el in at.get("plotly_chart")}
    assert keys == {"db1_signals", "db1_A", "db1_picard"}
    rows, cols, z = map_samples(plotly_figure(at, "db1_A"))
    np.testing.assert_allclose(z, signal1d.kernel_matrix(256, 0.05)[np.ix_(rows, cols)], rtol=1e-6, atol=1e-30)
    at.radio(key="db1_look").set_value("all of them").run()
    assert not at.exception
    keys = {el.proto.id.rsplit("-", 1)[-1] for el in at.get("plotly_chart")}
    assert keys == {"db1_signals", "db1_A", "db1_picard", "db1_lcurve", "db1_gcv", "db1_phi", "db1_cond"}
    f = signal1d.test_signal("Smooth bump", 256)
    A = signal1d.kernel_matrix(256, 0.05)
    U, s, Vt = np.linalg.svd(A)
    phi = plotly_figure(at, "db1_phi")
    a = signal1d.analyse(f, 0.05, 0.01, 0, lam_slider=float(np.logspace(-8, 0, 81)[50]))
    for trace, p in zip(phi["data"], a.picks):  # φᵢ = σᵢ²/(σᵢ² + λ²) from NumPy's SVD, sent as float32
        np.testing.assert_allclose(plotly_array(trace["y"]), s**2 / (s**2 + p.lam**2), rtol=1e-5, atol=1e-7)
    sig = plotly_figure(at, "db1_signals")
    np.testing.assert_allclose(plotly_array(sig["data"][0]["y"]), f, rtol=1e-6, atol=1e-7)
    assert sig["data"][0]["x0"] == pytest.approx(0.5 / 256) and sig["data"][0]["dx"] == pytest.approx(1 / 256)


def test_2d_lambda_slider_reruns_its_panel_with_the_cores_numbers(app_test):
    """The λ slider sits in the comparison's fragment (so a move reruns that part alone: bench/load_class.py shows its
    fragment id), and the slider's Tikhonov row and the λ curve's marker follow the core at the new λ."""
    from conftest import plotly_figure

    at = _open(app_test, TAB_2D, {"db_methods": [experiment.TIK_USER, experiment.WIENER]})
    lam = experiment.LAMBDA_CHOICES[12]
    at.select_slider(key="db_lam").set_value(lam).run()
    assert not at.exception
    truth = resize_max(load_sample("Cameraman", 512), 256).astype(np.float64)
    scene = experiment.make_scene(truth, forward.gaussian_psf(2.0), "reflexive", 0.01, 0)
    ref = experiment.compare(scene, "reflexive", (experiment.TIK_USER,), lam=lam)[0]
    df = _table(at)
    assert df.loc[experiment.TIK_USER, "PSNR (dB)"] == pytest.approx(round(ref.psnr, 2), abs=0.011)
    assert df.loc[experiment.TIK_USER, "PSNR (dB)"] != pytest.approx(round(experiment.compare(
        scene, "reflexive", (experiment.TIK_USER,), lam=experiment.LAMBDA_DEFAULT)[0].psnr, 2), abs=0.011)
    marks = {tr["name"]: tr["x"] for tr in plotly_figure(at, "db_lambda")["data"] if tr.get("mode") == "markers"}
    mine = [x for name, x in marks.items() if name.endswith(f"λ = {lam:.2g}") and name.startswith(experiment.RULES["slider"].label)]
    assert mine and mine[0][0] == pytest.approx(lam), marks
    assert any("What the numbers teach" in h.value for h in at.subheader)  # the rest of the page is still there
