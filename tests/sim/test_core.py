"""The core in Verilator through cocotb, bit for bit against the golden model."""

from __future__ import annotations

import numpy as np
import pytest

from epfpga.model.config import PRESETS
from epfpga.sim.core_job import make_job, mnist_samples, random_samples
from epfpga.sim.runner import run_test
from tests.hw.core.test_core import random_hw_config
from tests.sw.model.test_golden import random_params

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


@pytest.mark.parametrize("lanes", [4])
def test_fast_plan_bit_exact_on_verilator(lanes: int) -> None:
    """The ECP5's plan (registered products, odd and even layers relaxing side by side,
    the next sample's pixels loading meanwhile) through Verilator."""
    from epfpga.model.config import EPConfig

    cfg = EPConfig(layers=(20, 9, 6, 4), T1=6, T2=3, beta=0.5, beta_frac=3,
                   lrs=(0.3, 0.2, 0.1), part="none", lanes=lanes, name=f"fast{lanes}")
    rng = np.random.default_rng(lanes)
    W, b = random_params(cfg, rng)
    X, Y = random_samples(cfg, 8, lanes)
    r = run_test(cfg, "epfpga.sim.tb_core",
                 make_job(cfg, X, Y, W=W, b=b, weights_every_sample=True, seed=lanes),
                 shared_mul=False)
    assert r["mismatches"] == []
    assert r["checked"] == 8 * (1 + 5 * cfg.n_layers) + 2


def test_fast_plan_streamed_samples_bit_exact_on_verilator() -> None:
    """Training samples streamed back to back through Verilator: every prediction and
    the final weights, biases and LFSRs match golden, and a streamed sample takes fewer
    busy cycles than the same samples sent one at a time (its pixels and its drive were
    taken while the sample before it ran)."""
    from epfpga.model.config import EPConfig
    from epfpga.sim.bench import streamed_cycles

    cfg = EPConfig(layers=(40, 9, 4), T1=16, T2=4, beta=0.5, beta_frac=3, lrs=(0.3, 0.2),
                   part="none", lanes=2, nudge="random_sign", name="stream2")
    rng = np.random.default_rng(7)
    W, b = random_params(cfg, rng)
    X, Y = random_samples(cfg, 8, 7)
    runs = {mode: run_test(cfg, "epfpga.sim.tb_core",
                           make_job(cfg, X, Y, W=W, b=b, seed=7, stream=mode),
                           shared_mul=False) for mode in (True, False)}
    for r in runs.values():
        assert r["mismatches"] == []
    assert runs[True]["checked"] == 8 + 3 * cfg.n_layers + 2
    lone = float(np.mean(runs[False]["cycles_train"][1:]))
    groups = -(-cfg.layers[1] // cfg.lanes)  # the drive visits its columns per row group
    drive_columns = groups * np.count_nonzero(X[1:], axis=1).mean()
    assert streamed_cycles(runs[True]) <= lone - drive_columns


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


@pytest.mark.parametrize("variant", ["symmetric", "cep"])
def test_seed_variants_bit_exact_on_verilator(variant: str) -> None:
    from epfpga.model.config import EPConfig

    extra = {"nudge": "symmetric"} if variant == "symmetric" else {"algorithm": "cep"}
    cfg = EPConfig(layers=(12, 6, 4), T1=6, T2=4, beta=0.5, beta_frac=3, lrs=(0.3, 0.2),
                   part="none", name=f"var-{variant}", **extra)
    rng = np.random.default_rng(5)
    W, b = random_params(cfg, rng)
    X, Y = random_samples(cfg, 8, 5)
    r = run_test(cfg, "epfpga.sim.tb_core",
                 make_job(cfg, X, Y, W=W, b=b, weights_every_sample=True, seed=5))
    assert r["mismatches"] == []
    states = 3 if variant == "symmetric" else 2  # free, (+beta,) nudged per layer
    assert r["checked"] == 8 * (1 + (states + 3) * cfg.n_layers) + 2
