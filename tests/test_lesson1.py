"""Lesson 1 and Going deeper 1a: the 2-D gradient-descent loop (closed-form limit, one loop for
every batch size, epochs and steps, seeding, divergence), the gradient-noise measurement against
its law, the errors, the lesson's widgets driven from Python, the stability theory of the deeper
notebook, and the lesson's claims about runs (a decaying lr, the linear scaling rule, the MNIST
panel on the course's base, momentum's effective step) over seeds 0-2."""
import itertools
import warnings
from pathlib import Path

import numpy as np
import pytest

from helpers import (
    BASE,
    least_squares_divergence,
    make_base,
    make_linear_regression,
    make_mlp,
    numerical_gradient,
    rel_error,
    split_validation,
    steps_per_epoch,
    train,
)
from helpers.display.figures import activation_limits
from helpers.display.panels import activation_panel, run_positions, run_summary
from helpers.lessons import lesson1_descent as descent
from helpers.lessons import lesson1_figures as dplots

N = 100
SEEDS = (0, 1, 2)          # a claim the lesson makes from one run must hold on all three


@pytest.fixture(scope="module")
def line():
    return make_linear_regression(n=N, seed=0)


# ---- the problem ---------------------------------------------------------------------------

def test_loss_and_gradients_agree_with_finite_differences(line):
    X, y = line
    theta = np.array([0.7, -0.3])
    g = descent.per_example_grads(theta, X, y).mean(axis=0)
    num = numerical_gradient(lambda: descent.loss(theta, X, y), theta)
    assert rel_error(g, num) < 1e-7
    grid = np.stack(np.meshgrid([0.1, 2.0, 3.0], [-1.0, 0.5]), axis=-1)     # (2, 3, 2)
    expected = [[descent.loss(t, X, y) for t in row] for row in grid]
    assert np.allclose(descent.loss(grid, X, y), expected, rtol=1e-14)


def test_least_squares_is_where_the_gradient_vanishes(line):
    X, y = line
    theta_star = descent.least_squares(X, y)
    assert np.abs(descent.per_example_grads(theta_star, X, y).mean(axis=0)).max() < 1e-12
    assert np.allclose(theta_star, [2.0, -1.0], atol=0.2)        # the generator's true line


# ---- the loop --------------------------------------------------------------------------------

def test_full_batch_small_lr_converges_to_closed_form(line):
    X, y = line
    path = descent.descend(X, y, batch_size=N, lr=0.05, num_epochs=800)
    assert path.diverged is None
    assert np.allclose(path.theta[-1], descent.least_squares(X, y), rtol=0, atol=1e-8)
    assert np.all(np.diff(path.loss) <= 1e-15)                   # full batch never goes uphill


def _manual(X, y, batch_size, lr, num_epochs, momentum=0.0, seed=0):
    """The loop written independently: shuffle, slice, average, heavy-ball update."""
    rng, theta, v, out = np.random.default_rng(seed), np.array([-1.0, 3.0]), np.zeros(2), []
    for _ in range(num_epochs):
        order = rng.permutation(len(X))
        for s in range(0, len(X), batch_size):
            idx = order[s:s + batch_size]
            r = theta[0] * X[idx, 0] + theta[1] - y[idx]
            v = momentum * v + np.array([np.mean(r * X[idx, 0]), np.mean(r)])
            theta = theta - lr * v
            out.append(theta)
    return np.array(out)


@pytest.mark.parametrize("batch_size,momentum", [(1, 0.0), (N, 0.0), (7, 0.0), (1, 0.5),
                                                 (N, 0.9)])
def test_one_loop_for_every_batch_size(line, batch_size, momentum):
    X, y = line
    path = descent.descend(X, y, batch_size=batch_size, lr=0.05, momentum=momentum,
                           num_epochs=3)
    assert np.allclose(path.theta[1:], _manual(X, y, batch_size, 0.05, 3, momentum),
                       rtol=0, atol=1e-12)


def test_stochastic_steps_use_one_example_each(line):
    X, y = line
    path = descent.descend(X, y, batch_size=1, lr=0.1, num_steps=5, seed=3)
    idx = np.random.default_rng(3).permutation(N)[:5]
    for k, i in enumerate(idx):
        expected = path.theta[k] - 0.1 * descent.per_example_grads(path.theta[k], X, y)[i]
        assert np.allclose(path.theta[k + 1], expected, rtol=0, atol=1e-14)


