"""Text alternatives of the figures: the numbers they state are the numbers of the picture, checked
against references computed here (torch.nn.functional.conv2d, NumPy), not against the code's own output."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnn_viz.common import fmt, images
from cnn_viz.sandbox import core as sandbox
from cnn_viz.sliding import ops


def _numbers(s: str) -> list[float]:
    return [float(x.replace("−", "-")) for x in re.findall(r"[−-]?\d+(?:\.\d+)?(?:e[−-]?\d+)?", s)]


def test_describe_map_states_size_range_and_the_strongest_cell():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(37, 52))
    a[20, 41] = -9.25
    alt = fmt.describe_map("feature map", a)
    assert alt.startswith("feature map 37×52, values −9.25 to ")
    assert f"{a.max():.3g}".replace("-", "−") in alt
    assert alt.endswith("strongest response −9.25 at row 20, col 41")
    assert "-" not in alt  # real minus signs, read as "minus"


def test_describe_map_of_a_constant_or_empty_array():
    assert fmt.describe_map("map", np.zeros((3, 4))) == "map 3×4, every value 0"
    assert "no finite values" in fmt.describe_map("map", np.full((2, 2), np.nan))


def test_describe_image_escapes_a_users_file_name():
    img = np.zeros((10, 20, 3), dtype=np.float32)
    img[..., 0] = 1.0
    alt = fmt.describe_image("[click](http://evil)", img)
    # escaped as text.md escapes (backslashes, and a word joiner after the colon so no autolink forms)
    assert alt.startswith("\\[click\\]\\(http\\:\u2060//evil\\): 10×20 pixels, colour (RGB), mean brightness 0.333")


def test_the_sandbox_caption_names_the_strongest_response_that_torch_computes():
    img = images.load_sample("Cameraman")
    k = np.array([[1.0, 0.0, -1.0]] * 3)
    run = sandbox.run(img, k, sandbox.Settings(stride=2, padding=1), "each channel")
    ref = F.conv2d(torch.from_numpy(img[None, None].astype(np.float64)), torch.from_numpy(k[None, None]), stride=2, padding=1)[0, 0].numpy()
    r, c = np.unravel_index(np.argmax(np.abs(ref)), ref.shape)
    assert f"Strongest response {fmt.num(ref[r, c])} at row {r}, col {c}.".replace("-", "−") in run.result.caption
    assert run.result.alt(0).startswith(f"Feature map {ref.shape[0]}×{ref.shape[1]}, ")
    assert "Kernel 3×3, values −1 to 1" in run.kernel.alt and "sum 0" in run.kernel.alt


@pytest.mark.parametrize("k", [0, 5, 17])
def test_the_sweeps_alt_text_gives_this_steps_value_from_torch(k):
    rng = np.random.default_rng(k)
    image, kernel = rng.integers(-3, 4, size=(6, 7)).astype(float), rng.integers(-2, 3, size=(3, 3)).astype(float)
    sweep = ops.make_sweep(image, kernel, stride=1, padding=1)
    ref = F.conv2d(torch.from_numpy(image[None, None]), torch.from_numpy(kernel[None, None]), padding=1)[0, 0].numpy()
    i, j = divmod(k, ref.shape[1])
    alt = sweep.alt(k)
    assert alt.startswith(f"Step {k + 1} of {ref.size}: the 3×3 kernel on the 8×9 padded input computes A({i}, {j}) = ")
    assert _numbers(alt.split("=")[1])[0] == pytest.approx(ref[i, j])
    whole = alt.split("whole map runs from ")[1]
    assert _numbers(whole)[:2] == pytest.approx([ref.min(), ref.max()])
