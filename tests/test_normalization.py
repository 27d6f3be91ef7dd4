"""Layer norm, group norm and batch renormalization (helpers/normalization.py): the formulas
(PyTorch's F.layer_norm / F.group_norm semantics, written out), finite differences for every
backward pass on 2-D and 4-D inputs, batch renorm's relation to batch norm and to eval mode,
its schedule, the layers in a network (train/eval, frozen running statistics), make_mlp's
norm= option, and the errors."""
import numpy as np
import pytest

from helpers import (
    BatchNorm,
    BatchRenorm,
    GroupNorm,
    LayerNorm,
    batchnorm_backward,
    batchnorm_forward,
    batchrenorm_backward,
    batchrenorm_forward,
    frozen_running_stats,
    groupnorm_backward,
    groupnorm_forward,
    layernorm_backward,
    layernorm_forward,
    make_mlp,
    numerical_gradient,
    rel_error,
    softmax_cross_entropy,
)
from helpers.gradcheck import gradient_errors
from helpers.normalization import make_norm, renorm_limits

EPS = 1e-5


def errors_of(forward, backward, x, gamma, beta, dout):
    """The engine's finite-difference check: the relative errors of dx, dgamma, dbeta."""
    return list(gradient_errors(forward, backward, x, gamma, beta, dout).values())


def inputs(rng, shape):
    c = shape[1]
    return (3.0 * rng.normal(size=shape) + 1.0, rng.normal(size=c), rng.normal(size=c),
            rng.normal(size=shape))


# --- layer norm ---------------------------------------------------------------------------------

def test_layernorm_is_the_formula_per_example(rng):
    x, gamma, beta, _ = inputs(rng, (5, 7))
    out, _ = layernorm_forward(x, gamma, beta)
    for i in range(5):                     # F.layer_norm(x, (D,), gamma, beta, eps), by hand
        mu, var = x[i].mean(), ((x[i] - x[i].mean()) ** 2).mean()     # biased variance
        np.testing.assert_allclose(out[i], gamma * (x[i] - mu) / np.sqrt(var + EPS) + beta,
                                   rtol=1e-12)


def test_layernorm_output_of_an_example_does_not_depend_on_the_batch(rng):
    x, gamma, beta, _ = inputs(rng, (6, 5))
    alone, _ = layernorm_forward(x[2:3], gamma, beta)
    together, _ = layernorm_forward(x, gamma, beta)
    np.testing.assert_array_equal(alone[0], together[2])


def test_layernorm_backward_matches_finite_differences(rng):
    assert max(errors_of(layernorm_forward, layernorm_backward, *inputs(rng, (4, 9)))) < 1e-7


# --- group norm ---------------------------------------------------------------------------------

def test_groupnorm_is_the_formula_per_example_and_group(rng):
    x, gamma, beta, _ = inputs(rng, (3, 6, 2, 4))
    out, cache = groupnorm_forward(x, gamma, beta, num_groups=3)
    assert cache["mu"].shape == (3, 3, 1)
    for n in range(3):
        for g in range(3):
            group = x[n, 2 * g:2 * g + 2]                       # 2 channels x 2 x 4 values
            x_hat = (group - group.mean()) / np.sqrt(group.var() + EPS)
            channels = slice(2 * g, 2 * g + 2)
            expected = gamma[channels, None, None] * x_hat + beta[channels, None, None]
            np.testing.assert_allclose(out[n, channels], expected, rtol=1e-12)


def test_groupnorm_with_one_group_normalizes_like_layernorm_over_c_h_w(rng):
    x = rng.normal(size=(3, 4, 2, 2)) * 2 + 5
    out, _ = groupnorm_forward(x, np.ones(4), np.zeros(4), num_groups=1)
    ln, _ = layernorm_forward(x.reshape(3, -1), np.ones(16), np.zeros(16))
    np.testing.assert_allclose(out, ln.reshape(x.shape), rtol=1e-12, atol=1e-14)


def test_groupnorm_with_c_groups_is_instance_norm(rng):
    x = rng.normal(size=(2, 3, 4, 4)) * 3 - 1
    out, _ = groupnorm_forward(x, np.ones(3), np.zeros(3), num_groups=3)
    mu, var = x.mean(axis=(2, 3), keepdims=True), x.var(axis=(2, 3), keepdims=True)
    np.testing.assert_allclose(out, (x - mu) / np.sqrt(var + EPS), rtol=1e-12, atol=1e-14)


