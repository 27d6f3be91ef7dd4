"""Lesson 3: plain vs batch-norm runs, cached sensitivity sweeps, and the noise of mu_B.

`train_pair` trains the same MLP without and with batch norm; `sensitivity_sweep` repeats that
over learning rates or weight-init scales and caches the result for the session, so running a
cell again costs nothing; `batch_mean_spread` measures how much a batch mean varies from
batch to batch; `gd_relative_errors` shows one learning rate favouring large-scale features;
`edge_fraction` reads how much of a layer's input sits beyond the recorded histogram range;
`median_shift` how far a layer's input moved, in its own widths.
A run counts as diverged by the course's one rule (`helpers.divergence`, via History.diverged).
Their figures are in lesson3_figures.
"""
import hashlib
import textwrap

import numpy as np

from ..batchnorm import batch_of_one_message
from ..network import make_mlp
from ..progress import progress_bar
from ..recording import end_bin_fraction
from ..training import train

LABELS = ("plain", "batch norm")
PARAMS = ("lr", "scale")
_CACHE = {}


def no_run_message(model, batch_size):
    """The engine's batch-of-one message for `model`'s first batch norm, wrapped to fit
    into one small panel (a panel shows it in place of a run)."""
    shape = (batch_size, model.batchnorms[0].num_features)
    return textwrap.fill(batch_of_one_message(shape), 34)


def train_pair(X, y, *, batch_size, lr, num_steps, momentum=0.0, models=None, **kwargs):
    """Train make_mlp() and make_mlp(batchnorm=True) with one seed and the same batches.

    X (N, D), y (N,); kwargs go to make_mlp (init, scale, sizes, seed) or train (X_test,
    y_test, eval_every, record_every). Returns {label: History}; batch norm with batch_size 1
    gives the engine's message instead (`no_run_message`). models: a dict to receive the models.
    """
    mlp_keys = {"init", "scale", "sizes", "seed", "activation"}
    mlp_kw = {k: v for k, v in kwargs.items() if k in mlp_keys}
    train_kw = {k: v for k, v in kwargs.items() if k not in mlp_keys}
    out = {}
    for label in LABELS:
        model = make_mlp(batchnorm=label == "batch norm", **mlp_kw)
        if label == "batch norm" and batch_size == 1:
            out[label] = no_run_message(model, batch_size)
            continue
        out[label] = train(model, X, y, batch_size=batch_size, lr=lr, num_steps=num_steps,
                           momentum=momentum, seed=mlp_kw.get("seed", 0), **train_kw)
        if models is not None:
            models[label] = model
    return out


def edge_fraction(history, layer, step=-1):
    """Fraction of hidden layer `layer` (0-based)'s inputs to the nonlinearity in the end bins
    of the recorded histogram (|x| > 9.95 for the default bins: a sigmoid there passes almost
    no gradient), at recorded step index `step`."""
    acts = history.activations
    return float(end_bin_fraction(acts["pre_hist"][step, layer], acts["pre_bins"]))


def median_shift(history, layer):
    """How far the pooled input of hidden layer `layer` (0-based) moved during a recorded run,
    in widths: |median at the last recorded step - median at the first one after step 0|,
    divided by the 15th-85th percentile range at the last step. (A panel draws step 0 apart,
    dashed; this is the move from its first coloured curve to its last.)"""
    pct = history.activations["pre_pct"][:, layer]          # (T, 5): 1, 15, 50, 85, 99
    return float(abs(pct[-1, 2] - pct[1, 2]) / (pct[-1, 3] - pct[-1, 1]))


def _fingerprint(*arrays):
    """A digest of the data, so the cache never hands back runs made on other data."""
    h = hashlib.sha1()
    for a in map(np.ascontiguousarray, arrays):
        h.update(f"{a.shape}{a.dtype}".encode() + a.tobytes())
    return h.hexdigest()


