"""The learned deblurring methods: architecture, shipped weights and the issue's goal on the held-out image."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnn_viz.common.images import load_sample
from cnn_viz.common.linalg import one_blas_thread
from cnn_viz.common.metrics import psnr
from cnn_viz.common.torch_tools import count_parameters
from cnn_viz.deblur import cnn, experiment, forward, restore


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)
    with one_blas_thread():
        yield


def test_architecture_is_the_8_layer_56k_network():
    for kind in ("direct", "tikcnn"):
        m = cnn.ResidualCNN(**cnn.ARCH[kind])
        assert count_parameters(m) == (9 * 32 + 32) + 6 * (9 * 32 * 32 + 32) + (9 * 32 + 1) == 56_097
        assert sum(isinstance(x, torch.nn.Conv2d) for x in m.modules()) == 8


def test_forward_is_input_plus_the_conv_stack():
    m = cnn.ResidualCNN(depth=3, width=4, dilations=(1, 2, 1)).eval()
    x = torch.rand(1, 1, 20, 17)
    h = x
    for i, conv in enumerate(c for c in m.body if isinstance(c, torch.nn.Conv2d)):
        d = conv.dilation[0]
        h = F.conv2d(F.pad(h, (d, d, d, d), mode="reflect"), conv.weight, conv.bias, dilation=d)
        if i < 2:
            h = F.relu(h)
    with torch.no_grad():
        torch.testing.assert_close(m(x), x + h)


def test_shipped_weights_are_small_and_never_saw_the_evaluation_image():
    for kind, path in cnn.WEIGHTS.items():
        assert path.exists(), f"{path} missing: run python -m cnn_viz.deblur.train --kind {kind}"
        assert path.stat().st_size < 1_000_000
        model, meta = cnn.load(path)
        assert meta["kind"] == kind and count_parameters(model) == 56_097
        assert cnn.HELD_OUT not in meta["train_images"] and meta["validation"] not in meta["train_images"]
        assert meta["degradation"] == {"psf_kind": "Gaussian", "psf_size": 2.0, "bc": "reflexive", "noise": 0.01, "lam_rule": "gcv"}
        assert meta["train_seconds"] <= 16 * 60


def test_goal_tikhonov_plus_cnn_beats_the_best_classical_method_by_1_db():
    """Cameraman 256² (held out), Gaussian σ = 2 px, 1 % noise, reflexive boundary, noise seed 0."""
    truth = load_sample("Cameraman", 256).astype(np.float64)
    scene = experiment.make_scene(truth, forward.gaussian_psf(2.0), "reflexive", 0.01, seed=0)
    models = {experiment.CNN_KINDS[k]: cnn.load(p)[0] for k, p in cnn.WEIGHTS.items()}
    restorers = {name: (lambda img, m=m: cnn.restore_image(m, img)) for name, m in models.items()}
    res = {r.name: r for r in experiment.compare(scene, "reflexive", experiment.METHODS, cnn=restorers)}
    best_classical = max(r.psnr for n, r in res.items() if n in experiment.CLASSICAL)  # the oracle λ included
    assert res[experiment.CNN_TIK].psnr >= best_classical + 1.0
    assert res[experiment.CNN_DIRECT].psnr > psnr(np.clip(scene.blurred, 0, 1), truth) + 1.0
    # the network's input is exactly Tikhonov with GCV's λ
    x_gcv = restore.tikhonov_auto(scene.blurred, scene.psf, "reflexive", "gcv")[0]
    np.testing.assert_allclose(res[experiment.CNN_TIK].raw, cnn.restore_image(models[experiment.CNN_TIK], x_gcv), atol=1e-5)


def test_restore_works_channel_by_channel():
    m = cnn.ResidualCNN(depth=3, width=4).eval()
    img = np.random.default_rng(0).random((16, 12, 3))
    out = cnn.restore_image(m, img)
    for c in range(3):
        np.testing.assert_allclose(out[..., c], cnn.restore_image(m, img[..., c]), atol=1e-6)


def test_training_refuses_the_held_out_image_and_updates_the_weights():
    with pytest.raises(ValueError, match="held-out"):
        cnn.make_pairs("direct", experiment.TRAINED, names=("astronaut", "camera"))
    pairs = cnn.make_pairs("direct", experiment.TRAINED, names=("text",), sides=(128,), draws=1)
    model = cnn.ResidualCNN(depth=3, width=4)
    before = [p.detach().clone() for p in model.parameters()]
    calls = []
    model, hist = cnn.train("direct", seconds=0, max_steps=6, batch=2, patch=24, pairs=pairs, model=model,
                           log_every=2, progress=lambda fr, msg: calls.append((fr, msg)))
    assert [h[0] for h in hist] == [2, 4, 6] and len(calls) == 3 and all(np.isfinite(h[2]) for h in hist)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert not model.training


def test_networks_put_this_sessions_retrained_network_in_place_of_the_shipped_one():
    shipped = cnn.load_shipped()
    assert set(shipped) == {"direct", "tikcnn"}
    mine = cnn.ResidualCNN(depth=3, width=4).eval()
    info = experiment.NetworkInfo(retrained_here=True, stamp="mine")
    nets = cnn.networks(shipped, {"tikcnn": (mine, info)})
    assert set(nets.restorers) == {experiment.CNN_DIRECT, experiment.CNN_TIK}
    img = np.random.default_rng(1).random((20, 18))
    np.testing.assert_allclose(nets.restorers[experiment.CNN_TIK](img), cnn.restore_image(mine, img))
    np.testing.assert_allclose(nets.restorers[experiment.CNN_DIRECT](img), cnn.restore_image(shipped["direct"][0], img))
    assert nets.infos[experiment.CNN_TIK] is info and nets.infos[experiment.CNN_DIRECT].params == 56_097
    assert nets.stamp != cnn.networks(shipped, {}).stamp


def test_evaluate_and_a_short_retrain_from_a_base_that_stays_as_it_was():
    base = cnn.ResidualCNN(depth=3, width=4).eval()
    before = [p.detach().clone() for p in base.parameters()]
    pairs = cnn.make_pairs("direct", names=("text",), sides=(128,), draws=1)
    messages = []
    run = cnn.retrain("direct", 1, pairs, base=base, progress=lambda fr, msg: messages.append(msg))
    assert all(torch.equal(a, b) for a, b in zip(before, base.parameters()))  # trained a copy
    assert run.info.retrained_here and run.info.steps >= 5 and run.info.stamp != "shipped"
    assert messages[0].startswith("Training CNN (direct): step 5") and messages[-1] == "Evaluating on the held-out cameraman…"
    inp, x = cnn.eval_pair("direct")
    out = np.clip(cnn.restore_image(run.model, inp), 0, 1)
    assert run.evaluation.psnr == pytest.approx(10 * np.log10(1 / np.mean((out - x) ** 2)), rel=1e-9)
    assert run.evaluation.input_psnr == pytest.approx(10 * np.log10(1 / np.mean((np.clip(inp, 0, 1) - x) ** 2)), rel=1e-9)
    assert run.summary == (f"CNN (direct) retrained for {run.info.train_seconds:.0f} s ({run.info.steps} steps): cameraman "
                           f"{run.evaluation.input_psnr:.2f} → {run.evaluation.psnr:.2f} dB.")
