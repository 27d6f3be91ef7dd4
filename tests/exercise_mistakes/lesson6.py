"""Wrong lesson 6 exercise answers, written the way students write them: one mistake each.

Each function's docstring says which check it is for and the name that check must give its
mistake ("check_name: the mistake's name").
"""
import numpy as np

# --- layernorm_forward(x, gamma, beta, eps) -> (out, cache), x (N, D) ---


def ln_batch_axis(x, gamma, beta, eps=1e-5):
    """layernorm_forward: statistics over the batch (axis=0): that is batch norm"""
    mu, var = x.mean(axis=0), x.var(axis=0)                  # lesson 3's habit
    return gamma * (x - mu) / np.sqrt(var + eps) + beta, {}


def ln_unbiased(x, gamma, beta, eps=1e-5):
    """layernorm_forward: unbiased variance in the normalisation"""
    mu, var = x.mean(axis=1, keepdims=True), x.var(axis=1, ddof=1, keepdims=True)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta, {}


def _ln_stats(x):
    return x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)


def ln_eps_on_std(x, gamma, beta, eps=1e-5):
    """layernorm_forward: eps added to the standard deviation"""
    mu, var = _ln_stats(x)
    return gamma * (x - mu) / (np.sqrt(var) + eps) + beta, {}


def ln_no_eps(x, gamma, beta, eps=1e-5):
    """layernorm_forward: eps missing"""
    mu, var = _ln_stats(x)
    return gamma * (x - mu) / np.sqrt(var) + beta, {}


def ln_divided_by_variance(x, gamma, beta, eps=1e-5):
    """layernorm_forward: divided by the variance"""
    mu, var = _ln_stats(x)
    return gamma * (x - mu) / (var + eps) + beta, {}


def ln_own_eps(x, gamma, beta, eps=1e-5):
    """layernorm_forward: the eps argument is ignored"""
    mu, var = _ln_stats(x)
    return gamma * (x - mu) / np.sqrt(var + 1e-5) + beta, {}


def ln_whole_batch(x, gamma, beta, eps=1e-5):
    """layernorm_forward: one mean and variance for the whole batch"""
    return gamma * (x - x.mean()) / np.sqrt(x.var() + eps) + beta, {}


def ln_no_keepdims(x, gamma, beta, eps=1e-5):
    """layernorm_forward: mean and variance of shape (N,), without keepdims=True"""
    mu = x.mean(axis=1)                                       # (N,): broadcasts along features
    var = ((x - mu) ** 2).mean(axis=1)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta, {}


def ln_no_keepdims_var(x, gamma, beta, eps=1e-5):
    """layernorm_forward: mean and variance of shape (N,), without keepdims=True"""
    mu, var = x.mean(axis=1), x.var(axis=1)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta, {}


def ln_gamma_beta_swapped(x, gamma, beta, eps=1e-5):
    """layernorm_forward: gamma and beta swapped"""
    mu, var = _ln_stats(x)
    return beta * (x - mu) / np.sqrt(var + eps) + gamma, {}


def ln_no_scale_and_shift(x, gamma, beta, eps=1e-5):
    """layernorm_forward: scale and shift missing"""
    mu, var = _ln_stats(x)
    return (x - mu) / np.sqrt(var + eps), {}


def ln_variance_from_squares(x, gamma, beta, eps=1e-5):
    """layernorm_forward: variance computed as mean(x**2) - mean(x)**2"""
    mu = x.mean(axis=1, keepdims=True)
    var = (x ** 2).mean(axis=1, keepdims=True) - mu ** 2       # cancels when |mu| >> std
    return gamma * (x - mu) / np.sqrt(var + eps) + beta, {}


def ln_out_without_cache(x, gamma, beta, eps=1e-5):
    """layernorm_forward: return a pair (out, cache)"""
    mu, var = _ln_stats(x)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta


# --- layernorm_backward(dout, cache) -> (dx, dgamma, dbeta), cache x_hat (N, D), std (N, 1) ---


def _ln_parts(dout, cache):
    """What every backward below starts from: x_hat, std, D and dx_hat."""
    x_hat, std = cache["x_hat"], cache["std"]
    return x_hat, std, x_hat.shape[1], dout * cache["gamma"]


