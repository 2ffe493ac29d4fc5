"""A teacher's change inside the "Your own network" fragment reaches the class store.

The page draws "Look inside" in an ``st.fragment`` (a new digit or tab reruns that part only), and a fragment
run skips app.py, which publishes a teacher's page and URL settings after every full run: the fragment
publishes itself (``ui.class_publish``). Here a teacher starts a class in Chromium on "Your own network" and
opens another tab of "Look inside" (a fragment run): the class store holds it as soon as the run has ended
(without the fragment's publish it did not).
"""

from __future__ import annotations

import pytest
from conftest import assert_no_exception, wait_idle
from test_classroom_browser import PIN, class_app  # noqa: F401  (the class app fixture: a server with a teacher PIN)

from cnn_viz.classroom.store import open_store

pytestmark = pytest.mark.browser


# the server's websocket messages: how many, and when the last one came
_WS_JS = """(() => {
  window.__clsMsgs = 0; window.__clsLast = 0;
  const WS = window.WebSocket;
  window.WebSocket = class extends WS {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', () => { window.__clsMsgs += 1; window.__clsLast = performance.now(); });
    }
  };
})()"""


def _query(pg) -> dict:
    from urllib.parse import parse_qs, urlparse

    return {k: v[0] for k, v in parse_qs(urlparse(pg.url).query).items()}


def test_a_teacher_tab_inside_the_fragment_reaches_the_class(browser, class_app):
    url, store_path = class_app
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    t = ctx.new_page()
    t.set_default_timeout(60_000)
    t.add_init_script(_WS_JS)
    store = open_store(f"sqlite:///{store_path}")
    try:
        t.goto(url + "/your_network")
        wait_idle(t)
        t.locator("[data-testid=stExpander] summary", has_text="Classroom").click()
        t.get_by_label("Teacher PIN").fill(PIN)
        t.get_by_role("button", name="Start a class").click()
        wait_idle(t)
        code = t.locator("[data-testid=cls-code]").inner_text().strip()
        before = store.teacher_state(code)
        assert before.page == "your_network" and "yn_tab" not in before.params, before

        # another tab of "Look inside": a run of the fragment only
        sent_before = t.evaluate("() => window.__clsMsgs")
        t.get_by_role("tab", name="Learned filters").click()
        wait_idle(t)
        assert_no_exception(t)
        assert _query(t).get("yn_tab") == "Learned filters", t.url
        # the URL changes in the browser before the server's run (query-params binding), and a fragment run
        # answered from caches can end before wait_idle sees it start: wait for the run's messages instead —
        # the fragment publishes before its run ends, and the run's last message (script_finished) follows
        t.wait_for_function("(n) => window.__clsMsgs > n && performance.now() - window.__clsLast > 300",
                            arg=sent_before, polling=50)
        state = store.teacher_state(code)
        assert state.page == "your_network" and state.params.get("yn_tab") == "Learned filters", state
    finally:
        store.close()
        ctx.close()
