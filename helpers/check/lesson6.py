"""Checks for the lesson 6 exercises: layer norm and group norm as forward/backward pairs, and
the property they are used for with small batches (an example's output does not depend on its
batch-mates).

References: the engine (`helpers.layernorm_forward/backward`, `helpers.groupnorm_forward/
backward`); the backward references are themselves confirmed by finite differences
(`helpers.numerical_gradient`) before they are used.
"""
import numpy as np

from ..batchnorm import batchnorm_forward as bn_forward
from ..normalization import groupnorm_backward as engine_gn_backward
from ..normalization import groupnorm_forward as engine_gn_forward
from ..normalization import layernorm_backward as engine_ln_backward
from ..normalization import layernorm_forward as engine_ln_forward
from .core import (
    Case,
    CheckFailed,
    Mistake,
    as_outputs,
    out_of_pair,
    run_check,
    same,
)
from .norms import (
    GROUP,
    LARGE_OFFSET,
    LAYER,
    Viewed,
    backward_case,
    backward_check,
    backward_mistakes,
    backward_variant,
    forward_check,
    forward_mistakes,
    normalize,
    over_axes,
)
from .norms import data as _data

# --- layer norm: x (N, D), statistics per example over its D features ---


def _ln_over(axes):
    """outputs(x, gamma, beta, eps) of layer norm with the statistics over `axes`."""
    return lambda x, gamma, beta, eps: (normalize(over_axes(axes), x, gamma, beta, None, eps),)


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
               "x - mu then subtracts mu[j] from feature j: take x.mean(axis=1, "
               "keepdims=True), shape (N, 1)")

LAYER_FORWARD_MISTAKES = [
    *forward_mistakes(LAYER).values(),
    Mistake("statistics over the batch (axis=0): that is batch norm",
            "layer norm takes each example over its own D features: x.mean(axis=1, "
            "keepdims=True), shape (N, 1)", _ln_over((0,))),
    Mistake(*NO_KEEPDIMS, _without_keepdims(var_of_centred=True)),
    Mistake(*NO_KEEPDIMS, _without_keepdims(var_of_centred=False)),
]


def layernorm_forward(fn):
    """Check fn(x, gamma, beta, eps) -> (out, cache) for x (N, D), gamma and beta (D,): out
    (N, D) is layer norm (each example over its D features, biased variance, eps inside)."""
    cases = [
        Case("(N, D) = (6, 8)", _data(0, (6, 8), 3.0, 2.0)),
        Case("examples on very different scales",
             _data(1, (3, 5), np.array([[50.0], [0.0], [-3.0]]),
                      np.array([[10.0], [0.01], [1.0]]))),
        Case("a single example (N = 1)", _data(2, (1, 6))),
        Case("a square batch (N = D = 5)", _data(3, (5, 5), 1.0, 2.0)),
        Case(LARGE_OFFSET, _data(4, (4, 16), 1e6, 1.0)),
        Case("odd eps = 0.3", _data(5, (4, 6), 0.0, 0.5, eps=0.3)),
    ]
    forward_check("layernorm_forward", fn, cases, LAYER,
                  lambda x, gamma, beta, eps: (engine_ln_forward(x, gamma, beta, eps)[0],),
                  mistakes=LAYER_FORWARD_MISTAKES, against="helpers.layernorm_forward")


def _ln_backward_case(label, seed, shape, loc=0.0, scale=1.0, eps=1e-5):
    return backward_case(label, engine_ln_forward, _data(seed, shape, loc, scale, eps), seed)


LAYER_BACKWARD_MISTAKES = [
    *backward_mistakes(LAYER).values(),
    Mistake("the sums of dx over the batch (axis=0): that is batch norm's backward",
            "layer norm's statistics are per example: sum over axis=1 with keepdims=True, "
            "D = x_hat.shape[1]",
            backward_variant(LAYER, view=over_axes((0,)).view)),
]