def test_groupnorm_scales_and_shifts_per_channel(rng):
    x = rng.normal(size=(4, 6))
    base, _ = groupnorm_forward(x, np.ones(6), np.zeros(6), num_groups=2)
    gamma, beta = np.arange(1.0, 7.0), -np.arange(6.0)
    out, _ = groupnorm_forward(x, gamma, beta, num_groups=2)
    np.testing.assert_allclose(out, gamma * base + beta, rtol=1e-12)


@pytest.mark.parametrize("shape, num_groups", [((4, 12), 1), ((4, 12), 3), ((3, 6, 3, 3), 2),
                                               ((3, 6, 3, 3), 6), ((2, 4, 5), 1)])
def test_groupnorm_backward_matches_finite_differences(rng, shape, num_groups):
    def forward(x, gamma, beta):
        return groupnorm_forward(x, gamma, beta, num_groups)
    assert max(errors_of(forward, groupnorm_backward, *inputs(rng, shape))) < 1e-7


# --- errors -------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(5,), (2, 3, 4)])
def test_layernorm_rejects_a_shape_other_than_n_by_d(shape):
    x = np.ones(shape)
    with pytest.raises(ValueError, match=r"layer norm expected x .*got"):
        layernorm_forward(x, np.ones(shape[-1]), np.zeros(shape[-1]))


def test_gamma_and_beta_must_match_the_features():
    with pytest.raises(ValueError, match=r"gamma and beta must both have shape \(4,\), got \(3,\)"):
        layernorm_forward(np.ones((2, 4)), np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match=r"group norm: gamma and beta must both have shape \(6,\)"):
        groupnorm_forward(np.ones((2, 6, 2, 2)), np.ones(6), np.zeros(4), num_groups=2)


@pytest.mark.parametrize("num_groups", [4, 7])
def test_num_groups_must_divide_the_channels(num_groups):
    with pytest.raises(ValueError, match=rf"divides the C=6 channels, got {num_groups!r}"):
        groupnorm_forward(np.ones((2, 6)), np.ones(6), np.zeros(6), num_groups=num_groups)
    with pytest.raises(ValueError, match=r"divides num_features=6"):
        GroupNorm(6, num_groups=num_groups)


@pytest.mark.parametrize("num_groups, error, match", [
    (0, ValueError, "num_groups must be an integer >= 1, got 0"),
    (1.5, TypeError, "num_groups must be an integer, got float 1.5"),
    (True, TypeError, "num_groups must be an integer, got bool True"),
    (None, TypeError, "num_groups must be an integer, got NoneType None")])
def test_num_groups_must_be_a_positive_integer(num_groups, error, match):
    with pytest.raises(error, match=match):
        groupnorm_forward(np.ones((2, 6)), np.ones(6), np.zeros(6), num_groups=num_groups)
    with pytest.raises(error, match=match):
        GroupNorm(6, num_groups=num_groups)


def test_groupnorm_needs_a_channel_axis():
    with pytest.raises(ValueError, match=r"at least 2 axes \(N, C, ...\), got 1-D shape \(6,\)"):
        groupnorm_forward(np.ones(6), np.ones(6), np.zeros(6), num_groups=2)


@pytest.mark.parametrize("eps", [0, -1e-5, np.inf, np.nan, True, "1e-5"])
def test_eps_must_be_a_positive_finite_number(eps):
    with pytest.raises(ValueError, match=r"eps must be a positive finite number, got"):
        layernorm_forward(np.ones((2, 3)), np.ones(3), np.zeros(3), eps=eps)
    with pytest.raises(ValueError, match=r"eps must be a positive finite number"):
        groupnorm_forward(np.ones((2, 4)), np.ones(4), np.zeros(4), 2, eps=eps)
    with pytest.raises(ValueError, match=r"eps must be a positive finite number"):
        LayerNorm(3, eps=eps)


def test_a_non_numeric_array_is_a_type_error():
    with pytest.raises(TypeError, match=r"layer norm expected a real numeric array, got dtype"):
        layernorm_forward(np.array([["a", "b"]]), np.ones(2), np.zeros(2))


# --- the layers ---------------------------------------------------------------------------------

@pytest.mark.parametrize("make, shape", [(lambda: LayerNorm(5), (4, 5)),
                                         (lambda: GroupNorm(6, num_groups=3), (2, 6, 3, 3))])
