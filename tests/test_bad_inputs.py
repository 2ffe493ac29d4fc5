"""The corpus of bad and odd inputs (issue 15): every case against every page that takes that input, under
AppTest. Each case must end in a message on the page (error / warning / info) and never in an exception
element; an odd image a page can take as it is (a 32×32 picture on the kernel sandbox) must be shown
without an error. The images are made here with Pillow and NumPy; nothing large lives in the repository.

The browser subset is in test_bad_inputs_browser.py.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

import numpy as np
import pytest
from conftest import ROOT
from PIL import Image

from cnn_viz.deblur import experiment

TIMEOUT = 120


# ------------------------------------------------------------------ images, made here
def _save(im, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _grey(h: int, w: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8))


def _frames(sizes) -> list[Image.Image]:
    return [_grey(h, w, i).convert("RGB") for i, (h, w) in enumerate(sizes)]


def _float_tiff(value: float) -> bytes:
    a = np.linspace(0, 1, 24 * 24, dtype=np.float32).reshape(24, 24)
    a[5, 7] = value
    return _save(Image.fromarray(a, mode="F"), "TIFF")


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _huge_header_png() -> bytes:
    """A valid PNG signature and IHDR claiming 100,000 × 100,000 pixels, with a few bytes of data."""
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + _png_chunk(b"IEND", b""))


@dataclass(frozen=True)
class ImageCase:
    name: str
    file: str
    make: object  # () -> bytes
    size: tuple[int, int] | None  # (h, w) of the first frame as decoded; None: not a readable image
    non_finite: bool = False


IMAGE_CASES = [
    ImageCase("png-1x1", "one.png", lambda: _save(_grey(1, 1), "PNG"), (1, 1)),
    ImageCase("jpeg-1x1", "one.jpg", lambda: _save(_grey(1, 1).convert("RGB"), "JPEG"), (1, 1)),
    ImageCase("gif-1x1", "one.gif", lambda: _save(_grey(1, 1), "GIF"), (1, 1)),
    ImageCase("rgba-1x1-transparent", "clear.png", lambda: _save(Image.new("RGBA", (1, 1), (0, 0, 0, 0)), "PNG"), (1, 1)),
    ImageCase("strip-1x5000", "row.png", lambda: _save(_grey(1, 5000), "PNG"), (1, 5000)),
    ImageCase("strip-5000x1", "column.png", lambda: _save(_grey(5000, 1), "PNG"), (5000, 1)),
    ImageCase("png-20x20", "small.png", lambda: _save(_grey(20, 20), "PNG"), (20, 20)),
    ImageCase("png-32x32", "icon.png", lambda: _save(_grey(32, 32), "PNG"), (32, 32)),
    ImageCase("png-40x512", "banner.png", lambda: _save(_grey(40, 512), "PNG"), (40, 512)),
    ImageCase("gif-animated-12", "anim.gif", lambda: (lambda f: _save(f[0], "GIF", save_all=True, append_images=f[1:], duration=50, loop=0))(
        _frames([(12, 12)] * 3)), (12, 12)),
    ImageCase("webp-animated-12", "anim.webp", lambda: (lambda f: _save(f[0], "WEBP", save_all=True, append_images=f[1:], duration=50))(
        _frames([(12, 12)] * 3)), (12, 12)),
    ImageCase("tiff-multipage-small-first", "pages.tif", lambda: (lambda f: _save(f[0], "TIFF", save_all=True, append_images=f[1:]))(
        _frames([(10, 10), (300, 300)])), (10, 10)),
    ImageCase("tiff-float-plus-inf", "hot.tif", lambda: _float_tiff(np.inf), (24, 24), True),
    ImageCase("tiff-float-minus-inf", "cold.tif", lambda: _float_tiff(-np.inf), (24, 24), True),
    ImageCase("tiff-float-nan", "hole.tif", lambda: _float_tiff(np.nan), (24, 24), True),
    ImageCase("png-truncated", "cut.png", lambda: _save(_grey(64, 64), "PNG")[:120], None),
    ImageCase("text-named-png", "notes.png", lambda: b"these are my lecture notes, not a picture\n" * 20, None),
    ImageCase("empty-file", "empty.png", lambda: b"", None),
    ImageCase("png-huge-header", "bomb.png", _huge_header_png, None),
]


@dataclass(frozen=True)
class UploadPage:
    page: str
    picker: str | None  # the image_picker key (None: the page's own uploader, MNIST)
    min_side: int  # what the page states
    max_side: int  # the picker's largest side at the page's defaults
    state: tuple = ()  # session state set before the page opens
    then_side: int | None = None  # the page shrinks the picked image once more (the sliding kernel: 32)


UPLOAD_PAGES = {
    "kernel_sandbox": UploadPage("pages/kernel_sandbox.py", "img", 8, 512),
    "sliding_kernel": UploadPage("pages/sliding_kernel.py", "sk_img", 3, 512, (("sk_source", "Any image (shrunk to at most 32×32)"),),
                                 then_side=32),
    "relu_pooling": UploadPage("pages/relu_pooling.py", "rp_img", 16, 128),
    "deblurring_2d": UploadPage("pages/deblurring.py", "db_img", 64, 256,
                                (("db_tab", "2-D: images"), ("db_methods", [experiment.TIK_GCV, experiment.WIENER]))),
    "low_rank": UploadPage("pages/low_rank.py", "lr_img", 8, 512),
    "mnist_activations": UploadPage("pages/mnist_activations.py", None, 2, 2048, (("mn_source", "Upload"),)),  # prep's minimum
}


def _short_side(size: tuple[int, int], max_side: int) -> int:
    """The shortest side after the loader's shrink to ``max_side`` on the longest side."""
    h, w = size
    scale = min(1.0, max_side / max(h, w))
    return max(1, round(min(h, w) * scale))


