"""What the normalisation checks share. Batch norm (for (N, D) and for images), layer norm and
group norm compute the same four lines over different values, so students make the same
mistakes in each: one `Norm` says which values share a mean and variance, and one table per
idea (`forward_mistakes`, `backward_mistakes`, `CACHE_MISTAKES`) names every mistake in every
check that can make it.

    Norm                  the values that share a statistic: a view of x and its axes
    forward_mistakes      the forward pass's mistakes, worded for one Norm
    backward_mistakes     the backward pass's mistakes, worded for one Norm
    check_cache           the cache contract of a forward pass (x_hat, std, gamma)
    dx_diagnosis          a hint for a backward pass whose dx alone is wrong
"""
from dataclasses import dataclass

import numpy as np

from ..gradcheck import numerical_gradient, rel_error
from .core import (
    TOLERANCE,
    Case,
    CheckFailed,
    Mistake,
    StudentError,
    _kind,
    pair,
    run_check,
    same,
    std_mistakes,
)

LARGE_OFFSET = "large offset (values near 1e6)"


def root(var, eps):
    """The right way to divide: by sqrt(var + eps)."""
    return np.sqrt(var + eps)


def per_channel(p, like):
    """A (C,) vector (or (1, C), (1, C, 1, 1)) shaped to broadcast along axis 1 of `like`."""
    return np.asarray(p).reshape((1, -1) + (1,) * (np.ndim(like) - 2))


@dataclass(frozen=True)
class Norm:
    """Which values share a mean and variance, and the words a hint uses for them.

    kind: "batch" (each channel over N and the positions), "layer" (each row of (N, D)) or
    "group" (each example and group: the rows of the (N, G, M) view). m: the name of the count;
    per: what has one mean ("feature"); stats: the code that takes them; sums: where the sums of
    dx run."""
    kind: str
    m: str
    per: str
    stats: str
    sums: str

    def view(self, x, groups=None):
        """(v, back, axes): x as the array whose `axes` hold the values of one statistic, and
        the function that turns a v-shaped array back into x's shape."""
        if self.kind == "group":
            return x.reshape(x.shape[0], groups, -1), lambda v: v.reshape(x.shape), (2,)
        if self.kind == "layer":
            return x, lambda v: v, (1,)
        return x, lambda v: v, (0,) + tuple(range(2, x.ndim))

    def split(self, args):
        """(x, gamma, beta, groups, eps) from a forward pass's arguments."""
        if self.kind == "group":
            return args
        x, gamma, beta, eps = args
        return x, gamma, beta, None, eps


@dataclass(frozen=True)
class Viewed:
    """A normalisation over other values than a `Norm`'s (what a mistake computes):
    view(x, groups) -> (v, back, axes) as in `Norm.view`."""
    view: object


def over_axes(axes):
    """Viewed: the statistics over `axes` of x itself."""
    return Viewed(lambda x, groups=None: (x, lambda v: v, axes))


BATCH = Norm("batch", "m", "feature", "x.mean(axis=0), shape (D,)", "over the batch (axis 0)")
IMAGES = Norm("batch", "m", "channel", "x.mean(axis=(0, 2, 3), keepdims=True)",
              "over axes (0, 2, 3)")
LAYER = Norm("layer", "D", "example", "x.mean(axis=1, keepdims=True), shape (N, 1)",
             "over each row (axis=1, keepdims=True)")
GROUP = Norm("group", "M", "example and group", "rows.mean(axis=2, keepdims=True) of the "
             "(N, G, M) rows", "over each row of the (N, G, M) view (axis=2, keepdims=True)")


def normalize(norm, x, gamma, beta, groups, eps, ddof=0, std=root, affine="right",
              whole=False):
    """The forward pass with one thing changed: the variance with `ddof`, the root written as
    std(var, eps), the statistics of the whole batch, gamma and beta "swapped" or "none"."""
    v, back, axes = norm.view(x, groups)
    axes = tuple(range(v.ndim)) if whole else axes
    mu, var = v.mean(axis=axes, keepdims=True), v.var(axis=axes, ddof=ddof, keepdims=True)
    x_hat = back((v - mu) / std(var, eps))
    gamma, beta = per_channel(gamma, x), per_channel(beta, x)
    if affine == "none":
        return x_hat
    return beta * x_hat + gamma if affine == "swapped" else gamma * x_hat + beta


def forward_variant(norm, **changes):
    """outputs(*args) of a forward pass with `changes` (see `normalize`)."""
    return lambda *args: (normalize(norm, *norm.split(args), **changes),)


