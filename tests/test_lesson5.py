"""Lesson 5 (why batch norm works): noisy batch norm, Santurkar et al.'s measures, the drift
summary of Figure 1, measuring during training, and the lesson's widgets driven from Python
(helpers/lessons/lesson5_why.py, lesson5_figures.py)."""
import copy

import numpy as np
import pytest

from helpers import (
    BatchNorm,
    History,
    make_mlp,
    numerical_gradient,
    rel_error,
    softmax_cross_entropy,
    train,
)
from helpers.batchnorm import batch_of_one_message
from helpers.display import panels as course_widgets
from helpers.lessons.lesson5_figures import (
    grid_limits,
    noise_panel,
    plot_figure1,
    plot_measures,
)
from helpers.lessons.lesson5_why import (
    AtLossLevels,
    NoisyBatchNorm,
    accuracy_at_eval_scale,
    batch_loss,
    beta_ratios,
    build,
    drift_message,
    drift_summary,
    gamma_control,
    gradient_shift,
    grid_runner,
    make_noisy_mlp,
    santurkar_measures,
    smoothness,
    typical_unit,
)

SEEDS = (0, 1, 2)      # the lesson's claims must hold on each (network weights, noise, batches)
# Margins of the claims on 300-step runs (seeds 0-2 measured: drift ratio batch norm / plain
# 0.34, noisy / plain 3.2-3.4; noisy batch norm's accuracy 2-7 points above batch norm's).
DRIFT_LESS, DRIFT_MORE = 0.6, 1.5
ACC_MARGIN = 0.05      # noisy batch norm's test accuracy is at most 5 points below batch norm's


@pytest.fixture(scope="module")
def short_runs(mnist):
    """{seed: the three networks of the lesson}, 300 steps of the paper's setting (batch 60,
    lr 1); the seed sets the initial weights, the noise and the order of the batches."""
    X, y, X_test, y_test = mnist
    return {seed: {label: train(build(label, seed=seed), X, y, batch_size=60, lr=1.0,
                                num_steps=300, seed=seed, X_test=X_test, y_test=y_test,
                                eval_every=300, record_every=25)
                   for label in ("plain", "batch norm", "noisy batch norm")}
            for seed in SEEDS}


# --- the claims of the lesson, on short runs, three seeds ----------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_batchnorm_drifts_less_and_noisy_drifts_more_than_plain(short_runs, seed):
    drift = {k: drift_summary(h.activations["unit_pct"][2]) for k, h in short_runs[seed].items()}
    assert drift["batch norm"] < DRIFT_LESS * drift["plain"]
    assert drift["noisy batch norm"] > DRIFT_MORE * drift["plain"]


@pytest.mark.parametrize("seed", SEEDS)
def test_noisy_batchnorm_still_trains_like_batchnorm(short_runs, seed):
    acc = {k: h.test_acc[-1] for k, h in short_runs[seed].items()}
    assert acc["noisy batch norm"] >= acc["batch norm"] - ACC_MARGIN   # the noise costs little
    assert acc["batch norm"] > 0.7 and acc["plain"] < 0.5       # and plain has not caught up


# --- NoisyBatchNorm -----------------------------------------------------------------------------

def test_noisy_batchnorm_backward_matches_finite_differences(rng):
    x, dout = 3.0 * rng.normal(size=(7, 4)) - 1.0, rng.normal(size=(7, 4))
    layer = NoisyBatchNorm(4, strength=2.0, rng=0)
    layer.gamma[:], layer.beta[:] = rng.normal(size=4), rng.normal(size=4)
    for training in (True, False):
        if training:
            layer.train()
        else:
            layer.eval()
        layer.running_mean[:], layer.running_var[:] = rng.normal(size=4), rng.uniform(1, 2, 4)
        layer.forward(x)
        layer.resample = False                  # the noise is fixed for the check
        layer.update_running_stats = False
        dx = layer.backward(dout)
        dgamma, dbeta = layer.dgamma.copy(), layer.dbeta.copy()
        f = lambda: layer.forward(x)            # noqa: E731
        assert rel_error(dx, numerical_gradient(f, x, dout)) < 1e-7
        assert rel_error(dgamma, numerical_gradient(f, layer.gamma, dout)) < 1e-7
        assert rel_error(dbeta, numerical_gradient(f, layer.beta, dout)) < 1e-7
        layer.resample, layer.update_running_stats = True, True


