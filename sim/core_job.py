"""Builds the JSON job the core testbench (sim/tb_core.py) runs, from a config, initial
weights and samples; shared by `epfpga sim`, the benchmark and the tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from epfpga.model.config import EPConfig
from epfpga.model.golden import GoldenModel
from epfpga.model.numerics import quantize_pixels


def mnist_samples(cfg: EPConfig, n: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    from epfpga.data.datasets import load_dataset
    from epfpga.errors import EpfpgaError

    if cfg.layers[0] != 784:
        raise EpfpgaError(f"config {cfg.name} has {cfg.layers[0]} inputs; MNIST needs 784")
    ds = load_dataset("mnist")
    sl = slice(offset, offset + n)
    return quantize_pixels(ds.x_train[sl], cfg), ds.y_train[sl].astype(np.int64)


def random_samples(cfg: EPConfig, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.integers(0, cfg.act_one + 1, (n, cfg.layers[0]))
    X = X * (rng.random(X.shape) < 0.5)  # sparse, like MNIST
    return X, rng.integers(0, cfg.layers[-1], n)


def make_job(cfg: EPConfig, X: np.ndarray, Y: np.ndarray, *, W: list | None = None,
             b: list | None = None, n_infer: int = 2, **extra: Any) -> dict[str, Any]:
    if W is None or b is None:
        g = GoldenModel(cfg)
        W, b = g.W, g.b
    return dict(W=[np.asarray(w).tolist() for w in W], b=[np.asarray(v).tolist() for v in b],
                x=np.asarray(X).tolist(), y=[int(v) for v in Y],
                x_infer=np.asarray(X[:n_infer]).tolist(), **extra)
