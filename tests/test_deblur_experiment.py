"""What the deblurring page reads off the 2-D experiment: the table, the zoom, the λ sweep, the
Richardson–Lucy curves, the inverse crime and the sentences built from them, checked against NumPy
and against numbers written out by hand."""

import numpy as np
import pytest

from cnn_viz.deblur import experiment, forward, restore
from cnn_viz.deblur.experiment import CnnBoundaries, CnnRow, NetworkInfo, Result


RNG = np.random.default_rng(11)
IMG = RNG.random((24, 20))


def _result(name, psnr, ssim=0.5, seconds=0.01, note=""):
    return Result(name, np.zeros((2, 2), np.float32), psnr, ssim, 0.1, seconds, note)


def test_method_names_come_from_the_rule_table():
    assert (experiment.TIK_GCV, experiment.TIK_DP, experiment.TIK_LC, experiment.TIK_USER, experiment.TIK_BEST) == (
        "Tikhonov (GCV)", "Tikhonov (discrepancy)", "Tikhonov (L-curve)", "Tikhonov (your λ)", "Tikhonov (best λ, oracle)")
    assert (experiment.TSVD, experiment.WIENER) == ("TSVD (GCV)", "Wiener (GCV)")
    assert set(experiment.SOLVERS) == set(experiment.METHODS)
    assert experiment.uses_cnn([experiment.RL, experiment.CNN_TIK]) and not experiment.uses_cnn(experiment.CLASSICAL)


def test_psf_descriptions_and_the_training_conditions():
    assert experiment.PsfSpec("Gaussian", 2.0).description == "Gaussian σ = 2 px"
    assert experiment.PsfSpec("Motion", 11.0, 30.0).description == "motion 11 px at 30°"
    assert experiment.PsfSpec("Box", 5.0).description == "5×5 box"
    np.testing.assert_array_equal(experiment.PsfSpec("Motion", 9.0, 0.0).psf(), forward.motion_psf(9, 0))
    trained = experiment.TRAINED
    assert trained.description == "Gaussian σ = 2 px, 1 % noise, reflexive boundary"
    np.testing.assert_array_equal(trained.psf(), forward.gaussian_psf(2.0))
    spec = experiment.PsfSpec("Gaussian", 2.0)
    assert trained.matches(spec, "reflexive", 0.01, "reflexive", True)
    assert not trained.matches(spec, "reflexive", 0.01, "reflexive", False)  # the solver was given another PSF
    assert not trained.matches(spec, "periodic", 0.01, "reflexive", True)
    assert not trained.matches(spec, "reflexive", 0.01, "zero", True)
    assert not trained.matches(spec, "reflexive", 0.02, "reflexive", True)
    assert not trained.matches(experiment.PsfSpec("Gaussian", 2.5), "reflexive", 0.01, "reflexive", True)


def test_scene_numbers_and_same_blur():
    scene = experiment.make_scene(IMG, forward.gaussian_psf(1.0), "reflexive", 0.05, seed=1)
    np.testing.assert_array_equal(scene.observed, np.clip(scene.blurred, 0, 1))
    assert scene.blurred_psnr == pytest.approx(10 * np.log10(1 / np.mean((np.clip(scene.blurred, 0, 1) - IMG) ** 2)))
    assert experiment.same_blur(forward.motion_psf(7, 0), forward.motion_psf(7, 180))  # the same segment
    assert not experiment.same_blur(forward.gaussian_psf(1.0), forward.gaussian_psf(1.1))
    assert not experiment.same_blur(forward.box_psf(3), forward.box_psf(5))


def test_the_table_and_the_csv_round_as_shown():
    results = [_result("A", 26.4149, 0.60912, 0.01234), _result("B", 4.0, 0.0021, 1.5, "λ = 1")]
    cols = experiment.table(results)
    assert cols == {"method": ["A", "B"], "PSNR (dB)": [26.41, 4.0], "SSIM": [0.609, 0.002], "rel. error": [0.1, 0.1],
                    "time (ms)": [12.3, 1500.0], "details": ["", "λ = 1"]}
    np.testing.assert_array_equal(experiment.numbers(results), [[26.41, 0.609, 0.1, 12.3], [4.0, 0.002, 0.1, 1500.0]])


