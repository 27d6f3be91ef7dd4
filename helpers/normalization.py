"""Normalizations for small batches: layer norm, group norm, batch renormalization.

Each is a functional pair in batch norm's contract, `*_forward(x, ...) -> (out, cache)` and
`*_backward(dout, cache) -> (dx, dgamma, dbeta)`, and a layer that `make_mlp(norm=...)` puts
where batch norm goes. They differ in the values the statistics are taken over
(Wu & He 2018, Figure 2), for x of shape (N, C, H, W):

    batch norm    per channel, over N, H, W       (the batch: depends on the other examples)
    layer norm    per example, over C (, H, W)     (one example: the same in training and eval)
    group norm    per example and group of C/G channels, over those channels and H, W
    batch renorm  batch norm, corrected toward the running statistics by r and d (Ioffe 2017)
"""
import numpy as np

from .batchnorm import (
    BatchNorm,
    batchnorm_backward,
    batchnorm_forward,
    ghost_layout,
    ghost_unlayout,
)
from .validate import check_int


def _as_float(x, what):
    """x (N, C, ...) as a float array, or TypeError/ValueError naming what `what` expected."""
    x = np.asarray(x)
    if x.dtype.kind not in "iuf":                    # signed, unsigned ints and floats
        raise TypeError(f"{what} expected a real numeric array, got dtype {x.dtype}")
    if x.ndim < 2:
        raise ValueError(f"{what} expected x with at least 2 axes (N, C, ...), got {x.ndim}-D "
                         f"shape {x.shape}")
    return x.astype(float, copy=False)


def _check_affine(gamma, beta, size, what):
    """gamma and beta as arrays of shape (size,), or ValueError naming expected vs got."""
    gamma, beta = np.asarray(gamma), np.asarray(beta)
    if gamma.shape != (size,) or beta.shape != (size,):
        raise ValueError(f"{what}: gamma and beta must both have shape ({size},), got "
                         f"{gamma.shape} and {beta.shape}")
    return gamma, beta


def _check_eps(eps):
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating)) \
            or not 0 < eps < np.inf:
        raise ValueError(f"eps must be a positive finite number, got {eps!r}")


def _check_limits(r_max, d_max):
    if not (isinstance(r_max, (int, float, np.floating)) and r_max >= 1
            and isinstance(d_max, (int, float, np.floating)) and d_max >= 0):
        raise ValueError(f"r_max must be a number >= 1 and d_max a number >= 0, got "
                         f"r_max={r_max!r}, d_max={d_max!r}")


def _standardize_backward(dx_hat, x_hat, std, axis):
    """d loss / d x of x_hat = (x - mean) / std, where mean and std are taken over `axis`
    (M values): batch norm's closed form, over whatever values share the statistics."""
    m = x_hat.shape[axis]
    return (m * dx_hat
            - dx_hat.sum(axis=axis, keepdims=True)
            - x_hat * (dx_hat * x_hat).sum(axis=axis, keepdims=True)) / (m * std)


def layernorm_forward(x, gamma, beta, eps=1e-5):
    """Layer norm (Ba, Kiros & Hinton 2016): each example normalized over its own features.

    x: (N, D); gamma, beta: (D,). Returns (out (N, D), cache). For every example i, over its
    D features (PyTorch's F.layer_norm(x, (D,), gamma, beta, eps)):

        mu_i    = 1/D sum_j x_ij                  the example's mean
        var_i   = 1/D sum_j (x_ij - mu_i)^2       its variance (biased: 1/D)
        x_hat   = (x - mu) / sqrt(var + eps)      normalize
        out     = gamma * x_hat + beta            scale and shift, per feature j

    Nothing is shared between examples, so training and eval mode are the same computation.
    To normalize an image tensor over (C, H, W), pass x.reshape(N, -1).
    """
    x = _as_float(x, "layer norm")
    if x.ndim != 2:
        raise ValueError(f"layer norm expected x of shape (N, D), got {x.ndim}-D shape {x.shape}")
    gamma, beta = _check_affine(gamma, beta, x.shape[1], "layer norm")
    _check_eps(eps)
    mu = x.mean(axis=1, keepdims=True)                        # (N, 1): one mean per example
    var = ((x - mu) ** 2).mean(axis=1, keepdims=True)         # (N, 1), biased
    std = np.sqrt(var + eps)
    x_hat = (x - mu) / std
    out = gamma * x_hat + beta                                # gamma (D,) broadcasts over N
    return out, {"x_hat": x_hat, "std": std, "gamma": gamma, "mu": mu, "var": var}


