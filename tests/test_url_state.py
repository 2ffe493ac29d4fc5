"""Every page keeps its settings in the URL: a link with query parameters opens the same demo.

For each page a link with several non-default settings (image, kernel, stride, padding, activation,
pooling, digit, rank, λ, …) is opened under AppTest, and each widget must hold the linked value (the
other direction, widget → address bar, is the browser's job and is checked in test_keyboard_browser.py).
"""

from __future__ import annotations

import pytest

# (page, {query parameter: (value in the link, value the widget must hold)}); widgets with a format_func
# appear in the URL by their label. A tab is part of the link too: widgets in a closed tab do not run.
LINKS = [
    ("kernel_sandbox", {
        "img_sample": ("Astronaut", "Astronaut"),
        "k_preset": ("Sobel x", "Sobel x"),
        "stride": ("2", 2),
        "padding": ("3", 3),
        "padding_mode": ("reflect", "reflect"),
        "dilation": ("2", 2),
        "relu": ("true", True),
    }),
    ("sliding_kernel", {
        "sk_source": ("Handwritten digit (28×28)", "Handwritten digit (28×28)"),
        "sk_k_preset": ("Sharpen", "Sharpen"),
        "sk_stride": ("2", 2),
        "sk_padding": ("1", 1),
        "sk_padding_mode": ("circular", "circular"),
        "sk_bias": ("0.5", 0.5),
        "sk_fps": ("30", 30),
        "sk_pos": ("7", 7),
    }),
    ("relu_pooling", {
        "rp_side": ("64", 64),
        "rp_act": ("Leaky ReLU", "leaky"),
        "rp_slope": ("0.2", 0.2),
        "rp_pool": ("Average", "avg"),
        "rp_psize": ("3", 3),
        "rp_pstride": ("3", 3),
        "rp_pk": ("3", 3),
    }),
    ("relu_pooling", {
        "rp_part": ("Equivariance lab", "Equivariance lab"),
        "rp_dx": ("3", 3),
    }),
    ("relu_pooling", {
        "rp_part": ("Sparse interactions: receptive fields", "Sparse interactions: receptive fields"),
        "rp_stack": ("VGG-style: two 3×3 convs, then a 2×2 pool (per block)", "vgg"),
        "rp_blocks": ("3", 3),
    }),
    ("deblurring", {
        "db1_sigma": ("0.08", 0.08),
        "db1_noise": ("2.5", 2.5),
        "db1_autok": ("false", False),
        "db1_k": ("12", 12),
    }),
    ("deblurring", {
        "db_tab": ("2-D: images", "2-D: images"),
        "db_psf": ("Motion", "Motion"),
        "db_len": ("15", 15),
        "db_angle": ("45", 45),
        "db_iters": ("10", 10),
    }),
    ("low_rank", {
        "lr_k": ("7", 7),
        "lr_eps": ("0.1", 0.1),
    }),
    ("low_rank", {
        "lr_part": ("Why low rank", "Why low rank"),
        "lr_kind": ("Σ_l |a_l − b_l|", "abs difference"),
        "lr_d": ("3", 3),
        "lr_pca_k": ("5", 5),
        "lr_pca_digit": ("12", 12),
    }),
    ("mnist_activations", {
        "mn_scale": ("each map its own", "each map its own"),
        "mn_big_layer": ("conv2", "conv2"),
        "mn_big_map": ("4", 4),
    }),
    ("mnist_activations", {
        "mn_tab": ("Figure 5: patches", "Figure 5: patches"),
        "mn_f5_map": ("3", 3),
        "mn_f5_ink": ("false", False),
    }),
]


@pytest.mark.parametrize("page, link", LINKS, ids=[f"{p}-{i}" for i, (p, _) in enumerate(LINKS)])
def test_a_link_opens_the_same_demo(app_test, page, link):
    at = app_test(timeout=300)
    at.query_params.update({k: v for k, (v, _) in link.items()})
    at.query_params["safe_colours"] = "true"
    at.query_params["presenter"] = "true"
    at.run()
    assert at.toggle(key="safe_colours").value and at.toggle(key="presenter").value
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, at.exception
    held = {k: at.session_state[k] if k in at.session_state else "(no widget)" for k in link}
    assert held == {k: want for k, (_, want) in link.items()}


def test_an_edited_sliding_kernel_is_in_the_link(app_test):
    """The sliding page's kernel numbers travel in the URL as the sandbox's do (sk_k_k, rows ; cols ,)."""
    at = app_test(timeout=120)
    at.query_params.update({"sk_source": "Type a small grid", "sk_k_preset": "Identity", "sk_k_k": "0,1,0;1,-4,1;0,1,0"})
    at.run().switch_page("pages/sliding_kernel.py").run()
    assert not at.exception
    grid = [k for k in at.session_state if str(k).startswith("sk_k_base")]
    assert grid, "the kernel editor did not run"
    assert at.session_state["sk_k_base"].tolist() == [[0, 1, 0], [1, -4, 1], [0, 1, 0]]
