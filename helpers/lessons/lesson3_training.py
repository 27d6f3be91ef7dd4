"""Lesson 3's plumbing: the pair of networks behind the slider panel, and the experiments of
its going-deeper notebooks.

`train_pair` trains the base network (`helpers.BASE`) without and with batch norm on the same
batches, recording each hidden layer's sigmoid input (one panel position). For the going-deeper
notebooks: `undo_error` (how far fixed gamma, beta are from undoing batch norm on a batch),
`batch_mean_spread` (how much a batch mean varies from batch to batch), and, for input
standardisation in a linear model, `two_feature_problem`, `gd_relative_errors`,
`steps_to_learn` and `scale_ratio_study`. Their figures are in lesson3_figures.
"""
import numpy as np

from ..batchnorm import batchnorm_forward
from ..display.figures import no_run_message
from ..network import BASE, make_base
from ..training import train

LABELS = ("plain", "batch norm")
RATIO_STUDY_NAMES = ("raw, lr 1/lambda_max", "raw, best fixed lr", "standardised")


def train_pair(X, y, *, batch_size, momentum, num_steps, lr=None, seed=0, **train_kw):
    """Train the base network plain and with batch norm (same initial weights, same batches).

    X (N, D), y (N,). lr: default BASE.lr * (1 - momentum), so that every momentum takes
    steps of the base's size in the long run (heavy-ball momentum multiplies a steady
    gradient's step by 1 / (1 - momentum)). train_kw go to `train` (X_test, y_test,
    eval_every, record_every, probe). Returns {label: History}; batch norm with batch_size 1
    gives the engine's message instead (`no_run_message`): it cannot train on one example.
    """
    lr = BASE.lr * (1 - momentum) if lr is None else lr
    out = {}
    for label in LABELS:
        model = make_base(batchnorm=label == "batch norm", seed=seed)
        if label == "batch norm" and batch_size == 1:
            out[label] = no_run_message(model, batch_size)
            continue
        out[label] = train(model, X, y, batch_size=batch_size, lr=lr, num_steps=num_steps,
                           momentum=momentum, seed=seed, **train_kw)
    return out


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