def layernorm_backward(dout, cache):
    """The backward pass of `layernorm_forward`. dout: (N, D).

    Returns (dx (N, D), dgamma (D,), dbeta (D,)). Batch norm's formula with the roles of the
    axes swapped: the sums run over each example's D features instead of over the batch.
    """
    x_hat, std, gamma = cache["x_hat"], cache["std"], cache["gamma"]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    dx = _standardize_backward(dout * gamma, x_hat, std, axis=1)
    return dx, dgamma, dbeta


def groupnorm_forward(x, gamma, beta, num_groups, eps=1e-5):
    """Group norm (Wu & He 2018): each example normalized over groups of channels.

    x: (N, C) or (N, C, *spatial), e.g. (N, C, H, W); gamma, beta: (C,); num_groups G must
    divide C. Channels c = g*C/G ... (g+1)*C/G - 1 form group g. For every example i and
    group g, over the M = C/G * H * W values of that group (PyTorch's F.group_norm):

        mu_ig   = mean of x[i, group g, :, :]          one mean per example and group
        var_ig  = its variance (biased: 1/M)
        x_hat   = (x - mu) / sqrt(var + eps)
        out     = gamma * x_hat + beta                 scale and shift, per channel c

    G = C is instance norm (each channel alone, over H, W); G = 1 normalizes each example
    over all of (C, H, W) like layer norm, with a per-channel affine instead of per value.
    Returns (out shaped like x, cache).
    """
    x = _as_float(x, "group norm")
    n, c = x.shape[:2]
    gamma, beta = _check_affine(gamma, beta, c, "group norm")
    if check_int("num_groups", num_groups) and c % num_groups:
        raise ValueError(f"num_groups must be a positive int that divides the C={c} channels, "
                         f"got {num_groups!r}")
    _check_eps(eps)
    groups = x.reshape(n, num_groups, -1)                     # (N, G, M): a row per group
    mu = groups.mean(axis=2, keepdims=True)                   # (N, G, 1)
    var = ((groups - mu) ** 2).mean(axis=2, keepdims=True)    # (N, G, 1), biased
    std = np.sqrt(var + eps)
    x_hat = ((groups - mu) / std).reshape(x.shape)
    shape = (1, c) + (1,) * (x.ndim - 2)                      # broadcasts (C,) over N, H, W
    out = gamma.reshape(shape) * x_hat + beta.reshape(shape)
    return out, {"x_hat": x_hat, "std": std, "gamma": gamma.reshape(shape), "mu": mu,
                 "var": var, "num_groups": num_groups}


def groupnorm_backward(dout, cache):
    """The backward pass of `groupnorm_forward`. dout: shaped like x.

    Returns (dx shaped like x, dgamma (C,), dbeta (C,)): the parameter gradients sum over
    every axis but the channel; dx is batch norm's formula over each (example, group) row.
    """
    x_hat, std, gamma = cache["x_hat"], cache["std"], cache["gamma"]
    n, g = x_hat.shape[0], cache["num_groups"]
    axes = (0,) + tuple(range(2, dout.ndim))
    dbeta = dout.sum(axis=axes)
    dgamma = (dout * x_hat).sum(axis=axes)
    dx = _standardize_backward((dout * gamma).reshape(n, g, -1), x_hat.reshape(n, g, -1),
                               std, axis=2)
    return dx.reshape(dout.shape), dgamma, dbeta


def batchrenorm_forward(x, gamma, beta, running_mean, running_var, r_max=3.0, d_max=5.0,
                        eps=1e-5):
    """Training-mode batch renormalization, Algorithm 1 of Ioffe (2017).

    x: (N, C) or (N, C, *spatial); gamma, beta, running_mean, running_var: (C,).
    Batch norm, then a per-channel correction toward the running statistics:

        mu_B, sigma_B = batch mean, sqrt(batch variance + eps)   exactly as batch norm
        sigma         = sqrt(running_var + eps)
        r     = clip(sigma_B / sigma,          1/r_max, r_max)
        d     = clip((mu_B - running_mean) / sigma, -d_max, d_max)
        x_hat = (x - mu_B) / sigma_B * r + d
        out   = gamma * x_hat + beta

    Unclipped, x_hat = (x - running_mean) / sigma: the eval-mode output, computed from batch
    statistics so that gradients still flow through them. r_max = 1, d_max = 0 is batch norm.
    r and d are treated as constants by the backward pass. Returns (out, cache); cache["r"]
    and cache["d"] are (C,).
    """
    _check_limits(r_max, d_max)
    _check_eps(eps)
    x = _as_float(x, "batch renorm")
    gamma, beta = _check_affine(gamma, beta, x.shape[1], "batch renorm")
    running_mean, running_var = _check_affine(running_mean, running_var, x.shape[1],
                                              "batch renorm (running_mean, running_var)")
    ones = np.ones_like(gamma, dtype=float)
    _, cache = batchnorm_forward(x, ones, 0 * ones, eps)      # mu_B, sigma_B, x_hat
    shape = cache["std"].shape                                # broadcasts (C,) over N, H, W
    sigma = np.sqrt(running_var.reshape(shape) + eps)
    r = np.clip(cache["std"] / sigma, 1.0 / r_max, r_max)
    d = np.clip((cache["mu"] - running_mean.reshape(shape)) / sigma, -d_max, d_max)
    y = cache["x_hat"] * r + d
    out = gamma.reshape(shape) * y + beta.reshape(shape)
    cache.update(gamma=gamma.reshape(shape), r=r.ravel(), d=d.ravel(), y=y)
    return out, cache


