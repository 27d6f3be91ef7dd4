"""Batch normalization: the functional forward/backward pair and the `BatchNorm` layer.

Shapes: `x` is (N, C) for a fully connected layer or (N, C, *spatial) for images, e.g.
(N, C, H, W). Statistics are taken per feature/channel C over every other axis, so an image
channel is normalized over N, H and W together (m = N*H*W values per channel).
"""
from collections import deque
from contextlib import contextmanager

import numpy as np

from .validate import NonFiniteError, check_finite, check_int  # noqa: F401 (re-exported)


def _check_x(x, num_features):
    """Validate `x` for `num_features` channels; return it as a float array."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise TypeError(f"batch norm expected a real numeric array, got dtype {x.dtype}")
    if x.ndim < 2:
        raise ValueError(f"batch norm expected x of shape (N, C) or (N, C, H, W, ...), "
                         f"got {x.ndim}-D shape {x.shape}")
    if x.shape[1] != num_features:
        raise ValueError(f"batch norm expected {num_features} features on axis 1, "
                         f"got shape {x.shape} with {x.shape[1]}")
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)


def _axes_and_shape(x):
    """Axes to reduce over (all but 1) and the shape that broadcasts a (C,) vector against x."""
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    return axes, shape


def values_per_channel(x):
    """m: how many values each channel's statistics are computed from (N * H * W ...)."""
    return x.size // x.shape[1]


def batch_of_one_message(shape):
    """Why training-mode batch norm refuses a batch with one value per channel (one sentence
    that every part of the course shows)."""
    return (f"batch norm in training mode needs at least 2 values per channel, got x of shape "
            f"{tuple(shape)}: the variance of one value is 0, so every output would be beta. "
            f"Use a batch of 2 or more, or eval mode.")


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    """Training-mode batch norm, Algorithm 1 of Ioffe & Szegedy (2015).

    x: (N, C) or (N, C, *spatial); gamma, beta: (C,). Returns (out, cache), out shaped like x.
    Statistics are per channel over the m = N * H * W ... values of that channel:

        mu    = 1/m sum_i x_i                 mini-batch mean
        var   = 1/m sum_i (x_i - mu)^2        mini-batch variance (biased: 1/m, as the paper)
        x_hat = (x - mu) / sqrt(var + eps)    normalize
        out   = gamma * x_hat + beta          scale and shift

    cache keeps what the backward pass needs: x_hat, xc = x - mu, std = sqrt(var + eps),
    gamma, and mu, var (for the running averages).
    """
    gamma, beta = np.asarray(gamma), np.asarray(beta)
    x = _check_x(x, gamma.shape[0])
    if beta.shape != gamma.shape or gamma.ndim != 1:
        raise ValueError(f"gamma and beta must both have shape ({x.shape[1]},), "
                         f"got {gamma.shape} and {beta.shape}")
    if values_per_channel(x) < 2:
        raise ValueError(batch_of_one_message(x.shape))
    axes, shape = _axes_and_shape(x)
    gamma, beta = gamma.reshape(shape), beta.reshape(shape)   # broadcast over N, H, W

    mu = x.mean(axis=axes, keepdims=True)                     # mini-batch mean
    xc = x - mu
    var = (xc ** 2).mean(axis=axes, keepdims=True)            # mini-batch variance (1/m)
    std = np.sqrt(var + eps)
    x_hat = xc / std                                          # normalize
    out = gamma * x_hat + beta                                # scale and shift

    cache = {"x_hat": x_hat, "xc": xc, "std": std, "gamma": gamma, "mu": mu, "var": var,
             "eps": eps, "axes": axes}
    return out, cache


def batchnorm_backward(dout, cache):
    """The backward pass of `batchnorm_forward` in closed form.

    dout: d loss / d out, shaped like x. Returns (dx shaped like x, dgamma (C,), dbeta (C,)).
    With dx_hat = gamma * dout and the sums per channel over its m values:

        dx = (m * dx_hat - sum(dx_hat) - x_hat * sum(dx_hat * x_hat)) / (m * std)

    The two sums are the paths through the batch mean and the batch variance: leave them out
    and you get the gradient of a layer whose mean and variance were constants.
    """
    x_hat, std, gamma, axes = cache["x_hat"], cache["std"], cache["gamma"], cache["axes"]
    m = values_per_channel(x_hat)
    dbeta = dout.sum(axis=axes)
    dgamma = (dout * x_hat).sum(axis=axes)
    dx_hat = dout * gamma
    dx = (m * dx_hat
          - dx_hat.sum(axis=axes, keepdims=True)
          - x_hat * (dx_hat * x_hat).sum(axis=axes, keepdims=True)) / (m * std)
    return dx, dgamma, dbeta


