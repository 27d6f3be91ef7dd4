"""Batch norm: gradients against finite differences, the paper's invariants, running-statistic
semantics (EMA, cumulative, window; unbiased variance), eval mode, and every error case."""
import re

import numpy as np
import pytest

from helpers import (
    BatchNorm,
    batchnorm_backward,
    batchnorm_backward_graph,
    batchnorm_forward,
    frozen_running_stats,
    ghost_batchnorm_backward,
    ghost_batchnorm_forward,
    gradient_errors,
    make_mlp,
    numerical_gradient,
    rel_error,
    values_per_channel,
)
from helpers.batchnorm import NonFiniteError, batch_of_one_message

SHAPES = [(7, 4), (5, 3, 4, 4), (3, 2, 5)]


@pytest.mark.parametrize("shape", SHAPES)
def test_backward_matches_finite_differences(rng, shape):
    C = shape[1]
    x = rng.normal(2.0, 3.0, size=shape)
    gamma, beta = rng.normal(size=C), rng.normal(size=C)
    dout = rng.normal(size=shape)

    def f():
        return batchnorm_forward(x, gamma, beta)[0]

    _, cache = batchnorm_forward(x, gamma, beta)
    for backward in (batchnorm_backward, batchnorm_backward_graph):
        dx, dgamma, dbeta = backward(dout, cache)
        assert rel_error(dx, numerical_gradient(f, x, dout)) < 1e-7
        assert rel_error(dgamma, numerical_gradient(f, gamma, dout)) < 1e-7
        assert rel_error(dbeta, numerical_gradient(f, beta, dout)) < 1e-7


@pytest.mark.parametrize("shape", SHAPES)
def test_compact_and_graph_backward_agree(rng, shape):
    x = rng.normal(size=shape)
    _, cache = batchnorm_forward(x, rng.normal(size=shape[1]), rng.normal(size=shape[1]))
    dout = rng.normal(size=shape)
    for a, b in zip(batchnorm_backward(dout, cache), batchnorm_backward_graph(dout, cache)):
        assert np.max(np.abs(a - b)) < 1e-10


def test_gradient_through_statistics_matters(rng):
    """Treating mean and variance as constants gives a different (wrong) gradient."""
    x = rng.normal(size=(8, 3))
    _, cache = batchnorm_forward(x, np.ones(3), np.zeros(3))
    dout = rng.normal(size=x.shape)
    dx, _, _ = batchnorm_backward(dout, cache)
    naive = dout / cache["std"]
    assert rel_error(dx, naive) > 1e-2
    assert np.allclose(dx.sum(axis=0), 0.0)   # the batch-mean path removes the mean gradient


@pytest.mark.parametrize("shape", SHAPES)
def test_normalized_then_affine(rng, shape):
    C = shape[1]
    x = rng.normal(5.0, 4.0, size=shape)
    axes = (0,) + tuple(range(2, len(shape)))
    out, cache = batchnorm_forward(x, np.ones(C), np.zeros(C), eps=0.0)
    assert np.allclose(out.mean(axis=axes), 0.0, atol=1e-12)
    assert np.allclose(out.var(axis=axes), 1.0)
    gamma, beta = np.array([2.0, 0.5, 3.0, 1.5])[:C], np.array([-1.0, 4.0, 0.0, 2.0])[:C]
    out, _ = batchnorm_forward(x, gamma, beta, eps=0.0)
    assert np.allclose(out.mean(axis=axes), beta)
    assert np.allclose(out.std(axis=axes), gamma)


