"""One bank of a weight matrix, built the way the hardware plan says (hw/plan.py):
block RAM with a read port per reader, W0 in the iCE40UP5K's single-port SPRAM, or W0
in one-bit slices (hw/bitslice.py).  Its readers are named as the plan's memory list
names the memories they cost (``HardwarePlan.memories``: ``w1_0_copy``,
``w1_0_half1``), so the fit check counts exactly what is built.

Every read answers the cycle after its address.  On SPRAM a read and a write cannot
share a cycle: the update loop issues a read every other cycle, and the writes it
makes five stages later land a cycle late, in the cycles between."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from ..bitslice import BitSlicedMemory
from ..plan import HardwarePlan
from ..spram import SinglePortMemory
from .mem_ports import NamedReaders, ReadSignature, WriteSignature, memory_behind


def bank_name(layer: int, bank: int, lanes: int) -> str:
    return f"w{layer}_{bank}" if lanes > 1 else f"w{layer}"


def extra_readers(plan: HardwarePlan, layer: int, bank: int) -> list[str]:
    """The bank's readers beyond the first, by their memory-list names' suffixes
    (``copy``: the odd/even second pipeline; ``halfN``: layer N's second half)."""
    return plan.copies(f"w{layer}_{bank}_")


class WeightBank(NamedReaders, wiring.Component):
    """``read``: the first reader; ``port(name)``: another one (``extra_readers``)."""

    def __init__(self, plan: HardwarePlan, layer: int, bank: int, depth: int):
        cfg = plan.cfg
        self.plan, self.layer, self.depth, self.width = plan, layer, depth, cfg.weight_bits
        self.kind = ("spram" if layer == 0 and plan.single_port_w0 else
                     "sliced" if layer == 0 and plan.w0_bit_sliced else "bram")
        self.extras = extra_readers(plan, layer, bank) if self.kind == "bram" else []
        shape = signed(self.width)
        members = {"read": Out(ReadSignature(depth, shape)),
                   "write": Out(WriteSignature(depth, shape))}
        members.update(self.reader_members(self.extras, depth, shape))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        r, w, wb = self.read, self.write, self.width
        if self.kind == "spram":
            m.submodules.spram = sp = SinglePortMemory(wb, self.depth,
                                                       spram=self.plan.spram)
            wa, wd, we_ = Signal.like(w.addr), Signal(signed(wb)), Signal()
            m.d.sync += [wa.eq(w.addr), wd.eq(w.data), we_.eq(w.en)]
            m.d.comb += [sp.addr.eq(Mux(we_, wa, r.addr)), sp.wdata.eq(wd), sp.we.eq(we_),
                         r.data.eq(sp.rdata.as_signed())]
        elif self.kind == "sliced":
            m.submodules.sliced = bs = BitSlicedMemory(wb, self.depth)
            m.d.comb += [bs.raddr.eq(r.addr), r.data.eq(bs.rdata.as_signed()),
                         bs.waddr.eq(w.addr), bs.wdata.eq(w.data), bs.we.eq(w.en)]
        else:
            memory_behind(m, "mem", signed(wb), self.depth, w, self.readers())
        return m
