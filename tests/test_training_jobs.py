"""Training on a page never blocks other users: one job per server on its own thread, Busy for the
others, Stop and the time bound keep what was trained, class mode replaces the Train buttons.
Two AppTest sessions in one process share the server's slot exactly as two browser tabs do."""

from __future__ import annotations

import threading
import time

import pytest

from cnn_viz.common import jobs
from cnn_viz.mnist import data, model

MNIST = "pages/mnist_activations.py"
DEBLUR = "pages/deblurring.py"


def _mnist(app_test, **state):
    at = app_test(120)
    at.run()
    at.session_state["mn_tab"] = "Train your own"
    for k, v in state.items():
        at.session_state[k] = v
    at.switch_page(MNIST).run()
    assert not at.exception, at.exception
    return at


def _wait(cond, seconds=300.0):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.2)
    return False


def _long_run(app_test):
    """A session that has pressed Train on a 30-epoch run (stop it in the test); (session, its jobs.Run)."""
    a = _mnist(app_test)
    a.slider(key="mn_tr_epochs").set_value(30)
    a.button(key="mn_tr_go").click().run()
    assert not a.exception, a.exception
    return a, a.session_state["mn_job"]


@pytest.fixture(autouse=True)
def _slot_free():
    yield
    assert _wait(lambda: jobs.running() is None, 60), "a training job outlived its test"


def test_second_session_sees_busy_while_the_first_trains_then_stop_keeps_the_finished_epochs(app_test):
    a, run = _long_run(app_test)
    assert run.alive and jobs.running().what == "MNIST training"
    assert run._thread is not threading.current_thread()  # its own thread, not the script's

    b = _mnist(app_test)  # a second student
    b.button(key="mn_tr_go").click().run()
    assert not b.exception, b.exception
    busy = [i.value for i in b.info if "The class is training" in i.value]
    assert busy and "MNIST training" in busy[0] and "only one training runs at a time" in busy[0]
    assert "mn_job" not in b.session_state and "mn_own" not in b.session_state
    assert run.alive  # the refusal did not disturb the running job

    assert _wait(lambda: run.snapshot is not None), "no epoch finished"
    a.button(key="mn_tr_stop").click().run()
    assert not a.exception, a.exception
    assert not run.alive and jobs.running() is None
    own = a.session_state["mn_own"]
    assert not own.finished and 1 <= len(own.history) < 30
    assert [h.epoch for h in own.history] == list(range(1, len(own.history) + 1))
    held = data.train_test_split()[1]
    assert own.history[-1].test_acc == model.accuracy(own.model, held.images, held.labels)  # the kept network is the one measured
    assert any("Stopped: your network keeps the" in w.value for w in a.warning)

    b.button(key="mn_tr_go").click().run()  # the slot is free again: the second student may train now
    assert not b.exception and not [i for i in b.info if "The class is training" in i.value]
    b.session_state["mn_job"].stop()


def test_a_second_session_reruns_while_one_trains(app_test):
    """The training thread does not hold the other sessions: a rerun of the kernel sandbox completes
    while the MNIST job runs (it is still running afterwards)."""
    a, run = _long_run(app_test)
    try:
        b = app_test(120)
        b.run()
        b.switch_page("pages/kernel_sandbox.py").run()
        b.number_input(key="stride").set_value(2).run()
        assert not b.exception, b.exception
        assert any(c.value.startswith("Output 255×255") for c in b.caption)  # floor((512 - 3) / 2) + 1
        assert run.alive
    finally:
        run.stop()


def test_the_time_bound_ends_a_run_and_keeps_it(app_test, monkeypatch):
    monkeypatch.setenv("CNN_VIZ_TRAIN_SECONDS", "1")
    a = _mnist(app_test)
    a.slider(key="mn_tr_epochs").set_value(30)
    a.select_slider(key="mn_tr_n").set_value(500)
    a.button(key="mn_tr_go").click().run()
    run = a.session_state["mn_job"]
    assert run.seconds == 1.0
    assert run.join(120), "the time bound did not end the run"
    assert run.timed_out and not run.stopped and jobs.running() is None
    a.run()
    assert "mn_job" not in a.session_state
    own = a.session_state.get("mn_own") if "mn_own" in a.session_state else None
    assert own is None or (not own.finished and len(own.history) < 30)


def test_class_mode_replaces_the_train_buttons_with_the_message(app_test, monkeypatch):
    monkeypatch.setenv("CNN_VIZ_CLASS_MODE", "1")
    a = _mnist(app_test)
    keys = {b.key for b in a.button}
    assert "mn_tr_go" not in keys and "mn_tr_stop" not in keys
    assert any("turned off on this server" in i.value and "CNN_VIZ_CLASS_MODE" in i.value for i in a.info)

    d = app_test(300)
    d.run()
    d.session_state["db_tab"] = "2-D: images"
    d.switch_page(DEBLUR).run()
    assert not d.exception, d.exception
    assert "db_rt_go" not in {b.key for b in d.button}
    assert any("turned off on this server" in i.value for i in d.info)


def test_deblur_retrain_is_refused_while_mnist_trains(app_test):
    a, run = _long_run(app_test)
    try:
        d = app_test(300)
        d.run()
        d.session_state["db_tab"] = "2-D: images"
        d.switch_page(DEBLUR).run()
        d.button(key="db_rt_go").click().run()
        assert not d.exception, d.exception
        assert any("The class is training: MNIST training" in i.value for i in d.info)
        assert "db_job" not in d.session_state
    finally:
        run.stop()


def test_a_run_trains_on_its_own_lower_priority_thread_and_keeps_its_result():
    import os

    seen = {}

    def work(job):
        seen["thread"] = threading.get_native_id()
        seen["nice"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        for i in range(3):
            job.report((i + 1) / 3, f"step {i + 1}", snapshot=i)
        return "trained"

    run = jobs.Run("s1", "unit", work, seconds=30).start()
    assert run.join(30) and run.result == "trained" and run.snapshot == 2 and run.fraction == 1.0
    assert seen["thread"] != threading.get_native_id()
    assert seen["nice"] > os.getpriority(os.PRIO_PROCESS, threading.get_native_id())  # the script threads come first
    assert jobs.running() is None
