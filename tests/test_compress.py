"""The CNN compressed: factorized layers against torch references (F.linear / F.conv2d with the truncated
weights), full rank reproduces the original outputs, the fast sweep against full forward passes,
separable kernels against the full 2-D convolution."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage import data

from cnn_viz.common import kernels
from cnn_viz.common.torch_tools import count_parameters
from cnn_viz.lowrank import compress, figures
from cnn_viz.mnist import data as mnist
from cnn_viz.mnist.model import SimpleCNN, accuracy, load_pretrained

torch.set_num_threads(1)


def _truncated(w: torch.Tensor, k: int) -> torch.Tensor:
    u, s, vh = torch.linalg.svd(w.double(), full_matrices=False)
    return (u[:, :k] * s[:k]) @ vh[:k]


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    m = SimpleCNN()
    with torch.no_grad():  # non-trivial batch-norm statistics
        for bn in (m.bn1, m.bn2):
            bn.running_mean.uniform_(-0.2, 0.2)
            bn.running_var.uniform_(0.5, 1.5)
    return m.eval()


@pytest.fixture(scope="module")
def trained():
    return load_pretrained()


@pytest.fixture(scope="module")
def held_out():
    return mnist.train_test_split()[1]


@pytest.mark.parametrize("k", [1, 7, 64])
def test_factorized_linear_is_the_product_of_its_factors_and_the_truncation(net, k):
    seq = compress.factorize_linear(net.fc1, k)
    assert seq[0].weight.shape == (k, 1568) and seq[1].weight.shape == (128, k)
    wk = _truncated(net.fc1.weight.detach(), k)
    product = seq[1].weight.double() @ seq[0].weight.double()
    torch.testing.assert_close(product, wk, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(compress.factored_weight(seq).double(), wk, atol=1e-5, rtol=1e-5)
    x = torch.randn(5, 1568)
    with torch.no_grad():
        torch.testing.assert_close(seq(x).double(), F.linear(x.double(), wk, net.fc1.bias.double()), atol=1e-4, rtol=1e-4)
    assert count_parameters(seq) == compress.layer_parameters("fc1", k) == k * (1568 + 128) + 128


def test_full_rank_linear_reproduces_the_layer(net):
    seq = compress.factorize_linear(net.fc1, 128)
    x = torch.randn(8, 1568)
    with torch.no_grad():
        torch.testing.assert_close(seq(x), net.fc1(x), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("k", [1, 5, 32])
def test_factorized_conv_is_the_truncated_kernel_matrix(net, k):
    seq = compress.factorize_conv(net.conv2, k)
    assert seq[0].weight.shape == (k, 16, 5, 5) and seq[1].weight.shape == (32, k, 1, 1)
    wk = _truncated(compress.conv_matrix(net.conv2), k)
    torch.testing.assert_close(compress.factored_weight(seq).double(), wk, atol=1e-5, rtol=1e-5)
    x = torch.randn(3, 16, 14, 14)
    ref = F.conv2d(x.double(), wk.reshape(32, 16, 5, 5), net.conv2.bias.double(), padding=2)
    with torch.no_grad():
        torch.testing.assert_close(seq(x).double(), ref, atol=1e-4, rtol=1e-4)
        if k == 32:
            torch.testing.assert_close(seq(x), net.conv2(x), atol=1e-4, rtol=1e-4)
    assert count_parameters(seq) == compress.layer_parameters("conv2", k) == k * (400 + 32) + 32


def test_compressed_model_at_full_rank_reproduces_the_model_and_leaves_it_alone(net):
    before = {n: p.clone() for n, p in net.state_dict().items()}
    m = compress.compressed(net, fc1_rank=128, conv2_rank=32)
    x = torch.rand(6, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(m(x), net(x), atol=1e-4, rtol=1e-4)
        small = compress.compressed(net, fc1_rank=3)
        ref_hidden = F.linear(torch.flatten(net.pool(F.relu(net.bn2(net.conv2(net.pool(F.relu(net.bn1(net.conv1(x)))))))), 1).double(),
                              _truncated(net.fc1.weight.detach(), 3), net.fc1.bias.double())
        torch.testing.assert_close(small(x).double(), net.fc2(F.relu(ref_hidden).float()).double(), atol=1e-4, rtol=1e-4)
    assert isinstance(net.fc1, torch.nn.Linear) and isinstance(net.conv2, torch.nn.Conv2d)
    for n, p in net.state_dict().items():
        assert torch.equal(p, before[n]), n
    assert count_parameters(m) == count_parameters(net) - (128 * 1568) + 128 * (1568 + 128) - 32 * 400 + 32 * 432
    with pytest.raises(ValueError, match="between 1 and 128"):
        compress.factorize_linear(net.fc1, 129)


@pytest.mark.parametrize("layer,ks", [("fc1", [1, 4, 16, 128]), ("conv2", [1, 6, 32])])
def test_fast_sweep_equals_full_forward_passes_of_the_compressed_model(trained, held_out, layer, ks):
    imgs, labels = held_out.images[:300], held_out.labels[:300]
    sw = compress.rank_sweep(trained, imgs, labels, layer, ranks=ks)
    assert sw.full_accuracy == pytest.approx(100 * accuracy(trained, imgs, labels))
    for k, acc, mp in zip(sw.ranks, sw.accuracy, sw.model_params):
        model = compress.compressed(trained, **{f"{layer}_rank": int(k)})
        assert acc == pytest.approx(100 * accuracy(model, imgs, labels)), k
        assert mp == count_parameters(model)
    assert sw.accuracy[-1] == pytest.approx(sw.full_accuracy)  # full rank changes nothing


def test_smallest_rank_within_half_a_point(trained, held_out):
    sw = compress.rank_sweep(trained, held_out.images, held_out.labels, "fc1")
    k = sw.smallest_within(0.5)
    assert sw.accuracy[k - 1] >= sw.full_accuracy - 0.5
    assert k == 1 or all(a < sw.full_accuracy - 0.5 for a in sw.accuracy[: k - 1])
    assert compress.smallest_rank_within([1, 2, 3, 4], [50, 97, 98.6, 99.0], 99.0, 0.5) == 3
    assert compress.smallest_rank_within([1, 2], [10, 20], 99.0) is None
    assert sw.singular_values.shape == (128,)
    np.testing.assert_allclose(sw.singular_values, np.linalg.svd(trained.fc1.weight.detach().double().numpy(), compute_uv=False), rtol=1e-5)
    fig = figures.accuracy_rank_figure(sw, 10)
    assert list(fig.data[0].y) == list(sw.accuracy) and fig.data[-1].x[0] == k


def test_sobel_and_gaussian_are_rank_one_and_their_separable_convolution_is_the_full_one():
    cam = data.camera().astype(np.float64) / 255.0
    cases = {c.name: c for c in compress.separable_cases()}
    for name in ("Sobel x", "Sobel y", "Gaussian 5×5 (σ=1)"):
        c = cases[name]
        assert c.rank == 1 == np.linalg.matrix_rank(kernels.preset(name))
        np.testing.assert_allclose(np.outer(c.column, c.row), c.kernel, atol=1e-12)
        sep = compress.separable_conv2d(cam, c.column, c.row)
        kh, kw = c.kernel.shape
        ref = F.conv2d(torch.from_numpy(cam)[None, None], torch.from_numpy(c.kernel)[None, None], padding=(kh // 2, kw // 2))[0, 0].numpy()
        np.testing.assert_allclose(sep, ref, atol=1e-12)
        assert compress.separable_error(cam, c.kernel, c.column, c.row) < 1e-12
    assert cases["Laplacian (4-neighbour)"].rank == 2 == np.linalg.matrix_rank(kernels.preset("Laplacian (4-neighbour)"))


def test_flops_of_separable_against_full_convolution():
    assert compress.conv_flops(512, 512, 5, 5, separable=False) == 512 * 512 * 25
    assert compress.conv_flops(512, 512, 5, 5, separable=True) == 512 * 512 * 10
    assert compress.conv_flops(100, 80, 15, 15, False) / compress.conv_flops(100, 80, 15, 15, True) == pytest.approx(7.5)
    fig = figures.flops_figure([3, 5], 512, 512)
    assert list(fig.data[0].y) == [512 * 512 * 9, 512 * 512 * 25] and list(fig.data[1].y) == [512 * 512 * 6, 512 * 512 * 10]


def test_rank1_energy_of_kernels(net):
    e = compress.rank1_energy(net.conv1)
    assert e.shape == (16,)
    w = net.conv1.weight.detach().double().numpy().reshape(16, 5, 5)
    s = np.linalg.svd(w, compute_uv=False)
    np.testing.assert_allclose(e, s[:, 0] ** 2 / (s**2).sum(1), rtol=1e-10)
    sob = torch.nn.Conv2d(1, 1, 3, bias=False)
    with torch.no_grad():
        sob.weight.copy_(torch.from_numpy(kernels.preset("Sobel x"))[None, None])
    assert compress.rank1_energy(sob)[0] == pytest.approx(1.0)


def test_factored_parameters_count_the_layers_weights_and_biases():
    cnn = SimpleCNN()
    assert compress.SHAPES["fc1"] == tuple(cnn.fc1.weight.shape) == (128, 1568)
    assert compress.SHAPES["conv2"] == tuple(cnn.conv2.weight.reshape(32, -1).shape) == (32, 400)
    assert compress.factored_parameters((128, 1568), None) == count_parameters(cnn.fc1)
    for k in (1, 9):
        assert compress.factored_parameters((128, 1568), k) == count_parameters(compress.factorize_linear(cnn.fc1, k))
        assert compress.layer_parameters("conv2", k) == count_parameters(compress.factorize_conv(cnn.conv2, k))
    with pytest.raises(ValueError, match="layer must be"):
        compress.layer_parameters("fc2", 1)


def test_rank_sweep_at_one_rank_its_table_and_caption(trained, held_out):
    sw = compress.rank_sweep(trained, held_out.images, held_out.labels, "fc1")
    assert sw.shape == tuple(trained.fc1.weight.shape) and sw.full_rank == 128 and sw.n_digits == len(held_out) == 1000
    full_params = 128 * 1568 + 128
    for k in (10, 128):
        at = sw.at(k)
        assert at.accuracy == sw.accuracy[k - 1] and at.accuracy_change == pytest.approx(sw.accuracy[k - 1] - sw.full_accuracy)
        assert at.layer_params == k * (1568 + 128) + 128 and at.full_layer_params == full_params
        assert at.model_params == count_parameters(compress.compressed(trained, fc1_rank=k))
    assert sw.at(10).fewer and sw.at(10).size_change == f"{full_params / (10 * 1696 + 128):.1f}× fewer"
    assert not sw.at(128).fewer and sw.at(128).size_change == f"{(128 * 1696 + 128) / full_params:.2f}× more"
    with pytest.raises(ValueError, match="not measured"):
        sw.at(129)
    np.testing.assert_array_equal(sw.table[:, 0], np.arange(1, 129))
    np.testing.assert_array_equal(sw.table[:, 1], sw.accuracy)
    np.testing.assert_array_equal(sw.table[:, 3], sw.model_params)
    k = sw.smallest_within(0.5)
    cap = sw.caption(0.5)
    assert cap.startswith("fc1 as a 128 × 1568 matrix, truncated to rank k = 1 … 128 (log axis); accuracy on the 1,000 held-out")
    assert f"The smallest k inside the band is {k}: {k * 1696 + 128:,} parameters instead of {full_params:,}" in cap
    assert f"the whole model {count_parameters(compress.compressed(trained, fc1_rank=k)):,} instead of {count_parameters(trained):,}." in cap
    worse = dataclasses.replace(sw, accuracy=sw.accuracy - 50)
    assert worse.caption(0.5).endswith(f"No rank reaches within 0.5 points of the full model ({sw.full_accuracy:.1f}%).")
    conv = compress.rank_sweep(trained, held_out.images[:50], held_out.labels[:50], "conv2", ranks=[1, 32])
    assert conv.shape == (32, 400) and conv.n_digits == 50 and conv.caption().startswith("conv2 as a 32 × 400 matrix")


def test_separable_checks_of_the_presets_on_an_image():
    cam = data.camera().astype(np.float64)[:200, :300] / 255.0
    checks = {c.case.name: c for c in compress.separable_checks(cam)}
    for name in ("Sobel x", "Sobel y", "Gaussian 5×5 (σ=1)"):
        c = checks[name]
        kh, kw = c.case.kernel.shape
        ref = F.conv2d(torch.from_numpy(cam)[None, None], torch.from_numpy(c.case.kernel)[None, None], padding=(kh // 2, kw // 2))[0, 0]
        two_pass = F.conv2d(F.conv2d(torch.from_numpy(cam)[None, None], torch.from_numpy(c.case.column).reshape(1, 1, -1, 1),
                                     padding=(kh // 2, 0)), torch.from_numpy(c.case.row).reshape(1, 1, 1, -1), padding=(0, kw // 2))[0, 0]
        assert c.error == pytest.approx(float((two_pass - ref).abs().max()), abs=1e-15) and c.error < 1e-12
        s = np.linalg.svd(kernels.preset(name), compute_uv=False)
        assert c.sigma_text == ", ".join(f"{v:.3g}" if v > 1e-9 * s[0] else "0" for v in s)
        assert c.caption.startswith(f"Rank 1 (σ = {c.sigma_text}): K = c rᵀ. On the 200×300 cameraman")
        assert c.caption.endswith(f"to {c.error:.1e}.")
    lap = checks["Laplacian (4-neighbour)"]
    assert lap.error is None and lap.sigma_text == "4.45, 0.449, 0"
    assert lap.caption.startswith("Rank 2 (σ = 4.45, 0.449, 0): not an outer product")


def test_separable_cost_of_a_5x5_convolution(net):
    cost = compress.separable_cost(net.conv1)
    assert (cost.h, cost.w, cost.size, cost.large) == (512, 512, 5, 15)
    assert cost.full == 512 * 512 * 25 and cost.separable == 512 * 512 * 10 and cost.ratio == 2.5
    assert cost.large_ratio == pytest.approx(225 / 30)
    assert cost.value == "2.62 M" and cost.delta == "2.5× fewer than 6.55 M"
    s = np.linalg.svd(net.conv1.weight.detach().double().numpy().reshape(16, 5, 5), compute_uv=False)
    e = s[:, 0] ** 2 / (s**2).sum(1)
    np.testing.assert_allclose(cost.energy, e, rtol=1e-10)
    assert "the saving grows with the size (15 × 15: 7.5×)" in cost.caption
    assert cost.caption.endswith(f"on average {100 * e.mean():.0f}% of their energy (from {100 * e.min():.0f}% to {100 * e.max():.0f}%).")
