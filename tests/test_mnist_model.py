"""SimpleCNN, its layer-by-layer activations, saliency and Grad-CAM, against torch references."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from cnn_viz.common.torch_tools import count_parameters
from cnn_viz.mnist import data, model
from conftest import ROOT
from mnist_fixtures import net, split  # noqa: F401  (pytest fixtures)

torch.set_num_threads(1)

SHAPES = {
    "conv1": (1, 16, 28, 28), "bn1": (1, 16, 28, 28), "relu1": (1, 16, 28, 28), "pool1": (1, 16, 14, 14),
    "conv2": (1, 32, 14, 14), "bn2": (1, 32, 14, 14), "relu2": (1, 32, 14, 14), "pool2": (1, 32, 7, 7),
    "flatten": (1, 1568), "fc1": (1, 128), "relu": (1, 128), "fc2": (1, 10), "softmax": (1, 10),
}


def randomized_bn_model(seed=3):
    """A fresh model whose BatchNorm statistics are not the identity, so BN really is tested."""
    torch.manual_seed(seed)
    m = model.SimpleCNN()
    for bn in (m.bn1, m.bn2):
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-0.3, 0.3)
    return m.eval()


def test_parameter_count_matches_the_report_layer_by_layer():
    m = model.SimpleCNN()
    assert count_parameters(m) == 215_466
    # by hand: conv1 16*25+16, bn1 2*16, conv2 32*16*25+32, bn2 2*32, fc1 1568*128+128, fc2 128*10+10
    assert 16 * 25 + 16 + 32 + 32 * 16 * 25 + 32 + 64 + 1568 * 128 + 128 + 1280 + 10 == 215_466
    assert [n for n, _ in m.named_children()] == ["conv1", "bn1", "pool", "conv2", "bn2", "fc1", "fc2"]
    assert m.conv1.kernel_size == (5, 5) and m.conv1.padding == (2, 2) and m.conv2.in_channels == 16


def test_every_activation_has_its_shape_in_order(net, split):
    acts = model.activations(net, split[1].images[0])
    assert list(acts) == list(model.LAYERS) == list(SHAPES)
    assert {k: tuple(v.shape) for k, v in acts.items()} == SHAPES
    batch = model.activations(net, split[1].images[:5])
    assert tuple(batch["pool2"].shape) == (5, 32, 7, 7)


def test_activations_equal_the_models_own_forward_and_functional_reference(split):
    m = randomized_bn_model()
    x = split[1].images[:8]
    acts = model.activations(m, x)
    t = torch.from_numpy(x.astype(np.float32) / 255)[:, None]
    with torch.no_grad():
        out = m(t)
        # independent reference with torch.nn.functional only
        c1 = F.conv2d(t, m.conv1.weight, m.conv1.bias, padding=2)
        b1 = F.batch_norm(c1, m.bn1.running_mean, m.bn1.running_var, m.bn1.weight, m.bn1.bias, False, 0.0, m.bn1.eps)
        p1 = F.max_pool2d(F.relu(b1), 2)
        c2 = F.conv2d(p1, m.conv2.weight, m.conv2.bias, padding=2)
        b2 = F.batch_norm(c2, m.bn2.running_mean, m.bn2.running_var, m.bn2.weight, m.bn2.bias, False, 0.0, m.bn2.eps)
        p2 = F.max_pool2d(F.relu(b2), 2)
        f1 = F.linear(p2.reshape(8, -1), m.fc1.weight, m.fc1.bias)
        f2 = F.linear(F.relu(f1), m.fc2.weight, m.fc2.bias)
    torch.testing.assert_close(acts["fc2"], out, rtol=0, atol=0)
    for name, ref in [("conv1", c1), ("bn1", b1), ("pool1", p1), ("conv2", c2), ("bn2", b2), ("pool2", p2),
                      ("fc1", f1), ("fc2", f2)]:
        torch.testing.assert_close(acts[name], ref, rtol=1e-5, atol=1e-5, msg=name)
    torch.testing.assert_close(acts["softmax"], torch.softmax(out, 1))
    # BN in eval mode is an affine map per channel: (x - mean) / sqrt(var + eps) * gamma + beta
    bn = m.bn1
    manual = (c1 - bn.running_mean[None, :, None, None]) / torch.sqrt(bn.running_var + bn.eps)[None, :, None, None]
    manual = manual * bn.weight[None, :, None, None] + bn.bias[None, :, None, None]
    torch.testing.assert_close(acts["bn1"], manual, rtol=1e-5, atol=1e-5)
    assert np.allclose(model.predict(m, x), torch.softmax(out, 1).numpy(), atol=1e-6)


def test_activations_leave_the_model_untouched(net, split):
    before = copy.deepcopy(net.state_dict())
    hooks = (len(net._forward_hooks), len(net.conv1._forward_hooks))
    model.activations(net, split[1].images[0])
    model.saliency(net, split[1].images[0])
    model.grad_cam(net, split[1].images[0])
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in net.parameters())
    assert (len(net._forward_hooks), len(net.conv1._forward_hooks)) == hooks == (0, 0)
    assert not net.training


def test_conv1_entry_is_the_report_dot_product(net, split):
    """A(i, j) = Σ_m Σ_n I(i+m, j+n) K(m, n) + b on the zero-padded input (report eq. for one entry)."""
    img = split[1].images[3].astype(np.float64) / 255
    acts = model.activations(net, img.astype(np.float32))
    k = net.conv1.weight.detach().numpy()[5, 0].astype(np.float64)
    b = float(net.conv1.bias.detach()[5])
    padded = np.pad(img, 2)
    for i, j in [(0, 0), (10, 13), (27, 27), (14, 5)]:
        expect = float((padded[i:i + 5, j:j + 5] * k).sum() + b)
        assert acts["conv1"][0, 5, i, j].item() == pytest.approx(expect, abs=1e-5)


def test_saliency_equals_autograd_on_the_input(net, split):
    x = split[1].images[7]
    sal, c = model.saliency(net, x, target=None)
    ref_model = copy.deepcopy(net)
    t = torch.from_numpy(x.astype(np.float32) / 255)[None, None].requires_grad_(True)
    logits = ref_model(t)
    assert c == int(logits.argmax())
    logits[0, c].backward()
    np.testing.assert_allclose(sal, t.grad[0, 0].numpy(), rtol=1e-5, atol=1e-7)
    # another class gives another gradient
    other, c2 = model.saliency(net, x, target=(c + 1) % 10)
    assert c2 == (c + 1) % 10 and not np.allclose(other, sal)
    with pytest.raises(ValueError):
        model.saliency(net, x, target=12)


def test_grad_cam_matches_a_hook_based_reference(net, split):
    x = split[1].images[11]
    cam, c = model.grad_cam(net, x)
    ref = copy.deepcopy(net)
    store = {}

    def fwd_hook(_m, _i, out):
        store["A"] = out
        out.register_hook(lambda g: store.__setitem__("G", g))

    # the reference hooks a *copy* only: the conv2 block output after BN and ReLU
    relu_mod = nn.ReLU()
    relu_mod.register_forward_hook(fwd_hook)
    t = torch.from_numpy(x.astype(np.float32) / 255)[None, None]
    h = ref.pool(F.relu(ref.bn1(ref.conv1(t))))
    a = relu_mod(ref.bn2(ref.conv2(h)))
    logits = ref.fc2(F.relu(ref.fc1(torch.flatten(ref.pool(a), 1))))
    logits[0, c].backward()
    w = store["G"].mean(dim=(2, 3))[0]
    raw = torch.relu((w[:, None, None] * store["A"][0]).sum(0)).detach().numpy()
    # bilinear upsampling 14 -> 28 with half-pixel centres, as scipy's zoom with grid_mode
    from scipy import ndimage

    up = ndimage.zoom(raw, 2, order=1, mode="nearest", grid_mode=True)
    up = up / up.max()
    assert cam.shape == (28, 28) and cam.max() == pytest.approx(1.0)
    np.testing.assert_allclose(cam, up, atol=1e-4)


def test_shipped_weights_reach_the_stated_held_out_accuracy(net, split):
    meta = model.load_meta()
    held = split[1]
    acc = model.accuracy(net, held.images, held.labels)
    assert len(held) == 1000 and data.DIGIT_7_ROW in held.rows
    assert acc >= 0.985
    assert acc == pytest.approx(meta["held_out_accuracy"], abs=1e-9)
    # and it never saw them
    train = split[0]
    assert not set(train.rows) & set(held.rows)


def test_as_input_rejects_wrong_shapes():
    with pytest.raises(ValueError, match="28×28"):
        model.as_input(np.zeros((32, 32)))
    assert model.as_input(np.full((28, 28), 255, np.uint8)).max().item() == 1.0


def test_accuracy_on_digits_drawn_in_the_browser(net):
    """tests/fixtures/drawn_digits.npz: 20 digits drawn with the mouse on the page's canvas (test_mnist_browser.py)."""
    from cnn_viz.mnist import prep

    z = np.load(ROOT / "tests" / "fixtures" / "drawn_digits.npz")
    digits = np.stack([prep.prepare(a).digit for a in z["canvas"]])
    pred = model.predict(net, digits).argmax(1)
    acc = float((pred == z["labels"]).mean())
    assert acc >= 0.9, (pred, z["labels"])