@pytest.mark.parametrize("batch_size", [1, 7, 30, 99, 100])
def test_steps_per_epoch_and_epoch_labels(line, batch_size):
    X, y = line
    path = descent.descend(X, y, batch_size=batch_size, lr=0.01, num_epochs=3)
    k = -(-N // batch_size)
    assert path.config["steps_per_epoch"] == k == steps_per_epoch(N, batch_size)
    assert path.num_steps == 3 * k and path.theta.shape == (3 * k + 1, 2)
    assert path.epoch == [0] * k + [1] * k + [2] * k
    assert len(descent.descend(X, y, batch_size=batch_size, lr=0.01, num_steps=k + 1).epoch) \
        == k + 1


def test_same_seed_same_path_other_seed_other_path(line):
    X, y = line
    a, b = (descent.descend(X, y, batch_size=5, lr=0.2, num_epochs=2, seed=4) for _ in range(2))
    assert np.array_equal(a.theta, b.theta) and np.array_equal(a.loss, b.loss)
    c = descent.descend(X, y, batch_size=5, lr=0.2, num_epochs=2, seed=5)
    assert not np.array_equal(a.theta, c.theta)
    full = [descent.descend(X, y, batch_size=N, lr=0.2, num_epochs=2, seed=s).theta
            for s in (0, 1)]
    assert np.allclose(full[0], full[1], rtol=0, atol=1e-14)     # full batch: order is moot


def test_divergence_follows_the_least_squares_rule_without_warnings(line):
    X, y = line
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = descent.descend(X, y, batch_size=N, lr=3.0, num_epochs=500)
        far = descent.descend(X, y, batch_size=1, lr=1e6, num_epochs=1)
        overflow = descent.descend(X, y, batch_size=1, lr=1e200, num_epochs=1)
    k = path.diverged["step"]
    assert path.num_steps == k < 500                             # stopped at the blow-up
    assert path.loss[k] > 100 * path.loss[0] and np.all(path.loss[:k] <= 100 * path.loss[0])
    assert path.diverged["reason"] == least_squares_divergence(path.loss[k], path.loss[0]) \
        == "the loss grew above 100 x its start"
    assert path.message() == (f"diverged at step {k} ({k:.3g} epochs, {k * N:,} examples): the "
                              "loss grew above 100 x its start")
    assert far.diverged == {"step": 1, "reason": "the loss grew above 100 x its start"}
    assert far.num_steps == 1
    assert overflow.diverged == {"step": 1, "reason": "the loss became inf"}
    stable = descent.descend(X, y, batch_size=N, lr=1.0, num_epochs=50)
    assert stable.diverged is None
    assert stable.message() == f"50 steps = 50 epochs of batch size {N} (5,000 examples), " \
                               f"loss of the whole data set {stable.loss[-1]:.4f}"


@pytest.mark.parametrize("batch_size,num_steps,examples", [(1, 7, 7), (30, 4, 100), (30, 5, 130),
                                                           (N, 3, 3 * N)])
def test_examples_seen_counts_the_smaller_last_batch(line, batch_size, num_steps, examples):
    X, y = line
    path = descent.descend(X, y, batch_size=batch_size, lr=0.01, num_steps=num_steps)
    assert path.examples_seen == examples      # batch size 30: 30 + 30 + 30 + 10 per epoch


def test_full_batch_diverges_just_above_two_over_lambda_max(line):
    """The lesson's formula: without momentum full batch is stable iff lr < 2 / lambda_max."""
    X, y = line
    A = np.column_stack([X[:, 0], np.ones(N)])
    edge = 2 / np.linalg.eigvalsh(A.T @ A / N).max()
    below = descent.descend(X, y, batch_size=N, lr=0.99 * edge, num_epochs=500)
    above = descent.descend(X, y, batch_size=N, lr=1.01 * edge, num_epochs=500)
    assert below.diverged is None
    assert np.isclose(below.loss[-1], descent.loss(descent.least_squares(X, y), X, y), rtol=1e-6)
    assert above.diverged["reason"] == "the loss grew above 100 x its start"


@pytest.mark.parametrize("seed", SEEDS)
def test_small_batches_diverge_at_a_smaller_lr(line, seed):
    """The explorer's table: at lr 1.0 (20 epochs) batch sizes 1 and 2 diverge, 5 and more
    do not, whatever the order of the examples."""
    X, y = line
    diverged = {b: descent.descend(X, y, batch_size=b, lr=1.0, num_epochs=20,
                                   seed=seed).diverged is not None for b in (1, 2, 5, 10, N)}
    assert diverged == {1: True, 2: True, 5: False, 10: False, N: False}


# ---- gradient noise --------------------------------------------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_measured_gradient_noise_follows_the_law(line, seed):
    X, y = line
    G = descent.per_example_grads(np.array([-1.0, 3.0]), X, y)
    sigma2 = np.mean(np.sum((G - G.mean(axis=0)) ** 2, axis=1))
    sizes = (1, 4, 10, 25, 50, 80)
    measured = descent.gradient_spread(lambda idx: G[idx].mean(axis=0), N, sizes,
                                       num_batches=2000, seed=seed)
    law = descent.noise_law(sigma2, N, sizes)
    assert np.allclose(measured, law, rtol=0.1)
    # without replacement is measurably below sigma^2/B once B is a sizable part of N
    assert measured[-1] < 0.5 * descent.noise_law(sigma2, N, 80, replacement=True)
    assert descent.gradient_spread(lambda idx: G[idx].mean(axis=0), N, (N,), 5)[0] < 1e-25
    assert np.isclose(measured[0], sigma2)                       # B = 1 visits every example


@pytest.mark.parametrize("seed", SEEDS)
def test_mlp_gradient_and_per_example_spread(seed):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(12, 5)), rng.integers(0, 3, 12)
    model = make_mlp((5, 4, 3), activation="tanh", init="xavier", seed=1)
    g = descent.mlp_gradient(model, X, y)
    W = model.parameters()[0][1]

    def f():
        from helpers import softmax_cross_entropy
        return softmax_cross_entropy(model.forward(X), y)[0]

    assert rel_error(g[:W.size], numerical_gradient(f, W).ravel()) < 1e-6
    per = np.array([descent.mlp_gradient(model, X[i:i + 1], y[i:i + 1]) for i in range(12)])
    brute = np.mean(np.sum((per - per.mean(axis=0)) ** 2, axis=1))
    assert np.isclose(descent.mlp_per_example_spread(model, X, y), brute, rtol=1e-10)
    measured = descent.gradient_spread(lambda idx: descent.mlp_gradient(model, X[idx], y[idx]),
                                       12, (1, 3, 6), num_batches=600, seed=seed)
    assert np.allclose(measured, descent.noise_law(brute, 12, (1, 3, 6)), rtol=0.15)