@pytest.mark.parametrize("shape", SHAPES)
def test_cache_holds_the_steps_of_algorithm_1(rng, shape):
    x = rng.normal(1.0, 2.0, size=shape)
    gamma, beta = rng.normal(size=shape[1]), rng.normal(size=shape[1])
    out, cache = batchnorm_forward(x, gamma, beta, eps=1e-3)
    axes = (0,) + tuple(range(2, len(shape)))
    mu, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    assert np.allclose(cache["mu"], mu) and np.allclose(cache["var"], var)
    assert np.allclose(cache["xc"], x - mu)
    assert np.allclose(cache["std"], np.sqrt(var + 1e-3))
    assert np.allclose(cache["x_hat"], (x - mu) / np.sqrt(var + 1e-3))
    assert np.array_equal(out, cache["gamma"] * cache["x_hat"] + beta.reshape(cache["gamma"].shape))
    assert cache["eps"] == 1e-3 and cache["axes"] == axes


@pytest.mark.parametrize("shape, m", [((7, 4), 7), ((5, 3, 4, 4), 80), ((3, 2, 5), 15)])
def test_values_per_channel(shape, m):
    assert values_per_channel(np.zeros(shape)) == m


def test_batchnorm_can_undo_itself(rng):
    x = rng.normal(3.0, 2.0, size=(10, 4))
    eps = 1e-5
    gamma, beta = np.sqrt(x.var(axis=0) + eps), x.mean(axis=0)
    out, _ = batchnorm_forward(x, gamma, beta, eps=eps)
    assert np.allclose(out, x, atol=1e-12)


def test_layer_matches_functional_and_has_grads(rng):
    bn = BatchNorm(4)
    bn.gamma[:] = rng.normal(size=4)
    x, dout = rng.normal(size=(6, 4)), rng.normal(size=(6, 4))
    out = bn.forward(x)
    ref, cache = batchnorm_forward(x, bn.gamma, bn.beta)
    assert np.array_equal(out, ref)
    dx = bn.backward(dout)
    dx_ref, dgamma, dbeta = batchnorm_backward(dout, cache)
    assert np.array_equal(dx, dx_ref)
    assert np.array_equal(bn.dgamma, dgamma) and np.array_equal(bn.dbeta, dbeta)


def test_eval_backward_matches_finite_differences(rng):
    bn = BatchNorm(3)
    for _ in range(3):
        bn.forward(rng.normal(size=(5, 3)))
    bn.eval()
    bn.gamma[:] = [0.5, 2.0, -1.0]
    x, dout = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    bn.forward(x)
    dx = bn.backward(dout)
    assert rel_error(dx, numerical_gradient(lambda: bn.forward(x), x, dout)) < 1e-7
    assert rel_error(bn.dgamma, numerical_gradient(lambda: bn.forward(x), bn.gamma, dout)) < 1e-7


def _batches(rng, k, shape=(8, 3)):
    return [rng.normal(i, 1.0 + i, size=shape) for i in range(k)]


def _unbiased_stats(x):
    axes = (0,) + tuple(range(2, x.ndim))
    return x.mean(axis=axes), x.var(axis=axes, ddof=1)


@pytest.mark.parametrize("momentum", [0.1, 0.5, 1.0])
def test_running_stats_ema_closed_form(rng, momentum):
    batches = _batches(rng, 5)
    bn = BatchNorm(3, momentum=momentum)
    for xb in batches:
        bn.forward(xb)
    # running_k = (1-m)^k * init + sum_i m (1-m)^(k-1-i) stat_i
    k = len(batches)
    mean = (1 - momentum) ** k * 0.0
    var = (1 - momentum) ** k * 1.0
    for i, xb in enumerate(batches):
        mu, v = _unbiased_stats(xb)
        w = momentum * (1 - momentum) ** (k - 1 - i)
        mean, var = mean + w * mu, var + w * v
    assert np.allclose(bn.running_mean, mean) and np.allclose(bn.running_var, var)
    assert bn.num_batches_tracked == k


def test_running_var_is_unbiased_and_normalization_biased(rng):
    x = rng.normal(size=(4, 2))
    bn = BatchNorm(2, momentum=1.0)        # running stats = this batch's
    out = bn.forward(x)
    assert np.allclose(bn.running_var, x.var(axis=0, ddof=1))
    assert np.allclose(out, (x - x.mean(0)) / np.sqrt(x.var(axis=0) + bn.eps))


