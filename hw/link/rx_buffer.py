"""The receive side's buffer between a UART, which cannot wait, and the frame parser,
which sometimes does (for a few clocks while it rescans a false header, or while the
frame store is full because a host sent more than the window INFO advertises)."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from epfpga.protocol import STATUS_BITS


class RxBuffer(wiring.Component):
    """Takes every byte; one that finds the buffer full is dropped and counted in
    ``overruns`` (the frame it belonged to then fails its CRC and is resent)."""

    def __init__(self, depth: int = 4):
        self.depth = depth
        super().__init__({"i": In(stream.Signature(8, always_ready=True)),
                          "o": Out(stream.Signature(8)),
                          "overruns": Out(STATUS_BITS["overruns"])})

    def elaborate(self, platform):  # noqa: ANN001, ANN201
        m = Module()
        m.submodules.fifo = fifo = SyncFIFO(width=8, depth=self.depth)
        m.d.comb += [fifo.w_data.eq(self.i.payload), fifo.w_en.eq(self.i.valid)]
        with m.If(self.i.valid & ~fifo.w_rdy):
            m.d.sync += self.overruns.eq(self.overruns + 1)
        wiring.connect(m, fifo.r_stream, wiring.flipped(self.o))
        return m