def layernorm_backward(fn):
    """Check fn(dout, cache) -> (dx, dgamma, dbeta): dout and dx (N, D), dgamma and dbeta (D,);
    cache: the dict of `helpers.layernorm_forward` (x_hat (N, D), std (N, 1), gamma (D,))."""
    cases = [_ln_backward_case("(N, D) = (6, 8)", 10, (6, 8), 3.0, 2.0),
             _ln_backward_case("a single example (N = 1)", 11, (1, 5)),
             _ln_backward_case("two features (D = 2)", 12, (4, 2)),
             _ln_backward_case("a square batch (N = D = 4)", 15, (4, 4), 1.0, 2.0),
             _ln_backward_case("large offset (values near 1e3)", 13, (5, 6), 1e3),
             _ln_backward_case("odd eps = 0.3", 14, (4, 5), 0.0, 0.5, eps=0.3)]
    backward_check("layernorm_backward", fn, cases, LAYER, engine_ln_forward,
                   lambda dout, cache: engine_ln_backward(dout, cache), LAYER_BACKWARD_MISTAKES)


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


def _grouping(layout):
    """view(x, G) -> (rows (N, G, M), back, (2,)) for a way of cutting x (N, C, H, W) into
    groups: "strided", group g made of channels g, g + G, g + 2G, ...; "channels_last",
    x.transpose(0, 2, 3, 1) cut into G rows (each row a block of positions with all their
    channels); "whole_batch", x.reshape(G, -1): G rows of the whole batch, mixing examples."""
    def view(x, num_groups):
        n, c = x.shape[:2]
        if layout == "whole_batch":
            return x.reshape(num_groups, -1), lambda r: r.reshape(x.shape), (1,)
        if layout == "channels_last":
            last = x.transpose(0, 2, 3, 1)
            return last.reshape(n, num_groups, -1), \
                lambda r: r.reshape(last.shape).transpose(0, 3, 1, 2), (2,)
        split = (n, c // num_groups, num_groups) + x.shape[2:]
        rows = x.reshape(split).swapaxes(1, 2).reshape(n, num_groups, -1)
        return rows, lambda r: r.reshape((n, num_groups, c // num_groups) + x.shape[2:]) \
            .swapaxes(1, 2).reshape(x.shape), (2,)
    return view


def _gn_over(values):
    """outputs(x, gamma, beta, num_groups, eps) of group norm over other `values` (a Viewed)."""
    return lambda x, gamma, beta, num_groups, eps: (
        normalize(values, x, gamma, beta, num_groups, eps),)


def _batch_in_groups(x, num_groups):
    v, back, _ = GROUP.view(x, num_groups)
    return v, back, (0, 2)


def _tiled(x, gamma, beta, num_groups, eps):
    """gamma and beta spread over the rows with np.tile (value k of a row gets the gamma of
    channel k % C)."""
    rows, back, _ = GROUP.view(x, num_groups)
    rows_hat = normalize(GROUP, x, np.ones_like(gamma), np.zeros_like(beta), num_groups,
                         eps).reshape(rows.shape)
    reps, per_value = x[0, 0].size, (1, num_groups, -1)
    return (back(np.tile(gamma, reps).reshape(per_value) * rows_hat
                 + np.tile(beta, reps).reshape(per_value)),)


def _never(*args):
    """A mistake that no output shows: it is recognised by where the student's code crashes."""
    return None


PER_GROUP = Mistake(
    "gamma and beta applied per group instead of per channel",
    "one value per channel: reshape x_hat to (N, C, H, W), use gamma.reshape(1, C, 1, 1) "
    "(yours runs only where G = C)", _never)

STRIDED = ("groups made of every G-th channel: the reshape mixes channels of different groups",
           "group g is consecutive channels: x.reshape(N, G, -1), not "
           "x.reshape(N, C // G, G, H, W)")
CHANNELS_LAST = ("channels moved last before the reshape (lesson 3's transpose)",
                 "a group's consecutive channels already lie in one row of x.reshape(N, G, -1): "
                 "no transpose")

GROUP_FORWARD_MISTAKES = [
    *forward_mistakes(GROUP).values(),
    Mistake("statistics per channel over the batch (axes 0, 2, 3): that is batch norm",
            "group norm never looks at other examples: each row of x.reshape(N, G, -1), "
            "axis=2", _gn_over(over_axes((0, 2, 3)))),
    Mistake("the batch axis included in the group statistics",
            "one mean and variance per example and group, shape (N, G, 1): average each row "
            "of the (N, G, M) view over axis=2 only", _gn_over(Viewed(_batch_in_groups))),
    Mistake("x.reshape(G, -1): the whole batch normalised at once",
            "each example has its own groups: x.reshape(N, G, -1), statistics over axis=2",
            _gn_over(Viewed(_grouping("whole_batch")))),
    Mistake("statistics per channel (axes 2, 3): that is instance norm, the groups are ignored",
            "a group is C // G consecutive channels: each row of x.reshape(N, G, -1), axis=2",
            _gn_over(over_axes((2, 3)))),
    Mistake("statistics over the whole example (axes 1, 2, 3): that is layer norm",
            "one mean per example *and group*: each row of x.reshape(N, G, -1), axis=2",
            _gn_over(over_axes((1, 2, 3)))),
    Mistake(*STRIDED, _gn_over(Viewed(_grouping("strided")))),
    Mistake(*CHANNELS_LAST, _gn_over(Viewed(_grouping("channels_last")))),
    PER_GROUP,
    Mistake("gamma and beta spread over the rows with np.tile: they land on the wrong channels",
            "reshape x_hat to (N, C, H, W) and use gamma.reshape(1, C, 1, 1)", _tiled),
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

    def reference(x, gamma, beta, num_groups, eps):
        return (engine_gn_forward(x, gamma, beta, num_groups, eps)[0],)
    try:
        forward_check(checked, fn, cases, GROUP, reference, mistakes=GROUP_FORWARD_MISTAKES,
                      against="helpers.groupnorm_forward", crashed=crashed)
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
    return backward_case(label, engine_gn_forward,
                         _gn_data(seed, shape, num_groups, loc, scale, eps), seed)


def _per_group_params(dout, cache):
    """(dx, dgamma, dbeta) with the parameter gradients summed per group of the (N, G, M)
    view, shape (G,)."""
    n, g = dout.shape[0], cache["num_groups"]
    rows, x_hat = dout.reshape(n, g, -1), cache["x_hat"].reshape(n, g, -1)
    return engine_gn_backward(dout, cache)[0], (rows * x_hat).sum(axis=(0, 2)), \
        rows.sum(axis=(0, 2))


GROUP_BACKWARD_MISTAKES = [
    *backward_mistakes(GROUP).values(),
    Mistake("M taken as the channels per group, C // G",
            "a group's statistics are over its channels *and their positions*: "
            "M = C // G * H * W, rows.shape[2] of the (N, G, M) view",
            backward_variant(GROUP, count=lambda dout, groups: dout.shape[1] // groups)),
    Mistake(*STRIDED, backward_variant(GROUP, view=_grouping("strided"))),
    Mistake(*CHANNELS_LAST, backward_variant(GROUP, view=_grouping("channels_last"))),
    Mistake("dgamma and dbeta per group instead of per channel",
            "one value per channel: sum dout * x_hat and dout over axes (0, 2, 3), shape (C,)",
            lambda dout, cache: _per_group_params(dout, cache)),
    Mistake("dgamma and dbeta summed over the batch only",
            "gamma and beta are shared by every example and every position: sum over axes "
            "(0, 2, 3), shape (C,)", lambda dout, cache: (
                engine_gn_backward(dout, cache)[0], (dout * cache["x_hat"]).sum(axis=0),
                dout.sum(axis=0))),
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
    backward_check("groupnorm_backward", fn, cases, GROUP, engine_gn_forward,
                   lambda dout, cache: engine_gn_backward(dout, cache), GROUP_BACKWARD_MISTAKES)


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


def _dependence_variant(rows="example", signed=False, mean=False):
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
        if mean:
            return (np.abs(difference).mean(),)
        return (difference.max() if signed else np.abs(difference).max(),)
    return outputs


DEPENDENCE_MISTAKES = [
    Mistake("the whole batches compared, not the one example",
            "the companions' rows differ for any method: compare only the example's row "
            "(row 0 of each output)",
            _dependence_variant(rows="all")),
    Mistake("the example left out of the batches",
            "put the example into both batches, np.concatenate([example[None], companions]), "
            "and compare its row of the two outputs", _dependence_variant(rows="first")),
    Mistake("the signed difference, not its size",
            "return the largest absolute difference: np.abs(out_a[0] - out_b[0]).max()",
            _dependence_variant(signed=True)),
    Mistake("the mean absolute difference, not the largest",
            "return the largest: np.abs(out_a[0] - out_b[0]).max()",
            _dependence_variant(mean=True)),
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
