"""The class session store: the same tests on SQLite (a file in WAL mode) and on a real redis-server.

The Redis fixture starts Debian's ``redis-server`` on a free 127.0.0.1 port in a temporary folder (append-only
file on, so a restart keeps what was written) and stops it by its pid. Without redis-server the Redis half is
skipped here and fails in CI.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from cnn_viz.classroom import store as S

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self, folder):
        self.folder = folder
        self.port = _free_port()
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
             "--appendfsync", "always", "--dir", str(self.folder), "--daemonize", "no"],
            cwd=self.folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if redis.Redis(port=self.port, socket_connect_timeout=0.5).ping():
                    return
            except redis.exceptions.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("redis-server did not answer")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"


@pytest.fixture(params=["sqlite", "redis"])
def backend(request, tmp_path):
    """(url, restart): the store's URL and a function that restarts the backend (close and reopen the
    SQLite file; stop and start redis-server on its append-only file)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'class.sqlite3'}", lambda: None
        return
    if not os.path.exists(REDIS):
        if os.environ.get("CI"):
            pytest.fail("redis-server is missing (apt-get install redis-server)")
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path)
    server.start()

    def restart():
        server.stop()
        server.start()

    yield server.url, restart
    server.stop()


def test_session_teacher_state_and_version(backend):
    url, _ = backend
    st = S.open_store(url)
    s = st.create_session()
    assert len(s.code) == 5 and set(s.code) <= set(S.CODE_ALPHABET)
    assert st.get_session(s.code) == s
    assert st.version(s.code) == 0
    assert st.set_teacher_state(s.code, "kernel_sandbox", {"sb_preset": "Sobel x", "sb_stride": "2"}) == 1
    assert st.set_teacher_state(s.code.lower(), "low_rank", {"lr_k": "30", "multi": ["a", "b"]}) == 2
    t = st.teacher_state(s.code)
    assert (t.page, t.params, t.version) == ("low_rank", {"lr_k": "30", "multi": ["a", "b"]}, 2)
    with pytest.raises(S.NotFound):
        st.version("ZZZZZ" if s.code != "ZZZZZ" else "YYYYY")
    with pytest.raises(S.NotFound):
        S.normalize_code("<b>x</b>")
    st.close()


def test_students_join_rejoin_heartbeat_and_counts(backend):
    url, _ = backend
    st = S.open_store(url)
    code = st.create_session().code
    now = time.time()
    a = st.join(code, "a" * 16, "Ada", now=now)
    st.join(code, "b" * 16, now=now)
    st.heartbeat(code, "b" * 16, following=False, now=now)
    assert st.counts(code, now=now) == S.Counts(connected=2, following=1, joined=2)
    # a drops and comes back with the same id: same student, name kept, nothing duplicated
    again = st.join(code, "a" * 16, "", now=now + 100)
    assert again.sid == a.sid and again.name == "Ada"
    assert st.counts(code, now=now + 100) == S.Counts(connected=1, following=1, joined=2)
    with pytest.raises(S.NotFound):
        st.heartbeat(code, "nobody", True)
    st.close()


def test_questions_answers_histogram_and_reveal(backend):
    url, _ = backend
    st = S.open_store(url)
    code = st.create_session().code
    for i in range(5):
        st.join(code, f"s{i}")
    qid = st.push_question(code, "Output size?", ["3×3", "4×4", "5×5"], "4×4", "(8 − 3 + 2·0)/2 + 1 = 3.5 → 3")
    q = st.current_question(code)
    assert (q.qid, q.choices, q.revealed) == (qid, ("3×3", "4×4", "5×5"), False)
    for i, v in enumerate(["4×4", "4×4", "3×3", "5×5", "4×4"]):
        st.answer(code, qid, f"s{i}", v)
    st.answer(code, qid, "s3", "4×4")  # a student changes their mind: one answer each
    assert st.answers(code, qid) == {"4×4": 4, "3×3": 1}
    with pytest.raises(S.NotFound):
        st.answer(code, qid, "stranger", "4×4")
    st.reveal(code, qid)
    assert st.current_question(code).revealed
    qid2 = st.push_question(code, "Rank?", [], "12", "k = 12 is the first above 30 dB")
    assert qid2 != qid and st.current_question(code).qid == qid2 and st.answers(code, qid2) == {}
    st.close()


