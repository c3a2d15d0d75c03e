"""The core in Verilator through cocotb, bit for bit against the golden model."""

from __future__ import annotations

import numpy as np
import pytest

from epfpga.config import PRESETS
from epfpga.sim.core_job import make_job, mnist_samples, random_samples
from epfpga.sim.runner import run_test
from tests.test_golden import random_params
from tests.test_hw_core import random_hw_config

pytestmark = pytest.mark.sim


@pytest.mark.parametrize("seed", [11, 12])
def test_random_config_bit_exact(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cfg = random_hw_config(rng).replace(name=f"rand{seed}")
    W, b = random_params(cfg, rng)
    X, Y = random_samples(cfg, 12, seed)
    r = run_test(cfg, "epfpga.sim.tb_core",
                 make_job(cfg, X, Y, W=W, b=b, weights_every_sample=True, seed=seed))
    assert r["mismatches"] == []
    # states (2 per layer), prediction, W, b, lfsr per layer, per sample; plus inferences
    assert r["checked"] == 12 * (1 + 5 * cfg.n_layers) + 2


def test_up5k_real_mnist_bit_exact() -> None:
    cfg = PRESETS["up5k"]
    X, Y = mnist_samples(cfg, 8)
    r = run_test(cfg, "epfpga.sim.tb_core", make_job(cfg, X, Y))
    assert r["mismatches"] == []
    assert r["checked"] >= 8 * 5


def test_flipped_weight_bit_is_detected() -> None:
    cfg = PRESETS["tiny"]
    X, Y = random_samples(cfg, 3)
    r = run_test(cfg, "epfpga.sim.tb_core", make_job(cfg, X, Y, flip=[0, 5]))
    assert any("W0" in m for m in r["mismatches"])
