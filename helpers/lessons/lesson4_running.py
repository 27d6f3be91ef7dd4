"""Lesson 4: running estimates of a stream of batch statistics, and the momentum conventions.

A *stream* is the sequence of per-batch statistics (T, C) a BatchNorm sees in training; a
*running estimate* summarises it: exponential moving average (EMA), window of the last N
batches, or cumulative average. Every library calls its EMA weight `momentum`, and they do not
agree on which value it weights; `convert_momentum` translates between them.
"""
import numpy as np

# Which value each library's `momentum` weights in the running-statistics update
# (PyTorch nn.BatchNorm docs; Keras 3 BatchNormalization source; CS231n assignment 2
# batchnorm_forward; ONNX BatchNormalization operator).
CONVENTIONS = {"pytorch": "new", "keras": "old", "cs231n": "old", "onnx": "old"}


def _weight_of_new(momentum, convention):
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {tuple(CONVENTIONS)}, got {convention!r}")
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float, np.floating)) \
            or not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be a number in [0, 1], got {momentum!r}")
    return float(momentum) if CONVENTIONS[convention] == "new" else 1.0 - float(momentum)


def convert_momentum(momentum, source="keras", target="pytorch"):
    """The `momentum` that gives the same running statistics in `target`'s convention."""
    a = _weight_of_new(momentum, source)            # weight of the new batch
    _weight_of_new(0.0, target)                      # validates the target's name
    return a if CONVENTIONS[target] == "new" else 1.0 - a


def ema_update(running, batch_stat, momentum, convention="pytorch"):
    """One running-statistics update, written exactly as the named library writes it."""
    _weight_of_new(momentum, convention)            # validates both arguments
    if CONVENTIONS[convention] == "old":            # Keras, CS231n, ONNX
        return momentum * running + (1 - momentum) * batch_stat
    return (1 - momentum) * running + momentum * batch_stat


def running_estimates(stream, momentum=0.1, window=None, init=0.0, convention="pytorch"):
    """The running estimate after each batch of `stream` (T, C) or (T,); same shape back.

    momentum: EMA weight in `convention`; None: cumulative average of all batches so far
    (PyTorch's momentum=None; the paper's Algorithm 2 takes this average after training, over
    batches of the frozen network); window=N: mean of the last N batches (the source lesson's
    "moving average over the most recent N batches"). init: value before the first batch
    (0 for running_mean, 1 for running_var), which only the EMA remembers.
    """
    stream = np.asarray(stream, dtype=float)
    if stream.ndim not in (1, 2) or len(stream) == 0:
        raise ValueError(f"stream must be (T,) or (T, C) with T >= 1, got shape {stream.shape}")
    t = np.arange(1, len(stream) + 1).reshape((-1,) + (1,) * (stream.ndim - 1))
    if window is not None:
        if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
            raise ValueError(f"window must be a positive int, got {window!r}")
        c = np.cumsum(stream, axis=0)
        c[window:] = c[window:] - c[:-window].copy()
        return c / np.minimum(t, window)
    if momentum is None:
        return np.cumsum(stream, axis=0) / t
    out, r = np.empty_like(stream), np.full(stream.shape[1:], float(init))
    for i, s in enumerate(stream):
        r = out[i] = ema_update(r, s, momentum, convention)
    return out


def effective_window(momentum, convention="pytorch"):
    """Window length N whose plain average matches an EMA: same mean age, same noise, 2/a - 1.

    With weight a on the new batch, batch k steps old has weight a(1-a)^k, mean age (1-a)/a;
    a window of N batches has mean age (N-1)/2. Equal when N = 2/a - 1.
    """
    a = _weight_of_new(momentum, convention)
    if a == 0:
        raise ValueError("momentum that never takes in a new batch has no effective window")
    return 2.0 / a - 1.0
