"""Lesson 6 (small batches): the lesson's claims over three seeds, its experiment helpers
(modes compared, recording in batches, one batch-norm run for every BN momentum, r and d),
its figures, and its panel driven from Python (helpers/lessons/lesson6_small_batches.py,
lesson6_figures.py)."""
import numpy as np
import pytest

from helpers import (
    batchnorm_forward,
    frozen_running_stats,
    gradient_errors,
    groupnorm_forward,
    train,
    train_mode_logits,
)
from helpers.lessons import lesson6_figures as figures
from helpers.lessons import lesson6_small_batches as small

SEEDS = (0, 1, 2)
STEPS, LR = 300, 0.1          # the lesson's runs
# Measured on seeds 0-2 at batch 2 (eval accuracy, under three BLAS kernels): batch norm 10-29%,
# layer norm 31-44%, group norm 26-36%, batch renorm 35-57%; batch norm's training loss 2.35-2.61.


@pytest.fixture(scope="module")
def at_batch_2(mnist):
    """{(label, 2): eval accuracies over SEEDS}, the lesson's 300-step runs."""
    return small.eval_accuracies(small.LABELS, (2,), *mnist, seeds=SEEDS, num_steps=STEPS,
                                 lr=LR)


@pytest.fixture(scope="module")
def grid(mnist):
    """A small grid: batch sizes 2 and 64, BN momenta 0.1 and 0.5, 60-step runs."""
    return small.small_batch_grid(*mnist, (2, 64), (0.1, 0.5), num_steps=60, lr=LR,
                                  record_every=20, probe=mnist[0][:64], progress=False)


# --- the lesson's claims, three seeds ------------------------------------------------------------

@pytest.mark.parametrize("i", range(len(SEEDS)))
def test_batch_norm_is_below_layer_norm_at_batch_2_and_renorm_rescues_it(at_batch_2, i):
    """Section 9's claims with margins that hold under every OpenBLAS kernel (make test-cpus).
    Measured at batch 2 on seeds 0-4 under Sandybridge, Haswell and SkylakeX: batch norm's
    eval accuracy 10-29% (one seed's spread across kernels: up to 9 points), layer norm
    31-48% and group norm 26-47% (the same under every kernel), batch renorm 35-57%; batch
    norm is 10-38 points below layer norm and 17-38 below batch renorm. Whether batch norm is
    the very lowest on every seed depends on the kernel (seed 1 under Haswell: batch norm
    29.2%, group norm 26.0%), so that is claimed only for the mean over seeds."""
    acc = {label: at_batch_2[(label, 2)][i] for label in small.LABELS}
    assert acc["batch norm"] < acc["layer norm"] - 0.05
    assert acc["batch renorm"] > acc["batch norm"] + 0.10


def test_batch_norm_is_the_worst_at_batch_2_on_the_mean_over_seeds(at_batch_2):
    """Over seeds 0-2 batch norm's mean is 11-14 points below the next method's (group norm's,
    30.8%) under each kernel; the margin asked: 4 points."""
    mean = {label: np.mean(at_batch_2[(label, 2)]) for label in small.LABELS}
    others = [mean[label] for label in small.LABELS if label != "batch norm"]
    assert mean["batch norm"] < min(others) - 0.04


@pytest.mark.parametrize("seed", SEEDS)
def test_batch_norm_does_not_learn_from_batches_of_two(mnist, seed):
    X, y = mnist[:2]
    model = small.build("batch norm", num_steps=STEPS, seed=seed)
    history = train(model, X, y, batch_size=2, lr=LR, num_steps=STEPS, seed=seed, eval_every=0)
    assert np.mean(history.loss[-30:]) > 2.2                    # guessing: ln 10 = 2.30
    model = small.build("layer norm", num_steps=STEPS, seed=seed)
    history = train(model, X, y, batch_size=2, lr=LR, num_steps=STEPS, seed=seed, eval_every=0)
    assert np.mean(history.loss[-30:]) < 2.0                    # layer norm does learn


def test_more_steps_help_layer_norm_at_batch_2_and_not_batch_norm(mnist, at_batch_2):
    long = small.eval_accuracies(("layer norm", "batch norm"), (2,), *mnist, seeds=SEEDS,
                                 num_steps=4 * STEPS, lr=LR)
    assert np.all(long[("layer norm", 2)] > at_batch_2[("layer norm", 2)] + 0.10)
    assert np.all(long[("batch norm", 2)] < 0.3)


