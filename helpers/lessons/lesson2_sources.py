"""Where a layer's shift comes from: the layers below it, or its own weights and bias.

The lesson records x^(l) = h^(l-1) W^(l) + b^(l), the input to layer l's nonlinearity. It moves
when the layers below move (they change h^(l-1), the input to this layer's weights: the
paper's "moving target") and when the layer's own W^(l), b^(l) move. Given two snapshots of
the parameters, a (earlier) and b (later), we evaluate layer l on a fixed probe batch with its
input h and its own parameters p each taken from a or b: x(h_a, p_a), x(h_b, p_a), x(h_a, p_b),
x(h_b, p_b). Then
    whole:   x(h_b, p_b)  vs  x(h_a, p_a)
    below_a: x(h_b, p_a)  vs  x(h_a, p_a)   (input a -> b, own params held at a)
    below_b: x(h_b, p_b)  vs  x(h_a, p_b)   (input a -> b, own params held at b)
    own_a:   x(h_a, p_b)  vs  x(h_a, p_a)   (own params a -> b, input held at a)
    own_b:   x(h_b, p_b)  vs  x(h_b, p_a)   (own params a -> b, input held at b)
    below = (below_a + below_b) / 2,  own = (own_a + own_b) / 2,
    remainder = whole - below - own.
Averaging both orders makes the split independent of which snapshot is called a: swapping
a and b swaps below_a with below_b and own_a with own_b. The distance is not additive, so
the remainder is what the two parts leave unexplained (the "non-additive remainder"), not a
cancellation. The measure is the lesson's exact W1 distance per unit, averaged over the
units, in the units of x. No training happens here: only forward passes.
"""
import numpy as np

from .lesson2_shift import wasserstein1_samples

PARTS = ("below", "own", "whole", "remainder", "below_a", "below_b", "own_a", "own_b")


def snapshot(model):
    """A copy of every Linear layer's parameters: a list of {"W": (in, out), "b": (out,)}.
    Pass it as train(..., measure=snapshot, measure_every=k) to keep one per checkpoint."""
    return [{k: v.copy() for k, v in lin.params.items()} for lin in model.linears]


def hidden_inputs(model, params, X):
    """Forward X (N, D) through the hidden layers of `model` (Linear -> nonlinearity, no batch
    norm) with the parameters `params` (a `snapshot`) instead of the model's own.

    Returns (inputs, pre): per hidden layer, the input to its weights h^(l-1) (N, in) and the
    input to its nonlinearity x^(l) (N, units). The model itself is not changed.
    """
    if model.batchnorms:
        raise ValueError("hidden_inputs needs a network without batch norm")
    inputs, pre, h = [], [], np.asarray(X, float)
    for act, p in zip(model.activations, params):
        inputs.append(h)
        pre.append(h @ p["W"] + p["b"])
        h = act.f(pre[-1])
    return inputs, pre


def unit_shift(a, b):
    """Exact W1 between a (N, U) and b (N, U) per unit (column), averaged over the U units."""
    return float(wasserstein1_samples(a, b, axis=0).mean())


def decompose_shift(model, params_a, params_b, X):
    """Split each hidden layer's shift between two snapshots (see the module docstring).

    Returns (L, 8): per hidden layer [below, own, whole, remainder, below_a, below_b, own_a,
    own_b] (`PARTS`). For the first layer both `below` parts are exactly 0 (its input is the
    data); for a layer whose own parameters are equal in a and b, both `own` parts are
    exactly 0. Swapping a and b gives the same below, own, whole and remainder.
    """
    return _split(params_a, params_b, hidden_inputs(model, params_a, X),
                  hidden_inputs(model, params_b, X))


def _split(params_a, params_b, fwd_a, fwd_b):
    """`decompose_shift` from the two snapshots' forward passes (`hidden_inputs`)."""
    (in_a, x_a), (in_b, x_b) = fwd_a, fwd_b
    rows = []
    for l in range(len(x_a)):                                 # hidden layers only
        pa, pb = params_a[l], params_b[l]
        if in_a[l] is in_b[l]:                                # the first layer: the data
            x_ba, x_ab = x_a[l], x_b[l]
        else:
            x_ba = in_b[l] @ pa["W"] + pa["b"]                # input at b, own params at a
            x_ab = in_a[l] @ pb["W"] + pb["b"]                # input at a, own params at b
        # each sample sorted once (per unit); the same numbers as `unit_shift`, 4 sorts not 10
        aa, bb, ab, ba = (np.sort(v, axis=0) for v in (x_a[l], x_b[l], x_ab, x_ba))

        def w1(u, v):
            return float(np.abs(u - v).mean(axis=0).mean())

        whole = w1(aa, bb)
        below_a, below_b = w1(aa, ba), w1(ab, bb)
        own_a, own_b = w1(aa, ab), w1(ba, bb)
        below, own = (below_a + below_b) / 2, (own_a + own_b) / 2
        rows.append([below, own, whole, whole - below - own, below_a, below_b, own_a, own_b])
    return np.array(rows)


def shift_sources(model, snapshots, X, windows=False):
    """`decompose_shift` along a run: snapshots (T of them, e.g. History.measurements).

    windows=False: every snapshot against the first (how far from the start);
    windows=True: every snapshot against the one before it (what each stretch of training
    did, the moving target as the layer meets it). Returns {part: (T or T - 1, L)}.
    """
    if len(snapshots) < 2:
        raise ValueError("need at least two snapshots")
    fwd = [hidden_inputs(model, s, X) for s in snapshots]   # one forward pass per snapshot
    pairs = (zip(range(len(snapshots) - 1), range(1, len(snapshots))) if windows
             else ((0, t) for t in range(len(snapshots))))
    out = np.array([_split(snapshots[i], snapshots[j], fwd[i], fwd[j])
                    for i, j in pairs])                                   # (T, L, 8)
    return {part: out[:, :, i] for i, part in enumerate(PARTS)}
