"""Lesson 3: plain vs batch-norm runs, cached sensitivity sweeps, and the noise of mu_B.

`train_pair` trains the same MLP without and with batch norm; `sensitivity_sweep` repeats that
over learning rates or weight-init scales and caches the result for the session, so running a
cell again costs nothing; `seeded_sweep` does the same over several seeds, and `good_band`
reads off the values where a network trains well on every seed; `batch_mean_spread` measures
how much a batch mean varies from batch to batch; `undo_error` how far fixed gamma, beta are
from undoing batch norm on a batch; `gd_relative_errors`, `two_feature_problem` and
`steps_to_learn` show one learning rate favouring large-scale features (input
standardisation in a linear model);
`edge_fraction` reads how much of a layer's input sits beyond the recorded histogram range;
`median_shift` how far a layer's input moved, in its own widths.
A run counts as diverged by the course's one rule (`helpers.divergence`, via History.diverged).
Their figures are in lesson3_figures.
"""
import hashlib

import numpy as np

from ..batchnorm import batchnorm_forward
from ..display.figures import no_run_message
from ..network import make_mlp
from ..progress import progress_bar
from ..recording import end_bin_fraction
from ..training import train

LABELS = ("plain", "batch norm")
PARAMS = ("lr", "scale")
RATIO_STUDY_NAMES = ("raw, lr 1/lambda_max", "raw, best fixed lr", "standardised")
_CACHE = {}


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


def _check_sweep(param, values):
    if param not in PARAMS:
        raise ValueError(f"param must be one of {PARAMS}, got {param!r}")
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or len(values) == 0 or not np.all(values > 0):
        raise ValueError(f"values must be a 1-D list of positive numbers, got {values.tolist()}")
    return values


def _sweep_point(param, value, X, y, X_test, y_test, num_steps, batch_size, lr, mlp_kw):
    """Train the pair at one swept value. Returns {label: (accuracy, final loss, diverged)}."""
    kw = dict(mlp_kw, lr=lr, eval_every=0)
    kw.update({"lr": value} if param == "lr" else {"init": "small", "scale": value})
    models = {}
    hists = train_pair(X, y, batch_size=batch_size, num_steps=num_steps, models=models, **kw)
    out = {}
    for label in LABELS:
        h = hists[label]
        with np.errstate(all="ignore"):       # a diverged model may predict from NaNs
            acc = models[label].accuracy(X_test, y_test)
        out[label] = (acc, h.loss[-1] if h.loss else np.inf, h.diverged is not None)
    return out


def _collect(points, shape):
    """{label: (acc, loss, diverged)} per point -> acc, final_loss, diverged dicts of `shape`."""
    res = {"acc": {}, "final_loss": {}, "diverged": {}}
    for i, key in enumerate(("acc", "final_loss", "diverged")):
        for label in LABELS:
            res[key][label] = np.array([p[label][i] for p in points]).reshape(shape)
    return res


def sensitivity_sweep(param, values, X, y, X_test, y_test, *, num_steps, batch_size=60,
                      lr=0.5, progress="sweep", **mlp_kw):
    """Final test accuracy with and without batch norm for each value of `param`.

    param: "lr" (learning rate) or "scale" (std of the initial weights, init="small").
    values: K positive numbers. Returns a dict: param, values (K,), acc {label: (K,)},
    final_loss {label: (K,)}, diverged {label: (K,) bool, from History.diverged: the course's
    one rule}. The result is cached for the session: the same call again returns the same
    dict without training.
    """
    values = _check_sweep(param, values)
    key = (param, tuple(values), num_steps, batch_size, lr, tuple(sorted(mlp_kw.items())),
           _fingerprint(X, y, X_test, y_test))
    if key in _CACHE:
        return _CACHE[key]
    points = [_sweep_point(param, v, X, y, X_test, y_test, num_steps, batch_size, lr, mlp_kw)
              for v in progress_bar(values, progress)]
    res = {"param": param, "values": values, **_collect(points, (len(values),))}
    _CACHE[key] = res
    return res


def seeded_sweep(param, values, seeds, X, y, X_test, y_test, *, num_steps, batch_size=60,
                 lr=0.5, progress="sweep", **mlp_kw):
    """`sensitivity_sweep` repeated for each seed (it sets both the initial weights and the
    order of the batches), behind one progress bar, cached the same way.

    seeds: S ints. Returns a dict: param, values (K,), seeds (S,), and acc, final_loss,
    diverged {label: (S, K)} (row s is seed seeds[s]).
    """
    values = _check_sweep(param, values)
    seeds = np.asarray(seeds)
    if seeds.ndim != 1 or len(seeds) == 0 or not np.issubdtype(seeds.dtype, np.integer):
        raise ValueError(f"seeds must be a 1-D list of ints, got {seeds.tolist()}")
    key = ("seeded", param, tuple(values), tuple(seeds.tolist()), num_steps, batch_size, lr,
           tuple(sorted(mlp_kw.items())), _fingerprint(X, y, X_test, y_test))
    if key in _CACHE:
        return _CACHE[key]
    grid = [(int(s), v) for s in seeds for v in values]
    points = [_sweep_point(param, v, X, y, X_test, y_test, num_steps, batch_size, lr,
                           dict(mlp_kw, seed=s))
              for s, v in progress_bar(grid, progress)]
    res = {"param": param, "values": values, "seeds": seeds,
           **_collect(points, (len(seeds), len(values)))}
    _CACHE[key] = res
    return res


