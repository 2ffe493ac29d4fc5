"""Classroom mode: the sidebar panel of every page, called once from app.py around ``nav.run()``.

Teacher (``CNN_VIZ_TEACHER_PIN``, or a file named by ``CNN_VIZ_TEACHER_PIN_FILE``): start a class → a join
code, a link and a QR code, large; how many students are connected and following; push a question about
the current page; the live histogram of answers; reveal. Every teacher run publishes the page and its URL
query parameters to the store (``publish``), which bumps the session's version counter.

Student: join with the code (or the link's ``?class=`` parameter). The server tells the students of a class
when it changes: one watcher thread per server process reads each class's pulse from the store every 0.2 s
(``cnn_viz/classroom/watch.py``; the teacher's own server is poked at once after its write), and for every
subscribed session of that class starts, a few at a time (``Stagger``), either the load of the teacher's
page and settings (a follower that does not show them yet: one run) or a run of its follow fragment (a new
question, a reveal). An idle class costs no runs; the follow fragment's own timer (every 5 s) keeps the
heartbeat and catches anything missed (every 1 s where the server cannot push: under AppTest, or with
``CNN_VIZ_FOLLOW_PUSH=0``). The teacher's page and query parameters are loaded the way
the browser's back button loads a URL (every URL-bound widget takes the URL's value, a missing one its
default). "Explore on my own" keeps the teacher's last state and lets the student change anything; their
own settings are kept per page and come back the next time they explore. A student whose connection drops
comes back through ``?class=CODE&me=ID`` in the address bar and rejoins the same seat.
"""

from __future__ import annotations

import os
import time
import urllib.parse
from pathlib import Path

import streamlit as st

from cnn_viz.classroom import figures as class_figures
from cnn_viz.classroom import store as S
from cnn_viz.common.text import md
from cnn_viz.ui import cached
from cnn_viz.ui.widgets import plot

OWN_KEYS = ("class", "me")  # the classroom's own query parameters: never followed, never published
POLL_SECONDS = 1.0        # the follow fragment's timer where the server cannot rerun it (no Streamlit runtime)
TEACHER_POLL_SECONDS = 2.0
HEARTBEAT_SECONDS = 5.0   # the follow fragment's timer (heartbeat, a missed change) where the watcher pushes
MAX_LOADS = 3             # loads of one teacher version in a student's session (see _student_live)
_ROLE, _CODE, _SID = "cls_role", "cls_code", "cls_sid"


def teacher_pin() -> str | None:
    """The teacher PIN or passphrase from the environment or the settings file; None: the role is off."""
    pin = os.environ.get("CNN_VIZ_TEACHER_PIN", "").strip()
    path = os.environ.get("CNN_VIZ_TEACHER_PIN_FILE", "").strip()
    if not pin and path:
        try:
            pin = Path(path).read_text().strip()
        except OSError:
            pin = ""
    return pin or None


def store_url() -> str:
    return os.environ.get("CNN_VIZ_STORE") or S.default_url()


def _store() -> S.Store | None:
    try:
        return cached.open_store(store_url())
    except Exception as e:  # noqa: BLE001  (a bad setting or an unreachable Redis: say so, carry on)
        st.sidebar.warning(f"Classroom mode is unavailable: the class store could not be opened ({md(type(e).__name__)}: {md(e)}).")
        return None


def _page_params() -> dict[str, str | list[str]]:
    qp = st.query_params
    out: dict[str, str | list[str]] = {}
    for k in qp:
        if k in OWN_KEYS:
            continue
        vals = qp.get_all(k)
        out[k] = vals[0] if len(vals) == 1 else list(vals)
    return out


