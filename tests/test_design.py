"""Your own network's core: built designs against hand-written torch modules, sizes against torch,
receptive fields against autograd, the file round trip, and hostile files."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from cnn_viz.mnist import design as dz
from cnn_viz.mnist import explain, model, netfile, train
from cnn_viz.mnist.data import train_test_split

# ---------------------------------------------------------------------------- hand-written references


class HandA(nn.Module):
    """conv 6@3×3 stride 2 pad 1 → leaky 0.1 → avg pool 2 stride 1 → conv 4@3×3 dilation 2 → BN → tanh
    → flatten → dropout → fc 20 → ReLU → fc 10, written with torch.nn.functional."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(6, 4, 3, dilation=2)
        self.bn2 = nn.BatchNorm2d(4)
        self.fc1 = nn.Linear(4 * 9 * 9, 20)
        self.fc2 = nn.Linear(20, 10)

    def forward(self, x):
        x = F.avg_pool2d(F.leaky_relu(self.conv1(x), 0.1), 2, 1)
        x = torch.tanh(self.bn2(self.conv2(x)))
        x = F.dropout(torch.flatten(x, 1), 0.3, self.training)
        return self.fc2(F.relu(self.fc1(x)))


DESIGN_A = dz.Design((dz.conv(6, 3, 1, stride=2), dz.leaky(0.1), dz.pool(2, 1, kind="avgpool"), dz.conv(4, 3, 0, dilation=2),
                      dz.BN, dz.TANH, dz.FLATTEN, dz.dropout(0.3), dz.linear(20), dz.RELU, dz.linear(10)))


class HandB(nn.Module):
    """No convolution: flatten → fc 64 → BatchNorm1d → ReLU → fc 10."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 64)
        self.fc1_bn = nn.BatchNorm1d(64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1_bn(self.fc1(torch.flatten(x, 1)))))


DESIGN_B = dz.Design((dz.FLATTEN, dz.linear(64), dz.BN, dz.RELU, dz.linear(10)))


class HandC(nn.Module):
    """Three convs with stride, max pooling with a stride other than its size."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 5)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, stride=2)
        self.conv3 = nn.Conv2d(8, 12, 1)
        self.fc1 = nn.Linear(12 * 5 * 5, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 3, 2)  # 24 → 11
        x = F.relu(self.conv2(x))  # 11 → 6
        x = F.max_pool2d(self.conv3(x), 2, 1)  # 6 → 5
        return self.fc1(torch.flatten(x, 1))


DESIGN_C = dz.Design((dz.conv(8, 5), dz.RELU, dz.pool(3, 2), dz.conv(8, 3, 1, stride=2), dz.RELU, dz.conv(12, 1), dz.pool(2, 1),
                      dz.FLATTEN, dz.linear(10)))


