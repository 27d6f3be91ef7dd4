"""Checks for the lesson 6 exercises: layer norm and group norm as forward/backward pairs, and
the property they are used for with small batches (an example's output does not depend on its
batch-mates).

References: the engine (`helpers.layernorm_forward/backward`, `helpers.groupnorm_forward/
backward`); the backward references are themselves confirmed by finite differences
(`helpers.numerical_gradient`) before they are used.
"""
import numpy as np

from ..batchnorm import batchnorm_forward as bn_forward
from ..gradcheck import numerical_gradient, rel_error
from ..normalization import groupnorm_backward as engine_gn_backward
from ..normalization import groupnorm_forward as engine_gn_forward
from ..normalization import layernorm_backward as engine_ln_backward
from ..normalization import layernorm_forward as engine_ln_forward
from .core import (
    Case,
    CheckFailed,
    Mistake,
    StudentError,
    as_outputs,
    out_of_pair,
    run_check,
    same,
    std_mistakes,
)

LARGE_OFFSET = "large offset (values near 1e6)"


def _root(var, eps):
    """The right way to divide: by sqrt(var + eps)."""
    return np.sqrt(var + eps)


def _confirmed(grads, forward, x, gamma, dout, what):
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


# --- layer norm: x (N, D), statistics per example over its D features ---


def _ln_data(seed, shape, loc=0.0, scale=1.0, eps=1e-5):
    """x (N, D) around `loc` with spread `scale` (per example if given as (N, 1) arrays), and
    gamma, beta (D,)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(loc, scale, size=shape)
    d = shape[1]
    return x, rng.normal(1.0, 0.5, size=d), rng.normal(0.0, 1.0, size=d), eps


def _ln_variant(axes=(1,), ddof=0, std=_root, swap=False, affine=True):
    """The outputs of a layer-norm forward pass with one thing changed: statistics over `axes`
    (kept as dims), variance with `ddof`, the root written as std(var, eps)."""
    def outputs(x, gamma, beta, eps):
        mu = x.mean(axis=axes, keepdims=True)
        x_hat = (x - mu) / std(x.var(axis=axes, ddof=ddof, keepdims=True), eps)
        if not affine:
            return (x_hat,)
        return (beta * x_hat + gamma,) if swap else (gamma * x_hat + beta,)
    return outputs


def _without_keepdims(var_of_centred):
    """Statistics of shape (N,) that broadcast along the features: x - mu subtracts mu[j] from
    column j. Runs only on a square batch (N = D); elsewhere numpy refuses to broadcast."""
    def outputs(x, gamma, beta, eps):
        if x.shape[0] != x.shape[1]:
            raise ValueError("operands could not be broadcast together")
        mu = x.mean(axis=1)
        var = ((x - mu) ** 2).mean(axis=1) if var_of_centred else x.var(axis=1)
        return (gamma * (x - mu) / np.sqrt(var + eps) + beta,)
    return outputs


NO_KEEPDIMS = ("mean and variance of shape (N,), without keepdims=True",
               "x - mu then subtracts mu[j] from feature j (and fails unless N = D): take "
               "x.mean(axis=1, keepdims=True), shape (N, 1), which subtracts example i's mean "
               "from row i")

LAYER_FORWARD_MISTAKES = [
    Mistake("statistics over the batch (axis=0): that is batch norm",
            "layer norm takes each example's mean and variance over its own D features: "
            "x.mean(axis=1, keepdims=True), shape (N, 1); the other examples play no part",
            _ln_variant(axes=(0,))),
    Mistake("unbiased variance in the normalisation",
            "divide by D, not D - 1: x.var(axis=1, keepdims=True) (ddof=0), as "
            "torch.nn.functional.layer_norm does", _ln_variant(ddof=1)),
    *std_mistakes(lambda std: _ln_variant(std=std)),
    Mistake("one mean and variance for the whole batch",
            "one per example: x.mean(axis=1, keepdims=True) has shape (N, 1)",
            _ln_variant(axes=(0, 1))),
    Mistake(*NO_KEEPDIMS, _without_keepdims(var_of_centred=True)),
    Mistake(*NO_KEEPDIMS, _without_keepdims(var_of_centred=False)),
    Mistake("gamma and beta swapped", "scale by gamma, then shift by beta: "
            "out = gamma * x_hat + beta", _ln_variant(swap=True)),
    Mistake("scale and shift missing", "out = gamma * x_hat + beta, gamma and beta (D,) one "
            "per feature", _ln_variant(affine=False)),
    Mistake("variance computed as mean(x**2) - mean(x)**2",
            f"that formula loses its digits when the values are far from 0 (case "
            f"'{LARGE_OFFSET}'): compute var = mean((x - mu)**2)",
            failing=lambda labels: labels == {LARGE_OFFSET}),
]


def layernorm_forward(fn):
    """Check fn(x, gamma, beta, eps) -> (out, cache) for x (N, D), gamma and beta (D,): out
    (N, D) is layer norm (each example over its D features, biased variance, eps inside)."""
    cases = [
        Case("(N, D) = (6, 8)", _ln_data(0, (6, 8), 3.0, 2.0)),
        Case("examples on very different scales",
             _ln_data(1, (3, 5), np.array([[50.0], [0.0], [-3.0]]),
                      np.array([[10.0], [0.01], [1.0]]))),
        Case("a single example (N = 1)", _ln_data(2, (1, 6))),
        Case("a square batch (N = D = 5)", _ln_data(3, (5, 5), 1.0, 2.0)),
        Case(LARGE_OFFSET, _ln_data(4, (4, 16), 1e6, 1.0)),
        Case("odd eps = 0.3", _ln_data(5, (4, 6), 0.0, 0.5, eps=0.3)),
    ]
    run_check("layernorm_forward", fn, cases,
              lambda x, gamma, beta, eps: (engine_ln_forward(x, gamma, beta, eps)[0],),
              names=("out",), mistakes=LAYER_FORWARD_MISTAKES,
              against="helpers.layernorm_forward",
              get=lambda f, case: out_of_pair("layernorm_forward", f, case))


def _ln_backward_case(label, seed, shape, loc=0.0, scale=1.0, eps=1e-5):
    x, gamma, beta, eps = _ln_data(seed, shape, loc, scale, eps)
    dout = np.random.default_rng(seed + 100).normal(size=shape)
    return Case(label, (dout, engine_ln_forward(x, gamma, beta, eps)[1]))


def _ln_backward_reference(dout, cache):
    """The engine's layer-norm backward pass, confirmed by finite differences."""
    x = cache["x_hat"] * cache["std"] + cache["mu"]
    eps = float((cache["std"] ** 2 - cache["var"]).mean())

    def forward(x, gamma, beta):
        return engine_ln_forward(x, gamma, beta, eps)[0]
    return _confirmed(engine_ln_backward(dout, cache), forward, x, cache["gamma"].copy(), dout,
                      "layernorm_backward")


