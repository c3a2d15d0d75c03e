"""The update unit (hw/core/update_unit.py) alone, on a multiplier pool as in the core:
row groups back to back, each a first entry (k, the rows' two end states, their random
values) then its columns and the bias (u = 1.0), one entry per cycle; every new weight
against explicit integer arithmetic: saturate(w + round(k (v_hi u_hi - v_lo u_lo),
r = a_row XOR c_col)), in both rounding modes (docs/numerics.md)."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring

from epfpga.hw.core.multipliers import MultiplierPool
from epfpga.hw.core.shapes import multiplier_shape, update_q_width
from epfpga.hw.core.update_unit import UpdateUnit
from epfpga.model import numerics as nx
from tests.hw.configs import small_config
from tests.hw.simulate import run_clocked


@pytest.mark.parametrize("seed", range(3))
def test_update_unit_matches_explicit_integer_updates(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cfg = small_config(rng, lanes=[1, 2, 4][seed])
    P, ab, one = cfg.lanes, cfg.act_bits, cfg.act_one
    unit = UpdateUnit(cfg, predrive=False)
    pool = MultiplierPool(2 * P, *multiplier_shape(cfg))
    top = Module()
    top.submodules.unit, top.submodules.pool = unit, pool
    wiring.connect(top, unit.mul, pool.ops)
    qmax = (1 << update_q_width(cfg)) - 1

    entries = []  # per cycle: ("first", ...) or ("col", ...) or None (a gap)
    want = []  # per column entry: the new weights of its P rows
    for _ in range(3):
        k = int(rng.integers(1, qmax + 1)) * int(rng.choice([-1, 1]))
        v_hi, v_lo = (rng.integers(0, one + 1, P) for _ in range(2))
        a = rng.integers(0, 1 << cfg.sr_bits, P)
        stoch = bool(rng.random() < 0.7)
        entries.append(("first", k, v_hi, v_lo, a))
        if rng.random() < 0.5:
            entries.append(None)
        for j in range(int(rng.integers(1, 6))):
            bias = j == 0 and rng.random() < 0.3
            u_hi, u_lo = (one, one) if bias else (int(x) for x in rng.integers(0, one + 1, 2))
            w = rng.integers(cfg.weight_min, cfg.weight_max + 1, P)
            c = int(rng.integers(0, 1 << cfg.sr_bits))
            entries.append(("col", u_hi, u_lo, w, c, stoch))
            d = k * (v_hi * u_hi - v_lo * u_lo)
            want.append(nx.saturate(w + nx.round_update(d, cfg, (a ^ c) if stoch else None),
                                    cfg).tolist())

    def pack(vals, bits):
        return sum(int(v) << (bits * i) for i, v in enumerate(vals))

    got = []

    async def tb(ctx):
        for c in range(len(entries) + 2):
            e = entries[c] if c < len(entries) else None
            ctx.set(unit.valid, e is not None)
            ctx.set(unit.first, e is not None and e[0] == "first")
            if e is not None and e[0] == "first":
                _, k, v_hi, v_lo, a = e
                ctx.set(unit.k, k)
                ctx.set(unit.v_hi, pack(v_hi, ab))
                ctx.set(unit.v_lo, pack(v_lo, ab))
                ctx.set(unit.a, pack(a, cfg.sr_bits))
            elif e is not None:
                _, u_hi, u_lo, w, _, _ = e
                ctx.set(unit.u_hi, u_hi)
                ctx.set(unit.u_lo, u_lo)
                ctx.set(unit.w, [int(x) for x in w])
            prev = entries[c - 1] if 0 <= c - 1 < len(entries) else None
            if prev is not None and prev[0] == "col":  # stage 4 of the entry before
                ctx.set(unit.r_col, prev[4])
                ctx.set(unit.stochastic, prev[5])
            await ctx.tick()
            if prev is not None and prev[0] == "col":  # ... whose weights are out now
                got.append([ctx.get(unit.new_w[i]) for i in range(P)])

    run_clocked(top, tb)
    assert got == want
