"""'When CNNs fail' trains on its own thread through jobs.Run (the MNIST page's mechanism): Train starts it,
a second session sees Busy, Stop ends it and keeps every operator finished so far; the GD/SGD Run likewise."""

from __future__ import annotations

import numpy as np
import pytest

from cnn_viz.common import jobs
from conftest import open_page
from test_training_jobs import _wait

PAGE = "pages/when_cnns_fail.py"


@pytest.fixture(autouse=True)
def _slot_free():
    yield
    assert _wait(lambda: jobs.running() is None, 60), "a training job outlived its test"


def _page(app_test, **state):
    return open_page(app_test, PAGE, 300, **state)


def test_train_runs_on_its_own_thread_busy_for_others_and_stop_keeps_the_finished_operators(app_test):
    a = _page(app_test, wf_n=64)
    a.select_slider(key="wf_steps").set_value(600).run()
    a.button(key="wf_train").click().run()
    assert not a.exception, a.exception
    run = a.session_state["wf_job"]
    assert run.alive and jobs.running().what == "the 'When CNNs fail' lab"
    assert "wf_stop" in {b.key for b in a.button}  # the Stop of the live panel
    try:
        b = _page(app_test)  # a second student
        b.button(key="wf_train").click().run()
        assert not b.exception, b.exception
        busy = [i.value for i in b.info if "The class is training" in i.value]
        assert busy and "the 'When CNNs fail' lab" in busy[0]
        assert "wf_job" not in b.session_state and "wf_table" not in b.session_state
        b.session_state["wf_tab"] = "Gradient descent against SGD"
        b.run()
        b.button(key="wf_sgd_run").click().run()  # the GD/SGD run shares the one slot
        assert any("The class is training" in i.value for i in b.info)
        assert run.alive
        assert _wait(lambda: run.snapshot is not None), "no operator finished"
    except BaseException:
        run.stop()
        raise
    a.button(key="wf_stop").click().run()
    assert not a.exception, a.exception
    assert not run.alive and run.stopped and jobs.running() is None
    assert "wf_job" not in a.session_state
    table = a.session_state["wf_table"]["csc"]
    assert table.n == 64 and table.operators[0] == "blur" and 1 <= len(table.operators) < 4
    assert any("Stopped: what had finished is kept." in w.value for w in a.warning)
    assert "wf_train" in {b.key for b in a.button} and "wf_stop" not in {b.key for b in a.button}

    # the kept blur row is real: Tikhonov's error recomputed here with NumPy's solver at the run's λ
    from cnn_viz.whenfail import lab

    blur = table.run("blur")
    assert set(blur.errors) >= set(lab.METHODS)  # every method of a finished operator is kept
    d = lab.make_data(lab.Setup(operator="blur", n=64))
    M, lam = d.M, blur.tik_lambda
    X = np.linalg.solve(M.T @ M + lam**2 * np.eye(M.shape[1]), M.T @ d.b_test.T).T
    ref = np.linalg.norm(X - d.x_test) / np.linalg.norm(d.x_test)
    assert abs(table.error("blur", "tikhonov") - ref) < 1e-8 * ref
    assert np.isfinite(table.error("blur", "cnn")) and table.error("blur", "cnn") < 1.0

    b.session_state["wf_tab"] = "1-D lab: operator × method"
    b.run()
    b.button(key="wf_train").click().run()  # the slot is free again
    assert not b.exception and not [i for i in b.info if "The class is training" in i.value]
    b.session_state["wf_job"].stop()


def test_descent_run_in_its_own_thread_and_stop(app_test):
    a = _page(app_test, wf_tab="Gradient descent against SGD", wf_sgd_data="lab")
    a.number_input(key="wf_sgd_passes").set_value(10).run()
    a.button(key="wf_sgd_run").click().run()
    assert not a.exception, a.exception
    run = a.session_state["wf_job"]
    assert jobs.running() is not None and jobs.running().what == "gradient descent against SGD"
    assert _wait(lambda: run.fraction > 0), "no progress"
    a.button(key="wf_stop").click().run()
    assert not a.exception, a.exception
    assert not run.alive and jobs.running() is None and "wf_job" not in a.session_state
    d = a.session_state["wf_descent"]["lab"]  # what was reached is kept
    assert 1 <= len(d.curves) <= 3