def forward_mistakes(norm):
    """The forward mistakes every normalisation can make, by idea, worded for `norm`."""
    ddof_hint = {"m": "Algorithm 1 divides by m, not m - 1: ddof=0 (the default). The m/(m-1) "
                      "belongs only in running_var (lesson 4)"}.get(
        norm.m, f"divide by {norm.m}, not {norm.m} - 1: ddof=0 (the default), as PyTorch does")
    ideas = {
        "unbiased": Mistake("unbiased variance in the normalisation", ddof_hint,
                            forward_variant(norm, ddof=1)),
        "whole": Mistake("one mean and variance for the whole batch",
                         f"take one per {norm.per}: {norm.stats}",
                         forward_variant(norm, whole=True)),
        "swapped": Mistake("gamma and beta swapped", "scale by gamma, then shift by beta: "
                           "out = gamma * x_hat + beta", forward_variant(norm, affine="swapped")),
        "no_affine": Mistake("scale and shift missing", "the last step: out = gamma * x_hat + "
                             "beta", forward_variant(norm, affine="none")),
        "squares": Mistake("variance computed as mean(x**2) - mean(x)**2",
                           f"it loses its digits far from 0 (case '{LARGE_OFFSET}'): compute "
                           f"var = mean((x - mu)**2)", failing=lambda labels:
                           labels == {LARGE_OFFSET}),
    }
    for key, mistake in zip(("eps_on_std", "no_eps", "by_var", "own_eps"),
                            std_mistakes(lambda std: forward_variant(norm, std=std))):
        ideas[key] = mistake
    return ideas


# --- the backward pass ---


def _count(v, axes):
    return int(np.prod([v.shape[a] for a in axes]))


def norm_backward(norm, dout, cache, mean_path=True, var_path=True, with_gamma=True,
                  per_m=True, count=None, params="summed", keepdims=True, view=None):
    """(dx, dgamma, dbeta) of `norm` from its cache (x_hat, std, gamma; num_groups for group
    norm) with one part left out or wrong: count(dout, groups) for the count, params "summed"
    (right), "none" (not summed), "axis1" (summed over axis 1) or "swapped"; keepdims=False:
    the sums of dx lose their axes. view: another `Norm.view` (group norm's wrong groupings)."""
    x_hat, std, groups = cache["x_hat"], cache["std"], cache.get("num_groups")
    g = dout * per_channel(np.ravel(cache["gamma"]), dout) if with_gamma else dout
    v, back, axes = (view or norm.view)(g, groups)
    xv = (view or norm.view)(x_hat, groups)[0]
    m = _count(v, axes) if count is None else count(dout, groups)

    def total(a):
        return a.sum(axis=axes, keepdims=keepdims)
    dx = m * v - mean_path * total(v) - var_path * xv * total(v * xv)
    dx = back(dx / (m * std) if per_m else dx / std)
    p_axes = (0,) + tuple(range(2, dout.ndim))
    p_axes = 1 if params == "axis1" else p_axes
    dgamma, dbeta = dout * x_hat, dout
    if params != "none":
        dgamma, dbeta = dgamma.sum(axis=p_axes), dbeta.sum(axis=p_axes)
    return (dx, dbeta, dgamma) if params == "swapped" else (dx, dgamma, dbeta)


def backward_variant(norm, **changes):
    return lambda dout, cache: norm_backward(norm, dout, cache, **changes)


def backward_mistakes(norm):
    """The backward mistakes every normalisation can make, by idea, worded for `norm`."""
    m, sums = norm.m, norm.sums
    whose = {"batch": "batch", "layer": "example's", "group": "group's"}[norm.kind]
    across = "channels" if norm.kind == "group" else "features"
    ideas = {
        "constants": Mistake(f"the {whose} mean and variance treated as constants",
                             f"they depend on x: dx = ({m} * dx_hat - sum(dx_hat) - x_hat * "
                             f"sum(dx_hat * x_hat)) / ({m} * std)",
                             backward_variant(norm, mean_path=False, var_path=False)),
        "no_mean": Mistake(f"the path through the {whose} mean is missing",
                           f"subtract sum(dx_hat), {sums}: the mean depends on every value",
                           backward_variant(norm, mean_path=False)),
        "no_var": Mistake(f"the path through the {whose} variance is missing",
                          f"subtract x_hat * sum(dx_hat * x_hat), {sums}",
                          backward_variant(norm, var_path=False)),
        "no_gamma": Mistake("gamma missing from dx", "the gradient reaching x_hat is "
                            "dx_hat = dout * gamma", backward_variant(norm, with_gamma=False)),
        "per_m": Mistake(f"the 1/{m} is missing", f"divide by {m} * std: dx = ({m} * dx_hat - "
                         f"...) / ({m} * std)", backward_variant(norm, per_m=False)),
        "not_summed": Mistake("dgamma and dbeta not summed over the batch",
                              "gamma and beta are shared by every example: sum dout * x_hat and "
                              "dout over every axis but 1, shape (C,)",
                              backward_variant(norm, params="none")),
        "axis1": Mistake(f"dgamma and dbeta summed over the {across} (axis=1)",
                         "gamma has one value per feature or channel, shared by the examples: "
                         "sum over every axis but 1, shape (C,)",
                         backward_variant(norm, params="axis1")),
        "swapped": Mistake("dgamma and dbeta swapped", "out = gamma * x_hat + beta, so dgamma "
                           "= sum(dout * x_hat) and dbeta = sum(dout)",
                           backward_variant(norm, params="swapped")),
    }
    if norm.kind != "batch":
        ideas["count_n"] = Mistake(
            f"{m} taken as the batch size N (lesson 3's m = dout.shape[0])",
            f"a statistic here comes from {m} values, the length of a row of the view",
            backward_variant(norm, count=lambda dout, groups: len(dout)))
    if norm.kind == "layer":        # batch norm's sums broadcast right; group norm's crash
        ideas["keepdims"] = Mistake(
            "the sums of dx without keepdims=True", f"sum {sums}: without keepdims the sum "
            "lines up with the wrong axis", backward_variant(norm, keepdims=False))
    return ideas


