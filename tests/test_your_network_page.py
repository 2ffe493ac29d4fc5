"""The "Your own network" page under AppTest: the design from the URL and the table, bad URL values,
design → train (tiny) → download → upload, hostile uploads, the one-training-job rule, every tab."""

from __future__ import annotations

import io
import threading
import zlib

import numpy as np
import pytest
import torch

import conftest

from cnn_viz.common import jobs
from cnn_viz.mnist import data, design, model, netfile

PAGE = "pages/your_network.py"
TABS = ["Layer by layer", "Learned filters", "Figure 5: patches", "Saliency & Grad-CAM"]
TINY = "conv4k3p1-relu-max2-flat-fc10"


def open_page(app_test, net: str | None = None, **state):
    return conftest.open_page(app_test, PAGE, 120, None if net is None else {"net": net}, **state)


def metric(at, label: str, nth: int = 0) -> str:
    return [m.value for m in at.metric if m.label == label][nth]


def texts(at) -> str:
    return " ".join(str(e.value) for kind in ("warning", "error", "info", "success", "markdown", "caption") for e in at.get(kind))


def train_tiny(at):
    at.select_slider(key="yn_tr_n").set_value(250)
    at.select_slider(key="yn_tr_batch").set_value(128)
    at.slider(key="yn_tr_epochs").set_value(1)
    at.button(key="yn_tr_go").click().run()
    assert not at.exception, at.exception
    return at


def test_default_is_the_reports_network_and_goes_into_the_url(app_test):
    at = open_page(app_test)
    assert at.title[0].value == "Your own network"
    assert at.query_params["net"] == "conv16k5p2-bn-relu-max2-conv32k5p2-bn-relu-max2-flat-fc128-relu-fc10"
    assert metric(at, "Parameters") == f"{sum(p.numel() for p in model.SimpleCNN().parameters()):,}" == "215,466"
    assert metric(at, "Layers") == "12"
    # the look-inside section reads the report's 7 with the shipped network
    assert at.radio(key="yn_which").value == "shipped"
    seven = data.train_test_split()[1]
    d7 = seven.images[list(seven.rows).index(data.DIGIT_7_ROW)]
    assert metric(at, "The network reads") == str(int(np.argmax(model.predict(model.load_pretrained(), d7)))) == "7"


def test_the_design_in_the_url_is_used(app_test):
    at = open_page(app_test, net=TINY)
    s = design.summarize(design.from_code(TINY))
    assert metric(at, "Parameters") == f"{s.params:,}" == f"{4 * 9 + 4 + 784 * 10 + 10:,}"
    assert metric(at, "Layers") == "5"


@pytest.mark.parametrize("value, words", [
    ("x" * 10_000, "10,000 characters"),
    ("conv16k5p2-<script>alert(1)</script>", "is not a layer this page knows"),
    ("conv999k3-flat-fc10", "outside the allowed 1–128"),
    ("conv16k5-max2-max2-max2-max2-max2", "below 1"),
    ("inf", "not a layer"),
])
def test_a_bad_url_design_gets_a_message_and_the_reports_network(app_test, value, words):
    at = open_page(app_test, net=value)
    warnings = " ".join(w.value for w in at.warning)
    assert "The network in the address was not used" in warnings
    assert words in warnings.replace("\\", "")  # Markdown-escaped; the words once the escapes are taken out
    assert "<script>" not in warnings  # escaped: shown as text, never markup
    assert metric(at, "Parameters") == "215,466"
    assert at.query_params["net"] == design.SIMPLE_CNN.code