def test_limits(backend, tmp_path):
    url, _ = backend
    lim = S.Limits(sessions=3, students=4, name=10, prompt=50, params=200)
    st = S.open_store(url, limits=lim)
    codes = [st.create_session().code for _ in range(3)]
    with pytest.raises(S.Full):
        st.create_session()
    for i in range(4):
        st.join(codes[0], f"s{i}")
    with pytest.raises(S.Full):
        st.join(codes[0], "s5")
    st.join(codes[0], "s1")  # rejoining is not a new seat
    with pytest.raises(S.TooLong):
        st.join(codes[1], "x", "n" * 11)
    with pytest.raises(S.TooLong):
        st.push_question(codes[1], "?" * 51, [], "1", "")
    with pytest.raises(S.TooLong):
        st.set_teacher_state(codes[1], "p", {"k": "v" * 300})
    assert st.version(codes[1]) == 0
    st.close()


def test_expiry_removes_old_sessions(backend):
    url, _ = backend
    st = S.open_store(url, limits=S.Limits(ttl=60, sessions=2))
    t0 = time.time()
    old = st.create_session(now=t0 - 120).code     # expired a minute ago
    assert st.get_session(old) is None
    with pytest.raises(S.NotFound):
        st.join(old, "t")
    assert st.expire(now=t0) == 1
    assert st.session_count(now=t0) == 0
    a = st.create_session(now=t0).code
    b = st.create_session(now=t0).code            # the expired one no longer takes a slot
    assert st.get_session(a) and st.get_session(b)
    assert st.get_session(a, now=t0 + 61) is None
    st.close()


def test_answers_survive_a_restart(backend):
    url, restart = backend
    st = S.open_store(url)
    code = st.create_session().code
    st.set_teacher_state(code, "relu_pooling", {"rp_side": "64"})
    for i in range(3):
        st.join(code, f"s{i}", f"n{i}")
    qid = st.push_question(code, "Max of the window?", ["1", "2"], "2", "")
    for i, v in enumerate("212"):
        st.answer(code, qid, f"s{i}", v)
    st.close()
    restart()
    st = S.open_store(url)
    assert st.answers(code, qid) == {"2": 2, "1": 1}
    assert st.teacher_state(code).params == {"rp_side": "64"}
    assert st.join(code, "s1").name == "n1"       # a dropped student rejoins the same session
    st.close()