def test_noise_changes_every_step_is_seeded_and_averages_out_in_eval(rng):
    x = rng.normal(size=(10, 3))
    a, b = NoisyBatchNorm(3, strength=1.5, rng=7), NoisyBatchNorm(3, strength=1.5, rng=7)
    outs_a = [a.forward(x) for _ in range(3)]
    outs_b = [b.forward(x) for _ in range(3)]
    assert all(np.array_equal(p, q) for p, q in zip(outs_a, outs_b))      # same seed
    assert not np.allclose(outs_a[0].mean(0), outs_a[1].mean(0))          # new shift each step
    assert np.all((a.scale >= 1) & (a.scale <= 2.5) & (np.abs(a.shift) <= 1.5))
    a.resample = False
    assert np.array_equal(a.forward(x), a.forward(x))
    plain = BatchNorm(3)
    zero = NoisyBatchNorm(3, strength=0.0, rng=1)
    assert np.array_equal(zero.forward(x), plain.forward(x))              # strength 0 = BN
    plain.eval()
    a.eval()
    a.running_mean[:], a.running_var[:] = plain.running_mean, plain.running_var
    np.testing.assert_allclose(a.forward(x), 1.75 * plain.forward(x))     # mean scale 1 + s/2


def test_make_noisy_mlp_replaces_every_batchnorm():
    model = make_noisy_mlp(0.5, noise_seed=3, sizes=(6, 5, 4, 3), momentum=0.2)
    noisy = [layer for layer in model.layers if isinstance(layer, NoisyBatchNorm)]
    assert len(noisy) == 2 and model.batchnorms == noisy
    assert all(bn.strength == 0.5 and bn.momentum == 0.2 for bn in noisy)
    assert noisy[0].rng is noisy[1].rng
    assert "NoisyBatchNorm(5, strength=0.5)" in repr(model)


@pytest.mark.parametrize("strength", [-1.0, np.inf, "1", True, None])
def test_bad_noise_strength_is_rejected(strength):
    with pytest.raises(ValueError, match="strength must be"):
        NoisyBatchNorm(3, strength=strength)


def test_unknown_run_label_is_rejected():
    with pytest.raises(ValueError, match="label must be one of"):
        build("layer norm")


# --- Santurkar et al.'s measures on a tiny case --------------------------------------------------

def _tiny(batchnorm=True, seed=0):
    rng = np.random.default_rng(seed)
    model = make_mlp((5, 4, 4, 3), batchnorm=batchnorm, init="xavier", seed=seed)
    return model, rng.normal(size=(12, 5)), rng.integers(0, 3, size=12)


def _loss_grads(model, X, y):
    loss, d = softmax_cross_entropy(model.forward(X), y)
    model.backward(d)
    return loss


def test_gradient_shift_matches_a_by_hand_computation():
    model, X, y = _tiny()
    before = [p.copy() for _, p, _ in model.parameters()]
    running = [bn.running_mean.copy() for bn in model.batchnorms]
    shift = gradient_shift(model, X, y, lr=0.5)
    assert all(np.array_equal(p, q) for (_, p, _), q in zip(model.parameters(), before))
    assert all(np.array_equal(bn.running_mean, r) for bn, r in zip(model.batchnorms, running))
    # by hand, for the last Linear: step every earlier parameter, recompute its gradient
    ref = copy.deepcopy(model)
    _loss_grads(ref, X, y)
    last = ref.linears[-1]
    G = last.grads["W"].copy()
    pos = ref.layers.index(last)
    for layer in ref.layers[:pos]:
        for k in layer.params:
            layer.params[k] -= 0.5 * layer.grads[k]
    _loss_grads(ref, X, y)
    G2 = last.grads["W"]
    assert shift["l2"].shape == (2,)
    np.testing.assert_allclose(shift["l2"][-1], np.linalg.norm(G - G2), rtol=1e-10)
    np.testing.assert_allclose(shift["cos"][-1],
                               np.sum(G * G2) / np.linalg.norm(G) / np.linalg.norm(G2))
    small = gradient_shift(model, X, y, lr=1e-9)             # no step, no shift
    assert np.all(small["rel"] < 1e-6) and np.allclose(small["cos"], 1.0)