def test_running_stats_cumulative_average(rng):
    batches = _batches(rng, 6, shape=(5, 3, 2, 2))
    bn = BatchNorm(3, momentum=None)
    for xb in batches:
        bn.forward(xb)
    stats = [_unbiased_stats(xb) for xb in batches]
    assert np.allclose(bn.running_mean, np.mean([m for m, _ in stats], axis=0))
    assert np.allclose(bn.running_var, np.mean([v for _, v in stats], axis=0))


def test_running_stats_window_of_last_n(rng):
    batches = _batches(rng, 7)
    bn = BatchNorm(3, window=3, momentum=0.3)   # window overrides momentum
    for xb in batches:
        bn.forward(xb)
    stats = [_unbiased_stats(xb) for xb in batches[-3:]]
    assert np.allclose(bn.running_mean, np.mean([m for m, _ in stats], axis=0))
    assert np.allclose(bn.running_var, np.mean([v for _, v in stats], axis=0))


def test_eval_uses_running_stats_and_is_per_example(rng):
    bn = BatchNorm(3)
    for xb in _batches(rng, 4):
        bn.forward(xb)
    mean, var = bn.running_mean.copy(), bn.running_var.copy()
    bn.eval()
    x = rng.normal(size=(6, 3))
    out = bn.forward(x)
    assert np.allclose(out, (x - mean) / np.sqrt(var + bn.eps))
    alone = bn.forward(x[:1])                       # a batch of one works in eval mode
    with_others = bn.forward(np.vstack([x[:1], 100 * rng.normal(size=(9, 3))]))[:1]
    assert np.array_equal(alone, with_others)
    assert np.array_equal(bn.running_mean, mean)    # eval never updates the estimates


def test_train_output_depends_on_batch(rng):
    bn = BatchNorm(3)
    x = rng.normal(size=(4, 3))
    a = bn.forward(x)[:1]
    b = bn.forward(np.vstack([x[:1], rng.normal(5.0, 1.0, size=(3, 3))]))[:1]
    assert not np.allclose(a, b)


def test_frozen_running_stats_flag(rng):
    bn = BatchNorm(3)
    bn.update_running_stats = False
    bn.forward(rng.normal(size=(5, 3)))
    assert np.array_equal(bn.running_mean, np.zeros(3)) and bn.num_batches_tracked == 0


def test_frozen_running_stats_block_freezes_every_layer_and_restores(rng):
    model = make_mlp((4, 3, 3, 2), batchnorm=True)
    model.batchnorms[1].update_running_stats = False         # a flag the block must restore
    x = rng.normal(size=(6, 4))
    with pytest.raises(RuntimeError, match="inside the block"):
        with frozen_running_stats(model):
            model.forward(x)
            raise RuntimeError("inside the block")
    assert [bn.num_batches_tracked for bn in model.batchnorms] == [0, 0]
    assert [bn.update_running_stats for bn in model.batchnorms] == [True, False]
    model.forward(x)
    assert [bn.num_batches_tracked for bn in model.batchnorms] == [1, 0]


def test_train_and_eval_return_self():
    bn = BatchNorm(2)
    assert bn.eval() is bn and not bn.training
    assert bn.train() is bn and bn.training


@pytest.mark.parametrize("shape", [(1, 3), (1, 3, 1, 1)])
def test_batch_of_one_in_training_raises_the_course_message(shape):
    assert "variance of one value is 0" in batch_of_one_message(shape)
    with pytest.raises(ValueError, match=f"^{re.escape(batch_of_one_message(shape))}$"):
        BatchNorm(3).forward(np.ones(shape))
    with pytest.raises(ValueError, match=f"^{re.escape(batch_of_one_message(shape))}$"):
        batchnorm_forward(np.ones(shape), np.ones(3), np.zeros(3))