def batchnorm_backward_graph(dout, cache):
    """The same backward pass, node by node through the computational graph (for teaching).

    Forward graph: mu = mean(x); xc = x - mu; var = mean(xc**2); std = sqrt(var + eps);
    x_hat = xc / std; out = gamma * x_hat + beta.
    Each line below is the local derivative of one node times the gradient arriving at it,
    walking the graph from the output back to x.
    """
    x_hat, xc, std, gamma, axes = (cache[k] for k in ("x_hat", "xc", "std", "gamma", "axes"))
    m = values_per_channel(xc)
    dbeta = dout.sum(axis=axes)                                  # out = ... + beta
    dgamma = (dout * x_hat).sum(axis=axes)                       # out = gamma * x_hat + ...
    dx_hat = dout * gamma
    dxc = dx_hat / std                                           # x_hat = xc / std (via xc)
    dstd = -(dx_hat * xc).sum(axis=axes, keepdims=True) / std**2     # (via std)
    dvar = dstd * 0.5 / std                                      # std = sqrt(var + eps)
    dxc = dxc + dvar * 2.0 * xc / m                              # var = mean(xc**2)
    dmu = -dxc.sum(axis=axes, keepdims=True)                     # xc = x - mu
    dx = dxc + dmu / m                                           # mu = mean(x); xc = x - mu
    return dx, dgamma, dbeta


def ghost_layout(x, ghost_batch_size):
    """x (N, C, ...) regrouped as (g, k*C, ...) for ghost batches of g = ghost_batch_size:
    the k = N/g groups of g consecutive examples side by side, so that column j*C + c holds
    channel c of group j and batch norm over axis 0 normalizes each group alone. Returns
    (regrouped x, k). Raises ValueError unless g is an int >= 2 that divides N (as Keras's
    `virtual_batch_size` must divide the batch): a last, smaller group would be normalized
    over fewer values than the others.
    """
    g = check_int("ghost_batch_size", ghost_batch_size, 2)
    if len(x) % g:
        raise ValueError(f"ghost_batch_size={g} must divide the batch size, got a batch of "
                         f"{len(x)} (shape {tuple(x.shape)}); use a batch of a multiple of {g}")
    k, rest = len(x) // g, x.shape[1:]
    return x.reshape(k, g, *rest).swapaxes(0, 1).reshape(g, k * rest[0], *rest[1:]), k


def ghost_unlayout(y, k):
    """The inverse of `ghost_layout`: (g, k*C, ...) back to (k*g, C, ...)."""
    g, c = y.shape[0], y.shape[1] // k
    return y.reshape(g, k, c, *y.shape[2:]).swapaxes(0, 1).reshape(k * g, c, *y.shape[2:])


def ghost_batchnorm_forward(x, gamma, beta, ghost_batch_size, eps=1e-5):
    """Ghost batch norm (Hoffer, Hubara & Soudry 2017): batch norm on each group of
    ghost_batch_size consecutive examples of x, with that group's own mean and variance.

    x: (N, C) or (N, C, *spatial), N a multiple of ghost_batch_size; gamma, beta: (C,).
    The same as concatenating batchnorm_forward(x[j*g:(j+1)*g], gamma, beta) over the
    groups j, computed in one call on `ghost_layout(x)` with gamma and beta repeated per group.
    Returns (out shaped like x, cache): batch norm's cache of the regrouped x, whose mu and
    var are (1, k*C, ...) (group j's channel c at j*C + c), plus "groups": k. The gradient
    step still averages over all N examples; only the statistics are per group.
    """
    grouped, k = ghost_layout(np.asarray(x), ghost_batch_size)
    out, cache = batchnorm_forward(grouped, np.tile(gamma, k), np.tile(beta, k), eps)
    cache["groups"] = k
    return ghost_unlayout(out, k), cache


