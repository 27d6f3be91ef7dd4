"""Layers, loss, whole networks and the optimizer against finite differences and by hand."""
import warnings

import numpy as np
import pytest

from helpers import (
    SGD,
    BatchNorm,
    Linear,
    ReLU,
    Sigmoid,
    Tanh,
    init_weights,
    make_mlp,
    numerical_gradient,
    rel_error,
    softmax,
    softmax_cross_entropy,
)


def test_rel_error_is_relative_and_checks_shapes():
    assert rel_error(np.ones(3), np.ones(3)) == 0.0
    assert rel_error(np.array([1.0]), np.array([1.0 + 1e-6])) == pytest.approx(5e-7, rel=1e-3)
    with pytest.raises(ValueError, match=r"one shape, got \(3,\) and \(4,\)"):
        rel_error(np.ones(3), np.ones(4))


def test_linear_gradients(rng):
    lin = Linear(5, 3, init="xavier", rng=rng)
    lin.params["b"][:] = rng.normal(size=3)
    x, dout = rng.normal(size=(4, 5)), rng.normal(size=(4, 3))
    lin.forward(x)
    dx = lin.backward(dout)
    f = lambda: lin.forward(x)   # noqa: E731
    assert rel_error(dx, numerical_gradient(f, x, dout)) < 1e-7
    for k in ("W", "b"):
        assert rel_error(lin.grads[k], numerical_gradient(f, lin.params[k], dout)) < 1e-7


@pytest.mark.parametrize("cls", [Sigmoid, Tanh, ReLU])
def test_activation_gradients(rng, cls):
    layer = cls()
    x = rng.normal(size=(6, 4)) * 3
    x[np.abs(x) < 1e-3] = 0.5            # keep ReLU's kink away from the finite difference
    dout = rng.normal(size=x.shape)
    layer.forward(x)
    dx = layer.backward(dout)
    assert rel_error(dx, numerical_gradient(lambda: layer.forward(x), x, dout)) < 1e-7


def test_sigmoid_is_stable_for_huge_inputs():
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # no overflow warning under numpy's defaults
        out = Sigmoid().forward(np.array([-1000.0, 0.0, 1000.0]))
    assert np.array_equal(out, [0.0, 0.5, 1.0])


def test_softmax_cross_entropy_value_and_gradient(rng):
    logits, y = rng.normal(size=(5, 4)), np.array([0, 3, 1, 1, 2])
    loss, dlogits = softmax_cross_entropy(logits, y)
    p = softmax(logits)
    assert loss == pytest.approx(-np.mean(np.log(p[np.arange(5), y])))
    num = numerical_gradient(lambda: softmax_cross_entropy(logits, y)[0], logits)
    assert rel_error(dlogits, num) < 1e-7
    big = logits * 1e4                       # exp(big) overflows: the loss must not
    loss_big, _ = softmax_cross_entropy(big, y)
    assert loss_big == pytest.approx(np.mean(big.max(axis=1) - big[np.arange(5), y]))


def test_softmax_cross_entropy_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"expected logits \(N, K\) and labels \(N,\), "
                                         r"got \(3, 2\) and \(4,\)"):
        softmax_cross_entropy(np.ones((3, 2)), np.zeros(4, dtype=int))


@pytest.mark.parametrize("batchnorm", [False, True])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_whole_mlp_gradients(rng, batchnorm, activation):
    model = make_mlp((6, 5, 4, 3), activation=activation, batchnorm=batchnorm, init="xavier",
                     seed=3, input_grad=True)
    for bn in model.batchnorms:          # non-trivial gamma/beta so their gradients are tested
        bn.gamma[:] = rng.uniform(0.5, 1.5, size=bn.gamma.shape)
        bn.beta[:] = rng.normal(size=bn.beta.shape)
    x, y = rng.normal(size=(7, 6)), rng.integers(0, 3, size=7)

    def loss():
        return softmax_cross_entropy(model.forward(x), y)[0]

    _, dlogits = softmax_cross_entropy(model.forward(x), y)
    dx = model.backward(dlogits)
    assert rel_error(dx, numerical_gradient(loss, x)) < 1e-7
    for name, p, g in model.parameters():
        assert rel_error(g, numerical_gradient(loss, p)) < 1e-7, name


def test_linear_without_input_gradient_returns_none_and_the_same_parameter_gradients(rng):
    with_dx = Linear(5, 3, init="xavier", rng=np.random.default_rng(0))
    without = Linear(5, 3, init="xavier", rng=np.random.default_rng(0), input_grad=False)
    x, dout = rng.normal(size=(4, 5)), rng.normal(size=(4, 3))
    with_dx.forward(x)
    without.forward(x)
    assert with_dx.backward(dout).shape == x.shape
    assert without.backward(dout) is None
    for k in ("W", "b"):
        assert np.array_equal(with_dx.grads[k], without.grads[k]), k