def _load(page: str, params: dict, own: dict) -> None:
    """Load ``page`` with the URL ``params`` as a history navigation does: every bound widget takes the
    URL's value (or its default when the URL has none). Ends this run."""
    from streamlit.commands.execution_control import _force_yield_point
    from streamlit.runtime.scriptrunner import get_script_run_ctx
    from streamlit.runtime.scriptrunner_utils.script_requests import RerunData

    ctx = get_script_run_ctx()
    pages = ctx.pages_manager.get_pages()
    target = next((h for h, p in pages.items() if p.get("url_pathname", "") == page), None)
    if target is None:
        return
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    qs = urllib.parse.urlencode({**params, **own}, doseq=True)
    msg = ForwardMsg()  # the browser's address bar (st.query_params refuses keys that widgets are bound to)
    msg.page_info_changed.query_string = qs
    ctx.query_string = qs
    ctx.enqueue(msg)
    ctx.script_requests.request_rerun(RerunData(
        query_string=qs, page_script_hash=target, is_history_navigation=True,
        cached_message_hashes=ctx.cached_message_hashes, context_info=ctx.context_info))
    _force_yield_point()


def _watch():
    return cached.class_watch(store_url())


def _pusher(code: str, sid: str, following: bool):
    """A watch callback for this session (from the watcher's thread; the work is done on the server's event
    loop), or None where runs cannot be pushed (no Streamlit runtime, e.g. AppTest). When the student follows
    and the teacher's page or settings differ from what the session last showed, it loads them directly (what
    ``_load`` does from inside a run: the address bar, then a history-navigation run of the teacher's page), so
    a change costs each follower one run; otherwise (a question, or exploring) it reruns the follow fragment.
    It returns False once the session is gone, and the watcher drops it."""
    try:
        from streamlit.proto.ClientState_pb2 import ClientState
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
        from streamlit.runtime import Runtime
        from streamlit.runtime.scriptrunner import get_script_run_ctx
        from streamlit.runtime.scriptrunner_utils.script_run_context import ThreadState

        ctx = get_script_run_ctx()
        fragment_id = ThreadState.get().fragment_id
        if ctx is None or not fragment_id or not _can_push():
            return None
        session_id, hashes = ctx.session_id, list(ctx.cached_message_hashes or ())
        pages = {p.get("url_pathname", ""): h for h, p in ctx.pages_manager.get_pages().items()}
        rt = Runtime.instance()
        loop, sessions = rt._get_async_objs().eventloop, rt._session_mgr
    except Exception:  # noqa: BLE001  (another Streamlit: the fragment's own timer polls instead)
        return None
    own = {"class": code, "me": sid}

    def run(session, teacher) -> None:
        try:
            last = session._client_state   # the last run's URL, page and browser context (no widget states)
            cs = ClientState()
            cs.CopyFrom(last)
            cs.cached_message_hashes.extend(hashes)   # big messages the browser holds come back as references
            # every widget's current value, as the browser sends them: a run given no values would take each
            # unbound widget's default (the follow toggle became "exploring" after a page switch in Chromium);
            # a history navigation still lets the URL win for the URL-bound ones
            cs.widget_states.widgets.extend(session._session_state.get_widget_states())
            target = pages.get(teacher.page) if following and teacher is not None and teacher.version > 0 else None
            if target is not None and (target != last.page_script_hash
                                       or _params_of(last.query_string) != teacher.params):
                qs = urllib.parse.urlencode({**teacher.params, **own}, doseq=True)
                msg = ForwardMsg()   # the browser's address bar, as _load does
                msg.page_info_changed.query_string = qs
                session._enqueue_forward_msg(msg)
                cs.query_string, cs.page_script_hash, cs.is_history_navigation = qs, target, True
            else:
                cs.fragment_id, cs.is_auto_rerun = fragment_id, True
            session.request_rerun(cs)
        except Exception:  # noqa: BLE001  (the timer still ticks)
            pass

    stagger = cached.follow_stagger()

    def push(_pulse) -> bool:
        info = sessions.get_active_session_info(session_id)
        if info is None:
            return False
        session, teacher = info.session, _watch().teacher(code)
        stagger.submit(loop, session_id, lambda: run(session, teacher), lambda: session._scriptrunner is None)
        return True

    return push


def _params_of(query_string: str) -> dict[str, str | list[str]]:
    """A query string's parameters as ``_page_params`` gives them (without the classroom's own)."""
    got = urllib.parse.parse_qs(query_string or "", keep_blank_values=True)
    return {k: v[0] if len(v) == 1 else v for k, v in got.items() if k not in OWN_KEYS}