def dx_diagnosis(norm):
    """diagnose(case, got, expected) for run_check: a hint when dx alone is wrong."""
    def diagnose(case, got, expected):
        if got is None or not same(got[1:], expected[1:]) or got[0].shape != expected[0].shape \
                or not np.all(np.isfinite(got[0])):
            return None
        dx, right = got[0], expected[0]
        k = float((dx * right).sum() / (right * right).sum())
        if rel_error(dx, k * right) < 1e-6:
            return (f"dx is {k:.3g} times the right dx (dgamma, dbeta are right; case "
                    f"'{case.label}'): check the factor 1 / ({norm.m} * std)")
        v, _, axes = norm.view(dx, case.args[1].get("num_groups"))
        if np.abs(v.sum(axis=axes)).max() > 1e-6 * np.abs(v).max():
            return (f"dx does not sum to 0 {norm.sums} (dgamma, dbeta are right; case "
                    f"'{case.label}'): the mean's path, - sum(dx_hat), is off")
        return (f"dx is off, but sums to 0 and dgamma, dbeta are right (case '{case.label}'): "
                f"look at the variance's path, - x_hat * sum(dx_hat * x_hat), and at gamma")
    return diagnose


def data(seed, shape, loc=0.0, scale=1.0, eps=1e-5):
    """(x, gamma, beta, eps): x of `shape` (N, C, ...) around `loc` with spread `scale` (per
    channel, or per example, if given as arrays shaped to broadcast), gamma and beta (C,)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(loc, scale, size=shape)
    c = shape[1]
    return x, rng.normal(1.0, 0.5, size=c), rng.normal(0.0, 1.0, size=c), eps


def backward_case(label, forward, args, seed):
    """Case(label, (dout, cache)): the cache of forward(*args), a dout drawn from seed + 100."""
    dout = np.random.default_rng(seed + 100).normal(size=args[0].shape)
    return Case(label, (dout, forward(*args)[1]))


def confirmed(grads, forward, x, gamma, dout, what):
    """grads (dx, dgamma, dbeta) of the engine, after confirming them by finite differences of
    forward(x, gamma, beta) at beta = 0 (the gradients do not depend on beta)."""
    beta = np.zeros_like(gamma)
    numeric = [numerical_gradient(lambda: forward(x, gamma, beta), p, dout)
               for p in (x, gamma, beta)]
    errors = [rel_error(a, n) for a, n in zip(grads, numeric)]
    if max(errors) > 1e-5:                     # a broken course, not a student's mistake
        raise RuntimeError(f"helpers.{what} disagrees with finite differences: relative "
                           f"errors {errors}")
    return grads


def backward_reference(norm, forward, backward, what):
    """reference(dout, cache): the engine's backward(dout, cache), confirmed by finite
    differences of its forward(x, gamma, beta, [num_groups,] eps) at the x the cache came
    from (rebuilt from x_hat, std and mu)."""
    def reference(dout, cache):
        groups = cache.get("num_groups")
        v, back, _ = norm.view(cache["x_hat"], groups)
        x = back(v * cache["std"] + cache["mu"])
        eps = float((cache["std"] ** 2 - cache["var"]).mean())
        extra = () if groups is None else (groups,)

        def forward_at(x, gamma, beta):
            return forward(x, gamma, beta, *extra, eps)[0]
        return confirmed(backward(dout, cache), forward_at, x, np.ravel(cache["gamma"]).copy(),
                         dout, what)
    return reference


def backward_check(checked, fn, cases, norm, forward, backward, mistakes):
    """run_check for a backward pass -> (dx, dgamma, dbeta) against the engine's `backward`
    (confirmed by finite differences of its `forward`), with a hint where dx alone is wrong."""
    run_check(checked, fn, cases, backward_reference(norm, forward, backward, checked),
              names=("dx", "dgamma", "dbeta"), mistakes=mistakes,
              against=f"helpers.{checked} and finite differences", diagnose=dx_diagnosis(norm))


# --- the cache contract: the statement asks for at least x_hat, std and gamma ---

CACHE_MISTAKES = {
    "not_dict": ("the cache is {kind}, not a dict", "return (out, cache) with cache = "
                 "{'x_hat': x_hat, 'std': std, 'gamma': gamma, ...}"),
    "missing": ("the cache has no '{key}'", "store x_hat, std = np.sqrt(var + eps) and gamma: "
                "your backward pass reads them"),
    "x_hat_is_out": ("cache['x_hat'] holds out", "store x_hat = (x - mean) / std, before gamma "
                     "and beta"),
    "x_hat": ("cache['x_hat'] is not (x - mean) / std", "store the normalised x, x_hat"),
    "var_eps": ("cache['std'] holds var + eps", "store the standard deviation, "
                "std = np.sqrt(var + eps)"),
    "std_no_eps": ("cache['std'] lacks eps", "store std = np.sqrt(var + eps), the number "
                   "you divided by"),
    "std": ("cache['std'] is not np.sqrt(var + eps)", "store the number you divided by, "
            "std = np.sqrt(var + eps)"),
    "gamma": ("cache['gamma'] is not gamma", "store the gamma your function was given"),
}


def _cache_failed(checked, which, **words):
    name, hint = CACHE_MISTAKES[which]
    return CheckFailed(f"{checked}: not yet - {name.format(**words)}: {hint}")


def _spread(value, norm, x, groups):
    """The student's cached value as arrays of x's shape: every way it can broadcast (as it
    is, as one value per row of the view, as one value per channel)."""
    try:
        a = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return []
    v, back, _ = norm.view(x, groups)
    found = []
    for shape, through_view in ((a.shape, False), ((x.shape[0], groups, 1), True),
                                ((1, x.shape[1]) + (1,) * (x.ndim - 2), False)):
        try:
            b = a.reshape(shape)
            found.append(back(np.broadcast_to(b, v.shape)) if through_view
                         else np.broadcast_to(b, x.shape))
        except (ValueError, TypeError):
            pass
    return found


def _holds(candidates, expected):
    return any(rel_error(c, expected) < TOLERANCE for c in candidates)


def check_cache(checked, norm, case, cache):
    """Raise CheckFailed when the cache of a forward pass on `case` breaks the contract."""
    if not isinstance(cache, dict):
        raise _cache_failed(checked, "not_dict", kind=_kind(cache))
    for key in ("x_hat", "std", "gamma"):
        if key not in cache:
            raise _cache_failed(checked, "missing", key=key)
    x, gamma, beta, groups, eps = norm.split(case.args)
    v, back, axes = norm.view(x, groups)
    mu, var = v.mean(axis=axes, keepdims=True), v.var(axis=axes, keepdims=True)
    x_hat = back((v - mu) / np.sqrt(var + eps))
    full = {"std": np.sqrt(var + eps), "var_eps": var + eps, "std_no_eps": np.sqrt(var)}
    full = {k: back(np.broadcast_to(s, v.shape)) for k, s in full.items()}
    spread = {key: _spread(cache[key], norm, x, groups) for key in ("x_hat", "std", "gamma")}
    if not _holds(spread["x_hat"], x_hat):
        out = per_channel(gamma, x) * x_hat + per_channel(beta, x)
        raise _cache_failed(checked, "x_hat_is_out" if _holds(spread["x_hat"], out) else "x_hat")
    if not _holds(spread["std"], full["std"]):
        wrong = next((k for k in ("var_eps", "std_no_eps") if _holds(spread["std"], full[k])),
                     "std")
        raise _cache_failed(checked, wrong)
    if not _holds(spread["gamma"], np.broadcast_to(per_channel(gamma, x), x.shape)):
        raise _cache_failed(checked, "gamma")


def forward_check(checked, fn, cases, norm, reference, *, mistakes, against, crashed=None):
    """run_check for a forward pass that returns (out, cache); the cache must hold x_hat, std
    and gamma (check_cache). crashed: a set that collects the labels of the cases on which the
    student's code raised."""
    caches = {}

    def get(f, case):
        try:
            out, caches[case.label] = pair(checked, f, case)
        except StudentError:
            if crashed is not None:
                crashed.add(case.label)
            raise
        return out

    def after():
        for case in cases:
            check_cache(checked, norm, case, caches[case.label])
    run_check(checked, fn, cases, reference, names=("out",), mistakes=mistakes,
              against=against, get=get, after=after)