def test_per_example_layers_match_their_functions_and_keep_grads(rng, make, shape):
    layer = make()
    layer.gamma[:], layer.beta[:] = rng.normal(size=shape[1]), rng.normal(size=shape[1])
    x, dout = rng.normal(size=shape), rng.normal(size=shape)
    out = layer.forward(x)
    dx = layer.backward(dout)
    expected, cache = layer._forward(x)
    np.testing.assert_array_equal(out, expected)
    ref = layer._backward(dout, cache)
    np.testing.assert_array_equal(dx, ref[0])
    np.testing.assert_array_equal(layer.grads["gamma"], ref[1])
    np.testing.assert_array_equal(layer.grads["beta"], ref[2])
    assert layer.params["gamma"] is layer.gamma          # optimizers update in place


def test_backward_before_forward_is_an_error():
    with pytest.raises(RuntimeError, match="LayerNorm.backward called before forward"):
        LayerNorm(3).backward(np.ones((2, 3)))


# --- batch renormalization ----------------------------------------------------------------------

def renorm_inputs(rng, shape):
    x, gamma, beta, dout = inputs(rng, shape)
    c = shape[1]
    return x, gamma, beta, rng.normal(size=c), rng.uniform(0.5, 4.0, size=c), dout


@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 2, 2)])
def test_renorm_with_r_max_1_and_d_max_0_is_batch_norm_bit_for_bit(rng, shape):
    x, gamma, beta, mean, var, dout = renorm_inputs(rng, shape)
    out, cache = batchrenorm_forward(x, gamma, beta, mean, var, r_max=1.0, d_max=0.0)
    bn_out, bn_cache = batchnorm_forward(x, gamma, beta)
    np.testing.assert_array_equal(out, bn_out)
    for a, b in zip(batchrenorm_backward(dout, cache), batchnorm_backward(dout, bn_cache)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 2, 2)])
def test_unclipped_renorm_in_training_mode_computes_the_eval_mode_output(rng, shape):
    x, gamma, beta, mean, var, _ = renorm_inputs(rng, shape)
    out, _ = batchrenorm_forward(x, gamma, beta, mean, var, r_max=1e6, d_max=1e6)
    s = (1, shape[1]) + (1,) * (len(shape) - 2)
    expected = gamma.reshape(s) * (x - mean.reshape(s)) / np.sqrt(var.reshape(s) + EPS) \
        + beta.reshape(s)
    np.testing.assert_allclose(out, expected, rtol=1e-10, atol=1e-12)


def test_r_and_d_are_the_clipped_ratios(rng):
    x, gamma, beta, mean, var, _ = renorm_inputs(rng, (8, 5))
    _, cache = batchrenorm_forward(x, gamma, beta, mean, var, r_max=1.5, d_max=0.5)
    sigma = np.sqrt(var + EPS)
    r = np.sqrt(x.var(axis=0) + EPS) / sigma
    d = (x.mean(axis=0) - mean) / sigma
    np.testing.assert_allclose(cache["r"], np.clip(r, 1 / 1.5, 1.5), rtol=1e-12)
    np.testing.assert_allclose(cache["d"], np.clip(d, -0.5, 0.5), rtol=1e-12)
    assert np.any(np.abs(d) > 0.5) and np.any(cache["r"] != r)   # the clipping was exercised


@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 2, 2)])
def test_renorm_backward_holds_r_and_d_constant(rng, shape):
    x, gamma, beta, mean, var, dout = renorm_inputs(rng, shape)
    _, cache = batchrenorm_forward(x, gamma, beta, mean, var, r_max=1e6, d_max=1e6)
    s = cache["std"].shape

    def fixed(x, gamma, beta):                  # r and d frozen at this batch's values
        _, c = batchnorm_forward(x, np.ones_like(gamma), np.zeros_like(gamma))
        y = c["x_hat"] * cache["r"].reshape(s) + cache["d"].reshape(s)
        return gamma.reshape(s) * y + beta.reshape(s), None

    errors = errors_of(fixed, lambda dout, _: batchrenorm_backward(dout, cache),
                             x, gamma, beta, dout)
    assert max(errors) < 1e-7
    moving = numerical_gradient(lambda: batchrenorm_forward(x, gamma, beta, mean, var, 1e6,
                                                            1e6)[0], x, dout)
    assert rel_error(batchrenorm_backward(dout, cache)[0], moving) > 1e-3   # not the full one