@pytest.mark.parametrize("sizes", [(6, 5, 4, 3), (6, 3)])
@pytest.mark.parametrize("batchnorm", [False, True])
def test_make_mlp_skips_only_the_input_gradient(rng, sizes, batchnorm):
    """make_mlp's first Linear computes no d loss / d input (the input is data); every other
    Linear does, and the parameter gradients are those of input_grad=True, bit for bit."""
    model = make_mlp(sizes, batchnorm=batchnorm, init="xavier", seed=3)
    full = make_mlp(sizes, batchnorm=batchnorm, init="xavier", seed=3, input_grad=True)
    assert [lin.input_grad for lin in model.linears] == [False] + [True] * (len(sizes) - 2)
    assert all(lin.input_grad for lin in full.linears)
    x, y = rng.normal(size=(7, 6)), rng.integers(0, 3, size=7)
    logits = model.forward(x)
    assert np.array_equal(logits, full.forward(x))            # the same network
    _, dlogits = softmax_cross_entropy(logits, y)
    assert model.backward(dlogits) is None
    assert full.backward(dlogits).shape == x.shape
    for (name, _, g), (_, _, g_full) in zip(model.parameters(), full.parameters()):
        assert np.array_equal(g, g_full), name


def test_activations_do_not_share_parameter_dicts():
    a, b = Sigmoid(), Sigmoid()
    assert a.params == {} and a.grads == {}
    a.params["w"] = np.ones(1)
    assert b.params == {} and ReLU().params == {}
    assert a.grads is not b.grads


def test_make_mlp_structure():
    plain = make_mlp(seed=0)
    assert [type(layer).__name__ for layer in plain.layers] == \
        ["Linear", "Sigmoid"] * 3 + ["Linear"]
    bn = make_mlp(batchnorm=True, momentum=0.2, window=None, seed=0)
    names = [type(layer).__name__ for layer in bn.layers]
    assert names == ["Linear", "BatchNorm", "Sigmoid"] * 3 + ["Linear"]
    assert all("b" not in lin.params for lin in bn.linears[:3])   # beta replaces the bias
    assert all(isinstance(b, BatchNorm) and b.momentum == 0.2 for b in bn.batchnorms)
    assert np.array_equal(make_mlp(seed=5).linears[0].params["W"],
                          make_mlp(seed=5).linears[0].params["W"])
    assert not np.array_equal(make_mlp(seed=5).linears[0].params["W"],
                              make_mlp(seed=6).linears[0].params["W"])


def test_model_train_eval_switches_batchnorm():
    model = make_mlp((4, 3, 2), batchnorm=True)
    assert model.eval() is model and not model.batchnorms[0].training
    assert model.train() is model and model.batchnorms[0].training


def test_init_scales(rng):
    assert init_weights(400, 100, "small", rng).std() == pytest.approx(0.01, rel=0.05)
    assert init_weights(400, 100, "xavier", rng).std() == pytest.approx(np.sqrt(2 / 500), rel=0.05)
    assert init_weights(400, 100, "he", rng).std() == pytest.approx(np.sqrt(2 / 400), rel=0.05)
    assert init_weights(400, 100, "small", rng, scale=1.0).std() == pytest.approx(1.0, rel=0.05)


@pytest.mark.parametrize("kwargs, match", [
    ({"init": "uniform"}, r"init must be one of \('small', 'xavier', 'he'\), got 'uniform'"),
    ({"scale": -1.0}, "scale must be a positive number, got -1.0"),
])
def test_init_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        init_weights(3, 2, **kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"activation": "gelu"}, r"activation must be one of \('sigmoid', 'tanh', 'relu'\), "
                             r"got 'gelu'"),
    ({"sizes": (784,)}, r"sizes must be 2 or more positive ints .* got \(784,\)"),
    ({"sizes": (784, 0, 10)}, r"sizes must be 2 or more positive ints .* got \(784, 0, 10\)"),
])
def test_make_mlp_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_mlp(**kwargs)


def test_linear_rejects_wrong_width():
    with pytest.raises(ValueError, match="expected x of shape \\(N, 5\\), got \\(2, 4\\)"):
        Linear(5, 3).forward(np.ones((2, 4)))


def test_sgd_plain_and_heavy_ball():
    p, g = np.array([1.0, -2.0]), np.array([0.5, 1.0])
    SGD([("p", p, g)], lr=0.1).step()
    assert np.allclose(p, [0.95, -2.1])
    p = np.array([0.0])
    g = np.array([1.0])
    opt = SGD([("p", p, g)], lr=1.0, momentum=0.9)
    opt.step()
    opt.step()                                    # v = 1, then 0.9*1 + 1 = 1.9
    assert np.allclose(p, [-2.9])


@pytest.mark.parametrize("kwargs, match", [
    ({"lr": 0}, "lr must be a positive number, got 0"),
    ({"lr": 0.1, "momentum": 1.0}, "momentum must be a number in \\[0, 1\\), got 1.0"),
])
def test_sgd_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SGD([], **kwargs)
