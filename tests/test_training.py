"""The training loop: it learns, it is deterministic, it counts epochs and steps, it updates
only the parameters it is given, it measures at the steps it promises, it records per-layer
statistics, and it says a run diverged by the rules of helpers.divergence."""
import math
import re
import warnings

import numpy as np
import pytest

from helpers import (
    NonFiniteError,
    iterate_minibatches,
    make_mlp,
    progress_bar,
    steps_per_epoch,
    train,
)
from helpers.recording import PRE_BINS, density_histogram, end_bin_fraction


def _toy(n=50, d=4, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.integers(0, k, size=n)


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
    untrained = make_mlp(seed=0)                  # step 0 is the model before any update
    untrained.forward(X[:500])                    # the default probe
    for l, layer in enumerate(untrained.activations):
        assert np.allclose(a["pre_pct"][0, l], np.percentile(layer.x, [1, 15, 50, 85, 99]))


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


def test_end_bin_fraction_counts_the_values_beyond_the_range():
    inside = np.array([-3.0, 0.0, 1.0, 9.0])
    beyond = np.array([-20.0, -9.99, 9.97, 20.0])    # the end bins are [-10, -9.95), [9.95, 10]
    hist = np.stack([density_histogram(np.concatenate([inside, beyond]), PRE_BINS),
                     density_histogram(inside, PRE_BINS)])
    assert end_bin_fraction(hist, PRE_BINS) == pytest.approx([0.5, 0.0])
    assert end_bin_fraction(hist[0], PRE_BINS) == pytest.approx(0.5)


@pytest.mark.parametrize("part, count", [("6.Linear.", 2),        # the output layer's W, b
                                         (".BatchNorm.", 4)])     # both gammas and betas
def test_train_updates_only_the_parameters_it_is_given(part, count):
    X, y = _toy()
    model = make_mlp((4, 5, 5, 3), batchnorm=True, seed=0)
    before = {name: p.copy() for name, p, _ in model.parameters()}
    chosen = [t for t in model.parameters() if part in t[0]]
    train(model, X, y, batch_size=10, lr=0.5, num_steps=5, parameters=chosen, eval_every=0)
    changed = {name for name, p, _ in model.parameters()
               if not np.array_equal(p, before[name])}
    assert changed == {name for name, _, _ in chosen} and len(changed) == count


@pytest.mark.parametrize("num_steps, every, steps", [
    (10, 4, [0, 4, 8, 10]),
    (8, 4, [0, 4, 8]),            # the end is a multiple: measured once
    (10, None, [0, 10]),          # no measure_every: start and end
    (3, 1, [0, 1, 2, 3]),
])
def test_measure_runs_at_step_0_every_k_steps_and_at_the_end(num_steps, every, steps):
    X, y = _toy()
    model = make_mlp((4, 5, 3), seed=0)
    weights = {0: model.linears[0].params["W"].copy()}      # W after each number of updates

    def snapshot(step, model, loss):
        weights[step] = model.linears[0].params["W"].copy()

    hist = train(model, X, y, batch_size=10, lr=0.5, num_steps=num_steps, eval_every=0,
                 measure=lambda m: m.linears[0].params["W"].copy(), measure_every=every,
                 callback=snapshot)
    assert hist.measure_steps == steps
    for step, measured in zip(hist.measure_steps, hist.measurements):
        assert np.array_equal(measured, weights[step]), step


def test_eval_runs_at_step_0_every_k_steps_and_at_the_end():
    X, y = _toy()
    hist = train(make_mlp((4, 5, 3)), X, y, batch_size=10, lr=0.1, num_steps=7, eval_every=3,
                 X_test=X[:10], y_test=y[:10])
    assert hist.eval_steps == [0, 3, 6, 7]
    assert len(hist.train_acc) == len(hist.test_acc) == 4


def test_a_non_finite_loss_stops_training_at_that_step_without_warnings(mnist):
    X, y, X_test, y_test = mnist
    seen = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hist = train(make_mlp(activation="relu", init="he", seed=0), X, y, batch_size=60,
                     lr=50.0, num_steps=500, X_test=X_test, y_test=y_test, eval_every=50,
                     record_every=10, callback=lambda step, model, loss: seen.append(step))
    step = hist.diverged["step"]
    assert hist.diverged == {"step": step, "reason": "the loss became nan"}
    # stopped at the first non-finite loss: each loss before it was finite and was followed
    # by an update (and a callback); the non-finite one by neither
    assert 0 < step < 500 and hist.num_steps == step and np.all(np.isfinite(hist.loss))
    assert seen == list(range(1, step + 1))
    assert hist.message() == f"training diverged at step {step}: the loss became nan"


def test_a_network_driven_confidently_wrong_is_diverged_by_its_last_tenth():
    """The loss stays finite but ends far above 1.5 ln K and above its start: diverged from the
    step it left the bar for good, judged after the whole run (a finite loss never stops
    training)."""
    X, y = _toy(k=3)
    y = 1 + y % 2                                  # labels 1 and 2 only
    model = make_mlp((4, 5, 3), seed=0)
    bias = model.linears[-1].params["b"]

    def push_towards_class_0(step, model, loss):   # every step: more sure of the wrong class
        bias[0] += 5.0

    hist = train(model, X, y, batch_size=10, lr=1e-4, num_steps=20, eval_every=0,
                 callback=push_towards_class_0)
    assert hist.num_steps == 20 and hist.loss[-1] > 1.5 * math.log(3) > hist.loss[0]
    bar = 1.5 * math.log(3)
    left = next(s for s in range(20) if all(loss > bar for loss in hist.loss[s:]))  # it rises
    assert 0 < left < 18                                     # before the last tenth (18, 19)
    assert hist.diverged["step"] == left                     # where it left the bar for good
    assert "above 1.5 ln 3 = 1.65" in hist.diverged["reason"]


def test_a_network_that_starts_confidently_wrong_and_stays_so_is_not_diverged():
    """Above 1.5 ln K from the first step but no worse than it began: not diverged (a large
    initialisation is not a blow-up)."""
    X, y = _toy(k=3)
    y = 1 + y % 2
    model = make_mlp((4, 5, 3), seed=0)
    model.linears[-1].params["b"][:] = [50.0, 0.0, 0.0]   # every example says "class 0"
    hist = train(model, X, y, batch_size=10, lr=1e-4, num_steps=20, eval_every=0)
    assert min(hist.loss) > 1.5 * math.log(3) and hist.diverged is None


def test_a_slow_learner_near_ln_10_is_not_diverged(mnist):
    X, y, _, _ = mnist
    hist = train(make_mlp(seed=0), X, y, batch_size=60, lr=0.01, num_steps=100, eval_every=0)
    assert np.mean(hist.loss[-10:]) == pytest.approx(math.log(10), abs=0.01)   # not learning
    assert hist.diverged is None


@pytest.mark.parametrize("label", [False, None, "label"])
def test_progress_bar_iterates_the_work_with_or_without_a_bar(label):
    assert list(progress_bar(range(4), label)) == [0, 1, 2, 3]
    assert list(progress_bar(iter("abc"), label)) == ["a", "b", "c"]
    counter = progress_bar(5, label)             # a number of items: update, then close
    counter.update(2)
    counter.update(3)
    counter.close()


@pytest.mark.parametrize("kwargs, match", [
    ({"batch_size": 0, "num_steps": 5}, "batch_size must be an integer from 1 to 50, got 0"),
    ({"batch_size": 51, "num_steps": 5}, "batch_size must be an integer from 1 to 50, got 51"),
    ({"batch_size": 0, "num_epochs": 1}, "batch_size must be an integer from 1 to 50, got 0"),
    ({"batch_size": 5}, "give exactly one of num_steps and num_epochs"),
    ({"batch_size": 5, "num_steps": 5, "num_epochs": 1}, "give exactly one of num_steps and"),
    ({"batch_size": 5, "num_steps": 0}, "num_steps must be an integer >= 1, got 0"),
    ({"batch_size": 5, "num_steps": 5, "lr": -1.0}, "lr must be a positive number, got -1.0"),
    ({"batch_size": 5, "num_steps": 5, "measure_every": 2},
     "measure_every needs a measure\\(model\\) function"),
])
def test_train_errors(kwargs, match):
    X, y = _toy()
    kwargs = {"lr": 0.1, **kwargs}
    with pytest.raises(ValueError, match=match):
        train(make_mlp((4, 5, 3)), X, y, **kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"batch_size": 2.5, "num_steps": 5}, "batch_size must be an integer, got float 2.5"),
    ({"batch_size": 5, "num_steps": 2.5}, "num_steps must be an integer, got float 2.5"),
    ({"batch_size": 5, "num_epochs": True}, "num_epochs must be an integer, got bool True"),
])
def test_train_rejects_non_integer_counts(kwargs, match):
    X, y = _toy()
    with pytest.raises(TypeError, match=match):
        train(make_mlp((4, 5, 3)), X, y, lr=0.1, **kwargs)


