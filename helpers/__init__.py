"""helpers: the numpy engine of the Batch Normalization course.

Read it in this order, one concept per module:

    data.py        the MNIST subset and the seeded 2-D problems
    layers.py      Linear, the nonlinearities, softmax cross-entropy
    batchnorm.py   batch norm in training: Algorithm 1, its backward pass (closed form and
                   node by node), the running-statistics update (EMA, cumulative, window),
                   the BatchNorm layer with its running statistics, ghost batches
    batchnorm_eval.py  batch norm after training: population statistics, Algorithm 2, eval
                   mode with chosen statistics, both modes compared, folding into Linear
    normalization.py  for small batches: layer norm, group norm, batch renormalization
    network.py     Sequential and make_mlp, the network every lesson trains
    optim.py       SGD with heavy-ball momentum
    training.py    train, the one training loop (full-batch, stochastic, mini-batch), History
    divergence.py  when a run counts as diverged, one rule per kind of loss
    recording.py   per-layer activation statistics over training (what the panels draw)
    progress.py    the progress bar of long runs
    gradcheck.py   finite-difference gradient checks
    validate.py    the input checks: an integer argument (sizes, counts, steps), a finite array

Beside the engine, not needed to read it:

    helpers.display   the course style, figures shared by several lessons, slider panels
    helpers.lessons   each lesson's own experiments and figures, one module pair per lesson
                      (lesson1_descent.py, lesson1_figures.py, ...)
"""
import os

# Our matrices are small (60 x 784): one BLAS thread is as fast as two and leaves the other
# core to Jupyter. It only takes effect before numpy is first imported.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from .batchnorm import (  # noqa: E402
    CONVENTIONS,
    BatchNorm,
    batchnorm_backward,
    batchnorm_backward_graph,
    batchnorm_forward,
    convert_momentum,
    ema_update,
    frozen_running_stats,
    ghost_batchnorm_backward,
    ghost_batchnorm_forward,
    running_estimates,
    values_per_channel,
)
from .batchnorm_eval import (  # noqa: E402
    RunningStatsSweep,
    compare_modes,
    fold_batchnorm,
    forward_batch_stats,
    get_running_stats,
    population_stats,
    recompute_running_stats,
    set_running_stats,
    train_mode_logits,
    using_running_stats,
)
from .data import load_mnist, make_blobs, make_linear_regression, split_validation  # noqa: E402
from .divergence import cross_entropy_divergence, least_squares_divergence  # noqa: E402
from .gradcheck import gradient_errors, numerical_gradient, rel_error  # noqa: E402
from .layers import (  # noqa: E402
    Linear,
    ReLU,
    Sigmoid,
    Tanh,
    init_weights,
    softmax,
    softmax_cross_entropy,
)
from .network import BASE, Base, Sequential, make_base, make_mlp  # noqa: E402
from .normalization import (  # noqa: E402
    BatchRenorm,
    GroupNorm,
    LayerNorm,
    batchrenorm_backward,
    batchrenorm_forward,
    groupnorm_backward,
    groupnorm_forward,
    layernorm_backward,
    layernorm_forward,
)
from .optim import SGD  # noqa: E402
from .progress import progress_bar  # noqa: E402
from .recording import PERCENTILES, Recorder  # noqa: E402
from .training import History, iterate_minibatches, steps_per_epoch, train  # noqa: E402
from .validate import NonFiniteError  # noqa: E402

__all__ = [
    "BatchNorm", "batchnorm_forward", "batchnorm_backward", "batchnorm_backward_graph",
    "NonFiniteError", "frozen_running_stats", "values_per_channel", "ema_update",
    "running_estimates", "ghost_batchnorm_forward", "ghost_batchnorm_backward",
    "CONVENTIONS", "convert_momentum",
    "RunningStatsSweep", "compare_modes", "fold_batchnorm", "forward_batch_stats",
    "get_running_stats", "population_stats", "recompute_running_stats", "set_running_stats",
    "train_mode_logits", "using_running_stats",
    "load_mnist", "make_blobs", "make_linear_regression", "split_validation",
    "cross_entropy_divergence", "least_squares_divergence",
    "gradient_errors", "numerical_gradient", "rel_error",
    "Linear", "Sigmoid", "Tanh", "ReLU", "init_weights", "softmax", "softmax_cross_entropy",
    "BASE", "Base", "Sequential", "make_base", "make_mlp", "SGD", "PERCENTILES", "Recorder",
    "LayerNorm", "GroupNorm", "BatchRenorm", "layernorm_forward", "layernorm_backward",
    "groupnorm_forward", "groupnorm_backward", "batchrenorm_forward", "batchrenorm_backward",
    "History", "iterate_minibatches", "progress_bar", "steps_per_epoch", "train",
]