def expects_message(case: ImageCase, page: UploadPage) -> bool:
    """A message is due for a file that is no image, for non-finite pixels (the loader's note; the MNIST
    page reads a digit out of the picture instead) and for a picture under the page's minimum."""
    if case.size is None:
        return True
    if case.non_finite and page.picker is not None:
        return True
    short = _short_side(case.size, page.max_side)
    if short < page.min_side:
        return True
    if page.then_side is not None:  # enlarged to the minimum, then shrunk again by the page
        size = tuple(max(v, page.min_side) for v in case.size) if min(case.size) < page.min_side else case.size
        return _short_side(size, min(page.max_side, page.then_side)) < page.min_side
    return False


# ------------------------------------------------------------------ AppTest helpers
def _new(state=()):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.run()
    for k, v in state:
        at.session_state[k] = v
    return at


def messages(at) -> list[str]:
    return [m.value for kind in ("error", "warning", "info") for m in getattr(at, kind)]


def _exceptions(at) -> list[str]:
    return [e.message for e in at.exception]


def upload(at, page: UploadPage, case: ImageCase):
    data = case.make()
    mime = "image/" + case.file.rsplit(".", 1)[-1].replace("jpg", "jpeg").replace("tif", "tiff")
    if page.picker is None:
        at.file_uploader(key="mn_upload").set_value((case.file, data, mime)).run()
    else:
        if at.radio(key=f"{page.picker}_source").value != "Upload":
            at.radio(key=f"{page.picker}_source").set_value("Upload").run()
        at.file_uploader(key=f"{page.picker}_upload").set_value((case.file, data, mime)).run()
    return at


@pytest.fixture(scope="module")
def opened():
    """One AppTest per upload page, opened once and reused by every image case (uploads replace each other)."""
    import streamlit as st

    st.cache_data.clear()
    made = {}

    def get(name: str):
        if name not in made:
            page = UPLOAD_PAGES[name]
            at = _new(page.state)
            at.switch_page(page.page).run()
            assert not at.exception, _exceptions(at)
            made[name] = at
        return made[name]

    return get


