"""The receive side's buffer between a UART, which cannot wait, and the frame parser,
which sometimes does: for up to six clocks while it rescans a false header, and while
the receive store is full, which only a host that sent more than the window INFO
advertises can cause.  One byte covers the rescan, since a byte takes at least 40
clocks on the line (``uart.MIN_CLOCKS_PER_BIT``)."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from epfpga.host.protocol import STATUS_BITS


class RxBuffer(wiring.Component):
    """Takes every byte; one that finds the buffer full is dropped and counted in
    ``overruns`` (the frame it belonged to then fails its CRC and is resent)."""

    def __init__(self):
        super().__init__({"i": In(stream.Signature(8, always_ready=True)),
                          "o": Out(stream.Signature(8)),
                          "overruns": Out(STATUS_BITS["overruns"])})

    def elaborate(self, platform):
        m = Module()
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(self.i.valid):
            with m.If(self.o.valid & ~self.o.ready):
                m.d.sync += self.overruns.eq(self.overruns + 1)
            with m.Else():
                m.d.sync += [self.o.payload.eq(self.i.payload), self.o.valid.eq(1)]
        return m
