"""Lesson 2 (internal covariate shift): the W1 measure, training only chosen layers (on
`helpers.train`), the plain-words verdict on a run, and the lesson's widget panels."""
import copy
import re

import matplotlib.pyplot as plt
import numpy as np
import pytest

from helpers import make_mlp, softmax_cross_entropy, train
from helpers.display.panels import activation_panel
from helpers.lessons import lesson2_figures as shift_figs
from helpers.lessons import lesson2_shift as shift
from helpers.recording import PRE_BINS, end_bin_fraction

BINS = np.linspace(-5.0, 5.0, 101)          # width 0.1
SEEDS = (0, 1, 2)                           # a claim the lesson makes from one run: all three


@pytest.fixture(scope="module")
def subset(mnist):
    """The first 600 training images and labels: enough for short runs."""
    X, y, _, _ = mnist
    return X[:600], y[:600]


@pytest.fixture(scope="module")
def grid(subset):
    X, y = subset
    return shift.train_grid(X, y, (1, 60), (0.5, 8.0), (0.0, 0.99), num_steps=30,
                            record_every=10, probe=X[:100], progress=False)


def bump(center_bin, n=100, width=5):
    """A triangular histogram (counts) centred on one bin, well away from the edges."""
    h = np.zeros(n)
    h[center_bin - width:center_bin + width + 1] = width + 1 - np.abs(np.arange(-width, width + 1))
    return h


# --- the measure ---------------------------------------------------------------------------

def test_w1_of_identical_histograms_is_zero():
    h = bump(40)
    assert shift.wasserstein1(h, h, BINS) == 0.0


@pytest.mark.parametrize("k", [1, 7, -12])
def test_w1_of_shifted_histogram_equals_the_shift(k):
    assert shift.wasserstein1(bump(50), bump(50 + k), BINS) == pytest.approx(abs(k) * 0.1)


def test_w1_is_symmetric_and_ignores_normalisation(rng):
    p, q = rng.random(100), rng.random(100)
    assert shift.wasserstein1(p, q, BINS) == pytest.approx(shift.wasserstein1(q, p, BINS))
    assert shift.wasserstein1(3 * p, q / 7, BINS) == pytest.approx(shift.wasserstein1(p, q, BINS))
    assert shift.wasserstein1(p, q, BINS) > 0


def test_w1_matches_samples_placed_at_bin_centres(rng):
    """Independent check: expand integer counts into samples at the bin centres."""
    centres = (BINS[:-1] + BINS[1:]) / 2
    p = rng.multinomial(1000, np.full(100, 0.01))
    q = rng.multinomial(1000, np.linspace(1, 3, 100) / np.linspace(1, 3, 100).sum())
    exact = shift.wasserstein1_samples(np.repeat(centres, p), np.repeat(centres, q))
    assert shift.wasserstein1(p, q, BINS) == pytest.approx(exact)


def test_w1_histogram_close_to_exact_from_samples(rng):
    a, b = rng.normal(0, 1, 20_000), rng.normal(0.7, 1.5, 20_000)
    hist = shift.wasserstein1(np.histogram(a, PRE_BINS)[0], np.histogram(b, PRE_BINS)[0],
                              PRE_BINS)
    assert abs(hist - shift.wasserstein1_samples(a, b)) < PRE_BINS[1] - PRE_BINS[0]


def test_w1_broadcasts_over_leading_axes(rng):
    p, q = rng.random((4, 3, 100)), rng.random((3, 100))
    out = shift.wasserstein1(p, q, BINS)
    assert out.shape == (4, 3)
    assert out[2, 1] == pytest.approx(shift.wasserstein1(p[2, 1], q[1], BINS))


