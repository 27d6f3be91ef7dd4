"""Lesson 4: the momentum conventions of the running-statistics update.

Every library calls its EMA weight `momentum`, and they do not agree on which value it
weights. The engine's update (`helpers.batchnorm.ema_update`, `running_estimates`) is
PyTorch's, and `helpers.batchnorm.convert_momentum` translates between the conventions;
`update_as_written` writes the update exactly as a named library writes it.
`effective_window` is the window whose plain average matches an EMA.
"""
import numpy as np

from ..batchnorm import CONVENTIONS, ema_update, weight_of_new


def update_as_written(running, batch_stat, momentum, convention):
    """One running-statistics update, written exactly as the named library writes it:
    Keras, CS231n and ONNX weight the old value by momentum; PyTorch is the engine's
    `ema_update`."""
    weight_of_new(momentum, convention)            # validates both arguments
    if CONVENTIONS[convention] == "old":
        return momentum * running + (1 - momentum) * batch_stat
    return ema_update(running, batch_stat, momentum)


def stream_as_written(stream, momentum, convention, init=0.0):
    """`update_as_written` applied along a stream (T, C) or (T,) of batch statistics, starting
    from `init`: the running estimate after each batch, same shape back."""
    stream = np.asarray(stream, dtype=float)
    out, r = np.empty_like(stream), np.full(stream.shape[1:], float(init))
    for i, s in enumerate(stream):
        r = out[i] = update_as_written(r, s, momentum, convention)
    return out


def effective_window(momentum, convention="pytorch"):
    """Window length N whose plain average matches an EMA: same mean age, same noise, 2/a - 1.

    With weight a on the new batch, batch k steps old has weight a(1-a)^k, mean age (1-a)/a;
    a window of N batches has mean age (N-1)/2. Equal when N = 2/a - 1.
    """
    a = weight_of_new(momentum, convention)
    if a == 0:
        raise ValueError("momentum that never takes in a new batch has no effective window")
    return 2.0 / a - 1.0
