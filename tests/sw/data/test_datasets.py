from __future__ import annotations

import gzip
import pickle
import struct

import numpy as np
import pytest

from epfpga.data.datasets import (
    DatasetError,
    load_dataset,
    load_idx_dir,
    mnist_from_pickle_gz,
    read_idx,
    safe_unpickle,
    sha256,
)


def _write_idx(path, arr: np.ndarray) -> None:
    header = bytes([0, 0, 8, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def make_idx_dir(d, n_train=50, n_test=20, seed=0):
    rng = np.random.default_rng(seed)
    d.mkdir(parents=True, exist_ok=True)
    xtr = rng.integers(0, 256, (n_train, 28, 28))
    ytr = rng.integers(0, 10, n_train)
    xte = rng.integers(0, 256, (n_test, 28, 28))
    yte = rng.integers(0, 10, n_test)
    _write_idx(d / "train-images-idx3-ubyte.gz", xtr)
    _write_idx(d / "train-labels-idx1-ubyte", ytr)
    _write_idx(d / "t10k-images-idx3-ubyte", xte)
    _write_idx(d / "t10k-labels-idx1-ubyte.gz", yte)
    return xtr, ytr, xte, yte


def test_idx_roundtrip(tmp_path) -> None:
    xtr, ytr, xte, yte = make_idx_dir(tmp_path / "d")
    ds = load_dataset(f"idx:{tmp_path / 'd'}")
    assert ds.x_train.shape == (50, 784) and ds.x_train.dtype == np.uint8
    assert (ds.x_train == xtr.reshape(50, -1)).all() and (ds.y_test == yte).all()


def test_idx_errors(tmp_path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        load_idx_dir(tmp_path / "missing")
    (tmp_path / "e").mkdir()
    with pytest.raises(DatasetError, match="no train-images"):
        load_idx_dir(tmp_path / "e")
    bad = tmp_path / "bad-idx"
    bad.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")
    with pytest.raises(DatasetError, match="header says"):
        read_idx(bad)
    with pytest.raises(DatasetError, match="unknown dataset"):
        load_dataset("cifar")


def test_pickle_with_foreign_global_is_refused() -> None:
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    blob = pickle.dumps([np.zeros(3), Evil()], protocol=4)
    with pytest.raises(DatasetError, match="refusing pickle global builtins.print"):
        safe_unpickle(blob)
    arr = safe_unpickle(pickle.dumps(np.arange(5, dtype=np.float32), protocol=4))
    assert (arr == np.arange(5)).all()


def test_mnist_hash_mismatch_is_refused() -> None:
    blob = gzip.compress(pickle.dumps(((np.zeros((1, 784)), np.zeros(1)),) * 3, protocol=4))
    with pytest.raises(DatasetError, match="hash mismatch"):
        mnist_from_pickle_gz(blob)
    ds = mnist_from_pickle_gz(blob, expected_sha256=sha256(blob))  # same parser, right hash
    assert ds.x_train.shape == (2, 784)


def test_real_mnist_is_sane(mnist) -> None:
    assert mnist.x_train.shape == (60000, 784) and mnist.x_test.shape == (10000, 784)
    assert mnist.x_train.max() == 255
    assert np.bincount(mnist.y_test, minlength=10).min() > 800
    assert 0.15 < (mnist.x_train > 0).mean() < 0.25  # ~80% zero pixels


def test_damaged_idx_files_are_one_line_errors(tmp_path) -> None:
    """Every kind of damage to an IDX directory is a DatasetError naming the file."""
    def damage(name: str, fn) -> None:
        d = tmp_path / name
        make_idx_dir(d, n_train=20, n_test=10)
        fn(d)
        with pytest.raises(DatasetError) as e:
            load_dataset(f"idx:{d}")
        assert "\n" not in str(e.value) and str(d) in str(e.value)

    img, lab = "t10k-images-idx3-ubyte", "train-labels-idx1-ubyte"
    damage("cut", lambda d: (d / img).write_bytes((d / img).read_bytes()[:500]))
    damage("magic", lambda d: (d / img).write_bytes(bytes(4) + (d / img).read_bytes()[4:]))
    damage("count", lambda d: (d / lab).write_bytes((d / lab).read_bytes()[:-5]))
    damage("gzip", lambda d: (d / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b junk"))
    damage("head", lambda d: (d / img).write_bytes(b"\x00\x00\x08\x03\x00"))
    damage("empty", lambda d: (d / img).write_bytes(b""))
    damage("missing", lambda d: (d / "t10k-labels-idx1-ubyte.gz").unlink())
