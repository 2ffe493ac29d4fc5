"""The classroom panel under AppTest: the teacher role needs the PIN, a class starts, a student joins,
the teacher pushes a question about the page, the student answers, the teacher reveals; bad input gives
messages, never an exception. The store is a real SQLite file per test."""

from __future__ import annotations

import pytest

from cnn_viz.classroom import store as S

PIN = "correct horse 42"


@pytest.fixture
def class_env(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'class.sqlite3'}"
    monkeypatch.setenv("CNN_VIZ_TEACHER_PIN", PIN)
    monkeypatch.setenv("CNN_VIZ_STORE", url)
    st = S.open_store(url)
    yield st
    st.close()


def _start(at, pin):
    at.text_input(key="cls_pin_in").input(pin)
    at.button(key="cls_start").click().run()
    assert not at.exception, at.exception


def _texts(at) -> str:
    return "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption] + [e.value for e in at.error]
                     + [s.value for s in at.success] + [w.value for w in at.warning] + [i.value for i in at.info])


def _element_types(at) -> set[str]:
    out = set()

    def walk(node):
        out.add(getattr(node, "type", ""))
        for c in getattr(node, "children", {}).values():
            walk(c)
    walk(at._tree)
    return out


def test_no_pin_means_no_teacher_role(app_test, tmp_path, monkeypatch):
    monkeypatch.delenv("CNN_VIZ_TEACHER_PIN", raising=False)
    monkeypatch.delenv("CNN_VIZ_TEACHER_PIN_FILE", raising=False)
    monkeypatch.setenv("CNN_VIZ_STORE", f"sqlite:///{tmp_path / 'c.sqlite3'}")
    at = app_test()
    at.session_state["cls_panel"] = True   # the panel opened (closed, no form is drawn)
    at.run()
    assert not at.exception
    assert "teacher role is off" in _texts(at)
    assert not [b for b in at.button if b.key == "cls_start"]


def test_pin_file_setting(tmp_path, monkeypatch):
    from cnn_viz.ui import classroom

    monkeypatch.delenv("CNN_VIZ_TEACHER_PIN", raising=False)
    f = tmp_path / "pin.txt"
    f.write_text("  from-a-file \n")
    monkeypatch.setenv("CNN_VIZ_TEACHER_PIN_FILE", str(f))
    assert classroom.teacher_pin() == "from-a-file"


def test_a_whole_question_round(app_test, class_env):
    store = class_env
    teacher = app_test()
    teacher.session_state["cls_panel"] = True   # the panel opened (closed, no form is drawn)
    teacher.run()
    _start(teacher, "wrong pin")
    assert "That PIN is not right." in _texts(teacher)
    assert "cls_role" not in teacher.session_state
    assert store.session_count() == 0
    _start(teacher, PIN)
    code = teacher.session_state["cls_code"]
    assert store.get_session(code) is not None and code in _texts(teacher)
    assert _element_types(teacher) & {"imgs", "image"}, "the QR code is drawn"

    student = app_test()
    student.session_state["cls_panel"] = True   # the panel opened (closed, no form is drawn)
    student.run()
    student.text_input(key="cls_code_in").input(code.lower())
    student.text_input(key="cls_name_in").input("**Bob** [x](http://evil.example)")
    student.button(key="cls_join").click().run()
    assert not student.exception, student.exception
    assert student.session_state["cls_role"] == "student"
    assert store.counts(code).joined == 1

    # the teacher's state reaches the store on every change of page or URL (here: the home page, no settings)
    assert store.teacher_state(code).page == "" and store.version(code) == 1
    teacher.run()
    assert store.version(code) == 1     # an unchanged state is not published again
    # a question about the sandbox at stride 2 (pushing from the page is in the browser test: AppTest's
    # switch_page does not tell st.navigation which page runs)
    from cnn_viz.classroom import questions

    gen = questions.for_page("kernel_sandbox", {"stride": "2"})[0]
    assert gen.answer == "255×255"   # 512 − 3 + 1 = 510 positions, every second one: ⌊509/2⌋ + 1
    store.push_question(code, gen.prompt, gen.choices, gen.answer, gen.explanation)
    q = store.current_question(code)

    student.toggle(key="cls_follow").set_value(False).run()   # exploring: the answer box is there too
    assert not student.exception, student.exception
    radio = student.radio(key=f"cls_ans_{q.qid}")
    radio.set_value(q.answer).run()
    student.button(key=f"cls_send_{q.qid}").click().run()
    assert not student.exception
    assert store.answers(code, q.qid) == {q.answer: 1}

    teacher.run()
    assert "1 answer" in str(teacher.get("plotly_chart")[-1].proto.spec)
    teacher.button(key="cls_reveal").click().run()
    assert store.current_question(code).revealed
    student.run()
    assert f"Right: {q.answer.replace('×', '×')}" in _texts(student)
    # the student's name is shown to the teacher as text, never as a link or bold
    teacher.run()
    shown = _texts(teacher)
    assert "Named students" in shown and "](http" not in shown and "**Bob**" not in shown