def test_smoothness_matches_a_by_hand_computation():
    model, X, y = _tiny(batchnorm=False)
    before = [p.copy() for _, p, _ in model.parameters()]
    out = smoothness(model, X, y, step_sizes=[0.1, 1.0])
    assert all(np.array_equal(p, q) for (_, p, _), q in zip(model.parameters(), before))
    ref = copy.deepcopy(model)
    loss0 = _loss_grads(ref, X, y)
    g0 = [g.copy() for _, _, g in ref.parameters()]
    losses, changes = [], []
    for eta in (0.1, 1.0):
        for (_, p, _), q, g in zip(ref.parameters(), before, g0):
            p[...] = q - eta * g
        losses.append(_loss_grads(ref, X, y))
        changes.append(np.sqrt(sum(np.sum((g - h) ** 2)
                                   for (_, _, g), h in zip(ref.parameters(), g0))))
    np.testing.assert_allclose(out["loss"], loss0)
    np.testing.assert_allclose(out["losses"], losses)
    np.testing.assert_allclose(out["loss_range"], max(losses + [loss0]) - min(losses + [loss0]))
    np.testing.assert_allclose(out["grad_change"], max(changes))
    gnorm = np.sqrt(sum(np.sum(g * g) for g in g0))
    np.testing.assert_allclose(out["beta"], max(c / (e * gnorm) for c, e in
                                                zip(changes, (0.1, 1.0))))
    both = santurkar_measures(model, X, y, 0.5, [0.1, 1.0])
    assert set(both) == {"shift_l2", "shift_cos", "shift_rel", "loss", "loss_range",
                         "grad_change", "beta"}


@pytest.mark.parametrize("step_sizes", [[], [0.1, -0.1], [[0.1]], [0.0]])
def test_smoothness_rejects_bad_step_sizes(step_sizes):
    model, X, y = _tiny()
    with pytest.raises(ValueError, match="step_sizes"):
        smoothness(model, X, y, step_sizes)


def test_measures_hold_the_noise_fixed_and_restore_sampling():
    model = make_noisy_mlp(1.0, sizes=(5, 4, 4, 3), init="xavier")
    _, X, y = _tiny()
    first = santurkar_measures(model, X, y, 0.1, [0.1])
    again = santurkar_measures(model, X, y, 0.1, [0.1])
    assert all(np.array_equal(first[k], again[k]) for k in first)   # same noise both times
    assert all(bn.resample for bn in model.batchnorms) and model.training


# --- drift of Figure 1(b, c) ---------------------------------------------------------------------

def test_drift_summary_and_typical_unit_on_known_paths():
    T, U = 5, 3
    pct = np.zeros((T, U, 5))
    pct[:, 1, 1:4] = np.arange(T)[:, None] * 0.5          # unit 1 moves 0.5 per checkpoint
    pct[:, 2, 2] = [0, 3, 0, 3, 0]                        # unit 2: median jumps by 3
    pct[:, :, [0, 4]] = np.random.default_rng(0).normal(size=(T, U, 2))   # ignored
    # per-unit drifts 0, 0.5, 1.0 (recording.unit_drift): the median unit is unit 1
    assert typical_unit(pct) == 1 and drift_summary(pct) == 0.5


@pytest.mark.parametrize("shape", [(1, 3, 5), (4, 3), (4, 3, 3)])
def test_drift_summary_rejects_bad_shapes(shape):
    with pytest.raises(ValueError, match=r"unit_pct must have shape \(T >= 2, U, 5\)"):
        drift_summary(np.zeros(shape))


# --- measuring during training ------------------------------------------------------------------

@pytest.mark.parametrize("label", ["batch norm", "noisy batch norm"])
def test_measuring_during_training_leaves_the_run_unchanged(mnist, label):
    """train(measure=santurkar_measures) follows the same path as a run without measurements:
    parameters, running statistics and the noise generator are all restored."""
    X, y, _, _ = mnist
    kw = dict(batch_size=30, lr=1.0, num_steps=20, eval_every=0)
    plain_run = train(build(label), X[:600], y[:600], **kw)
    model = build(label)
    measured = train(model, X[:600], y[:600], measure_every=8, **kw,
                     measure=lambda m: santurkar_measures(m, X[-50:], y[-50:], 1.0, [0.5, 1.0]))
    assert measured.loss == plain_run.loss
    assert measured.measure_steps == [0, 8, 16, 20]
    assert [len(r["shift_cos"]) for r in measured.measurements] == [3] * 4   # W_2, W_3, W_out


