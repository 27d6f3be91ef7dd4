"""Checks for the lesson 4 exercises: the running-statistics update (PyTorch's convention,
unbiased variance), the eval-mode forward pass, the average of the last N batches, converting
a momentum between conventions, and folding batch norm into the linear layer before it.

References: `helpers.BatchNorm` (training and eval mode) and lesson 4's own functions
(`running_estimates`, `convert_momentum`, `fold_batchnorm`).
"""
import numpy as np

from ..batchnorm import BatchNorm, running_estimates, values_per_channel
from ..batchnorm import convert_momentum as lesson_convert
from ..batchnorm_eval import fold_batchnorm as lesson_fold
from ..layers import Linear
from ..network import Sequential
from .core import Case, Mistake, run_check, std_mistakes


def _axes(x):
    """Every axis but the channel axis 1: (0,) for (N, C), (0, 2, 3) for (N, C, H, W)."""
    return (0,) + tuple(range(2, x.ndim))


def _running_case(label, seed, shape, momentum=0.1, loc=0.0):
    rng = np.random.default_rng(seed)
    c = shape[1]
    return Case(label, (rng.normal(size=c), rng.uniform(0.5, 2.0, size=c),
                        rng.normal(loc, 2.0, size=shape), momentum))


def _engine_running(running_mean, running_var, x, momentum):
    """running_mean, running_var (C,) after one training-mode pass of x through BatchNorm."""
    bn = BatchNorm(x.shape[1], momentum=momentum)
    bn.running_mean, bn.running_var = running_mean, running_var
    bn.forward(x)
    return bn.running_mean, bn.running_var


def _running_variant(keras=False, unbiased=True, m_of=values_per_channel, correct_after=False,
                     store_std=False):
    """The outputs of a running-statistics update with one thing done another way."""
    def outputs(running_mean, running_var, x, momentum):
        m = m_of(x)
        mean, var = x.mean(axis=_axes(x)), x.var(axis=_axes(x))
        var = var * m / (m - 1) if unbiased and not correct_after else var
        var = np.sqrt(var) if store_std else var
        a = 1 - momentum if keras else momentum                    # weight of the new batch
        new_var = (1 - a) * running_var + a * var
        return (1 - a) * running_mean + a * mean, \
            new_var * m / (m - 1) if correct_after else new_var
    return outputs


RUNNING_MISTAKES = [
    Mistake("Keras's convention and the biased variance", "momentum weights the new batch, "
            "(1 - momentum) * running + momentum * batch; running_var takes var * m / (m - 1)",
            _running_variant(keras=True, unbiased=False)),
    Mistake("biased variance in running_var (the m/(m-1) is missing)",
            "the batch variance underestimates the population's: take in var * m / (m - 1), "
            "m = values per channel",
            _running_variant(unbiased=False)),
    Mistake("momentum applied to the old value instead of the new (Keras's convention)",
            "PyTorch's momentum weights the new batch: (1 - momentum) * running + momentum * "
            "batch",
            _running_variant(keras=True)),
    Mistake("m counted as N for images", "each channel's statistics come from m = N * H * W "
            "values, so the correction is m / (m - 1) with that m",
            _running_variant(m_of=len)),
    Mistake("m/(m-1) applied to the whole running_var",
            "correct only the batch's variance before averaging it in; the old running_var "
            "is already unbiased", _running_variant(correct_after=True)),
    Mistake("running_var holds a standard deviation", "average the variance "
            "(var * m / (m - 1)), not its square root", _running_variant(store_std=True)),
]