def test_readings_from_every_script_thread_run_on_one_torch_thread_with_the_same_values(split):
    """Streamlit runs each rerun on a new thread; the per-rerun torch calls go to one long-lived thread
    (torch_tools.on_torch_thread). From 6 new threads: the same values as the model's own forward and
    torch.autograd here, every forward (seen by a hook on conv1) on one thread that is none of the callers,
    and errors reach the caller."""
    import threading

    from cnn_viz.common import torch_tools

    m = randomized_bn_model()
    digits = split[1].images[:6]
    x = torch.from_numpy(digits.astype(np.float32) / 255)[:, None]
    with torch.inference_mode():
        want = F.softmax(m(x), dim=1).numpy()
    xg = x[:1].clone().requires_grad_(True)
    want_sal = torch.autograd.grad(m(xg)[0, 3], xg)[0][0, 0].numpy()
    ran_on, callers, got, errors = [], set(), {}, []
    m.conv1.register_forward_hook(lambda *_: ran_on.append(threading.get_ident()))

    def student(i):
        callers.add(threading.get_ident())
        got[i] = (model.activations(m, digits[i])["softmax"].numpy()[0], model.predict(m, digits[i]))
        if i == 0:
            got["sal"] = model.saliency(m, digits[0], target=3)[0]
        try:
            model.activations(m, np.zeros((3, 5)))
        except ValueError as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=student, args=(i,)) for i in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(ran_on) == 13 and len(set(ran_on)) == 1  # 6 readings, 6 predictions, 1 saliency
    torch_thread = ran_on[0]
    assert torch_thread not in callers and torch_thread != threading.get_ident()
    for i in range(6):
        np.testing.assert_allclose(got[i][0], want[i], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(got[i][1], want[i], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(got["sal"], want_sal, rtol=1e-5, atol=1e-7)
    assert len(errors) == 6 and all("28×28" in e for e in errors)
    # a decorated call made on the torch thread runs there (nested: no deadlock)
    where = torch_tools.on_torch_thread(threading.get_ident)
    assert torch_tools.on_torch_thread(lambda: (threading.get_ident(), where()))() == (torch_thread, torch_thread)