@pytest.mark.parametrize("p, q, bins, match", [
    (np.ones(99), np.ones(100), BINS, "last axis"),
    (np.ones(100), np.ones(100), BINS[::-1], "increasing"),
    (-np.ones(100), np.ones(100), BINS, "non-negative"),
    (np.full(100, np.nan), np.ones(100), BINS, "finite"),
    (np.zeros(100), np.ones(100), BINS, "mass"),
])
def test_w1_rejects_bad_input(p, q, bins, match):
    with pytest.raises(ValueError, match=match):
        shift.wasserstein1(p, q, bins)


def test_w1_samples_shift_per_unit_and_errors(rng):
    a = rng.normal(size=(200, 3))
    assert shift.wasserstein1_samples(a, a + 0.25) == pytest.approx(0.25)
    per_unit = shift.wasserstein1_samples(a, a + [0.0, 1.0, -2.0], axis=0)
    np.testing.assert_allclose(per_unit, [0.0, 1.0, 2.0], atol=1e-12)
    with pytest.raises(ValueError, match="equal shape"):
        shift.wasserstein1_samples(a, a[:10])
    with pytest.raises(ValueError, match="non-empty"):
        shift.wasserstein1_samples([], [])


def test_shift_between_checkpoints_and_from_start():
    hist = np.stack([np.stack([bump(40 + t), bump(60 - 2 * t)]) for t in range(4)])  # (4, 2, 100)
    acts = {"steps": np.array([0, 10, 20, 30]), "pre_hist": hist, "pre_bins": BINS}
    steps, w1 = shift.shift_between_checkpoints(acts)
    np.testing.assert_array_equal(steps, [10, 20, 30])
    np.testing.assert_allclose(w1, [[0.1, 0.2]] * 3)
    steps, w1 = shift.shift_from_start(acts)
    np.testing.assert_allclose(w1, [[0.0, 0.0], [0.1, 0.2], [0.2, 0.4], [0.3, 0.6]])


# --- cause and effect -------------------------------------------------------------------------

BASE_SIZES = (784, 30, 30, 30, 10)


@pytest.fixture(scope="module")
def layer_runs(subset):
    """The lesson's experiment on a small network: train only the first layer (on three batch
    orders), all layers, or nothing, from the same weights."""
    X, y = subset
    base = make_mlp(sizes=BASE_SIZES, init="xavier", seed=3)
    out = {}
    for name, layers, seed in [("first", (0,), s) for s in SEEDS] + [("all", "all", 0),
                                                                         ("none", (), 0)]:
        net = copy.deepcopy(base)
        out[name, seed] = (net, shift.train_layers(net, X, y, layers=layers, batch_size=30,
                                                   lr=0.5, num_steps=20, measure_every=10,
                                                   probe=X[:100], seed=seed))
    return base, out


def params_changed(net, base):
    return [any(not np.array_equal(p, q) for p, q in zip(a.params.values(), b.params.values()))
            for a, b in zip(net.linears, base.linears)]


@pytest.mark.parametrize("seed", SEEDS)
def test_first_layer_only_freezes_the_others_but_moves_layer_3(layer_runs, subset, seed):
    base, runs = layer_runs
    probe = subset[0][:100]
    net, r = runs["first", seed]
    assert params_changed(net, base) == [True, False, False, False]
    np.testing.assert_array_equal(r["steps"], [0, 10, 20])
    assert r["w1_unit"].shape == r["w1_pooled"].shape == (3, 3)
    assert np.all(r["w1_unit"][0] == 0) and np.all(r["w1_pooled"][0] == 0)
    # layer 3's input moved, its weights did not: 0.017 on each of the three seeds, so a
    # third of that is the margin
    assert r["w1_unit"][-1, 2] > 0.005
    # the recorded end state is the network's real end state, and differs from the start
    end = shift.pre_activations(net, probe)
    for l in range(3):
        np.testing.assert_array_equal(r["end"][l], end[l])
    np.testing.assert_array_equal(r["start"][0], shift.pre_activations(base, probe)[0])
    assert r["w1_unit"][-1, 2] == shift.wasserstein1_samples(r["start"][2], end[2], 0).mean()
    assert r["w1_pooled"][-1, 2] == shift.wasserstein1_samples(r["start"][2], end[2])


