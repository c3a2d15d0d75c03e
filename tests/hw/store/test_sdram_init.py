"""The SDRAM init sequencer (hw/store/litedram.py ``SDRAMInit``) alone: it writes each
(address, value) of its program on the control bus, holding the write until the bus
acknowledges it (a slow acknowledge here), waits the program's cycles after each, and
only then raises ``done``."""

from __future__ import annotations

import numpy as np

from epfpga.hw.store.litedram import SDRAMInit
from tests.hw.simulate import run_clocked


def test_init_program_is_written_in_order_with_its_waits() -> None:
    rng = np.random.default_rng(1)
    program = tuple((int(rng.integers(0, 1 << 12)) * 4, int(rng.integers(0, 1 << 32)),
                     int(rng.integers(0, 40))) for _ in range(7))
    dut = SDRAMInit(program)
    seen = []  # (cycle, byte address, value) of each acknowledged write
    done_at = []

    async def tb(ctx):
        cycle = 0
        while cycle < 2000 and not done_at:
            if ctx.get(dut.bus.cyc) and ctx.get(dut.bus.stb):
                assert ctx.get(dut.bus.we)
                for _ in range(int(rng.integers(0, 4))):  # the bus takes its time
                    await ctx.tick()
                    cycle += 1
                    assert ctx.get(dut.bus.cyc) and ctx.get(dut.bus.stb)  # held
                seen.append((cycle, ctx.get(dut.bus.adr) << 2, ctx.get(dut.bus.dat_w)))
                ctx.set(dut.bus.ack, 1)
                await ctx.tick()
                ctx.set(dut.bus.ack, 0)
            else:
                if ctx.get(dut.done):
                    done_at.append(cycle)
                await ctx.tick()
            cycle += 1

    run_clocked(dut, tb)
    assert [(a, v) for _, a, v in seen] == [(a, v) for a, v, _ in program]
    for (t0, _, _), (t1, _, _), (_, _, wait) in zip(seen, seen[1:], program, strict=False):
        assert t1 - t0 >= wait + 1  # the program's wait after each write
    assert done_at and done_at[0] >= seen[-1][0] + program[-1][2]
