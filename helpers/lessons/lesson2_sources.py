"""Where a layer's shift comes from: the layers below it, or its own weights and bias.

The lesson records x^(l) = h^(l-1) W^(l) + b^(l), the input to layer l's nonlinearity. It moves
when the layers below move (they change h^(l-1), the input to this layer's weights: the
paper's "moving target") and when the layer's own W^(l), b^(l) move. Given two snapshots of
the parameters, a (earlier) and b (later), we evaluate layer l four ways on a fixed probe
batch:
    whole:  x^(l) with everything at b           vs  everything at a
    below:  the layers below at b, own params a  vs  everything at a
    own:    the layers below at a, own params b  vs  everything at a
and call interaction = whole - below - own (the measure is not additive, so this is what the
two parts leave unexplained). The measure is the lesson's exact W1 distance per unit, averaged
over the units, in the units of x. No training happens here: only forward passes.
"""
import numpy as np

from .lesson2_shift import wasserstein1_samples

PARTS = ("below", "own", "whole", "interaction")


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

    Returns (L, 4): per hidden layer [below, own, whole, interaction] (`PARTS`). For the
    first layer `below` is exactly 0 (its input is the data); for a layer whose own
    parameters are equal in a and b, `own` is exactly 0.
    """
    in_a, x_a = hidden_inputs(model, params_a, X)
    in_b, x_b = hidden_inputs(model, params_b, X)
    rows = []
    for l in range(len(x_a)):                                 # hidden layers only
        pa, pb = params_a[l], params_b[l]
        whole = unit_shift(x_a[l], x_b[l])
        below = unit_shift(x_a[l], in_b[l] @ pa["W"] + pa["b"])
        own = unit_shift(x_a[l], in_a[l] @ pb["W"] + pb["b"])
        rows.append([below, own, whole, whole - below - own])
    return np.array(rows)


def shift_sources(model, snapshots, X, windows=False):
    """`decompose_shift` along a run: snapshots (T of them, e.g. History.measurements).

    windows=False: every snapshot against the first (how far from the start);
    windows=True: every snapshot against the one before it (what each stretch of training
    did, the moving target as the layer meets it). Returns {part: (T or T - 1, L)}.
    """
    if len(snapshots) < 2:
        raise ValueError("need at least two snapshots")
    pairs = (zip(snapshots[:-1], snapshots[1:]) if windows
             else ((snapshots[0], s) for s in snapshots))
    out = np.array([decompose_shift(model, a, b, X) for a, b in pairs])   # (T, L, 4)
    return {part: out[:, :, i] for i, part in enumerate(PARTS)}


def update_ratio(snapshots):
    """Per hidden layer, ||W(t+1) - W(t)|| / ||W(t)|| between consecutive snapshots:
    how much of its weights each stretch of training rewrote. Returns (T - 1, L) for the
    hidden layers (all but the last Linear)."""
    return np.array([[np.linalg.norm(b["W"] - a["W"]) / np.linalg.norm(a["W"])
                      for a, b in zip(s0[:-1], s1[:-1])]
                     for s0, s1 in zip(snapshots[:-1], snapshots[1:])])
