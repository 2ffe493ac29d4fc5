"""Results one st.cache_resource object serves to every session (cached._read_only): the same object on every
call, arrays that cannot be written, values equal to the core's (and to NumPy's SVD). As st.cache_data they were
unpickled for every rerun, and each session's widget callbacks and deferred downloads kept its last copy alive."""

from __future__ import annotations

import numpy as np
import pytest

from cnn_viz.common import images
from cnn_viz.deblur import signal1d
from cnn_viz.mnist import data
from cnn_viz.ui import cached


def arrays(obj):
    """Every array reachable through the dataclass fields, tuples and lists of ``obj``."""
    import dataclasses

    if isinstance(obj, np.ndarray):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for item in obj:
            yield from arrays(item)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for field in dataclasses.fields(obj):
            yield from arrays(getattr(obj, field.name))


def test_the_mnist_split_is_one_read_only_object_with_the_splits_values():
    first, again = cached.mnist_split(), cached.mnist_split()
    assert first is again
    for got, ref in zip(first, data.train_test_split()):
        np.testing.assert_array_equal(got.images, ref.images)
        np.testing.assert_array_equal(got.labels, ref.labels)
        np.testing.assert_array_equal(got.rows, ref.rows)
    assert len(list(arrays(first))) == 6 and not any(a.flags.writeable for a in arrays(first))
    with pytest.raises(ValueError):
        first[1].images[0, 0, 0] = 255


def test_the_image_svd_is_shared_read_only_and_numpys():
    img = images.load_sample("Cameraman", max_side=128)
    f = cached.image_svd(img, "exact")
    assert cached.image_svd(img.copy(), "exact") is f  # keyed on the bytes, not on the object
    assert not any(a.flags.writeable for a in arrays(f))
    u, s, vt = np.linalg.svd(np.asarray(img, np.float64), full_matrices=False)
    np.testing.assert_allclose(f.s[0], s, rtol=1e-10, atol=1e-10)
    k = 12
    np.testing.assert_allclose(f.us[0][:, :k] @ f.vt[0][:k], (u[:, :k] * s[:k]) @ vt[:k], atol=2e-5)
    with pytest.raises(ValueError):
        f.us[0][0, 0] = 0.0


def test_an_image_differing_in_one_pixel_gets_its_own_svd():
    """Streamlit's own hasher samples arrays of 500,000 values or more: the key hashes every byte."""
    rng = np.random.default_rng(0)
    a = rng.random((600, 900))  # 540,000 values
    b = a.copy()
    b[300, 450] += 0.5
    fa, fb = cached.image_svd(a, "exact"), cached.image_svd(b, "exact")
    assert fa is not fb
    np.testing.assert_allclose(fb.s[0], np.linalg.svd(b, compute_uv=False), rtol=1e-9)
    assert abs(fb.s[0][0] - fa.s[0][0]) > 1e-6


def test_the_1d_analysis_is_shared_read_only_and_the_slider_still_adds_to_it():
    f = signal1d.test_signal("Smooth bump", 128)
    a = cached.analyse_1d(f, 0.03, 0.01, 0, None)
    assert cached.analyse_1d(f.copy(), 0.03, 0.01, 0, None) is a
    assert len(list(arrays(a))) > 10 and not any(x.flags.writeable for x in arrays(a))
    ref = signal1d.analyse(f, 0.03, 0.01, 0)
    np.testing.assert_array_equal(a.table(), ref.table())
    mine = signal1d.with_slider(a, 1e-3)  # a new object over the shared arrays: nothing written into them
    np.testing.assert_allclose(mine.table(), signal1d.with_slider(ref, 1e-3).table(), rtol=0, atol=0)
    assert mine.table().shape[1] == ref.table().shape[1] + 1