def _can_push() -> bool:
    """The server can rerun a session's fragment itself (a running Streamlit server, and not switched off
    with ``CNN_VIZ_FOLLOW_PUSH=0``, which brings back the 1 s poll of every student)."""
    if os.environ.get("CNN_VIZ_FOLLOW_PUSH", "1").strip() == "0":
        return False
    try:
        from streamlit.runtime import Runtime

        if not Runtime.exists():
            return False
        rt = Runtime.instance()
        return hasattr(rt, "_get_async_objs") and hasattr(rt, "_session_mgr")
    except Exception:  # noqa: BLE001
        return False


def _poke() -> None:
    """This server just wrote the class: its watcher looks now instead of at its next tick."""
    try:
        _watch().poke()
    except Exception:  # noqa: BLE001
        pass


# ----------------------------------------------------------------------------------------- the panel
def panel(page_path: str) -> None:
    """The classroom panel in the sidebar; ``page_path`` is the running page's url path ("" = home)."""
    ss = st.session_state
    store = _store()
    if store is None:
        return
    _rejoin_from_url(store)
    role = ss.get(_ROLE)
    # Lazy for everyone not in a class (most visitors, every rerun of every page): closed, the join / teach
    # forms are not drawn at all (opening it reruns once). In a class it is drawn open or closed: the follow
    # fragment and the teacher's live counts live inside.
    box = st.sidebar.expander("Classroom", expanded=role is not None or "class" in st.query_params,
                              key="cls_panel", on_change="rerun")
    with box:
        if role == "teacher":
            _teacher(store, page_path)
        elif role == "student":
            _student(store, page_path)
        elif box.open:
            _entry(store)


def publish(page_path: str) -> None:
    """After the page ran: a teacher's page and URL settings go to the store when they changed."""
    ss = st.session_state
    if ss.get(_ROLE) != "teacher":
        return
    state = (page_path, _page_params())
    if ss.get("cls_pub") == state:
        return
    store = _store()
    try:
        store.set_teacher_state(ss[_CODE], *state)
        ss["cls_pub"] = state
        _poke()
    except S.StoreError as e:
        st.sidebar.warning(md(str(e), 300))


def _rejoin_from_url(store: S.Store) -> None:
    ss = st.session_state
    if ss.get(_ROLE) is not None or "class" not in st.query_params or "me" not in st.query_params:
        return
    try:
        s = store.join(st.query_params["class"], str(st.query_params["me"])[:64])
    except S.StoreError:
        return  # the form below says what is wrong when they try again
    ss[_ROLE], ss[_CODE], ss[_SID] = "student", S.normalize_code(st.query_params["class"]), s.sid
    ss["cls_following"] = s.following


def _entry(store: S.Store) -> None:
    ss = st.session_state
    st.markdown("**Join a class**")
    code = st.text_input("Class code", value=str(st.query_params.get("class", ""))[:12], max_chars=12, key="cls_code_in",
                         help="The code on the teacher's screen, or open the teacher's link.")
    name = st.text_input("Your name (optional)", max_chars=store.limits.name, key="cls_name_in",
                         help="Leave it empty to answer anonymously.")
    if st.button("Join", key="cls_join", type="primary"):
        sid = ss.get(_SID) or S.new_student_id()
        try:
            s = store.join(code, sid, name)
        except S.StoreError as e:
            st.error(md(str(e), 300))
        else:
            ss[_ROLE], ss[_CODE], ss[_SID], ss["cls_following"] = "student", S.normalize_code(code), s.sid, True
            ss.pop("cls_seen", None)
            st.query_params["class"], st.query_params["me"] = ss[_CODE], s.sid
            st.rerun()
    st.divider()
    st.markdown("**Teach a class**")
    pin = teacher_pin()
    if pin is None:
        st.caption("The teacher role is off on this server: start it with CNN_VIZ_TEACHER_PIN set "
                   "(or CNN_VIZ_TEACHER_PIN_FILE naming a file that holds the PIN).")
        return
    typed = st.text_input("Teacher PIN", type="password", key="cls_pin_in", max_chars=200)
    if st.button("Start a class", key="cls_start"):
        if not typed or not _same(typed, pin):
            st.error("That PIN is not right.")
            return
        try:
            s = store.create_session()
        except S.StoreError as e:
            st.error(md(str(e), 300))
            return
        ss[_ROLE], ss[_CODE] = "teacher", s.code
        ss.pop("cls_pub", None)
        st.rerun()


