"""The training loop: it learns, it is deterministic, it counts epochs and steps, it records
per-layer statistics, and it stops cleanly (no warnings) when training diverges."""
import warnings

import numpy as np
import pytest

from helpers import iterate_minibatches, load_mnist, make_mlp, steps_per_epoch, train


@pytest.fixture(scope="module")
def mnist():
    return load_mnist()


def test_small_run_learns(mnist):
    X, y, X_test, y_test = mnist
    for init, batchnorm in (("xavier", False), ("small", True)):
        hist = train(make_mlp(init=init, batchnorm=batchnorm, seed=0), X, y, batch_size=60,
                     lr=1.0, num_steps=600, X_test=X_test, y_test=y_test, eval_every=300)
        assert np.mean(hist.loss[-50:]) < 0.6 * np.mean(hist.loss[:50])
        assert hist.test_acc[-1] > 0.5                      # chance is 0.1
    assert hist.test_acc[-1] > 0.8                          # batch norm learns fast


def test_same_seed_same_numbers_bit_for_bit(mnist):
    X, y, X_test, y_test = mnist
    runs = [train(make_mlp(batchnorm=True, seed=3), X[:600], y[:600], batch_size=32, lr=0.5,
                  momentum=0.9, num_steps=40, seed=7, X_test=X_test[:100], y_test=y_test[:100],
                  eval_every=20, record_every=20) for _ in range(2)]
    assert runs[0].loss == runs[1].loss and runs[0].test_acc == runs[1].test_acc
    for k, v in runs[0].activations.items():
        if isinstance(v, list):
            assert all(np.array_equal(a, b) for a, b in zip(v, runs[1].activations[k]))
        else:
            assert np.array_equal(v, runs[1].activations[k]), k
    other = train(make_mlp(batchnorm=True, seed=3), X[:600], y[:600], batch_size=32, lr=0.5,
                  momentum=0.9, num_steps=40, seed=8, eval_every=0)
    assert other.loss != runs[0].loss                        # the seed picks the batches


@pytest.mark.parametrize("batch_size", [1, 7, 100, 300])
def test_epochs_and_steps(batch_size):
    n = 300
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(n, 4)), rng.integers(0, 3, size=n)
    hist = train(make_mlp((4, 5, 3)), X, y, batch_size=batch_size, lr=0.1, num_epochs=2,
                 eval_every=0)
    k = steps_per_epoch(n, batch_size)
    assert hist.num_steps == 2 * k and k == -(-n // batch_size)
    assert hist.epoch == [0] * k + [1] * k
    assert hist.examples_seen[k - 1] == n and hist.examples_seen[-1] == 2 * n


def test_minibatches_cover_each_example_once_per_epoch():
    batches = list(iterate_minibatches(10, 3, np.random.default_rng(0)))
    assert [len(b) for b in batches] == [3, 3, 3, 1]
    assert sorted(np.concatenate(batches)) == list(range(10))
    assert [len(b) for b in iterate_minibatches(10, 3, np.random.default_rng(0), True)] == [3] * 3


def test_batchnorm_skips_a_trailing_batch_of_one():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(31, 4)), rng.integers(0, 3, size=31)
    hist = train(make_mlp((4, 5, 3), batchnorm=True), X, y, batch_size=10, lr=0.1,
                 num_epochs=1, eval_every=0)
    assert hist.num_steps == 3 and hist.examples_seen[-1] == 30


def test_recording_shapes_and_content(mnist):
    X, y, _, _ = mnist
    hist = train(make_mlp(seed=0), X, y, batch_size=60, lr=1.0, num_steps=45, record_every=20,
                 eval_every=0)
    a = hist.activations
    assert list(a["steps"]) == [0, 20, 40, 45]
    assert list(a["grad_steps"]) == [0, 20, 40]
    T, L = 4, 3
    assert a["pre_pct"].shape == (T, L, 5) and list(a["percentiles"]) == [1, 15, 50, 85, 99]
    assert len(a["unit_pct"]) == L and a["unit_pct"][2].shape == (T, 100, 5)
    assert a["pre_hist"].shape == (T, L, len(a["pre_bins"]) - 1)
    assert a["saturation"].shape == (T, L) and a["grad_norm"].shape == (3, L)
    widths = np.diff(a["pre_bins"])
    assert np.allclose((a["pre_hist"] * widths).sum(axis=-1), 1.0)   # densities integrate to 1
    assert np.all(np.diff(a["pre_pct"], axis=-1) >= 0)                # percentiles ordered


def test_recording_reads_the_probe_without_touching_running_stats(mnist):
    X, y, _, _ = mnist
    model = make_mlp(batchnorm=True, seed=0)
    train(model, X, y, batch_size=50, lr=0.5, num_steps=30, eval_every=0)
    reference = [bn.running_mean.copy() for bn in make_mlp(batchnorm=True, seed=0).batchnorms]
    recorded = make_mlp(batchnorm=True, seed=0)
    train(recorded, X, y, batch_size=50, lr=0.5, num_steps=30, eval_every=0, record_every=5)
    for a, b in zip(model.batchnorms, recorded.batchnorms):
        assert np.array_equal(a.running_mean, b.running_mean)
        assert a.num_batches_tracked == b.num_batches_tracked == 30
    assert not np.array_equal(reference[0], model.batchnorms[0].running_mean)


def test_divergence_stops_cleanly_without_warnings(mnist):
    X, y, X_test, y_test = mnist
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hist = train(make_mlp(activation="relu", init="he", seed=0), X, y, batch_size=60,
                     lr=50.0, num_steps=500, X_test=X_test, y_test=y_test, eval_every=50,
                     record_every=10)
    assert hist.diverged is not None
    step = hist.diverged["step"]
    assert 0 < step < 500 and hist.num_steps == step
    assert "diverged at step" in hist.message() and "nan" in hist.diverged["reason"] + "nan"


@pytest.mark.parametrize("kwargs, error, match", [
    ({"batch_size": 0, "num_steps": 5}, ValueError, "batch_size must be an int from 1 to N=50"),
    ({"batch_size": 51, "num_steps": 5}, ValueError, "got 51"),
    ({"batch_size": 2.5, "num_steps": 5}, ValueError, "batch_size"),
    ({"batch_size": 0, "num_epochs": 1}, ValueError, "batch_size must be an int"),
    ({"batch_size": 5}, ValueError, "exactly one of num_steps and num_epochs"),
    ({"batch_size": 5, "num_steps": 5, "num_epochs": 1}, ValueError, "exactly one"),
    ({"batch_size": 5, "num_steps": 5, "lr": -1.0}, ValueError, "lr must be a positive"),
])
def test_train_errors(kwargs, error, match):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(50, 4)), rng.integers(0, 3, size=50)
    kwargs = {"lr": 0.1, **kwargs}
    with pytest.raises(error, match=match):
        train(make_mlp((4, 5, 3)), X, y, **kwargs)


def test_callback_sees_every_update_and_drop_last_keeps_batches_full():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(25, 4)), rng.integers(0, 3, size=25)
    seen = []
    hist = train(make_mlp((4, 5, 3)), X, y, batch_size=10, lr=0.1, num_epochs=2, eval_every=0,
                 drop_last=True, callback=lambda step, model, loss: seen.append((step, loss)))
    assert [s for s, _ in seen] == [1, 2, 3, 4] and [loss for _, loss in seen] == hist.loss
    assert hist.examples_seen == [10, 20, 30, 40]