def sensitivity_sweep(param, values, X, y, X_test, y_test, *, num_steps, batch_size=60,
                      lr=0.5, progress="sweep", **mlp_kw):
    """Final test accuracy with and without batch norm for each value of `param`.

    param: "lr" (learning rate) or "scale" (std of the initial weights, init="small").
    values: K positive numbers. Returns a dict: param, values (K,), acc {label: (K,)},
    final_loss {label: (K,)}, diverged {label: (K,) bool, from History.diverged: the course's
    one rule}. The result is cached for the session: the same call again returns the same
    dict without training.
    """
    if param not in PARAMS:
        raise ValueError(f"param must be one of {PARAMS}, got {param!r}")
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or len(values) == 0 or not np.all(values > 0):
        raise ValueError(f"values must be a 1-D list of positive numbers, got {values.tolist()}")
    key = (param, tuple(values), num_steps, batch_size, lr, tuple(sorted(mlp_kw.items())),
           _fingerprint(X, y, X_test, y_test))
    if key in _CACHE:
        return _CACHE[key]
    runs = {label: [] for label in LABELS}          # (History, model) per value
    for v in progress_bar(values, progress):
        kw = dict(mlp_kw, lr=lr, eval_every=0)
        kw.update({"lr": v} if param == "lr" else {"init": "small", "scale": v})
        models = {}
        hists = train_pair(X, y, batch_size=batch_size, num_steps=num_steps, models=models, **kw)
        for label in LABELS:
            runs[label].append((hists[label], models[label]))
    res = {"param": param, "values": values, "acc": {}, "final_loss": {}, "diverged": {}}
    for label, pairs in runs.items():
        res["diverged"][label] = np.array([h.diverged is not None for h, _ in pairs])
        res["final_loss"][label] = np.array([h.loss[-1] if h.loss else np.inf for h, _ in pairs])
        with np.errstate(all="ignore"):       # a diverged model may predict from NaNs
            res["acc"][label] = np.array([m.accuracy(X_test, y_test) for _, m in pairs])
    _CACHE[key] = res
    return res


def batch_mean_spread(features, batch_sizes, num_batches=200, seed=0):
    """How much the batch mean mu_B of each feature varies from batch to batch.

    features: (N, D), e.g. the inputs of a batch-norm layer for the whole training set.
    For each m in batch_sizes, num_batches batches are drawn as training draws them (shuffle,
    cut into batches of m, no repeats within an epoch). Returns a dict: batch_sizes (K,);
    spread (K,): std of mu_B across batches divided by the feature's std, averaged over the D
    features; law (K,): 1/sqrt(m) * sqrt((N - m) / (N - 1)) (sampling without replacement).
    """
    features = np.asarray(features, dtype=float)
    if features.ndim != 2:
        raise ValueError(f"features must be (N, D), got shape {features.shape}")
    n = len(features)
    sizes = np.asarray(batch_sizes)
    if sizes.ndim != 1 or not np.issubdtype(sizes.dtype, np.integer) \
            or not np.all((sizes >= 1) & (sizes <= n // 2)):
        raise ValueError(f"batch sizes must be ints from 1 to N/2 = {n // 2}, got {sizes}")
    sigma = features.std(axis=0)
    if np.any(sigma == 0):
        raise ValueError("every feature must vary (a constant feature has no spread to measure)")
    rng = np.random.default_rng(seed)
    spread = []
    for m in sizes:
        per_epoch = n // m
        perms = [rng.permutation(n)[:per_epoch * m] for _ in range(-(-num_batches // per_epoch))]
        idx = np.concatenate(perms).reshape(-1, m)[:num_batches]       # (num_batches, m)
        mu_b = features[idx].mean(axis=1)                                # (num_batches, D)
        spread.append(np.mean(mu_b.std(axis=0) / sigma))
    law = 1 / np.sqrt(sizes) * np.sqrt((n - sizes) / (n - 1))
    return {"batch_sizes": sizes, "spread": np.array(spread), "law": law}


def gd_relative_errors(X, y, w_star, lr, num_steps):
    """Full-batch gradient descent on the least-squares loss mean((X w - y)^2) / 2 from w = 0.

    X (N, D), y (N,), w_star (D,) the minimiser. Returns (num_steps + 1, D): for each step,
    |w_j - w_star_j| / |w_star_j|, so features can be compared whatever their scale.
    """
    w, rows = np.zeros(X.shape[1]), []
    for _ in range(num_steps + 1):
        rows.append(np.abs(w - w_star) / np.abs(w_star))
        w = w - lr * X.T @ (X @ w - y) / len(X)
    return np.array(rows)
