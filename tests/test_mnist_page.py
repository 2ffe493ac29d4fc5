"""The trained-MNIST page under AppTest: every input path, every tab, training, bad uploads."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from cnn_viz.common import text
from cnn_viz.mnist import data, model, prep
from mnist_fixtures import held, net  # noqa: F401  (pytest fixtures)

PAGE = "pages/mnist_activations.py"
TABS = ["Layer by layer", "Learned filters", "Figure 5: patches", "Saliency & Grad-CAM", "Train your own"]


def open_page(app_test, tab: str | None = None, **state):
    at = app_test()
    at.run()
    for k, v in state.items():
        at.session_state[k] = v
    if tab is not None:
        at.session_state["mn_tab"] = tab
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def shown_digit(at) -> int:
    return int(at.metric[0].value)


def test_default_run_reads_the_reports_seven(app_test, net, held):
    at = open_page(app_test)
    assert at.title[0].value == "Trained-MNIST activations"
    seven = held.images[list(held.rows).index(data.DIGIT_7_ROW)]
    probs = model.predict(net, seven)
    assert shown_digit(at) == int(np.argmax(probs)) == 7
    assert f"{probs[7]:.1%} sure" in at.metric[0].delta and "true label 7" in at.metric[0].delta
    # the layer tab is open by default: its shape labels are written out
    text = " ".join(m.value for m in at.markdown)
    for line in ["16 maps of 28×28", "16 maps of 14×14", "32 maps of 14×14", "32 maps of 7×7", "128 hidden units", "10 logits"]:
        assert line in text
    assert at.selectbox(key="mn_gallery").value == data.gallery(held)[21]


def test_gallery_choice_changes_the_prediction(app_test, net, held):
    at = open_page(app_test)
    gallery = data.gallery(held)
    for pos in (gallery[0], gallery[9], gallery[13]):  # a 0, a 3, a 4
        at.selectbox(key="mn_gallery").set_value(pos).run()
        assert not at.exception
        expect = int(np.argmax(model.predict(net, held.images[pos])))
        assert shown_digit(at) == expect
        assert f"true label {held.labels[pos]}" in at.metric[0].delta


def _photo_of(digit: np.ndarray) -> bytes:
    """A 'photo': the MNIST digit enlarged 8×, dark ink on light paper, saved as JPEG."""
    big = Image.fromarray(255 - digit).resize((224, 224), Image.Resampling.BICUBIC)
    canvas = Image.new("L", (300, 260), 235)
    canvas.paste(big, (40, 20))
    buf = io.BytesIO()
    canvas.convert("RGB").save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def test_upload_of_a_digit_photo(app_test, net, held):
    at = open_page(app_test, mn_source="Upload")
    assert any("Upload a picture" in i.value for i in at.info)
    pos = data.gallery(held)[12]  # a 4
    photo = _photo_of(held.images[pos])
    at.file_uploader(key="mn_upload").set_value(("four.jpg", photo, "image/jpeg")).run()
    assert not at.exception
    prepared = prep.prepare(np.asarray(Image.open(io.BytesIO(photo)).convert("RGB"), dtype=np.float32) / 255)
    assert prepared.inverted
    assert shown_digit(at) == int(np.argmax(model.predict(net, prepared.digit))) == 4
    assert any("inverted to white on black" in c.value for c in at.caption)


@pytest.mark.parametrize("payload", [b"this is not an image", b"", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40])
def test_broken_upload_shows_a_message_and_the_page_goes_on(app_test, payload):
    at = open_page(app_test, mn_source="Upload")
    at.file_uploader(key="mn_upload").set_value(("broken.png", payload, "image/png")).run()
    assert not at.exception
    assert any(f"Could not read a digit from **{text.md('broken.png')}**" in e.value for e in at.error)
    assert shown_digit(at) == 7  # the page carries on with the gallery's 7


def test_blank_upload_says_no_digit(app_test):
    buf = io.BytesIO()
    Image.new("L", (100, 100), 255).save(buf, format="PNG")
    at = open_page(app_test, mn_source="Upload")
    at.file_uploader(key="mn_upload").set_value(("white.png", buf.getvalue(), "image/png")).run()
    assert not at.exception
    assert any("No digit found" in e.value for e in at.error)


def test_draw_without_a_browser_canvas_shows_a_hint(app_test):
    at = open_page(app_test, mn_source="Draw")
    assert any("canvas" in i.value.lower() for i in at.info)
    assert any("No digit yet" in i.value for i in at.info)


@pytest.mark.parametrize("tab", TABS[1:4])
def test_every_tab_renders(app_test, tab):
    at = open_page(app_test, tab=tab)
    text = " ".join(m.value for m in at.markdown) + " ".join(c.value for c in at.caption)
    key = {"Learned filters": "12,800 weights", "Figure 5: patches": "Σ(patch × kernel) + bias",
           "Saliency & Grad-CAM": "Grad-CAM: the 32 conv2 maps"}[tab]
    assert key in text
    assert "16 maps of 28×28" not in text  # lazy tabs: the layer tab is not computed


def test_figure5_new_draw_and_saliency_class(app_test):
    at = open_page(app_test, tab="Figure 5: patches")
    at.button(key="mn_f5_new").click().run()
    assert not at.exception and at.session_state["mn_f5_seed"] == 1
    at.number_input(key="mn_f5_map").set_value(9).run()
    assert not at.exception
    at = open_page(app_test, tab="Saliency & Grad-CAM")
    at.selectbox(key="mn_sal_class").set_value("3").run()
    assert not at.exception


def test_big_map_picker_for_conv2_layers(app_test):
    at = open_page(app_test)
    at.selectbox(key="mn_big_layer").set_value("relu2").run()
    at.number_input(key="mn_big_map").set_value(31).run()
    assert not at.exception
    assert any("16 slices" in c.value or "401 weights" in c.value for c in at.caption)
    at.selectbox(key="mn_big_layer").set_value("pool1").run()  # 16 maps: the index 31 is brought back in range
    assert not at.exception and at.number_input(key="mn_big_map").value == 0


def test_train_your_own_then_compare(app_test):
    at = open_page(app_test, tab="Train your own")
    assert any("No network trained" in i.value for i in at.info)
    at.slider(key="mn_tr_epochs").set_value(2)
    at.select_slider(key="mn_tr_n").set_value(1000)
    at.button(key="mn_tr_go").click().run(timeout=120)
    assert not at.exception
    assert at.session_state["mn_job"].join(300)  # the training runs on its own thread
    at.run()  # the next run takes the finished network into the session
    own = at.session_state["mn_own"]
    assert own.finished and len(own.history) == 2 and own.config.n_train == 1000
    acc = own.history[-1].test_acc
    held = data.train_test_split()[1]
    assert acc == model.accuracy(own.model, held.images, held.labels)  # the stored network is the one measured
    assert 0.5 < acc < 0.99  # two epochs on 1,000 digits learn a lot, not everything
    values = [m.value for m in at.metric]
    assert f"{acc:.2%}" in values
    # the sidebar now offers your network; comparing shows both
    assert "Yours (trained here)" in at.radio(key="mn_which").options
    at.radio(key="mn_which").set_value("Yours (trained here)").run()
    assert not at.exception
    assert at.metric[0].label == "Your network reads"
    assert any("Both networks on the same digit" in c.value for c in at.caption)


def test_the_gallery_pick_is_in_the_url(app_test, net, held):
    """Issue 14: a shared link (or "follow the teacher") shows the same held-out digit: the page reads the URL's
    ``mn_gallery`` (the list's label, as the page writes it), and the class question asks about that digit."""
    from cnn_viz.classroom import questions

    gallery = data.gallery(held)
    pos = gallery[9]  # a 3
    g = data.make_gallery(held)
    at = app_test()
    at.query_params["mn_gallery"] = g.name(pos)
    at.run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    assert not at.warning, [w.value for w in at.warning]
    assert at.selectbox(key="mn_gallery").value == pos
    assert shown_digit(at) == int(np.argmax(model.predict(net, held.images[pos])))
    assert f"true label {held.labels[pos]}" in at.metric[0].delta
    q = questions.for_page("mnist_activations", {"mn_gallery": g.name(pos)}, model=net)[0]
    assert q.answer == str(shown_digit(at)) and f"true label is {int(held.labels[pos])}" in q.explanation
