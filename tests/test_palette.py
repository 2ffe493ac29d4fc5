"""The colour-vision-safe scheme, checked by simulating deuteranopia and protanopia (colorspacious,
Machado et al. 2009 at severity 100) and measuring colour differences in CAM02-UCS.

Thresholds: ΔE' in CAM02-UCS ≈ 1 is a just-noticeable difference for patches side by side; we ask for
ΔE ≥ 40 between the two ends of the signed scale (as far apart as RdBu's ends for normal vision, 58),
ΔE ≥ 15 between any two line colours that share a figure, and a lightness difference ΔJ' ≥ 15 between
the signed scale's ends, so the sign of a value never rests on hue alone.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from colorspacious import cspace_convert
from conftest import plotly_figure

from cnn_viz.figures import builders, palette

CVD = ("deuteranomaly", "protanomaly")
END_DE, LINE_DE, END_DJ = 40.0, 15.0, 15.0


def _rgb1(c) -> np.ndarray:
    if isinstance(c, str):
        c = list(bytes.fromhex(c.lstrip("#"))) if c.startswith("#") else [int(v) for v in c[c.index("(") + 1:c.index(")")].split(",")[:3]]
    return np.asarray(c, dtype=float) / 255


def _seen(rgb1: np.ndarray, cvd: str | None) -> np.ndarray:
    """What a viewer with full deuteranopia / protanopia sees (None: normal vision), in CAM02-UCS."""
    if cvd is not None:
        rgb1 = np.clip(cspace_convert(rgb1, {"name": "sRGB1+CVD", "cvd_type": cvd, "severity": 100}, "sRGB1"), 0, 1)
    return cspace_convert(rgb1, "sRGB1", "CAM02-UCS")


def _delta_e(a, b, cvd) -> float:
    return float(np.linalg.norm(_seen(_rgb1(a), cvd) - _seen(_rgb1(b), cvd)))


def _ends(scale) -> tuple[str, str]:
    return scale[0][1], scale[-1][1]


@pytest.mark.parametrize("cvd", CVD)
def test_the_safe_scales_ends_stay_apart_under_colour_blindness(cvd):
    neg, pos = _ends(palette.SCHEMES["safe"].diverging)
    assert _delta_e(neg, pos, cvd) >= END_DE
    j_neg, j_pos = _seen(_rgb1(neg), cvd)[0], _seen(_rgb1(pos), cvd)[0]
    assert abs(j_pos - j_neg) >= END_DJ, "the two signs must also differ in lightness"


def test_the_default_scale_tells_the_sign_by_hue_only():
    """Why the option exists: RdBu's ends have the same lightness (ΔJ' < 1 for normal vision), so under
    protanopia their difference drops below the safe scale's, and the sign is a hue cue alone."""
    neg, pos = _ends(palette.SCHEMES["default"].diverging)
    assert abs(_seen(_rgb1(neg), None)[0] - _seen(_rgb1(pos), None)[0]) < 1.0
    s_neg, s_pos = _ends(palette.SCHEMES["safe"].diverging)
    assert _delta_e(neg, pos, "protanomaly") < _delta_e(s_neg, s_pos, "protanomaly")


@pytest.mark.parametrize("cvd", (None,) + CVD)
def test_the_safe_signed_scale_gets_darker_away_from_zero_on_both_sides(cvd):
    """Magnitude is lightness on both sides of zero, for every viewer: J' falls monotonically from the
    white middle towards each end of the 101-colour ramp the PNGs and GIFs use."""
    with palette.using("safe"):
        ramp = palette.ramp(101)
    j = _seen(ramp / 255.0, cvd)[:, 0]
    assert np.all(np.diff(j[:51]) > 0) and np.all(np.diff(j[50:]) < 0)


@pytest.mark.parametrize("cvd", (None,) + CVD)
def test_the_safe_sequential_scale_is_monotone_in_lightness(cvd):
    with palette.using("safe"):
        name = palette.sequential()
    ramp = palette.ramp(64, name)
    j = _seen(ramp / 255.0, cvd)[:, 0]
    assert np.all(np.diff(j) > 0)