def _ln_params(dout, x_hat):
    return (dout * x_hat).sum(axis=0), dout.sum(axis=0)


def ln_statistics_as_constants(dout, cache):
    """layernorm_backward: the example's mean and variance treated as constants"""
    x_hat, std, _, g = _ln_parts(dout, cache)
    return (g / std, *_ln_params(dout, x_hat))


def ln_no_mean_path(dout, cache):
    """layernorm_backward: the path through the example's mean is missing"""
    x_hat, std, d, g = _ln_parts(dout, cache)
    dx = (d * g - x_hat * (g * x_hat).sum(axis=1, keepdims=True)) / (d * std)
    return (dx, *_ln_params(dout, x_hat))


def ln_no_variance_path(dout, cache):
    """layernorm_backward: the path through the example's variance is missing"""
    x_hat, std, _, g = _ln_parts(dout, cache)
    return ((g - g.mean(axis=1, keepdims=True)) / std, *_ln_params(dout, x_hat))


def ln_batchnorm_backward(dout, cache):
    """layernorm_backward: the sums of dx over the batch (axis=0): that is batch norm's backward"""
    x_hat, std, _, g = _ln_parts(dout, cache)
    m = dout.shape[0]                                         # copied from lesson 3
    dx = (m * g - g.sum(axis=0) - x_hat * (g * x_hat).sum(axis=0)) / (m * std)
    return (dx, *_ln_params(dout, x_hat))


def ln_d_is_batch_size(dout, cache):
    """layernorm_backward: D taken as the batch size N (lesson 3's m = dout.shape[0])"""
    x_hat, std, _, g = _ln_parts(dout, cache)
    m = dout.shape[0]                                         # lesson 3's count
    dx = (m * g - g.sum(axis=1, keepdims=True)
          - x_hat * (g * x_hat).sum(axis=1, keepdims=True)) / (m * std)
    return (dx, *_ln_params(dout, x_hat))


def ln_no_gamma_in_dx(dout, cache):
    """layernorm_backward: gamma missing from dx"""
    x_hat, std, d, _ = _ln_parts(dout, cache)
    dx = (d * dout - dout.sum(axis=1, keepdims=True)
          - x_hat * (dout * x_hat).sum(axis=1, keepdims=True)) / (d * std)
    return (dx, *_ln_params(dout, x_hat))


def ln_no_one_over_d(dout, cache):
    """layernorm_backward: the 1/D is missing"""
    x_hat, std, d, g = _ln_parts(dout, cache)
    dx = (d * g - g.sum(axis=1, keepdims=True) - x_hat * (g * x_hat).sum(axis=1, keepdims=True))
    return (dx / std, *_ln_params(dout, x_hat))


def _ln_right_dx(dout, cache):
    x_hat, std, _, g = _ln_parts(dout, cache)
    return (g - g.mean(axis=1, keepdims=True)
            - x_hat * (g * x_hat).mean(axis=1, keepdims=True)) / std


def ln_params_over_features(dout, cache):
    """layernorm_backward: dgamma and dbeta summed over the features (axis=1)"""
    x_hat = cache["x_hat"]
    return _ln_right_dx(dout, cache), (dout * x_hat).sum(axis=1), dout.sum(axis=1)


def ln_params_not_summed(dout, cache):
    """layernorm_backward: dgamma and dbeta not summed over the batch"""
    return _ln_right_dx(dout, cache), dout * cache["x_hat"], dout


def ln_params_swapped(dout, cache):
    """layernorm_backward: dgamma and dbeta swapped"""
    dgamma, dbeta = _ln_params(dout, cache["x_hat"])
    return _ln_right_dx(dout, cache), dbeta, dgamma


# --- groupnorm_forward(x, gamma, beta, num_groups, eps) -> (out, cache), x (N, C, H, W) ---


def _affine(x_hat, gamma, beta):
    c = x_hat.shape[1]
    return gamma.reshape(1, c, 1, 1) * x_hat + beta.reshape(1, c, 1, 1)


def _over(x, gamma, beta, eps, axes):
    mu, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    return _affine((x - mu) / np.sqrt(var + eps), gamma, beta), {}