def good_band(res, label, threshold=0.8):
    """The widest run of neighbouring swept values where `label` trains well: mean final test
    accuracy over the seeds >= threshold, and no seed diverged (the course's rule).

    res: a sensitivity_sweep (acc (K,)) or seeded_sweep (acc (S, K)) result.
    Returns (lowest value, highest value), or None if no value qualifies.
    """
    acc = np.atleast_2d(res["acc"][label])
    ok = (acc.mean(axis=0) >= threshold) & ~np.atleast_2d(res["diverged"][label]).any(axis=0)
    best, start = None, None
    for i, good in enumerate(np.r_[ok, False]):
        if good and start is None:
            start = i
        elif not good and start is not None:
            if best is None or i - start > best[1] - best[0] + 1:
                best = (start, i - 1)
            start = None
    if best is None:
        return None
    return float(res["values"][best[0]]), float(res["values"][best[1]])


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


def two_feature_problem(ratio, n=200, seed=0):
    """A noise-free linear target on two orthogonal features, the first `ratio` times larger.

    Returns X (n, 2) with X.T @ X / n = diag(ratio**2, 1), y = X @ w_star (n,), w_star (2,)."""
    Z, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(n, 2)))
    X = np.sqrt(n) * Z * [ratio, 1.0]
    w_star = np.array([0.5, -2.0])
    return X, X @ w_star, w_star


def steps_to_learn(X, y, w_star, lr, tol=0.01, max_steps=100_000):
    """Full-batch gradient-descent steps from w = 0 until every weight is within `tol` of
    w_star (relative error, as in gd_relative_errors); max_steps + 1 if never. X (N, D)."""
    w = np.zeros(X.shape[1])
    for step in range(max_steps + 1):
        if np.all(np.abs(w - w_star) < tol * np.abs(w_star)):
            return step
        w = w - lr * X.T @ (X @ w - y) / len(X)
    return max_steps + 1


def scale_ratio_study(ratios, tol=0.01, n=200, seed=0):
    """Steps until both weights are learned (steps_to_learn) against the ratio of the two
    features' scales, for raw features at lr = 1/lambda_max and at the best fixed learning
    rate 2/(lambda_max + lambda_min), and for the standardised features at 1/lambda_max
    (lambda: eigenvalues of the curvature X.T @ X / n). ratios: K numbers >= 1.
    Returns {"ratios": (K,), name: (K,) steps} for the three names in RATIO_STUDY_NAMES."""
    out = {"ratios": np.asarray(ratios, dtype=float)}
    rows = []
    for r in out["ratios"]:
        X, y, w_star = two_feature_problem(r, n, seed)
        X_one = X / X.std(axis=0)
        w_one = w_star * X.std(axis=0)
        lam = np.linalg.eigvalsh(X.T @ X / n)
        lam_one = np.linalg.eigvalsh(X_one.T @ X_one / n)
        rows.append((steps_to_learn(X, y, w_star, 1 / lam.max(), tol),
                     steps_to_learn(X, y, w_star, 2 / (lam.max() + lam.min()), tol),
                     steps_to_learn(X_one, y, w_one, 1 / lam_one.max(), tol)))
    for name, col in zip(RATIO_STUDY_NAMES, np.array(rows).T):
        out[name] = col
    return out



def undo_error(features, batch_sizes, num_batches=100, seed=0, eps=1e-5):
    """How far batch norm with *fixed* gamma = sqrt(population var + eps), beta = population
    mean is from giving back its input, batch by batch (mu_B, sigma_B vary from batch to batch).

    features: (N, D). For each m in batch_sizes, num_batches batches drawn without repeats.
    Returns (K,): the root-mean-square of BN(z_B) - z_B over the batches' values and features,
    divided by each feature's population std (0 would be the exact identity).
    """
    features = np.asarray(features, dtype=float)
    mu, var = features.mean(axis=0), features.var(axis=0)
    gamma, beta = np.sqrt(var + eps), mu
    rng = np.random.default_rng(seed)
    out = []
    for m in batch_sizes:
        sq = []
        for _ in range(num_batches):
            z = features[rng.choice(len(features), size=m, replace=False)]
            y, _ = batchnorm_forward(z, gamma, beta, eps=eps)
            sq.append(((y - z) ** 2 / var).mean())
        out.append(np.sqrt(np.mean(sq)))
    return np.array(out)