# --- figures --------------------------------------------------------------------------------------

def test_figure1_and_measures_figures(short_runs):
    runs = short_runs[0]
    fig = plot_figure1(runs)
    acc, *bands = fig.axes
    assert len(bands) == 3 and len(acc.lines) == 3
    assert bands[0].get_ylim() == bands[2].get_ylim()          # shared axes
    drift = drift_summary(runs["batch norm"].activations["unit_pct"][2])
    unit = typical_unit(runs["batch norm"].activations["unit_pct"][2])
    assert bands[1].get_title() == (f"(c) batch norm: sigmoid input,\nunit {unit} of hidden "
                                    f"layer 3, drift {drift:.2f}")
    res = [dict(shift_l2=np.array([1.0, 2.0, 3.0]), shift_cos=np.array([0.9, 0.5, 0.1]),
                loss=0.5 / (k + 1), loss_range=0.3, grad_change=0.2 * k, beta=1.0 + k)
           for k in range(3)]
    hist = History(config={}, measure_steps=[0, 10, 20], measurements=res)
    rows = [dict(level=1.0, step=5, loss=0.9, beta=2.0), dict(level=0.5, step=9, loss=0.4,
                                                              beta=1.5)]
    fig = plot_measures({"plain": hist}, {"plain": rows}, layer=2)  # layer 3: shift entry 1
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), [2.0, 2.0, 2.0])
    np.testing.assert_allclose(fig.axes[1].lines[0].get_xdata(), [0, 10, 20])
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), [0.5, 0.5, 0.5])
    assert fig.axes[1].get_title() == "(b) cosine(G, G'),\nW into hidden layer 3"
    np.testing.assert_allclose(fig.axes[2].lines[0].get_ydata(), [0.5, 0.25, 0.5 / 3])  # loss
    np.testing.assert_allclose(fig.axes[3].lines[0].get_ydata(), [0.0, 0.2, 0.4])   # raw
    np.testing.assert_allclose(fig.axes[4].lines[0].get_ydata(), [1.0, 2.0, 3.0])   # beta
    matched = fig.axes[5]                                 # beta against the loss reached
    np.testing.assert_allclose(matched.lines[0].get_xdata(), [0.9, 0.4])
    np.testing.assert_allclose(matched.lines[0].get_ydata(), [2.0, 1.5])
    assert matched.xaxis_inverted() and [t.get_text() for t in matched.get_xticklabels()] \
        == ["0.5", "1"]
    assert all(ax.get_ylabel() for ax in fig.axes)        # every panel says what it shows
    assert plot_measures({"plain": hist}, layer=3).axes[0].get_title().endswith("output layer")
    with pytest.raises(ValueError, match="layer must be from 1 to 3 .* got 0"):
        plot_measures({"plain": hist}, layer=0)


# --- widgets driven from Python ------------------------------------------------------------------

def test_noise_panel_redraws_and_shows_a_message_for_a_failed_run(mnist, capsys):
    X, y, X_test, y_test = mnist
    kw = dict(batch_size=60, lr=1.0, num_steps=60, X_test=X_test[:200], y_test=y_test[:200],
              eval_every=20, record_every=10)
    runs = {s: train(build("noisy batch norm", s), X, y, **kw) for s in (0, 4)}
    runs[99] = History(config={}, loss=[2.3], diverged={"step": 1, "reason": "the loss became nan"})
    reference = {k: train(build(k), X, y, **kw) for k in ("plain", "batch norm")}
    panel = noise_panel(runs, reference)
    slider = panel.children[0]
    assert slider.continuous_update is False and list(slider.options[i][1] for i in range(3)) \
        == [0, 4, 99]
    slider.value = 0
    calm = panel.figure().axes[0].lines[0].get_ydata().copy()
    assert "+0.0 points vs batch norm: not more than 3 points worse" in capsys.readouterr().out
    slider.value = 4
    noisy = panel.figure().axes[0].lines[0].get_ydata()
    assert np.abs(np.diff(noisy)).mean() > 2 * np.abs(np.diff(calm)).mean()
    slider.value = 99                                         # the extreme: a hatched state
    left = panel.figure().axes[0]
    assert [t.get_text() for t in left.texts] == ["diverged at step 1"]
    assert left.patches and left.patches[0].get_hatch() == "///"
    assert "diverged" in capsys.readouterr().out