def _standardize_grads(g, x_hat, std, axis, m, mean_path=True, var_path=True, per_m=True):
    """d loss / d x from g = d loss / d x_hat for statistics over `axis` (m values), with the
    paths through the mean and the variance optionally left out, or the 1/m."""
    dx = (m * g - mean_path * g.sum(axis=axis, keepdims=True)
          - var_path * x_hat * (g * x_hat).sum(axis=axis, keepdims=True))
    return dx / (m * std) if per_m else dx / std


def _ln_backward_variant(axis=1, param_axis=0, with_gamma=True, swap=False, count_axis=None,
                         **paths):
    """The outputs (dx, dgamma, dbeta) of a layer-norm backward pass done another way: the
    sums of dx over `axis`, the count from `count_axis` (None: the same axis); dgamma and dbeta
    summed over `param_axis` (None: not summed)."""
    def grads(dout, cache):
        x_hat, std, gamma = cache["x_hat"], cache["std"], cache["gamma"]
        g = dout * gamma if with_gamma else dout
        m = x_hat.shape[axis if count_axis is None else count_axis]
        dx = _standardize_grads(g, x_hat, std, axis, m, **paths)
        dgamma, dbeta = dout * x_hat, dout
        if param_axis is not None:
            dgamma, dbeta = dgamma.sum(axis=param_axis), dbeta.sum(axis=param_axis)
        return (dx, dbeta, dgamma) if swap else (dx, dgamma, dbeta)
    return grads


