"""An update pass's writes: the new weights of a row group's column into the banks,
and at the group's end its new biases.

A column's P new weights are lane-ordered (lane k: row g P + k); bank b holds the
weight of lane (b - c) mod P at column c (hw/layout.py ``WeightLayout.place``), so the
lanes are rotated onto the banks and each bank's address is the group's base plus its
skew.  Padding rows of a partial last group are never written: their weights stay 0,
which the relaxation's products rely on."""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In

from ..layout import WeightLayout
from .lanes import Lanes
from .mem_ports import WriteSignature


class UpdateWriteback(wiring.Component):
    """One weight layer's writes (``geo``: its bank layout).  ``entry``: the group
    issue's write stage (u5; its first entry, the k v product, writes nothing);
    ``column``: that entry's column; ``new_w``: the new weights, by lane.  Writers
    ``w<b>`` (bank b) and ``bias`` (a word of P biases, a lane enable each)."""

    def __init__(self, geo: WeightLayout, weight_bits: int, entry: data.StructLayout,
                 column_bits: int):
        self.geo, self.P = geo, geo.lanes
        members = {"entry": In(entry), "column": In(column_bits),
                   "new_w": In(data.ArrayLayout(signed(weight_bits), self.P)),
                   "bias": In(WriteSignature(geo.groups, unsigned(weight_bits * self.P),
                                             self.P if self.P > 1 else 1))}
        for b in range(self.P):
            members[f"w{b}"] = In(WriteSignature(geo.depth, signed(weight_bits)))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        P, geo, lm = self.P, self.geo, Lanes(self.P)
        u, c = self.entry, self.column

        def row_ok(k):
            """Lane k holds a real row (the last group may be partial)."""
            return u.g * P + k < geo.n_out if geo.n_out % P else Const(1, 1)

        new_w = [self.new_w[k] for k in range(P)]
        banked = lm.rotate(new_w, lm.lo(c), back=True)  # entry b: bank b's
        with m.If(u.v & u.last):
            m.d.comb += [self.bias.addr.eq(u.g), self.bias.data.eq(Cat(*new_w)),
                         self.bias.en.eq(Cat(*(row_ok(k) for k in range(P))))]
        with m.Elif(u.v & ~u.first):
            for b in range(P):
                port = getattr(self, f"w{b}")
                with m.If(row_ok(lm.rot(b, lm.lo(c)))):
                    m.d.comb += [port.addr.eq(lm.group_addr(geo.words, b, u.gb, c)),
                                 port.data.eq(banked[b]), port.en.eq(1)]
        return m