def test_control_and_all_layers(layer_runs):
    base, runs = layer_runs
    net, r = runs["none", 0]
    assert params_changed(net, base) == [False] * 4
    assert np.all(r["w1_unit"] == 0) and np.all(r["w1_pooled"] == 0)
    net, r = runs["all", 0]
    assert params_changed(net, base) == [True] * 4
    assert np.all(r["w1_unit"][-1] > 0.03)     # measured 0.036 to 0.16 per layer


def _train_layers_by_hand(model, X, y, layers, batch_size, lr, num_steps, seed):
    """What train_layers must do, written without helpers.train: one shuffle per epoch from
    default_rng(seed), cut into batches, plain SGD on the chosen hidden Linears only."""
    rng, step = np.random.default_rng(seed), 0
    hidden = model.linears[:len(model.activations)]
    while step < num_steps:
        order = rng.permutation(len(X))
        for start in range(0, len(X), batch_size):
            if step == num_steps:
                break
            idx = order[start:start + batch_size]
            model.backward(softmax_cross_entropy(model.forward(X[idx]), y[idx])[1])
            for i in layers:
                for k, p in hidden[i].params.items():
                    p -= lr * hidden[i].grads[k]
            step += 1


def test_train_layers_takes_the_same_steps_as_a_hand_written_loop(subset):
    X, y = subset
    base = make_mlp(sizes=BASE_SIZES, init="xavier", seed=4)
    net, by_hand = copy.deepcopy(base), copy.deepcopy(base)
    # 45 does not divide 600: the runs cross an epoch boundary inside a batch sequence
    r = shift.train_layers(net, X, y, layers=(0, 2), batch_size=45, lr=0.5, num_steps=30,
                           measure_every=7, probe=X[:50], seed=5)
    _train_layers_by_hand(by_hand, X, y, (0, 2), 45, 0.5, 30, seed=5)
    for a, b in zip(net.linears, by_hand.linears):
        for k in a.params:
            np.testing.assert_array_equal(a.params[k], b.params[k])
    assert params_changed(net, base) == [True, False, True, False]
    np.testing.assert_array_equal(r["steps"], [0, 7, 14, 21, 28, 30])   # and at the end


@pytest.mark.parametrize("layers", [(3,), (-1,), "first", (0.5,)])
def test_train_layers_rejects_bad_layers(subset, layers):
    X, y = subset
    with pytest.raises(ValueError, match=r"layers must be 'all' or indices 0\.\.2, got"):
        shift.train_layers(make_mlp(), X, y, layers=layers, batch_size=10, lr=0.1, num_steps=1,
                           measure_every=1, probe=X[:10])


def test_grad_at_nonlinearity_agrees_with_weight_gradients(subset):
    X, y = subset
    model = make_mlp(sizes=(784, 20, 20, 10), init="xavier", scale=3.0, seed=1)
    grads = shift.grad_at_nonlinearity(model, X[:50], y[:50])
    assert len(grads) == 2
    h1 = model.activations[0].out
    # dL/dW2 = h1^T dL/dx2: the engine's weight gradient from our dL/dx
    np.testing.assert_allclose(h1.T @ grads[1][0], model.linears[1].grads["W"], rtol=1e-10)
    dx, sat = grads[0]
    assert dx.shape == sat.shape == (50, 20) and sat.any() and (~sat).any()
    np.testing.assert_array_equal(sat, np.abs(model.activations[0].x) > np.log(99))


# --- verdicts and panels ----------------------------------------------------------------------

SUMMARY = r"loss \d\.\d\d -> \d+\.\d\d after 30 steps; last hidden layer \d+% saturated"
DIVERGED = "DIVERGED at step {} (lr or momentum too large)"
SATURATED = "SATURATED: the last hidden layer's sigmoids are flat, little gradient flows"


