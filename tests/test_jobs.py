"""The one-training-job rule (cnn_viz.common.jobs) with real threads."""

import threading
import time

import pytest

from cnn_viz.common import jobs


def test_second_job_is_refused_while_the_first_runs_and_admitted_after():
    inside, release = threading.Event(), threading.Event()

    def first():
        with jobs.training_slot("s1", "MNIST training"):
            inside.set()
            release.wait(10)

    t = threading.Thread(target=first)
    t.start()
    assert inside.wait(10)
    assert jobs.running().what == "MNIST training"
    with pytest.raises(jobs.Busy) as busy:
        with jobs.training_slot("s2", "deblurring"):
            pytest.fail("a second job ran while the first held the slot")
    assert "MNIST training" in str(busy.value) and busy.value.job.owner == "s1"
    release.set()
    t.join(10)
    assert jobs.running() is None
    with jobs.training_slot("s2", "deblurring") as job:
        assert job.owner == "s2" and jobs.running() is job


def test_the_slot_is_freed_when_training_raises():
    with pytest.raises(ZeroDivisionError):
        with jobs.training_slot("s1", "x"):
            1 / 0
    with jobs.training_slot("s2", "y"):
        pass


def test_class_mode_turns_training_off(monkeypatch):
    monkeypatch.setenv("CNN_VIZ_CLASS_MODE", "1")
    assert jobs.class_mode()
    with pytest.raises(jobs.TrainingOff):
        with jobs.training_slot("s1", "x"):
            pass
    monkeypatch.setenv("CNN_VIZ_CLASS_MODE", "0")
    assert not jobs.class_mode()


@pytest.mark.parametrize("raw, expected", [("30", 30.0), ("inf", 120.0), ("nan", 120.0), ("-5", 120.0),
                                           ("abc", 120.0), ("1e9", 120.0)])
def test_time_bound_setting_is_validated(monkeypatch, raw, expected):
    monkeypatch.setenv("CNN_VIZ_TRAIN_SECONDS", raw)
    assert jobs.max_seconds() == expected


def test_many_threads_at_once_only_one_gets_in():
    got, barrier = [], threading.Barrier(8)
    hold = threading.Event()

    def worker(i):
        barrier.wait()
        try:
            with jobs.training_slot(f"s{i}", "x"):
                got.append(i)
                hold.wait(2)
        except jobs.Busy:
            pass

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    hold.set()
    for t in threads:
        t.join(10)
    assert len(got) == 1
