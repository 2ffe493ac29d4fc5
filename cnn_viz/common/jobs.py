"""The one-training-job rule: at most one training run per server process, and a class-mode switch.

Training a network on the page is the most expensive thing a student can do, and a class shares one
server. Every in-page training (MNIST, your own network, the deblurring CNNs, the "When CNNs fail" lab)
runs inside ``with training_slot(who, what):``; while one runs, a second gets ``Busy`` with the name of
what is running and since when, and the page says "the class is training, try again". Each run is also
bounded: ``max_seconds()`` of wall clock (``CNN_VIZ_TRAIN_SECONDS``, default 120).

Class mode (``CNN_VIZ_CLASS_MODE=1`` in the environment of ``streamlit run``) turns in-page training off
for everyone: the pages show the shipped networks and say how to train offline with the CLIs.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

_LOCK = threading.Lock()
_HOLDER: "Job | None" = None
_GUARD = threading.Lock()


@dataclass(frozen=True)
class Job:
    owner: str      # an opaque id of the session that runs it
    what: str       # e.g. "MNIST training"
    started: float  # time.monotonic()

    def age(self) -> float:
        return time.monotonic() - self.started


class Busy(RuntimeError):
    """Another training job holds the server's slot."""

    def __init__(self, job: Job):
        self.job = job
        super().__init__(f"The class is training: {job.what} has been running for {job.age():.0f} s "
                         "on this server, and only one training runs at a time. Try again when it ends.")


class TrainingOff(RuntimeError):
    """Class mode is on: in-page training is turned off on this server."""

    def __init__(self):
        super().__init__("Training on the page is turned off on this server (class mode, "
                         "CNN_VIZ_CLASS_MODE=1): the shipped networks are shown. Train offline with the "
                         "command-line tools in the README.")


def _truthy(v: str | None) -> bool:
    return (v or "").strip().lower() in {"1", "true", "yes", "on"}


def class_mode() -> bool:
    """True when ``CNN_VIZ_CLASS_MODE`` turns in-page training off."""
    return _truthy(os.environ.get("CNN_VIZ_CLASS_MODE"))


def max_seconds(default: float = 120.0) -> float:
    """The wall-clock bound of one in-page training run (``CNN_VIZ_TRAIN_SECONDS``), in seconds."""
    try:
        v = float(os.environ.get("CNN_VIZ_TRAIN_SECONDS", default))
    except ValueError:
        return default
    return v if 1.0 <= v <= 3600.0 else default


def running() -> Job | None:
    """The training job that holds the slot now, or None."""
    return _HOLDER


@contextmanager
def training_slot(owner: str, what: str):
    """Hold the server's one training slot for the block; raise ``TrainingOff`` in class mode and ``Busy``
    (immediately, never waiting) when another job holds it. Re-entrant for nothing: one job, one slot."""
    global _HOLDER
    if class_mode():
        raise TrainingOff()
    if not _LOCK.acquire(blocking=False):
        with _GUARD:
            job = _HOLDER
        raise Busy(job or Job(owner="?", what="another training", started=time.monotonic()))
    job = Job(owner=owner, what=what, started=time.monotonic())
    with _GUARD:
        _HOLDER = job
    try:
        yield job
    finally:
        with _GUARD:
            _HOLDER = None
        _LOCK.release()


def _lower_this_threads_priority(nice: int = 10) -> None:
    """Linux: raise the calling thread's nice value by ``nice`` (allowed without privileges), so that in the server
    process the scheduler prefers the script threads that answer students over a training loop."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
    except (AttributeError, OSError):
        pass


class Run:
    """One training job on its own thread, holding the server's slot while it runs.

    ``work(run)`` does the training: it calls ``run.report(fraction, message, snapshot)`` as it goes
    (``snapshot``: what was trained so far, e.g. the network after the last epoch) and stops early when
    ``run.should_stop()`` (Stop pressed, or ``seconds`` of wall clock, at most ``max_seconds()``, gone).
    Its return value becomes ``run.result``; an exception becomes ``run.error``. The page's script thread
    only reads these fields, so a rerun of any session never waits for the training."""

    def __init__(self, owner: str, what: str, work, seconds: float | None = None):
        self.owner, self.what, self._work = owner, what, work
        self.seconds = max_seconds() if seconds is None else min(float(seconds), max_seconds())
        self.fraction, self.message, self.snapshot = 0.0, "Starting…", None
        self.result, self.error = None, None
        self.started = self.ended = None
        self._stop, self._ready = threading.Event(), threading.Event()
        self._refused: Exception | None = None
        self._thread = threading.Thread(target=self._main, name=f"cnn-viz training: {what}", daemon=True)

    def start(self) -> "Run":
        """Start the thread; raise ``Busy`` or ``TrainingOff`` (at once) when the slot is not free."""
        self._thread.start()
        self._ready.wait()
        if self._refused is not None:
            self._thread.join()
            raise self._refused
        return self

    def _main(self) -> None:
        try:
            with training_slot(self.owner, self.what):
                self.started = time.monotonic()
                self._ready.set()
                _lower_this_threads_priority()
                self.result = self._work(self)
        except (Busy, TrainingOff) as exc:
            if self._ready.is_set():
                self.error = exc
            else:
                self._refused = exc
        except Exception as exc:  # shown on the page by the session that started it
            self.error = exc
        finally:
            self.ended = time.monotonic()
            self._ready.set()

    def report(self, fraction: float, message: str, snapshot=None) -> None:
        """Progress (the work calls it every step); it also hands the GIL to a waiting rerun."""
        self.fraction, self.message = min(1.0, max(0.0, float(fraction))), message
        if snapshot is not None:
            self.snapshot = snapshot
        time.sleep(0)

    def stop(self, wait: float = 30.0) -> None:
        """Ask the work to stop after its current step and wait (up to ``wait`` s) for it to end."""
        self._stop.set()
        self._thread.join(wait)

    def should_stop(self) -> bool:
        return self._stop.is_set() or self.timed_out

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def timed_out(self) -> bool:
        return self.started is not None and time.monotonic() - self.started > self.seconds

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the end of the run; True when it has ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def elapsed(self) -> float:
        if self.started is None:
            return 0.0
        return (self.ended or time.monotonic()) - self.started