def batchrenorm_backward(dout, cache):
    """The backward pass of `batchrenorm_forward`, with r and d held constant (the paper's
    stop_gradient). Returns (dx shaped like x, dgamma (C,), dbeta (C,)).

    With r and d constant, out = (gamma * r) * x_hat + (gamma * d + beta): batch norm with
    gamma * r in place of gamma, so dx is batch norm's backward pass with that gamma.
    """
    axes, shape = cache["axes"], cache["std"].shape
    dbeta = dout.sum(axis=axes)
    dgamma = (dout * cache["y"]).sum(axis=axes)
    r = cache["r"].reshape(shape)
    dx, _, _ = batchnorm_backward(dout, {**cache, "gamma": cache["gamma"] * r})
    return dx, dgamma, dbeta


def renorm_limits(step, relax_steps, r_max=3.0, d_max=5.0):
    """(r_max, d_max) in force at training step `step`: Ioffe's schedule, scaled.

    The paper trains with r_max = 1, d_max = 0 (plain batch norm) for its first 5,000 steps,
    then relaxes them gradually to d_max = 5 at 25,000 steps and r_max = 3 at 40,000. Here the
    same proportions with relax_steps in place of 40,000, linearly: batch norm until
    relax_steps/8, d_max reached at 5/8 of relax_steps, r_max at relax_steps.
    relax_steps=None: the full limits from the first step.
    """
    if relax_steps is None:
        return r_max, d_max
    start = relax_steps / 8
    progress_r = np.clip((step - start) / (relax_steps - start), 0.0, 1.0)
    progress_d = np.clip((step - start) / (5 * relax_steps / 8 - start), 0.0, 1.0)
    return 1.0 + (r_max - 1.0) * float(progress_r), d_max * float(progress_d)


class _PerExampleNorm:
    """What LayerNorm and GroupNorm share: learned gamma, beta (C,), no running statistics,
    so training and eval mode are one computation (Sequential.train/eval leave them alone)."""

    def __init__(self, num_features, eps):
        check_int("num_features", num_features)
        _check_eps(eps)
        self.num_features, self.eps = num_features, eps
        self.params = {"gamma": np.ones(num_features), "beta": np.zeros(num_features)}
        self.grads = {k: np.zeros(num_features) for k in self.params}
        self.gamma, self.beta = self.params["gamma"], self.params["beta"]   # the same arrays
        self._cache = None

    def forward(self, x):
        out, self._cache = self._forward(x)
        return out

    def backward(self, dout):
        """dout: shaped like the last forward's x. Returns dx; stores the grads of gamma, beta."""
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        dx, self.grads["gamma"][...], self.grads["beta"][...] = self._backward(dout, self._cache)
        return dx


class LayerNorm(_PerExampleNorm):
    """Layer norm over the num_features features of each example: x (N, D) -> (N, D)."""

    def __init__(self, num_features, eps=1e-5):
        super().__init__(num_features, eps)

    def _forward(self, x):
        return layernorm_forward(x, self.gamma, self.beta, self.eps)

    _backward = staticmethod(layernorm_backward)

    def __repr__(self):
        return f"LayerNorm({self.num_features}, eps={self.eps})"


class GroupNorm(_PerExampleNorm):
    """Group norm: each example over num_groups groups of channels; x (N, C, ...) -> same."""

    def __init__(self, num_features, num_groups, eps=1e-5):
        super().__init__(num_features, eps)
        if check_int("num_groups", num_groups) and num_features % num_groups:
            raise ValueError(f"num_groups must be a positive int that divides num_features="
                             f"{num_features}, got {num_groups!r}")
        self.num_groups = num_groups

    def _forward(self, x):
        return groupnorm_forward(x, self.gamma, self.beta, self.num_groups, self.eps)

    _backward = staticmethod(groupnorm_backward)

    def __repr__(self):
        return f"GroupNorm({self.num_features}, num_groups={self.num_groups}, eps={self.eps})"


