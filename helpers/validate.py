"""The input checks the whole engine shares: an integer argument, a finite array.

Every function that takes `batch_size`, `num_features`, `window`, `num_steps`, ... calls
`check_int`, so each gets the same clear error: a TypeError when the value is not an integer
(a float, a bool, None), a ValueError when it is out of range, both naming what was expected
and what came. `check_finite` refuses nan and inf in data (batch norm's input, train()'s
arrays) with a NonFiniteError naming the array and the first bad index.
"""
import numbers

import numpy as np


def check_int(name, value, low=1, high=None):
    """`value` as an int if it is an integer (not a bool) with low <= value <= high.

    high=None: no upper bound. Raises TypeError for a non-integer, ValueError out of range.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < low or (high is not None and value > high):
        expected = f">= {low}" if high is None else f"from {low} to {high}"
        raise ValueError(f"{name} must be an integer {expected}, got {value!r}")
    return int(value)


class NonFiniteError(ValueError):
    """An array that must be finite holds nan or inf (a ValueError naming the first bad index)."""


def check_finite(name, a):
    """Raise NonFiniteError if the array `a` holds nan or inf, naming `name`, the first bad
    index and how many values are bad; integer arrays always pass."""
    a = np.asarray(a)
    if not np.issubdtype(a.dtype, np.inexact):
        return
    bad = ~np.isfinite(a)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise NonFiniteError(f"{name} must be finite, got {a[index]} at index {index} "
                             f"({int(bad.sum())} of {a.size} values are nan or inf)")