def _same(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())


def _join_link(code: str) -> str:
    base = ""
    try:
        url = st.context.url or ""
        p = urllib.parse.urlsplit(url)
        base = f"{p.scheme}://{p.netloc}" if p.netloc else ""
    except Exception:  # noqa: BLE001
        base = ""
    return f"{base or 'http://localhost:8501'}/?class={code}"


# -------------------------------------------------------------------------------------------- teacher
def _teacher(store: S.Store, page_path: str) -> None:
    ss = st.session_state
    code = ss[_CODE]
    if store.get_session(code) is None:
        st.warning("This class has ended or expired.")
        if st.button("Close", key="cls_close_gone"):
            _leave()
        return
    link = _join_link(code)
    st.markdown("Join code")
    # the code is ours (CODE_ALPHABET only): shown large enough to read from the back row
    st.markdown(f"<div data-testid='cls-code' style='font-size:3.6rem;font-weight:800;letter-spacing:.18em;"
                f"line-height:1.1'>{code}</div>", unsafe_allow_html=True)
    st.code(link, language=None)
    st.image(class_figures.qr_png(link), caption="Scan to join", width=220)
    _teacher_live(store, code)
    _teacher_questions(store, code, page_path)
    if st.button("End the class", key="cls_end"):
        _leave()


@st.fragment(run_every=TEACHER_POLL_SECONDS)
def _teacher_live(store: S.Store, code: str) -> None:
    try:
        c = store.counts(code)
    except S.StoreError:
        return
    a, b = st.columns(2)
    a.metric("Connected", c.connected, help=f"{c.joined} joined in all; connected = heard from in the last {S.ONLINE_SECONDS:.0f} s.")
    b.metric("Following", c.following)
    q = store.current_question(code)
    if q is None:
        return
    counts = store.answers(code, q.qid)
    st.markdown(f"**Question:** {md(q.prompt, 400)}")
    plot(class_figures.answers_figure(q.choices, counts, q.answer if q.revealed else None, height=260), key="cls_hist")
    if q.revealed:
        st.success(f"Answer: {md(q.answer)}. {md(q.explanation, 1200)}")
    elif st.button("Reveal the answer", key="cls_reveal"):
        store.reveal(code, q.qid)
        _poke()
        st.rerun(scope="fragment")
    named = sorted(s.name for s in store.students(code) if s.name)
    if named:
        st.caption("Named students: " + ", ".join(md(n, 40) for n in named[:60]))


def _teacher_questions(store: S.Store, code: str, page_path: str) -> None:
    ss = st.session_state
    seed = ss.setdefault("cls_qseed", 0)
    qs = cached.questions_for_page(page_path, tuple(sorted((k, str(v)) for k, v in _page_params().items())), seed)
    if not qs:
        st.caption("No generated question on this page: open a lesson page to ask one.")
        return
    i = st.radio("Question about this page", range(len(qs)), format_func=lambda i: qs[i].prompt[:90], key="cls_qpick")
    q = qs[i]
    c1, c2 = st.columns(2)
    if c1.button("Push to the class", key="cls_push", type="primary"):
        try:
            store.push_question(code, q.prompt, q.choices, q.answer, q.explanation)
            _poke()
        except S.StoreError as e:
            st.error(md(str(e), 300))
    if c2.button("Another one", key="cls_qnext"):
        ss["cls_qseed"] = seed + 1
        st.rerun()


