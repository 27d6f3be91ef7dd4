"""Checks for the lesson 3 exercises: batch norm's forward pass (Algorithm 1), its compact
backward pass, and batch norm for images (statistics per channel over N, H and W).

Every check compares with the engine (`helpers.batchnorm_forward`, `batchnorm_backward`); the
backward reference is itself confirmed by finite differences (`helpers.numerical_gradient`).
"""
import numpy as np

from ..batchnorm import batchnorm_backward as engine_backward
from ..batchnorm import batchnorm_forward as engine_forward
from ..gradcheck import numerical_gradient, rel_error
from .core import Case, Mistake, out_of_pair, run_check, std_mistakes

LARGE_OFFSET = "large offset (values near 1e6)"


def _data(seed, shape, loc=0.0, scale=1.0, eps=1e-5):
    """x of `shape` (N, C, ...) around `loc` with spread `scale` (per channel if given as
    arrays shaped to broadcast), and gamma, beta (C,) for it."""
    rng = np.random.default_rng(seed)
    x = rng.normal(loc, scale, size=shape)
    c = shape[1]
    return x, rng.normal(1.0, 0.5, size=c), rng.normal(0.0, 1.0, size=c), eps


def _normalize(x, gamma, beta, eps, axes=(0,), ddof=0, std=lambda var, eps: np.sqrt(var + eps)):
    """gamma * (x - mean) / std(var, eps) + beta, statistics over `axes`; gamma and beta (C,)
    broadcast along axis 1. The signatures of the forward mistakes are variants of this."""
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, ddof=ddof, keepdims=True)
    return gamma.reshape(shape) * (x - mu) / std(var, eps) + beta.reshape(shape)


def _forward_cases():
    return [
        Case("(N, D) = (8, 5)", _data(0, (8, 5), 3.0, 2.0)),
        Case("features on very different scales",
             _data(1, (4, 3), [50.0, 0.0, -3.0], [10.0, 0.01, 1.0])),
        Case("batch of 2", _data(2, (2, 4))),
        Case(LARGE_OFFSET, _data(3, (16, 3), 1e6, 1.0)),
        Case("odd eps = 0.3", _data(4, (6, 4), 0.0, 0.5, eps=0.3)),
    ]


def _variant(**kw):
    """The outputs of a forward pass with one thing changed (see `_normalize`)."""
    return lambda x, gamma, beta, eps: (_normalize(x, gamma, beta, eps, **kw),)


FORWARD_MISTAKES = [
    Mistake("unbiased variance in the normalisation",
            "Algorithm 1 divides by m, not m - 1: use x.var(axis=0) (ddof=0). The unbiased "
            "m/(m-1) belongs only in running_var (lesson 4)", _variant(ddof=1)),
    *std_mistakes(lambda std: _variant(std=std)),
    Mistake("statistics per example (axis=1)",
            "batch norm takes each feature's mean and variance over the batch, axis=0 (one "
            "value per column); axis=1 normalises each example (that is layer norm)",
            _variant(axes=(1,))),
    Mistake("one mean and variance for the whole batch",
            "take them per feature: x.mean(axis=0) and x.var(axis=0) have shape (D,)",
            _variant(axes=(0, 1))),
    Mistake("gamma and beta swapped", "scale by gamma, then shift by beta: "
            "out = gamma * x_hat + beta",
            lambda x, gamma, beta, eps: (_normalize(x, beta, gamma, eps),)),
    Mistake("scale and shift missing", "step 4 of Algorithm 1: out = gamma * x_hat + beta",
            lambda x, gamma, beta, eps: (_normalize(x, np.ones_like(gamma),
                                                    np.zeros_like(beta), eps),)),
    Mistake("variance computed as mean(x**2) - mean(x)**2",
            f"that formula loses its digits when the values are far from 0 (case "
            f"'{LARGE_OFFSET}'): compute var = mean((x - mu)**2)",
            failing=lambda labels: labels == {LARGE_OFFSET}),
]


