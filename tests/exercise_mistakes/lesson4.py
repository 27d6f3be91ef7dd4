"""Wrong lesson 4 exercise answers, written the way students write them: one mistake each.

Each function's docstring says which check it is for and the name that check must give its
mistake ("check_name: the mistake's name").
"""
import numpy as np


def _batch_stats(x):
    """Mean and biased variance per channel of x (N, C) or (N, C, H, W), and m."""
    axes = (0,) + tuple(range(2, x.ndim))
    return x.mean(axis=axes), x.var(axis=axes), x.size // x.shape[1]


# --- update_running_stats(running_mean, running_var, x, momentum) ---


def biased_running_var(running_mean, running_var, x, momentum=0.1):
    """update_running_stats: biased variance in running_var (the m/(m-1) is missing)"""
    mean, var, _ = _batch_stats(x)
    return (1 - momentum) * running_mean + momentum * mean, \
        (1 - momentum) * running_var + momentum * var


def keras_convention(running_mean, running_var, x, momentum=0.1):
    """update_running_stats: momentum applied to the old value instead of the new (Keras's
    convention)"""
    mean, var, m = _batch_stats(x)
    return momentum * running_mean + (1 - momentum) * mean, \
        momentum * running_var + (1 - momentum) * var * m / (m - 1)


def keras_layer(running_mean, running_var, x, momentum=0.1):          # Keras as it is
    """update_running_stats: Keras's convention and the biased variance"""
    mean, var, _ = _batch_stats(x)
    return momentum * running_mean + (1 - momentum) * mean, \
        momentum * running_var + (1 - momentum) * var


def m_is_batch_size(running_mean, running_var, x, momentum=0.1):
    """update_running_stats: m counted as N for images"""
    mean, var, _ = _batch_stats(x)
    m = len(x)                                                  # N, also for images
    return (1 - momentum) * running_mean + momentum * mean, \
        (1 - momentum) * running_var + momentum * var * m / (m - 1)


def corrects_the_average(running_mean, running_var, x, momentum=0.1):
    """update_running_stats: m/(m-1) applied to the whole running_var"""
    mean, var, m = _batch_stats(x)
    new_var = (1 - momentum) * running_var + momentum * var
    return (1 - momentum) * running_mean + momentum * mean, new_var * m / (m - 1)


def stores_std(running_mean, running_var, x, momentum=0.1):
    """update_running_stats: running_var holds a standard deviation"""
    mean, var, m = _batch_stats(x)
    return (1 - momentum) * running_mean + momentum * mean, \
        (1 - momentum) * running_var + momentum * np.sqrt(var * m / (m - 1))


# --- batchnorm_eval(x, gamma, beta, running_mean, running_var, eps) ---


def _col(v, x):
    return v.reshape((1, -1) + (1,) * (x.ndim - 2))


def eval_with_batch_stats(x, gamma, beta, running_mean, running_var, eps=1e-5):
    """batchnorm_eval: the batch's own statistics instead of the running ones"""
    mean, var, _ = _batch_stats(x)
    return _col(gamma, x) * (x - _col(mean, x)) / np.sqrt(_col(var, x) + eps) + _col(beta, x)


def eval_eps_on_std(x, gamma, beta, running_mean, running_var, eps=1e-5):
    """batchnorm_eval: eps added to the standard deviation"""
    std = np.sqrt(_col(running_var, x)) + eps
    return _col(gamma, x) * (x - _col(running_mean, x)) / std + _col(beta, x)


def eval_no_eps(x, gamma, beta, running_mean, running_var, eps=1e-5):
    """batchnorm_eval: eps missing"""
    std = np.sqrt(_col(running_var, x))
    return _col(gamma, x) * (x - _col(running_mean, x)) / std + _col(beta, x)


def eval_divided_by_variance(x, gamma, beta, running_mean, running_var, eps=1e-5):
    """batchnorm_eval: divided by the variance"""
    scale = _col(running_var, x) + eps
    return _col(gamma, x) * (x - _col(running_mean, x)) / scale + _col(beta, x)


def eval_own_eps(x, gamma, beta, running_mean, running_var, eps=1e-5):
    """batchnorm_eval: the eps argument is ignored"""
    std = np.sqrt(_col(running_var, x) + 1e-5)
    return _col(gamma, x) * (x - _col(running_mean, x)) / std + _col(beta, x)


# --- window_average(stream, window) ---


def cumulative_average(stream, window):
    """window_average: the average of all batches so far"""
    t = np.arange(1, len(stream) + 1).reshape((-1,) + (1,) * (np.ndim(stream) - 1))
    return np.cumsum(stream, axis=0) / t


def divides_by_window(stream, window):
    """window_average: divided by the window from the start"""
    return np.array([stream[max(0, t + 1 - window):t + 1].sum(axis=0) / window
                     for t in range(len(stream))])


def window_one_too_long(stream, window):
    """window_average: a window of N + 1 batches"""
    return np.array([stream[max(0, t - window):t + 1].mean(axis=0) for t in range(len(stream))])


def window_one_too_short(stream, window):
    """window_average: a window of N - 1 batches"""
    return np.array([stream[max(0, min(t, t + 2 - window)):t + 1].mean(axis=0)
                     for t in range(len(stream))])