def update_running_stats(fn):
    """Check fn(running_mean, running_var, x, momentum) -> (running_mean, running_var):
    running_mean, running_var (C,); x (N, C) or (N, C, H, W); PyTorch's update."""
    cases = [_running_case("(N, C) = (16, 4)", 0, (16, 4)),
             _running_case("batch of 2", 1, (2, 3)),
             _running_case("images (N, C, H, W) = (4, 3, 2, 5)", 2, (4, 3, 2, 5)),
             _running_case("momentum 0.9", 3, (8, 3), momentum=0.9),
             _running_case("large offset (values near 1e4)", 4, (8, 3), loc=1e4)]
    run_check("update_running_stats", fn, cases, _engine_running,
              names=("running_mean", "running_var"), mistakes=RUNNING_MISTAKES,
              against="helpers.BatchNorm in training mode")


def _eval_case(label, seed, shape, eps=1e-5, loc=0.0, var_scale=1.0):
    rng = np.random.default_rng(seed)
    c = shape[1]
    return Case(label, (rng.normal(loc, 2.0, size=shape), rng.normal(1.0, 0.5, size=c),
                        rng.normal(size=c), loc + rng.normal(size=c),
                        rng.uniform(0.5, 4.0, size=c) * var_scale, eps))


def _engine_eval(x, gamma, beta, running_mean, running_var, eps):
    bn = BatchNorm(x.shape[1], eps=eps).eval()
    bn.gamma, bn.beta, bn.running_mean, bn.running_var = gamma, beta, running_mean, running_var
    return (bn.forward(x),)


def _eval_variant(std=lambda var, eps: np.sqrt(var + eps), batch_stats=False):
    """The outputs of an eval-mode forward pass done another way."""
    def outputs(x, gamma, beta, running_mean, running_var, eps):
        shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        mean, var = running_mean.reshape(shape), running_var.reshape(shape)
        if batch_stats:
            mean, var = x.mean(axis=_axes(x), keepdims=True), x.var(axis=_axes(x), keepdims=True)
        return (gamma.reshape(shape) * (x - mean) / std(var, eps) + beta.reshape(shape),)
    return outputs


EVAL_MISTAKES = [
    Mistake("the batch's own statistics instead of the running ones",
            "eval mode uses running_mean and running_var, so an output does not depend on its "
            "batch",
            _eval_variant(batch_stats=True)),
    *std_mistakes(lambda std: _eval_variant(std=std)),
]


def batchnorm_eval(fn):
    """Check fn(x, gamma, beta, running_mean, running_var, eps) -> out: x and out (N, C) or
    (N, C, H, W); gamma, beta, running_mean, running_var (C,). Eval-mode batch norm."""
    cases = [_eval_case("(N, C) = (6, 4)", 0, (6, 4)),
             _eval_case("a single example (N = 1)", 1, (1, 4)),
             _eval_case("images (N, C, H, W) = (2, 3, 4, 5)", 2, (2, 3, 4, 5)),
             _eval_case("odd eps = 0.3", 3, (5, 3), eps=0.3, var_scale=0.1),
             _eval_case("large offset (values near 1e4)", 4, (6, 3), loc=1e4)]
    run_check("batchnorm_eval", fn, cases, _engine_eval, names=("out",),
              mistakes=EVAL_MISTAKES, against="helpers.BatchNorm in eval mode")


def _sliced(start, mean_axis=0):
    """outputs(stream, window) of a loop that averages stream[start(t, window):t + 1] over
    `mean_axis` (None: every value of the slice, the channels too)."""
    def outputs(stream, window):
        return (np.array([stream[start(t, window):t + 1].mean(axis=mean_axis)
                          for t in range(len(stream))]),)
    return outputs


def _window_variant(window_of=lambda w: w, divide_by_window=False, last_only=False):
    """The outputs of a window average done another way."""
    def outputs(stream, window):
        if window_of(window) < 1:
            return None
        est = running_estimates(stream, window=window_of(window))
        if divide_by_window:
            t = np.arange(1, len(stream) + 1).reshape((-1,) + (1,) * (stream.ndim - 1))
            est = est * np.minimum(t, window) / window
        return (est[-1] if last_only else est,)
    return outputs


