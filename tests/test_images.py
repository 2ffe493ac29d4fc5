"""Robust image loading: formats, modes, EXIF rotation, size limits, garbage."""

import io

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from cnn_viz.common import images


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.fixture
def gray():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (37, 53), dtype=np.uint8)


@pytest.fixture
def rgb():
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, (31, 45, 3), dtype=np.uint8)


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "TIFF", "WEBP", "GIF"])
def test_lossless_formats_round_trip_grayscale(gray, fmt):
    kw = {"lossless": True} if fmt == "WEBP" else {}
    out = images.load_image(encode(Image.fromarray(gray), fmt, **kw))
    assert out.dtype == np.float32 and out.shape == gray.shape
    np.testing.assert_allclose(out, gray / 255.0, atol=1e-7)


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "TIFF", "WEBP"])
def test_lossless_formats_round_trip_colour(rgb, fmt):
    kw = {"lossless": True} if fmt == "WEBP" else {}
    out = images.load_image(encode(Image.fromarray(rgb), fmt, **kw))
    np.testing.assert_allclose(out, rgb / 255.0, atol=1e-7)


@pytest.fixture
def smooth():
    """A smooth colour picture (JPEG is lossy on noise, near-exact on gradients)."""
    y, x = np.mgrid[0:31, 0:45]
    return np.dstack([x * 5, y * 8, 128 + 0 * x]).astype(np.uint8)


def test_jpeg_is_close(smooth):
    out = images.load_image(encode(Image.fromarray(smooth), "JPEG", quality=95))
    assert out.shape == smooth.shape
    assert np.abs(out - smooth / 255.0).mean() < 0.01


def test_exif_orientation_is_applied(smooth):
    rgb = smooth
    im = Image.fromarray(rgb)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    out = images.load_image(encode(im, "JPEG", quality=100, exif=exif.tobytes()))
    assert out.shape == (45, 31, 3)
    assert np.abs(out - np.rot90(rgb, -1) / 255.0).mean() < 0.03


def test_modes(gray, rgb, smooth):
    # 16-bit grayscale keeps its precision
    g16 = (gray.astype(np.uint16) * 257)
    out = images.load_image(encode(Image.fromarray(g16), "PNG"))
    np.testing.assert_allclose(out, g16 / 65535.0, atol=1e-6)
    # palette
    out = images.load_image(encode(Image.fromarray(rgb).convert("P"), "PNG"))
    assert out.shape == rgb.shape
    # CMYK JPEG
    out = images.load_image(encode(Image.fromarray(smooth).convert("CMYK"), "JPEG", quality=95))
    assert out.shape == smooth.shape and np.abs(out - smooth / 255.0).mean() < 0.02
    # transparency is flattened onto white
    rgba = np.dstack([rgb, np.zeros(rgb.shape[:2], np.uint8)])
    out = images.load_image(encode(Image.fromarray(rgba), "PNG"))
    np.testing.assert_allclose(out, 1.0)
    la = Image.fromarray(np.dstack([gray, np.full(gray.shape, 255, np.uint8)])).convert("LA")
    np.testing.assert_allclose(images.load_image(encode(la, "PNG")), gray / 255.0, atol=1e-7)
    # a grey image stored as RGB comes back 2-D
    out = images.load_image(encode(Image.fromarray(np.dstack([gray] * 3)), "PNG"))
    assert out.ndim == 2
    # 32-bit integer mode 'I'
    i32 = Image.fromarray(gray.astype(np.int32) * 100)
    out = images.load_image(encode(i32, "TIFF"))
    np.testing.assert_allclose(out, gray.astype(np.int64) * 100 / 65535.0, atol=1e-6)


def test_animated_gif_uses_first_frame(gray):
    frames = [Image.fromarray(gray), Image.fromarray(255 - gray)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    np.testing.assert_allclose(images.load_image(buf.getvalue()), gray / 255.0, atol=1e-7)


def test_downscales_to_max_side():
    big = Image.fromarray(np.zeros((900, 1200), np.uint8))
    out = images.load_image(encode(big, "PNG"), max_side=512)
    assert out.shape == (384, 512)


@pytest.mark.parametrize(
    "payload,fragment",
    [
        (b"", "empty"),
        (b"this is a text file, not a picture", "not an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "not an image|damaged"),
    ],
)
def test_garbage_is_refused_with_a_message(payload, fragment):
    with pytest.raises(images.ImageLoadError, match=fragment):
        images.load_image(payload)


def test_truncated_file_is_refused(rgb):
    data = encode(Image.fromarray(np.tile(rgb, (8, 8, 1))), "PNG")
    with pytest.raises(images.ImageLoadError, match="damaged|decoded"):
        images.load_image(data[: len(data) // 2])


def test_decompression_bomb_is_refused():
    data = encode(Image.new("L", (8000, 6000)), "PNG")  # 48 megapixels, a few kB on disk
    assert len(data) < 200_000
    with pytest.raises(images.ImageLoadError, match="megapixels"):
        images.load_image(data)


def test_samples_load_offline_and_match_scikit_image():
    cam = images.load_sample("Cameraman")
    np.testing.assert_allclose(cam, skdata.camera() / 255.0, atol=1e-7)
    for name in images.SAMPLES:
        img = images.load_sample(name, max_side=128)
        assert img.dtype == np.float32 and max(img.shape[:2]) <= 128
        assert 0 <= img.min() and img.max() <= 1
        assert img.ndim == 2 or img.shape[2] == 3
    digit = images.load_sample("Handwritten 7 (MNIST)")
    assert digit.shape == (28, 28)


def test_to_gray_uses_itu601_weights(rgb):
    f = rgb / 255.0
    np.testing.assert_allclose(images.to_gray(f), f @ [0.299, 0.587, 0.114], atol=1e-6)


def test_png_bytes_round_trip(gray):
    png = images.to_png_bytes(gray / 255.0)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(png))), gray)
