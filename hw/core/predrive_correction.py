"""The predrive's drive corrected by this sample's W0 update.

The predrive (hw/core/predrive.py) computed the next sample's drive b0 + W0 x' from the
weights before this update.  While W0 updates, each entry's change times the next
sample's pixel, (w' - w) x'_j per column and (b' - b) for the bias (the update lane's
``corr_term``, stage 6), is summed per row group, and the group's drive word is
rewritten at its last entry: the drive is then exactly the one the new weights give."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..layout import acc_width
from ..plan import HardwarePlan
from .lanes import Lanes
from .mem_ports import ReadSignature, WriteSignature


class PredriveCorrection(wiring.Component):
    """``run``: W0 updates and the predrive's drive is there.  ``entries``: the update's
    stages 5 and 6 (group entries); ``column``: stage 4's pixel column, whose next-sample
    pixel ``x_addr`` reads (bank ``bank``) for the update lanes' stage 5; ``terms``: their
    stage-6 correction terms.  ``drive``/``drive_write``: the drive memory, the
    predrive's bank starting at ``drive_base``."""

    def __init__(self, plan: HardwarePlan, entry: data.StructLayout, column_bits: int):
        cfg = self.cfg = plan.cfg
        x_depth, _ = plan.memory("x")
        d_depth, d_width = plan.memory("drive")
        aw = acc_width(cfg)
        super().__init__({
            "run": In(1), "entries": In(data.ArrayLayout(entry, 2)), "column": In(column_bits),
            "bank": In(1), "drive_base": In(range(d_depth)),
            "terms": In(data.ArrayLayout(signed(aw), cfg.lanes)),
            "x_addr": Out(range(x_depth)),
            "drive": In(ReadSignature(d_depth, unsigned(d_width))),
            "drive_write": In(WriteSignature(d_depth, unsigned(d_width))),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        P, aw = cfg.lanes, acc_width(cfg)
        u5, u6 = self.entries[0], self.entries[1]
        m.d.comb += [self.x_addr.eq(Mux(self.bank, cfg.layers[0], 0) + self.column),
                     self.drive.addr.eq(self.drive_base + u5.g)]
        terms = [self.terms[k] for k in range(P)]
        corr = [Signal(signed(aw), name=f"corr_{k}") for k in range(P)]
        with m.If(self.run & u6.v):  # (the group's opening entry is no column)
            m.d.sync += [c.eq(Mux(u6.first, 0, c + v)) for c, v in zip(corr, terms, strict=True)]
        old = [Lanes(P).lane(self.drive.data, k, aw, True) for k in range(P)]
        with m.If(self.run & u6.v & u6.last):
            fixed = [old[k] + corr[k] + terms[k] for k in range(P)]
            m.d.comb += [self.drive_write.addr.eq(self.drive_base + u6.g),
                         self.drive_write.data.eq(Cat(*(f[:aw] for f in fixed))),
                         self.drive_write.en.eq(1)]
        return m
