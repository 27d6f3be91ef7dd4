"""Internal covariate shift, measured: how far each layer's input distribution moves.

The measure is the Wasserstein-1 ("earth mover's") distance: the least average distance the
mass of one distribution must travel to become the other. It is in the units of the values,
so "W1 = 0.5" means "the input to this sigmoid moved by 0.5 on average".
Also here: training that updates only chosen layers (cause and effect), and a grid of real
runs for the sliders (their panel is in lesson2_figures).
"""
import itertools

import numpy as np

from ..batchnorm import frozen_running_stats
from ..layers import softmax_cross_entropy
from ..network import make_mlp
from ..progress import progress_bar
from ..training import train


def wasserstein1(p, q, bins):
    """W1 distance between histograms p and q (..., B) on the same `bins` (B + 1 edges).

    p, q: counts or densities (each normalised to mass 1 here). A bin's mass sits at its
    centre, so shifting a histogram by k bins gives exactly k bin widths. Leading axes
    broadcast: p (T, L, B) against q (L, B) gives (T, L).
    """
    p, q, bins = np.asarray(p, float), np.asarray(q, float), np.asarray(bins, float)
    if bins.ndim != 1 or p.shape[-1] != len(bins) - 1 or q.shape[-1] != len(bins) - 1:
        raise ValueError(f"p and q need a last axis of len(bins) - 1 = {len(bins) - 1}, "
                         f"got shapes {p.shape} and {q.shape}")
    if np.any(np.diff(bins) <= 0):
        raise ValueError("bins must be strictly increasing")
    if not (np.isfinite(p).all() and np.isfinite(q).all()) or (p < 0).any() or (q < 0).any():
        raise ValueError("histograms must be finite and non-negative")
    mass_p, mass_q = p.sum(axis=-1, keepdims=True), q.sum(axis=-1, keepdims=True)
    if np.any(mass_p == 0) or np.any(mass_q == 0):
        raise ValueError("every histogram needs some mass, got an all-zero histogram")
    cdf_gap = np.cumsum(p / mass_p - q / mass_q, axis=-1)[..., :-1]
    centres = (bins[:-1] + bins[1:]) / 2
    return np.abs(cdf_gap) @ np.diff(centres)   # integral of |F_p - F_q| between centres


