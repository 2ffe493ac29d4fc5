"""Training: seeded and reproducible, stoppable, augmentation sane, the CLI writes loadable weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnn_viz.mnist import data, model, train

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def small():
    tr, held = data.train_test_split()
    return tr.subset(np.arange(len(tr))[::8]), held.subset(np.arange(len(held))[::5])  # 500 / 200 digits, all classes


def same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return all(torch.equal(sa[k], sb[k]) for k in sa)


def test_same_seed_same_network_other_seed_other_network(small):
    tr, held = small
    a = train.train(tr, held_out=held, epochs=1, seed=7)
    b = train.train(tr, held_out=held, epochs=1, seed=7)
    c = train.train(tr, held_out=held, epochs=1, seed=8)
    assert same_weights(a.model, b.model) and not same_weights(a.model, c.model)
    assert a.history[0].test_acc == b.history[0].test_acc
    assert not a.model.training and not a.stopped
    # the reported held-out numbers are the model's (cross-entropy by torch)
    with torch.no_grad():
        logits = a.model(model.as_input(held.images))
        loss = F.cross_entropy(logits, torch.from_numpy(held.labels)).item()
    assert a.history[0].test_loss == pytest.approx(loss, rel=1e-5)
    assert a.history[0].test_acc == model.accuracy(a.model, held.images, held.labels)


def test_training_learns_and_reports_progress(small):
    tr, held = small
    seen, epochs = [], []
    res = train.train(tr, held_out=held, epochs=3, batch_size=32, lr=2e-3, seed=0,
                      on_batch=lambda d, t: seen.append((d, t)), on_epoch=lambda s, m: epochs.append(s.epoch))
    steps = -(-len(tr) // 32)
    assert seen[-1] == (3 * steps, 3 * steps) and len(seen) == 3 * steps and epochs == [1, 2, 3]
    assert res.history[-1].test_acc > 0.8  # 500 digits, 3 epochs: well above chance (10%)
    assert res.history[-1].train_loss < res.history[0].train_loss


def test_should_stop_keeps_what_was_trained(small):
    tr, held = small
    calls = iter(range(1000))
    res = train.train(tr, held_out=held, epochs=5, seed=0, should_stop=lambda: next(calls) >= 3)  # stops after batch 4
    assert res.stopped and len(res.history) == 1
    fresh = train.train(tr, held_out=held, epochs=5, seed=0, should_stop=lambda: True)
    assert fresh.stopped and not same_weights(fresh.model, res.model)  # 1 batch vs 4 batches of training


def test_augmentation_identity_and_range():
    held = data.train_test_split()[1]
    x = model.as_input(held.images[:16])
    gen = torch.Generator().manual_seed(0)
    same = train.augment_batch(x, gen, train.Augment(rotate_deg=0, scale=0, shift_px=0, thickness=0))
    torch.testing.assert_close(same, x, atol=1e-5, rtol=0)
    out = train.augment_batch(x, torch.Generator().manual_seed(0), train.Augment())
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    assert not torch.allclose(out, x)
    # ink is moved, not created or destroyed wholesale
    ratio = out.sum(dim=(1, 2, 3)) / x.sum(dim=(1, 2, 3))
    assert ((ratio > 0.6) & (ratio < 1.8)).all()


def test_bad_settings_raise():
    tr = data.train_test_split()[0]
    with pytest.raises(ValueError):
        train.train(tr, epochs=0)
    with pytest.raises(ValueError):
        train.train(tr.subset(np.array([], dtype=int)), epochs=1)


def test_cli_writes_weights_that_load(tmp_path, capsys):
    out = tmp_path / "w.pt"
    assert train.main(["--epochs", "1", "--batch-size", "128", "--seed", "3", "--data", "sample", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "4000 training, 1000 held-out" in text and "held-out accuracy" in text
    net = model.load_pretrained(out)
    meta = model.load_meta(out)
    held = data.train_test_split()[1]
    assert meta["held_out_accuracy"] == model.accuracy(net, held.images, held.labels)
    assert meta["epochs"] == 1 and meta["seed"] == 3 and meta["batch_size"] == 128 and "--epochs 1" in meta["command"]
    with pytest.raises(ValueError, match="No trained weights"):
        model.load_pretrained(tmp_path / "missing.pt")


def test_run_config_describes_the_run():
    cfg = train.RunConfig(epochs=3, n_train=1000, lr=3e-4, batch=32, seed=7, augment=False)
    assert cfg.describe() == "1000 digits, batch 32, learning rate 0.0003, seed 7, augmentation off"
    assert train.RunConfig().describe() == "4000 digits, batch 64, learning rate 0.001, seed 0, augmentation on"


def test_train_own_keeps_a_copy_after_every_epoch(small):
    tr, held = small
    full = data.train_test_split()[0]
    snaps = []
    cfg = train.RunConfig(epochs=2, n_train=500, batch=64, seed=5, augment=True)
    own = train.train_own(full, held, cfg, on_epoch=snaps.append)
    assert own.finished and own.config.n_train == 500 and [len(s.history) for s in snaps] == [1, 2]
    assert not any(s.finished for s in snaps) and all(s.model is not own.model for s in snaps)
    assert same_weights(snaps[-1].model, own.model) and not same_weights(snaps[0].model, own.model)
    # the same run by hand: 500 digits at stride 8, the page's settings passed to train
    ref = train.train(full.subset(np.arange(len(full))[::8]), held_out=held, epochs=2, batch_size=64, lr=1e-3, seed=5,
                      augment=train.Augment())
    assert same_weights(ref.model, own.model)
    assert own.accuracy == model.accuracy(own.model, held.images, held.labels) == snaps[-1].accuracy
    assert own.epochs_done == 2 and own.seconds == pytest.approx(sum(h.seconds for h in own.history))
    assert own.points_over(0.5) == pytest.approx((own.accuracy - 0.5) * 100)


def test_the_cli_trains_a_design_into_a_new_file_and_leaves_the_shipped_one(tmp_path, monkeypatch, capsys):
    """`python -m cnn_viz.mnist.train --design my.json` without --out: a new file under runs/, printed at the
    end, that the page's loader accepts; assets/simple_cnn.pt is untouched."""
    import hashlib

    from cnn_viz.common import assets
    from cnn_viz.mnist import design, netfile
    from cnn_viz.mnist import train as tr

    shipped = hashlib.sha256(assets.SIMPLE_CNN_WEIGHTS.read_bytes()).hexdigest()
    monkeypatch.setattr(assets, "RUNS", tmp_path / "runs")
    spec = tmp_path / "tiny.json"
    d = design.from_code("conv2k3-relu-max4-flat-fc10")
    spec.write_text(netfile.design_json(d))
    assert tr.main(["--design", str(spec), "--epochs", "1", "--batch-size", "256", "--no-augment"]) == 0
    written = sorted((tmp_path / "runs").glob("tiny-*.pt"))
    assert len(written) == 1 and f"wrote {written[0]}" in capsys.readouterr().out
    net = netfile.load(written[0].read_bytes())
    assert net.design == d and net.epochs == 1
    assert net.accuracy == pytest.approx(model.accuracy(net.model, *_held_arrays()), abs=1e-12)
    assert hashlib.sha256(assets.SIMPLE_CNN_WEIGHTS.read_bytes()).hexdigest() == shipped
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "cnn_viz-design", "layers": [{"kind": "lstm"}]}')
    assert tr.main(["--design", str(bad), "--epochs", "1"]) == 2
    assert "unknown layer type 'lstm'" in capsys.readouterr().err


def _held_arrays():
    from cnn_viz.mnist.data import train_test_split

    held = train_test_split()[1]
    return held.images, held.labels