class BatchRenorm(BatchNorm):
    """Batch renormalization (Ioffe 2017): a BatchNorm whose training-mode output is pulled
    toward its eval-mode output by r and d (see `batchrenorm_forward`).

    Running statistics, momentum and eval mode are BatchNorm's (so Sequential.train/eval,
    frozen_running_stats and everything else that handles a BatchNorm handle it too).
    sigma = sqrt(running_var + eps), where running_var is BatchNorm's moving average of the
    unbiased batch variance (times m/(m-1)). The paper instead keeps sigma itself, a moving
    average of sigma_B = sqrt(biased batch variance + eps), which is smaller at small batches
    (for Gaussian data and m = 2 about 0.56 of the true standard deviation). Ours makes the
    unclipped training output equal the eval output exactly.
    r_max, d_max: the final limits; relax_steps: `renorm_limits`' schedule (None: the final
    limits from the first step). The step is num_batches_tracked. After every training-mode
    forward pass, r and d hold that batch's corrections (C,).
    ghost_batch_size=g: BatchNorm's ghost batches; each group of g examples gets its own r
    and d from the running statistics as they were before the batch (r, d then (N/g, C)).
    """

    def __init__(self, num_features, momentum=0.1, eps=1e-5, r_max=3.0, d_max=5.0,
                 relax_steps=None, ghost_batch_size=None):
        super().__init__(num_features, momentum=momentum, eps=eps,
                         ghost_batch_size=ghost_batch_size)
        _check_limits(r_max, d_max)
        if relax_steps is not None:
            check_int("relax_steps", relax_steps)
        self.r_max, self.d_max, self.relax_steps = r_max, d_max, relax_steps
        self.r = self.d = None

    def limits(self):
        """(r_max, d_max) for the next training batch."""
        return renorm_limits(self.num_batches_tracked, self.relax_steps, self.r_max, self.d_max)

    def forward(self, x):
        """Training mode: `batchrenorm_forward` with the running statistics as they were
        before this batch, then BatchNorm's update of them. Eval mode: BatchNorm's."""
        if not self.training:
            return super().forward(x)
        if self.ghost_batch_size is None:
            grouped, k = x, 1
        else:                       # each group side by side (see batchnorm.ghost_layout)
            grouped, k = ghost_layout(np.asarray(x), self.ghost_batch_size)
        out, cache = batchrenorm_forward(
            grouped, *(np.tile(a, k) for a in (self.gamma, self.beta, self.running_mean,
                                               self.running_var)), *self.limits(), eps=self.eps)
        self.r, self.d = cache["r"], cache["d"]
        if self.ghost_batch_size is not None:
            cache["groups"] = k
            self.r, self.d = self.r.reshape(k, -1), self.d.reshape(k, -1)
            out = ghost_unlayout(out, k)
        if self.update_running_stats:
            self._update_from(cache)
        self._cache = ("renorm", cache)
        return out

    def backward(self, dout):
        if self._cache is None or self._cache[0] != "renorm":
            return super().backward(dout)
        cache = self._cache[1]
        k = cache.get("groups")
        if k is None:
            dx, dgamma, dbeta = batchrenorm_backward(dout, cache)
        else:                       # the regrouped layout, gradients summed over groups
            dx, dgamma, dbeta = batchrenorm_backward(ghost_layout(dout, len(dout) // k)[0], cache)
            dx, dgamma, dbeta = ghost_unlayout(dx, k), dgamma.reshape(k, -1).sum(0), \
                dbeta.reshape(k, -1).sum(0)
        self.dgamma[...], self.dbeta[...] = dgamma, dbeta
        return dx

    def __repr__(self):
        ghost = f", ghost_batch_size={self.ghost_batch_size}" if self.ghost_batch_size else ""
        return (f"BatchRenorm({self.num_features}, momentum={self.momentum}, eps={self.eps}, "
                f"r_max={self.r_max}, d_max={self.d_max}, relax_steps={self.relax_steps}{ghost})")


NORMS = ("batch", "layer", "group", "renorm")


def make_norm(norm, num_features, momentum=0.1, eps=1e-5, window=None, **kwargs):
    """The layer `norm` ("batch", "layer", "group", "renorm") for num_features units.

    momentum and window apply to the layers with running statistics (batch, renorm; window
    to batch only); kwargs go to the layer (group norm needs num_groups; renorm takes r_max,
    d_max, relax_steps).
    """
    if norm == "batch":
        return BatchNorm(num_features, momentum=momentum, eps=eps, window=window, **kwargs)
    if norm == "layer":
        return LayerNorm(num_features, eps=eps, **kwargs)
    if norm == "group":
        if "num_groups" not in kwargs:
            raise ValueError("group norm needs num_groups (e.g. norm_kwargs={'num_groups': 10}), "
                             "got none")
        return GroupNorm(num_features, eps=eps, **kwargs)
    if norm == "renorm":
        return BatchRenorm(num_features, momentum=momentum, eps=eps, **kwargs)
    raise ValueError(f"norm must be one of {NORMS} or None, got {norm!r}")
