"""The deblurring page in Chromium: switching methods and the solver's boundary changes the comparison table."""

import pytest
from conftest import OUTPUT, assert_no_exception, wait_idle

from cnn_viz.deblur import restore as d2


def _table(page, until=bool, timeout_s: float = 120) -> dict[str, list[str]]:
    """The comparison table's rows {method: [PSNR, SSIM, rel. error, time, details]} from the grid's cells,
    polled until ``until(rows)`` holds (the grid repaints its cells a moment after the script has finished)."""
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.wait_for()
    rows: dict[str, list[str]] = {}
    for _ in range(int(timeout_s * 2)):
        cells = grid.locator('[role="gridcell"]').all_inner_texts()
        rows = {r[0]: r[1:] for r in (cells[i: i + 6] for i in range(0, len(cells) - len(cells) % 6, 6)) if r[0] in d2.METHODS}
        if rows and until(rows):
            return rows
        page.wait_for_timeout(500)
    return rows


@pytest.mark.browser
def test_switching_methods_and_boundary_changes_the_table(app_url, page):
    OUTPUT.mkdir(exist_ok=True)
    page.goto(f"{app_url}/deblurring?db_tab=2-D%3A+images")
    wait_idle(page, 300)
    assert_no_exception(page)
    before = _table(page)
    assert {d2.NAIVE, d2.TIK_GCV, d2.WIENER, d2.RL} <= set(before)
    assert float(before[d2.TIK_GCV][0]) == pytest.approx(26.41, abs=0.02)  # cameraman, σ = 2 px, 1 % noise, reflexive

    page.get_by_role("button", name=f"Remove {d2.NAIVE}").click()
    wait_idle(page, 300)
    assert_no_exception(page)
    after = _table(page, until=lambda rows: d2.NAIVE not in rows)
    assert d2.NAIVE not in after and d2.TIK_GCV in after and len(after) == len(before) - 1

    solver = page.locator('[data-testid="stSelectbox"]').filter(has_text="Boundary in the solver")
    solver.click()
    page.get_by_role("option", name=d2.BC_LABELS["periodic"]).click()
    wait_idle(page, 300)
    assert_no_exception(page)
    periodic = _table(page, until=lambda rows: rows.get(d2.TIK_GCV, [""] * 5)[4] != after[d2.TIK_GCV][4])
    assert float(periodic[d2.TIK_GCV][0]) < 8  # the periodic model on reflexive data: GCV collapses to noise
    assert periodic[d2.TIK_GCV][4] != after[d2.TIK_GCV][4]  # a different λ
    page.locator('[data-testid="stDataFrame"]').first.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    page.screenshot(path=str(OUTPUT / "deblurring_method_switch.png"))
