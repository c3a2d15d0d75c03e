"""Shared by the per-unit tests: small random configs."""

from __future__ import annotations

import numpy as np

from epfpga.model.config import EPConfig


def small_config(rng: np.random.Generator, **over: object) -> EPConfig:
    """A random layered net small enough for the Amaranth simulator: 1-3 weight layers,
    1, 2 or 4 lanes, random widths and stochastic-rounding bits."""
    layers = [int(rng.integers(3, 12))]
    layers += [int(rng.integers(2, 9)) for _ in range(int(rng.integers(0, 3)))]
    layers.append(int(rng.integers(2, 6)))
    wb = int(rng.integers(8, 17))
    kw: dict[str, object] = dict(
        layers=tuple(layers), act_frac=int(rng.integers(4, 9)), weight_bits=wb,
        weight_frac=int(rng.integers(wb // 2, wb - 1)), beta_frac=3,
        lrs=tuple(float(rng.uniform(0.05, 0.8)) for _ in range(len(layers) - 1)),
        rounding="stochastic", sr_bits=int(rng.integers(4, 17)),
        seed=int(rng.integers(0, 99)), lanes=int(rng.choice([1, 2, 4])))
    kw.update(over)
    return EPConfig(**kw)  # type: ignore[arg-type]
