"""The class session store: one interface, two backends (SQLite, the default, and Redis).

A class session is a short join code with a creation time and an expiry. It holds the teacher's state
(the page and its URL query parameters, with a version counter that students poll), the connected
students (a heartbeat, following or exploring, an optional display name), the questions the teacher
pushes and the students' answers (anonymous unless a student gives a name).

``open_store()`` picks the backend from one setting, ``CNN_VIZ_STORE``:
``sqlite:///path/to/file.sqlite3`` (one file in WAL mode: several server processes on one machine share
it, and nothing is lost when a server restarts) or ``redis://127.0.0.1:6379/0`` (replicas on several
machines; answers survive a replica restart because they live in Redis). Without the setting the SQLite
file is ``~/.cache/cnn_viz/classroom.sqlite3``.

Everything is bounded: sessions, students per session and every text length (``Limits``); sessions expire
``ttl`` seconds after they start and ``expire()`` (called on every ``create_session``) removes them.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

# No 0/O, 1/I/L: a code read from the back row of a room.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 5
ONLINE_SECONDS = 15.0  # a student whose last heartbeat is older is no longer counted as connected


@dataclass(frozen=True)
class Limits:
    sessions: int = 50             # live sessions per store
    students: int = 400            # students per session
    ttl: float = 4 * 3600.0        # seconds from start to expiry
    name: int = 40                 # display name, characters
    prompt: int = 400              # question prompt
    explanation: int = 1200        # question explanation
    choices: int = 8               # choices per question
    choice: int = 80               # characters per choice / answer
    params: int = 8000             # the teacher's query parameters as JSON, characters
    page: int = 200


class StoreError(ValueError):
    """Bad input or a full store: the page shows the message and carries on."""


class NotFound(StoreError):
    pass


class Full(StoreError):
    pass


class TooLong(StoreError):
    pass


@dataclass(frozen=True)
class Session:
    code: str
    created: float
    expires: float


@dataclass(frozen=True)
class TeacherState:
    page: str
    params: dict[str, str | list[str]]
    version: int


@dataclass(frozen=True)
class Student:
    sid: str
    name: str
    following: bool
    last_seen: float


@dataclass(frozen=True)
class Question:
    qid: int
    prompt: str
    choices: tuple[str, ...]   # empty: a number is asked for
    answer: str
    explanation: str
    pushed: float
    revealed: bool


@dataclass(frozen=True)
class Counts:
    connected: int
    following: int
    joined: int = 0


def normalize_code(code: object) -> str:
    """A typed or linked join code, upper-cased and stripped; anything else raises NotFound."""
    s = str(code or "").strip().upper()
    if len(s) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in s):
        raise NotFound("That is not a class code: a code has 5 letters and digits, as shown on the teacher's screen.")
    return s


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def new_student_id() -> str:
    return secrets.token_hex(8)


def _check_len(what: str, s: str, limit: int) -> str:
    s = "" if s is None else str(s)
    if len(s) > limit:
        raise TooLong(f"The {what} is too long ({len(s)} characters; at most {limit}).")
    return s


def _clean_params(params: dict, limits: Limits) -> str:
    if not isinstance(params, dict):
        raise StoreError("The teacher's state must be a mapping of query parameters.")
    clean: dict[str, str | list[str]] = {}
    for k, v in params.items():
        clean[str(k)] = [str(x) for x in v] if isinstance(v, (list, tuple)) else str(v)
    text = json.dumps(clean, sort_keys=True, ensure_ascii=False)
    return _check_len("page state", text, limits.params)


def _clean_question(prompt: str, choices, answer: str, explanation: str, limits: Limits):
    prompt = _check_len("question", prompt, limits.prompt)
    explanation = _check_len("explanation", explanation, limits.explanation)
    choices = tuple(str(c) for c in (choices or ()))
    if len(choices) > limits.choices:
        raise TooLong(f"Too many choices ({len(choices)}; at most {limits.choices}).")
    for c in choices:
        _check_len("choice", c, limits.choice)
    answer = _check_len("answer", answer, limits.choice)
    return prompt, choices, answer, explanation


class Store:
    """The interface both backends implement (see the module docstring)."""

    limits: Limits

    # sessions
    def create_session(self, now: float | None = None) -> Session: ...
    def get_session(self, code: str, now: float | None = None) -> Session | None: ...
    def expire(self, now: float | None = None) -> int: ...
    def session_count(self, now: float | None = None) -> int: ...
    # the teacher
    def set_teacher_state(self, code: str, page: str, params: dict) -> int: ...
    def teacher_state(self, code: str) -> TeacherState: ...
    def version(self, code: str) -> int: ...
    def pulse(self, code: str) -> tuple[int, int, bool]: ...
    # students
    def join(self, code: str, sid: str, name: str = "", now: float | None = None) -> Student: ...
    def heartbeat(self, code: str, sid: str, following: bool, now: float | None = None) -> None: ...
    def students(self, code: str) -> list[Student]: ...
    # questions and answers
    def push_question(self, code: str, prompt: str, choices, answer: str, explanation: str,
                      now: float | None = None) -> int: ...
    def current_question(self, code: str) -> Question | None: ...
    def reveal(self, code: str, qid: int) -> None: ...
    def answer(self, code: str, qid: int, sid: str, value: str, now: float | None = None) -> None: ...
    def answers(self, code: str, qid: int) -> dict[str, int]: ...
    def close(self) -> None: ...

    def counts(self, code: str, now: float | None = None, online: float = ONLINE_SECONDS) -> Counts:
        now = time.time() if now is None else now
        st = self.students(code)
        live = [s for s in st if now - s.last_seen <= online]
        return Counts(connected=len(live), following=sum(s.following for s in live), joined=len(st))

    def _live(self, code: str, now: float | None = None) -> Session:
        s = self.get_session(normalize_code(code), now)
        if s is None:
            raise NotFound("No class with that code is running (it may have ended or expired).")
        return s


# ------------------------------------------------------------------------------------------ SQLite
_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (code TEXT PRIMARY KEY, created REAL, expires REAL,
    page TEXT NOT NULL DEFAULT '', params TEXT NOT NULL DEFAULT '{}', version INTEGER NOT NULL DEFAULT 0,
    current_q INTEGER);
CREATE TABLE IF NOT EXISTS students (code TEXT, sid TEXT, name TEXT, following INTEGER, last_seen REAL,
    PRIMARY KEY (code, sid));
CREATE TABLE IF NOT EXISTS questions (qid INTEGER PRIMARY KEY AUTOINCREMENT, code TEXT, prompt TEXT,
    choices TEXT, answer TEXT, explanation TEXT, pushed REAL, revealed INTEGER DEFAULT 0);
CREATE TABLE IF NOT EXISTS answers (qid INTEGER, sid TEXT, value TEXT, at REAL, PRIMARY KEY (qid, sid));
CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expires);
CREATE INDEX IF NOT EXISTS questions_code ON questions (code);
"""