WINDOW_MISTAKES = [
    Mistake("the average of all batches so far", "that is the cumulative average "
            "(Algorithm 2); keep only the last `window` batches: stream[max(0, t + 1 - window):"
            "t + 1].mean(axis=0)", _window_variant(window_of=lambda w: 10**9)),
    Mistake("divided by the window from the start", "before `window` batches have arrived, "
            "average the ones there are: divide by min(t + 1, window)",
            _window_variant(divide_by_window=True)),
    Mistake("a window of N + 1 batches", "the estimate after batch t averages batches "
            "t - window + 1 to t: exactly `window` of them",
            _window_variant(window_of=lambda w: w + 1)),
    Mistake("a window of N - 1 batches", "the estimate after batch t averages batches "
            "t - window + 1 to t, including batch t itself: `window` of them",
            _window_variant(window_of=lambda w: w - 1)),
    Mistake("only the last estimate", "return the estimate after every batch: one row per "
            "batch, shaped like the stream", _window_variant(last_only=True)),
    Mistake("a negative slice start", "while t + 1 < window, stream[t + 1 - window:] counts "
            "from the end: start at max(0, t + 1 - window)", _sliced(lambda t, w: t + 1 - w)),
    Mistake("the mean without axis=0: the channels are averaged together",
            "average the rows of the slice, one value per channel: .mean(axis=0)",
            _sliced(lambda t, w: max(0, t + 1 - w), mean_axis=None)),
]


def window_average(fn):
    """Check fn(stream, window) -> estimates: stream (T, C) or (T,) of batch statistics, the
    estimates of the same shape, row t the mean of the last `window` rows up to t."""
    rng = np.random.default_rng(0)
    cases = [Case("(T, C) = (30, 3), window 5", (rng.normal(size=(30, 3)), 5)),
             Case("window 1 (only the last batch)", (rng.normal(size=(10, 2)), 1)),
             Case("window longer than the stream (12 batches, window 19)",
                  (rng.normal(size=(12, 2)), 19)),
             Case("one statistic, (T,) = (12,), window 4", (rng.normal(size=12), 4))]
    run_check("window_average", fn, cases,
              lambda stream, window: (running_estimates(stream, window=window),),
              names=("estimates",), mistakes=WINDOW_MISTAKES,
              against="lesson 4's running_estimates(stream, window=...)")


CONVERT_MISTAKES = [
    Mistake("the number was copied (the convention trap)", "PyTorch's momentum weights the new "
            "batch; Keras's, CS231n's and ONNX's the old: between the two it becomes "
            "1 - momentum", lambda m, source, target: (m,)),
    Mistake("converted between libraries that agree", "when source and target weight the same "
            "value (both 'old', or both 'new'), the number stays",
            lambda m, source, target: (1 - m,)),
]


def convert_momentum(fn):
    """Check fn(momentum, source, target) -> momentum: the same running average written in
    the target library's convention (names as in lesson 4's CONVENTIONS)."""
    cases = [Case(f"{source} {m:g} -> {target}", (m, source, target)) for m, source, target in
             ((0.99, "keras", "pytorch"), (0.1, "pytorch", "keras"), (0.9, "cs231n", "pytorch"),
              (0.9, "onnx", "keras"), (0.1, "pytorch", "pytorch"))]
    run_check("convert_momentum", fn, cases, lambda *args: (lesson_convert(*args),),
              names=("momentum",), mistakes=CONVERT_MISTAKES,
              against="lesson 4's convert_momentum")


def _fold_case(label, seed, d_in, d_out, eps=1e-5, bias=True, var_scale=1.0):
    rng = np.random.default_rng(seed)
    b = rng.normal(size=d_out) if bias else np.zeros(d_out)
    return Case(label, (rng.normal(size=(d_in, d_out)), b, rng.normal(1.0, 0.5, size=d_out),
                        rng.normal(size=d_out), rng.normal(size=d_out),
                        rng.uniform(0.5, 2.0, size=d_out) * var_scale, eps))