def test_single_image_with_spatial_extent_is_fine(rng):
    out = BatchNorm(3, eps=1e-12).forward(rng.normal(size=(1, 3, 2, 2)))  # m = 4 per channel
    assert np.allclose(out.mean(axis=(0, 2, 3)), 0.0)
    assert np.allclose(out.var(axis=(0, 2, 3)), 1.0)


@pytest.mark.parametrize("x, match", [
    (np.ones((4, 5)), "expected 3 features on axis 1, got shape \\(4, 5\\)"),
    (np.ones(3), "expected x of shape \\(N, C\\).*got 1-D"),
])
def test_bad_input_shapes(x, match):
    with pytest.raises(ValueError, match=match):
        BatchNorm(3).forward(x)


@pytest.mark.parametrize("bad, shape, index", [
    (np.nan, (4, 3), (2, 1)), (np.inf, (4, 3), (0, 2)), (-np.inf, (2, 3, 2, 2), (1, 2, 0, 1)),
])
def test_training_mode_rejects_nan_and_inf_naming_the_first_bad_index(bad, shape, index):
    x = np.random.default_rng(0).normal(size=shape)
    x[index] = bad
    later = tuple(s - 1 for s in shape)                      # a second bad value, further on
    x[later] = np.nan
    bn = BatchNorm(3)
    with pytest.raises(NonFiniteError,
                       match=re.escape(f"batch norm's input x must be finite, got {bad} at index "
                                       f"{index} (2 of {x.size} values are nan or inf)")):
        bn.forward(x)
    assert isinstance(NonFiniteError(), ValueError)
    # nothing was learned from the bad batch, and eval mode still maps it (no check there)
    assert bn.num_batches_tracked == 0 and np.all(bn.running_var == 1)
    bn.eval()
    assert np.isnan(bn.forward(x)).any()


def test_bad_input_dtype():
    with pytest.raises(TypeError, match="real numeric array"):
        BatchNorm(2).forward(np.array([["a", "b"], ["c", "d"]]))


@pytest.mark.parametrize("kwargs, match", [
    ({"momentum": 1.5}, "momentum must be a number in \\[0, 1\\] or None, got 1.5"),
    ({"momentum": -0.1}, "momentum must be a number in \\[0, 1\\] or None, got -0.1"),
    ({"momentum": "0.1"}, "momentum must be a number in \\[0, 1\\] or None, got '0.1'"),
    ({"window": 0}, "window must be an integer >= 1, got 0"),
    ({"eps": 0.0}, "eps must be a positive number, got 0.0"),
    ({"eps": -1e-5}, "eps must be a positive number, got -1e-05"),
])
def test_bad_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BatchNorm(3, **kwargs)


@pytest.mark.parametrize("n, error, match", [
    (0, ValueError, "num_features must be an integer >= 1, got 0$"),
    (-2, ValueError, "num_features must be an integer >= 1, got -2$"),
    (2.0, TypeError, "num_features must be an integer, got float 2.0$"),
    (True, TypeError, "num_features must be an integer, got bool True$"),
    (None, TypeError, "num_features must be an integer, got NoneType None$")])
def test_bad_num_features(n, error, match):
    with pytest.raises(error, match=match):
        BatchNorm(n)


def test_bad_window_type():
    with pytest.raises(TypeError, match="window must be an integer, got float 2.5$"):
        BatchNorm(3, window=2.5)


def test_functional_rejects_mismatched_gamma_beta():
    match = r"gamma and beta must both have shape \(3,\), got \(3,\) and \(2,\)"
    with pytest.raises(ValueError, match=match):
        batchnorm_forward(np.ones((4, 3)), np.ones(3), np.ones(2))


# --- ghost batch norm (Hoffer et al. 2017): statistics per group inside one batch ---------------

@pytest.mark.parametrize("shape, ghost", [((8, 3), 2), ((12, 4), 4), ((6, 2, 3, 3), 3)])
def test_ghost_backward_matches_finite_differences(rng, shape, ghost):
    x = rng.normal(1.0, 2.0, size=shape)
    gamma, beta, dout = rng.normal(size=shape[1]), rng.normal(size=shape[1]), rng.normal(size=shape)
    errors = gradient_errors(lambda x, g, b: ghost_batchnorm_forward(x, g, b, ghost),
                             ghost_batchnorm_backward, x, gamma, beta, dout)
    assert max(errors.values()) < 1e-7, errors