def gn_batchnorm(x, gamma, beta, num_groups, eps=1e-5):
    """groupnorm_forward: statistics per channel over the batch (axes 0, 2, 3): that is batch
    norm"""
    return _over(x, gamma, beta, eps, axes=(0, 2, 3))


def gn_instance_norm(x, gamma, beta, num_groups, eps=1e-5):
    """groupnorm_forward: statistics per channel (axes 2, 3): that is instance norm, the groups are
    ignored"""
    return _over(x, gamma, beta, eps, axes=(2, 3))


def gn_layer_norm(x, gamma, beta, num_groups, eps=1e-5):
    """groupnorm_forward: statistics over the whole example (axes 1, 2, 3): that is layer norm"""
    return _over(x, gamma, beta, eps, axes=(1, 2, 3))


def gn_batch_in_groups(x, gamma, beta, num_groups, eps=1e-5):
    """groupnorm_forward: the batch axis included in the group statistics"""
    rows = x.reshape(x.shape[0], num_groups, -1)
    mu, var = rows.mean(axis=(0, 2), keepdims=True), rows.var(axis=(0, 2), keepdims=True)
    return _affine(((rows - mu) / np.sqrt(var + eps)).reshape(x.shape), gamma, beta), {}


def gn_strided_groups(x, gamma, beta, num_groups, eps=1e-5):
    """groupnorm_forward: groups made of every G-th channel: the reshape mixes channels of
    different groups"""
    n, c, h, w = x.shape
    split = x.reshape(n, c // num_groups, num_groups, h, w)      # channel = i * G + g
    mu = split.mean(axis=(1, 3, 4), keepdims=True)
    var = split.var(axis=(1, 3, 4), keepdims=True)
    return _affine(((split - mu) / np.sqrt(var + eps)).reshape(x.shape), gamma, beta), {}


def gn_channels_last(x, gamma, beta, num_groups, eps=1e-5):
    """groupnorm_forward: channels moved last before the reshape (lesson 3's transpose)"""
    n, c, h, w = x.shape
    rows = x.transpose(0, 2, 3, 1).reshape(n, num_groups, -1)    # as for batch norm's images
    mu, var = rows.mean(axis=2, keepdims=True), rows.var(axis=2, keepdims=True)
    x_hat = ((rows - mu) / np.sqrt(var + eps)).reshape(n, h, w, c).transpose(0, 3, 1, 2)
    return _affine(x_hat, gamma, beta), {}


def gn_affine_tiled(x, gamma, beta, num_groups, eps=1e-5):
    """groupnorm_forward: gamma and beta spread over the rows with np.tile: they land on the wrong
    channels"""
    rows, mu, var = _gn_rows(x, num_groups)
    reps = x.shape[2] * x.shape[3]
    g = np.tile(gamma, reps).reshape(1, num_groups, -1)           # should be np.repeat
    b = np.tile(beta, reps).reshape(1, num_groups, -1)
    return (g * (rows - mu) / np.sqrt(var + eps) + b).reshape(x.shape), {}


def _gn_rows(x, num_groups, ddof=0):
    rows = x.reshape(x.shape[0], num_groups, -1)
    return rows, rows.mean(axis=2, keepdims=True), rows.var(axis=2, ddof=ddof, keepdims=True)


def gn_affine_per_group(x, gamma, beta, num_groups, eps=1e-5):
    """groupnorm_forward: gamma and beta applied per group instead of per channel"""
    rows, mu, var = _gn_rows(x, num_groups)
    out = gamma.reshape(1, num_groups, 1) * (rows - mu) / np.sqrt(var + eps) \
        + beta.reshape(1, num_groups, 1)
    return out.reshape(x.shape), {}


def gn_unbiased(x, gamma, beta, num_groups, eps=1e-5):
    """groupnorm_forward: unbiased variance in the normalisation"""
    rows, mu, var = _gn_rows(x, num_groups, ddof=1)
    return _affine(((rows - mu) / np.sqrt(var + eps)).reshape(x.shape), gamma, beta), {}


def _gn_with_root(root):
    def forward(x, gamma, beta, num_groups, eps=1e-5):
        rows, mu, var = _gn_rows(x, num_groups)
        return _affine(((rows - mu) / root(var, eps)).reshape(x.shape), gamma, beta), {}
    return forward


def gn_eps_on_std(x, gamma, beta, num_groups, eps=1e-5):
    """groupnorm_forward: eps added to the standard deviation"""
    return _gn_with_root(lambda var, eps: np.sqrt(var) + eps)(x, gamma, beta, num_groups, eps)


def gn_no_eps(x, gamma, beta, num_groups, eps=1e-5):
    """groupnorm_forward: eps missing"""
    return _gn_with_root(lambda var, eps: np.sqrt(var))(x, gamma, beta, num_groups, eps)


def gn_divided_by_variance(x, gamma, beta, num_groups, eps=1e-5):
    """groupnorm_forward: divided by the variance"""
    return _gn_with_root(lambda var, eps: var + eps)(x, gamma, beta, num_groups, eps)


def gn_own_eps(x, gamma, beta, num_groups, eps=1e-5):
    """groupnorm_forward: the eps argument is ignored"""
    return _gn_with_root(lambda var, eps: np.sqrt(var + 1e-5))(x, gamma, beta, num_groups, eps)


def gn_variance_from_squares(x, gamma, beta, num_groups, eps=1e-5):
    """groupnorm_forward: variance computed as mean(x**2) - mean(x)**2"""
    rows, mu, _ = _gn_rows(x, num_groups)
    var = (rows ** 2).mean(axis=2, keepdims=True) - mu ** 2
    return _affine(((rows - mu) / np.sqrt(var + eps)).reshape(x.shape), gamma, beta), {}


# --- groupnorm_backward(dout, cache) -> (dx, dgamma, dbeta), x (N, C, H, W) ---


def _gn_parts(dout, cache, with_gamma=True):
    """dx_hat and x_hat as rows (N, G, M), std (N, G, 1)."""
    n, g = dout.shape[0], cache["num_groups"]
    gamma = cache["gamma"].reshape(1, -1, 1, 1)
    dx_hat = dout * gamma if with_gamma else dout
    return dx_hat.reshape(n, g, -1), cache["x_hat"].reshape(n, g, -1), cache["std"]


def _gn_params(dout, cache):
    return (dout * cache["x_hat"]).sum(axis=(0, 2, 3)), dout.sum(axis=(0, 2, 3))


def _gn_dx(dout, cache, m=None, mean_path=True, var_path=True, with_gamma=True):
    g, x_hat, std = _gn_parts(dout, cache, with_gamma)
    m = x_hat.shape[2] if m is None else m
    dx = (m * g - mean_path * g.sum(axis=2, keepdims=True)
          - var_path * x_hat * (g * x_hat).sum(axis=2, keepdims=True)) / (m * std)
    return dx.reshape(dout.shape)


def gn_statistics_as_constants(dout, cache):
    """groupnorm_backward: the group's mean and variance treated as constants"""
    g, _, std = _gn_parts(dout, cache)
    return ((g / std).reshape(dout.shape), *_gn_params(dout, cache))


def gn_no_mean_path(dout, cache):
    """groupnorm_backward: the path through the group's mean is missing"""
    return (_gn_dx(dout, cache, mean_path=False), *_gn_params(dout, cache))


def gn_no_variance_path(dout, cache):
    """groupnorm_backward: the path through the group's variance is missing"""
    return (_gn_dx(dout, cache, var_path=False), *_gn_params(dout, cache))


def gn_m_is_batch_size(dout, cache):
    """groupnorm_backward: M taken as the batch size N (lesson 3's m = dout.shape[0])"""
    return (_gn_dx(dout, cache, m=dout.shape[0]), *_gn_params(dout, cache))


def gn_m_is_channels_per_group(dout, cache):
    """groupnorm_backward: M taken as the channels per group, C // G"""
    return (_gn_dx(dout, cache, m=dout.shape[1] // cache["num_groups"]),
            *_gn_params(dout, cache))


def gn_no_gamma_in_dx(dout, cache):
    """groupnorm_backward: gamma missing from dx"""
    return (_gn_dx(dout, cache, with_gamma=False), *_gn_params(dout, cache))


def gn_params_per_group(dout, cache):
    """groupnorm_backward: dgamma and dbeta per group instead of per channel"""
    _, x_hat, _ = _gn_parts(dout, cache)
    rows = dout.reshape(x_hat.shape)                          # summed on the (N, G, M) view
    return _gn_dx(dout, cache), (rows * x_hat).sum(axis=(0, 2)), rows.sum(axis=(0, 2))


def gn_params_over_batch_only(dout, cache):
    """groupnorm_backward: dgamma and dbeta summed over the batch only"""
    return _gn_dx(dout, cache), (dout * cache["x_hat"]).sum(axis=0), dout.sum(axis=0)


# --- batch_dependence(forward, example, companions_a, companions_b) -> float ---


def _two_outputs(forward, example, companions_a, companions_b):
    return (forward(np.concatenate([example[None], companions_a])),
            forward(np.concatenate([example[None], companions_b])))


def whole_batches_compared(forward, example, companions_a, companions_b):
    """batch_dependence: the whole batches compared, not the one example"""
    out_a, out_b = _two_outputs(forward, example, companions_a, companions_b)
    return np.abs(out_a - out_b).max()


def example_left_out(forward, example, companions_a, companions_b):
    """batch_dependence: the example left out of the batches"""
    return np.abs(forward(companions_a)[0] - forward(companions_b)[0]).max()


def signed_difference(forward, example, companions_a, companions_b):
    """batch_dependence: the signed difference, not its size"""
    out_a, out_b = _two_outputs(forward, example, companions_a, companions_b)
    return (out_a[0] - out_b[0]).max()


# --- what got through before issue 26 ---


def ln_in_place(x, gamma, beta, eps=1e-5):
    """layernorm_forward: x changed in place"""
    x -= x.mean(axis=1, keepdims=True)
    std = np.sqrt((x ** 2).mean(axis=1, keepdims=True) + eps)
    x /= std
    return gamma * x + beta, {"x_hat": x, "std": std, "gamma": gamma}


def ln_cache_std_without_eps(x, gamma, beta, eps=1e-5):
    """layernorm_forward: cache['std'] lacks eps"""
    mu, var = _ln_stats(x)
    x_hat = (x - mu) / np.sqrt(var + eps)
    return gamma * x_hat + beta, {"x_hat": x_hat, "std": np.sqrt(var), "gamma": gamma}


def ln_back_sums_without_keepdims(dout, cache):
    """layernorm_backward: the sums of dx without keepdims=True"""
    x_hat, std, d, g = _ln_parts(dout, cache)
    dx = (d * g - g.sum(axis=1) - x_hat * (g * x_hat).sum(axis=1)) / (d * std)
    return (dx, *_ln_params(dout, x_hat))


def ln_back_dout_in_place(dout, cache):
    """layernorm_backward: dout changed in place"""
    x_hat, std, d, _ = _ln_parts(dout, cache)
    dgamma, dbeta = _ln_params(dout, x_hat)
    dout *= cache["gamma"]
    dx = (d * dout - dout.sum(axis=1, keepdims=True)
          - x_hat * (dout * x_hat).sum(axis=1, keepdims=True)) / (d * std)
    return dx, dgamma, dbeta


def gn_whole_batch_at_once(x, gamma, beta, num_groups, eps=1e-5):
    """groupnorm_forward: x.reshape(G, -1): the whole batch normalised at once"""
    rows = x.reshape(num_groups, -1)
    mu, var = rows.mean(axis=1, keepdims=True), rows.var(axis=1, keepdims=True)
    return _affine(((rows - mu) / np.sqrt(var + eps)).reshape(x.shape), gamma, beta), {}


def gn_cache_without_std(x, gamma, beta, num_groups, eps=1e-5):
    """groupnorm_forward: the cache has no 'std'"""
    rows, mu, var = _gn_rows(x, num_groups)
    x_hat = ((rows - mu) / np.sqrt(var + eps)).reshape(x.shape)
    return _affine(x_hat, gamma, beta), {"x_hat": x_hat, "gamma": gamma,
                                         "num_groups": num_groups}


def gn_back_unscaled(dout, cache):
    """groupnorm_backward: the 1/M is missing"""
    g, x_hat, std = _gn_parts(dout, cache)
    dx = (x_hat.shape[2] * g - g.sum(axis=2, keepdims=True)
          - x_hat * (g * x_hat).sum(axis=2, keepdims=True)) / std
    return (dx.reshape(dout.shape), *_gn_params(dout, cache))


def gn_back_swapped(dout, cache):
    """groupnorm_backward: dgamma and dbeta swapped"""
    dgamma, dbeta = _gn_params(dout, cache)
    return _gn_dx(dout, cache), dbeta, dgamma


def gn_back_strided(dout, cache):
    """groupnorm_backward: groups made of every G-th channel: the reshape mixes channels of
    different groups"""
    n, c, h, w = dout.shape
    groups = cache["num_groups"]
    gamma = cache["gamma"].reshape(1, -1, 1, 1)

    def rows(a):
        return a.reshape(n, c // groups, groups, h, w).swapaxes(1, 2).reshape(n, groups, -1)
    g, x_hat = rows(dout * gamma), rows(cache["x_hat"])
    std = cache["std"]
    m = x_hat.shape[2]
    dx = (m * g - g.sum(axis=2, keepdims=True)
          - x_hat * (g * x_hat).sum(axis=2, keepdims=True)) / (m * std)
    dx = dx.reshape(n, groups, c // groups, h, w).swapaxes(1, 2).reshape(dout.shape)
    return (dx, *_gn_params(dout, cache))


def gn_back_channels_last(dout, cache):
    """groupnorm_backward: channels moved last before the reshape (lesson 3's transpose)"""
    n, c, h, w = dout.shape
    groups = cache["num_groups"]
    g = (dout * cache["gamma"].reshape(1, -1, 1, 1)).transpose(0, 2, 3, 1).reshape(n, groups, -1)
    x_hat = cache["x_hat"].transpose(0, 2, 3, 1).reshape(n, groups, -1)
    m = x_hat.shape[2]
    dx = (m * g - g.sum(axis=2, keepdims=True)
          - x_hat * (g * x_hat).sum(axis=2, keepdims=True)) / (m * cache["std"])
    return (dx.reshape(n, h, w, c).transpose(0, 3, 1, 2), *_gn_params(dout, cache))


def gn_back_dx_off(dout, cache):
    """groupnorm_backward: dx is 2 times the right dx (dgamma, dbeta are right"""
    return (2 * _gn_dx(dout, cache), *_gn_params(dout, cache))


def example_in_place(forward, example, companions_a, companions_b):
    """batch_dependence: companions_a changed in place"""
    companions_a[0] = example                                # reuses the caller's array
    out_a = forward(companions_a)
    out_b = forward(np.concatenate([example[None], companions_b]))
    return np.abs(out_a[0] - out_b[0]).max()


def difference_as_string(forward, example, companions_a, companions_b):
    """batch_dependence: difference is a str: return a number"""
    out_a, out_b = _two_outputs(forward, example, companions_a, companions_b)
    return f"{np.abs(out_a[0] - out_b[0]).max()}"


def mean_absolute_difference(forward, example, companions_a, companions_b):
    """batch_dependence: the mean absolute difference, not the largest"""
    out_a, out_b = _two_outputs(forward, example, companions_a, companions_b)
    return np.abs(out_a[0] - out_b[0]).mean()


def ln_float32(x, gamma, beta, eps=1e-5):
    """layernorm_forward: computed in float32"""
    x = x.astype(np.float32)                                  # 7 digits: 1e6 + 0.5 is 1e6
    mu, var = _ln_stats(x)
    std = np.sqrt(var + eps)
    x_hat = (x - mu) / std
    return gamma * x_hat + beta, {"x_hat": x_hat, "std": std, "gamma": gamma}


def ln_cache_as_tuple(x, gamma, beta, eps=1e-5):
    """layernorm_forward: the cache is a tuple, not a dict"""
    mu, var = _ln_stats(x)
    std = np.sqrt(var + eps)
    x_hat = (x - mu) / std
    return gamma * x_hat + beta, (x_hat, std, gamma)
