"""The board reset in the Amaranth simulator: the SoC's domain is held in reset until
the PLL has been locked for the hold time, again while the button is pressed (and the
hold time after), and at once when LOCK drops."""

from __future__ import annotations

from amaranth.hdl import ClockDomain, Module, ResetSignal, Signal
from amaranth.sim import Simulator

from epfpga.boards.reset import PowerOnReset, hold_cycles

HOLD = 6
PERIOD = 1e-6  # stepped by time: ticks of a domain in reset raise in the testbench


def test_hold_time_in_cycles() -> None:
    assert hold_cycles(24e6) == 2400 and hold_cycles(40e6) == 4000


def test_reset_waits_for_lock_and_follows_the_button() -> None:
    locked, button, rst = Signal(), Signal(), Signal()
    m = Module()
    m.domains.sync = ClockDomain("sync")
    m.submodules.por = PowerOnReset(HOLD, locked, button)
    m.d.comb += rst.eq(ResetSignal("sync"))
    sim = Simulator(m)
    sim.add_clock(PERIOD, domain="sync")
    held: dict[str, int] = {}

    async def cycles_in_reset(ctx, limit: int = 50) -> int:
        n = 0
        while ctx.get(rst) and n < limit:
            await ctx.delay(PERIOD)
            n += 1
        return n

    async def bench(ctx) -> None:
        await ctx.delay(20 * PERIOD)
        held["unlocked"] = ctx.get(rst)  # no LOCK yet: held however long it takes
        ctx.set(locked, 1)
        held["after_lock"] = await cycles_in_reset(ctx)
        await ctx.delay(5 * PERIOD)
        held["running"] = ctx.get(rst)
        ctx.set(button, 1)
        await ctx.delay(10 * PERIOD)
        held["pressed"] = ctx.get(rst)
        ctx.set(button, 0)
        held["after_button"] = await cycles_in_reset(ctx)
        ctx.set(locked, 0)
        await ctx.delay(3 * PERIOD)
        held["lock_lost"] = ctx.get(rst)

    sim.add_testbench(bench)
    sim.run()
    assert held["unlocked"] == 1 and held["running"] == 0 and held["pressed"] == 1
    assert held["lock_lost"] == 1
    # the hold time, plus the two-stage synchronisers of LOCK and of the button
    assert HOLD <= held["after_lock"] <= HOLD + 3
    assert HOLD <= held["after_button"] <= HOLD + 3