def test_noise_panel_calls_better_fine_and_worse_by_more_than_the_margin(mnist, capsys):
    """The rule is one-sided: a noisy run far *above* batch norm is "not more than 3 points
    worse"; one 3 points below is "more than 3 points worse"."""
    X, y, X_test, y_test = mnist
    kw = dict(batch_size=60, lr=1.0, num_steps=40, X_test=X_test[:200], y_test=y_test[:200],
              eval_every=40, record_every=20)
    reference = {k: train(build(k), X, y, **kw) for k in ("plain", "batch norm")}
    runs = {s: train(build("noisy batch norm", s), X, y, **kw) for s in (1, 2)}
    assert reference["batch norm"].test_acc[-1] > 0.3          # the rule, not "no progress"
    acc_bn = reference["batch norm"].test_acc[-1]
    runs[1].test_acc[-1], runs[2].test_acc[-1] = acc_bn + 0.20, acc_bn - 0.031
    panel = noise_panel(runs, reference)
    capsys.readouterr()
    panel.children[0].value = 1
    assert "+20.0 points vs batch norm: not more than 3 points worse" in capsys.readouterr().out
    panel.children[0].value = 2
    assert "-3.1 points vs batch norm: more than 3 points worse" in capsys.readouterr().out


def test_noise_panel_axes_are_fixed_and_a_band_beyond_them_is_labelled(mnist):
    X, y, X_test, y_test = mnist
    kw = dict(batch_size=60, lr=1.0, num_steps=40, X_test=X_test[:200], y_test=y_test[:200],
              eval_every=20, record_every=10)
    runs = {s: train(build("noisy batch norm", s), X, y, **kw) for s in (0, 8)}
    reference = {k: train(build(k), X, y, **kw) for k in ("plain", "batch norm")}
    panel = noise_panel(runs, reference, ylim=(-3, 3), static=[0, 8])
    assert [p["strength"] for p in panel.static_positions] == [0, 8]
    limits = []
    for strength in (0, 8):
        panel.children[0].value = strength
        fig = panel.figure()
        limits.append([(ax.get_xlim(), ax.get_ylim()) for ax in fig.axes])
        labels = [t.get_text() for t in fig.axes[0].texts]
        assert any(t.startswith("band beyond the scale") for t in labels) == (strength == 8)
    assert limits[0] == limits[1]


def test_activation_panel_over_the_three_networks(mnist, capsys):
    X, y, X_test, y_test = mnist
    run = grid_runner(X[:400], y[:400], lr=1.0, num_steps=30, record_every=10, probe=X[:100],
                      X_test=X_test[:100], y_test=y_test[:100])
    grid = course_widgets.run_positions(run, (1, 16), (0.0, 0.9), progress=False)
    assert isinstance(grid[(1, 0.0)]["batch norm"], str)
    noisy = grid[(16, 0.9)]["noisy BN"]
    assert isinstance(noisy, History) and noisy.eval_steps == [0, 30]   # evaluated at the end
    limits = grid_limits(grid)
    drawn = [lim for lim in limits.values() if lim]
    assert len(drawn) >= 2 and len({lim["bands"] for lim in drawn}) == 1   # one per-unit range
    lo, hi = drawn[0]["bands"]                           # inside the widest histogram range
    assert min(lim["x"][0] for lim in drawn) <= lo and hi <= max(lim["x"][1] for lim in drawn)
    panel = course_widgets.activation_panel(grid, (1, 16), (0.0, 0.9), value=(16, 0.0),
                                            drift=True, describe=drift_message, limits=limits)
    size, momentum = panel.children[:2]
    size.value = 16
    momentum.value = 0.9
    first = panel.figure().axes[0].lines[-1].get_ydata().copy()
    momentum.value = 0.0
    assert not np.array_equal(first, panel.figure().axes[0].lines[-1].get_ydata())
    size.value = 1                                            # batch norm cannot run: a message
    texts = [" ".join(t.get_text().split()) for ax in panel.figure().axes for t in ax.texts]
    messages = [t for t in texts if not t.startswith("drift") and "above the scale" not in t]
    assert set(messages) == {batch_of_one_message((1, 100))}  # the engine's words, and only
    assert len(messages) >= 6                     # in every panel of 2 networks x 3 layers
    size.value = 16
    capsys.readouterr()
    fig = panel.figure()
    drifts = [t.get_text() for ax in fig.axes for t in ax.texts if t.get_text().startswith("drift")]
    expected = [f"drift {drift_summary(noisy_pct):.2f}" for noisy_pct in
                grid[(16, 0.0)]["noisy BN"].activations["unit_pct"]]
    assert drifts[-3:] == expected                       # the noisy network's row, layers 1-3
    size.value, momentum.value = 16, 0.9
    assert f"noisy BN: {drift_message(noisy)}" in capsys.readouterr().out