def test_the_cnn_verdict_measures_against_the_best_classical_row():
    results = [_result(experiment.TIK_GCV, 26.0, 0.60), _result(experiment.WIENER, 27.0, 0.75),
               _result(experiment.CNN_DIRECT, 26.5, 0.70), _result(experiment.CNN_TIK, 28.25, 0.79)]
    infos = {experiment.CNN_TIK: NetworkInfo(train_seconds=31.6, steps=40, retrained_here=True)}
    v = experiment.cnn_verdict(results, infos)
    assert v.lines == (
        "**CNN (direct)** loses: 26.50 dB, -0.50 dB against the best classical method (Wiener (GCV), 27.00 dB); SSIM 0.700 against 0.750.",
        "**Tikhonov + CNN** wins: 28.25 dB, +1.25 dB against the best classical method (Wiener (GCV), 27.00 dB); SSIM 0.790 against 0.750.",
        "Tikhonov + CNN: retrained here for 32 s (40 steps).",
    )
    assert v.pair_wins and v.markdown.startswith("- **CNN (direct)** loses")
    assert experiment.cnn_verdict(results[:2], infos) is None  # nothing learned
    assert experiment.cnn_verdict([_result(experiment.TIK_BEST, 27.1), results[3]], infos) is None  # only the oracle to beat
    oracle = experiment.cnn_verdict([_result(experiment.TIK_BEST, 29.0), *results], {})
    assert not oracle.pair_wins and "Tikhonov (best λ, oracle), 29.00 dB" in oracle.lines[1]


def test_shipped_network_info_and_the_networks_stamp():
    meta = {"params": 56097, "train_seconds": 852.0, "steps": 1200, "batch": 16, "patch": 40, "threads": 1, "prep_seconds": 37.2,
            "command": "python -m cnn_viz.deblur.train --kind tikcnn", "kind": "tikcnn", "train_images": ["moon"]}
    info = NetworkInfo.from_meta(meta)
    assert info.cost("Tikhonov + CNN") == ("Tikhonov + CNN: 56,097 weights, trained 14.2 min (1,200 steps of 16 patches 40×40, "
                                           "1 CPU thread) plus 37 s to make the training pairs; `python -m cnn_viz.deblur.train --kind tikcnn`.")
    shipped = experiment.Networks({}, {"CNN (direct)": info, "Tikhonov + CNN": info})
    retrained = experiment.Networks({}, {"CNN (direct)": info, "Tikhonov + CNN": NetworkInfo(retrained_here=True, stamp="ab12")})
    assert shipped.stamp == "CNN (direct):shipped|Tikhonov + CNN:shipped"
    assert retrained.stamp == "CNN (direct):shipped|Tikhonov + CNN:ab12"
    assert experiment.Networks().stamp == "none"


def test_the_zoom_box_stays_in_the_frame_and_crops_every_image():
    scene = experiment.make_scene(IMG, forward.gaussian_psf(1.0), "reflexive", 0.01)
    z = experiment.zoom_range(IMG.shape)
    assert (z.rows, z.cols, z.largest, z.size, z.row, z.col) == (24, 20, 16, 16, 7, 9)
    results = experiment.compare(scene, "reflexive", (experiment.NAIVE, experiment.TIK_GCV, experiment.RL))
    look = experiment.closeup(scene, results, [experiment.RL, experiment.NAIVE], 16, 23, 0)  # a corner: the box is pushed inside
    assert look.box == (8, 24, 0, 16)
    assert look.names == [experiment.NAIVE, experiment.RL]  # table order
    assert look.titles[:2] == ["true", f"blurred {scene.blurred_psnr:.1f} dB"]
    assert look.titles[2] == f"{experiment.NAIVE} {results[0].psnr:.1f} dB"
    for img, crop in zip(look.images, look.crops):
        np.testing.assert_array_equal(crop, img[8:24, 0:16])
    np.testing.assert_allclose(look.errors[1], results[2].image.astype(np.float64) - IMG)
    np.testing.assert_array_equal(look.image(experiment.RL), results[2].image)
    assert experiment.default_view([experiment.NAIVE, experiment.RL, experiment.TSVD]) == [experiment.RL]
    assert experiment.default_view([experiment.NAIVE, experiment.TSVD]) == [experiment.NAIVE, experiment.TSVD]


def test_the_lambda_sweep_interpolates_in_log_lambda():
    scene = experiment.make_scene(IMG, forward.gaussian_psf(1.0), "reflexive", 0.02, seed=3)
    sw = experiment.lambda_sweep(scene, "reflexive", n=12)
    np.testing.assert_allclose([sw.psnr_at(lam) for lam in sw.lams], sw.psnr)
    mid = np.sqrt(sw.lams[3] * sw.lams[4])
    assert sw.psnr_at(mid) == pytest.approx((sw.psnr[3] + sw.psnr[4]) / 2)
    assert [p.rule for p in sw.picks] == ["gcv", "discrepancy", "lcurve"]
    assert sw.gcv_gap == pytest.approx(np.max(sw.psnr) - sw.pick("gcv").psnr)
    assert sw.model == "exact reflexive"
    assert experiment.lambda_sweep(scene, "zero", n=5).model == "mirror-FFT"


