"""The core's fixed-point steps (hw/core/arith.py) alone, on random configs and values
(negative, past one, at the rounding ties), against the golden model's own functions
(``epfpga.model.numerics``), which tests/sw/model/test_numerics.py checks against
hand-worked values."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.sim import Simulator

from epfpga.hw.core.arith import activation, round_update, saturate
from epfpga.hw.layout import acc_width
from epfpga.model import numerics as nx
from tests.hw.configs import small_config


@pytest.mark.parametrize("seed", range(6))
def test_arith_matches_the_numerics_contract(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cfg = small_config(rng, rounding=str(rng.choice(["stochastic", "nearest"])))
    aw = acc_width(cfg)
    m = Module()
    acc, w, prod = Signal(signed(aw)), Signal(signed(cfg.weight_bits + 3)), Signal(signed(48))
    r, stochastic = Signal(unsigned(cfg.sr_bits)), Signal()
    rho, sat, upd = Signal(signed(aw + 2)), Signal(signed(cfg.weight_bits + 3)), Signal(signed(48))
    m.d.comb += [rho.eq(activation(m, acc, cfg, aw)), sat.eq(saturate(w, cfg)),
                 upd.eq(round_update(prod, r, cfg, stochastic))]
    one, wf = cfg.act_one, cfg.weight_frac
    # accumulators around 0 and around one, exact ties among them
    accs = np.concatenate([rng.integers(-(2 << wf), (one + 2) << wf, 200),
                           (rng.integers(-3, one + 3, 40) << wf) + (1 << (wf - 1))])
    ws = rng.integers(-(1 << (cfg.weight_bits + 1)), 1 << (cfg.weight_bits + 1), 200)
    prods = rng.integers(-(1 << 40), 1 << 40, 200)
    rs = rng.integers(0, 1 << cfg.sr_bits, 200)
    got: dict[str, list[int]] = {"rho": [], "sat": [], "upd": [], "near": []}

    async def tb(ctx):
        for a in accs:
            ctx.set(acc, int(a))
            got["rho"].append(ctx.get(rho))
        for v in ws:
            ctx.set(w, int(v))
            got["sat"].append(ctx.get(sat))
        for pr, rr in zip(prods, rs, strict=True):
            ctx.set(prod, int(pr))
            ctx.set(r, int(rr))
            ctx.set(stochastic, 1)
            got["upd"].append(ctx.get(upd))
            ctx.set(stochastic, 0)
            got["near"].append(ctx.get(upd))

    sim = Simulator(m)
    sim.add_testbench(tb)
    sim.run()
    assert got["rho"] == nx.activation(accs, cfg).tolist()
    assert got["sat"] == nx.saturate(ws, cfg).tolist()
    assert got["upd"] == nx.round_update(prods, cfg, rs).tolist()
    assert got["near"] == nx.round_update(prods, cfg, None).tolist()
