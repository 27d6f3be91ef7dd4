"""The one check of an integer argument (a size, a count, a number of steps) for the course.

Every function that takes `batch_size`, `num_features`, `window`, `num_steps`, ... calls
`check_int`, so each gets the same clear error: a TypeError when the value is not an integer
(a float, a bool, None), a ValueError when it is out of range, both naming what was expected
and what came.
"""
import numbers


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