@pytest.mark.parametrize("case", IMAGE_CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("page_name", list(UPLOAD_PAGES))
def test_every_odd_upload_gives_a_message_and_no_exception(opened, page_name, case):
    page = UPLOAD_PAGES[page_name]
    at = upload(opened(page_name), page, case)
    assert not at.exception, _exceptions(at)
    said = messages(at)
    if expects_message(case, page):
        assert said, f"{case.name} on {page_name}: no message"
        if case.size is None:
            assert any(s in m for m in said for s in ("not an image", "could not be decoded", "empty", "too large",
                                                      "Could not")), said
        elif case.non_finite and page.picker is not None:
            assert any("not a finite number" in m for m in said), said
    else:
        assert not at.error, [e.value for e in at.error]


def test_a_small_image_is_enlarged_to_the_page_minimum_by_repeating_pixels():
    """The rule itself, against NumPy: each pixel repeated (np.kron with a block of ones), then edge padding."""
    from cnn_viz.common import images

    rng = np.random.default_rng(3)
    small = rng.random((3, 5)).astype(np.float32)
    out, note = images.fit_min_side(small, 16, 512)
    np.testing.assert_array_equal(out, np.kron(small, np.ones((6, 6), np.float32)))
    assert out.shape == (18, 30) and "enlarged 6×" in note
    strip = rng.random((1, 512)).astype(np.float32)
    out, note = images.fit_min_side(strip, 16, 512)
    np.testing.assert_array_equal(out, np.repeat(strip, 16, axis=0))
    assert "padded" in note
    same, none = images.fit_min_side(small, 3, 512)
    assert none is None and same is small


def test_non_finite_pixels_follow_the_one_rule():
    from cnn_viz.common import images

    a = np.array([[0.0, 2.0, np.inf], [np.nan, -np.inf, 1.0]], dtype=np.float32)
    out, note = images.replace_non_finite(a)
    np.testing.assert_array_equal(out, [[0.0, 2.0, 2.0], [0.0, 0.0, 1.0]])
    assert "3 pixels" in note and "1 NaN" in note and "1 +∞" in note and "1 −∞" in note
    loaded = images.read_image(_float_tiff(np.inf))
    assert np.isfinite(loaded.image).all() and loaded.image[5, 7] == pytest.approx(1.0)
    assert len(loaded.notes) == 1


# ------------------------------------------------------------------ the address bar
URL_VALUES = {
    "garbage": "zz%%qq",
    "inf": "inf",
    "nan": "nan",
    "negative": "-1",
    "overflow": "1e999",
    "huge": "1e300",
    "10k-chars": "9" * 10_000,
    "unknown-preset": "No such preset",
    "script": "<script>alert(1)</script>",
}
URL_PAGES = {
    "kernel_sandbox": ("pages/kernel_sandbox.py", (), ["stride", "dilation", "padding", "padding_mode", "k_preset", "img_source",
                                                       "img_sample", "relu", "flip"]),
    "relu_pooling": ("pages/relu_pooling.py", (), ["rp_side", "rp_psize", "rp_pstride", "rp_ppad", "rp_act", "rp_pool", "rp_cpad",
                                                   "rp_img_sample", "rp_neg", "rp_bank"]),
    "deblurring_1d": ("pages/deblurring.py", (), ["db1_n", "db1_sigma", "db1_noise", "db1_seed", "db1_lam", "db1_signal", "db1_autok"]),
    "deblurring_2d": ("pages/deblurring.py", (("db_methods", [experiment.TIK_GCV]),),
                      ["db_tab", "db_side", "db_noise", "db_seed", "db_iters", "db_psf", "db_sigma", "db_lam", "db_img_sample"]),
    "low_rank": ("pages/low_rank.py", (), ["lr_part", "lr_side", "lr_k", "lr_method", "lr_img_sample", "lr_img_source"]),
    "mnist_activations": ("pages/mnist_activations.py", (), ["mn_source", "mn_tab"]),
}


@pytest.mark.parametrize("value_name", list(URL_VALUES))
@pytest.mark.parametrize("page_name", list(URL_PAGES))
def test_a_tampered_link_gives_a_message_and_no_exception(page_name, value_name):
    page, state, keys = URL_PAGES[page_name]
    value = URL_VALUES[value_name]
    at = _new(state)
    params = {k: value for k in keys}
    if page_name == "deblurring_2d":
        params["db_tab"] = "2-D: images" if value_name != "garbage" else value
    at.query_params.update(params)
    at.switch_page(page).run()
    assert not at.exception, _exceptions(at)
    notes = [w.value for w in at.warning if w.value.startswith("The link set")]
    assert notes, messages(at)
    for note in notes:  # what the link said is quoted as text, never as markup
        assert "<script>" not in note and "<" not in note.replace("\\<", "")
    assert all(at.query_params.get(k) != [value] for k in keys if k != "db_tab"), "a bad value stayed in the URL"


def test_a_link_with_good_values_says_nothing():
    at = _new()
    at.query_params.update({"stride": "2", "k_preset": "Sharpen", "relu": "true"})
    at.switch_page("pages/kernel_sandbox.py").run()
    assert not at.exception and not [w for w in at.warning if w.value.startswith("The link set")]
    assert at.number_input(key="stride").value == 2 and at.selectbox(key="k_preset").value == "Sharpen"


# ------------------------------------------------------------------ typed cells and forged grid states
FORGED = {"edited_rows": {99: {"zz": 1}}, "added_rows": [{"zz": 3}], "deleted_rows": [42]}
CELL_VALUES = {
    "text": "abc",
    "nan": float("nan"),
    "inf-text": "inf",
    "1e308": 1e308,
    "1e308-text": "1e308",
    "10k-chars": "7" * 10_000,
    "script": "<script>alert(1)</script>",
    "forged-state": None,  # the whole state is FORGED
}
FIGURE1 = "Figure 1 of the report (3×4 input, 2×2 kernel)"
GRID_PAGES = {  # (page, state before it opens, grid key)
    "kernel_sandbox": ("pages/kernel_sandbox.py", (), "k_grid_1"),
    "sliding_kernel": ("pages/sliding_kernel.py", (("sk_source", FIGURE1), ("sk_fig1_kernel", False)), "sk_k_grid_1"),
    "sliding_typed_input": ("pages/sliding_kernel.py", (("sk_source", "Type a small grid"),), "sk_grid_5x5"),
    "relu_pooling_own": ("pages/relu_pooling.py", (("rp_own", True),), "rp_kernel_grid_1"),
}


@pytest.mark.parametrize("value_name", list(CELL_VALUES))
@pytest.mark.parametrize("page_name", list(GRID_PAGES))
def test_a_hostile_cell_gives_a_message_and_the_page_goes_on(page_name, value_name):
    page, state, grid = GRID_PAGES[page_name]
    value = CELL_VALUES[value_name]
    edit = FORGED if value_name == "forged-state" else {"edited_rows": {0: {"0": value}}, "added_rows": [], "deleted_rows": []}
    at = _new(state + ((grid, edit),))
    at.switch_page(page).run()
    assert not at.exception, _exceptions(at)
    said = messages(at)
    assert said, "no message"
    if value_name == "forged-state":
        assert any("cells that do not exist" in m for m in said), said
    else:
        assert any("row 1, column 1" in m for m in said), said
    assert not any("<script>" in m for m in said)


def test_after_a_bad_cell_the_sandbox_keeps_the_last_good_kernel():
    """A good edit, then text in the same cell: the feature map still comes from the good kernel."""
    at = _new()
    at.switch_page("pages/kernel_sandbox.py").run()
    at.session_state["k_grid_1"] = {"edited_rows": {1: {"1": 5.0}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.error
    good = np.asarray(at.session_state["k_good"])
    assert good[1, 1] == 5.0
    at.session_state["k_grid_1"] = {"edited_rows": {1: {"1": "five"}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception
    assert any("last good kernel" in e.value for e in at.error)
    np.testing.assert_array_equal(np.asarray(at.session_state["k_good"]), good)


def test_circular_padding_larger_than_the_input_is_a_message():
    for rows, cols, pad in ((2, 2, 3), (5, 5, 8)):
        at = _new((("sk_source", "Type a small grid"), ("sk_grid_rows", rows), ("sk_grid_cols", cols), ("sk_padding", pad),
                   ("sk_padding_mode", "circular")))
        at.switch_page("pages/sliding_kernel.py").run()
        assert not at.exception, _exceptions(at)
        assert any("Circular padding cannot exceed" in e.value for e in at.error), messages(at)
