"""Checks for the exercise notebooks (notebooks/exercises/): each runs the student's function
on a few cases against the engine and prints one line, "passed", or raises one `CheckFailed`
whose message names the mistake it recognised and how to fix it.

    from helpers import check
    check.batchnorm_forward(batchnorm_forward)

    core.py      CheckFailed, running cases, comparing, naming a mistake by its signature
    norms.py     what the normalisation checks share: one table of mistakes per idea, the
                 cache contract, the backward references
    lesson1.py   minibatch_gd, momentum_step
    lesson3.py   batchnorm_forward, batchnorm_backward, batchnorm_forward_images
    lesson4.py   update_running_stats, batchnorm_eval, window_average, convert_momentum,
                 fold_batchnorm
    lesson6.py   layernorm_forward, layernorm_backward, groupnorm_forward, groupnorm_backward,
                 batch_dependence
"""
from .core import CheckFailed
from .lesson1 import minibatch_gd, momentum_step
from .lesson3 import batchnorm_backward, batchnorm_forward, batchnorm_forward_images
from .lesson4 import (
    batchnorm_eval,
    convert_momentum,
    fold_batchnorm,
    update_running_stats,
    window_average,
)
from .lesson6 import (
    batch_dependence,
    groupnorm_backward,
    groupnorm_forward,
    layernorm_backward,
    layernorm_forward,
)

__all__ = [
    "CheckFailed", "minibatch_gd", "momentum_step", "batchnorm_forward", "batchnorm_backward",
    "batchnorm_forward_images", "update_running_stats", "batchnorm_eval", "window_average",
    "convert_momentum", "fold_batchnorm", "layernorm_forward", "layernorm_backward",
    "groupnorm_forward", "groupnorm_backward", "batch_dependence",
]