def _randomise(net: nn.Module, seed: int) -> None:
    """Random weights and BN statistics, so that the comparison is not of default-initialised layers."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for k, v in net.state_dict().items():
            if v.is_floating_point():
                v.copy_(torch.rand(v.shape, generator=g) + 0.5 if "running_var" in k else torch.randn(v.shape, generator=g) * 0.3)


@pytest.mark.parametrize("design, hand", [(dz.SIMPLE_CNN, model.SimpleCNN), (DESIGN_A, HandA), (DESIGN_B, HandB), (DESIGN_C, HandC)],
                         ids=["simplecnn", "leaky-avg-dilated-tanh", "no-conv", "strides"])
def test_built_network_equals_the_hand_written_module(design, hand):
    ref = hand()
    _randomise(ref, 1)
    ref.eval()
    net = dz.build(design)
    assert set(net.state_dict()) == set(ref.state_dict())  # weight layers are named as in SimpleCNN
    net.load_state_dict(ref.state_dict())
    x = torch.rand(7, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.allclose(net(x), ref(x), rtol=0, atol=1e-6)
    # and in training mode (batch statistics; dropout with the same global seed)
    net.train(), ref.train()
    torch.manual_seed(5)
    a = net(x)
    torch.manual_seed(5)
    b = ref(x)
    assert torch.allclose(a, b, rtol=0, atol=1e-5)


@pytest.mark.parametrize("d", [dz.SIMPLE_CNN, DESIGN_A, DESIGN_B, DESIGN_C, *dz.EXAMPLES.values()], ids=lambda d: d.code[:30])
def test_shapes_parameters_and_multiply_adds_match_torch(d):
    s = dz.summarize(d)
    net = dz.build(d, seed=0)
    outs = net.forward_all(torch.zeros(1, 1, 28, 28))
    for layer in s.layers:
        assert tuple(outs[layer.name].shape[1:]) == layer.shape, layer.name
        assert layer.params == sum(p.numel() for p in getattr(net, layer.name).parameters()), layer.name
    assert s.params == sum(p.numel() for p in net.parameters())
    with FlopCounterMode(display=False) as fc:  # torch counts 2 FLOPs per multiply-add of conv and linear layers
        net(torch.zeros(1, 1, 28, 28))
    assert 2 * s.macs == fc.get_total_flops()
    assert dz.expected_state(d) == {k: tuple(v.shape) for k, v in net.state_dict().items()}


def test_the_report_network_exactly():
    s = dz.summarize(dz.SIMPLE_CNN)
    assert s.params == 215_466
    assert [x.shape_text for x in s.layers][:9] == ["16×28×28"] * 3 + ["16×14×14"] + ["32×14×14"] * 3 + ["32×7×7", "1568"]
    shipped = model.load_pretrained()
    net = dz.from_simple_cnn(shipped)
    x = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(net(x), shipped(x))


def _footprint(net: dz.DesignNet, layer: str, i: int, j: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Rows and columns (inclusive) of input pixels with a nonzero gradient of unit (0, i, j) of ``layer``."""
    x = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    out = net.forward_all(x)[layer]
    (g,) = torch.autograd.grad(out[0, 0, i, j], x)
    nz = np.argwhere(g[0, 0].numpy() != 0)
    return (int(nz[:, 0].min()), int(nz[:, 0].max())), (int(nz[:, 1].min()), int(nz[:, 1].max()))


RF_DESIGNS = [
    dz.Design((dz.conv(2, 5, 2), dz.TANH, dz.pool(2, kind="avgpool"), dz.conv(2, 5, 2), dz.TANH, dz.pool(2, kind="avgpool"),
               dz.FLATTEN, dz.linear(10))),  # the report's geometry
    dz.Design((dz.conv(2, 3, 1), dz.conv(2, 3, 1, dilation=2), dz.conv(2, 3, 0, stride=2), dz.pool(3, 2, kind="avgpool"),
               dz.conv(2, 3, 1), dz.FLATTEN, dz.linear(10))),
    dz.Design((dz.conv(2, 7, 3, stride=2), dz.pool(2, 1, kind="avgpool"), dz.conv(2, 3, 0, dilation=3), dz.FLATTEN, dz.linear(10))),
]


@pytest.mark.parametrize("d", RF_DESIGNS, ids=lambda d: d.code[:40])
def test_receptive_fields_are_the_autograd_footprint(d):
    """Every conv / pooling layer: the input pixels that move the unit at the middle of its map (autograd)
    are exactly the box ``Summary.boxes_at`` draws, and its side is the table's receptive field (unclipped)."""
    net = dz.build(d)
    with torch.no_grad():  # positive weights, no cancellation: every pixel in the field has a nonzero gradient
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.fill_(0.1)
    s = dz.summarize(d)
    checked = 0
    for layer in s.layers:
        if layer.spec.kind not in ("conv", "avgpool"):
            continue
        c, h, w = layer.shape
        i, j = h // 2, w // 2
        rows, cols = _footprint(net, layer.name, i, j)
        fr = dz.why_cnn.receptive_fields(s.field_layers[: s.field_names.index(layer.name) + 1], 28)[-1]
        expect = dz.why_cnn.field_box(fr, i, 28), dz.why_cnn.field_box(fr, j, 28)
        assert (rows, cols) == expect, layer.name
        if fr.first + i * fr.jump >= 0 and fr.first + i * fr.jump + fr.size <= 28:
            assert rows[1] - rows[0] + 1 == layer.field, layer.name
        checked += 1
    assert checked >= 2