LAYER_BACKWARD_MISTAKES = [
    Mistake("the example's mean and variance treated as constants",
            "dx = dout * gamma / std is the gradient of a layer whose mean and variance were "
            "fixed numbers; they depend on the example's x, so dx needs the two sums over its "
            "features: (D * dx_hat - sum(dx_hat) - x_hat * sum(dx_hat * x_hat)) / (D * std)",
            _ln_backward_variant(mean_path=False, var_path=False)),
    Mistake("the path through the example's mean is missing",
            "subtract sum(dx_hat) over the example's features (axis=1, keepdims=True)",
            _ln_backward_variant(mean_path=False)),
    Mistake("the path through the example's variance is missing",
            "subtract x_hat * sum(dx_hat * x_hat) over the example's features (axis=1, "
            "keepdims=True)", _ln_backward_variant(var_path=False)),
    Mistake("the sums of dx over the batch (axis=0): that is batch norm's backward",
            "layer norm's mean and variance are over each example's D features, so the sums "
            "and the count are too: axis=1 with keepdims=True, and D = x_hat.shape[1]",
            _ln_backward_variant(axis=0)),
    Mistake("D taken as the batch size N (lesson 3's m = dout.shape[0])",
            "the statistics of an example come from its D features: D = dout.shape[1]",
            _ln_backward_variant(count_axis=0)),
    Mistake("gamma missing from dx", "the gradient reaching x_hat is dx_hat = dout * gamma",
            _ln_backward_variant(with_gamma=False)),
    Mistake("the 1/D is missing", "divide by D * std: dx = (D * dx_hat - ...) / (D * std)",
            _ln_backward_variant(per_m=False)),
    Mistake("dgamma and dbeta summed over the features (axis=1)",
            "gamma and beta have one value per feature, shared by the N examples: sum over the "
            "batch, dgamma = (dout * x_hat).sum(axis=0), shape (D,)",
            _ln_backward_variant(param_axis=1)),
    Mistake("dgamma and dbeta not summed over the batch",
            "gamma and beta are shared by all N examples: dgamma = (dout * x_hat).sum(axis=0) "
            "and dbeta = dout.sum(axis=0), shape (D,)", _ln_backward_variant(param_axis=None)),
    Mistake("dgamma and dbeta swapped", "out = gamma * x_hat + beta, so dgamma = "
            "sum(dout * x_hat) and dbeta = sum(dout)", _ln_backward_variant(swap=True)),
]


def layernorm_backward(fn):
    """Check fn(dout, cache) -> (dx, dgamma, dbeta): dout and dx (N, D), dgamma and dbeta (D,);
    cache: the dict of `helpers.layernorm_forward` (x_hat (N, D), std (N, 1), gamma (D,))."""
    cases = [_ln_backward_case("(N, D) = (6, 8)", 10, (6, 8), 3.0, 2.0),
             _ln_backward_case("a single example (N = 1)", 11, (1, 5)),
             _ln_backward_case("two features (D = 2)", 12, (4, 2)),
             _ln_backward_case("large offset (values near 1e3)", 13, (5, 6), 1e3),
             _ln_backward_case("odd eps = 0.3", 14, (4, 5), 0.0, 0.5, eps=0.3)]
    run_check("layernorm_backward", fn, cases, _ln_backward_reference,
              names=("dx", "dgamma", "dbeta"), mistakes=LAYER_BACKWARD_MISTAKES,
              against="helpers.layernorm_backward and finite differences")


# --- group norm: x (N, C, H, W), statistics per example and group of C/G channels ---


def _gn_data(seed, shape, num_groups, loc=0.0, scale=1.0, eps=1e-5):
    """x (N, C, H, W) whose channels have their own offsets and spreads (times `scale`, plus
    `loc`), gamma, beta (C,), num_groups and eps."""
    rng = np.random.default_rng(seed)
    c = shape[1]
    offsets = rng.normal(0.0, 3.0, size=(1, c, 1, 1))
    spreads = rng.uniform(0.2, 3.0, size=(1, c, 1, 1))
    x = loc + offsets + scale * spreads * rng.normal(size=shape)
    return x, rng.normal(1.0, 0.5, size=c), rng.normal(0.0, 1.0, size=c), num_groups, eps