def batchnorm_forward(fn):
    """Check fn(x, gamma, beta, eps) -> (out, cache) for x (N, D), gamma and beta (D,): out
    (N, D) must be Algorithm 1 of the paper (biased batch variance, eps inside the root)."""
    run_check("batchnorm_forward", fn, _forward_cases(),
              lambda x, gamma, beta, eps: (engine_forward(x, gamma, beta, eps)[0],),
              names=("out",), mistakes=FORWARD_MISTAKES, against="helpers.batchnorm_forward",
              get=lambda f, case: out_of_pair("batchnorm_forward", f, case))


def _backward_case(label, seed, shape, loc=0.0, scale=1.0, eps=1e-5):
    x, gamma, beta, eps = _data(seed, shape, loc, scale, eps)
    dout = np.random.default_rng(seed + 100).normal(size=shape)
    return Case(label, (dout, engine_forward(x, gamma, beta, eps)[1]))


def _backward_reference(dout, cache):
    """The engine's backward pass, after confirming it against finite differences."""
    grads = engine_backward(dout, cache)
    x = cache["xc"] + cache["mu"]
    gamma, beta = cache["gamma"].ravel().copy(), np.zeros(x.shape[1])

    def forward():
        return engine_forward(x, gamma, beta, cache["eps"])[0]
    numeric = [numerical_gradient(forward, p, dout) for p in (x, gamma, beta)]
    errors = [rel_error(a, n) for a, n in zip(grads, numeric)]
    if max(errors) > 1e-5:                     # a broken course, not a student's mistake
        raise RuntimeError(f"helpers.batchnorm_backward disagrees with finite differences: "
                           f"relative errors {errors}")
    return grads


def _backward_variant(mean_path=True, var_path=True, with_gamma=True, per_m=True,
                      summed=True):
    """The outputs (dx, dgamma, dbeta) of a backward pass with one part left out or wrong."""
    def grads(dout, cache):
        x_hat, std = cache["x_hat"], cache["std"]
        m = x_hat.shape[0]
        g = dout * cache["gamma"] if with_gamma else dout           # d loss / d x_hat
        dx = m * g - mean_path * g.sum(axis=0) - var_path * x_hat * (g * x_hat).sum(axis=0)
        dx = dx / (m * std) if per_m else dx / std
        dgamma, dbeta = dout * x_hat, dout
        return (dx, dgamma.sum(axis=0), dbeta.sum(axis=0)) if summed else (dx, dgamma, dbeta)
    return grads


def _swap_last_two(grads):
    dx, dgamma, dbeta = grads
    return dx, dbeta, dgamma


BACKWARD_MISTAKES = [
    Mistake("the batch mean and variance treated as constants",
            "dx = dout * gamma / std is the gradient of a layer whose mean and variance were "
            "fixed numbers; they depend on x, so dx needs the two sums: "
            "(m * dx_hat - sum(dx_hat) - x_hat * sum(dx_hat * x_hat)) / (m * std)",
            _backward_variant(mean_path=False, var_path=False)),
    Mistake("the path through the batch mean is missing",
            "subtract sum(dx_hat) over the batch (axis 0): the mean depends on every x_i",
            _backward_variant(mean_path=False)),
    Mistake("the path through the batch variance is missing",
            "subtract x_hat * sum(dx_hat * x_hat) over the batch (axis 0): the variance "
            "depends on every x_i", _backward_variant(var_path=False)),
    Mistake("gamma missing from dx", "the gradient reaching x_hat is dx_hat = dout * gamma",
            _backward_variant(with_gamma=False)),
    Mistake("the 1/m is missing", "divide by m * std: dx = (m * dx_hat - ...) / (m * std)",
            _backward_variant(per_m=False)),
    Mistake("dgamma and dbeta not summed over the batch",
            "gamma and beta are shared by all m examples: dgamma = (dout * x_hat).sum(axis=0) "
            "and dbeta = dout.sum(axis=0), shape (D,)", _backward_variant(summed=False)),
    Mistake("dgamma and dbeta swapped", "out = gamma * x_hat + beta, so dgamma = "
            "sum(dout * x_hat) and dbeta = sum(dout)",
            lambda dout, cache: _swap_last_two(engine_backward(dout, cache))),
]


