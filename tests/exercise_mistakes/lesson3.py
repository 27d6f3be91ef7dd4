"""Wrong lesson 3 exercise answers, written the way students write them: one mistake each.

Each function's docstring says which check it is for and the name that check must give its
mistake ("check_name: the mistake's name").
"""
import numpy as np

# --- batchnorm_forward(x, gamma, beta, eps) -> (out, cache), x (m, D) ---


def unbiased_variance(x, gamma, beta, eps=1e-5):
    """batchnorm_forward: unbiased variance in the normalisation"""
    mu, var = x.mean(axis=0), x.var(axis=0, ddof=1)           # m - 1: the sample variance
    return gamma * (x - mu) / np.sqrt(var + eps) + beta, {}


def eps_on_std(x, gamma, beta, eps=1e-5):
    """batchnorm_forward: eps added to the standard deviation"""
    mu, std = x.mean(axis=0), x.std(axis=0)
    return gamma * (x - mu) / (std + eps) + beta, {}


def no_eps(x, gamma, beta, eps=1e-5):
    """batchnorm_forward: eps missing"""
    return gamma * (x - x.mean(axis=0)) / x.std(axis=0) + beta, {}


def own_eps(x, gamma, beta, eps=1e-5):
    """batchnorm_forward: the eps argument is ignored"""
    return gamma * (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + 1e-5) + beta, {}


def divided_by_variance(x, gamma, beta, eps=1e-5):
    """batchnorm_forward: divided by the variance"""
    return gamma * (x - x.mean(axis=0)) / (x.var(axis=0) + eps) + beta, {}


def per_example(x, gamma, beta, eps=1e-5):
    """batchnorm_forward: statistics per example (axis=1)"""
    mu, var = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)
    return gamma * (x - mu) / np.sqrt(var + eps) + beta, {}


def whole_batch(x, gamma, beta, eps=1e-5):
    """batchnorm_forward: one mean and variance for the whole batch"""
    return gamma * (x - x.mean()) / np.sqrt(x.var() + eps) + beta, {}


def gamma_beta_swapped(x, gamma, beta, eps=1e-5):
    """batchnorm_forward: gamma and beta swapped"""
    return beta * (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps) + gamma, {}


def no_scale_and_shift(x, gamma, beta, eps=1e-5):
    """batchnorm_forward: scale and shift missing"""
    return (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps), {}


def variance_from_squares(x, gamma, beta, eps=1e-5):
    """batchnorm_forward: variance computed as mean(x**2) - mean(x)**2"""
    mu = x.mean(axis=0)
    var = (x ** 2).mean(axis=0) - mu ** 2                     # cancels when |mu| >> std
    return gamma * (x - mu) / np.sqrt(var + eps) + beta, {}


def out_without_cache(x, gamma, beta, eps=1e-5):
    """batchnorm_forward: return a pair (out, cache)"""
    return gamma * (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps) + beta


# --- batchnorm_backward(dout, cache) -> (dx, dgamma, dbeta) ---


def _parts(dout, cache):
    """What every backward below starts from: x_hat, std, gamma, m and dx_hat."""
    x_hat, std, gamma = cache["x_hat"], cache["std"], cache["gamma"]
    return x_hat, std, dout.shape[0], dout * gamma


def statistics_as_constants(dout, cache):
    """batchnorm_backward: the batch mean and variance treated as constants"""
    x_hat, std, _, g = _parts(dout, cache)
    return g / std, (dout * x_hat).sum(axis=0), dout.sum(axis=0)


def no_mean_path(dout, cache):
    """batchnorm_backward: the path through the batch mean is missing"""
    x_hat, std, m, g = _parts(dout, cache)
    dx = (m * g - x_hat * (g * x_hat).sum(axis=0)) / (m * std)
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)