def last_estimate_only(stream, window):
    """window_average: only the last estimate"""
    return stream[-window:].mean(axis=0)


# --- convert_momentum(momentum, source, target) ---


def copies_the_number(momentum, source, target):
    """convert_momentum: the number was copied (the convention trap)"""
    return momentum


def always_flips(momentum, source, target):
    """convert_momentum: converted between libraries that agree"""
    return 1 - momentum


# --- fold_batchnorm(W, b, gamma, beta, running_mean, running_var, eps) ---


def fold_without_shift(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    """fold_batchnorm: the fold forgets the shift"""
    s = gamma / np.sqrt(running_var + eps)
    return W * s, b * s


def fold_bias_not_scaled(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    """fold_batchnorm: the old bias is not scaled"""
    s = gamma / np.sqrt(running_var + eps)
    return W * s, b + beta - s * running_mean


def fold_rows(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    """fold_batchnorm: W scaled by rows instead of columns"""
    s = gamma / np.sqrt(running_var + eps)
    return s[:, None] * W, s * b + beta - s * running_mean


def fold_mean_added(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    """fold_batchnorm: running_mean added instead of subtracted"""
    s = gamma / np.sqrt(running_var + eps)
    return W * s, s * b + beta + s * running_mean


def fold_eps_on_std(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    """fold_batchnorm: eps added to the standard deviation"""
    s = gamma / (np.sqrt(running_var) + eps)
    return W * s, s * b + beta - s * running_mean


def fold_no_eps(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    """fold_batchnorm: eps missing"""
    scale = gamma / np.sqrt(running_var)
    return W * scale, scale * (b - running_mean) + beta


def fold_divided_by_variance(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    """fold_batchnorm: divided by the variance"""
    s = gamma / (running_var + eps)
    return W * s, beta + s * (b - running_mean)


def fold_own_eps(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    """fold_batchnorm: the eps argument is ignored"""
    s = gamma / np.sqrt(running_var + 0.00001)
    return W * s, s * b + beta - s * running_mean


# --- what got through before issue 26 ---


def running_in_place(running_mean, running_var, x, momentum=0.1):
    """update_running_stats: running_mean changed in place"""
    mean, var, m = _batch_stats(x)
    running_mean *= 1 - momentum
    running_mean += momentum * mean
    return running_mean, (1 - momentum) * running_var + momentum * var * m / (m - 1)


def running_as_lists(running_mean, running_var, x, momentum=0.1):
    """update_running_stats: running_mean is a list: return a numpy array"""
    mean, var, m = _batch_stats(x)
    return [(1 - momentum) * a + momentum * b for a, b in zip(running_mean, mean)], \
        (1 - momentum) * running_var + momentum * var * m / (m - 1)


def running_keepdims(running_mean, running_var, x, momentum=0.1):
    """update_running_stats: running_mean has shape (1, 4), expected (4,): drop or add the axes
    of length 1"""
    mean, var, m = _batch_stats(x)
    return ((1 - momentum) * running_mean + momentum * mean)[None], \
        (1 - momentum) * running_var + momentum * var * m / (m - 1)


def eval_in_place(x, gamma, beta, running_mean, running_var, eps=1e-5):
    """batchnorm_eval: x changed in place"""
    x -= _col(running_mean, x)
    x /= np.sqrt(_col(running_var, x) + eps)
    return _col(gamma, x) * x + _col(beta, x)


def negative_slice_start(stream, window):
    """window_average: a negative slice start"""
    return np.array([stream[t + 1 - window:t + 1].mean(axis=0) for t in range(len(stream))])


def mean_without_axis(stream, window):
    """window_average: the mean without axis=0: the channels are averaged together"""
    return np.array([stream[max(0, t + 1 - window):t + 1].mean() for t in range(len(stream))])


def window_in_place(stream, window):
    """window_average: stream changed in place"""
    np.cumsum(stream, axis=0, out=stream)                    # the caller's stream is gone
    out = np.empty_like(stream)
    for t in range(len(stream)):
        start = t + 1 - window
        out[t] = (stream[t] - (stream[start - 1] if start > 0 else 0)) / min(t + 1, window)
    return out


def momentum_as_string(momentum, source, target):
    """convert_momentum: momentum is a str: return a number"""
    same_kind = (source == "pytorch") == (target == "pytorch")
    return str(momentum if same_kind else round(1 - momentum, 10))


def fold_forgets_beta(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    """fold_batchnorm: beta missing from b'"""
    s = gamma / np.sqrt(running_var + eps)
    return W * s, s * (b - running_mean)


def fold_forgets_mean(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    """fold_batchnorm: the running_mean term missing from b'"""
    s = gamma / np.sqrt(running_var + eps)
    return W * s, s * b + beta


def fold_mean_without_gamma(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    """fold_batchnorm: gamma missing from the running_mean term"""
    std = np.sqrt(running_var + eps)
    return W * gamma / std, gamma * b / std + beta - running_mean / std


def fold_without_gamma(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    """fold_batchnorm: gamma missing from s"""
    s = 1 / np.sqrt(running_var + eps)
    return W * s, s * (b - running_mean) + beta


def fold_in_place(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    """fold_batchnorm: W changed in place"""
    s = gamma / np.sqrt(running_var + eps)
    W *= s
    return W, s * (b - running_mean) + beta
