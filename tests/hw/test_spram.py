"""The single-port memory: registered reads, one access per cycle, SPRAM banking."""

from __future__ import annotations

import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator

from epfpga.hw.spram import SinglePortMemory


def test_single_port_reads_and_writes() -> None:
    dut = SinglePortMemory(12, 100)
    seen = []

    async def tb(ctx):
        for a in (3, 50, 99):
            ctx.set(dut.addr, a)
            ctx.set(dut.wdata, a * 7)
            ctx.set(dut.we, 1)
            await ctx.tick()
        ctx.set(dut.we, 0)
        for a in (99, 3, 50):
            ctx.set(dut.addr, a)
            await ctx.tick()
            seen.append(ctx.get(dut.rdata))  # the word addressed in the previous cycle
        ctx.set(dut.addr, 3)
        ctx.set(dut.wdata, 1)
        ctx.set(dut.we, 1)
        await ctx.tick()
        seen.append(ctx.get(dut.rdata))  # not the last read: a write leaves rdata undefined

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    assert seen == [99 * 7, 3 * 7, 50 * 7, 3 * 7]  # (here: the written word's old value)


def test_spram_banks_for_the_up5k_input_layer() -> None:
    text = verilog.convert(SinglePortMemory(16, 784 * 64, spram=True), name="w0")
    assert text.count("SB_SPRAM256KA") == 4  # 50 176 words over 16 K-word banks
    with pytest.raises(ValueError, match="16 bits"):
        SinglePortMemory(18, 1000, spram=True)