def no_variance_path(dout, cache):
    """batchnorm_backward: the path through the batch variance is missing"""
    x_hat, std, m, g = _parts(dout, cache)
    return (g - g.mean(axis=0)) / std, (dout * x_hat).sum(axis=0), dout.sum(axis=0)


def no_gamma_in_dx(dout, cache):
    """batchnorm_backward: gamma missing from dx"""
    x_hat, std, m, _ = _parts(dout, cache)
    dx = (m * dout - dout.sum(axis=0) - x_hat * (dout * x_hat).sum(axis=0)) / (m * std)
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)


def no_one_over_m(dout, cache):
    """batchnorm_backward: the 1/m is missing"""
    x_hat, std, m, g = _parts(dout, cache)
    dx = (m * g - g.sum(axis=0) - x_hat * (g * x_hat).sum(axis=0)) / std
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)


def _right_dx(dout, cache):
    x_hat, std, m, g = _parts(dout, cache)
    return (g - g.mean(axis=0) - x_hat * (g * x_hat).mean(axis=0)) / std


def parameter_grads_not_summed(dout, cache):
    """batchnorm_backward: dgamma and dbeta not summed over the batch"""
    return _right_dx(dout, cache), dout * cache["x_hat"], dout


def parameter_grads_swapped(dout, cache):
    """batchnorm_backward: dgamma and dbeta swapped"""
    return _right_dx(dout, cache), dout.sum(axis=0), (dout * cache["x_hat"]).sum(axis=0)


# --- batchnorm_forward_images(x, gamma, beta, eps) -> out, x (N, C, H, W) ---


def _over(x, gamma, beta, eps, axes):
    mu, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    return gamma[:, None, None] * (x - mu) / np.sqrt(var + eps) + beta[:, None, None]


def per_pixel(x, gamma, beta, eps=1e-5):
    """batchnorm_forward_images: statistics over the wrong axes for images (over N only: one mean
    per pixel)"""
    return _over(x, gamma, beta, eps, axes=0)


def per_image(x, gamma, beta, eps=1e-5):
    """batchnorm_forward_images: statistics over the wrong axes for images (per image, over C, H
    and W)"""
    return _over(x, gamma, beta, eps, axes=(1, 2, 3))


def per_image_and_channel(x, gamma, beta, eps=1e-5):
    """batchnorm_forward_images: statistics over the wrong axes for images (per image and channel,
    over H and W)"""
    return _over(x, gamma, beta, eps, axes=(2, 3))


def _rows_normalized(rows, gamma, beta, eps):
    return gamma * (rows - rows.mean(axis=0)) / np.sqrt(rows.var(axis=0) + eps) + beta


def reshape_without_transpose(x, gamma, beta, eps=1e-5):
    """batchnorm_forward_images: x.reshape(-1, C) mixes the channels"""
    rows = x.reshape(-1, x.shape[1])                          # columns are not channels
    return _rows_normalized(rows, gamma, beta, eps).reshape(x.shape)


def back_without_transpose(x, gamma, beta, eps=1e-5):
    """batchnorm_forward_images: reshaped back without moving C back to axis 1"""
    rows = x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1])
    return _rows_normalized(rows, gamma, beta, eps).reshape(x.shape)   # C is still last


# --- what got through before issue 26 ---


def out_as_list(x, gamma, beta, eps=1e-5):
    """batchnorm_forward: out is a list: return a numpy array"""
    out = gamma * (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps) + beta
    return out.tolist(), {}


def forgot_return(x, gamma, beta, eps=1e-5):
    """batchnorm_forward: your function returned None: did you forget `return`?"""
    gamma * (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps) + beta


def centres_x_in_place(x, gamma, beta, eps=1e-5):
    """batchnorm_forward: x changed in place"""
    x -= x.mean(axis=0)
    std = np.sqrt(x.var(axis=0) + eps)
    x /= std
    return gamma * x + beta, {"x_hat": x, "std": std, "gamma": gamma}