# -------------------------------------------------------------------------------------------- student
def _student(store: S.Store, page_path: str) -> None:
    ss = st.session_state
    code, sid = ss[_CODE], ss[_SID]
    st.markdown(f"Class **{code}**")
    # the choice is kept in cls_following (plain session state), the toggle only shows it: a load of another
    # page started by the server carries the widgets' values from the server's side, and there the toggle had
    # lost its value in the page switch (Chromium showed "Following" on, the page said exploring)
    following = st.toggle("Following the teacher", value=ss.get("cls_following", True), key="cls_follow",
                          help="Off: explore on your own (your own settings come back); on: the teacher's page and settings.")
    ss["cls_following"] = following
    mine = ss.setdefault("cls_own", {})
    was = ss.get("cls_was_following")
    ss["cls_was_following"] = following
    if not following:
        if was:  # just switched to exploring: bring back what this student had on this page
            try:
                store.heartbeat(code, sid, False)
            except S.StoreError:
                pass  # the live part below says when the class has ended
            saved = mine.get(page_path)
            if saved is not None and saved != _page_params():
                _load(page_path, saved, {"class": code, "me": sid})
        mine[page_path] = _page_params()
        st.caption("Exploring on my own: the teacher's changes wait until you follow again.")
    elif was is False:
        ss.pop("cls_loads", None)  # back to following: the teacher's state loads again (below)
    for k, v in (("class", code), ("me", sid)):
        if st.query_params.get(k) != v:
            st.query_params[k] = v
    period = HEARTBEAT_SECONDS if _can_push() else POLL_SECONDS
    st.fragment(_student_live, run_every=period)(store, code, sid, page_path, following)
    if st.button("Leave the class", key="cls_leave"):
        _leave()


def _student_live(store: S.Store, code: str, sid: str, page_path: str, following: bool) -> None:
    """The student's follow fragment: rerun by the server's watcher when the class changes, and by its timer."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ss = st.session_state
    push = _pusher(code, sid, following)
    if push is not None:   # before reading the store: a change after this read still reaches us
        _watch().subscribe(code, get_script_run_ctx().session_id, push)
    try:
        t = store.teacher_state(code)
    except S.StoreError:
        st.warning("The class has ended.")
        return
    now = time.time()
    if now - ss.get("cls_hb", 0.0) >= 0.8 * HEARTBEAT_SECONDS:   # the timer ticks about every 5 s
        try:
            try:
                store.heartbeat(code, sid, following, now)
            except S.NotFound:
                store.join(code, sid)
        except S.StoreError as e:
            st.warning(md(str(e), 300))
            return
        ss["cls_hb"] = now
    if following:
        st.caption("Following the teacher.")
        # Compared on every run, not only when the version moved: a browser's timer tick that reaches the
        # server during the load carries the widget values from before it, and the run it merges into can show
        # the old settings again (seen under load with 30-100 followers); the next run then loads once more.
        # At most MAX_LOADS per teacher version, so a page that cannot show the teacher's URL never loops.
        ss["cls_seen"] = t.version
        if t.version > 0 and (t.page, t.params) != (page_path, _page_params()):
            loads = ss.get("cls_loads", (None, 0))
            n = loads[1] if loads[0] == t.version else 0
            if n < MAX_LOADS:
                ss["cls_loads"] = (t.version, n + 1)
                _load(t.page, t.params, {"class": code, "me": sid})
    _student_question(store, code, sid)


def _student_question(store: S.Store, code: str, sid: str) -> None:
    q = store.current_question(code)
    if q is None:
        return
    ss = st.session_state
    st.markdown(f"**Question:** {md(q.prompt, 400)}")
    sent = ss.get(f"cls_sent_{q.qid}")
    choice = st.radio("Your answer", q.choices, index=None, key=f"cls_ans_{q.qid}", label_visibility="collapsed")
    if st.button("Send my answer", key=f"cls_send_{q.qid}", disabled=choice is None or q.revealed):
        try:
            store.answer(code, q.qid, sid, choice)
            ss[f"cls_sent_{q.qid}"] = sent = choice
        except S.StoreError as e:
            st.error(md(str(e), 300))
    if sent is not None:
        st.caption(f"Sent: {md(sent)}")
    if q.revealed:
        right = sent == q.answer
        (st.success if right else st.info)(
            f"{'Right' if right else 'The answer'}: {md(q.answer)}. {md(q.explanation, 1200)}")


def _leave() -> None:
    ss = st.session_state
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is not None and ss.get(_ROLE) == "student":
        _watch().unsubscribe(ctx.session_id)
    for k in (_ROLE, _CODE, "cls_pub", "cls_seen", "cls_own", "cls_was_following", "cls_loads", "cls_following"):
        ss.pop(k, None)
    for k in OWN_KEYS:
        if k in st.query_params:
            del st.query_params[k]
    st.rerun()
