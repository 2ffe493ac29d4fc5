"""One watcher per server process: how every student session on this server learns that its class changed.

Instead of each student's browser asking the store every second (100 students: 100 fragment runs and 100 store
reads a second, ~0.25 of a core doing nothing), one thread per server reads each followed class's ``pulse``
(teacher's version, current question, revealed) every ``period`` seconds — one read per class per tick,
shared by every session on the server — and calls the subscribers of a class whose pulse changed. ``poke()``
wakes it at once (the teacher's own server after a store write). Several replicas each run their own watcher
on the shared store, so a change on one reaches the students of every replica within ``period``.

A subscriber is ``key → callback(pulse)``; a callback that returns False (its session is gone) is dropped.
``teacher(code)`` is the teacher's state read once when the pulse changed, for every callback of that tick.
The class has ended: the pulse is None (the subscribers are told once). Streamlit-free: the UI decides what a
callback does (cnn_viz/ui/classroom.py reruns the session's follow fragment).
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Callable

from cnn_viz.classroom.store import Store, StoreError

Pulse = tuple  # (version, current question id, revealed) or None
PERIOD_SECONDS = 0.2


class Watch:
    def __init__(self, store: Store, period: float = PERIOD_SECONDS):
        self.store, self.period = store, period
        self._subs: dict[str, dict[str, Callable[[Pulse], object]]] = {}   # code → key → callback
        self._code_of: dict[str, str] = {}                                  # key → code
        self._last: dict[str, Pulse] = {}
        self._teacher: dict[str, object] = {}                               # code → TeacherState at _last
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.reads = 0   # store reads so far (tests and the bench look at it)

    def _read(self, code: str) -> Pulse:
        self.reads += 1
        try:
            return tuple(self.store.pulse(code))
        except StoreError:
            return None

    def subscribe(self, code: str, key: str, callback: Callable[[Pulse], object]) -> None:
        """``callback`` is called (from the watcher's thread) each time class ``code``'s pulse changes;
        subscribing again under the same key replaces the callback (and the class)."""
        with self._lock:
            old = self._code_of.get(key)
            if old is not None and old != code:
                self._subs.get(old, {}).pop(key, None)
            fresh = code not in self._subs or not self._subs[code]
            self._subs.setdefault(code, {})[key] = callback
            self._code_of[key] = code
            start = self._thread is None
            if start:
                self._thread = threading.Thread(target=self._run, name="cnn-viz-class-watch", daemon=True)
        if fresh:
            pulse = self._read(code)   # the baseline: what every subscriber's page already shows
            with self._lock:
                self._last[code] = pulse
        if start:
            self._thread.start()

    def unsubscribe(self, key: str) -> None:
        with self._lock:
            code = self._code_of.pop(key, None)
            if code is not None:
                self._subs.get(code, {}).pop(key, None)
                if not self._subs.get(code):
                    self._subs.pop(code, None)
                    self._last.pop(code, None)
                    self._teacher.pop(code, None)

    def subscribers(self, code: str) -> int:
        with self._lock:
            return len(self._subs.get(code, {}))

    def teacher(self, code: str):
        """The teacher's state of class ``code`` as read at its last change (None: not read yet or ended)."""
        with self._lock:
            return self._teacher.get(code)

    def poke(self) -> None:
        """Look now (a store write on this server just changed something)."""
        self._wake.set()

    def check(self) -> int:
        """One tick: read every followed class once, call the subscribers of those that changed.
        Returns how many callbacks were called."""
        with self._lock:
            codes = list(self._subs)
        called = 0
        for code in codes:
            pulse = self._read(code)
            with self._lock:
                if code not in self._subs or self._last.get(code) == pulse:
                    continue
            try:   # once per change of the class, for all its subscribers
                teacher = self.store.teacher_state(code) if pulse is not None else None
            except StoreError:
                teacher = None
            with self._lock:
                if code not in self._subs:
                    continue
                self._last[code], self._teacher[code] = pulse, teacher
                subs = list(self._subs[code].items())
            for key, callback in subs:
                called += 1
                try:
                    keep = callback(pulse)
                except Exception:  # noqa: BLE001  (a broken subscriber must not stop the others)
                    keep = False
                if keep is False or pulse is None:
                    self.unsubscribe(key)
        return called

    def _run(self) -> None:
        while True:
            self._wake.wait(self.period)
            self._wake.clear()
            try:
                self.check()
            except Exception:  # noqa: BLE001  (keep watching; the next tick tries again)
                pass


STAGGER_WIDTH = 3   # pushed runs in flight at once per server


class Stagger:
    """Start many pushed runs a few at a time, on the server's asyncio loop.

    100 followers' runs started at once are 100 script threads fighting for one GIL: measured here, the whole
    class then took 8.3 s of CPU per change (83 ms each, against 36 ms each for 30) and the event loop that
    sends the pictures got the GIL last, so nobody saw anything for seconds. ``width`` runs in flight, the next
    started when one is done (``done()`` true, or ``timeout`` s passed), keep each run as cheap as alone and
    deliver the first students' pages at once. A newer submission for a key still waiting replaces it."""

    def __init__(self, width: int = STAGGER_WIDTH, poll: float = 0.005, timeout: float = 3.0):
        self.width, self.poll, self.timeout = width, poll, timeout
        self._waiting: "collections.OrderedDict[str, tuple]" = collections.OrderedDict()
        self._busy: dict[str, tuple] = {}
        self._task = None
        self.started = 0

    def submit(self, loop, key: str, start: Callable[[], object], done: Callable[[], bool]) -> None:
        """Thread-safe: ``start()`` (on ``loop``) when a place is free; the place is free again once ``done()``."""
        loop.call_soon_threadsafe(self._add, loop, key, start, done)

    def _add(self, loop, key, start, done) -> None:
        self._waiting[key] = (start, done)
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._pump())

    async def _pump(self) -> None:
        import asyncio

        while self._waiting or self._busy:
            now = time.monotonic()
            for key, (done, t0) in list(self._busy.items()):
                try:
                    finished = done()
                except Exception:  # noqa: BLE001
                    finished = True
                if finished or now - t0 > self.timeout:
                    del self._busy[key]
            while self._waiting and len(self._busy) < self.width:
                key, (start, done) = self._waiting.popitem(last=False)
                try:
                    start()
                except Exception:  # noqa: BLE001  (one session's failure does not hold the others)
                    continue
                self.started += 1
                self._busy[key] = (done, time.monotonic())
            await asyncio.sleep(self.poll)