def test_drift_message_gives_every_layers_drift_per_recording(short_runs):
    run = short_runs[0]["noisy batch norm"]
    lines = drift_message(run).splitlines()
    drifts = [drift_summary(pct) for pct in run.activations["unit_pct"]]
    assert lines == [run.message(), "    per-unit drift per 25 steps, layers 1-3: "
                     + ", ".join(f"{d:.3f}" for d in drifts)]
    diverged = History(config={}, loss=[2.3], diverged={"step": 1, "reason": "the loss became nan"})
    assert drift_message(diverged) == diverged.message()


@pytest.mark.parametrize("seed", SEEDS)
def test_noisy_batchnorm_drifts_at_least_twice_as_much_as_batchnorm(short_runs, seed):
    """The panel's claim at its default position (batch 60, momentum 0, 300 steps), on three
    seeds (measured: 7-8 times in layer 3; batch norm at 82-87%)."""
    runs = short_runs[seed]
    drift = {k: drift_summary(h.activations["unit_pct"][2]) for k, h in runs.items()}
    assert drift["noisy batch norm"] >= 2 * drift["batch norm"]
    assert runs["batch norm"].test_acc[-1] >= 0.8


@pytest.mark.parametrize("seed", SEEDS)
def test_momentum_saturates_the_plain_network_but_not_batchnorm(mnist, seed):
    """Task (2) of the panel on three seeds (batch 60, momentum 0.9, 300 steps): the plain
    network's layer 3 saturates and it stays at chance; both batch-norm networks saturate less
    and learn (measured: layer 3 10-37% and 32-73% saturated; 88-91% test accuracy)."""
    X, y, X_test, y_test = mnist
    runs = {k: train(build(k, seed=seed), X, y, batch_size=60, lr=1.0, momentum=0.9, seed=seed,
                     num_steps=300, X_test=X_test, y_test=y_test, eval_every=300,
                     record_every=300, probe=X[:100])
            for k in ("plain", "batch norm", "noisy batch norm")}
    saturated = {k: h.activations["saturation"][-1, 2] for k, h in runs.items()}
    assert saturated["plain"] > 0.9 and runs["plain"].test_acc[-1] < 0.2
    for k in ("batch norm", "noisy batch norm"):
        assert saturated[k] < saturated["plain"] and runs[k].test_acc[-1] >= 0.8


# --- smoothness at matched loss (section 4.3) ----------------------------------------------------

