"""A pool of signed multipliers that the controller's states take turns on.

On the iCE40UP5K the DSP blocks (8) are the scarcest resource: 2P multipliers serve
the drive, both relaxation directions and the update, whose FSM states are exclusive,
so each multiplier's operands are driven from one state at a time (undriven: 0).  On
DSP-rich parts only the update's two products share a pool (they are never formed in
the same cycle); the other phases multiply where they are."""

from __future__ import annotations

from amaranth.hdl import Module, Signal, Value, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out


class MultiplierSignature(wiring.Signature):
    """A user's side of ``count`` multipliers: operands out, full-width products in."""

    def __init__(self, count: int, a_width: int, b_width: int):
        super().__init__({
            "a": Out(data.ArrayLayout(signed(a_width), count)),
            "b": Out(data.ArrayLayout(signed(b_width), count)),
            "p": In(data.ArrayLayout(signed(a_width + b_width), count)),
        })


class MultiplierPool(wiring.Component):
    """``count`` products ``ops.p[q] = ops.a[q] * ops.b[q]``, combinational."""

    def __init__(self, count: int, a_width: int, b_width: int):
        self.count = count
        super().__init__({"ops": In(MultiplierSignature(count, a_width, b_width))})

    def elaborate(self, platform):
        m = Module()
        ops = self.ops
        m.d.comb += [ops.p[q].eq(ops.a[q] * ops.b[q]) for q in range(self.count)]
        return m


def staged(m: Module, v, latency: int, name: str):
    """``v``, formed at the product stage, at the accumulate stage: ``latency`` (the
    plan's ``mul_latency``, 0 or 1) cycles later.  On DSP-rich parts every product is
    registered before it is summed, so the adder trees of many lanes start from flops."""
    if not latency:
        return v
    r = Signal(Value.cast(v).shape(), name=name)
    m.d.sync += r.eq(v)
    return r
