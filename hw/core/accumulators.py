"""P accumulators, one per lane of a row group, shared by the input drive and every
layer's relaxation in both visiting orders.

Each lane is one adder whatever the phase: the phase steers its operands (a row's
first entry starts from the row constant, the bias or the drive, instead of the
accumulator, then adds up to two products, bottom-up and top-down).  One adder per
lane for every phase is what the iCE40UP5K has room for; the relaxation's row order
uses lane 0 alone."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, ShapeLike
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out


class Accumulators(wiring.Component):
    """When ``valid``: acc[k] <= (first ? const[k] : acc[k]) + fwd[k] + bwd[k]."""

    def __init__(self, lanes: int, shape: ShapeLike):
        self.lanes = lanes
        arr = data.ArrayLayout(shape, lanes)
        super().__init__({"valid": In(1), "first": In(1),
                          "const": In(arr), "fwd": In(arr), "bwd": In(arr),
                          "acc": Out(arr)})

    def elaborate(self, platform):
        m = Module()
        with m.If(self.valid):
            m.d.sync += [self.acc[k].eq(Mux(self.first, self.const[k], self.acc[k])
                                        + self.fwd[k] + self.bwd[k])
                         for k in range(self.lanes)]
        return m
