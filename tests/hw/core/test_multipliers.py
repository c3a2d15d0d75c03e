"""The multiplier pool alone: every multiplier's product at full width, signed
operands at their extremes included, against Python integers; an undriven multiplier
reads 0."""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from epfpga.hw.core.multipliers import MultiplierPool


def test_pool_products_are_exact_and_full_width() -> None:
    rng = np.random.default_rng(3)
    wa, wb, count = 17, 11, 4
    dut = MultiplierPool(count, wa, wb)
    lo_a, hi_a, lo_b, hi_b = -(1 << wa - 1), (1 << wa - 1) - 1, -(1 << wb - 1), (1 << wb - 1) - 1
    cases = [[(lo_a, lo_b), (hi_a, lo_b), (lo_a, hi_b), (hi_a, hi_b)]]
    cases += [[(int(rng.integers(lo_a, hi_a + 1)), int(rng.integers(lo_b, hi_b + 1)))
               for _ in range(count)] for _ in range(50)]
    got = []

    async def tb(ctx):
        assert [ctx.get(dut.ops.p[q]) for q in range(count)] == [0] * count
        for case in cases:
            for q, (a, b) in enumerate(case):
                ctx.set(dut.ops.a[q], a)
                ctx.set(dut.ops.b[q], b)
            await ctx.delay(1e-9)
            got.append([ctx.get(dut.ops.p[q]) for q in range(count)])

    sim = Simulator(dut)
    sim.add_testbench(tb)
    sim.run()
    assert got == [[a * b for a, b in case] for case in cases]
    assert got[0][0] == 1 << (wa + wb - 2)  # (-2^16) * (-2^10): needs every bit
