"""Each page's generated questions against independent references: torch's conv2d output shape and
max_pool2d, NumPy's SVD, a direct Tikhonov error scan, and the network's own forward pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnn_viz.classroom import questions as Q
from cnn_viz.common import images, kernels


def _torch_size(h, w, kh, kw, s, p, d):
    y = F.conv2d(torch.zeros(1, 1, h, w), torch.zeros(1, 1, kh, kw), stride=s, padding=p, dilation=d)
    return f"{y.shape[2]}×{y.shape[3]}"


@pytest.mark.parametrize("h,w,kh,kw,s,p,d", [(512, 512, 3, 3, 1, 0, 1), (512, 384, 5, 5, 2, 1, 1), (28, 28, 3, 3, 3, 2, 2),
                                           (33, 17, 7, 3, 4, 0, 3), (8, 8, 15, 15, 1, 3, 1)])
def test_output_size_is_torchs(h, w, kh, kw, s, p, d):
    q = Q.output_size(h, w, kh, kw, s, p, d, seed=3)
    if d * (kh - 1) + 1 > h + 2 * p:
        assert q.answer == "no"
        with pytest.raises(RuntimeError):
            _torch_size(h, w, kh, kw, s, p, d)
        return
    assert q.answer == _torch_size(h, w, kh, kw, s, p, d)
    assert q.answer in q.choices and len(set(q.choices)) == len(q.choices) >= 3
    assert q.check(q.answer) and not q.check(next(c for c in q.choices if c != q.answer))


def test_sandbox_questions_follow_the_url():
    params = {"img_sample": "Astronaut", "k_preset": "Box blur 5×5", "stride": "3", "padding": "2", "dilation": "2"}
    size_q, kernel_q = Q.for_page("kernel_sandbox", params)
    img = images.to_gray(images.load_sample("Astronaut"))
    assert size_q.answer == _torch_size(*img.shape, 5, 5, 3, 2, 2)
    # the map shown is the right kernel's cross-correlation, by torch
    ref = F.conv2d(torch.from_numpy(img.astype(np.float64))[None, None],
                   torch.from_numpy(kernels.preset(kernel_q.answer))[None, None], padding="same")[0, 0].numpy()
    np.testing.assert_allclose(kernel_q.image, ref, atol=1e-5)
    assert kernel_q.answer in kernel_q.choices
    # a forged URL gives the default questions, not an error
    forged = Q.for_page("kernel_sandbox", {"stride": "<script>", "padding": "-4", "img_sample": "[x](http://e)"})
    assert forged[0].answer == _torch_size(512, 512, 3, 3, 1, 0, 1)


@pytest.mark.parametrize("size,stride,seed", [(2, 2, 0), (2, 2, 5), (3, 2, 1), (2, 1, 7)])
def test_pool_value_is_torchs_max_pool(size, stride, seed):
    params = {"rp_side": "64", "rp_psize": str(size), "rp_pstride": str(stride), "rp_img_sample": "Cameraman"}
    q = Q.for_page("relu_pooling", params, seed=seed)[0]
    img = images.to_gray(images.load_sample("Cameraman", 64))
    fmap = F.relu(F.conv2d(torch.from_numpy(img.astype(np.float64))[None, None],
                           torch.from_numpy(kernels.preset("Vertical edge (report)"))[None, None], padding="same"))
    pooled = F.max_pool2d(fmap, size, stride)[0, 0].numpy()
    # the question's window values appear in the prompt; the answer is one entry of torch's pooled map
    assert any(abs(float(q.answer) - v) < 5e-4 for v in pooled.ravel())
    assert abs(float(q.answer) - np.nanmax(q.image)) < 5e-4
    if seed == 0:
        assert abs(float(q.answer) - pooled.max()) < 5e-4   # the strongest window
    assert q.answer in q.choices


@pytest.mark.parametrize("name,side", [("Cameraman", 128), ("Astronaut", 96), ("Handwritten 7 (MNIST)", 64)])
def test_rank_for_30db_is_numpys_svd(name, side):
    q = Q.for_page("low_rank", {"lr_img_sample": name, "lr_side": str(side)})[0]
    img = images.to_gray(images.load_sample(name, side)).astype(np.float64)
    u, s, vt = np.linalg.svd(img, full_matrices=False)
    for k in range(len(s) + 1):
        approx = (u[:, :k] * s[:k]) @ vt[:k]
        if 10 * np.log10(1.0 / np.mean((img - approx) ** 2)) >= 30:
            break
    assert q.answer == str(k)
    assert q.answer in q.choices


@pytest.mark.parametrize("signal,sigma,noise,seed", [("Smooth bump", 0.1, 0.1, 0), ("Smooth bump", 0.05, 1.0, 0),
                                                    ("Piecewise constant", 0.05, 1.0, 0), ("Bump and step", 0.1, 1.0, 0)])
def test_gcv_question_against_a_direct_scan(signal, sigma, noise, seed):
    from cnn_viz.deblur import signal1d

    n = 128
    params = {"db1_signal": signal, "db1_n": str(n), "db1_sigma": str(sigma), "db1_noise": str(noise), "db1_seed": str(seed)}
    q = Q.for_page("deblurring", params)[0]
    # reference: the same data, λ by a brute-force GCV and error scan with NumPy's SVD
    f = signal1d.test_signal(signal, n)
    t = (np.arange(n) + 0.5) / n
    A = np.exp(-((t[:, None] - t[None, :]) ** 2) / sigma ** 2) / n
    a = signal1d.analyse(f, sigma, noise / 100, seed)
    np.testing.assert_allclose(a.A, A, rtol=1e-10, atol=1e-14)
    b = a.b
    U, s, Vt = np.linalg.svd(A)
    beta = U.T @ b
    lams = np.logspace(-8, 0, 2000)
    phi = s[None] ** 2 / (s[None] ** 2 + lams[:, None] ** 2)
    gcv = np.sum(((1 - phi) * beta[None]) ** 2, axis=1) / (n - phi.sum(axis=1)) ** 2
    xs = (phi * beta[None] / s[None]) @ Vt
    err = np.linalg.norm(xs - f[None], axis=1)
    lam_gcv, lam_best = lams[np.argmin(gcv)], lams[np.argmin(err)]
    assert abs(np.log(a.pick("gcv").lam / lam_gcv)) < 0.03          # GCV's λ: the same minimum
    assert abs(np.log(a.pick("best").lam / lam_best)) < 0.15        # the oracle's λ (the page's grid is coarser)
    ratio = lam_gcv / lam_best
    assert min(abs(np.log(ratio / 0.5)), abs(np.log(ratio / 2))) > 0.2, f"pick a case away from the 2× boundaries ({ratio:.2f})"
    want = Q.GCV_CHOICES[2] if 0.5 <= ratio <= 2 else Q.GCV_CHOICES[0] if ratio < 1 else Q.GCV_CHOICES[1]
    assert q.answer == want, (q.explanation, ratio)


def test_digit_question_is_the_networks_forward():
    from cnn_viz.mnist import data, model

    net = model.load_pretrained()
    _, held = data.load_split()
    for i in (0, 123, 999):
        q = Q.for_page("mnist_activations", {"mn_gallery": str(i)}, model=net)[0]
        x = torch.from_numpy(data.to_float(held.images[i]))[None, None]
        with torch.no_grad():
            want = int(net(x).argmax())
        assert q.answer == str(want) and q.choices == tuple("0123456789")
        assert f"true label is {int(held.labels[i])}" in q.explanation


def test_every_page_has_questions_and_unknown_pages_none():
    from cnn_viz.mnist import model

    net = model.load_pretrained()
    for page in Q.PAGES:
        qs = Q.for_page(page, {}, model=net)
        assert qs, page
        for q in qs:
            assert q.answer in q.choices and q.prompt and q.explanation
    assert Q.for_page("nope", {}) == []