def wasserstein1_samples(a, b, axis=None):
    """Exact W1 between two equal-size samples: the mean distance between sorted values.

    axis=None pools all values of a and b (any shape); axis=0 compares column j of a (N, U)
    with column j of b (N, U), one unit at a time, and returns (U,).
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"need two non-empty samples of equal shape, got {a.shape} and {b.shape}")
    if axis is None:
        return float(np.abs(np.sort(a, axis=None) - np.sort(b, axis=None)).mean())
    return np.abs(np.sort(a, axis=axis) - np.sort(b, axis=axis)).mean(axis=axis)


def shift_between_checkpoints(activations):
    """W1 between consecutive recorded checkpoints of the inputs to each nonlinearity.

    activations: History.activations. Returns (steps (T-1,), W1 (T-1, L)); row t compares
    checkpoints t and t + 1 and is placed at the later step.
    """
    hist, bins = activations["pre_hist"], activations["pre_bins"]
    return activations["steps"][1:], wasserstein1(hist[1:], hist[:-1], bins)


def shift_from_start(activations):
    """W1 between every checkpoint and the first, per layer: (steps (T,), W1 (T, L))."""
    hist, bins = activations["pre_hist"], activations["pre_bins"]
    return activations["steps"], wasserstein1(hist, hist[0], bins)


def pre_activations(model, X):
    """The input to every hidden nonlinearity for X (N, D): a list of (N, units) arrays."""
    with frozen_running_stats(model):
        model.forward(X)
    return [a.x.copy() for a in model.activations]


def grad_at_nonlinearity(model, X, y):
    """Backpropagate the loss of one batch X (N, D), y (N,) and return, per hidden layer,
    (dL/dx (N, units), saturated (N, units) bool): the gradient at the input x of each
    nonlinearity, and where that nonlinearity is saturated."""
    with frozen_running_stats(model):
        _, dout = softmax_cross_entropy(model.forward(X), y)
    acts, out = model.activations, {}
    for layer in reversed(model.layers):
        dout = layer.backward(dout)
        if any(layer is a for a in acts):
            out[id(layer)] = dout
    return [(out[id(a)], a.saturated(a.out)) for a in acts]


def train_layers(model, X, y, *, layers, batch_size, lr, num_steps, measure_every, probe,
                 seed=0):
    """`helpers.train` on X (N, D), y (N,) that updates ONLY the hidden layers in `layers`.

    layers: 0-based hidden-layer indices, e.g. (0,) = first layer only, () = nothing learns
    (the control), or "all". Every other weight, the output layer's included, stays exactly
    as it was. At step 0, every `measure_every` steps and at the end, the exact W1 between
    each layer's input on `probe` (P, D) now and at step 0 is measured, per unit (then
    averaged over the units) and pooled over all units. Returns {"steps" (T,), "w1_unit"
    (T, L), "w1_pooled" (T, L), "start", "end"}, start/end being the per-layer inputs
    (P, units) before and after.
    """
    hidden = model.linears[:len(model.activations)]
    if layers == "all":
        params = model.parameters()
    elif all(isinstance(i, (int, np.integer)) and 0 <= i < len(hidden) for i in layers):
        params = [(f"hidden{i + 1}.{k}", p, hidden[i].grads[k])
                  for i in layers for k, p in hidden[i].params.items()]
    else:
        raise ValueError(f"layers must be 'all' or indices 0..{len(hidden) - 1}, got {layers!r}")
    history = train(model, X, y, batch_size=batch_size, lr=lr, num_steps=num_steps, seed=seed,
                    parameters=params, eval_every=0, measure_every=measure_every,
                    measure=lambda m: pre_activations(m, probe))
    inputs = history.measurements                 # per checkpoint: each layer's (P, units)
    start = inputs[0]
    return {"steps": np.array(history.measure_steps),
            "w1_unit": np.array([[wasserstein1_samples(a, b, axis=0).mean()
                                  for a, b in zip(start, now)] for now in inputs]),
            "w1_pooled": np.array([[wasserstein1_samples(a, b) for a, b in zip(start, now)]
                                   for now in inputs]),
            "start": start, "end": inputs[-1]}


def train_grid(X, y, batch_sizes, momenta, *, lr, num_steps, record_every, probe, X_test,
               y_test, eval_every, seed=0, done=None, progress="training runs"):
    """One real training run of make_mlp(seed=seed) per (batch_size, momentum), all at the same
    lr and for the same number of steps, with activations recorded on probe (P, D) and test
    accuracy measured every eval_every steps and at the end.

    done: {(batch_size, momentum): History} of runs already trained with exactly these
    settings (e.g. the lesson's main run), used as they are instead of training them again.
    Returns {(batch_size, momentum): History}.
    """
    settings = dict(lr=lr, num_steps=num_steps, seed=seed)
    for (b, m), history in (done or {}).items():
        want = dict(settings, batch_size=b, momentum=m)
        got = {k: history.config.get(k) for k in want}
        if got != want:
            raise ValueError(f"a run given in done must have been trained with {want}, got {got}")
    todo = [key for key in itertools.product(batch_sizes, momenta) if key not in (done or {})]
    runs = {(b, m): train(make_mlp(seed=seed), X, y, batch_size=b, lr=lr, momentum=m,
                          num_steps=num_steps, seed=seed, X_test=X_test, y_test=y_test,
                          eval_every=eval_every, record_every=record_every, probe=probe)
            for b, m in progress_bar(todo, progress)}
    return {key: (done or {}).get(key) or runs[key]
            for key in itertools.product(batch_sizes, momenta)}
