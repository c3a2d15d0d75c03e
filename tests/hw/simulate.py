"""Running a unit in the Amaranth simulator the way every unit test does."""

from __future__ import annotations

from amaranth.sim import Simulator


def run_clocked(dut, *testbenches, period: float = 1e-6) -> None:
    """``dut`` on a clock (sync domain) with the testbenches running beside it."""
    sim = Simulator(dut)
    sim.add_clock(period)
    for tb in testbenches:
        sim.add_testbench(tb)
    sim.run()
