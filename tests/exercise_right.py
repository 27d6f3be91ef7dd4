"""Right answers to every exercise, written independently in the styles students use (loops,
vectorised, float32 outputs, keepdims or not, the graph backward): every check must pass them.

Each function's docstring starts with the check it is for ("check_name: the style").
"""
import numpy as np

# --- minibatch_gd(grad, theta0, n, batch_size, lr, num_epochs, seed) ---


def gd_ranges(grad, theta0, n, batch_size, lr, num_epochs, seed=0):
    """minibatch_gd: range(0, n, batch_size) over one permutation per epoch"""
    rng = np.random.default_rng(seed)
    theta, steps = theta0.copy(), 0
    for _ in range(num_epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch_size):
            theta = theta - lr * grad(theta, order[start:start + batch_size])
            steps += 1
    return theta, steps


def gd_array_split(grad, theta0, n, batch_size, lr, num_epochs, seed=0):
    """minibatch_gd: np.array_split of a shuffled arange, a float step count"""
    rng = np.random.default_rng(seed)
    theta, steps = np.array(theta0, dtype=float), 0.0
    for _ in range(num_epochs):
        idx = np.arange(n)
        rng.shuffle(idx)
        for batch in np.array_split(idx, np.arange(batch_size, n, batch_size)):
            theta -= lr * grad(theta, batch)           # in place on its own copy: fine
            steps += 1
    return theta, steps


def gd_while(grad, theta0, n, batch_size, lr, num_epochs, seed=0):
    """minibatch_gd: a while loop and a list of batches"""
    rng = np.random.default_rng(seed)
    theta, steps, epoch = theta0 + 0.0, 0, 0
    while epoch < num_epochs:
        perm = list(rng.permutation(n))
        batches = [np.array(perm[i:i + batch_size]) for i in range(0, n, batch_size)]
        for b in batches:
            g = grad(theta, b)
            theta = theta - lr * g
        steps += len(batches)
        epoch += 1
    return theta, np.int64(steps)


# --- momentum_step(theta, velocity, g, lr, momentum) ---


def momentum_plain(theta, velocity, g, lr, momentum):
    """momentum_step: two lines"""
    v = momentum * velocity + g
    return theta - lr * v, v


def momentum_in_place(theta, velocity, g, lr, momentum):
    """momentum_step: in place, as an optimizer does"""
    velocity *= momentum
    velocity += g
    theta -= lr * velocity
    return theta, velocity


def momentum_float32(theta, velocity, g, lr, momentum):
    """momentum_step: a loop over the entries"""
    new_v = np.empty_like(velocity, dtype=float)
    new_t = np.empty_like(theta, dtype=float)
    for i in np.ndindex(theta.shape):
        new_v[i] = momentum * velocity[i] + g[i]
        new_t[i] = theta[i] - lr * new_v[i]
    return new_t, new_v


# --- batchnorm_forward(x, gamma, beta, eps) -> (out, cache) ---


def bn_vectorised(x, gamma, beta, eps=1e-5):
    """batchnorm_forward: vectorised, cache with (D,) statistics"""
    mu = x.mean(axis=0)
    var = ((x - mu) ** 2).mean(axis=0)
    std = np.sqrt(var + eps)
    x_hat = (x - mu) / std
    return gamma * x_hat + beta, {"x_hat": x_hat, "std": std, "gamma": gamma}


def bn_loops(x, gamma, beta, eps=1e-5):
    """batchnorm_forward: a loop over features, keepdims statistics"""
    out, x_hat = np.empty_like(x), np.empty_like(x)
    std = np.empty((1, x.shape[1]))
    for j in range(x.shape[1]):
        col = x[:, j]
        mean = sum(col) / len(col)
        std[0, j] = np.sqrt(sum((c - mean) ** 2 for c in col) / len(col) + eps)
        x_hat[:, j] = (col - mean) / std[0, j]
        out[:, j] = gamma[j] * x_hat[:, j] + beta[j]
    return out, {"x_hat": x_hat, "std": std, "gamma": gamma.reshape(1, -1), "eps": eps}


