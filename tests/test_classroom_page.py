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
