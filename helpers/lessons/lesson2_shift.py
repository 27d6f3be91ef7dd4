"""Internal covariate shift, measured: how far each layer's input distribution moves.

The measure is the Wasserstein-1 ("earth mover's") distance: the least average distance the
mass of one distribution must travel to become the other: how far the distribution moved, in
the units of the values (a plain shift by c gives |c|). The recorder's histograms pool all
units of a layer, so the W1 here is the pooled one; the exact W1 per unit, averaged over the
units, is larger where units move in opposite directions.
The lesson writes the exact distance between two samples in a cell; here it is computed
from the recorder's histograms (`wasserstein1`), along a run.
"""
import numpy as np


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