def bn_np_std(x, gamma, beta, eps=1e-5):
    """batchnorm_forward: np.var with keepdims, out returned as float32"""
    mean = np.mean(x, axis=0, keepdims=True)
    inv = 1.0 / np.sqrt(np.var(x, axis=0, keepdims=True) + eps)
    x_hat = (x - mean) * inv
    out = (x_hat * gamma[None, :] + beta[None, :]).astype(np.float32)
    return out, dict(x_hat=x_hat, std=1.0 / inv, gamma=gamma, mean=mean)


# --- batchnorm_backward(dout, cache) -> (dx, dgamma, dbeta) ---


def bn_back_compact(dout, cache):
    """batchnorm_backward: the compact formula with means"""
    x_hat, std, gamma = cache["x_hat"], cache["std"], cache["gamma"]
    g = dout * gamma
    dx = (g - g.mean(axis=0) - x_hat * (g * x_hat).mean(axis=0)) / std
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)


def bn_back_graph(dout, cache):
    """batchnorm_backward: the computational graph, node by node"""
    x_hat, std, gamma = cache["x_hat"], cache["std"], cache["gamma"]
    m = dout.shape[0]
    xc = x_hat * std
    dx_hat = dout * gamma
    dxc = dx_hat / std
    dstd = -(dx_hat * xc).sum(axis=0) / std ** 2
    dvar = dstd / (2 * std)
    dxc = dxc + 2 * xc * dvar / m
    dx = dxc - dxc.sum(axis=0) / m
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)


def bn_back_loops(dout, cache):
    """batchnorm_backward: a loop over features, the sums written out"""
    x_hat, std = cache["x_hat"], np.ravel(cache["std"])
    gamma = np.ravel(cache["gamma"])
    m, d = dout.shape
    dx, dgamma, dbeta = np.zeros((m, d)), np.zeros(d), np.zeros(d)
    for j in range(d):
        g = dout[:, j] * gamma[j]
        dx[:, j] = (m * g - g.sum() - x_hat[:, j] * (g * x_hat[:, j]).sum()) / (m * std[j])
        dgamma[j] = (dout[:, j] * x_hat[:, j]).sum()
        dbeta[j] = dout[:, j].sum()
    return dx, dgamma, dbeta


# --- batchnorm_forward_images(x, gamma, beta, eps) -> out ---


def images_axes(x, gamma, beta, eps=1e-5):
    """batchnorm_forward_images: statistics over axes (0, 2, 3) with keepdims"""
    mu = x.mean(axis=(0, 2, 3), keepdims=True)
    var = x.var(axis=(0, 2, 3), keepdims=True)
    return gamma[None, :, None, None] * (x - mu) / np.sqrt(var + eps) + beta[None, :, None, None]


def images_transpose(x, gamma, beta, eps=1e-5):
    """batchnorm_forward_images: channels last, rows, lesson 3's forward, back"""
    n, c, h, w = x.shape
    rows = x.transpose(0, 2, 3, 1).reshape(-1, c)
    out = gamma * (rows - rows.mean(axis=0)) / np.sqrt(rows.var(axis=0) + eps) + beta
    return out.reshape(n, h, w, c).transpose(0, 3, 1, 2)


def images_loop(x, gamma, beta, eps=1e-5):
    """batchnorm_forward_images: a loop over channels"""
    out = np.empty_like(x)
    for c in range(x.shape[1]):
        xc = x[:, c]
        out[:, c] = gamma[c] * (xc - xc.mean()) / np.sqrt(xc.var() + eps) + beta[c]
    return out


# --- update_running_stats(running_mean, running_var, x, momentum) ---


def running_axes(running_mean, running_var, x, momentum=0.1):
    """update_running_stats: all axes but 1, m from the size"""
    axes = tuple(a for a in range(x.ndim) if a != 1)
    m = x.size / x.shape[1]
    var = x.var(axis=axes) * m / (m - 1)
    return ((1 - momentum) * running_mean + momentum * x.mean(axis=axes),
            (1 - momentum) * running_var + momentum * var)


def running_ddof(running_mean, running_var, x, momentum=0.1):
    """update_running_stats: rows per channel, ddof=1"""
    rows = np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])
    mean, var = rows.mean(axis=0), rows.var(axis=0, ddof=1)
    return running_mean + momentum * (mean - running_mean), \
        running_var + momentum * (var - running_var)