def test_a_short_memory_costs_batch_renorm_more_than_batch_norm(mnist):
    acc = {m: small.eval_accuracies(("batch renorm", "batch norm"), (4,), *mnist, seeds=SEEDS,
                                    num_steps=STEPS, lr=LR, momentum=m) for m in (0.1, 0.5)}
    renorm_loss = acc[0.1][("batch renorm", 4)] - acc[0.5][("batch renorm", 4)]
    bn_loss = acc[0.1][("batch norm", 4)] - acc[0.5][("batch norm", 4)]
    assert np.all(renorm_loss > 0.10) and np.all(renorm_loss > bn_loss + 0.05)


@pytest.mark.parametrize("seed", (1, 2))
def test_renorm_clips_often_at_batch_2_and_never_at_64(mnist, seed):
    summary = {}
    for b in (2, 64):
        run = small.train_and_measure("batch renorm", *mnist, batch_size=b, num_steps=STEPS,
                                      lr=LR, record_every=STEPS, seed=seed, probe=mnist[0][:8])
        summary[b] = small.renorm_summary(run[0.1].renorm, from_step=STEPS // 2)
    assert summary[2]["clipped"] > 0.1 and summary[64]["clipped"] == 0
    assert summary[2]["r"][1] < 1


# --- the grid -----------------------------------------------------------------------------------

def test_the_grid_has_every_position(grid):
    assert set(grid) == {(b, label, m) for b in (2, 64) for label in small.LABELS
                         for m in (0.1, 0.5)}
    assert grid[(2, "batch norm", 0.5)].momentum == 0.5
    assert all(bn.momentum == 0.5 for bn in grid[(2, "batch norm", 0.5)].model.batchnorms)


@pytest.mark.parametrize("label", ["layer norm", "group norm"])
def test_per_example_norms_have_one_mode(grid, label):
    for b in (2, 64):
        run = grid[(b, label, 0.1)]
        assert run.changed == 0 and run.train_acc == run.eval_acc
        train_mode, eval_mode = (run.modes[m].activations for m in small.MODES)
        np.testing.assert_allclose(train_mode["pre_pct"], eval_mode["pre_pct"], atol=1e-9)
        assert grid[(b, label, 0.5)].eval_acc == run.eval_acc     # the momentum plays no part


def test_one_batch_norm_run_serves_every_momentum(mnist, grid):
    """The shared run's moving averages are what a layer with that momentum keeps."""
    X, y = mnist[:2]
    model = small.build("batch norm", num_steps=60, momentum=0.5)
    history = train(model, X, y, batch_size=2, lr=LR, num_steps=60, eval_every=0)
    shared = grid[(2, "batch norm", 0.5)]
    for bn, kept in zip(model.batchnorms, shared.model.batchnorms):
        np.testing.assert_array_equal(bn.running_mean, kept.running_mean)
        np.testing.assert_array_equal(bn.running_var, kept.running_var)
    assert history.loss == shared.history.loss
    assert shared.eval_acc == model.accuracy(*mnist[2:])


def test_training_mode_is_recorded_in_batches_of_the_training_size(grid):
    # at step 0 (gamma 1, beta 0) batch norm in batches of 2 gives exactly +-1 (eps aside)
    pct = grid[(2, "batch norm", 0.1)].modes["training mode"].activations["pre_pct"][0]
    np.testing.assert_allclose(np.abs(pct[:, [0, -1]]), 1.0, atol=1e-3)
    eval_pct = grid[(2, "batch norm", 0.1)].modes["eval mode"].activations["pre_pct"][0]
    assert not np.allclose(np.abs(eval_pct[:, [0, -1]]), 1.0, atol=1e-2)


def test_renorm_trace_covers_every_step_and_follows_the_schedule(grid):
    trace = grid[(64, "batch renorm", 0.1)].renorm
    assert trace["r"].shape == (60, 3, 100) and trace["d"].shape == (60, 3, 100)
    assert trace["r_max"][0] == 1.0 and trace["r_max"][-1] == pytest.approx(3.0)
    assert np.all(trace["r"] >= 1 / trace["r_max"][:, None, None] - 1e-12)
    assert np.all(np.abs(trace["d"]) <= trace["d_max"][:, None, None] + 1e-12)


def test_batch_norm_outputs_depend_on_the_batch_mates_and_per_example_norms_do_not(mnist, grid):
    X_test = mnist[2]
    companions = [np.arange(1, 8), np.arange(8, 15)]
    for label in ("layer norm", "group norm"):
        a, b = small.outputs_in_two_batches(grid[(64, label, 0.1)].model, X_test, 0, companions)
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    model = grid[(64, "batch norm", 0.1)].model
    before = model.batchnorms[0].running_mean.copy()
    a, b = small.outputs_in_two_batches(model, X_test, 0, companions)
    assert np.abs(a - b).max() > 0.1
    np.testing.assert_array_equal(model.batchnorms[0].running_mean, before)


def test_train_mode_logits_normalize_each_chunk_alone(mnist, grid):
    model = grid[(64, "batch norm", 0.1)].model
    X = mnist[2][:8]
    logits = train_mode_logits(model, X, batch_size=4)
    with frozen_running_stats(model.train()):
        np.testing.assert_array_equal(logits[4:], model.forward(X[4:]))
    assert model.training


# --- helpers ------------------------------------------------------------------------------------

def test_first_fall():
    assert small.first_fall({2: 0.2, 4: 0.74, 16: 0.875, 256: 0.898}) == 4
    assert small.first_fall({2: 0.44, 16: 0.79, 64: 0.887, 256: 0.884}) == 16
    assert small.first_fall({2: 0.9, 256: 0.92}) is None


def test_renorm_summary_counts_corrections_at_a_limit():
    steps = np.arange(1, 5)
    trace = {"steps": steps, "r_max": np.full(4, 2.0), "d_max": np.full(4, 1.0),
             "r": np.array([0.5, 1.0, 2.0, 1.2]).reshape(4, 1, 1),
             "d": np.array([0.0, 1.0, 0.2, 0.3]).reshape(4, 1, 1)}
    assert small.renorm_summary(trace, from_step=1)["clipped"] == 0.75   # r, d, r at limits
    assert small.renorm_summary(trace, from_step=4)["clipped"] == 0.0


def test_gradient_errors_and_renorm_with_fixed_corrections(rng):
    x, dout = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    gamma, beta = rng.normal(size=3), rng.normal(size=3)
    as_bn = small.renorm_with_fixed(np.ones(3), np.zeros(3))
    np.testing.assert_array_equal(as_bn(x, gamma, beta)[0], batchnorm_forward(x, gamma, beta)[0])

    def group(x, g, b):
        return groupnorm_forward(x, g, b, 1)

    def wrong_backward(dout, cache):       # a classic mistake: the statistics held constant
        return dout * cache["gamma"] / cache["std"].reshape(-1, 1), dout.sum(0), dout.sum(0)

    from helpers import groupnorm_backward
    assert max(gradient_errors(group, groupnorm_backward, x, gamma, beta, dout).values()) \
        < 1e-7
    assert gradient_errors(group, wrong_backward, x, gamma, beta, dout)["dx"] > 1e-3


def test_build_rejects_an_unknown_method():
    with pytest.raises(ValueError, match=r"label must be one of .* got 'weight norm'"):
        small.build("weight norm", num_steps=10)


def test_build_scales_the_renorm_schedule_to_the_run():
    model = small.build("batch renorm", num_steps=300)
    assert model.batchnorms[0].relax_steps == 150
    assert small.build("group norm", num_steps=10, num_groups=5).layers[1].num_groups == 5


# --- figures and the panel ----------------------------------------------------------------------

def test_the_cubes_shade_the_values_that_share_statistics_in_the_engine(rng):
    """Perturb the values of example 0, channel 0: the outputs whose statistics change are
    exactly the cube's shaded (example, channel) pairs."""
    x = rng.normal(size=(4, 6, 3, 3))
    ones, zeros = np.ones(6), np.zeros(6)
    methods = {"batch norm": lambda x: batchnorm_forward(x, ones, zeros)[0],
               "layer norm": lambda x: groupnorm_forward(x, ones, zeros, 1)[0],
               "instance norm": lambda x: groupnorm_forward(x, ones, zeros, 6)[0],
               "group norm": lambda x: groupnorm_forward(x, ones, zeros, 3)[0]}
    bumped = x.copy()
    bumped[0, 0] += 10 * rng.normal(size=(3, 3))
    for name, normalize in methods.items():
        changed = ~np.isclose(normalize(x), normalize(bumped)).all(axis=(2, 3))
        changed[0, 0] = True                                  # the perturbed values themselves
        shaded = np.array([[figures.SHARED[name](n, c) for c in range(6)] for n in range(4)])
        np.testing.assert_array_equal(changed, shaded, err_msg=name)
    fig = figures.plot_normalization_cubes()
    assert [ax.get_title() for ax in fig.axes] == list(figures.SHARED)


def test_accuracy_and_renorm_figures(grid):
    fig = figures.plot_accuracy_by_batch_size(grid, (2, 64), momentum=0.1)
    assert len(fig.axes[0].lines) == 2 * len(small.LABELS) + 2      # and the two mode keys
    assert list(fig.axes[1].lines[0].get_ydata()) == [
        100 * grid[(b, "batch norm", 0.1)].changed for b in (2, 64)]
    fig = figures.plot_renorm_trace(grid[(2, "batch renorm", 0.1)].renorm)
    assert len(fig.axes) == 2 and fig.axes[0].get_yscale() == "log"


def test_panel_limits_are_not_set_by_batch_norms_spikes(grid):
    limits = figures._panel_limits(grid, (-5.0, 5.0))
    density = limits["training mode"]["density"]
    spiky = grid[(2, "batch norm", 0.1)].modes["training mode"].activations["pre_hist"][1:]
    assert spiky.max() > 2 * density
    smooth = [r.modes[m].activations["pre_hist"][1:].max() for (_, label, _), r in grid.items()
              for m in small.MODES if label in ("layer norm", "group norm")]
    assert density >= max(smooth)                    # no ordinary histogram is cut off
    assert limits["training mode"] is limits["eval mode"] is limits[figures.ONE_MODE]


def test_panel_moves_through_every_control_without_errors(grid, capsys):
    panel = figures.small_batch_panel(grid, (2, 64), (0.1, 0.5), value=(64, "batch norm", 0.1),
                                      static=[(64, "batch norm", 0.1), (2, "layer norm", 0.5)])
    batch_size, normalization, momentum = panel.children[:-1]
    assert normalization.options == small.LABELS
    batch_size.value, normalization.value, momentum.value = 2, "batch norm", 0.5
    assert len(panel.figure().axes) == 4 * 3                   # both modes: 2 x (pooled, units)
    assert "batch norm, batch size 2" in capsys.readouterr().out
    normalization.value = "layer norm"
    assert len(panel.figure().axes) == 2 * 3                   # one mode
    assert "keeps no running statistics" in capsys.readouterr().out
    for label in small.LABELS:                                 # every extreme: a picture
        normalization.value = label
        for b in (2, 64):
            batch_size.value = b
            assert panel.figure().axes
    assert panel.static_positions[1] == {"batch_size": 2, "normalization": "layer norm",
                                         "momentum": 0.5}


def test_describe_compares_with_layer_norm_and_the_largest_batch(grid):
    text = figures.describe(grid[(2, "batch norm", 0.1)], grid)
    assert f"batch norm at batch size 64 {grid[(64, 'batch norm', 0.1)].eval_acc:.1%}" in text
    assert f"layer norm at batch size 2 {grid[(2, 'layer norm', 0.1)].eval_acc:.1%}" in text
    assert "keeps no running statistics" not in text


def test_positions_that_differ_only_in_an_unused_momentum_share_one_picture(grid, monkeypatch):
    import helpers.display.panels
    monkeypatch.setattr(helpers.display.panels, "PRERENDER", True)
    panel = figures.small_batch_panel(grid, (2, 64), (0.1, 0.5), value=(64, "batch norm", 0.1))
    keys = set(panel.pictures)
    # batch norm and renorm: 2 batch sizes x 2 momenta; layer and group norm: 2 batch sizes
    assert len(keys) == 2 * 2 * len(small.RUNNING) + 2 * (len(small.LABELS) - len(small.RUNNING))
    assert (2, "layer norm", None) in keys and (2, "batch norm", 0.5) in keys
