"""Seeded weight initialisation shared by the float reference and the golden model, so
both start from the same network (the golden one quantized)."""

from __future__ import annotations

import numpy as np

from epfpga.model.config import EPConfig


def init_float_params(cfg: EPConfig) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """U(-g/sqrt(fan_in), g/sqrt(fan_in)) for weights and biases (the nn.Linear default
    that the reference EP code uses), from ``cfg.seed``."""
    rng = np.random.default_rng(cfg.seed)
    W, b = [], []
    for n_in, n_out in zip(cfg.layers[:-1], cfg.layers[1:], strict=True):
        bound = cfg.init_gain / np.sqrt(n_in)
        W.append(rng.uniform(-bound, bound, size=(n_out, n_in)))
        b.append(rng.uniform(-bound, bound, size=n_out))
    return W, b


def init_float_feedback(cfg: EPConfig) -> list[np.ndarray]:
    """Top-down weights B_i (same shape as W_i, i = 1..L-1) for ``feedback='separate'``,
    drawn independently of W so the system starts fully non-conservative."""
    rng = np.random.default_rng(cfg.seed + 7919)
    return [rng.uniform(-cfg.init_gain / np.sqrt(n_out), cfg.init_gain / np.sqrt(n_out),
                        size=(n_out, n_in))
            for n_in, n_out in zip(cfg.layers[1:-1], cfg.layers[2:], strict=True)]