def test_boxes_at_name_the_layers_and_match_the_pooling_page():
    s = dz.summarize(dz.SIMPLE_CNN)
    boxes = s.boxes_at((14, 14))
    assert [b.layer for b in boxes] == ["input", "conv1", "pool1", "conv2", "pool2"]
    assert [b.size for b in boxes] == [1, 5, 6, 14, 16]
    from cnn_viz.pooling import why_cnn
    assert [b.size for b in why_cnn.stack_fields("report", 2, (28, 28), (14, 14)).boxes] == [1, 5, 6, 14, 16]


# ---------------------------------------------------------------------------- ways in, and their refusals


@pytest.mark.parametrize("d", [dz.SIMPLE_CNN, DESIGN_A, DESIGN_B, DESIGN_C, *dz.EXAMPLES.values()], ids=lambda d: d.code[:30])
def test_code_json_and_rows_round_trip(d):
    assert dz.from_code(d.code) == d
    assert dz.from_json(d.to_json()) == d
    assert dz.from_rows(d.rows()) == d


@pytest.mark.parametrize("code, words", [
    ("x" * 10_000, "10,000 characters"),
    ("conv16k5p2-<script>alert(1)</script>", "not a layer this page knows"),
    ("conv16k5-max2-max2-max2-max2-max2", "below 1×1"),
    ("conv16k11-conv16k11-conv16k11", "larger than its 8×8 input"),
    ("conv200k3-flat-fc10", "outside the allowed 1–128"),
    ("flat-fc1024-fc1024-fc1024-fc10", "budget"),
    ("conv16k3p1-fc10", "add a flatten"),
    ("conv16k3p1-flat", "last layer must give 10"),
    ("flat-fc10-relu-relu-relu-relu-relu-relu-relu-relu-relu-relu-relu-relu-relu-relu-relu-relu-relu-relu-relu-relu-relu-relu-relu",
     "at most 24"),
    ("", "empty"),
    ("drop2-flat-fc10", "outside the allowed 0–0.9"),
])
def test_bad_designs_get_a_message_that_names_the_check(code, words):
    with pytest.raises(dz.DesignError, match=words):
        dz.from_code(code)


def test_bad_json_designs():
    base = json.loads(dz.SIMPLE_CNN.to_json())
    huge = json.loads(json.dumps(base))
    huge["layers"][9]["out"] = 10**9
    with pytest.raises(dz.DesignError, match="outside the allowed 1–1024"):
        dz.from_json(json.dumps(huge))
    unknown = json.loads(json.dumps(base))
    unknown["layers"][2] = {"kind": "lstm"}
    with pytest.raises(dz.DesignError, match="unknown layer type 'lstm'"):
        dz.from_json(json.dumps(unknown))
    extra = json.loads(json.dumps(base))
    extra["layers"][0]["__class__"] = "os.system"
    with pytest.raises(dz.DesignError, match="unknown field"):
        dz.from_json(json.dumps(extra))
    for bad in ("{", "[]", json.dumps({"format": "x"}), json.dumps({"format": "cnn_viz-design", "layers": [{"kind": "conv", "out": "16"}]}),
                json.dumps({"format": "cnn_viz-design", "layers": [{"kind": "conv", "out": 1.5, "size": 3}]}),
                json.dumps({"format": "cnn_viz-design", "layers": [{"kind": "conv", "out": True, "size": 3}]})):
        with pytest.raises(dz.DesignError):
            dz.from_json(bad)


def test_table_rows_with_blanks_and_bad_cells():
    rows = dz.SIMPLE_CNN.rows() + [{"type": None}]
    assert dz.from_rows(rows) == dz.SIMPLE_CNN  # an empty new row is ignored
    rows = dz.SIMPLE_CNN.rows()
    rows[0]["out"] = float("inf")
    with pytest.raises(dz.DesignError, match="whole number"):
        dz.from_rows(rows)
    rows = dz.SIMPLE_CNN.rows()
    rows[3]["type"] = "attention"
    with pytest.raises(dz.DesignError, match="unknown layer type"):
        dz.from_rows(rows)