def test_editing_the_table_changes_the_design_and_the_url(app_test):
    key = f"yn_layers_{zlib.crc32(design.SIMPLE_CNN.code.encode()):08x}"
    at = open_page(app_test)
    at.session_state[key] = {"edited_rows": {0: {"out": 8}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception
    want = design.Design((design.conv(8, 5, 2),) + design.SIMPLE_CNN.layers[1:])
    assert at.query_params["net"] == want.code
    assert metric(at, "Parameters") == f"{design.summarize(want).params:,}"
    # a row that breaks the design: a message, and the last good design stays
    at.session_state[key] = {"edited_rows": {0: {"out": 8}, 3: {"size": 40}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception
    assert "keeps the last design that worked" in " ".join(w.value for w in at.warning)
    assert metric(at, "Parameters") == f"{design.summarize(want).params:,}"
    # forged editor state (a column and a row that do not exist): a message, no traceback
    at.session_state[key] = {"edited_rows": {99: {"nonsense": 1}}, "added_rows": [{"zzz": 1}], "deleted_rows": [555]}
    at.run()
    assert not at.exception


def test_design_train_download_upload(app_test):
    at = train_tiny(open_page(app_test, net=TINY))
    net = at.session_state["yn_net"]
    assert net.kind == "trained here" and net.finished and net.design.code == TINY
    assert net.epochs == 1 and net.confusion.sum() == 1000
    held = data.train_test_split()[1]
    acc = model.accuracy(net.model, held.images, held.labels)
    assert metric(at, "Held-out accuracy") == f"{acc:.2%}"
    assert np.trace(net.confusion) == round(acc * 1000)
    assert "Download this network (.pt)" in [b.proto.label for b in at.get("download_button")]
    assert at.radio(key="yn_which").value == "yours"
    # the file the download button serves (its data function is this call; the browser test takes the real download)
    blob = netfile.to_bytes(net.design, net.model, net.meta)
    fresh = open_page(app_test)
    fresh.file_uploader(key="yn_upload").set_value(("my_network.pt", blob, "application/octet-stream")).run()
    assert not fresh.exception, fresh.exception
    assert "Loaded my\\_network\\.pt" in " ".join(s.value for s in fresh.success)
    got = fresh.session_state["yn_net"]
    assert got.kind == "network file" and got.design.code == TINY
    assert all(torch.equal(a, b) for a, b in zip(net.model.state_dict().values(), got.model.state_dict().values()))
    assert fresh.query_params["net"] == TINY  # the table shows the loaded design
    assert metric(fresh, "Held-out accuracy") == f"{acc:.2%}"


def test_hostile_uploads_get_the_failed_check_and_keep_the_last_good_network(app_test, tmp_path):
    at = open_page(app_test)
    buf = io.BytesIO()
    torch.save(model.load_pretrained().state_dict(), buf)
    at.file_uploader(key="yn_upload").set_value(("notebook.pt", buf.getvalue(), "application/octet-stream")).run()
    assert not at.exception and at.session_state["yn_net"].kind == "SimpleCNN state dict"
    kept = at.session_state["yn_net"]

    marker = tmp_path / "marker"

    class Payload:
        def __reduce__(self):
            return exec, (f"open({str(marker)!r}, 'w').write('x')",)

    evil = io.BytesIO()
    torch.save({"state_dict": Payload()}, evil)
    wrong = io.BytesIO()
    torch.save(dict(model.SimpleCNN().state_dict(), **{"fc2.weight": torch.zeros(3, 3)}), wrong)
    for name, blob, check in [("[evil](http://x).pt", evil.getvalue(), "weights-only loading"), ("wrong.pt", wrong.getvalue(), "shapes"),
                              ("half.pt", buf.getvalue()[:5000], "weights-only loading"), ("photo.pt", b"\xff\xd8\xff" + bytes(64), "format")]:
        at.file_uploader(key="yn_upload").set_value((name, blob, "application/octet-stream")).run()
        assert not at.exception, at.exception
        err = " ".join(e.value for e in at.error)
        assert f"Check '{check}' failed" in err.replace("\\", "") and "keeps the network it had" in err
        assert "[evil](http" not in err  # the file name is escaped
        assert at.session_state["yn_net"] is kept
    assert not marker.exists()


def test_one_training_job_per_server_and_class_mode(app_test, monkeypatch):
    at = open_page(app_test, net=TINY)
    holding, release = threading.Event(), threading.Event()

    def hold():
        with jobs.training_slot("someone", "another session's training"):
            holding.set()
            release.wait(60)

    t = threading.Thread(target=hold)
    t.start()
    try:
        holding.wait(10)
        train_tiny(at)
        assert "The class is training: another session's training" in " ".join(i.value for i in at.info)
        assert "yn_net" not in at.session_state
    finally:
        release.set()
        t.join()
    monkeypatch.setenv("CNN_VIZ_CLASS_MODE", "1")
    at.button(key="yn_tr_go").click().run()
    assert "turned off on this server" in " ".join(i.value for i in at.info)
    monkeypatch.delenv("CNN_VIZ_CLASS_MODE")
    monkeypatch.setenv("CNN_VIZ_TRAIN_SECONDS", "1")
    at = open_page(app_test, net=design.EXAMPLES["larger: VGG-style, 32-64 channels"].code)
    at.button(key="yn_tr_go").click().run()
    assert "more than the 1 s a run may take here" in " ".join(w.value for w in at.warning)


@pytest.mark.parametrize("which", ["shipped", "your design, untrained"])
def test_every_tab_on_any_network(app_test, which):
    at = open_page(app_test, net="conv6k3p1s2-leaky-avg2s1-conv4k3d2-bn-tanh-flat-drop0.3-fc20-relu-fc10", yn_which=which)
    for tab in TABS:
        at.session_state["yn_tab"] = tab
        at.run()
        assert not at.exception, (tab, at.exception)
        heads = [m.value for m in at.markdown if m.value.startswith("**")]
        if tab == "Layer by layer" and which == "shipped":
            assert heads[:3] == ["**conv1** · 16 maps of 28×28", "**relu1** · 16 maps of 28×28", "**pool1** · 16 maps of 14×14"]
            pills = at.get("button_group")[0]
            assert pills.proto.label == "Layers to show" and "bn1" in [o.content for o in pills.proto.options]
        elif tab == "Layer by layer":
            assert "**conv1** · 6 maps of 14×14" in heads and "**pool1** · 6 maps of 13×13" in heads and "**conv2** · 4 maps of 9×9" in heads
        if tab == "Learned filters":
            want = ["**conv1** · 16 kernels of 1×5×5 (+ 16 biases)", "**conv2** · 32 kernels of 16×5×5 (+ 32 biases)"] if which == "shipped" \
                else ["**conv1** · 6 kernels of 1×3×3 (+ 6 biases)", "**conv2** · 4 kernels of 6×3×3 (+ 4 biases)"]
            assert [h for h in heads if "kernels of" in h] == want
        if tab == "Saliency & Grad-CAM":
            assert any(b.proto.label == "Grad-CAM as CSV" for b in at.get("download_button"))


def test_a_network_without_convolution_says_so(app_test):
    at = open_page(app_test, net="flat-fc32-relu-fc10", yn_which="your design, untrained", yn_tab="Saliency & Grad-CAM")
    assert "Grad-CAM needs a conv layer" in texts(at)
    at = open_page(app_test, net="flat-fc32-relu-fc10", yn_which="your design, untrained", yn_tab="Learned filters")
    assert "has no conv layer" in texts(at)
    assert "every unit of its first fully connected layer sees the whole digit" in texts(at)


def test_stop_keeps_the_epochs_done_and_measures_them(app_test):
    """What a Stop leaves in the session (the network after its last finished epoch, stored by the epoch callback,
    not yet measured): the page measures it on the held-out digits and says what was kept."""
    d = design.from_code(TINY)
    net = design.build(d, seed=0)
    meta = {"held_out_accuracy": 0.5, "history": [[1, 2.0, 0.3, 2.0, 0.5, 1.5]]}
    at = open_page(app_test, net=TINY, yn_net=netfile.Network(d, net, "trained here", meta, finished=False))
    at.button(key="yn_tr_stop").click().run()
    assert not at.exception, at.exception
    assert "Stopped: the network keeps the 1 finished epoch(s)." in [w.value for w in at.warning]
    held = data.train_test_split()[1]
    assert np.array_equal(at.session_state["yn_net"].confusion, model.confusion(net, held.images, held.labels))
    assert metric(at, "Time per epoch") == "1.5 s"
