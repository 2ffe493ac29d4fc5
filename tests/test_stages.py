"""cnn_viz.pooling.stages against torch.nn.functional: activations, pooling (values and argmax
indices), the pooling window inspector and the whole conv → activation → pool pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnn_viz.common import images, kernels
from cnn_viz.figures import palette
from cnn_viz.pooling import stages

torch.set_num_threads(1)


def _t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def _random_pool_cases(n, seed):
    """Random (x, kernel, stride, padding, ceil_mode) cases torch accepts, including ties."""
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < n:
        c, h, w = rng.integers(1, 4), rng.integers(1, 24), rng.integers(1, 24)
        k = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
        s = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
        p = (int(rng.integers(0, k[0] // 2 + 1)), int(rng.integers(0, k[1] // 2 + 1)))
        ceil = bool(rng.integers(0, 2))
        x = rng.normal(size=(c, h, w)).astype(np.float32)
        kind = len(cases) % 4
        if kind == 1:
            x = np.maximum(x, 0)  # after ReLU: many tied zeros
        elif kind == 2:
            x = np.round(x).astype(np.float32)  # small integers: many ties
        elif kind == 3:
            x = x.astype(np.float64)
        try:
            F.max_pool2d(_t(x), k, s, p, ceil_mode=ceil)
        except RuntimeError:
            continue  # torch refuses it too (checked separately below)
        cases.append((x, k, s, p, ceil))
    return cases


CASES = _random_pool_cases(240, seed=4)


@pytest.mark.parametrize("slope", [0.01, 0.2, 1.5])
def test_activations_match_torch(slope):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 17, 11)).astype(np.float32)
    x[0, 0, :3] = [0.0, -0.0, 1e-30]
    np.testing.assert_array_equal(stages.relu(x), F.relu(_t(x)).numpy())
    np.testing.assert_array_equal(stages.leaky_relu(x, slope), F.leaky_relu(_t(x), slope).numpy())
    np.testing.assert_array_equal(stages.activate(x, "none"), x)
    assert stages.relu(x).dtype == np.float32 and stages.relu(x.astype(np.float64)).dtype == np.float64


def test_max_pool_values_and_indices_match_torch():
    for x, k, s, p, ceil in CASES:
        before = x.copy()
        v, idx = stages.max_pool2d(x, k, s, p, ceil_mode=ceil)
        np.testing.assert_array_equal(x, before)  # the input is never written to
        tv, ti = F.max_pool2d(_t(x), k, s, p, ceil_mode=ceil, return_indices=True)
        assert v.shape == tuple(tv.shape), (x.shape, k, s, p, ceil)
        np.testing.assert_array_equal(v, tv.numpy(), err_msg=str((x.shape, k, s, p, ceil)))
        np.testing.assert_array_equal(idx, ti.numpy(), err_msg=str((x.shape, k, s, p, ceil)))


def test_max_pool_with_dilation_matches_torch():
    rng = np.random.default_rng(7)
    for _ in range(40):
        x = np.round(rng.normal(size=(2, 19, 23)), 1).astype(np.float32)
        k, d = int(rng.integers(2, 4)), int(rng.integers(1, 3))
        s, p = int(rng.integers(1, 3)), int(rng.integers(0, k // 2 + 1))
        v, idx = stages.max_pool2d(x, k, s, p, dilation=d)
        tv, ti = F.max_pool2d(_t(x), k, s, p, dilation=d, return_indices=True)
        np.testing.assert_array_equal(v, tv.numpy())
        np.testing.assert_array_equal(idx, ti.numpy())


def test_pooling_does_not_write_into_its_input():
    x = np.random.default_rng(8).normal(size=(1, 9)).astype(np.float32)  # a one-row tap view is C-contiguous
    before = x.copy()
    for k, s in [(1, 1), ((1, 3), (1, 1)), ((1, 2), 1)]:
        stages.max_pool2d(x, k, s)
        stages.avg_pool2d(x, k, s)
        np.testing.assert_array_equal(x, before)


def test_max_pool_default_stride_is_the_window():
    x = np.arange(36, dtype=np.float32).reshape(6, 6)
    v, idx = stages.max_pool2d(x, 3)
    tv, ti = F.max_pool2d(_t(x)[None], 3, return_indices=True)
    np.testing.assert_array_equal(v, tv[0].numpy())
    np.testing.assert_array_equal(idx, ti[0].numpy())


@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool_matches_torch(count_include_pad):
    for x, k, s, p, ceil in CASES:
        a = stages.avg_pool2d(x, k, s, p, ceil_mode=ceil, count_include_pad=count_include_pad)
        ta = F.avg_pool2d(_t(x), k, s, p, ceil_mode=ceil, count_include_pad=count_include_pad).numpy()
        assert a.shape == ta.shape and a.dtype == x.dtype
        np.testing.assert_allclose(a, ta, rtol=1e-5, atol=1e-6, err_msg=str((x.shape, k, s, p, ceil)))


def test_output_size_matches_torch_and_bad_settings_raise():
    rng = np.random.default_rng(3)
    refused = 0
    for _ in range(400):
        n, k, s = int(rng.integers(1, 30)), int(rng.integers(1, 9)), int(rng.integers(1, 6))
        p, d, ceil = int(rng.integers(0, 5)), int(rng.integers(1, 3)), bool(rng.integers(0, 2))
        x = torch.zeros(1, 1, n, n)
        try:
            expected = F.max_pool2d(x, k, s, p, dilation=d, ceil_mode=ceil).shape[-1]
        except RuntimeError:
            refused += 1
            with pytest.raises(ValueError):
                stages.pool_output_size(n, k, s, p, d, ceil_mode=ceil)
            continue
        assert stages.pool_output_size(n, k, s, p, d, ceil_mode=ceil) == expected
    assert 50 < refused < 350  # both branches were exercised


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda x: stages.max_pool2d(x, 40, 2), "larger than the map"),
        (lambda x: stages.avg_pool2d(x, 29), "larger than the map"),
        (lambda x: stages.max_pool2d(x, 2, 0), "at least 1"),
        (lambda x: stages.max_pool2d(x, 0), "at least 1"),
        (lambda x: stages.max_pool2d(x, 3, 1, 2), "at most half"),
        (lambda x: stages.avg_pool2d(x, 2, 2, -1), "cannot be negative"),
        (lambda x: stages.max_pool2d(x, 2.5), "whole number"),
        (lambda x: stages.max_pool2d(np.zeros((0, 4)), 2), "empty"),
        (lambda x: stages.max_pool2d(np.array([1.0, 2.0]), 1), "two axes"),
        (lambda x: stages.relu(np.array([1.0, np.nan])), "not a finite number"),
        (lambda x: stages.pool2d(x, "median", 2), "'max' or 'avg'"),
    ],
)
def test_bad_pooling_raises_a_readable_value_error(call, words):
    x = np.ones((28, 28), dtype=np.float32)
    with pytest.raises(ValueError, match=words):
        call(x)


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pool_window_agrees_with_torch(mode):
    rng = np.random.default_rng(11)
    for _ in range(30):
        h, w = int(rng.integers(5, 20)), int(rng.integers(5, 20))
        k, s = int(rng.integers(2, 5)), int(rng.integers(1, 4))
        p = int(rng.integers(0, k // 2 + 1))
        fmap = np.maximum(rng.normal(size=(h, w)), 0).astype(np.float32)
        t = _t(fmap)[None, None]
        if mode == "max":
            tv, ti = F.max_pool2d(t, k, s, p, return_indices=True)
        else:
            tv, ti = F.avg_pool2d(t, k, s, p), None
        ho, wo = tv.shape[-2:]
        for _ in range(5):
            i, j = int(rng.integers(0, ho)), int(rng.integers(0, wo))
            win = stages.pool_window(fmap, (i, j), mode, k, s, p)
            assert win.value == pytest.approx(float(tv[0, 0, i, j]), rel=1e-6, abs=1e-7)
            # The window's cells are the input's, NaN exactly where it hangs over the padding.
            for a, r in enumerate(win.rows):
                for b, c in enumerate(win.cols):
                    if 0 <= r < h and 0 <= c < w:
                        assert win.values[a, b] == fmap[r, c]
                    else:
                        assert np.isnan(win.values[a, b])
            if mode == "max":
                r, c = win.winner
                assert r * w + c == int(ti[0, 0, i, j])
            else:
                assert win.divisor == k * k  # torch counts the padding cells too (count_include_pad)
                np.testing.assert_allclose(np.nansum(win.values) / win.divisor, float(tv[0, 0, i, j]), rtol=1e-6)


def test_pool_window_outside_the_pooled_map_raises():
    with pytest.raises(ValueError, match="no window"):
        stages.pool_window(np.ones((8, 8)), (4, 0), "max", 2, 2)


def test_indices_to_rowcol_inverts_torch_indices():
    x = np.random.default_rng(5).normal(size=(9, 13)).astype(np.float32)
    tv, ti = F.max_pool2d(_t(x)[None], 3, 2, 1, return_indices=True)
    rows, cols = stages.indices_to_rowcol(ti[0].numpy(), 13)
    np.testing.assert_array_equal(x[rows, cols], tv[0].numpy())


def test_make_bank_centres_smaller_kernels_without_changing_their_same_output():
    small, big = kernels.preset("Sobel x"), kernels.preset("Box blur 5×5")
    bank = stages.make_bank([small, big])
    assert bank.shape == (2, 5, 5)
    img = np.random.default_rng(0).random((20, 20))
    direct = F.conv2d(_t(img)[None, None], _t(small)[None, None], padding=1)[0, 0].numpy()
    via_bank = F.conv2d(_t(img)[None, None], _t(bank[:1]).unsqueeze(1), padding=2)[0, 0].numpy()
    np.testing.assert_allclose(via_bank, direct, atol=1e-12)
    with pytest.raises(ValueError, match="empty"):
        stages.make_bank([])


def test_preset_bank_with_negatives():
    b = stages.preset_bank(["Vertical edge (report)", "Prewitt y"], with_negatives=True)
    bank, labels = b.weights, b.labels
    assert bank.shape == (4, 3, 3) and len(labels) == 4
    np.testing.assert_array_equal(bank[2], -kernels.preset("Vertical edge (report)"))


def _torch_reference(x_chw, w1, w2, act, pool, size, stride, padding, conv_padding):
    """The same pipeline written directly with torch.nn.functional."""
    def a(t):
        return F.relu(t) if act == "relu" else F.leaky_relu(t, 0.1) if act == "leaky" else t

    def p(t):
        if pool == "max":
            return F.max_pool2d(t, size, stride, padding, return_indices=True)
        return F.avg_pool2d(t, size, stride, padding), None

    out = [x_chw[None]]
    c1 = F.conv2d(out[0], w1, padding=conv_padding)
    out += [c1, a(c1)]
    p1, i1 = p(out[-1])
    out.append(p1)
    idx = [i1]
    if w2 is not None:
        c2 = F.conv2d(p1, w2, padding=conv_padding)
        out += [c2, a(c2)]
        p2, i2 = p(out[-1])
        out.append(p2)
        idx.append(i2)
    return [o[0].numpy() for o in out], idx


@pytest.mark.parametrize(
    "sample, act, pool, size, stride, padding, second, conv_padding",
    [
        ("Handwritten 7 (MNIST)", "relu", "max", 2, 2, 0, True, "same"),  # the report's 28 → 14 → 7
        ("Handwritten 7 (MNIST)", "leaky", "avg", 3, 2, 1, True, "same"),
        ("Cameraman", "relu", "max", 3, 3, 1, False, "valid"),
        ("Astronaut", "relu", "avg", 2, 1, 0, True, "valid"),  # colour: the bank sees the channel mean
        ("Star chart (edges at every angle)", "none", "max", 4, 2, 2, True, "same"),
    ],
)
def test_pipeline_matches_a_torch_reference(sample, act, pool, size, stride, padding, second, conv_padding):
    img = images.load_sample(sample, 64)
    b = stages.preset_bank(stages.DEFAULT_BANK, with_negatives=True)
    bank, labels = b.weights, list(b.labels)
    bank2 = stages.random_bank(5, bank.shape[0], 3, seed=2) if second else None
    out = stages.run_pipeline(img, bank, labels=labels, activation=act, negative_slope=0.1, pool=pool,
                              pool_size=size, pool_stride=stride, pool_padding=padding, bank2=bank2, conv_padding=conv_padding)
    x = images.hwc_to_chw(img).astype(np.float32)
    c = x.shape[0]
    w1 = _t(np.repeat(bank[:, None] / c, c, axis=1).astype(np.float32))
    w2 = None if bank2 is None else _t(bank2.astype(np.float32))
    ref, ref_idx = _torch_reference(_t(x), w1, w2, act, pool, size, stride, padding, conv_padding)
    kept = list(out)
    if act == "none":  # the identity stage is not listed
        ref = [r for i, r in enumerate(ref) if i % 3 != 2 or i == 0]
    assert len(kept) == len(ref)
    for st, r in zip(kept, ref):
        assert st.maps.shape == r.shape, st.name
        np.testing.assert_allclose(st.maps, r, rtol=1e-4, atol=2e-5, err_msg=st.name)
        h, w, ch = st.shape
        assert st.shape_text == f"{h}×{w}×{ch}" and (ch, h, w) == r.shape
    pools = [s for s in out if s.kind == "pool"]
    for st, ti in zip(pools, ref_idx):
        if pool == "max":
            np.testing.assert_array_equal(st.indices, ti[0].numpy())
        else:
            assert st.indices is None


def test_pipeline_report_shapes_and_params():
    img = images.load_sample("Handwritten 7 (MNIST)")
    b = stages.preset_bank(stages.DEFAULT_BANK)
    out = stages.run_pipeline(img, b.weights, labels=list(b.labels), bank2=stages.random_bank(8, 4, 3))
    assert [s.shape_text for s in out] == ["28×28×1", "28×28×4", "28×28×4", "14×14×4", "14×14×8", "14×14×8", "7×7×8"]
    assert [s.params for s in out if s.kind == "conv"] == [
        sum(p.numel() for p in torch.nn.Conv2d(1, 4, 3, bias=False).parameters()),
        sum(p.numel() for p in torch.nn.Conv2d(4, 8, 3, bias=False).parameters()),
    ]


def test_pipeline_error_keeps_the_stages_before_it():
    img = images.load_sample("Handwritten 7 (MNIST)")
    bank = stages.preset_bank(stages.DEFAULT_BANK).weights
    with pytest.raises(stages.PipelineError, match="Max pool 2: .*larger than the map") as info:
        stages.run_pipeline(img, bank, pool_size=8, pool_stride=4, bank2=bank)
    assert [s.name for s in info.value.stages] == ["Input", "Conv 1", "ReLU 1", "Max pool 1", "Conv 2", "ReLU 2"]
    with pytest.raises(stages.PipelineError, match="Max pool 1"):
        stages.run_pipeline(img, bank, pool_size=29)


def test_edge_example_is_the_report_kernel_with_padding_1():
    img = images.to_gray(images.load_sample("Handwritten 7 (MNIST)"))
    ex = stages.edge_example(img)
    k = np.array([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]], dtype=np.float64)
    ref = F.conv2d(_t(img.astype(np.float64))[None, None], _t(k)[None, None], padding=1)[0, 0].numpy()
    np.testing.assert_allclose(ex.before, ref, atol=1e-6)
    np.testing.assert_array_equal(ex.after, F.relu(_t(ex.before)).numpy())
    assert ex.before.shape == img.shape
    assert ex.min < 0 < ex.max and ex.negative > 0.05 and ex.positive > 0.05
    assert ex.after.min() == 0


def test_stages_npz_round_trip():
    import io

    img = images.load_sample("Handwritten 7 (MNIST)")
    out = stages.run_pipeline(img, stages.preset_bank(stages.DEFAULT_BANK).weights)
    data = np.load(io.BytesIO(stages.stages_npz(out)))
    assert sorted(data.files) == ["00_input", "01_conv_1", "02_relu_1", "03_max_pool_1", "03_max_pool_1_indices"]
    np.testing.assert_array_equal(data["03_max_pool_1"], out[3].maps)


# ----------------------------------------------------------------------------- the page's pipeline, in the core


def test_preset_bank_with_own_kernel_and_negatives():
    own = np.arange(25, dtype=np.float64).reshape(5, 5)
    b = stages.preset_bank(["Sobel x", "Prewitt y"], with_negatives=True, own=own)
    assert b.labels == ("Sobel x", "Prewitt y", "my kernel", "−(Sobel x)", "−(Prewitt y)", "−(my kernel)")
    assert len(b) == 6 and [k.shape for k in b.kernels] == [(3, 3), (3, 3), (5, 5)] * 2
    np.testing.assert_array_equal(b.kernels[5], -own)
    w = b.weights  # the 3×3 kernels centred in 5×5
    assert w.shape == (6, 5, 5)
    np.testing.assert_array_equal(w[0, 1:4, 1:4], kernels.preset("Sobel x"))
    assert w[0].sum() == 0 and np.abs(w[0]).sum() == np.abs(kernels.preset("Sobel x")).sum()
    # The equivariance lab's kernel: the bank's own, else the report's.
    np.testing.assert_array_equal(b.kernel(2), own)
    empty = stages.preset_bank([])
    assert len(empty) == 0
    np.testing.assert_array_equal(empty.kernel(None), [[-1, 0, 1]] * 3)
    with pytest.raises(ValueError, match="empty"):
        empty.weights


def test_pipeline_of_the_page_against_torch_shapes_and_counts():
    img = images.load_sample("Handwritten 7 (MNIST)")
    bank = stages.preset_bank(stages.DEFAULT_BANK)
    pipe = stages.pipeline(img, bank, stages.Settings(second=stages.SecondLayer("random", 6, 5, seed=3)))
    assert pipe.error is None
    x = torch.from_numpy(img)[None, None]
    c1 = torch.nn.Conv2d(1, 4, 3, padding=1, bias=False)
    p1 = F.max_pool2d(F.relu(c1(x)), 2, 2)
    c2 = torch.nn.Conv2d(4, 6, 5, padding=2, bias=False)
    p2 = F.max_pool2d(F.relu(c2(p1)), 2, 2)
    table = pipe.table("my digit")
    assert table["stage"] == pipe.names == ["Input", "Conv 1", "ReLU 1", "Max pool 1", "Conv 2", "ReLU 2", "Max pool 2"]
    assert table["numbers"] == [x.numel(), c1(x).numel(), c1(x).numel(), p1.numel(), c2(p1).numel(), c2(p1).numel(), p2.numel()]
    assert table["weights"] == [0, c1.weight.numel(), 0, 0, c2.weight.numel(), 0, 0]
    assert table["what it does"][:3] == ["my digit", "4 kernels of 3×3×1", "ReLU on every value"]
    assert table["what it does"][3] == "2×2 windows, stride 2"
    assert pipe.stages[4].labels == [f"random {i}" for i in range(1, 7)]
    # The random layer is random_bank's, drawn from the same seed.
    direct = stages.run_pipeline(img, bank.weights, bank2=stages.random_bank(6, 4, 5, seed=3))
    np.testing.assert_array_equal(pipe.stages[-1].maps, direct[-1].maps)
    assert pipe.default_stage == 2 and pipe.pool_stages == [3, 6] and pipe.most_maps == 6
    # The layer-1 bank again: its labels say so, and the maps are the bank on the mean of the 4 maps.
    again = stages.pipeline(img, bank, stages.Settings(second=stages.SecondLayer("bank")))
    assert again.stages[4].labels == [f"{n} (layer 2)" for n in stages.DEFAULT_BANK]
    np.testing.assert_allclose(again.stages[4].maps, stages.run_pipeline(img, bank.weights, bank2=bank.weights)[4].maps)
    with pytest.raises(ValueError, match="'random' or 'bank'"):
        stages.SecondLayer("learned").weights(bank)


def test_pipeline_of_the_page_reports_what_cannot_be_computed():
    img = images.load_sample("Handwritten 7 (MNIST)")
    empty = stages.pipeline(img, stages.preset_bank([]))
    assert empty.stages == () and empty.error == stages.EMPTY_BANK and empty.pool_stages == []
    big = stages.pipeline(img, stages.preset_bank(stages.DEFAULT_BANK), stages.Settings(pool_size=40))
    assert big.names == ["Input", "Conv 1", "ReLU 1"]
    assert big.error.startswith("Max pool 1: ") and "larger than the map it pools (28 pixels)" in big.error
    none = stages.pipeline(img, stages.preset_bank(["Sobel x"]), stages.Settings(activation="none"))
    assert none.names == ["Input", "Conv 1", "Max pool 1"] and none.default_stage == 1


@pytest.mark.parametrize("pool", ["max", "avg"])
def test_pool_detail_against_torch(pool):
    img = images.load_sample("Cameraman", 40)
    settings = stages.Settings(pool=pool, pool_size=3, pool_stride=2, pool_padding=1)
    pipe = stages.pipeline(img, stages.preset_bank(stages.DEFAULT_BANK), settings)
    d = pipe.pool_detail(3, 2)
    relu = F.relu(F.conv2d(torch.from_numpy(img)[None, None],
                           torch.from_numpy(kernels.preset("Laplacian (4-neighbour)")).float()[None, None], padding=1))
    np.testing.assert_allclose(d.fmap, relu[0, 0].numpy(), atol=1e-5)
    tv, ti = F.max_pool2d(relu, 3, 2, 1, return_indices=True)
    if pool == "max":
        np.testing.assert_array_equal(d.indices, ti[0, 0].numpy())
        ref = tv[0, 0]
    else:
        assert d.indices is None
        ref = F.avg_pool2d(relu, 3, 2, 1)[0, 0]
    np.testing.assert_allclose(d.pooled_map, ref.numpy(), atol=1e-5)
    assert d.largest == divmod(int(torch.argmax(ref)), ref.shape[1])
    assert d.zmax == pytest.approx(float(relu.abs().max()))
    win = d.window((0, 0))  # the corner window hangs over the padding
    assert win.has_padding and win.csv[0].tolist() == [0, 0, 0] and not np.isnan(win.csv).any()
    assert win.value == pytest.approx(float(ref[0, 0]), abs=1e-6)
    assert win.total == pytest.approx(float(relu[0, 0, :2, :2].sum()), rel=1e-5)
    text = win.describe()
    assert text.startswith("Rows -1–1, columns -1–1 of the input map.") and text.endswith("**(0, 0)**.")
    if pool == "max":
        r, c = divmod(int(ti[0, 0, 0, 0]), relu.shape[-1])
        assert f"**Largest value {float(ref[0, 0]):.4g}** at row {r}, column {c}" in text
        assert "Every black dot" in d.input_caption
    else:
        assert f"**Mean = {win.total:.4g} / 9 = {float(ref[0, 0]):.4g}**" in text
        assert "average pooling keeps no position" in d.input_caption
    assert d.caption.startswith(f"**{pipe.stages[3].name}** ({ref.shape[0]}×{ref.shape[1]}): each cell")
    assert d.caption.endswith("With stride 2 and size 3 the windows overlap.")
    with pytest.raises(ValueError, match="not a pooling stage"):
        pipe.pool_detail(2, 0)


@pytest.mark.parametrize("size, stride, words", [(3, 2, "overlap"), (2, 2, "do not overlap"), (2, 3, "skip pixels")])
def test_settings_say_how_the_windows_meet(size, stride, words):
    # Count how often the windows along a 12-pixel axis cover each pixel, up to the end of the last one.
    starts = range(0, 12 - size + 1, stride)
    cover = np.zeros(12, dtype=int)
    for start in starts:
        cover[start : start + size] += 1
    cover = cover[: starts[-1] + size]
    expected = "overlap" if cover.max() > 1 else "skip pixels" if cover.min() == 0 else "do not overlap"
    assert stages.Settings(pool_size=size, pool_stride=stride).overlap == words == expected


def test_stage_caption_and_size():
    img = images.load_sample("Handwritten 7 (MNIST)")
    pipe = stages.pipeline(img, stages.preset_bank(stages.DEFAULT_BANK))
    conv = pipe.stages[1]
    bank = np.stack([kernels.preset(n) for n in stages.DEFAULT_BANK])[:, None].astype(np.float32)  # all 3×3
    ref = F.conv2d(torch.from_numpy(img)[None, None], torch.from_numpy(bank), padding=1)
    assert conv.size == ref.numel()
    assert conv.caption.startswith(f"**Conv 1: 28×28×4** (4 maps of 28×28), values from {float(ref.min()):.3g} to {float(ref.max()):.3g}")
    assert conv.caption.endswith(stages.STAGE_EXPLAIN["conv"])


def test_argmax_position_and_largest_abs():
    rng = np.random.default_rng(4)
    a = np.round(rng.normal(size=(7, 9)), 1)
    a[5, 2] = a[1, 6] = a.max() + 1  # a tie: the first in row-major order, as torch.argmax
    assert stages.argmax_position(a) == divmod(int(torch.argmax(torch.from_numpy(a))), 9) == (1, 6)
    assert palette.largest_abs(a) == float(torch.from_numpy(a).abs().max())
    assert palette.largest_abs(np.zeros((3, 3))) == 1.0 and palette.largest_abs(np.zeros(0)) == 1.0


def test_edge_example_colour_scale():
    img = images.to_gray(images.load_sample("Cameraman", 64))
    ex = stages.edge_example(img)
    assert ex.zmax == max(-ex.min, ex.max) == float(np.abs(ex.before).max())
