"""Checks for the lesson 3 exercises: batch norm's forward pass (Algorithm 1), its compact
backward pass, and batch norm for images (statistics per channel over N, H and W).

Every check compares with the engine (`helpers.batchnorm_forward`, `batchnorm_backward`); the
backward reference is itself confirmed by finite differences (`helpers.numerical_gradient`).
The mistakes every normalisation can make come from `norms`, worded for batch norm.
"""
import numpy as np

from ..batchnorm import batchnorm_backward as engine_backward
from ..batchnorm import batchnorm_forward as engine_forward
from .core import Case, Mistake, run_check
from .norms import (
    BATCH,
    IMAGES,
    LARGE_OFFSET,
    backward_case,
    backward_check,
    backward_mistakes,
    forward_check,
    forward_mistakes,
    normalize,
    over_axes,
)
from .norms import data as _data


def _forward_cases():
    return [
        Case("(N, D) = (8, 5)", _data(0, (8, 5), 3.0, 2.0)),
        Case("features on very different scales",
             _data(1, (4, 3), [50.0, 0.0, -3.0], [10.0, 0.01, 1.0])),
        Case("batch of 2", _data(2, (2, 4))),
        Case(LARGE_OFFSET, _data(3, (16, 3), 1e6, 1.0)),
        Case("odd eps = 0.3", _data(4, (6, 4), 0.0, 0.5, eps=0.3)),
    ]


def _axes_variant(axes):
    """outputs(x, gamma, beta, eps) with the statistics over `axes` of x."""
    return lambda x, gamma, beta, eps: (_over(x, gamma, beta, eps, axes),)


def _over(x, gamma, beta, eps, axes):
    """The forward pass with the statistics over `axes` of x."""
    return normalize(over_axes(axes), x, gamma, beta, None, eps)


FORWARD_MISTAKES = [
    *forward_mistakes(BATCH).values(),
    Mistake("statistics per example (axis=1)",
            "batch norm takes each feature over the batch, axis=0 (one value per column); "
            "axis=1 normalises each example (that is layer norm)",
            _axes_variant((1,))),
]


def engine_out(x, gamma, beta, eps):
    """(out,) of the engine's batch norm (for (N, D) and for images)."""
    return (engine_forward(x, gamma, beta, eps)[0],)


def batchnorm_forward(fn):
    """Check fn(x, gamma, beta, eps) -> (out, cache) for x (N, D), gamma and beta (D,): out
    (N, D) must be Algorithm 1 of the paper (biased batch variance, eps inside the root);
    cache a dict with x_hat, std and gamma."""
    forward_check("batchnorm_forward", fn, _forward_cases(), BATCH, engine_out,
                  mistakes=FORWARD_MISTAKES, against="helpers.batchnorm_forward")


def _backward_case(label, seed, shape, loc=0.0, scale=1.0, eps=1e-5):
    return backward_case(label, engine_forward, _data(seed, shape, loc, scale, eps), seed)


BACKWARD_MISTAKES = list(backward_mistakes(BATCH).values())


def batchnorm_backward(fn):
    """Check fn(dout, cache) -> (dx, dgamma, dbeta): dout and dx (N, D), dgamma and dbeta (D,);
    cache: the dict of `helpers.batchnorm_forward` (x_hat (N, D), std (1, D), gamma (1, D))."""
    cases = [_backward_case("(N, D) = (8, 5)", 10, (8, 5), 3.0, 2.0),
             _backward_case("batch of 2", 11, (2, 3)),
             _backward_case("large offset (values near 1e3)", 12, (6, 4), 1e3),
             _backward_case("odd eps = 0.3", 13, (5, 4), 0.0, 0.5, eps=0.3)]
    backward_check("batchnorm_backward", fn, cases, BATCH, engine_forward,
                   lambda dout, cache: engine_backward(dout, cache), BACKWARD_MISTAKES)


def _image_layout(to_rows, from_rows):
    """The outputs of a forward pass that turns x into rows (M, C) with `to_rows`, normalises
    each column, and turns the result back with `from_rows(out, x)`."""
    def outputs(x, gamma, beta, eps):
        return (from_rows(normalize(BATCH, to_rows(x), gamma, beta, None, eps), x),)
    return outputs


def _channels_last(x):
    return x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1])


WRONG_AXES = "statistics over the wrong axes for images"
IMAGE_MISTAKES = [
    *forward_mistakes(IMAGES).values(),
    Mistake(f"{WRONG_AXES} (over N only: one mean per pixel)",
            "each channel has one mean over N, H and W together: axes (0, 2, 3)",
            _axes_variant((0,))),
    Mistake(f"{WRONG_AXES} (per image, over C, H and W)",
            "that is layer norm: take each channel over axes (0, 2, 3)",
            _axes_variant((1, 2, 3))),
    Mistake(f"{WRONG_AXES} (per image and channel, over H and W)",
            "that is instance norm; batch norm also averages over the batch: axes (0, 2, 3)",
            _axes_variant((2, 3))),
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
             Case(LARGE_OFFSET, _data(23, (3, 2, 3, 4), 1e6)),
             Case("odd eps = 0.3", _data(24, (2, 4, 3, 5), 0.0, 0.5, eps=0.3))]
    run_check("batchnorm_forward_images", fn, cases, engine_out,
              names=("out",), mistakes=IMAGE_MISTAKES, against="helpers.batchnorm_forward")
