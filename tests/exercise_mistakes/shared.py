"""Wrong normalisations, one table per idea. Batch norm (for (N, D) and for images), layer norm
and group norm are the same four lines over different values, so a student can make each of
these mistakes in every one of them: each idea is written once here, as a student would write
it with the statistics over `_values` of the check it is for, and tests/test_exercises.py
runs it against every sibling check, which must name it.

    FORWARD    idea -> what the forward pass does differently
    BACKWARD   idea -> what the backward pass does differently
    CACHE      idea -> what the forward pass stores in its cache differently
"""
import numpy as np

LEFT_OUT = object()          # a cache entry the student did not store
FORWARD_SIBLINGS = ("batchnorm_forward", "batchnorm_forward_images", "layernorm_forward",
                    "groupnorm_forward")
BACKWARD_SIBLINGS = ("batchnorm_backward", "layernorm_backward", "groupnorm_backward")


def _values(check_name, x, groups):
    """(v, axes, back): the array whose `axes` hold the values that share a mean, for the
    normalisation of `check_name`, and how to get back to x's shape."""
    if check_name.startswith("groupnorm"):
        return x.reshape(x.shape[0], groups, -1), (2,), lambda v: v.reshape(x.shape)
    if check_name.startswith("layernorm"):
        return x, (1,), lambda v: v
    return x, (0,) + tuple(range(2, x.ndim)), lambda v: v


def _channel(p, x):
    return np.asarray(p).reshape((1, -1) + (1,) * (x.ndim - 2))


def forward(check_name, ddof=0, root=lambda var, eps: np.sqrt(var + eps), whole=False,
            affine="right", squares=False, cache=lambda x_hat, std, var, eps, g, out: {}):
    """A forward pass with the signature of `check_name`, done the way the keywords say."""
    def run(x, gamma, beta, groups, eps):
        v, axes, back = _values(check_name, x, groups)
        axes = tuple(range(v.ndim)) if whole else axes
        mu = v.mean(axis=axes, keepdims=True)
        count = np.prod([v.shape[a] for a in axes])
        var = (v ** 2).mean(axis=axes, keepdims=True) - mu ** 2 if squares \
            else ((v - mu) ** 2).sum(axis=axes, keepdims=True) / (count - ddof)
        std = root(var, eps)
        x_hat = back((v - mu) / std)
        g, b = _channel(gamma, x), _channel(beta, x)
        out = {"right": g * x_hat + b, "swapped": b * x_hat + g, "none": x_hat}[affine]
        full = {"x_hat": x_hat, "std": std, "gamma": g, "var": var}
        full.update(cache(x_hat, std, var, eps, g, out))
        return out, {k: value for k, value in full.items() if value is not LEFT_OUT}

    if check_name == "groupnorm_forward":
        def wrong(x, gamma, beta, num_groups, eps=1e-5):
            return run(x, gamma, beta, num_groups, eps)
    elif check_name == "batchnorm_forward_images":
        def wrong(x, gamma, beta, eps=1e-5):
            return run(x, gamma, beta, None, eps)[0]
    else:
        def wrong(x, gamma, beta, eps=1e-5):
            return run(x, gamma, beta, None, eps)
    return wrong


FORWARD = {
    "unbiased": dict(ddof=1),
    "eps_on_std": dict(root=lambda var, eps: np.sqrt(var) + eps),
    "no_eps": dict(root=lambda var, eps: np.sqrt(var)),
    "by_var": dict(root=lambda var, eps: var + eps),
    "own_eps": dict(root=lambda var, eps: np.sqrt(var + 1e-5)),
    "whole": dict(whole=True),
    "swapped": dict(affine="swapped"),
    "no_affine": dict(affine="none"),
    "squares": dict(squares=True),
}


CACHE = {
    "missing": dict(cache=lambda x_hat, std, var, eps, g, out: {"std": LEFT_OUT}),
    "var_eps": dict(cache=lambda x_hat, std, var, eps, g, out: {"std": var + eps}),
    "std_no_eps": dict(cache=lambda x_hat, std, var, eps, g, out: {"std": np.sqrt(var)}),
    "std": dict(cache=lambda x_hat, std, var, eps, g, out: {"std": 2 * std}),
    "x_hat_is_out": dict(cache=lambda x_hat, std, var, eps, g, out: {"x_hat": out}),
    "x_hat": dict(cache=lambda x_hat, std, var, eps, g, out: {"x_hat": x_hat + 1.0}),
    "gamma": dict(cache=lambda x_hat, std, var, eps, g, out: {"gamma": np.ones_like(g)}),
}


def backward(check_name, mean_path=True, var_path=True, with_gamma=True, per_m=True,
             count_n=False, params="summed", keepdims=True):
    """A backward pass for `check_name`, done the way the keywords say."""
    def wrong(dout, cache):
        x_hat, std = cache["x_hat"], cache["std"]
        g = dout * _channel(np.ravel(cache["gamma"]), dout) if with_gamma else dout
        gv, axes, back = _values(check_name, g, cache.get("num_groups"))
        xv = _values(check_name, x_hat, cache.get("num_groups"))[0]
        m = len(dout) if count_n else np.prod([gv.shape[a] for a in axes])
        sum_g = gv.sum(axis=axes, keepdims=keepdims)
        sum_gx = (gv * xv).sum(axis=axes, keepdims=keepdims)
        dx = m * gv - mean_path * sum_g - var_path * xv * sum_gx
        dx = back(dx / (m * std) if per_m else dx / std)
        over = (0,) + tuple(range(2, dout.ndim))
        dgamma, dbeta = (dout * x_hat).sum(axis=over), dout.sum(axis=over)
        if params == "none":
            dgamma, dbeta = dout * x_hat, dout
        if params == "axis1":
            dgamma, dbeta = (dout * x_hat).sum(axis=1), dout.sum(axis=1)
        return (dx, dbeta, dgamma) if params == "swapped" else (dx, dgamma, dbeta)
    return wrong


BACKWARD = {
    "constants": dict(mean_path=False, var_path=False),
    "no_mean": dict(mean_path=False),
    "no_var": dict(var_path=False),
    "no_gamma": dict(with_gamma=False),
    "per_m": dict(per_m=False),
    "not_summed": dict(params="none"),
    "axis1": dict(params="axis1"),
    "swapped": dict(params="swapped"),
    "count_n": dict(count_n=True),
    "keepdims": dict(keepdims=False),
}