def test_renorm_backward_is_exact_where_r_and_d_sit_at_their_limits(rng):
    x, gamma, beta, _, _, dout = renorm_inputs(rng, (6, 4))
    mean, var = np.full(4, 50.0), np.full(4, 100.0)   # far off: r < 1/r_max, d < -d_max
    _, cache = batchrenorm_forward(x, gamma, beta, mean, var, r_max=2.0, d_max=1.0)
    assert np.allclose(cache["r"], 0.5) and np.allclose(cache["d"], -1.0)

    def forward(x, gamma, beta):
        return batchrenorm_forward(x, gamma, beta, mean, var, r_max=2.0, d_max=1.0)

    assert max(errors_of(forward, batchrenorm_backward, x, gamma, beta, dout)) < 1e-7


def test_renorm_limits_follow_the_papers_proportions():
    # the paper: batch norm until 5k steps, d_max 5 at 25k, r_max 3 at 40k
    assert renorm_limits(0, 40_000) == (1.0, 0.0)
    assert renorm_limits(5_000, 40_000) == (1.0, 0.0)
    assert renorm_limits(25_000, 40_000)[1] == pytest.approx(5.0)
    assert renorm_limits(25_000, 40_000)[0] == pytest.approx(1 + 2 * 20 / 35)
    assert renorm_limits(40_000, 40_000) == pytest.approx((3.0, 5.0))
    assert renorm_limits(10 ** 6, 40_000) == pytest.approx((3.0, 5.0))
    assert renorm_limits(0, None, 2.0, 1.0) == (2.0, 1.0)


def test_renorm_layer_relaxes_with_the_batches_it_trained_on(rng):
    layer = BatchRenorm(3, relax_steps=16)
    assert layer.limits() == (1.0, 0.0)
    for _ in range(16):
        layer.forward(rng.normal(size=(4, 3)))
    assert layer.limits() == pytest.approx((3.0, 5.0))
    with frozen_running_stats(make_mlp((4, 3, 2), norm="renorm")) as model:
        model.forward(rng.normal(size=(4, 4)))
        assert model.batchnorms[0].num_batches_tracked == 0     # probe passes do not count


def test_renorm_layer_keeps_batchnorms_running_statistics_and_eval_mode(rng):
    renorm, bn = BatchRenorm(4, momentum=0.3), BatchNorm(4, momentum=0.3)
    for _ in range(5):
        x = 2.0 * rng.normal(size=(6, 4)) + 3.0
        renorm.forward(x)
        bn.forward(x)
    np.testing.assert_array_equal(renorm.running_mean, bn.running_mean)
    np.testing.assert_array_equal(renorm.running_var, bn.running_var)   # unbiased, as BatchNorm
    x = rng.normal(size=(3, 4))
    renorm.eval()
    bn.eval()
    np.testing.assert_array_equal(renorm.forward(x), bn.forward(x))


def test_renorm_layer_backward_is_the_functional_one_in_training_mode(rng):
    layer = BatchRenorm(4, relax_steps=None)
    layer.running_mean[:], layer.running_var[:] = rng.normal(size=4), rng.uniform(1, 2, size=4)
    mean, var = layer.running_mean.copy(), layer.running_var.copy()
    x, dout = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    out = layer.forward(x)
    expected, cache = batchrenorm_forward(x, layer.gamma, layer.beta, mean, var)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(layer.r, cache["r"])
    dx = layer.backward(dout)
    ref = batchrenorm_backward(dout, cache)
    np.testing.assert_array_equal(dx, ref[0])
    np.testing.assert_array_equal(layer.dgamma, ref[1])


@pytest.mark.parametrize("kwargs, message", [
    (dict(r_max=0.5), "r_max must be a number >= 1"), (dict(d_max=-1.0), "d_max a number >= 0"),
    (dict(relax_steps=0), "relax_steps must be an integer >= 1, got 0")])
def test_renorm_rejects_bad_limits(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BatchRenorm(3, **kwargs)


def test_renorm_forward_rejects_running_statistics_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"running_mean, running_var.*\(3,\), got \(2,\)"):
        batchrenorm_forward(np.ones((4, 3)), np.ones(3), np.zeros(3), np.zeros(2), np.ones(2))


# --- in a network -------------------------------------------------------------------------------

