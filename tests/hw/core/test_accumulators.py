"""The accumulators alone: random runs of rows (a first entry from the row constant,
then products added, idle cycles between) against Python integers, wrapping at the
accumulator's width as the datapath's two's complement does."""

from __future__ import annotations

import numpy as np
from amaranth.hdl import signed

from epfpga.hw.core.accumulators import Accumulators
from tests.hw.simulate import run_clocked


def test_accumulators_sum_rows_from_their_constant() -> None:
    rng = np.random.default_rng(11)
    lanes, width = 3, 12
    dut = Accumulators(lanes, signed(width))
    lim = 1 << (width - 2)
    model = [0] * lanes
    got, want = [], []

    def wrap(v: int) -> int:
        v &= (1 << width) - 1
        return v - (1 << width) if v >> (width - 1) else v

    async def tb(ctx):
        for _ in range(400):
            valid, first = bool(rng.random() < 0.8), bool(rng.random() < 0.2)
            const, fwd, bwd = ([int(x) for x in rng.integers(-lim, lim, lanes)]
                               for _ in range(3))
            ctx.set(dut.valid, valid)
            ctx.set(dut.first, first)
            ctx.set(dut.const, const)
            ctx.set(dut.fwd, fwd)
            ctx.set(dut.bwd, bwd)
            await ctx.tick()
            if valid:
                for k in range(lanes):
                    model[k] = wrap((const[k] if first else model[k]) + fwd[k] + bwd[k])
            got.append([ctx.get(dut.acc[k]) for k in range(lanes)])
            want.append(list(model))

    run_clocked(dut, tb)
    assert got == want