# ---- errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,match", [
    (dict(batch_size=0, lr=0.1, num_epochs=1), "batch_size"),
    (dict(batch_size=N + 1, lr=0.1, num_epochs=1), "batch_size"),
    (dict(batch_size=5, lr=-0.1, num_epochs=1), "lr"),
    (dict(batch_size=5, lr=0.1, momentum=1.0, num_epochs=1), "momentum"),
    (dict(batch_size=5, lr=0.1), "exactly one"),
    (dict(batch_size=5, lr=0.1, num_epochs=1, num_steps=3), "exactly one"),
    (dict(batch_size=5, lr=0.1, num_epochs=1, theta0=(1.0, 2.0, 3.0)), "theta0"),
    (dict(batch_size=5, lr=0.1, num_steps=0), "num_steps must be an integer >= 1, got 0"),
])
def test_descend_rejects_bad_arguments(line, kwargs, match):
    X, y = line
    with pytest.raises(ValueError, match=match):
        descent.descend(X, y, **kwargs)


@pytest.mark.parametrize("kwargs,match", [
    (dict(batch_size=2.0, lr=0.1, num_epochs=1), "batch_size must be an integer, got float 2.0"),
    (dict(batch_size=5, lr=0.1, num_epochs=2.5), "num_epochs must be an integer, got float 2.5"),
])
def test_descend_rejects_non_integer_counts(line, kwargs, match):
    X, y = line
    with pytest.raises(TypeError, match=match):
        descent.descend(X, y, **kwargs)


def test_other_errors(line):
    X, y = line
    with pytest.raises(ValueError, match=r"shape \(N, 1\)"):
        descent.loss((1.0, 0.0), X[:, 0], y)
    with pytest.raises(ValueError, match="same length"):
        descent.descend(X, y[:-1], batch_size=5, lr=0.1, num_epochs=1)
    with pytest.raises(ValueError, match="batch_size"):
        descent.gradient_spread(lambda idx: np.zeros(2), N, (N + 1,))
    with pytest.raises(ValueError, match="batch norm"):
        descent.mlp_per_example_spread(make_mlp((5, 4, 3), batchnorm=True), np.ones((4, 5)),
                                       np.zeros(4, dtype=int))


# ---- figures and widgets ----------------------------------------------------------------------

def _lines(fig):
    return [np.asarray(l.get_xydata()).copy() for ax in fig.axes for l in ax.get_lines()]


def _texts(fig):
    return " ".join(t.get_text() for ax in fig.axes for t in ax.texts)


def _differ(a, b):
    return len(a) != len(b) or any(x.shape != y.shape or not np.array_equal(x, y)
                                   for x, y in zip(a, b))


def test_path_explorer_redraws_and_reports_divergence(line, capsys):
    X, y = line
    panel = dplots.path_explorer(X, y, batch_sizes=(1, 10, N), lrs=(0.1, 1.0, 1.5),
                                 momenta=(0.0, 0.9, 0.99), num_epochs=5, value=(10, 0.1, 0.0))
    bs, lr, mom = panel.children[:-1]
    before = _lines(panel.figure())
    for control, value in ((bs, 1), (lr, 1.0), (mom, 0.9)):
        control.value = value
        after = _lines(panel.figure())
        assert _differ(before, after), control.description
        before = after
    assert "diverged at step" in _texts(panel.figure())            # B = 1, lr 1.0 blows up
    assert "diverged at step" in capsys.readouterr().out
    bs.value, lr.value, mom.value = N, 0.1, 0.0
    assert "diverged" not in _texts(panel.figure())
    bs.value, mom.value, lr.value = 1, 0.99, 1.5                # the extremes draw and say
    assert "diverged at step 5" in _texts(panel.figure())        # what happened
    bs.value = N
    assert "diverged" not in _texts(panel.figure())


def test_path_explorer_draws_each_position_once(line):
    X, y = line
    panel = dplots.path_explorer(X, y, batch_sizes=(1, 100), lrs=(0.1,), momenta=(0.0,),
                                 num_epochs=20, value=(100, 0.1, 0.0))
    for b in (1, 100, 1, 100, 1):
        panel.children[0].value = b
    assert set(panel.pictures) == {(1, 0.1, 0.0), (100, 0.1, 0.0)}   # revisits: stored PNG


def test_path_explorer_keeps_its_axes_at_every_position(line):
    X, y = line
    panel = dplots.path_explorer(X, y, batch_sizes=(1, 10), lrs=(0.01, 1.0), momenta=(0.0, 0.9),
                                 num_epochs=5, value=(10, 0.01, 0.0))
    limits = set()
    for b, lr, m in itertools.product((1, 10), (0.01, 1.0), (0.0, 0.9)):
        panel.children[0].value, panel.children[1].value, panel.children[2].value = b, lr, m
        path_ax, loss_ax = panel.figure().axes[:2]
        limits.add((path_ax.get_xlim(), path_ax.get_ylim(), loss_ax.get_xlim(), loss_ax.get_ylim()))
    assert len(limits) == 1
    (_, _, xlim, ylim), = limits
    assert xlim == (0, 5)
    # the loss axis spans every run that did not diverge, in whole decades
    loss_star = descent.loss(descent.least_squares(X, y), X, y)
    healthy = [descent.descend(X, y, batch_size=b, lr=lr, momentum=m, num_epochs=5)
               for b, lr, m in itertools.product((1, 10, N), (0.01, 1.0), (0.0, 0.9))]
    excess = np.concatenate([p.loss - loss_star for p in healthy if not p.diverged])
    lowest = max(excess[excess > 0].min(), 1e-8)
    assert ylim[0] <= lowest < 10 * ylim[0] and ylim[1] / 10 < excess.max() <= ylim[1]
    assert np.log10(ylim).tolist() == np.round(np.log10(ylim)).tolist()