def test_describe_run_of_a_healthy_run(grid):
    h = grid[(60, 0.5, 0.0)]
    warning, lines = shift_figs.describe_run(h)
    assert warning is None and len(lines) == 1
    assert lines[0] == (f"loss {h.loss[0]:.2f} -> {np.mean(h.loss[-3:]):.2f} after 30 steps; "
                        f"last hidden layer {h.activations['saturation'][-1, -1]:.0%} saturated")


def test_describe_run_uses_the_courses_divergence_rule(grid):
    """A run is called diverged exactly when History.diverged (helpers.divergence) says so."""
    for key, h in grid.items():
        warning, lines = shift_figs.describe_run(h)
        assert (warning == DIVERGED.format(h.diverged["step"])) if h.diverged \
            else (warning is None or warning == SATURATED), key
        assert re.fullmatch(SUMMARY, lines[0]), lines[0]
    h = grid[(1, 8.0, 0.99)]                    # loss 2.30 -> 89.6: worse than guessing
    warning, lines = shift_figs.describe_run(h)
    assert h.diverged["step"] == 27
    assert lines[0] == "loss 2.30 -> 89.56 after 30 steps; last hidden layer 100% saturated"
    assert lines[1:3] == [DIVERGED.format(27), SATURATED]
    assert lines[3] == f"diverged: {h.diverged['reason']}"
    assert lines[-2:] == ["batch size 1: every step follows one example, so the distributions "
                          "jump", "momentum 0.99: a step adds up ~100 past gradients (about "
                                  "100x the lr)"]


def test_describe_run_of_a_saturated_run_names_the_capped_layers(grid):
    h = grid[(60, 8.0, 0.0)]
    edge = end_bin_fraction(h.activations["pre_hist"][-1], h.activations["pre_bins"])
    assert h.diverged is None and list(edge > 0.5) == [False, False, True]
    warning, lines = shift_figs.describe_run(h)
    assert warning == SATURATED
    assert lines[1:] == [SATURATED, "layers 3: most input lies beyond +-10, so their W1 is "
                                    "capped near 10"]


@pytest.fixture(scope="module")
def diverged(subset):
    """A run whose loss overflows at once (lr = 1e308): History.diverged is set."""
    X, y = subset
    h = train(make_mlp(), X, y, batch_size=60, lr=1e308, momentum=0.9, num_steps=20,
              eval_every=0, record_every=5, probe=X[:100])
    assert h.diverged == {"step": 1, "reason": "the loss became inf"}
    return h


def test_describe_run_of_a_run_that_overflowed(diverged):
    warning, lines = shift_figs.describe_run(diverged)
    assert warning == DIVERGED.format(1)
    assert lines[1:] == [DIVERGED.format(1), "diverged: the loss became inf"]


def test_train_grid_is_reproducible(subset, grid):
    X, y = subset
    again = shift.train_grid(X, y, (60,), (8.0,), (0.99,), num_steps=30, record_every=10,
                             probe=X[:100], progress=False)
    assert again[(60, 8.0, 0.99)].loss == grid[(60, 8.0, 0.99)].loss


def lines_of(fig):
    return [np.asarray(line.get_ydata()).copy() for ax in fig.axes for line in ax.get_lines()]


def differs(a, b):
    return len(a) != len(b) or any(x.shape != y.shape or not np.allclose(x, y)
                                   for x, y in zip(a, b))


def test_shift_panel_redraws_on_every_slider(grid):
    panel = shift_figs.shift_panel(grid, (1, 60), (0.5, 8.0), (0.0, 0.99), value=(60, 0.5, 0.0))
    controls = panel.children[:-1]
    assert [c.description for c in controls] == ["batch size", "lr", "momentum", "layer"]
    assert all(not c.continuous_update for c in controls)
    for control, new in zip(controls, (1, 8.0, 0.99, 1)):
        before = lines_of(panel.figure())
        control.value = new
        assert differs(before, lines_of(panel.figure())), control.description