def test_concurrent_writers_threads(backend):
    url, _ = backend
    st = S.open_store(url)
    code = st.create_session().code
    qid = st.push_question(code, "?", ["a", "b"], "a", "")
    errors = []

    def student(i):
        try:
            own = S.open_store(url) if i % 2 else st   # half share the store object, half open their own
            own.join(code, f"t{i}")
            for _ in range(5):
                own.heartbeat(code, f"t{i}", following=i % 3 == 0)
            own.answer(code, qid, f"t{i}", "ab"[i % 2])
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    def teacher():
        for j in range(40):
            st.set_teacher_state(code, "kernel_sandbox", {"sb_stride": str(j)})

    threads = [threading.Thread(target=student, args=(i,)) for i in range(40)] + [threading.Thread(target=teacher)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert st.answers(code, qid) == {"a": 20, "b": 20}
    assert st.counts(code).joined == 40
    assert st.version(code) == 40 and st.teacher_state(code).params == {"sb_stride": "39"}
    st.close()


def _process_writer(url, code, qid, first, n):
    st = S.open_store(url)
    for i in range(first, first + n):
        st.join(code, f"p{i}")
        st.answer(code, qid, f"p{i}", str(i % 3))
        st.set_teacher_state(code, "low_rank", {"lr_k": str(i)})
    st.close()


def test_concurrent_writers_processes(backend):
    url, _ = backend
    st = S.open_store(url)
    code = st.create_session().code
    qid = st.push_question(code, "?", ["0", "1", "2"], "0", "")
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_process_writer, args=(url, code, qid, 25 * k, 25)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    assert st.answers(code, qid) == {"0": 34, "1": 33, "2": 33}
    assert st.counts(code).joined == 100
    assert st.version(code) == 100      # no lost update of the counter
    st.close()


def test_bad_store_setting():
    with pytest.raises(S.StoreError):
        S.open_store("postgres://x")


def test_pulse_changes_with_the_teacher_and_the_question(backend):
    """The watcher's one read per class: (version, current question, revealed), each part moving on its own."""
    url, _ = backend
    st = S.open_store(url)
    code = st.create_session().code
    st.join(code, "s1")
    assert st.pulse(code) == (0, 0, False)
    st.set_teacher_state(code, "kernel_sandbox", {"stride": "2"})
    assert st.pulse(code.lower()) == (1, 0, False)
    qid = st.push_question(code, "Output size?", ["3×3", "4×4"], "4×4", "")
    assert st.pulse(code) == (1, qid, False)
    st.answer(code, qid, "s1", "4×4")       # an answer is not a change of the class
    assert st.pulse(code) == (1, qid, False)
    st.reveal(code, qid)
    assert st.pulse(code) == (1, qid, True)
    st.set_teacher_state(code, "low_rank", {})
    assert st.pulse(code) == (2, qid, True)
    with pytest.raises(S.NotFound):
        st.pulse("ZZZZZ" if code != "ZZZZZ" else "YYYYY")
    st.close()


def test_watch_one_read_per_class_and_tick_for_every_subscriber(backend):
    """One watcher per server: a tick reads each followed class once however many sessions follow it, calls
    every subscriber of a class whose pulse changed (and only those), drops a subscriber whose session is
    gone, and tells the subscribers once when the class has ended."""
    from cnn_viz.classroom.watch import Watch

    url, _ = backend
    st = S.open_store(url)
    a, b = st.create_session().code, st.create_session().code
    w = Watch(st, period=3600)   # ticks by hand (check()), the thread only wakes on poke()
    calls: list[tuple[str, object]] = []
    for i in range(40):
        w.subscribe(a, f"a{i}", lambda p, i=i: calls.append((f"a{i}", p)))
    gone = []
    w.subscribe(b, "b0", lambda p: calls.append(("b0", p)))
    w.subscribe(b, "b1", lambda p: gone.append(p) or False)   # its session closed: returns False
    assert (w.subscribers(a), w.subscribers(b)) == (40, 2)
    reads = w.reads
    assert w.check() == 0 and calls == []                 # nothing changed: nobody is called
    assert w.reads - reads == 2                           # one read per class, not one per subscriber
    st.set_teacher_state(a, "kernel_sandbox", {"stride": "3"})
    assert w.check() == 40
    assert sorted(k for k, _ in calls) == sorted(f"a{i}" for i in range(40))
    assert {p for _, p in calls} == {(1, 0, False)}
    calls.clear()
    assert w.check() == 0                                 # seen once, not again
    qid = st.push_question(b, "Rank?", [], "12", "")
    assert w.check() == 2 and calls == [("b0", (0, qid, False))] and gone == [(0, qid, False)]
    assert w.subscribers(b) == 1                          # the closed session was dropped
    # a session moves to another class: it is a subscriber of that one only
    w.subscribe(b, "a0", lambda p: calls.append(("a0@b", p)))
    assert (w.subscribers(a), w.subscribers(b)) == (39, 2)
    w.unsubscribe("a1")
    assert w.subscribers(a) == 38
    # the class ends: its subscribers hear it once (None) and are dropped
    calls.clear()
    st.expire(now=time.time() + st.limits.ttl + 1)
    w.check()
    assert {p for _, p in calls} == {None} and len(calls) == 40   # 38 of a, 2 of b
    assert (w.subscribers(a), w.subscribers(b)) == (0, 0)
    st.close()


def test_watch_thread_wakes_on_poke(backend):
    """The watcher's thread: a poke (the teacher's own server after its store write) makes it look at once."""
    from cnn_viz.classroom.watch import Watch

    url, _ = backend
    st = S.open_store(url)
    code = st.create_session().code
    w = Watch(st, period=3600)
    got = threading.Event()
    w.subscribe(code, "s", lambda p: got.set())
    st.set_teacher_state(code, "relu_pooling", {"rp_neg": "true"})
    w.poke()
    assert got.wait(20), "the watcher did not look after a poke"
    st.close()