def running_loop(running_mean, running_var, x, momentum=0.1):
    """update_running_stats: a loop over channels"""
    new_mean, new_var = np.empty_like(running_mean), np.empty_like(running_var)
    for c in range(x.shape[1]):
        values = x[:, c].ravel()
        new_mean[c] = (1 - momentum) * running_mean[c] + momentum * values.mean()
        new_var[c] = (1 - momentum) * running_var[c] + momentum * np.var(values, ddof=1)
    return new_mean, new_var


# --- batchnorm_eval(x, gamma, beta, running_mean, running_var, eps) ---


def eval_reshape(x, gamma, beta, running_mean, running_var, eps=1e-5):
    """batchnorm_eval: every vector reshaped to (1, C, 1, ...)"""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    std = np.sqrt(running_var.reshape(shape) + eps)
    return gamma.reshape(shape) * (x - running_mean.reshape(shape)) / std + beta.reshape(shape)


def eval_affine(x, gamma, beta, running_mean, running_var, eps=1e-5):
    """batchnorm_eval: as one scale and shift per channel"""
    s = gamma / np.sqrt(running_var + eps)
    t = beta - s * running_mean
    x_last = np.moveaxis(x, 1, -1)
    return np.moveaxis(x_last * s + t, -1, 1)


def eval_loop(x, gamma, beta, running_mean, running_var, eps=1e-5):
    """batchnorm_eval: a loop over channels into a float32 array"""
    out = np.empty(x.shape, dtype=np.float32)
    for c in range(x.shape[1]):
        out[:, c] = (x[:, c] - running_mean[c]) / np.sqrt(running_var[c] + eps) * gamma[c] \
            + beta[c]
    return out


# --- window_average(stream, window) ---


def window_slices(stream, window):
    """window_average: a slice per t"""
    return np.array([stream[max(0, t - window + 1):t + 1].mean(axis=0)
                     for t in range(len(stream))])


def window_cumsum(stream, window):
    """window_average: cumulative sums, float32-free"""
    stream = np.asarray(stream, dtype=float)
    c = np.cumsum(np.concatenate([np.zeros((1,) + stream.shape[1:]), stream]), axis=0)
    t = np.arange(1, len(stream) + 1)
    start = np.maximum(0, t - window)
    count = (t - start).reshape((-1,) + (1,) * (stream.ndim - 1))
    return (c[t] - c[start]) / count


def window_deque(stream, window):
    """window_average: a running list of the last batches"""
    recent, out = [], np.empty(np.shape(stream))
    for t, row in enumerate(stream):
        recent.append(row)
        if len(recent) > window:
            recent.pop(0)
        out[t] = np.mean(recent, axis=0)
    return out


# --- convert_momentum(momentum, source, target) ---

_KIND = {"pytorch": "new", "keras": "old", "cs231n": "old", "onnx": "old"}


def convert_dict(momentum, source, target):
    """convert_momentum: a dict of conventions"""
    return momentum if _KIND[source] == _KIND[target] else 1 - momentum


def convert_if(momentum, source, target):
    """convert_momentum: one if on PyTorch"""
    if (source == "pytorch") != (target == "pytorch"):
        return 1.0 - momentum
    return float(momentum)


def convert_weight(momentum, source, target):
    """convert_momentum: through the weight of the new batch, numpy float"""
    new_weight = momentum if source == "pytorch" else 1 - momentum
    return np.float64(new_weight if target == "pytorch" else 1 - new_weight)


# --- fold_batchnorm(W, b, gamma, beta, running_mean, running_var, eps) ---


