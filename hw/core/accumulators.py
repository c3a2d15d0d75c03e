"""P accumulators, one per lane of a row group, shared by the input drive and every
layer's relaxation in both visiting orders.

Each lane is one adder whatever the phase: the phase steers its operands (a row's
first entry starts from the row constant, the bias or the drive, instead of the
accumulator, then adds up to two products, bottom-up and top-down).  One adder per
lane for every phase is what the iCE40UP5K has room for; the relaxation's row order
uses lane 0 alone."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, ShapeLike, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out


class AccumulateSignature(wiring.Signature):
    """What a phase gives the shared accumulators: when ``valid``,
    acc[k] <= (``first`` ? const[k] : acc[k]) + fwd[k] (+ bwd[k] with ``both``
    directions, the relaxation's)."""

    def __init__(self, lanes: int, width: int, both: bool = False):
        arr = data.ArrayLayout(signed(width), lanes)
        members = {"valid": Out(1), "first": Out(1), "const": Out(arr), "fwd": Out(arr)}
        if both:
            members["bwd"] = Out(arr)
        super().__init__(members)


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

    def take(self, src) -> list:
        """The assignments that hand the accumulators to a phase's ``src`` (an
        ``AccumulateSignature`` port; the accumulators are shared, so each phase
        connects them under its own condition)."""
        ops = [self.valid.eq(src.valid), self.first.eq(src.first),
               self.const.eq(src.const), self.fwd.eq(src.fwd)]
        return ops + ([self.bwd.eq(src.bwd)] if "bwd" in src.signature.members else [])
