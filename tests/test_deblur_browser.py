"""The deblurring page in Chromium: switching methods and the solver's boundary changes the comparison table."""

import re

import pytest
from conftest import OUTPUT, assert_no_exception, wait_idle

from cnn_viz.deblur import experiment, forward

TIMEOUT_MS = 300_000  # a cold comparison of eleven methods on the shared 2-core box


def _grid(page):
    return page.locator('[data-testid="stDataFrame"]').first


def _cell(scope, text: str):
    """The grid cells in ``scope`` that read exactly ``text`` (the grid's accessible table is hidden: no get_by_role)."""
    return scope.locator('[role="gridcell"]').filter(has_text=re.compile(f"^{re.escape(text)}$"))


def _method_cell(page, name: str):
    return _cell(_grid(page), name)


def _details_cell(page, name: str):
    """The "details" cell (the sixth) of the row of method ``name`` (``has`` is looked for inside each row)."""
    return _grid(page).locator('[role="row"]').filter(has=_cell(page, name)).locator('[role="gridcell"]').nth(5)


def _table(page) -> dict[str, list[str]]:
    """The comparison table's rows {method: [PSNR, SSIM, rel. error, time, details]} from the grid's cells."""
    cells = _grid(page).locator('[role="gridcell"]').all_inner_texts()
    return {r[0]: r[1:] for r in (cells[i: i + 6] for i in range(0, len(cells) - len(cells) % 6, 6)) if r[0] in experiment.METHODS}


@pytest.mark.browser
def test_switching_methods_and_boundary_changes_the_table(app_url, page):
    from playwright.sync_api import expect  # (the browser fixture skips when playwright is missing)

    OUTPUT.mkdir(exist_ok=True)
    page.goto(f"{app_url}/deblurring?db_tab=2-D%3A+images")
    wait_idle(page, 300)
    assert_no_exception(page)
    # the grid paints its cells a moment after the script has finished: wait for the row we read
    expect(_method_cell(page, experiment.TIK_GCV)).to_have_count(1, timeout=TIMEOUT_MS)
    before = _table(page)
    assert {experiment.NAIVE, experiment.TIK_GCV, experiment.WIENER, experiment.RL} <= set(before)
    assert float(before[experiment.TIK_GCV][0]) == pytest.approx(26.41, abs=0.02)  # cameraman, σ = 2 px, 1 % noise, reflexive

    page.get_by_role("button", name=f"Remove {experiment.NAIVE}").click()
    wait_idle(page, 300)
    assert_no_exception(page)
    expect(_method_cell(page, experiment.NAIVE)).to_have_count(0, timeout=TIMEOUT_MS)
    expect(_method_cell(page, experiment.TIK_GCV)).to_have_count(1, timeout=TIMEOUT_MS)
    after = _table(page)
    assert experiment.NAIVE not in after and experiment.TIK_GCV in after and len(after) == len(before) - 1

    solver = page.locator('[data-testid="stSelectbox"]').filter(has_text="Boundary in the solver")
    solver.click()
    page.get_by_role("option", name=forward.BC_LABELS["periodic"]).click()
    wait_idle(page, 300)
    assert_no_exception(page)
    expect(_details_cell(page, experiment.TIK_GCV)).not_to_have_text(after[experiment.TIK_GCV][4], timeout=TIMEOUT_MS)
    periodic = _table(page)
    assert float(periodic[experiment.TIK_GCV][0]) < 8  # the periodic model on reflexive data: GCV collapses to noise
    assert periodic[experiment.TIK_GCV][4] != after[experiment.TIK_GCV][4]  # a different λ
    _grid(page).scroll_into_view_if_needed()
    expect(_grid(page)).to_be_in_viewport()
    page.screenshot(path=str(OUTPUT / "deblurring_method_switch.png"))