# The named line colours that share one figure (the deblurring page's boundary conditions, λ rules, 1-D curves).
FIGURE_SETS = {
    "boundary conditions": ("red", "green", "blue"),
    "λ rules": ("blue", "orange", "green", "purple", "yellow"),
    "1-D signals": ("dark", "grey", "red", "teal"),
}


@pytest.mark.parametrize("cvd", CVD)
@pytest.mark.parametrize("figure", FIGURE_SETS)
def test_safe_line_colours_of_one_figure_stay_apart(figure, cvd):
    cols = palette.SCHEMES["safe"].colours
    worst = min(_delta_e(cols[a], cols[b], cvd) for a, b in itertools.combinations(FIGURE_SETS[figure], 2))
    assert worst >= LINE_DE


def test_the_default_boundary_colours_are_a_red_green_pair():
    """The case the safe scheme fixes: zero (red) and reflexive (green) nearly merge under deuteranopia."""
    cols = palette.SCHEMES["default"].colours
    assert _delta_e(cols["red"], cols["green"], "deuteranomaly") < LINE_DE


def test_builders_follow_the_scheme_in_use():
    z = np.array([[-2.0, 0.0, 1.0]])
    with palette.using("safe"):
        fig = builders.signed_map_figure(z)
        rgb = palette.signed_to_rgb(z)
    assert [list(s) for s in fig.data[0].colorscale] == [[p, c] for p, c in palette.SAFE_DIVERGING]
    np.testing.assert_array_equal(rgb[0, 0], palette.SAFE_NEG)
    np.testing.assert_array_equal(rgb[0, 1], palette.WHITE)
    assert builders.signed_map_figure(z).data[0].colorscale[-1][1] == palette.DIVERGING[-1][1]
    from cnn_viz.deblur import figures as deblur_figures

    with palette.using("safe"):
        assert deblur_figures.BC_COLORS["reflexive"] == palette.SCHEMES["safe"].colours["green"]
    assert deblur_figures.BC_COLORS["reflexive"] == palette.SCHEMES["default"].colours["green"]


def test_the_gif_uses_the_scheme_it_was_made_in():
    from PIL import Image
    import io

    from cnn_viz.sliding import gif, ops

    sweep = ops.make_sweep(ops.FIGURE1_INPUT, ops.FIGURE1_KERNEL)
    with palette.using("safe"):
        data = gif.make_gif(sweep, fps=10).data
    colours = np.array(Image.open(io.BytesIO(data)).getpalette()).reshape(-1, 3)
    assert (colours == palette.SAFE_POS).all(1).any() and (colours == palette.SAFE_NEG).all(1).any()
    assert not (colours == palette.RED).all(1).any()


def test_winners_are_marked_by_a_symbol_not_only_a_colour():
    from cnn_viz.pooling import figures as pooling_figures, stages

    fmap = np.arange(64.0).reshape(8, 8) - 30
    win = stages.pool_window(fmap, (1, 2), "max", 2, 2)
    fig = pooling_figures.pool_input_figure(fmap, win)
    star = [t for t in fig.data if t.name == "winner"][0]
    assert star.marker.symbol == "star" and (star.y[0], star.x[0]) == (3, 5)


@pytest.mark.parametrize("safe", [False, True])
def test_the_sandbox_page_draws_in_the_chosen_scheme(app_test, safe):
    """The one app-wide setting, from the URL, reaches the page's default figures."""
    at = app_test()
    if safe:
        at.query_params["safe_colours"] = "true"
    at.run()
    assert at.toggle(key="safe_colours").value is safe  # the sidebar's one setting (app.py), from the URL
    at.switch_page("pages/kernel_sandbox.py").run()
    assert not at.exception
    scale = plotly_figure(at, "out_fig_0")["data"][0]["colorscale"]
    expected = palette.SAFE_DIVERGING if safe else palette.DIVERGING
    assert [s[1] for s in scale] == [c for _, c in expected]
    cap = " ".join(c.value for c in at.caption)
    assert ("orange is positive" in cap) is safe