def batchnorm_backward(fn):
    """Check fn(dout, cache) -> (dx, dgamma, dbeta): dout and dx (N, D), dgamma and dbeta (D,);
    cache: the dict of `helpers.batchnorm_forward` (x_hat (N, D), std (1, D), gamma (1, D))."""
    cases = [_backward_case("(N, D) = (8, 5)", 10, (8, 5), 3.0, 2.0),
             _backward_case("batch of 2", 11, (2, 3)),
             _backward_case("large offset (values near 1e3)", 12, (6, 4), 1e3),
             _backward_case("odd eps = 0.3", 13, (5, 4), 0.0, 0.5, eps=0.3)]
    run_check("batchnorm_backward", fn, cases, _backward_reference,
              names=("dx", "dgamma", "dbeta"), mistakes=BACKWARD_MISTAKES,
              against="helpers.batchnorm_backward and finite differences")


def _image_layout(to_rows, from_rows):
    """The outputs of a forward pass that turns x into rows (M, C) with `to_rows`, normalises
    each column, and turns the result back with `from_rows(out, x)`."""
    def outputs(x, gamma, beta, eps):
        return (from_rows(_normalize(to_rows(x), gamma, beta, eps), x),)
    return outputs


def _channels_last(x):
    return x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1])


WRONG_AXES = "statistics over the wrong axes for images"
IMAGE_MISTAKES = [
    Mistake(f"{WRONG_AXES} (over N only: one mean per pixel)",
            "each channel has one mean and one variance over N, H and W together: "
            "m = N * H * W values", _variant(axes=(0,))),
    Mistake(f"{WRONG_AXES} (per image, over C, H and W)",
            "that is layer norm; batch norm takes each channel over the batch and all "
            "positions: axes (0, 2, 3)", _variant(axes=(1, 2, 3))),
    Mistake(f"{WRONG_AXES} (per image and channel, over H and W)",
            "that is instance norm; batch norm also averages over the batch: axes (0, 2, 3)",
            _variant(axes=(2, 3))),
    Mistake("x.reshape(-1, C) mixes the channels",
            "reshape keeps memory order, so its columns are not channels: move C last first, "
            "x.transpose(0, 2, 3, 1).reshape(-1, C)",
            _image_layout(lambda x: x.reshape(-1, x.shape[1]),
                          lambda out, x: out.reshape(x.shape))),
    Mistake("reshaped back without moving C back to axis 1",
            "undo both steps: out.reshape(N, H, W, C).transpose(0, 3, 1, 2)",
            _image_layout(_channels_last, lambda out, x: out.reshape(x.shape))),
]


def batchnorm_forward_images(fn):
    """Check fn(x, gamma, beta, eps) -> out for images x (N, C, H, W), gamma and beta (C,):
    statistics per channel over N, H and W; out (N, C, H, W)."""
    per_channel = dict(loc=np.array([2.0, -1.0, 0.0])[:, None, None],
                       scale=np.array([1.0, 3.0, 0.2])[:, None, None])
    cases = [Case("(N, C, H, W) = (4, 3, 5, 6)", _data(20, (4, 3, 5, 6), **per_channel)),
             Case("batch of 2 images", _data(21, (2, 3, 4, 4), **per_channel)),
             Case("a single image (N = 1)", _data(22, (1, 3, 4, 5), **per_channel)),
             Case("large offset (values near 1e4)", _data(23, (3, 2, 3, 4), 1e4)),
             Case("odd eps = 0.3", _data(24, (2, 4, 3, 5), 0.0, 0.5, eps=0.3))]
    run_check("batchnorm_forward_images", fn, cases,
              lambda x, gamma, beta, eps: (engine_forward(x, gamma, beta, eps)[0],),
              names=("out",), mistakes=IMAGE_MISTAKES, against="helpers.batchnorm_forward")