def test_shift_panel_extreme_shows_message(grid, capsys):
    panel = shift_figs.shift_panel(grid, (1, 60), (0.5, 8.0), (0.0, 0.99), value=(1, 8.0, 0.99))
    texts = [t.get_text() for ax in panel.figure().axes for t in ax.texts]
    assert texts == [DIVERGED.format(27)]
    assert "\n".join(shift_figs.describe_run(grid[(1, 8.0, 0.99)])[1]) in capsys.readouterr().out


def test_shift_panel_with_a_diverged_run_shows_message(grid, diverged):
    runs = dict(grid)
    runs[(60, 8.0, 0.99)] = diverged
    nan_acts = dict(diverged.activations, pre_pct=np.full_like(diverged.activations["pre_pct"],
                                                                 np.nan))
    runs[(1, 8.0, 0.99)] = copy.copy(diverged)
    runs[(1, 8.0, 0.99)].activations = nan_acts          # even NaN percentiles must not raise
    panel = shift_figs.shift_panel(runs, (1, 60), (0.5, 8.0), (0.0, 0.99), value=(60, 8.0, 0.99))
    texts = [t.get_text() for ax in panel.figure().axes for t in ax.texts]
    assert texts == [DIVERGED.format(1)]
    panel.children[0].value = 1
    assert panel.figure().axes[0].get_xlim() == (-10.0, 10.0)


def test_step_scrubber_redraws(grid):
    acts = grid[(60, 8.0, 0.0)].activations
    scrubber = shift_figs.step_scrubber(acts, value=10)
    (slider,) = scrubber.children[:-1]
    assert list(slider.options) == [("0", 0), ("10", 10), ("20", 20), ("30", 30)]
    before, title = lines_of(scrubber.figure()), scrubber.figure().axes[2].get_title()
    for step in (30, 20, 0):
        slider.value = step
    assert differs(before, lines_of(scrubber.figure()))
    assert "W1 from step 0 = 0.00" in scrubber.figure().axes[2].get_title() != title


def test_shared_activation_panel_on_the_grid(grid, capsys):
    runs = {(b, m): {"lr 0.5": grid[(b, 0.5, m)]} for b in (1, 60) for m in (0.0, 0.99)}
    panel = activation_panel(runs, batch_sizes=(1, 60), momenta=(0.0, 0.99), value=(60, 0.0))
    batch_slider, momentum_slider = panel.children[:-1]
    before = lines_of(panel.figure())
    batch_slider.value = 1
    assert differs(before, lines_of(panel.figure()))
    momentum_slider.value = 0.99               # the extreme corner diverged: the panel says so
    assert grid[(1, 0.5, 0.99)].diverged["step"] == 27
    assert "diverged at step 27" in [t.get_text() for ax in panel.figure().axes for t in ax.texts]
    assert "lr 0.5: training diverged at step 27" in capsys.readouterr().out


def test_plot_per_layer_draws_one_line_per_layer():
    fig, ax = plt.subplots()
    shift_figs.plot_per_layer(ax, np.arange(5), np.arange(15.0).reshape(5, 3), "y", "t",
                              highlight=1)
    assert [line.get_linewidth() for line in ax.get_lines()] == [1, 2, 1]
    assert [line.get_label() for line in ax.get_lines()] == [
        "hidden layer 1", "hidden layer 2", "hidden layer 3"]


@pytest.mark.parametrize("seed", SEEDS)
def test_every_layer_of_the_papers_network_moves(subset, seed):
    """Section 3's claim: no layer keeps the input distribution it started with. Measured
    after 20 steps: at least 0.12 on each seed, so 0.05 leaves a margin."""
    X, y = subset
    h = train(make_mlp(), X, y, batch_size=60, lr=2.0, num_steps=20, eval_every=0,
              record_every=10, probe=X[:50], seed=seed)
    steps, w1 = shift.shift_from_start(h.activations)
    np.testing.assert_array_equal(steps, [0, 10, 20])
    assert w1.shape == (3, 3) and np.all(w1[0] == 0) and np.all(w1[-1] > 0.05)