@pytest.mark.parametrize("code", ["<b>x</b>", "[x](http://evil.example)", "ZZZZ9", "A" * 12])
def test_bad_codes_give_a_message(app_test, class_env, code):
    at = app_test()
    at.session_state["cls_panel"] = True   # the panel opened (closed, no form is drawn)
    at.run()
    at.text_input(key="cls_code_in").input(code)
    at.button(key="cls_join").click().run()
    assert not at.exception
    assert at.error and ("not a class code" in at.error[0].value or "No class" in at.error[0].value)
    assert "cls_role" not in at.session_state


def test_a_dropped_student_rejoins_from_the_link(app_test, class_env):
    store = class_env
    code = store.create_session().code
    store.join(code, "abc123", "Ann")
    at = app_test()
    at.query_params["class"] = code
    at.query_params["me"] = "abc123"
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["cls_role"] == "student" and at.session_state["cls_sid"] == "abc123"
    assert store.counts(code).joined == 1


# The panel as app.py calls it, on the sandbox's url path: AppTest's switch_page runs a page's file without
# app.py (no panel, nav.url_path stays ""), so this harness calls classroom.panel/publish for "kernel_sandbox"
# with the page's URL settings in the query string, as app.py does around nav.run().
_PANEL_ON_SANDBOX = """
from cnn_viz.ui import classroom
classroom.panel("kernel_sandbox")
classroom.publish("kernel_sandbox")
"""


def _panel_app(stride: int):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_string(_PANEL_ON_SANDBOX, default_timeout=60)
    at.session_state["cls_panel"] = True   # the panel opened (closed, no form is drawn)
    at.query_params["stride"] = str(stride)
    return at


def _histogram(at) -> dict[str, int]:
    import json

    spec = json.loads(at.get("plotly_chart")[-1].proto.spec)
    bar = spec["data"][0]
    return dict(zip(bar["x"], bar["y"]))


def test_the_teacher_pushes_a_question_and_the_answers_arrive(class_env):
    """The teacher's "Push to the class" on the sandbox at stride 3: the student's session (another AppTest)
    gets the question from the store, answers, and the teacher's histogram counts it; the right answer is
    the output size torch's conv2d gives for the Cameraman (512²), the default 3×3 kernel and stride 3."""
    import streamlit as st_mod
    import torch

    from cnn_viz.common.text import md

    st_mod.cache_data.clear()
    store = class_env
    teacher = _panel_app(3)
    teacher.run()
    _start(teacher, PIN)
    code = teacher.session_state["cls_code"]
    assert store.teacher_state(code).params == {"stride": "3"}   # published with the page's URL settings
    pick = teacher.radio(key="cls_qpick")
    assert "512×512 input with stride 3" in pick.options[0]   # about the settings in the URL
    pick.set_value(0).run()
    assert store.current_question(code) is None
    teacher.button(key="cls_push").click().run()
    assert not teacher.exception, teacher.exception
    q = store.current_question(code)
    assert q is not None and not q.revealed and q.prompt[:90] == pick.options[0]
    side = torch.nn.functional.conv2d(torch.zeros(1, 1, 512, 512), torch.zeros(1, 1, 3, 3), stride=3).shape[-1]
    assert q.answer == f"{side}×{side}" == "170×170" and q.answer in q.choices

    students = []
    for i, given in enumerate([q.answer, q.answer, next(c for c in q.choices if c != q.answer)]):
        s = _panel_app(3)
        s.run()
        s.text_input(key="cls_code_in").input(code)
        s.button(key="cls_join").click().run()
        assert not s.exception, s.exception
        assert s.session_state["cls_role"] == "student"
        assert f"**Question:** {md(q.prompt, 400)}" in [m.value for m in s.markdown], "the pushed question is shown"
        radio = s.radio(key=f"cls_ans_{q.qid}")
        assert tuple(radio.options) == q.choices
        radio.set_value(given).run()
        s.button(key=f"cls_send_{q.qid}").click().run()
        assert not s.exception, s.exception
        students.append((s, given))
    wrong = students[2][1]
    assert store.answers(code, q.qid) == {q.answer: 2, wrong: 1}
    teacher.run()
    counts = _histogram(teacher)
    assert counts[q.answer] == 2 and counts[wrong] == 1 and sum(counts.values()) == 3
    assert store.counts(code).following == 3
    teacher.button(key="cls_reveal").click().run()
    assert store.current_question(code).revealed and store.pulse(code) == (store.version(code), q.qid, True)
    first, _ = students[0]
    first.run()
    assert any(f"Right: {q.answer}" in m.value for m in first.success)
    last, _ = students[2]
    last.run()
    assert any(f"The answer: {q.answer}" in m.value for m in last.info)


def test_the_closed_panel_draws_no_form(app_test, class_env):
    """Closed (the default outside a class), the panel is only its header: no join or teacher form is built on
    the page's reruns; opened, both forms are there; a class link opens it by itself."""
    at = app_test()
    at.run()
    assert not at.exception
    keys = {w.key for w in list(at.text_input) + list(at.button)}
    assert not keys & {"cls_code_in", "cls_name_in", "cls_pin_in", "cls_join", "cls_start"}
    at.session_state["cls_panel"] = True
    at.run()
    keys = {w.key for w in list(at.text_input) + list(at.button)}
    assert {"cls_code_in", "cls_name_in", "cls_pin_in", "cls_join", "cls_start"} <= keys
    linked = app_test()
    linked.query_params["class"] = "ABCDE"
    linked.run()
    assert linked.text_input(key="cls_code_in").value == "ABCDE"
