"""Lane and bank arithmetic (hw/core/lanes.py) against the weight layout's own placement
(hw/layout.py ``WeightLayout.place``) and plain modular arithmetic, for 1, 2, 4 and 8
lanes."""

from __future__ import annotations

import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from epfpga.hw.core.lanes import Lanes
from epfpga.hw.layout import WeightLayout


@pytest.mark.parametrize("P", [1, 2, 4, 8])
def test_group_addresses_and_rotation(P: int) -> None:
    lay = WeightLayout(n_out=2 * P + 1, n_in=3 * P + 2, lanes=P)
    lm = Lanes(P)
    m = Module()
    base, col = Signal(range(lay.depth + 1)), Signal(range(lay.n_in))
    addr = [Signal(range(lay.depth + P * lay.words)) for _ in range(P)]
    vals = [Signal(8) for _ in range(P)]
    fwd, back = [Signal(8) for _ in range(P)], [Signal(8) for _ in range(P)]
    m.d.comb += [a.eq(lm.group_addr(lay.words, b, base, col)) for b, a in enumerate(addr)]
    m.d.comb += [o.eq(v) for o, v in zip(fwd, lm.rotate(vals, lm.lo(col)), strict=True)]
    m.d.comb += [o.eq(v) for o, v in zip(back, lm.rotate(vals, lm.lo(col), back=True),
                                         strict=True)]
    bad = []

    async def tb(ctx):
        for k, v in enumerate(vals):
            ctx.set(v, 10 + k)
        for g in range(lay.groups):
            for c in range(lay.n_in):
                ctx.set(base, g * P * lay.words)
                ctx.set(col, c)
                for b in range(P):
                    row = g * P + (b - c) % P  # the row bank b serves at column c
                    if row < lay.n_out and lay.place(row, c) != (b, ctx.get(addr[b])):
                        bad.append((g, c, b))
                if [ctx.get(o) for o in fwd] != [10 + (k + c) % P for k in range(P)] or \
                        [ctx.get(o) for o in back] != [10 + (k - c) % P for k in range(P)]:
                    bad.append(("rotate", c))

    sim = Simulator(m)
    sim.add_testbench(tb)
    sim.run()
    assert bad == []