def test_time_budget_message():
    big = dz.EXAMPLES["larger: VGG-style, 32-64 channels"]
    s = dz.summarize(big)
    with pytest.raises(dz.DesignError, match="estimated at .* more than the 10 s"):
        dz.check_time(s, 1, 10.0)
    dz.check_time(dz.summarize(dz.SIMPLE_CNN), 1, 3600.0)


# ---------------------------------------------------------------------------- files


def _bytes(obj, **kw) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("d", [dz.SIMPLE_CNN, DESIGN_A, DESIGN_B], ids=lambda d: d.code[:30])
def test_save_load_round_trip_is_bit_equal(d):
    net = dz.build(d, seed=3)
    _randomise(net, 4)
    got = netfile.load(netfile.to_bytes(d, net, {"held_out_accuracy": 0.5, "history": [[1, 1.0, 0.5, 1.0, 0.5, 2.0]]}))
    assert got.design == d and got.kind == "network file"
    assert got.accuracy == 0.5 and got.seconds_per_epoch == 2.0
    a, b = net.state_dict(), got.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    x = torch.rand(3, 1, 28, 28)
    with torch.no_grad():
        assert torch.equal(net.eval()(x), got.model(x))


def test_a_plain_simplecnn_state_dict_loads_and_keeps_its_outputs():
    shipped = model.load_pretrained()
    for blob in (shipped.state_dict(), {"state_dict": shipped.state_dict(), "meta": {"held_out_accuracy": 0.9}},
                 {"module." + k: v for k, v in shipped.state_dict().items()}):
        got = netfile.load(_bytes(blob))
        assert got.kind == "SimpleCNN state dict" and got.design == dz.SIMPLE_CNN
        x = torch.rand(4, 1, 28, 28)
        with torch.no_grad():
            assert torch.equal(got.model(x), shipped(x))
    assert netfile.load(model.WEIGHTS_PATH.read_bytes()).accuracy == 0.989  # the shipped file, with its meta