def _tanh_run(X, y, X_test, y_test, batch_size, momentum, num_steps, seed=0, record=True):
    return train(make_mlp(activation="tanh", init="xavier", seed=seed), X, y,
                 batch_size=batch_size, lr=0.05, momentum=momentum, num_steps=num_steps,
                 seed=seed, record_every=max(1, num_steps // 10) if record else None,
                 eval_every=10**9, X_test=X_test, y_test=y_test)


def test_activation_panel_compares_equal_steps_and_equal_examples(mnist, capsys):
    """The lesson's panel: a third control switches between runs of equal steps and runs of
    equal examples; the per-unit row counts steps or examples; every position says how much
    its run trained, a diverged one too."""
    X, y, X_test, y_test = mnist
    X, y = X[:320], y[:320]
    modes = ("equal steps", "equal examples")

    def run(batch_size, momentum, mode):
        steps = 20 if mode == "equal steps" else steps_per_epoch(len(X), batch_size)
        return {"tanh MLP": _tanh_run(X, y, X_test[:100], y_test[:100], batch_size, momentum,
                                      steps)}

    runs = run_positions(run, (1, 16), (0.0, 0.99), progress=False, modes=modes)
    assert set(runs) == set(itertools.product((1, 16), (0.0, 0.99), modes))
    assert runs[(1, 0.0, "equal examples")]["tanh MLP"].num_steps == 320
    assert runs[(16, 0.0, "equal examples")]["tanh MLP"].num_steps == 20
    limits = activation_limits(runs.values(), xlim=(-10, 10))
    assert limits["tanh MLP"]["examples"] == 320                  # 20 steps of 16, or 320 of 1
    limits["tanh MLP"].update(bands=(-4, 4), steps=20)   # as the lesson: each mode its axis
    panel = activation_panel(runs, (1, 16), (0.0, 0.99), modes=modes, limits=limits,
                             x={"equal examples": "examples"}, describe=run_summary,
                             value=(16, 0.0, "equal steps"))
    batch_size, momentum, mode = panel.children[:-1]
    assert mode.options == modes and mode.description == "compare"
    fig = panel.figure()
    assert fig.axes[3].get_xlabel() == "step" and fig.axes[3].get_xlim() == (0, 20)
    assert fig.axes[3].get_ylim() == (-4, 4)
    batch_size.value, mode.value = 1, "equal examples"
    fig = panel.figure()
    assert fig.axes[3].get_xlabel() == "examples seen" and fig.axes[3].get_xlim() == (0, 320)
    band = fig.axes[3].collections[0].get_paths()[0].vertices[:, 0]
    assert band.max() == 320                                     # one epoch: 320 examples
    assert "equal examples" in fig.texts[0].get_text()           # the title names the mode
    hist = runs[(1, 0.0, "equal examples")]["tanh MLP"]
    assert f"tanh MLP: {hist.message()}" in capsys.readouterr().out
    momentum.value, mode.value = 0.99, "equal steps"              # the extreme diverges
    hist = runs[(1, 0.99, "equal steps")]["tanh MLP"]
    step = hist.diverged["step"]
    assert f"diverged at step {step}" in [t.get_text() for t in panel.figure().axes[0].texts]
    printed = capsys.readouterr().out
    assert f"tanh MLP: 20 steps = 0.0625 epochs (20 examples), test accuracy " \
           f"{hist.test_acc[-1]:.1%}\ntraining diverged at step {step}" in printed


def test_run_summary_says_how_much_a_diverged_run_trained(mnist):
    X, y, X_test, y_test = mnist
    healthy = _tanh_run(X[:320], y[:320], X_test[:100], y_test[:100], 16, 0.0, 10)
    assert run_summary(healthy) == healthy.message()
    overflow = train(make_mlp(activation="tanh", init="xavier", seed=0), X[:320], y[:320],
                     batch_size=16, lr=1e308, num_steps=10, eval_every=10**9,
                     X_test=X_test[:100], y_test=y_test[:100])
    assert overflow.diverged["reason"].startswith("the loss became")   # stopped early:
    assert run_summary(overflow).splitlines() == [                     # no final accuracy
        f"{overflow.num_steps} steps = {overflow.examples_seen[-1] / 320:.3g} epochs "
        f"({overflow.examples_seen[-1]:,} examples)", overflow.message()]


def test_noise_figure_and_accuracy_map(line):
    X, y = line
    fig, axes = dplots.new_figure(1, 1)
    dplots.plot_noise(axes[0, 0], (1, 2, 4), np.array([4.0, 2.0, 1.0]), 4.0, N, "t")
    assert len(axes[0, 0].get_lines()) == 3 and axes[0, 0].get_xscale() == "log"
    rng = np.random.default_rng(0)
    Xm, ym = rng.normal(size=(40, 5)), rng.integers(0, 3, 40)
    runs = {(b, m, mode): {"net": train(make_mlp((5, 4, 3)), Xm, ym, batch_size=b, lr=lr,
                                        momentum=m, num_steps=4, X_test=Xm, y_test=ym,
                                        eval_every=10**9)}
            for b in (1, 8) for m in (0.0, 0.9) for mode, lr in (("a", 0.1), ("b", 1e308))}
    fig = dplots.accuracy_map(runs, (1, 8), (0.0, 0.9), ("a", "b"), label="net", threshold=1.1)
    texts = [[t.get_text() for t in ax.texts] for ax in fig.axes[:2]]
    assert len(texts[0]) == len(texts[1]) == 4
    assert all(t.endswith("undertrained") for t in texts[0])      # threshold above 100%
    assert all("diverged at step" in t for t in texts[1])        # lr 1e308 overflows
    assert fig.axes[1].get_title() == "b: test accuracy at the end"


# ---- stability: when a run diverges, where it settles (lesson1_stability) --------------------

from helpers.lessons import lesson1_stability as stability  # noqa: E402


def test_hessian_condition_number_and_heavy_ball_edge(line):
    X, _ = line
    A = np.column_stack([X[:, 0], np.ones(N)])
    assert np.allclose(stability.features(X), A)
    assert np.allclose(stability.hessian(X), A.T @ A / N, rtol=1e-14)
    lam = np.linalg.eigvalsh(A.T @ A / N)
    assert np.isclose(stability.condition_number(X), lam[1] / lam[0])
    assert 1.5 < stability.condition_number(X) < 2 < 100 < stability.condition_number(X + 5.0)
    standardized = (X + 5.0 - (X + 5.0).mean()) / (X + 5.0).std()
    assert np.isclose(stability.condition_number(standardized), 1.0)
    for m in (0.0, 0.5, 0.99):
        assert np.isclose(stability.heavy_ball_edge(X, m), 2 * (1 + m) / lam[1])


def test_overshoot_fraction_counts_examples_whose_own_step_grows_the_error():
    X = np.array([[0.0], [1.0], [2.0], [3.0]])          # 1 + x^2 = 1, 2, 5, 10
    assert stability.overshoot_fraction(X, 0.3) == 0.25   # only 10 * 0.3 > 2
    assert stability.overshoot_fraction(X, 0.5) == 0.5    # 5 * 0.5 > 2 as well
    assert stability.overshoot_fraction(X, 1.5) == 0.75   # 2 * 1.5 > 2; 1 * 1.5 is not
    assert stability.overshoot_fraction(X, 0.1) == 0.0


def _heavy_ball_matrix(H, lr, momentum):
    eye = np.eye(2)
    return np.block([[(1 + momentum) * eye - lr * H, -momentum * eye], [eye, 0 * eye]])


def test_mean_square_growth_against_independent_forms(line):
    X, _ = line
    A = np.column_stack([X[:, 0], np.ones(N)])
    # batch size 1, no momentum: the average of K_i (x) K_i, K_i = I - lr a_i a_i^T
    for lr in (0.3, 0.6, 1.0):
        Ks = [np.eye(2) - lr * np.outer(a, a) for a in A]
        T = np.mean([np.kron(K, K) for K in Ks], axis=0)
        assert np.isclose(stability.mean_square_growth(X, lr), np.abs(np.linalg.eigvals(T)).max(),
                          rtol=1e-12)
    # full batch: the deterministic step, rho(A)^2, with and without momentum
    H = A.T @ A / N
    for lr, m in ((0.5, 0.0), (1.5, 0.5), (2.0, 0.9)):
        rho = np.abs(np.linalg.eigvals(_heavy_ball_matrix(H, lr, m))).max()
        assert np.isclose(stability.mean_square_growth(X, lr, N, m), rho ** 2, rtol=1e-9)
    # batch size 20 with momentum: Monte Carlo over batches drawn without replacement (without
    # the finite-population factor the prediction would be 8% higher, 0.751)
    rng = np.random.default_rng(0)
    lr, m, b = 1.5, 0.5, 20
    mats = []
    for _ in range(20000):
        idx = rng.choice(N, b, replace=False)
        M = _heavy_ball_matrix(A[idx].T @ A[idx] / b, lr, m)
        mats.append(np.kron(M, M))
    rho = np.abs(np.linalg.eigvals(np.mean(mats, axis=0))).max()
    assert np.isclose(stability.mean_square_growth(X, lr, b, m), rho, rtol=0.01)
    with pytest.raises(ValueError, match="batch_size"):
        stability.mean_square_growth(X, 0.1, batch_size=N + 1)


def test_largest_stable_lr_matches_the_formulas_and_the_lessons_numbers(line):
    X, _ = line
    for m in (0.0, 0.5, 0.9, 0.99):
        assert np.isclose(stability.largest_stable_lr(X, N, m), stability.heavy_ball_edge(X, m),
                          rtol=1e-6)
    edges = [stability.largest_stable_lr(X, 1, m) for m in (0.0, 0.5, 0.9, 0.99)]
    assert 0.6 < edges[0] < 0.62 and edges == sorted(edges, reverse=True)
    assert edges[-1] < edges[0] / 50                   # the lesson: "under a fiftieth"
    assert stability.mean_square_growth(X, 0.999 * edges[0]) < 1 \
        < stability.mean_square_growth(X, 1.001 * edges[0])
    with pytest.raises(ValueError, match="unstable"):
        stability.largest_stable_lr(X, 1, lo=1.0)


@pytest.mark.parametrize("seed", SEEDS)
def test_batch_size_one_runs_diverge_where_the_growth_factor_passes_one(line, seed):
    """The lesson's claim: the predicted edge separates stable from diverging runs of
    batch size 1 (20 epochs), with and without momentum."""
    X, y = line
    for m in (0.0, 0.5):
        edge = stability.largest_stable_lr(X, 1, m)
        below = descent.descend(X, y, batch_size=1, lr=0.9 * edge, momentum=m, num_epochs=20,
                                seed=seed)
        above = descent.descend(X, y, batch_size=1, lr=1.2 * edge, momentum=m, num_epochs=20,
                                seed=seed)
        assert below.diverged is None and above.diverged is not None


def test_predicted_floor_and_loss_floor(line):
    X, y = line
    assert np.isclose(stability.predicted_floor(2.0, 0.1, 4, N),
                      0.1 * 2.0 / 4 * (N - 4) / (N - 1) / 4)
    assert np.isclose(stability.predicted_floor(2.0, 0.1, 4, N, momentum=0.9),
                      10 * stability.predicted_floor(2.0, 0.1, 4, N))
    assert stability.predicted_floor(2.0, 0.1, N, N) == 0.0
    theta_star = descent.least_squares(X, y)
    G = descent.per_example_grads(theta_star, X, y)
    assert np.isclose(stability.gradient_spread_at(theta_star, X, y),
                      np.mean(np.sum((G - G.mean(axis=0)) ** 2, axis=1)))
    path = descent.descend(X, y, batch_size=10, lr=0.1, num_epochs=4)
    loss_star = descent.loss(theta_star, X, y)
    assert np.isclose(stability.loss_floor(path, loss_star, last_epochs=2),
                      np.mean(path.loss[-20:] - loss_star))
    with pytest.raises(ValueError, match="diverged"):
        stability.loss_floor(descent.descend(X, y, batch_size=1, lr=5.0, num_epochs=1), loss_star)


@pytest.mark.parametrize("seed", SEEDS)
def test_momentum_floors_and_the_floor_prediction_hold_on_three_seeds(line, seed):
    """Lesson 1, section 2 and 3: at batch size 1 and lr 0.01, momentum 0.9's floor is over 10x
    momentum 0's and within 1.5x of plain SGD at lr 0.1 (0.5: of plain at 0.02); floors predicted
    from sigma^2 at the minimum are within 4x of measured, from the start over 25x too high."""
    X, y = line
    theta_star = descent.least_squares(X, y)
    loss_star = descent.loss(theta_star, X, y)

    def floor(b, lr, m=0.0):
        path = descent.descend(X, y, batch_size=b, lr=lr, momentum=m, num_epochs=20, seed=seed)
        return stability.loss_floor(path, loss_star)

    plain = {lr: floor(1, lr) for lr in (0.01, 0.02, 0.1)}
    heavy = {m: floor(1, 0.01, m) for m in (0.5, 0.9)}
    assert heavy[0.9] > 10 * plain[0.01]
    assert 1 / 1.5 < heavy[0.5] / plain[0.02] < 1.5 and 1 / 1.5 < heavy[0.9] / plain[0.1] < 1.5
    s_min = stability.gradient_spread_at(theta_star, X, y)
    s_start = stability.gradient_spread_at((-1.0, 3.0), X, y)
    assert s_min < s_start / 50
    for b, lr, f in ((10, 0.1, floor(10, 0.1)), (1, 0.1, plain[0.1]), (1, 0.01, plain[0.01])):
        assert 1 / 4 < stability.predicted_floor(s_min, lr, b, N) / f < 4
        assert stability.predicted_floor(s_start, lr, b, N) / f > 25


def test_full_batch_momentum_edge_on_both_sides(line):
    X, y = line
    for m in (0.0, 0.5, 0.9, 0.99):
        edge = stability.heavy_ball_edge(X, m)
        assert descent.descend(X, y, batch_size=N, lr=0.95 * edge, momentum=m,
                               num_steps=300).diverged is None
        assert descent.descend(X, y, batch_size=N, lr=1.05 * edge, momentum=m,
                               num_steps=300).diverged is not None


def test_narrow_valley_momentum_wins_and_standardizing_removes_it(line):
    """The lesson's valley: x moved to [3, 7]; full batch from (0, 0) at 2 / (lmax + lmin)."""
    X, y = line
    far = X + 5.0
    std = (far - far.mean()) / far.std()
    lr = 2 / np.linalg.eigvalsh(stability.hessian(far)).sum()
    star = descent.loss(descent.least_squares(far, y), far, y)
    plain, heavy = (descent.descend(far, y, batch_size=N, lr=lr, momentum=m, num_steps=200,
                                    theta0=(0.0, 0.0)).loss - star for m in (0.0, 0.9))
    assert heavy[100] < 1e-3 and plain[-1] > 0.5
    round_bowl = descent.descend(std, y, batch_size=N, lr=1.0, num_steps=3, theta0=(0.0, 0.0))
    assert round_bowl.loss[1] - descent.loss(descent.least_squares(std, y), std, y) < 1e-12
    assert np.isclose(round_bowl.loss[0], plain[0] + star)      # the same start, the same lines


# ---- section 2: same work, three batch sizes ------------------------------------------------

@pytest.mark.parametrize("seed", range(10))
def test_same_work_is_u_shaped_in_the_4th_epoch_mean(line, seed):
    """Section 2's first prediction (lr 0.1, 4 epochs, from (-1, 3)): averaged over its 4th
    epoch, batch size 10's loss is below batch size 1's and far below full batch's. The final
    loss alone flips with the seed (batch 1 ends below 10 on seeds 1, 2, 7); the mean does not.
    Measured: 10 vs 1 on seeds 0-9: 0.1307/0.1380, 0.1300/0.1312 (the closest), ... full
    batch 5.4572 on every seed."""
    X, y = line
    mean = {}
    for b in (N, 10, 1):
        path = descent.descend(X, y, batch_size=b, lr=0.1, num_epochs=4, seed=seed)
        mean[b] = np.mean(path.loss[-path.config["steps_per_epoch"]:])
    assert mean[10] < mean[1] < mean[N] / 10


def test_vgg_cost_counts_the_layers():
    """Section 7's VGG-16 count: a one-convolution net by hand, and VGG-16's known
    15.5 G multiply-adds per 224 x 224 image."""
    floats, macs = descent.vgg_cost((4, "M"), size=8, channels=1, fc=(10,))
    assert macs == 8 * 8 * 4 * 1 * 9 + 4 * 4 * 4 * 10
    assert floats == 8 * 8 + 8 * 8 * 4 + 4 * 4 * 4 + 10
    floats, macs = descent.vgg_cost()
    assert 15.3e9 < macs < 15.6e9 and 15.0e6 < floats < 15.4e6
    with pytest.raises(ValueError):
        descent.vgg_cost(size=0)


# ---- section 4: a decaying learning rate and the linear scaling rule -------------------------

def _scheduled(X, y, batch_size, lr_at, num_epochs, seed):
    """The lesson's loop with lr a function of the step, written independently: (S+1, 2)."""
    rng, theta = np.random.default_rng(seed), np.array([-1.0, 3.0])
    out, step = [theta], 0
    for _ in range(num_epochs):
        order = rng.permutation(len(X))
        for s in range(0, len(X), batch_size):
            idx = order[s:s + batch_size]
            r = theta[0] * X[idx, 0] + theta[1] - y[idx]
            theta = theta - lr_at(step) * np.array([np.mean(r * X[idx, 0]), np.mean(r)])
            out.append(theta)
            step += 1
    return np.array(out)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_decaying_lr_lowers_the_floor(line, seed):
    """Section 4 (batch size 1, 20 epochs, the mean loss above the minimum over epoch 20):
    lr 0.1 sits more than 10x above lr 0.01, and lr 0.1 divided by 10 after epochs 5 and 10
    ends more than 5x below lr 0.01. Measured on seeds 0-2: 0.1 / 0.01 = 52x, 41x, 55x;
    0.01 / decayed = 17x, 44x, 49x."""
    X, y = line
    star = descent.loss(descent.least_squares(X, y), X, y)

    def last_epoch(lr_at):
        return np.mean(descent.loss(_scheduled(X, y, 1, lr_at, 20, seed)[-N:], X, y) - star)

    fast, slow = last_epoch(lambda s: 0.1), last_epoch(lambda s: 0.01)
    decayed = last_epoch(lambda s: 0.1 * 0.1 ** ((s >= 500) + (s >= 1000)))
    assert fast > 10 * slow and slow > 5 * decayed
    assert np.allclose(_scheduled(X, y, 7, lambda s: 0.05, 3, seed)[1:],
                       _manual(X, y, 7, 0.05, 3, seed=seed), rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_linear_scaling_rule_holds_on_the_line_fit(line, seed):
    """Batch sizes 5, 10 and 20 at lr = B / 200 end epochs 1, 2 and 5 within a factor 1.3 of
    each other (measured: 1.05, 1.13, 1.19 on every seed); batch 20 at the unscaled lr 0.05
    ends epoch 1 more than 1.5x above batch 20 at 0.1 (measured 1.7x)."""
    X, y = line
    star = descent.loss(descent.least_squares(X, y), X, y)

    def after(b, lr):
        path = descent.descend(X, y, batch_size=b, lr=lr, num_epochs=5, seed=seed)
        k = path.config["steps_per_epoch"]
        return np.array([path.loss[e * k] - star for e in (1, 2, 5)])

    scaled = np.array([after(b, b / 200) for b in (5, 10, 20)])
    assert np.all(scaled.max(axis=0) / scaled.min(axis=0) < 1.3)
    assert after(20, 0.05)[0] > 1.5 * scaled[2, 0]


def _base(X, y, X_test, y_test, batch_size, lr, momentum=0.0, seed=0, **kwargs):
    return train(make_base(seed=seed), X, y, batch_size=batch_size, lr=lr, momentum=momentum,
                 seed=seed, X_test=X_test, y_test=y_test, **kwargs)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_linear_scaling_rule_on_mnist(mnist, seed):
    """Section 4 on the base network, 3 epochs: batch 64 at lr 1.0 learns (at least 75% after
    3 epochs) but trails batch 16 at lr 0.25 then by 2 to 12 points (measured on seeds 0-2:
    80.9/88.3, 81.2/89.2, 84.5/88.9; after epoch 1 the gap reaches 19 points on seed 2);
    batch 256 at the rule's lr 4.0 does not learn (below 30% test accuracy, training loss
    above 2.0, not diverged: measured 10-19%, 2.36-2.72), and unscaled at lr 1.0 ends at least
    20 points higher (measured 60-67%)."""
    X, y, X_test, y_test = mnist
    acc, loss = {}, {}
    for b, lr in ((16, 0.25), (64, 1.0), (256, 4.0), (256, 1.0)):
        h = _base(X, y, X_test, y_test, b, lr, seed=seed, num_epochs=3,
                  eval_every=steps_per_epoch(len(X), b))
        acc[(b, lr)], loss[(b, lr)] = np.array(h.test_acc[1:]), np.mean(h.loss[-5:])
        assert h.diverged is None
    gap = acc[(16, 0.25)][-1] - acc[(64, 1.0)][-1]
    assert acc[(64, 1.0)][-1] >= 0.75 and 0.02 <= gap <= 0.12
    assert acc[(256, 4.0)][-1] < 0.3 and loss[(256, 4.0)] > 2.0
    assert acc[(256, 1.0)][-1] >= acc[(256, 4.0)][-1] + 0.2


# ---- section 6: the panel on the base network ------------------------------------------------

PANEL_LR = {1: 0.1, 16: 1.0, 256: 1.0}          # the lesson's LR: the effective step per batch


def test_batch_size_one_lr_is_the_best_on_the_validation_split(mnist):
    """The lesson's choice of lr 0.1 for batch size 1 (momentum 0): the best of 0.1, 0.3 and
    1.0 after 4,000 steps on split_validation's 3,000 images; at 1.0 it does not learn
    (measured: 86.7%, 84.3%, 16.7%)."""
    X, y, _, _ = mnist
    X_fit, y_fit, X_val, y_val = split_validation(X, y)
    val = {lr: _base(X_fit, y_fit, X_val, y_val, 1, lr, num_steps=4000,
                     eval_every=10**9).test_acc[-1] for lr in (0.1, 0.3, 1.0)}
    assert max(val, key=val.get) == 0.1 and val[1.0] < 0.5
    assert BASE.lr == PANEL_LR[16] == PANEL_LR[256]
    lesson = (Path(__file__).parent.parent / "notebooks" / "01_gradient_descent.ipynb").read_text()
    assert "LR = {1: 0.1, 16: BASE.lr, 256: BASE.lr}" in lesson     # the panel uses these rates


@pytest.mark.parametrize("seed", SEEDS)
def test_two_thirds_of_the_panel_reach_80_percent(mnist, seed):
    """Section 6's 18 positions (batch 1, 16, 256 x momentum 0, 0.9, 0.99 at lr x (1 -
    momentum) x equal examples (2 epochs) or equal steps (500)): at least 12 reach 80% test
    accuracy, and the 6 the lesson marks UNDERTRAINED (batch 1 with equal steps, 256 with equal
    examples) do not. Batch 16 is one run in both modes (15 distinct runs, 9 of them at 80%).
    Seed 0 measured: 86.8-91.3% at the 12, 22-65% at batch 256's 32 steps."""
    X, y, X_test, y_test = mnist
    by_steps, acc = {}, {}
    for b, m, mode in itertools.product((1, 16, 256), (0.0, 0.9, 0.99), ("examples", "steps")):
        steps = 500 if mode == "steps" else 2 * steps_per_epoch(len(X), b)
        if (b, m, steps) not in by_steps:                   # batch 16: one run in both modes
            h = _base(X, y, X_test, y_test, b, PANEL_LR[b] * (1 - m), m, seed=seed,
                      num_steps=steps, eval_every=10**9)
            by_steps[(b, m, steps)] = 0.0 if h.diverged else h.test_acc[-1]
        acc[(b, m, mode)] = by_steps[(b, m, steps)]
    assert sum(a >= 0.8 for a in acc.values()) >= 12
    marked = [(b, m, mode) for b, mode in ((1, "steps"), (256, "examples"))
              for m in (0.0, 0.9, 0.99)]
    assert all(acc[key] < 0.8 for key in marked)
    assert all(a >= 0.8 for key, a in acc.items() if key not in marked)


@pytest.mark.parametrize("seed", SEEDS)
def test_momentum_fails_at_batch_one_by_its_effective_step(mnist, seed):
    """Section 6's separation, batch size 1, 2 epochs: momentum 0.9 at lr 0.1 and plain SGD at
    lr 1.0 (the same effective step, 1.0) both fail (diverged, or below 50% test accuracy);
    momentum 0.9 at lr 0.01 and plain SGD at lr 0.1 (effective step 0.1) both reach 80%.
    Measured: seed 0 diverged at steps 3654 and 3831, then 86.8% and 89.0%; seed 1 diverged
    at 4482 and 23% (not diverged), then 90.3% and 91.7%; seed 2 10% (not diverged: its loss
    3.44 just under the rule's 3.45) and 34%, then 91.6% and 89.2%."""
    X, y, X_test, y_test = mnist
    runs = {(lr, m): _base(X, y, X_test, y_test, 1, lr, m, seed=seed, num_steps=2 * len(X),
                           eval_every=10**9)
            for lr, m in ((0.1, 0.9), (1.0, 0.0), (0.01, 0.9), (0.1, 0.0))}
    for key in ((0.1, 0.9), (1.0, 0.0)):
        assert runs[key].diverged or runs[key].test_acc[-1] < 0.5
    for key in ((0.01, 0.9), (0.1, 0.0)):
        assert runs[key].diverged is None and runs[key].test_acc[-1] >= 0.8