@pytest.mark.parametrize("name, bad", [("X", np.nan), ("X_test", np.inf), ("y", np.nan),
                                       ("y_test", -np.inf)])
def test_train_rejects_nan_and_inf_in_its_data_naming_the_array_and_index(name, bad):
    X, y = _toy()
    data = {"X": X.copy(), "y": y.astype(float), "X_test": X[:10].copy(),
            "y_test": y[:10].astype(float)}
    index = (7, 2) if data[name].ndim == 2 else (7,)
    data[name][index] = bad
    with pytest.raises(NonFiniteError, match=re.escape(
            f"train()'s {name} must be finite, got {bad} at index {index}")):
        train(make_mlp((4, 5, 3)), data["X"], data["y"], X_test=data["X_test"],
              y_test=data["y_test"], batch_size=5, lr=0.1, num_steps=1)


@pytest.mark.parametrize("kwargs, lr, step", [
    ({"activation": "relu", "scale": 0.3}, 1e300, 1),   # one update blows the weights up
    ({"scale": 1e306}, 0.1, 0),                         # X @ W overflows at the first forward
])
def test_a_run_whose_activations_overflow_is_diverged_not_raised(mnist, kwargs, lr, step):
    """Batch norm refuses nan and inf in its input; a run whose own activations overflow still
    comes back diverged, with the step and the reason."""
    X, y, X_test, y_test = mnist
    with np.errstate(over="ignore"):
        hist = train(make_mlp(batchnorm=True, init="small", seed=0, **kwargs), X, y,
                     batch_size=60, lr=lr, num_steps=30, X_test=X_test, y_test=y_test,
                     record_every=10)
    assert hist.diverged["step"] == step == hist.num_steps
    assert hist.diverged["reason"].startswith("an activation overflowed (batch norm's input x "
                                              "must be finite, got ")
    assert hist.message().startswith(f"training diverged at step {step}: an activation")


def test_train_rejects_x_and_y_of_different_lengths():
    X, y = _toy()
    with pytest.raises(ValueError, match="X and y must have the same length, got 50 and 49"):
        train(make_mlp((4, 5, 3)), X, y[:49], batch_size=5, lr=0.1, num_steps=1)


def test_callback_sees_every_update_and_drop_last_keeps_batches_full():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(25, 4)), rng.integers(0, 3, size=25)
    seen = []
    hist = train(make_mlp((4, 5, 3)), X, y, batch_size=10, lr=0.1, num_epochs=2, eval_every=0,
                 drop_last=True, callback=lambda step, model, loss: seen.append((step, loss)))
    assert [s for s, _ in seen] == [1, 2, 3, 4] and [loss for _, loss in seen] == hist.loss
    assert hist.examples_seen == [10, 20, 30, 40]