def fold_vectorised(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    """fold_batchnorm: s and t"""
    s = gamma / np.sqrt(running_var + eps)
    return W * s, s * (b - running_mean) + beta


def fold_diag(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    """fold_batchnorm: a diagonal matrix"""
    scale = np.diag(gamma / np.sqrt(running_var + eps))
    return W @ scale, (b - running_mean) @ scale + beta


def fold_loop(W, b, gamma, beta, running_mean, running_var, eps=1e-5):
    """fold_batchnorm: a loop over output features"""
    W2, b2 = np.empty_like(W), np.empty_like(b)
    for j in range(W.shape[1]):
        s = gamma[j] / (running_var[j] + eps) ** 0.5
        W2[:, j] = W[:, j] * s
        b2[j] = s * b[j] + beta[j] - s * running_mean[j]
    return W2, b2


# --- layernorm_forward(x, gamma, beta, eps) -> (out, cache) ---


def ln_keepdims(x, gamma, beta, eps=1e-5):
    """layernorm_forward: keepdims"""
    mu, var = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)
    std = np.sqrt(var + eps)
    x_hat = (x - mu) / std
    return gamma * x_hat + beta, {"x_hat": x_hat, "std": std, "gamma": gamma}


def ln_transpose(x, gamma, beta, eps=1e-5):
    """layernorm_forward: batch norm's lines on x.T, (N,) statistics in the cache"""
    xt = x.T
    mu = xt.mean(axis=0)
    std = np.sqrt(((xt - mu) ** 2).mean(axis=0) + eps)
    x_hat = ((xt - mu) / std).T
    return x_hat * gamma + beta, {"x_hat": x_hat, "std": std[:, None], "gamma": gamma}


def ln_loop(x, gamma, beta, eps=1e-5):
    """layernorm_forward: a loop over examples, std stored as (N,)"""
    x_hat, std = np.empty_like(x), np.empty(len(x))
    for i, row in enumerate(x):
        std[i] = np.sqrt(row.var() + eps)
        x_hat[i] = (row - row.mean()) / std[i]
    return gamma * x_hat + beta, {"x_hat": x_hat, "std": std.reshape(-1, 1), "gamma": gamma}


# --- layernorm_backward(dout, cache) ---


def ln_back_means(dout, cache):
    """layernorm_backward: the compact formula with means"""
    x_hat, std, g = cache["x_hat"], cache["std"], dout * cache["gamma"]
    dx = (g - g.mean(axis=1, keepdims=True)
          - x_hat * (g * x_hat).mean(axis=1, keepdims=True)) / std
    return dx, (dout * x_hat).sum(axis=0), dout.sum(axis=0)


def ln_back_graph(dout, cache):
    """layernorm_backward: the graph, per row"""
    x_hat, std = cache["x_hat"], cache["std"]
    d = x_hat.shape[1]
    xc = x_hat * std
    dx_hat = dout * cache["gamma"]
    dvar = -(dx_hat * xc).sum(axis=1, keepdims=True) / (2 * std ** 3)
    dxc = dx_hat / std + 2 * xc * dvar / d
    dx = dxc - dxc.mean(axis=1, keepdims=True)
    return dx, np.einsum("nd,nd->d", dout, x_hat), dout.sum(axis=0)


def ln_back_via_bn(dout, cache):
    """layernorm_backward: batch norm's backward on the transposes"""
    x_hat, std = cache["x_hat"].T, cache["std"].T
    g = (dout * cache["gamma"]).T
    m = x_hat.shape[0]
    dx = (m * g - g.sum(axis=0) - x_hat * (g * x_hat).sum(axis=0)) / (m * std)
    return dx.T, (dout * cache["x_hat"]).sum(axis=0), dout.sum(axis=0)


# --- groupnorm_forward(x, gamma, beta, num_groups, eps) -> (out, cache) ---


def gn_rows(x, gamma, beta, num_groups, eps=1e-5):
    """groupnorm_forward: the (N, G, M) rows"""
    n = x.shape[0]
    rows = x.reshape(n, num_groups, -1)
    mu, var = rows.mean(axis=2, keepdims=True), rows.var(axis=2, keepdims=True)
    std = np.sqrt(var + eps)
    x_hat = ((rows - mu) / std).reshape(x.shape)
    g = gamma.reshape(1, -1, 1, 1)
    return g * x_hat + beta.reshape(1, -1, 1, 1), {"x_hat": x_hat, "std": std, "gamma": g,
                                                  "num_groups": num_groups}


def gn_split(x, gamma, beta, num_groups, eps=1e-5):
    """groupnorm_forward: x.reshape(N, G, C // G, H, W), std kept per value"""
    n, c, h, w = x.shape
    split = x.reshape(n, num_groups, c // num_groups, h, w)
    mu = split.mean(axis=(2, 3, 4), keepdims=True)
    std = np.sqrt(split.var(axis=(2, 3, 4), keepdims=True) + eps)
    x_hat = ((split - mu) / std).reshape(x.shape)
    std_full = np.broadcast_to(std, split.shape).reshape(x.shape)
    return x_hat * gamma[:, None, None] + beta[:, None, None], {
        "x_hat": x_hat, "std": std_full, "gamma": gamma, "num_groups": num_groups}


def gn_loop(x, gamma, beta, num_groups, eps=1e-5):
    """groupnorm_forward: loops over examples and groups, std (N, G)"""
    n, c = x.shape[:2]
    size = c // num_groups
    x_hat, std = np.empty_like(x), np.empty((n, num_groups))
    for i in range(n):
        for g in range(num_groups):
            block = x[i, g * size:(g + 1) * size]
            std[i, g] = np.sqrt(block.var() + eps)
            x_hat[i, g * size:(g + 1) * size] = (block - block.mean()) / std[i, g]
    out = x_hat * gamma.reshape(1, c, 1, 1) + beta.reshape(1, c, 1, 1)
    return out, {"x_hat": x_hat, "std": std, "gamma": gamma, "num_groups": num_groups}


# --- groupnorm_backward(dout, cache) ---


def gn_back_rows(dout, cache):
    """groupnorm_backward: the rows and the compact formula"""
    n, g = dout.shape[0], cache["num_groups"]
    dx_hat = (dout * cache["gamma"].reshape(1, -1, 1, 1)).reshape(n, g, -1)
    x_hat = cache["x_hat"].reshape(n, g, -1)
    dx = (dx_hat - dx_hat.mean(axis=2, keepdims=True)
          - x_hat * (dx_hat * x_hat).mean(axis=2, keepdims=True)) / cache["std"]
    return dx.reshape(dout.shape), (dout * cache["x_hat"]).sum(axis=(0, 2, 3)), \
        dout.sum(axis=(0, 2, 3))


def gn_back_via_ln(dout, cache):
    """groupnorm_backward: layer norm's backward on (N * G, M) rows with gamma = 1"""
    n, g = dout.shape[0], cache["num_groups"]
    rows = (dout * cache["gamma"].reshape(1, -1, 1, 1)).reshape(n * g, -1)
    x_hat = cache["x_hat"].reshape(n * g, -1)
    std = cache["std"].reshape(n * g, 1)
    d = rows.shape[1]
    dx = (d * rows - rows.sum(axis=1, keepdims=True)
          - x_hat * (rows * x_hat).sum(axis=1, keepdims=True)) / (d * std)
    return dx.reshape(dout.shape), np.sum(dout * cache["x_hat"], axis=(0, 2, 3)), \
        np.sum(dout, axis=(0, 2, 3))


def gn_back_graph(dout, cache):
    """groupnorm_backward: the graph on the rows"""
    n, g = dout.shape[0], cache["num_groups"]
    std = cache["std"]
    x_hat = cache["x_hat"].reshape(n, g, -1)
    xc = x_hat * std
    m = x_hat.shape[2]
    dx_hat = (dout * cache["gamma"].reshape(1, -1, 1, 1)).reshape(n, g, -1)
    dvar = -(dx_hat * xc).sum(axis=2, keepdims=True) / (2 * std ** 3)
    dxc = dx_hat / std + 2 * xc * dvar / m
    dx = dxc - dxc.mean(axis=2, keepdims=True)
    params = (dout * cache["x_hat"]).sum(axis=(0, 2, 3)), dout.sum(axis=(0, 2, 3))
    return (dx.reshape(dout.shape), *params)


# --- batch_dependence(forward, example, companions_a, companions_b) -> float ---


def dependence_concat(forward, example, companions_a, companions_b):
    """batch_dependence: np.concatenate"""
    out_a = forward(np.concatenate([example[None], companions_a]))
    out_b = forward(np.concatenate([example[None], companions_b]))
    return np.abs(out_a[0] - out_b[0]).max()


def dependence_vstack(forward, example, companions_a, companions_b):
    """batch_dependence: np.vstack and a float"""
    a = forward(np.vstack([example[np.newaxis], companions_a]))[0]
    b = forward(np.vstack([example[np.newaxis], companions_b]))[0]
    return float(np.max(np.abs(a - b)))


def dependence_insert(forward, example, companions_a, companions_b):
    """batch_dependence: np.insert, the example kept first"""
    batches = [np.insert(c, 0, example, axis=0) for c in (companions_a, companions_b)]
    rows = [forward(batch)[0] for batch in batches]
    return np.linalg.norm((rows[0] - rows[1]).ravel(), ord=np.inf)