def cache_without_std(x, gamma, beta, eps=1e-5):
    """batchnorm_forward: the cache has no 'std'"""
    x_hat = (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps)
    return gamma * x_hat + beta, {"x_hat": x_hat, "gamma": gamma}


def cache_var_as_std(x, gamma, beta, eps=1e-5):
    """batchnorm_forward: cache['std'] holds var + eps"""
    var = x.var(axis=0) + eps
    x_hat = (x - x.mean(axis=0)) / np.sqrt(var)
    return gamma * x_hat + beta, {"x_hat": x_hat, "std": var, "gamma": gamma}


def dout_scaled_in_place(dout, cache):
    """batchnorm_backward: dout changed in place"""
    x_hat, std = cache["x_hat"], cache["std"]
    dbeta, dgamma = dout.sum(axis=0), (dout * x_hat).sum(axis=0)
    dout *= cache["gamma"]                                    # now dx_hat, in the caller's array
    dx = (dout - dout.mean(axis=0) - x_hat * (dout * x_hat).mean(axis=0)) / std
    return dx, dgamma, dbeta


def dbeta_keepdims(dout, cache):
    """batchnorm_backward: dbeta has shape (1, 5), expected (5,): drop or add the axes of
    length 1"""
    x_hat, std, gamma = cache["x_hat"], cache["std"], cache["gamma"]
    g = dout * gamma
    dx = (g - g.mean(axis=0) - x_hat * (g * x_hat).mean(axis=0)) / std
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0, keepdims=True)


def dx_off_by_half(dout, cache):
    """batchnorm_backward: dx is 0.5 times the right dx (dgamma, dbeta are right"""
    x_hat, std, gamma = cache["x_hat"], cache["std"], cache["gamma"]
    g = dout * gamma
    m = dout.shape[0]
    dx = (m * g - g.sum(axis=0) - x_hat * (g * x_hat).sum(axis=0)) / (2 * m * std)
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)


def dx_mean_path_off(dout, cache):
    """batchnorm_backward: dx does not sum to 0 over the batch (axis 0) (dgamma, dbeta are right"""
    x_hat, std, gamma = cache["x_hat"], cache["std"], cache["gamma"]
    g = dout * gamma
    dx = (g - 0.5 * g.mean(axis=0) - x_hat * (g * x_hat).mean(axis=0)) / std
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)


def dx_variance_path_off(dout, cache):
    """batchnorm_backward: dx is off, but sums to 0 and dgamma, dbeta are right"""
    x_hat, std, gamma = cache["x_hat"], cache["std"], cache["gamma"]
    g = dout * gamma
    dx = (g - g.mean(axis=0) - 0.5 * x_hat * (g * x_hat).mean(axis=0)) / std
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)


def images_unbiased(x, gamma, beta, eps=1e-5):
    """batchnorm_forward_images: unbiased variance in the normalisation"""
    mu = x.mean(axis=(0, 2, 3), keepdims=True)
    var = x.var(axis=(0, 2, 3), ddof=1, keepdims=True)
    return gamma[:, None, None] * (x - mu) / np.sqrt(var + eps) + beta[:, None, None]


def images_eps_on_std(x, gamma, beta, eps=1e-5):
    """batchnorm_forward_images: eps added to the standard deviation"""
    mu = x.mean(axis=(0, 2, 3), keepdims=True)
    std = x.std(axis=(0, 2, 3), keepdims=True)
    return gamma[:, None, None] * (x - mu) / (std + eps) + beta[:, None, None]


def float32_throughout(x, gamma, beta, eps=1e-5):
    """batchnorm_forward: computed in float32"""
    x, gamma, beta = (a.astype(np.float32) for a in (x, gamma, beta))
    mu, var = x.mean(axis=0), x.var(axis=0)
    x_hat = (x - mu) / np.sqrt(var + eps)
    return gamma * x_hat + beta, {"x_hat": x_hat, "std": np.sqrt(var + eps), "gamma": gamma}
