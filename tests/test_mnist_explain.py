"""What the page shows of a network reading a digit (cnn_viz.mnist.explain), against torch computed here."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnn_viz.mnist import explain, model
from mnist_fixtures import four, net  # noqa: F401  (pytest fixtures)

torch.set_num_threads(1)


def forward(net, digit):
    """The forward pass with torch.nn.functional, independently of model.activations."""
    t = torch.from_numpy(digit)[None, None]
    with torch.no_grad():
        c1 = F.conv2d(t, net.conv1.weight, net.conv1.bias, padding=2)
        b1 = F.batch_norm(c1, net.bn1.running_mean, net.bn1.running_var, net.bn1.weight, net.bn1.bias, False, 0.0, net.bn1.eps)
        p1 = F.max_pool2d(F.relu(b1), 2)
        b2 = F.batch_norm(F.conv2d(p1, net.conv2.weight, net.conv2.bias, padding=2), net.bn2.running_mean, net.bn2.running_var,
                          net.bn2.weight, net.bn2.bias, False, 0.0, net.bn2.eps)
        f1 = F.linear(F.max_pool2d(F.relu(b2), 2).reshape(1, -1), net.fc1.weight, net.fc1.bias)
        logits = F.linear(F.relu(f1), net.fc2.weight, net.fc2.bias)
    return dict(conv1=c1[0].numpy(), relu2=F.relu(b2)[0].numpy(), fc1=f1[0].numpy(), probs=torch.softmax(logits, 1)[0].numpy())


def test_reading_is_numpy_and_matches_the_functional_forward(net, four):
    r = explain.read(net, four)
    ref = forward(net, four)
    assert all(isinstance(v, np.ndarray) for v in r.maps.values()) and list(r.maps) == list(model.LAYERS)
    np.testing.assert_allclose(r.maps["conv1"], ref["conv1"], atol=1e-5)
    np.testing.assert_allclose(r.maps["relu2"], ref["relu2"], atol=1e-5)
    np.testing.assert_allclose(r.probs, ref["probs"], atol=1e-6)
    assert r.guess == int(np.argmax(ref["probs"])) == 4
    assert r.confidence == pytest.approx(float(ref["probs"].max()), abs=1e-6)
    assert r.active_units == int((ref["fc1"] > 0).sum())
    assert r.n_maps("pool1") == 16 and r.shape_text("conv2") == "32 maps of 14×14" and r.shape_text("pool2") == "32 maps of 7×7"


def test_filters_are_the_conv_weights(net):
    k = explain.filters(net)
    np.testing.assert_array_equal(k.conv1, net.conv1.weight.detach().numpy()[:, 0])
    np.testing.assert_array_equal(k.conv2, net.conv2.weight.detach().numpy())
    np.testing.assert_array_equal(k.conv1_bias, net.conv1.bias.detach().numpy())
    assert k.conv1_rows.shape == (16, 25) and k.conv2_rows.shape == (32, 400)
    np.testing.assert_array_equal(k.conv1_rows[5], net.conv1.weight.detach().numpy()[5, 0].ravel())
    np.testing.assert_array_equal(k.conv2_rows[7, 25:50], net.conv2.weight.detach().numpy()[7, 1].ravel())


def test_big_map_pairs_each_map_with_its_kernel(net, four):
    r, k = explain.read(net, four), explain.filters(net)
    w1, w2 = net.conv1.weight.detach().numpy(), net.conv2.weight.detach().numpy()
    one = explain.big_map(r, k, "conv1", 3)
    np.testing.assert_array_equal(one.kernel, w1[3, 0])
    assert one.bias == pytest.approx(float(net.conv1.bias.detach()[3])) and one.from_conv1
    # the conv1 map is the 5×5 kernel slid over the zero-padded digit (NumPy, entry by entry)
    padded = np.pad(four.astype(np.float64), 2)
    for i, j in [(0, 0), (12, 9), (27, 27)]:
        assert one.values[i, j] == pytest.approx((padded[i:i + 5, j:j + 5] * w1[3, 0]).sum() + one.bias, abs=1e-5)
    assert one.title == "conv1 map 3 (28×28)" and one.after_conv == ""
    deep = explain.big_map(r, k, "relu2", 31)
    np.testing.assert_array_equal(deep.kernel, w2[31])
    assert not deep.from_conv1 and deep.bias == pytest.approx(float(net.conv2.bias.detach()[31]))
    assert deep.kernel.shape == (16, 5, 5) and deep.title == "relu2 map 31 (14×14)"
    assert explain.big_map(r, k, "bn1", 0).after_conv == "Then BN rescales it."
    assert explain.big_map(r, k, "relu1", 0).after_conv == "Then BN rescales it, ReLU clips negatives."
    assert explain.big_map(r, k, "pool1", 0).after_conv == "Then BN rescales it, ReLU clips negatives, and 2×2 max pooling halves its size."
    with pytest.raises(ValueError):
        explain.big_map(r, k, "pool1", 16)


def test_figure5_samples_the_conv1_map(net, four):
    r, k = explain.read(net, four), explain.filters(net)
    f5 = explain.figure5(r, k, 9, seed=2)
    ref = forward(net, four)["conv1"][9]
    np.testing.assert_allclose(f5.fmap, ref, atol=1e-5)
    assert f5.map_index == 9 and len(f5.patches) == 5
    for p in f5.patches:
        assert p.activation == pytest.approx(float(ref[p.row, p.col]), abs=1e-5)
        assert p.sum + p.bias == pytest.approx(p.activation)
    # without on_ink, positions come from the whole map, including empty black
    anywhere = explain.figure5_patches(np.zeros((28, 28)), k.conv1[0], 0.5, n=28 * 28, on_ink=False)
    assert len({(p.row, p.col) for p in anywhere}) == 28 * 28
    assert all(p.activation == pytest.approx(0.5) for p in anywhere)


def test_evidence_explains_the_chosen_class(net, four):
    assert explain.TARGETS[0] == explain.PREDICTION and explain.TARGETS[1:] == tuple("0123456789")
    ev = explain.evidence(net, four, "3")
    t = torch.from_numpy(four)[None, None].requires_grad_(True)
    copy.deepcopy(net)(t)[0, 3].backward()  # on a copy: the fixture's parameters get no .grad
    assert ev.target == 3
    np.testing.assert_allclose(ev.saliency, t.grad[0, 0].numpy(), rtol=1e-5, atol=1e-7)
    assert ev.cam.shape == (28, 28) and ev.cam.max() == pytest.approx(1.0) and ev.cam.min() >= 0
    assert explain.evidence(net, four).target == explain.evidence(net, four, None).target == 4