def _rows(x, num_groups, layout="groups"):
    """x (N, C, H, W) as rows (N, G, M), one per example and group, and the function that
    turns rows back into x's shape. layout "groups": right (consecutive channels); "strided":
    group g made of channels g, g + G, g + 2G, ...; "channels_last": x.transpose(0, 2, 3, 1)
    cut into G rows (each row a block of positions with all their channels)."""
    n, c = x.shape[:2]
    if layout == "groups":
        return x.reshape(n, num_groups, -1), lambda r: r.reshape(x.shape)
    if layout == "channels_last":
        last = x.transpose(0, 2, 3, 1)
        return last.reshape(n, num_groups, -1), \
            lambda r: r.reshape(last.shape).transpose(0, 3, 1, 2)
    split = (n, c // num_groups, num_groups) + x.shape[2:]
    rows = x.reshape(split).swapaxes(1, 2).reshape(n, num_groups, -1)
    return rows, lambda r: r.reshape((n, num_groups, c // num_groups) + x.shape[2:]) \
        .swapaxes(1, 2).reshape(x.shape)


def _gn_variant(axes=None, batch_too=False, layout="groups", ddof=0, std=_root, tiled=False):
    """The outputs of a group-norm forward pass done another way: statistics over `axes` of x
    (None: over each group's row of `_rows(x, G, layout)`, also over the batch if batch_too),
    variance with `ddof`, the root written as std(var, eps); tiled: gamma and beta spread over
    the rows with np.tile (value k of a row gets the gamma of channel k % C)."""
    def outputs(x, gamma, beta, num_groups, eps):
        shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        if axes is None:
            rows, back = _rows(x, num_groups, layout)
            over = (0, 2) if batch_too else (2,)
            mu = rows.mean(axis=over, keepdims=True)
            var = rows.var(axis=over, ddof=ddof, keepdims=True)
            rows_hat = (rows - mu) / std(var, eps)
            if tiled:
                per_value = (1, num_groups, -1)
                reps = x[0, 0].size
                return (back(np.tile(gamma, reps).reshape(per_value) * rows_hat
                             + np.tile(beta, reps).reshape(per_value)),)
            x_hat = back(rows_hat)
        else:
            mu = x.mean(axis=axes, keepdims=True)
            x_hat = (x - mu) / std(x.var(axis=axes, ddof=ddof, keepdims=True), eps)
        return (gamma.reshape(shape) * x_hat + beta.reshape(shape),)
    return outputs


def _never(*args):
    """A mistake that no output shows: it is recognised by where the student's code crashes."""
    return None


PER_GROUP = Mistake(
    "gamma and beta applied per group instead of per channel",
    "gamma and beta have one value per channel, shape (C,): reshape x_hat back to "
    "(N, C, H, W) first, then out = gamma.reshape(1, C, 1, 1) * x_hat + "
    "beta.reshape(1, C, 1, 1) (your code runs only where G = C, and is right there)", _never)


GROUP_FORWARD_MISTAKES = [
    Mistake("statistics per channel over the batch (axes 0, 2, 3): that is batch norm",
            "group norm never looks at the other examples: reshape x to (N, G, C // G * H * W) "
            "and take each row's mean and variance (axis=2, keepdims=True)",
            _gn_variant(axes=(0, 2, 3))),
    Mistake("the batch axis included in the group statistics",
            "one mean and variance per example and group, shape (N, G, 1): average each row "
            "of the (N, G, M) view over axis=2 only", _gn_variant(batch_too=True)),
    Mistake("statistics per channel (axes 2, 3): that is instance norm, the groups are ignored",
            "a group is C // G consecutive channels, normalised together: reshape x to "
            "(N, G, C // G * H * W) first", _gn_variant(axes=(2, 3))),
    Mistake("statistics over the whole example (axes 1, 2, 3): that is layer norm, the groups "
            "are ignored", "one mean and variance per example *and group*: reshape x to "
            "(N, G, C // G * H * W) and take each row's statistics",
            _gn_variant(axes=(1, 2, 3))),
    Mistake("groups made of every G-th channel: the reshape mixes channels of different groups",
            "group g is the consecutive channels g * C/G, ..., (g + 1) * C/G - 1, so the group "
            "axis comes before the channels inside a group: x.reshape(N, G, -1), not "
            "x.reshape(N, C // G, G, H, W)", _gn_variant(layout="strided")),
    Mistake("channels moved last before the reshape (lesson 3's transpose): each row mixes "
            "all the channels", "group norm's rows are the consecutive channels of one group, "
            "and in x's own (N, C, H, W) memory order they already are: x.reshape(N, G, -1), "
            "no transpose", _gn_variant(layout="channels_last")),
    PER_GROUP,
    Mistake("gamma and beta spread over the rows with np.tile: they land on the wrong channels",
            "in a row, each channel's H * W values are consecutive, so a per-value gamma needs "
            "np.repeat(gamma, H * W), not np.tile; simpler: reshape x_hat back to (N, C, H, W) "
            "and use gamma.reshape(1, C, 1, 1)", _gn_variant(tiled=True)),
    Mistake("unbiased variance in the normalisation",
            "divide by the group's M = C // G * H * W values, not M - 1 (ddof=0), as "
            "torch.nn.functional.group_norm does", _gn_variant(ddof=1)),
    *std_mistakes(lambda std: _gn_variant(std=std)),
    Mistake("variance computed as mean(x**2) - mean(x)**2",
            f"that formula loses its digits when the values are far from 0 (case "
            f"'{LARGE_OFFSET}'): compute var = mean((x - mu)**2)",
            failing=lambda labels: labels == {LARGE_OFFSET}),
]


def groupnorm_forward(fn):
    """Check fn(x, gamma, beta, num_groups, eps) -> (out, cache) for x (N, C, H, W), gamma and
    beta (C,): out (N, C, H, W) is group norm (each example and group of C/G consecutive
    channels over their H, W; biased variance, eps inside; gamma, beta per channel)."""
    checked = "groupnorm_forward"
    cases = [Case("(N, C, H, W) = (3, 6, 4, 4), G = 3", _gn_data(20, (3, 6, 4, 4), 3)),
             Case("G = 1 (layer norm over C, H, W)", _gn_data(21, (2, 4, 3, 3), 1)),
             Case("G = C = 4 (instance norm)", _gn_data(22, (2, 4, 3, 3), 4)),
             Case("a single image (N = 1), G = 2", _gn_data(23, (1, 6, 2, 3), 2)),
             Case(LARGE_OFFSET, _gn_data(24, (2, 4, 4, 4), 2, loc=1e6, scale=0.3)),
             Case("odd eps = 0.3", _gn_data(25, (2, 4, 3, 2), 2, scale=0.2, eps=0.3))]
    crashed = set()

    def get(f, case):
        try:
            return out_of_pair(checked, f, case)
        except StudentError:
            crashed.add(case.label)
            raise

    def reference(x, gamma, beta, num_groups, eps):
        return (engine_gn_forward(x, gamma, beta, num_groups, eps)[0],)
    try:
        run_check(checked, fn, cases, reference, names=("out",),
                  mistakes=GROUP_FORWARD_MISTAKES, against="helpers.groupnorm_forward", get=get)
    except CheckFailed:
        # gamma reshaped to the groups, (1, G, 1), runs only where G = C: a crash on exactly
        # the other cases, and the right answer on G = C, name that mistake.
        per_channel = [c for c in cases if c.args[3] == c.args[0].shape[1]]
        if crashed and crashed == {c.label for c in cases} - {c.label for c in per_channel} \
                and all(same(as_outputs(checked, out_of_pair(checked, fn, c), ("out",)),
                             reference(*c.args)) for c in per_channel):
            raise CheckFailed(PER_GROUP.message(checked)) from None
        raise


def _gn_backward_case(label, seed, shape, num_groups, loc=0.0, scale=1.0, eps=1e-5):
    x, gamma, beta, num_groups, eps = _gn_data(seed, shape, num_groups, loc, scale, eps)
    dout = np.random.default_rng(seed + 100).normal(size=shape)
    return Case(label, (dout, engine_gn_forward(x, gamma, beta, num_groups, eps)[1]))


def _gn_backward_reference(dout, cache):
    """The engine's group-norm backward pass, confirmed by finite differences."""
    n, g = dout.shape[0], cache["num_groups"]
    x = (cache["x_hat"].reshape(n, g, -1) * cache["std"] + cache["mu"]).reshape(dout.shape)
    eps = float((cache["std"] ** 2 - cache["var"]).mean())

    def forward(x, gamma, beta):
        return engine_gn_forward(x, gamma, beta, g, eps)[0]
    return _confirmed(engine_gn_backward(dout, cache), forward, x, cache["gamma"].ravel().copy(),
                      dout, "groupnorm_backward")


def _gn_backward_variant(count=None, with_gamma=True, params="channels", **paths):
    """The outputs (dx, dgamma, dbeta) of a group-norm backward pass done another way: the
    count M from count(dout, num_groups) (None: the group's C/G * H * W values); dgamma and
    dbeta summed per "channels" (right), per "groups", or over the "batch" only."""
    def grads(dout, cache):
        x_hat, std, g = cache["x_hat"], cache["std"], cache["num_groups"]
        n = dout.shape[0]
        gamma = cache["gamma"].reshape((1, -1) + (1,) * (dout.ndim - 2))
        dx_hat = (dout * gamma if with_gamma else dout).reshape(n, g, -1)
        rows = x_hat.reshape(n, g, -1)
        m = rows.shape[2] if count is None else count(dout, g)
        dx = _standardize_grads(dx_hat, rows, std, 2, m, **paths).reshape(dout.shape)
        if params == "groups":
            return dx, (dout * x_hat).reshape(n, g, -1).sum(axis=(0, 2)), \
                dout.reshape(n, g, -1).sum(axis=(0, 2))
        axes = 0 if params == "batch" else (0,) + tuple(range(2, dout.ndim))
        return dx, (dout * x_hat).sum(axis=axes), dout.sum(axis=axes)
    return grads


GROUP_BACKWARD_MISTAKES = [
    Mistake("the group's mean and variance treated as constants",
            "dx = dout * gamma / std is the gradient of a layer whose statistics were fixed "
            "numbers; they depend on every value of the group, so dx needs the two sums over "
            "each row of the (N, G, M) view: (M * dx_hat - sum(dx_hat) - x_hat * "
            "sum(dx_hat * x_hat)) / (M * std)",
            _gn_backward_variant(mean_path=False, var_path=False)),
    Mistake("the path through the group's mean is missing",
            "subtract sum(dx_hat) over each row of the (N, G, M) view (axis=2, keepdims=True)",
            _gn_backward_variant(mean_path=False)),
    Mistake("the path through the group's variance is missing",
            "subtract x_hat * sum(dx_hat * x_hat) over each row of the (N, G, M) view (axis=2, "
            "keepdims=True)", _gn_backward_variant(var_path=False)),
    Mistake("M taken as the batch size N (lesson 3's m = dout.shape[0])",
            "the statistics of a group come from its M = C // G * H * W values: M = "
            "rows.shape[2] for the (N, G, M) view",
            _gn_backward_variant(count=lambda d, g: len(d))),
    Mistake("M taken as the channels per group, C // G",
            "a group's statistics are over its channels *and their positions*: M = C // G * H "
            "* W, rows.shape[2] for the (N, G, M) view",
            _gn_backward_variant(count=lambda d, g: d.shape[1] // g)),
    Mistake("gamma missing from dx", "the gradient reaching x_hat is dx_hat = dout * gamma, "
            "with gamma reshaped to (1, C, 1, 1)", _gn_backward_variant(with_gamma=False)),
    Mistake("dgamma and dbeta per group instead of per channel",
            "gamma and beta have one value per channel: sum dout * x_hat and dout over axes "
            "(0, 2, 3) of the (N, C, H, W) arrays, shape (C,), not over the (N, G, M) rows",
            _gn_backward_variant(params="groups")),
    Mistake("dgamma and dbeta summed over the batch only",
            "gamma and beta are shared by every example and every position: sum over axes "
            "(0, 2, 3), shape (C,)", _gn_backward_variant(params="batch")),
]


def groupnorm_backward(fn):
    """Check fn(dout, cache) -> (dx, dgamma, dbeta): dout and dx (N, C, H, W), dgamma and dbeta
    (C,); cache: the dict of `helpers.groupnorm_forward` (x_hat (N, C, H, W), std (N, G, 1),
    gamma (1, C, 1, 1), num_groups)."""
    cases = [_gn_backward_case("(N, C, H, W) = (3, 6, 2, 3), G = 3", 30, (3, 6, 2, 3), 3),
             _gn_backward_case("G = 1 (layer norm over C, H, W)", 31, (2, 4, 2, 2), 1),
             _gn_backward_case("G = C = 4 (instance norm)", 32, (2, 4, 3, 2), 4),
             _gn_backward_case("a single image (N = 1), G = 2", 33, (1, 4, 3, 3), 2),
             _gn_backward_case("odd eps = 0.3", 34, (2, 4, 2, 3), 2, scale=0.2, eps=0.3)]
    run_check("groupnorm_backward", fn, cases, _gn_backward_reference,
              names=("dx", "dgamma", "dbeta"), mistakes=GROUP_BACKWARD_MISTAKES,
              against="helpers.groupnorm_backward and finite differences")


# --- the same example in two batches ---


class _Forward:
    """A forward pass batch -> out with fixed gamma, beta (and groups): what the student's
    batch_dependence receives. Its repr names the method, for a student who prints it."""

    def __init__(self, name, fn, c, **kwargs):
        rng = np.random.default_rng(c)
        self.name, self.fn, self.kwargs = name, fn, kwargs
        self.gamma, self.beta = rng.normal(1.0, 0.5, size=c), rng.normal(size=c)

    def __call__(self, batch):
        return self.fn(batch, self.gamma, self.beta, **self.kwargs)[0]

    def __repr__(self):
        return f"<forward pass: {self.name}>"


def _dependence_case(label, seed, forward, shape, k_a, k_b):
    """x[0] as the example, companions_a and _b two different sets of other examples."""
    rng = np.random.default_rng(seed)
    x = rng.normal(1.0, 2.0, size=(1 + k_a + k_b,) + shape)
    return Case(label, (forward, x[0], x[1:1 + k_a], x[1 + k_a:]))


def _dependence_variant(rows="example", signed=False):
    """What batch_dependence returns when done another way: rows "example" (right), "all"
    (the whole batches compared), "first" (the example left out: the companions' first rows
    compared); the signed difference instead of its size."""
    def outputs(forward, example, companions_a, companions_b):
        if rows == "first":
            out_a, out_b = forward(companions_a)[:1], forward(companions_b)[:1]
        else:
            out_a = forward(np.concatenate([example[None], companions_a]))
            out_b = forward(np.concatenate([example[None], companions_b]))
            if rows == "example":
                out_a, out_b = out_a[:1], out_b[:1]
        difference = out_a - out_b                  # ValueError for batches of two sizes
        return (difference.max() if signed else np.abs(difference).max(),)
    return outputs


DEPENDENCE_MISTAKES = [
    Mistake("the whole batches compared, not the one example",
            "the companions differ between the two batches, so their rows differ for any "
            "method; compare only the example's own row (row 0 of each output)",
            _dependence_variant(rows="all")),
    Mistake("the example left out of the batches",
            "put the example into both batches, np.concatenate([example[None], companions]), "
            "and compare its row of the two outputs", _dependence_variant(rows="first")),
    Mistake("the signed difference, not its size",
            "return the largest absolute difference: np.abs(out_a[0] - out_b[0]).max()",
            _dependence_variant(signed=True)),
]


def batch_dependence(fn):
    """Check fn(forward, example, companions_a, companions_b) -> a float: the largest absolute
    difference between example's outputs in the batches [example, *companions_a] and
    [example, *companions_b], for forward(batch) -> out. example: one example (D,) or (C, H, W);
    companions: (k, D) or (k, C, H, W), k may differ between the two."""
    layer = _Forward("layer norm", engine_ln_forward, 6)
    group = _Forward("group norm, G = 2", engine_gn_forward, 4, num_groups=2)
    batch = _Forward("batch norm", bn_forward, 6)
    batch_images = _Forward("batch norm on images", bn_forward, 4)
    cases = [_dependence_case("layer norm, 7 and 7 companions", 40, layer, (6,), 7, 7),
             _dependence_case("group norm on images, 3 and 5 companions", 41, group, (4, 3, 3),
                              3, 5),
             _dependence_case("batch norm, 7 and 7 companions", 42, batch, (6,), 7, 7),
             _dependence_case("batch norm on images, 1 and 3 companions", 43, batch_images,
                              (4, 3, 3), 1, 3)]
    run_check("batch_dependence", fn, cases, _dependence_variant(), names=("difference",),
              mistakes=DEPENDENCE_MISTAKES,
              against="the reference: 0 for layer and group norm, more than 0.5 for batch norm")