def test_richardson_lucy_curves_and_their_sentences():
    scene = experiment.make_scene(IMG, forward.gaussian_psf(1.0), "reflexive", 0.02, seed=3)
    curves = experiment.rl_curves(scene, ("zero", "reflexive"), iters=5, including=8)
    assert [len(c.psnr) for c in curves.curves] == [8, 8]
    x, _ = restore.richardson_lucy_image(scene.blurred, scene.psf, "reflexive", 8)
    last = 10 * np.log10(1 / np.mean((np.clip(x, 0, 1) - IMG) ** 2))
    assert curves.curve("reflexive").psnr[-1] == pytest.approx(last, rel=1e-4)
    rising = experiment.RLCurve("zero", np.array([20.0, 21.0, 22.5]))
    peaked = experiment.RLCurve("periodic", np.array([20.0, 23.456, 21.0, 19.0]))
    assert rising.describe() == "with a zero boundary it is still rising after 3 iterations (22.50 dB)"
    assert peaked.describe() == "with a periodic boundary it peaks after 2 iterations at 23.46 dB and falls to 19.00 dB by 4"
    assert experiment.RLCurves((peaked, rising)).describe() == rising.describe() + "; " + peaked.describe()


def test_the_inverse_crime_table_as_the_page_shows_it():
    img = np.clip(RNG.random((32, 32)), 0, 1)
    crime = experiment.inverse_crime(img, forward.gaussian_psf(1.2))
    assert crime.index == ["data: reflexive", "data: periodic", "data: zero"]
    cols = crime.columns()
    assert list(cols) == ["solver: periodic", "solver: reflexive"]
    assert cols["solver: reflexive"][0] == round(crime.at("reflexive", "reflexive"), 1)
    assert cols["solver: periodic"][2] == round(crime.at("zero", "periodic"), 1)


def test_the_boundary_sentences():
    s = experiment.Score
    models = experiment.BoundaryModels("reflexive", s(4.8, "λ = 1.58e-05"), s(26.41, "λ = 0.0282"), s(4.82, "λ = 1e-05"),
                                       s(27.05, "λ = 0.0571"))
    text = models.describe()
    assert text.startswith("- **The boundary condition matters more than the λ rule.** On these data, Tikhonov with GCV gives "
                           "26.41 dB with the reflexive model (λ = 0.0282) but 4.80 dB with the periodic FFT model (λ = 1.58e-05); "
                           "the discrepancy principle 27.05 against 4.82 dB.")
    periodic = experiment.BoundaryModels("periodic", s(26.08, "a"), s(18.75, "b"), s(0, ""), s(0, "")).describe()
    assert "gives 26.08 dB with it (a) and 18.75 dB with the reflexive model (b)" in periodic
    rows = (CnnRow("reflexive", 26.41, 28.21, 27.14), CnnRow("periodic", 25.0, 25.5, 24.0), CnnRow("zero", 20.0, 21.0, 19.5))
    both = CnnBoundaries(rows).describe()
    assert ("the direct CNN scores 27.14 dB on reflexive, 24.00 dB on periodic, 19.50 dB on zero-boundary blurs of this picture; "
            "Tikhonov (reflexive solver, GCV) + CNN goes 26.41 → 28.21 dB (reflexive), 25.00 → 25.50 dB (periodic), "
            "20.00 → 21.00 dB (zero).") in both
    pair_only = CnnBoundaries(tuple(CnnRow(r.bc, r.tikhonov, r.tik_cnn, None) for r in rows)).describe()
    assert "direct CNN" not in pair_only and "26.41 → 28.21 dB (reflexive)" in pair_only


def test_boundary_models_run_both_solver_models():
    scene = experiment.make_scene(IMG, forward.gaussian_psf(1.0), "reflexive", 0.02, seed=3)
    models = experiment.boundary_models(scene)
    for bc, gcv, dp in (("periodic", models.periodic_gcv, models.periodic_dp), ("reflexive", models.reflexive_gcv, models.reflexive_dp)):
        ref = {r.name: r for r in experiment.compare(scene, bc, (experiment.TIK_GCV, experiment.TIK_DP))}
        assert (gcv.psnr, gcv.note, dp.psnr) == (ref[experiment.TIK_GCV].psnr, ref[experiment.TIK_GCV].note, ref[experiment.TIK_DP].psnr)