def test_at_loss_levels_measures_the_first_step_below_each_level(mnist):
    """AtLossLevels takes smoothness() at the first checked step whose loss on (X, y) is below a
    level, leaves training unchanged, and shares a row between levels crossed at once."""
    X, y, _, _ = mnist
    Xm, ym = X[-100:], y[-100:]
    kw = dict(batch_size=30, lr=1.0, num_steps=40, eval_every=0)
    untouched = train(build("batch norm"), X[:600], y[:600], **kw)
    probe = AtLossLevels(Xm, ym, (1.0, 2.2, 1.8, 0.01), [0.5, 1.0])
    seen = {}                                          # the model after every step, by step

    def watch(step, model, loss):
        probe(step, model, loss)
        seen[step] = (copy.deepcopy(model), loss)
    hist = train(build("batch norm"), X[:600], y[:600], callback=watch, **kw)
    assert hist.loss == untouched.loss                # measuring changed nothing
    rows = probe.rows
    assert [r["level"] for r in rows] == [2.2, 1.8, 1.0][:len(rows)] and len(rows) >= 2
    for r in rows:
        model, trigger = seen[r["step"]]
        assert r["loss"] == batch_loss(model, Xm, ym) < r["level"] and trigger < r["level"]
        assert r["beta"] == smoothness(model, Xm, ym, [0.5, 1.0])["beta"]
        earlier = [s for s in seen if s < r["step"] and seen[s][1] < r["level"]]
        assert all(batch_loss(seen[s][0], Xm, ym) >= r["level"] for s in earlier)
    assert rows[0]["step"] <= rows[1]["step"]
    assert len(rows) < 4                              # 0.01 is not reached in 40 steps


def test_beta_ratios_pair_the_levels_both_reached():
    rows = [dict(level=2.0, beta=3.0), dict(level=1.0, beta=1.0), dict(level=0.5, beta=2.0)]
    ref = [dict(level=2.0, beta=1.5), dict(level=1.0, beta=2.0)]
    assert beta_ratios(rows, ref) == {2.0: 2.0, 1.0: 0.5}


MATCHED = (2.0, 1.4)    # the levels the plain network reaches within 2000 steps on every seed


@pytest.fixture(scope="module")
def matched_loss_runs(mnist):
    """{seed: {label: AtLossLevels rows}} for plain (2000 steps) and batch norm (200 steps),
    the lesson's setting (batch 60, lr 1, measured on the last 200 training images)."""
    X, y, _, _ = mnist
    out = {}
    for seed in SEEDS:
        out[seed] = {}
        for label, steps in (("plain", 2000), ("batch norm", 200)):
            probe = AtLossLevels(X[-200:], y[-200:], MATCHED, [0.5, 1.0, 2.0, 4.0])
            train(build(label, seed=seed), X, y, batch_size=60, lr=1.0, num_steps=steps,
                  seed=seed, eval_every=0, callback=probe)
            out[seed][label] = probe.rows
    return out


@pytest.mark.parametrize("seed", SEEDS)
def test_at_matched_loss_batchnorm_is_not_smoother(matched_loss_runs, seed):
    """Section 4.3's claim on three seeds: the first time the loss falls below 2.0 and 1.4,
    batch norm's beta is at least 1.2 times the plain network's (measured: 2.8-4.8 times at
    2.0, 1.4-2.0 times at 1.4)."""
    rows = matched_loss_runs[seed]
    ratio = beta_ratios(rows["batch norm"], rows["plain"])
    assert sorted(ratio) == sorted(MATCHED)           # both networks reached both levels
    assert all(r >= 1.2 for r in ratio.values())
    assert rows["batch norm"][-1]["step"] < 100 < rows["plain"][0]["step"]   # not same steps


# --- the controls of section 5.1 -----------------------------------------------------------------

def test_gamma_control_is_batchnorm_with_a_larger_starting_gamma():
    control, bn = gamma_control(3.0, seed=4), build("batch norm", seed=4)
    assert not any(isinstance(b, NoisyBatchNorm) for b in control.batchnorms)
    assert all(np.all(b.gamma == 2.5) and np.all(b.beta == 0) for b in control.batchnorms)
    same = [np.array_equal(p, q) for (name, p, _), (_, q, _) in
            zip(control.parameters(), bn.parameters()) if not name.endswith(".gamma")]
    assert len(same) == 8 and all(same)        # 4 W, the output layer's b, 3 betas