class Payload:
    """Unpickling this would run ``exec`` and write a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('ran')",)


def test_a_pickle_payload_is_refused_without_running(tmp_path):
    marker = tmp_path / "marker.txt"
    evil = _bytes({"state_dict": model.SimpleCNN().state_dict(), "extra": Payload(marker)})
    with pytest.raises(netfile.LoadError, match="weights_only") as info:
        netfile.load(evil)
    assert info.value.check == "weights-only loading"
    assert not marker.exists()
    evil_design = _bytes({"format": netfile.FORMAT, "design": Payload(marker), "state_dict": {}})
    with pytest.raises(netfile.LoadError):
        netfile.load(evil_design)
    assert not marker.exists()
    # the payload is real: unpickling it the unsafe way does write the marker
    torch.load(io.BytesIO(evil), weights_only=False)
    assert marker.read_text() == "ran"


def _hostile_cases():
    good = model.SimpleCNN().state_dict()
    full = _bytes(good)
    wrong = dict(good, **{"conv1.weight": torch.zeros(16, 1, 3, 3)})
    nan = dict(good, **{"fc1.bias": torch.full((128,), float("nan"))})
    ints = dict(good, **{"fc2.bias": torch.zeros(10, dtype=torch.int64)})
    missing = {k: v for k, v in good.items() if not k.startswith("bn2")}
    huge = json.loads(dz.SIMPLE_CNN.to_json())
    huge["layers"][9]["out"] = 10**9
    unknown = json.loads(dz.SIMPLE_CNN.to_json())
    unknown["layers"][1]["kind"] = "transformer"
    design_net = dz.build(DESIGN_B, seed=0)
    return {
        "truncated": (full[: len(full) // 2], "weights-only loading"),
        "wrong shapes": (_bytes(wrong), "shapes"),
        "10^9-unit layer": (_bytes({"format": netfile.FORMAT, "design": json.dumps(huge), "state_dict": good}), "design"),
        "unknown layer type": (_bytes({"format": netfile.FORMAT, "design": json.dumps(unknown), "state_dict": good}), "design"),
        "oversize": (b"PK\x03\x04" + bytes(netfile.MAX_BYTES), "size"),
        "not a torch file": (b"\x89PNG\r\n\x1a\n" + bytes(100), "format"),
        "legacy pickle format": (_bytes(good, _use_new_zipfile_serialization=False), "format"),
        "NaN weights": (_bytes(nan), "values"),
        "integer weights": (_bytes(ints), "values"),
        "missing keys": (_bytes(missing), "keys"),
        "weights of another design": (_bytes({"format": netfile.FORMAT, "design": dz.SIMPLE_CNN.to_json(),
                                              "state_dict": design_net.state_dict()}), "keys"),
        "a list": (_bytes([1, 2, 3]), "structure"),
        "design not text": (_bytes({"format": netfile.FORMAT, "design": 5, "state_dict": good}), "structure"),
        "not tensors": (_bytes({"conv1.weight": [1.0, 2.0]}), "structure"),
    }


HOSTILE = _hostile_cases()


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_files_are_refused_with_the_check_named(name):
    data, check = HOSTILE[name]
    with pytest.raises(netfile.LoadError) as info:
        netfile.load(data)
    assert info.value.check == check, str(info.value)
    assert str(info.value).startswith(f"Check '{check}' failed: ")


# ---------------------------------------------------------------------------- the one training loop, any design


def test_training_a_design_is_bit_reproducible_from_its_seed():
    tr, held = train_test_split()
    small = tr.spread(256)
    d = dz.Design((dz.conv(4, 3, 1), dz.RELU, dz.pool(2), dz.FLATTEN, dz.dropout(0.5), dz.linear(10)))

    def run(seed):
        return train.train(small, held_out=held.spread(100), epochs=1, batch_size=64, seed=seed,
                           make_model=lambda: dz.DesignNet(d), optimizer="sgd", lr=0.05).model.state_dict()

    a, b, c = run(0), run(0), run(1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_stop_keeps_what_was_trained():
    tr, held = train_test_split()
    calls = []
    own = train.train_own(tr, held.spread(50), train.RunConfig(epochs=3, n_train=256, batch=64),
                          should_stop=lambda: len(calls) >= 6, on_batch=lambda done, total: calls.append(done),
                          make_model=lambda: dz.DesignNet(DESIGN_B))
    # 4 batches an epoch: Stop during the second epoch keeps the first, finished one (a cut epoch is not kept)
    assert not own.finished and own.epochs_done == 1 and len(calls) == 6
    assert isinstance(own.model, dz.DesignNet)


def test_explain_works_on_any_design():
    net = dz.build(DESIGN_A, seed=0)
    digit = np.zeros((28, 28), np.float32)
    digit[6:22, 12:16] = 1
    r = explain.read(net, digit)
    assert explain.map_layers(r) == ["conv1", "leaky1", "pool1", "conv2", "bn2", "tanh2"]
    assert r.probs.shape == (10,) and math.isclose(float(r.probs.sum()), 1, rel_tol=1e-5)
    convs = explain.conv_filters(net)
    assert [c.layer for c in convs] == ["conv1", "conv2"] and convs[1].weight.shape == (4, 6, 3, 3)
    f5 = explain.figure5_conv(r, convs[0], 2, seed=1)
    with torch.no_grad():  # each sampled activation is the conv1 map's value there (stride 2, padding 1)
        fmap = F.conv2d(torch.from_numpy(digit)[None, None], net.conv1.weight, net.conv1.bias, stride=2, padding=1)[0, 2].numpy()
    for p in f5.patches:
        assert p.activation == pytest.approx(float(fmap[p.row, p.col]), abs=1e-5)
    ev = explain.evidence(net, digit)
    assert ev.cam.shape == (28, 28) and net.cam_layer == "tanh2"
    assert explain.evidence(dz.build(DESIGN_B, seed=0), digit).cam is None