def ghost_batchnorm_backward(dout, cache):
    """The backward pass of `ghost_batchnorm_forward`: batch norm's backward pass on the
    regrouped layout. dout: shaped like x. Returns (dx shaped like x, dgamma (C,), dbeta (C,));
    the groups share gamma and beta, so their gradients are summed over the groups.
    """
    k = cache["groups"]
    grouped, _ = ghost_layout(dout, len(dout) // k)
    dx, dgamma, dbeta = batchnorm_backward(grouped, cache)
    return ghost_unlayout(dx, k), dgamma.reshape(k, -1).sum(0), dbeta.reshape(k, -1).sum(0)


def ema_update(running, batch_stat, momentum):
    """One exponential-moving-average step, momentum weighting the new batch (PyTorch's
    convention): running <- (1 - momentum) * running + momentum * batch_stat. Arrays (C,)."""
    return (1 - momentum) * running + momentum * batch_stat


# Which value each library's `momentum` weights in the running-statistics update
# (PyTorch nn.BatchNorm docs; Keras 3 BatchNormalization source; CS231n assignment 2
# batchnorm_forward; ONNX BatchNormalization operator).
CONVENTIONS = {"pytorch": "new", "keras": "old", "cs231n": "old", "onnx": "old"}


def weight_of_new(momentum, convention):
    """The weight on the new batch that `momentum` means in `convention` (a CONVENTIONS key)."""
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {tuple(CONVENTIONS)}, got {convention!r}")
    if isinstance(momentum, bool) or not isinstance(momentum, (int, float, np.floating)) \
            or not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum must be a number in [0, 1], got {momentum!r}")
    return float(momentum) if CONVENTIONS[convention] == "new" else 1.0 - float(momentum)


def convert_momentum(momentum, source="keras", target="pytorch"):
    """The `momentum` that gives the same running statistics in `target`'s convention."""
    a = weight_of_new(momentum, source)            # weight of the new batch
    weight_of_new(0.0, target)                      # validates the target's name
    return a if CONVENTIONS[target] == "new" else 1.0 - a


def running_update(running, batch_stat, momentum, k):
    """The running estimate after the k-th batch (k = 1, 2, ...): the EMA with this momentum,
    or for momentum=None the cumulative average of all k batches (weight 1/k on the k-th)."""
    return ema_update(running, batch_stat, 1.0 / k if momentum is None else momentum)


def window_average(recent):
    """The plain average of the last batches' statistics: recent is a list of (C,) arrays."""
    return np.mean(recent, axis=0)


def running_estimates(stream, momentum=0.1, window=None, init=0.0):
    """The running estimate after each batch of `stream` (T, C) or (T,); same shape back.

    The rule a `BatchNorm` with this momentum or window follows: EMA for a momentum (PyTorch's
    convention), cumulative average for momentum=None, plain average of the last N batches for
    window=N. init: the value before the first batch (0 for running_mean, 1 for running_var),
    which only the EMA remembers.
    """
    stream = np.asarray(stream, dtype=float)
    if stream.ndim not in (1, 2) or len(stream) == 0:
        raise ValueError(f"stream must be (T,) or (T, C) with T >= 1, got shape {stream.shape}")
    if window is not None:
        check_int("window", window)
    elif momentum is not None:
        weight_of_new(momentum, "pytorch")          # a number in [0, 1]
    recent = deque(maxlen=window) if window else None
    out, r = np.empty_like(stream), np.full(stream.shape[1:], float(init))
    for k, s in enumerate(stream, start=1):
        if recent is not None:
            recent.append(s)
            r = window_average(list(recent))
        else:
            r = running_update(r, s, momentum, k)
        out[k - 1] = r
    return out


class BatchNorm:
    """A batch-norm layer with learned gamma/beta and running estimates for eval mode.

    momentum: weight of the *new* batch (PyTorch's convention):
        running = (1 - momentum) * running + momentum * batch_statistic.
    momentum=None: cumulative average of every batch seen during training (PyTorch's
        momentum=None; the paper's Algorithm 2 averages over batches after training, with
        the weights frozen).
    window=N: plain average of the last N batches' statistics (overrides momentum).
    running_var tracks the unbiased batch variance (times m/(m-1)), as the paper and PyTorch do;
    the normalization itself always uses the biased one.
    ghost_batch_size=g: ghost batch norm (Hoffer et al. 2017; Keras 2's virtual_batch_size):
        in training mode each group of g consecutive examples is normalized with its own
        statistics (`ghost_batchnorm_forward`); the batch must be a multiple of g. The running
        statistics are updated once per batch, as Keras does, from the average over the
        groups of their means and of their unbiased variances (Keras averages the groups'
        biased variances, a factor m/(m-1) smaller: 2 at g = 2). Hoffer et al.'s Algorithm 1
        instead updates once per ghost batch, so here the momentum is per SGD batch. Eval
        mode is unchanged.
    """

    def __init__(self, num_features, momentum=0.1, eps=1e-5, window=None, ghost_batch_size=None):
        check_int("num_features", num_features)
        if momentum is not None and not (isinstance(momentum, (int, float, np.floating))
                                         and 0.0 <= momentum <= 1.0):
            raise ValueError(f"momentum must be a number in [0, 1] or None, got {momentum!r}")
        if not (isinstance(eps, (int, float, np.floating)) and eps > 0):
            raise ValueError(f"eps must be a positive number, got {eps!r}")
        if window is not None:
            check_int("window", window)
        if ghost_batch_size is not None:
            check_int("ghost_batch_size", ghost_batch_size, 2)
        self.ghost_batch_size = ghost_batch_size
        self.num_features, self.momentum = num_features, momentum
        self.eps, self.window = eps, window
        self.gamma = np.ones(num_features)
        self.beta = np.zeros(num_features)
        self.dgamma = np.zeros(num_features)
        self.dbeta = np.zeros(num_features)
        self.running_mean = np.zeros(num_features)
        self.running_var = np.ones(num_features)
        self.num_batches_tracked = 0
        self.update_running_stats = True     # switched off for probe passes that must not count
        self.training = True
        self._recent = deque(maxlen=window) if window else None
        self._cache = None

    def train(self):
        self.training = True
        return self

    def eval(self):
        self.training = False
        return self

    @property
    def params(self):
        return {"gamma": self.gamma, "beta": self.beta}

    @property
    def grads(self):
        return {"gamma": self.dgamma, "beta": self.dbeta}

    def forward(self, x):
        """x: (N, C) or (N, C, *spatial) -> out of the same shape.

        Training mode: Algorithm 1 with this batch's statistics, then the running averages
        take in the batch mean and the unbiased batch variance (times m/(m-1)). A nan or inf
        in x raises NonFiniteError (a ValueError): one bad value would poison the batch mean,
        so every output and both running statistics.
        Eval mode: the same affine map for every example, from the running statistics.
        """
        x = _check_x(x, self.num_features)
        if self.training:
            # nan or inf would spread to every example's output through the batch mean
            check_finite("batch norm's input x", x)
            if self.ghost_batch_size is None:
                out, cache = batchnorm_forward(x, self.gamma, self.beta, self.eps)
            else:
                out, cache = ghost_batchnorm_forward(x, self.gamma, self.beta,
                                                     self.ghost_batch_size, self.eps)
            if self.update_running_stats:
                self._update_from(cache)
            self._cache = ("train", cache)
            return out
        axes, shape = _axes_and_shape(x)
        mean, var = self.running_mean.reshape(shape), self.running_var.reshape(shape)
        std = np.sqrt(var + self.eps)
        x_hat = (x - mean) / std
        self._cache = ("eval", (x_hat, std, axes))
        return self.gamma.reshape(shape) * x_hat + self.beta.reshape(shape)

    def _update_from(self, cache):
        """One running-statistics update from a training forward's cache: the batch's mean and
        unbiased variance (times m/(m-1)), or for ghost batches ("groups" in the cache) the
        average over the groups of their means and of their unbiased variances."""
        k, m = cache.get("groups", 1), values_per_channel(cache["x_hat"])
        self._update_running(cache["mu"].reshape(k, -1).mean(axis=0),
                             cache["var"].reshape(k, -1).mean(axis=0) * m / (m - 1))

    def _update_running(self, batch_mean, batch_var):
        self.num_batches_tracked += 1
        if self._recent is not None:                 # average of the last `window` batches
            self._recent.append((batch_mean, batch_var))
            self.running_mean = window_average([mu for mu, _ in self._recent])
            self.running_var = window_average([var for _, var in self._recent])
            return
        k = self.num_batches_tracked
        self.running_mean = running_update(self.running_mean, batch_mean, self.momentum, k)
        self.running_var = running_update(self.running_var, batch_var, self.momentum, k)

    def backward(self, dout):
        """dout: shaped like the last forward's x. Returns dx; stores dgamma, dbeta."""
        if self._cache is None:
            raise RuntimeError("BatchNorm.backward called before forward")
        mode, cache = self._cache
        if mode == "train":
            backward = ghost_batchnorm_backward if "groups" in cache else batchnorm_backward
            dx, dgamma, dbeta = backward(dout, cache)
        else:                                         # eval mode is a fixed affine map
            x_hat, std, axes = cache
            shape = std.shape
            dbeta, dgamma = dout.sum(axis=axes), (dout * x_hat).sum(axis=axes)
            dx = dout * self.gamma.reshape(shape) / std
        self.dgamma[...], self.dbeta[...] = dgamma, dbeta
        return dx

    def __repr__(self):
        extra = f", window={self.window}" if self.window else ""
        extra += f", ghost_batch_size={self.ghost_batch_size}" if self.ghost_batch_size else ""
        return f"BatchNorm({self.num_features}, momentum={self.momentum}, eps={self.eps}{extra})"


@contextmanager
def frozen_running_stats(model):
    """Forward passes inside this block do not update any batch-norm running statistics
    (for measurements on a probe batch that must not count as training batches)."""
    flags = [bn.update_running_stats for bn in model.batchnorms]
    for bn in model.batchnorms:
        bn.update_running_stats = False
    try:
        yield model
    finally:
        for bn, flag in zip(model.batchnorms, flags):
            bn.update_running_stats = flag
