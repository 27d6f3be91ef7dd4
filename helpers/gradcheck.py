"""Finite-difference gradient checks (CS231n style), used by the tests and the lessons."""
import numpy as np


def rel_error(a, b):
    """Relative error of two whole arrays: ||a - b|| / (||a|| + ||b||) (Euclidean norms).

    1e-7 or less means they agree. Whole-array norms rather than entry by entry, because a
    gradient entry that is nearly 0 (batch norm's dx sums to 0) has a finite-difference
    round-off error that is large relative to itself but not to the gradient.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"rel_error needs two arrays of one shape, got {a.shape} and {b.shape}")
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300))


def numerical_gradient(f, x, dout=None, h=1e-5):
    """Central-difference gradient of f at x, perturbing x in place and restoring it.

    f() takes no arguments and reads x (so x can be a parameter inside a layer).
    dout=None: f returns a scalar and the result is df/dx, shaped like x.
    dout given: f returns an array shaped like dout, and the result is d(sum(f * dout))/dx,
    the gradient a backward pass with upstream gradient dout must produce.
    """
    if not np.issubdtype(np.asarray(x).dtype, np.floating):
        raise TypeError(f"numerical_gradient needs a float array x, got dtype {x.dtype}")
    grad = np.zeros_like(x, dtype=float)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        plus = f()
        x[i] = old - h
        minus = f()
        x[i] = old
        diff = plus - minus if dout is None else np.sum((plus - minus) * dout)
        grad[i] = diff / (2 * h)
    return grad


def gradient_errors(forward, backward, x, gamma, beta, dout):
    """Relative errors of a normalization layer's backward pass against central differences.

    forward(x, gamma, beta) -> (out, cache); backward(dout, cache) -> (dx, dgamma, dbeta).
    x, dout: shaped like the layer's input; gamma, beta: (C,). Returns {"dx", "dgamma",
    "dbeta"} -> relative error (`rel_error`) of each against `numerical_gradient`.
    """
    _, cache = forward(x, gamma, beta)
    analytic = backward(dout, cache)
    return {name: rel_error(grad, numerical_gradient(lambda: forward(x, gamma, beta)[0], wrt,
                                                     dout))
            for name, grad, wrt in zip(("dx", "dgamma", "dbeta"), analytic, (x, gamma, beta))}