@pytest.mark.parametrize("norm, layer_type, bias", [
    ("batch", BatchNorm, False), ("renorm", BatchRenorm, False), ("layer", LayerNorm, True),
    ("group", GroupNorm, True)])
def test_make_mlp_puts_each_norm_where_batch_norm_goes(norm, layer_type, bias):
    model = make_mlp((8, 6, 6, 3), norm=norm, norm_kwargs={"num_groups": 2} if norm == "group"
                     else None)
    assert [type(layer) for layer in model.layers[1::3]] == [layer_type, layer_type]
    assert all(("b" in lin.params) == bias for lin in model.linears[:-1])   # hidden Linears
    assert "b" in model.linears[-1].params


def test_batchnorm_flag_still_builds_the_same_network():
    a, b = make_mlp(batchnorm=True, seed=3), make_mlp(norm="batch", seed=3)
    assert repr(a) == repr(b)
    for (_, p, _), (_, q, _) in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p, q)


def test_train_eval_and_frozen_statistics_cover_batch_renorm(rng):
    model = make_mlp((5, 4, 3), norm="renorm")
    layer = model.batchnorms[0]
    assert isinstance(layer, BatchRenorm)
    model.eval()
    assert not layer.training
    model.train()
    before = layer.running_mean.copy()
    with frozen_running_stats(model):
        model.forward(rng.normal(size=(6, 5)) + 2)
    np.testing.assert_array_equal(layer.running_mean, before)
    model.forward(rng.normal(size=(6, 5)) + 2)
    assert not np.array_equal(layer.running_mean, before)


@pytest.mark.parametrize("norm", ["layer", "group"])
def test_a_whole_network_with_per_example_norms_has_the_right_gradient(rng, norm):
    model = make_mlp((6, 8, 8, 3), norm=norm, init="xavier", seed=1, input_grad=True,
                     norm_kwargs={"num_groups": 2} if norm == "group" else None)
    X, y = rng.normal(size=(5, 6)), np.array([0, 1, 2, 1, 0])
    _, dlogits = softmax_cross_entropy(model.forward(X), y)
    model.backward(dlogits)
    for name, param, grad in model.parameters():
        numeric = numerical_gradient(lambda: softmax_cross_entropy(model.forward(X), y)[0], param)
        assert rel_error(grad, numeric) < 1e-7, name


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(norm="instance"), ValueError, r"norm must be one of \('batch', 'layer', 'group', "
                                        r"'renorm'\) or None, got 'instance'"),
    (dict(norm="layer", batchnorm=True), ValueError, r"batchnorm=True asks for batch norm, "
                                                     r"norm='layer'"),
    (dict(norm="group"), ValueError, r"group norm needs num_groups"),
    (dict(norm="layer", norm_kwargs={"window": 3}), TypeError, r"window")])
def test_make_mlp_rejects_an_unknown_or_contradictory_norm(kwargs, error, message):
    with pytest.raises(error, match=message):
        make_mlp((4, 3, 2), **kwargs)


def test_make_norm_names_the_choices():
    with pytest.raises(ValueError, match=r"norm must be one of .* got 'weight'"):
        make_norm("weight", 3)


def test_renorm_with_ghost_batches_corrects_each_group_from_the_same_running_stats(rng):
    """Each group of g examples is `batchrenorm_forward` of that group alone, with the running
    statistics as they were before the batch; r, d are (N/g, C); backward is each group's."""
    x, dout = rng.normal(1.0, 2.0, size=(8, 3)), rng.normal(size=(8, 3))
    layer = BatchRenorm(3, momentum=0.5, ghost_batch_size=4)
    layer.running_mean[...], layer.running_var[...] = rng.normal(size=3), rng.uniform(1, 2, 3)
    before = layer.running_mean.copy(), layer.running_var.copy()
    out = layer.forward(x)
    dx = layer.backward(dout)
    assert layer.r.shape == layer.d.shape == (2, 3)
    for k in range(2):
        part = slice(4 * k, 4 * k + 4)
        ref, cache = batchrenorm_forward(x[part], layer.gamma, layer.beta, *before)
        np.testing.assert_array_equal(out[part], ref)
        np.testing.assert_array_equal(layer.r[k], cache["r"])
        np.testing.assert_allclose(dx[part], batchrenorm_backward(dout[part], cache)[0])
    with pytest.raises(ValueError, match="ghost_batch_size=4 must divide the batch size"):
        layer.forward(x[:6])
