"""A simple dual-port memory built from one-bit-wide memories.

Why: a deep bank of W0 (784 x 128 / P words) maps onto ECP5 block RAM in its 1K x 18
mode by default, a dozen blocks per bank behind a 16-bit read multiplexer, each block
taking all 16 write-data bits.  One-bit slices map to 16K x 1 blocks instead: no read
multiplexer and one write-data wire per block, so a bank brings 16 data wires to the
datapath rather than ~200: fewer wires for the router with many MAC lanes, for a few more
blocks per bank.  Same behaviour as ``Memory`` with one read and one write port: read data
the cycle after the address, a read of the word being written returns the old value.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out


class BitSlicedMemory(wiring.Component):
    def __init__(self, width: int, depth: int):
        self.width, self.depth = width, depth
        addr = range(max(depth, 2))
        super().__init__({"raddr": In(addr), "rdata": Out(width), "waddr": In(addr),
                          "wdata": In(width), "we": In(1)})

    def elaborate(self, platform):
        m = Module()
        bits = []
        for k in range(self.width):
            m.submodules[f"bit{k}"] = mem = Memory(shape=1, depth=self.depth, init=[])
            rd, wr = mem.read_port(), mem.write_port()
            m.d.comb += [rd.addr.eq(self.raddr), wr.addr.eq(self.waddr),
                         wr.data.eq(self.wdata[k]), wr.en.eq(self.we)]
            bits.append(rd.data)
        m.d.comb += self.rdata.eq(Cat(*bits))
        return m
