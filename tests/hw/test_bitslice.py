"""The bit-sliced memory (hw/bitslice.py) alone: random reads and writes, some to the
word being read, against a list; it must behave as a Memory with one read and one write
port (read data the cycle after the address, a read of the word being written the old
value)."""

from __future__ import annotations

import numpy as np
import pytest

from epfpga.hw.bitslice import BitSlicedMemory

from .simulate import run_clocked


@pytest.mark.parametrize(("width", "depth"), [(1, 2), (9, 37), (16, 300)])
def test_bit_sliced_memory_is_a_dual_port_memory(width: int, depth: int) -> None:
    rng = np.random.default_rng(width * depth)
    dut = BitSlicedMemory(width, depth)
    model = [0] * depth
    ops = [(int(rng.integers(depth)), int(rng.integers(depth)), bool(rng.random() < 0.6),
            int(rng.integers(1 << width))) for _ in range(400)]
    for k in range(0, len(ops), 7):  # some reads of the word written in the same cycle
        ra, _, _, v = ops[k]
        ops[k] = (ra, ra, True, v)
    got, want = [], []

    async def tb(ctx):
        for ra, wa, we, v in ops:
            ctx.set(dut.raddr, ra)
            ctx.set(dut.waddr, wa)
            ctx.set(dut.wdata, v)
            ctx.set(dut.we, we)
            want.append(model[ra])  # before this cycle's write
            await ctx.tick()
            got.append(ctx.get(dut.rdata))
            if we:
                model[wa] = v

    run_clocked(dut, tb)
    assert got == want
