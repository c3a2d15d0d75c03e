"""The sample's input as the datapath reads it: the pixels (X) and the columns of the
non-zero ones in order (NZ), a bank per sample in flight (the fast plan loads the next
sample into the other bank while this one runs; bank k is rows k*n0..).

``x_read`` serves the drive and W0's update; with the predrive, ``x_read_next`` is a
second reader (the plan's ``x_copy``) for the next sample's pixels, which the drive
correction multiplies while W0 updates.  On the fast plan NZ sits in LUT RAM: its read
data is a column number that W0's address is added from, combinationally, and LUT
RAM's registered output comes 5 ns sooner than block RAM's (the 4-lane ECP5 build's
critical path started there)."""

from __future__ import annotations

from amaranth.hdl import Module, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from ..plan import HardwarePlan
from .job import index_bits
from .mem_ports import ReadSignature, WriteSignature, memory_behind


class PixelStore(wiring.Component):
    def __init__(self, plan: HardwarePlan):
        cfg = plan.cfg
        self.distributed_nz = plan.double_buffered
        self.predrive = plan.predrive
        self.x_depth, _ = plan.memory("x")
        self.nz_depth, _ = plan.memory("nz")
        x, nz = unsigned(cfg.act_bits), unsigned(index_bits(cfg.layers[0] + 1))
        members = {"x_read": Out(ReadSignature(self.x_depth, x)),
                   "x_write": Out(WriteSignature(self.x_depth, x)),
                   "nz_read": Out(ReadSignature(self.nz_depth, nz)),
                   "nz_write": Out(WriteSignature(self.nz_depth, nz))}
        if self.predrive:
            members["x_read_next"] = Out(ReadSignature(self.x_depth, x))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        x_readers = [self.x_read] + ([self.x_read_next] if self.predrive else [])
        nz_attrs = {"ram_style": "distributed"} if self.distributed_nz else None
        memory_behind(m, "x", self.x_write.data.shape(), self.x_depth, self.x_write,
                      x_readers)
        memory_behind(m, "nz", self.nz_write.data.shape(), self.nz_depth, self.nz_write,
                      [self.nz_read], attrs=nz_attrs)
        return m