class SQLiteStore(Store):
    """One SQLite file in WAL mode. One connection per store object, used under a lock; other processes
    share the file through SQLite's own locking (writes are ``BEGIN IMMEDIATE`` with a busy timeout)."""

    def __init__(self, path: str | Path, limits: Limits | None = None):
        self.limits = limits or Limits()
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        with self._lock:
            self._db.executescript(_SCHEMA)

    def _write(self, fn):
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                out = fn(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            return out

    def _read(self, sql, args=()):
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def create_session(self, now=None):
        now = time.time() if now is None else now

        def tx(db):
            db.execute("DELETE FROM sessions WHERE expires <= ?", (now,))
            n = db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
            if n >= self.limits.sessions:
                raise Full(f"The server already runs {n} class sessions (the limit); end one or wait for one to expire.")
            while True:
                code = new_code()
                if db.execute("SELECT 1 FROM sessions WHERE code=?", (code,)).fetchone() is None:
                    break
            db.execute("INSERT INTO sessions (code, created, expires) VALUES (?,?,?)", (code, now, now + self.limits.ttl))
            return Session(code, now, now + self.limits.ttl)

        out = self._write(tx)
        self.expire(now)
        return out

    def get_session(self, code, now=None):
        now = time.time() if now is None else now
        rows = self._read("SELECT code, created, expires FROM sessions WHERE code=? AND expires > ?", (code, now))
        return Session(*rows[0]) if rows else None

    def session_count(self, now=None):
        now = time.time() if now is None else now
        return self._read("SELECT COUNT(*) FROM sessions WHERE expires > ?", (now,))[0][0]

    def expire(self, now=None):
        now = time.time() if now is None else now

        def tx(db):
            codes = [r[0] for r in db.execute("SELECT code FROM sessions WHERE expires <= ?", (now,))]
            for c in codes:
                db.execute("DELETE FROM answers WHERE qid IN (SELECT qid FROM questions WHERE code=?)", (c,))
                db.execute("DELETE FROM questions WHERE code=?", (c,))
                db.execute("DELETE FROM students WHERE code=?", (c,))
                db.execute("DELETE FROM sessions WHERE code=?", (c,))
            return len(codes)

        return self._write(tx)

    def set_teacher_state(self, code, page, params):
        code = self._live(code).code
        page = _check_len("page", page, self.limits.page)
        text = _clean_params(params, self.limits)

        def tx(db):
            db.execute("UPDATE sessions SET page=?, params=?, version=version+1 WHERE code=?", (page, text, code))
            return db.execute("SELECT version FROM sessions WHERE code=?", (code,)).fetchone()[0]

        return self._write(tx)

    def teacher_state(self, code):
        code = normalize_code(code)
        rows = self._read("SELECT page, params, version FROM sessions WHERE code=?", (code,))
        if not rows:
            raise NotFound("No class with that code is running.")
        return TeacherState(rows[0][0], json.loads(rows[0][1]), rows[0][2])

    def version(self, code):
        rows = self._read("SELECT version FROM sessions WHERE code=?", (normalize_code(code),))
        if not rows:
            raise NotFound("No class with that code is running.")
        return rows[0][0]

    def pulse(self, code):
        rows = self._read("SELECT s.version, COALESCE(s.current_q, 0), COALESCE(q.revealed, 0) FROM sessions s "
                          "LEFT JOIN questions q ON q.qid = s.current_q WHERE s.code=?", (normalize_code(code),))
        if not rows:
            raise NotFound("No class with that code is running.")
        return int(rows[0][0]), int(rows[0][1]), bool(rows[0][2])

    def join(self, code, sid, name="", now=None):
        now = time.time() if now is None else now
        code = self._live(code, now).code
        sid = _check_len("student id", sid, 64)
        name = _check_len("display name", (name or "").strip(), self.limits.name)

        def tx(db):
            row = db.execute("SELECT name, following FROM students WHERE code=? AND sid=?", (code, sid)).fetchone()
            if row is None:
                n = db.execute("SELECT COUNT(*) FROM students WHERE code=?", (code,)).fetchone()[0]
                if n >= self.limits.students:
                    raise Full(f"This class is full ({n} students, the limit).")
                db.execute("INSERT INTO students VALUES (?,?,?,?,?)", (code, sid, name, 1, now))
                return Student(sid, name, True, now)
            new_name = name or row[0]
            db.execute("UPDATE students SET name=?, last_seen=? WHERE code=? AND sid=?", (new_name, now, code, sid))
            return Student(sid, new_name, bool(row[1]), now)

        return self._write(tx)

    def heartbeat(self, code, sid, following, now=None):
        now = time.time() if now is None else now
        code = normalize_code(code)

        def tx(db):
            cur = db.execute("UPDATE students SET following=?, last_seen=? WHERE code=? AND sid=?",
                             (int(bool(following)), now, code, sid))
            if cur.rowcount == 0:
                raise NotFound("This student has not joined that class.")

        self._write(tx)

    def students(self, code):
        rows = self._read("SELECT sid, name, following, last_seen FROM students WHERE code=?", (normalize_code(code),))
        return [Student(r[0], r[1], bool(r[2]), r[3]) for r in rows]

    def push_question(self, code, prompt, choices, answer, explanation, now=None):
        now = time.time() if now is None else now
        code = self._live(code, now).code
        prompt, choices, answer, explanation = _clean_question(prompt, choices, answer, explanation, self.limits)

        def tx(db):
            cur = db.execute("INSERT INTO questions (code, prompt, choices, answer, explanation, pushed) VALUES (?,?,?,?,?,?)",
                             (code, prompt, json.dumps(choices), answer, explanation, now))
            db.execute("UPDATE sessions SET current_q=? WHERE code=?", (cur.lastrowid, code))
            return cur.lastrowid

        return self._write(tx)

    def current_question(self, code):
        rows = self._read("SELECT q.qid, q.prompt, q.choices, q.answer, q.explanation, q.pushed, q.revealed "
                          "FROM sessions s JOIN questions q ON q.qid = s.current_q WHERE s.code=?", (normalize_code(code),))
        if not rows:
            return None
        r = rows[0]
        return Question(r[0], r[1], tuple(json.loads(r[2])), r[3], r[4], r[5], bool(r[6]))

    def _question_of(self, code, qid):
        rows = self._read("SELECT code FROM questions WHERE qid=?", (int(qid),))
        if not rows or rows[0][0] != normalize_code(code):
            raise NotFound("No such question in this class.")

    def reveal(self, code, qid):
        self._question_of(code, qid)
        self._write(lambda db: db.execute("UPDATE questions SET revealed=1 WHERE qid=?", (int(qid),)))

    def answer(self, code, qid, sid, value, now=None):
        now = time.time() if now is None else now
        self._live(code, now)
        self._question_of(code, qid)
        value = _check_len("answer", str(value).strip(), self.limits.choice)

        def tx(db):
            if db.execute("SELECT 1 FROM students WHERE code=? AND sid=?", (normalize_code(code), sid)).fetchone() is None:
                raise NotFound("Join the class before answering.")
            db.execute("INSERT INTO answers VALUES (?,?,?,?) ON CONFLICT (qid, sid) DO UPDATE SET value=excluded.value, at=excluded.at",
                       (int(qid), sid, value, now))

        self._write(tx)

    def answers(self, code, qid):
        self._question_of(code, qid)
        rows = self._read("SELECT value, COUNT(*) FROM answers WHERE qid=? GROUP BY value", (int(qid),))
        return {r[0]: r[1] for r in rows}

    def close(self):
        with self._lock:
            self._db.close()


# ------------------------------------------------------------------------------------------- Redis
# Keys: cv:sessions (sorted set code → expires), cv:s:<code> (hash: created, expires, page, params,
# version, current_q, qseq), cv:st:<code> (hash sid → JSON student), cv:q:<code>:<qid> (hash),
# cv:a:<code>:<qid> (hash sid → answer). Every per-session key expires with its session.
_CREATE_LUA = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return -1 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
redis.call('HSET', KEYS[2], 'created', ARGV[2], 'expires', ARGV[4], 'page', '', 'params', '{}', 'version', 0, 'qseq', 0)
redis.call('EXPIREAT', KEYS[2], math.ceil(tonumber(ARGV[4])))
return 1
"""
_JOIN_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -2 end
local old = redis.call('HGET', KEYS[2], ARGV[1])
if old then return old end
if redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[3]) then return -1 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('EXPIREAT', KEYS[2], math.ceil(tonumber(ARGV[4])))
return 1
"""
_STATE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -2 end
redis.call('HSET', KEYS[1], 'page', ARGV[1], 'params', ARGV[2])
return redis.call('HINCRBY', KEYS[1], 'version', 1)
"""


class RedisStore(Store):
    def __init__(self, url: str, limits: Limits | None = None):
        import redis

        self.limits = limits or Limits()
        self.url = url
        self._r = redis.Redis.from_url(url, decode_responses=True, socket_timeout=10, socket_connect_timeout=5)
        self._create = self._r.register_script(_CREATE_LUA)
        self._join = self._r.register_script(_JOIN_LUA)
        self._state = self._r.register_script(_STATE_LUA)

    @staticmethod
    def _k(code):
        return f"cv:s:{code}"

    def create_session(self, now=None):
        now = time.time() if now is None else now
        exp = now + self.limits.ttl
        self.expire(now)
        for _ in range(100):
            code = new_code()
            r = self._create(keys=["cv:sessions", self._k(code)], args=[code, repr(now), self.limits.sessions, repr(exp)])
            if r == -1:
                raise Full(f"The server already runs {self.limits.sessions} class sessions (the limit); "
                           "end one or wait for one to expire.")
            if r == 1:
                return Session(code, now, exp)
        raise Full("Could not find a free class code.")

    def get_session(self, code, now=None):
        now = time.time() if now is None else now
        h = self._r.hmget(self._k(code), "created", "expires")
        if h[0] is None or float(h[1]) <= now:
            return None
        return Session(code, float(h[0]), float(h[1]))

    def session_count(self, now=None):
        now = time.time() if now is None else now
        return self._r.zcount("cv:sessions", f"({now!r}", "+inf")

    def expire(self, now=None):
        now = time.time() if now is None else now
        codes = self._r.zrangebyscore("cv:sessions", "-inf", repr(now))
        for c in codes:
            n = int(self._r.hget(self._k(c), "qseq") or 0)
            keys = [self._k(c), f"cv:st:{c}"] + [f"cv:q:{c}:{i}" for i in range(1, n + 1)] \
                + [f"cv:a:{c}:{i}" for i in range(1, n + 1)]
            p = self._r.pipeline()
            p.delete(*keys)
            p.zrem("cv:sessions", c)
            p.execute()
        return len(codes)

    def set_teacher_state(self, code, page, params):
        code = self._live(code).code
        page = _check_len("page", page, self.limits.page)
        text = _clean_params(params, self.limits)
        v = self._state(keys=[self._k(code)], args=[page, text])
        if v == -2:
            raise NotFound("No class with that code is running.")
        return int(v)

    def teacher_state(self, code):
        code = normalize_code(code)
        page, params, version = self._r.hmget(self._k(code), "page", "params", "version")
        if version is None:
            raise NotFound("No class with that code is running.")
        return TeacherState(page or "", json.loads(params or "{}"), int(version))

    def version(self, code):
        v = self._r.hget(self._k(normalize_code(code)), "version")
        if v is None:
            raise NotFound("No class with that code is running.")
        return int(v)

    def pulse(self, code):
        code = normalize_code(code)
        version, qid = self._r.hmget(self._k(code), "version", "current_q")
        if version is None:
            raise NotFound("No class with that code is running.")
        revealed = self._r.hget(f"cv:q:{code}:{qid}", "revealed") if qid else None
        return int(version), int(qid or 0), revealed == "1"

    def join(self, code, sid, name="", now=None):
        now = time.time() if now is None else now
        s = self._live(code, now)
        sid = _check_len("student id", sid, 64)
        name = _check_len("display name", (name or "").strip(), self.limits.name)
        rec = {"name": name, "following": True, "last_seen": now}
        r = self._join(keys=[self._k(s.code), f"cv:st:{s.code}"], args=[sid, json.dumps(rec), self.limits.students, repr(s.expires)])
        if r == -2:
            raise NotFound("No class with that code is running.")
        if r == -1:
            raise Full(f"This class is full ({self.limits.students} students, the limit).")
        if r == 1:
            return Student(sid, name, True, now)
        old = json.loads(r)
        old["name"] = name or old["name"]
        old["last_seen"] = now
        self._r.hset(f"cv:st:{s.code}", sid, json.dumps(old))
        return Student(sid, old["name"], bool(old["following"]), now)

    def heartbeat(self, code, sid, following, now=None):
        now = time.time() if now is None else now
        code = normalize_code(code)
        key = f"cv:st:{code}"
        old = self._r.hget(key, sid)
        if old is None:
            raise NotFound("This student has not joined that class.")
        rec = json.loads(old)
        rec.update(following=bool(following), last_seen=now)
        self._r.hset(key, sid, json.dumps(rec))

    def students(self, code):
        out = []
        for sid, v in self._r.hgetall(f"cv:st:{normalize_code(code)}").items():
            d = json.loads(v)
            out.append(Student(sid, d["name"], bool(d["following"]), float(d["last_seen"])))
        return out

    def push_question(self, code, prompt, choices, answer, explanation, now=None):
        now = time.time() if now is None else now
        s = self._live(code, now)
        prompt, choices, answer, explanation = _clean_question(prompt, choices, answer, explanation, self.limits)
        qid = int(self._r.hincrby(self._k(s.code), "qseq", 1))
        p = self._r.pipeline(transaction=True)
        qk = f"cv:q:{s.code}:{qid}"
        p.hset(qk, mapping={"prompt": prompt, "choices": json.dumps(choices), "answer": answer,
                            "explanation": explanation, "pushed": repr(now), "revealed": 0})
        p.expireat(qk, int(s.expires) + 1)
        p.hset(self._k(s.code), "current_q", qid)
        p.execute()
        return qid

    def current_question(self, code):
        code = normalize_code(code)
        qid = self._r.hget(self._k(code), "current_q")
        if qid is None:
            return None
        d = self._r.hgetall(f"cv:q:{code}:{qid}")
        if not d:
            return None
        return Question(int(qid), d["prompt"], tuple(json.loads(d["choices"])), d["answer"], d["explanation"],
                        float(d["pushed"]), d["revealed"] == "1")

    def _question_of(self, code, qid):
        if not self._r.exists(f"cv:q:{normalize_code(code)}:{int(qid)}"):
            raise NotFound("No such question in this class.")

    def reveal(self, code, qid):
        self._question_of(code, qid)
        self._r.hset(f"cv:q:{normalize_code(code)}:{int(qid)}", "revealed", 1)

    def answer(self, code, qid, sid, value, now=None):
        now = time.time() if now is None else now
        s = self._live(code, now)
        self._question_of(s.code, qid)
        value = _check_len("answer", str(value).strip(), self.limits.choice)
        if not self._r.hexists(f"cv:st:{s.code}", sid):
            raise NotFound("Join the class before answering.")
        ak = f"cv:a:{s.code}:{int(qid)}"
        p = self._r.pipeline(transaction=True)
        p.hset(ak, sid, value)
        p.expireat(ak, int(s.expires) + 1)
        p.execute()

    def answers(self, code, qid):
        self._question_of(code, qid)
        out: dict[str, int] = {}
        for v in self._r.hvals(f"cv:a:{normalize_code(code)}:{int(qid)}"):
            out[v] = out.get(v, 0) + 1
        return out

    def close(self):
        self._r.close()


def default_url() -> str:
    return "sqlite:///" + str(Path.home() / ".cache" / "cnn_viz" / "classroom.sqlite3")


def open_store(url: str | None = None, limits: Limits | None = None) -> Store:
    """The store named by ``url`` or ``CNN_VIZ_STORE`` (``sqlite:///path`` or ``redis://host:port/db``)."""
    url = url or os.environ.get("CNN_VIZ_STORE") or default_url()
    if url.startswith("sqlite:///"):
        return SQLiteStore(url[len("sqlite:///"):], limits)  # sqlite:////abs/path or sqlite:///relative
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisStore(url, limits)
    raise StoreError(f"CNN_VIZ_STORE must start with sqlite:/// or redis:// (got {url[:40]!r}).")