def _lesson_fold(W, b, gamma, beta, running_mean, running_var, eps):
    """W' (D_in, D_out), b' (D_out,) from lesson 4's fold_batchnorm of Linear then BatchNorm."""
    linear = Linear(*W.shape, rng=0)
    linear.params["W"], linear.params["b"] = W, b
    bn = BatchNorm(W.shape[1], eps=eps)
    bn.gamma, bn.beta, bn.running_mean, bn.running_var = gamma, beta, running_mean, running_var
    folded = lesson_fold(Sequential([linear, bn]).eval()).layers[0]
    return folded.params["W"], folded.params["b"]


def _fold_variant(std=lambda var, eps: np.sqrt(var + eps), shift=True, scale_b=True,
                  rows=False, mean_sign=-1, with_beta=True, with_gamma=True,
                  gamma_in_mean=True):
    """The outputs of a fold done another way."""
    def outputs(W, b, gamma, beta, running_mean, running_var, eps):
        s = (gamma if with_gamma else 1.0) / std(running_var, eps)  # rows: W must be square
        s_mean = s if gamma_in_mean else 1.0 / std(running_var, eps)
        t = (beta if with_beta else 0.0) + mean_sign * s_mean * running_mean if shift else 0.0
        return (s[:, None] * W if rows else W * s), (s * b if scale_b else b) + t
    return outputs


FOLD_MISTAKES = [
    Mistake("the fold forgets the shift", "eval-mode batch norm is y = s * x + t with "
            "t = beta - s * running_mean: b' = s * b + t", _fold_variant(shift=False)),
    Mistake("the old bias is not scaled", "batch norm multiplies everything that reaches it by "
            "s, the bias too: b' = s * b + t", _fold_variant(scale_b=False)),
    Mistake("W scaled by rows instead of columns", "s has one entry per output feature, i.e. "
            "per column of W: W' = W * s (column j times s_j)", _fold_variant(rows=True)),
    Mistake("running_mean added instead of subtracted", "t = beta - s * running_mean",
            _fold_variant(mean_sign=+1)),
    Mistake("beta missing from b'", "the shift is t = beta - s * running_mean: "
            "b' = s * b + beta - s * running_mean", _fold_variant(with_beta=False)),
    Mistake("the running_mean term missing from b'", "batch norm subtracts running_mean "
            "first: b' = s * b + beta - s * running_mean", _fold_variant(mean_sign=0)),
    Mistake("gamma missing from the running_mean term", "s = gamma / sqrt(running_var + eps) "
            "multiplies everything: t = beta - s * running_mean",
            _fold_variant(gamma_in_mean=False)),
    Mistake("gamma missing from s", "batch norm scales by s = gamma / np.sqrt(running_var + "
            "eps): W' = W * s and b' = s * b + t", _fold_variant(with_gamma=False)),
    *std_mistakes(lambda std: _fold_variant(std=std)),
]


def fold_batchnorm(fn):
    """Check fn(W, b, gamma, beta, running_mean, running_var, eps) -> (W', b'): W and W'
    (D_in, D_out); b, b' and the batch-norm vectors (D_out,). h @ W' + b' must equal eval-mode
    batch norm of h @ W + b."""
    cases = [_fold_case("W (5, 3), b (3,)", 0, 5, 3),
             _fold_case("a square W (4, 4)", 1, 4, 4),
             _fold_case("no bias (b = 0, as before batch norm)", 2, 6, 3, bias=False),
             _fold_case("odd eps = 0.3", 3, 3, 2, eps=0.3),
             _fold_case("a feature with tiny running_var", 4, 4, 3, var_scale=1e-5)]
    run_check("fold_batchnorm", fn, cases, _lesson_fold, names=("W_folded", "b_folded"),
              mistakes=FOLD_MISTAKES, against="lesson 4's fold_batchnorm")