def test_ghost_batches_are_normalized_alone_and_layer_matches_functional(rng):
    """Each group of g consecutive examples is batch norm of that group alone; the layer's
    forward and backward are the functional pair's; a ghost size equal to the batch is
    batch norm."""
    x, dout = rng.normal(2.0, 3.0, size=(12, 5)), rng.normal(size=(12, 5))
    gamma, beta = rng.normal(size=5), rng.normal(size=5)
    out, _ = ghost_batchnorm_forward(x, gamma, beta, 4)
    for k in range(3):
        np.testing.assert_allclose(out[4 * k:4 * k + 4],
                                   batchnorm_forward(x[4 * k:4 * k + 4], gamma, beta)[0])
    assert not np.allclose(out, batchnorm_forward(x, gamma, beta)[0])
    whole, _ = ghost_batchnorm_forward(x, gamma, beta, 12)
    np.testing.assert_array_equal(whole, batchnorm_forward(x, gamma, beta)[0])
    bn = BatchNorm(5, ghost_batch_size=4)
    bn.gamma[...], bn.beta[...] = gamma, beta
    np.testing.assert_array_equal(bn.forward(x), out)
    dx = bn.backward(dout)
    ref_dx, ref_dgamma, ref_dbeta = ghost_batchnorm_backward(
        dout, ghost_batchnorm_forward(x, gamma, beta, 4)[1])
    np.testing.assert_array_equal(dx, ref_dx)
    np.testing.assert_allclose(bn.dgamma, ref_dgamma)
    np.testing.assert_allclose(bn.dbeta, ref_dbeta)


def test_ghost_running_stats_average_the_groups_once_per_batch(rng):
    """Keras's rule: one update per batch with the mean of the groups' means and of their
    unbiased variances; eval mode is BatchNorm's."""
    x = rng.normal(3.0, 2.0, size=(12, 4))
    bn = BatchNorm(4, momentum=0.5, ghost_batch_size=3)
    bn.forward(x)
    groups = x.reshape(4, 3, 4)
    np.testing.assert_allclose(bn.running_mean, 0.5 * groups.mean(axis=1).mean(axis=0))
    np.testing.assert_allclose(bn.running_var,
                               0.5 + 0.5 * groups.var(axis=1, ddof=1).mean(axis=0))
    assert bn.num_batches_tracked == 1
    plain = BatchNorm(4, momentum=0.5)
    plain.running_mean, plain.running_var = bn.running_mean, bn.running_var
    np.testing.assert_array_equal(bn.eval().forward(x), plain.eval().forward(x))


@pytest.mark.parametrize("ghost, batch, error, match", [
    (4, 10, ValueError, r"ghost_batch_size=4 must divide the batch size, got a batch of 10"),
    (1, 4, ValueError, r"ghost_batch_size must be an integer >= 2, got 1"),
    (2.0, 4, TypeError, r"ghost_batch_size must be an integer, got float"),
])
def test_ghost_batch_size_errors(rng, ghost, batch, error, match):
    with pytest.raises(error, match=match):
        BatchNorm(3, ghost_batch_size=ghost).forward(rng.normal(size=(batch, 3)))
    with pytest.raises(error, match=match):
        ghost_batchnorm_forward(rng.normal(size=(batch, 3)), np.ones(3), np.zeros(3), ghost)


def test_make_mlp_reaches_ghost_batches_through_norm_kwargs():
    model = make_mlp((6, 5, 3), norm="batch", norm_kwargs={"ghost_batch_size": 2})
    assert model.batchnorms[0].ghost_batch_size == 2
    assert "ghost_batch_size=2" in repr(model.batchnorms[0])
