"""One update lane (hw/core/update_lane.py) alone, a new entry every cycle as in the
core's pipeline: the new weight two stages after its products, against the golden
model's saturate(w + round_update(hi - lo, r)) in both rounding modes, and with the
predrive the drive correction a stage later, against (w' - w) x or (w' - w) << act_frac."""

from __future__ import annotations

import numpy as np
import pytest

from epfpga.hw.core.update_lane import UpdateLane
from epfpga.model import numerics as nx
from tests.hw.configs import small_config
from tests.hw.simulate import run_clocked


@pytest.mark.parametrize("seed", range(4))
def test_update_lane_matches_the_numerics_contract(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cfg = small_config(rng)
    pw = cfg.weight_bits + 2 * cfg.act_bits + 12
    dut = UpdateLane(cfg, pw, predrive=True)
    n = 300
    big = 1 << (cfg.update_shift + cfg.weight_bits - 1)  # products near the weight range
    hi, lo = rng.integers(-big, big, n), rng.integers(-big, big, n)
    w = rng.integers(cfg.weight_min, cfg.weight_max + 1, n)
    r = rng.integers(0, 1 << cfg.sr_bits, n)
    stoch = rng.random(n) < 0.5
    last = rng.random(n) < 0.2
    x = rng.integers(0, cfg.act_one + 1, n)
    new_w, corr = [], []

    async def tb(ctx):
        for c in range(n + 3):  # entry c: stage 3 now, stage 4 at c+1, 5 at c+2, 6 at c+3
            if c < n:
                ctx.set(dut.hi, int(hi[c]))
                ctx.set(dut.lo, int(lo[c]))
                ctx.set(dut.w, int(w[c]))
            if 0 <= c - 1 < n:
                ctx.set(dut.r, int(r[c - 1]))
                ctx.set(dut.stochastic, bool(stoch[c - 1]))
            if 0 <= c - 2 < n:
                ctx.set(dut.last, bool(last[c - 2]))
                ctx.set(dut.x, int(x[c - 2]))
            await ctx.tick()
            if 0 <= c - 1 < n:
                new_w.append(ctx.get(dut.new_w))
            if 0 <= c - 2 < n:
                corr.append(ctx.get(dut.corr_term))

    run_clocked(dut, tb)
    d = hi - lo
    dw = np.where(stoch, nx.round_update(d, cfg, r), nx.round_update(d, cfg, None))
    want = nx.saturate(w + dw, cfg)
    assert new_w == want.tolist()
    delta = want - w
    assert corr == np.where(last, delta << cfg.act_frac, delta * x).tolist()
