"""A register stage on a ``lib.stream``: the source's ``valid`` and ``payload`` come
from flops, so a long decision on one side (a dispatcher's state) and a long one on the
other (a core's phase logic) no longer add up to one path.  ``ready`` passes through
(the stage takes a transfer when it is empty or being emptied), so the stream keeps a
transfer a cycle and gains one cycle of latency."""

from __future__ import annotations

from amaranth.hdl import Module, ShapeLike
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out


class StreamRegister(wiring.Component):
    def __init__(self, shape: ShapeLike):
        super().__init__({"sink": In(stream.Signature(shape)),
                          "source": Out(stream.Signature(shape))})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.sink.ready.eq(~self.source.valid | self.source.ready)
        with m.If(self.sink.ready):
            m.d.sync += [self.source.valid.eq(self.sink.valid),
                         self.source.payload.eq(self.sink.payload)]
        return m