def test_figures_read_the_result_objects():
    from cnn_viz.deblur import figures, signal1d

    a = signal1d.analyse(signal1d.test_signal("Smooth bump", 64), 0.03, 0.01, seed=0, lam_slider=1e-3)
    fig = figures.signals_figure(a.t, a.f, a.b, a.chosen(a.default_shown))
    assert [t.name for t in fig.data[2:]] == a.default_shown
    assert fig.data[3].line.color == figures.RULE_COLORS["gcv"] and fig.data[2].line.color == figures.COLORS["tsvd"]
    gcv = figures.gcv_figure(a.lams, a.gcv, a.rule_picks)
    assert [(t.x[0], t.y[0]) for t in gcv.data[1:]] == [(p.lam, p.gcv) for p in a.rule_picks]
    assert gcv.data[1].name == f"GCV (λ = {a.pick('gcv').lam:.2g})"
    phi = figures.filter_factors_figure(a.filter_factors(), a.k_gcv)
    assert len(phi.data) == len(a.picks) + 1 and phi.data[-1].name == f"TSVD (k = {a.k_gcv})"

    scene = experiment.make_scene(IMG, forward.gaussian_psf(1.0), "reflexive", 0.02, seed=3)
    sw = experiment.lambda_sweep(scene, "reflexive", n=12)
    lam = experiment.LAMBDA_DEFAULT
    marks = [t for t in figures.lambda_figure(sw, lam).data if t.mode == "markers"]
    assert [t.name for t in marks] == [f"{p.label}: λ = {p.lam:.2g}" for p in sw.picks] + [f"your λ: λ = {lam:.2g}"]
    assert marks[-1].y[0] == pytest.approx(sw.psnr_at(lam))
    results = experiment.compare(scene, "reflexive", (experiment.TIK_GCV, experiment.RL))
    bars = figures.metrics_figure(results, reference=scene.blurred_psnr)
    assert list(bars.data[0].y) == [r.name for r in results] and list(bars.data[0].x) == [r.psnr for r in results]
    light = figures.metrics_figure(experiment.scores(results), reference=scene.blurred_psnr)  # what the page hashes and draws
    assert light.to_plotly_json() == bars.to_plotly_json()
    curves = experiment.rl_curves(scene, ("zero",), iters=6)
    line = figures.rl_figure(curves, 3).data[0]
    assert line.name == f"zero boundary (peak {curves.curve('zero').psnr.max():.2f} dB at {curves.curve('zero').peak + 1})"


def test_the_blur_matrix_is_a_png_with_real_values_on_hover():
    """A 256² matrix reaches the browser as a PNG on the sequential scale under a grid of its real entries."""
    from conftest import map_samples, png_pixels

    from cnn_viz.deblur import figures, signal1d
    from cnn_viz.figures import builders, palette

    A = signal1d.kernel_matrix(256, 0.05)
    fig = builders.spec(figures.kernel_matrix_figure(256, 0.05, "A"))
    rows, cols, z = map_samples(fig)
    assert figures.MATRIX_HOVER_SIDE // 2 < len(rows) == len(cols) <= figures.MATRIX_HOVER_SIDE and rows[-1] > 240
    np.testing.assert_allclose(z, A[np.ix_(rows, cols)], rtol=1e-6, atol=1e-30)  # float32: entries below 1e-38 show as 0
    img = png_pixels(fig["data"][1]["source"])
    assert img.shape == (256, 256, 3)
    want = palette.ramp(256, palette.sequential())[np.round(A / A.max() * 255).astype(int)]
    assert np.abs(img.astype(int) - want).max() <= 1
    small = figures.psf_figure(forward.gaussian_psf(2.0))
    assert small.data[0].type == "heatmap" and np.array_equal(small.data[0].z, forward.gaussian_psf(2.0))


def test_the_comparison_split_by_what_each_method_depends_on_gives_the_same_rows():
    """The page caches compare() per group (compare_groups), so the λ slider redoes one row: same rows, same order."""
    scene = experiment.make_scene(IMG, forward.gaussian_psf(1.0), "reflexive", 0.02, seed=3)
    methods = (experiment.RL, experiment.TIK_USER, experiment.NAIVE, experiment.TIK_GCV)
    groups = experiment.compare_groups(methods, 2e-2, 7)
    assert groups == [((experiment.NAIVE, experiment.TIK_GCV), experiment.LAMBDA_DEFAULT, 30), ((experiment.TIK_USER,), 2e-2, 30),
                      ((experiment.RL,), experiment.LAMBDA_DEFAULT, 7)]
    split = experiment.in_order(methods, *(experiment.compare(scene, "reflexive", g, a, b) for g, a, b in groups))
    whole = experiment.compare(scene, "reflexive", methods, lam=2e-2, rl_iters=7)
    assert [r.name for r in split] == list(methods) == [r.name for r in whole]
    for a, b in zip(split, whole):
        np.testing.assert_array_equal(a.image, b.image)
        assert a.psnr == b.psnr and a.note == b.note