def test_accuracy_at_eval_scale_replaces_the_average_scale_and_restores_it(mnist):
    X, y, X_test, y_test = mnist
    noisy = build("noisy batch norm", strength=2.0)
    train(noisy, X[:600], y[:600], batch_size=60, lr=1.0, num_steps=30, eval_every=0)
    plain_bn = build("batch norm")                    # the same network without the noise
    for (_, p, _), (_, q, _) in zip(plain_bn.parameters(), noisy.parameters()):
        p[...] = q
    for a, b in zip(plain_bn.batchnorms, noisy.batchnorms):
        a.running_mean[:], a.running_var[:] = b.running_mean, b.running_var
    assert accuracy_at_eval_scale(noisy, X_test, y_test, 1.0) == plain_bn.accuracy(X_test, y_test)
    assert accuracy_at_eval_scale(noisy, X_test, y_test, 2.0) == noisy.accuracy(X_test, y_test)
    assert all(b.eval_scale is None for b in noisy.batchnorms) and noisy.training


@pytest.fixture(scope="module")
def noise_controls(mnist, short_runs):
    """{seed: {strength: (noisy model, its History, control History)}} at strengths 2 and 8,
    300 steps of the lesson's setting."""
    X, y, X_test, y_test = mnist
    kw = dict(batch_size=60, lr=1.0, num_steps=300, X_test=X_test, y_test=y_test,
              eval_every=300)
    out = {}
    for seed in SEEDS:
        out[seed] = {}
        for s in (2, 8):
            noisy = build("noisy batch norm", strength=s, seed=seed)
            out[seed][s] = (noisy, train(noisy, X, y, seed=seed, **kw),
                            train(gamma_control(s, seed=seed), X, y, seed=seed, **kw))
    return out


@pytest.mark.parametrize("seed", SEEDS)
def test_noise_gains_come_from_its_average_scale(mnist, short_runs, noise_controls, seed):
    """Section 5.1 on three seeds: batch norm with gamma = 1 + s/2 and no noise is at most 2
    points below the noisy network at strengths 2 and 8 (measured: 0 to 6.6 points above) and
    more than 1 point above batch norm (1.7-8.5); at strength 2, evaluated at scale 1 instead
    of 1 + s/2, the noisy network scores lower (by 8.2-19.9 points on seeds 0-4, the same under
    Sandybridge, Haswell and SkylakeX)."""
    _, _, X_test, y_test = mnist
    acc_bn = short_runs[seed]["batch norm"].test_acc[-1]
    for _, hist, control in noise_controls[seed].values():
        acc = hist.test_acc[-1]
        assert control.test_acc[-1] >= acc - 0.02
        assert control.test_acc[-1] > acc_bn + 0.01
    noisy, hist, _ = noise_controls[seed][2]
    assert accuracy_at_eval_scale(noisy, X_test, y_test, 1.0) < hist.test_acc[-1] - 0.04


def test_at_strength_8_scale_1_scores_lower_on_the_mean_over_seeds(mnist, noise_controls):
    """Control 2 at strength 8 depends on the seed and the CPU: one run moves from -11.0 to
    +1.1 points (seed 2 under Sandybridge scores higher at scale 1). Over seeds 0-2 the mean is
    2.5-5.5 points lower at scale 1 under Sandybridge, Haswell and SkylakeX."""
    _, _, X_test, y_test = mnist
    diff = [accuracy_at_eval_scale(noise_controls[seed][8][0], X_test, y_test, 1.0)
            - noise_controls[seed][8][1].test_acc[-1] for seed in SEEDS]
    assert np.mean(diff) < 0


def test_strength_8_is_not_more_than_3_points_below_batchnorm_on_the_mean(short_runs,
                                                                           noise_controls):
    """The lesson's verdict on strength 8 ("not more than 3 points worse than batch norm"),
    over seeds 0-2, as every CPU computes it. One run decides nothing: the lesson's own run
    (seed 0) gives -0.4, -0.1, -2.0 and -3.2 points on four machines / OpenBLAS kernels, and
    in these 300-step runs seed 0 gives -2.4 to +0.4 across kernels, seeds 0-4 -2.4 to +6.7.
    The mean over seeds 0-2 is +1.2 to +3.0 points under Sandybridge, Haswell and SkylakeX:
    4 points above the -3 the verdict allows."""
    diff = [noise_controls[seed][8][1].test_acc[-1] - short_runs[seed]["batch norm"].test_acc[-1]
            for seed in SEEDS]
    assert np.mean(diff) >= -0.03
    assert min(diff) >= -0.06            # and no seed far below (measured: at worst -2.4)
