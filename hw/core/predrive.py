"""The predrive: the next sample's input drive b0 + W0 x', computed while the core
relaxes this one (fast plan only, hw/plan.py).

The relaxation leaves W0, the pixels, their non-zero list, b0 and the drive memory's
write port alone, so this unit borrows them (its ``run`` says when; the core's states
that allow it raise ``may``) and walks the drive loop's schedule on registers of its
own: the input drive's unit (hw/core/input_drive.py) on a row-group issue and
accumulators of its own, P rows at a time, one non-zero column a cycle, the bias at a
group's first entry, the group's P drives written at its last.  The next sample then
starts without a drive pass; its W0 update corrects what this computed from the old
weights (hw/core/top.py).
A host write to a weight or bias voids it (``void``); the core takes a finished drive
with ``take``.

Its pipeline, stage by stage: 1 the column from the non-zero list and the weight and
pixel addresses, 2 the bias address, 3 the products (registered), 4 accumulate, 5 the
group's drive written.  The memories answer a cycle after their address, the weights
and the pixel through one more register (the core registers them for timing)."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Shape, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..layout import acc_width, weight_layouts
from ..plan import HardwarePlan
from .accumulators import Accumulators
from .group_issue import GroupIssue
from .input_drive import InputDrive
from .job import index_bits, nnz_bits


class Predrive(wiring.Component):
    def __init__(self, plan: HardwarePlan):
        cfg = plan.cfg
        self.plan, self.cfg = plan, cfg
        self.w0 = w0 = weight_layouts(cfg)[0]
        P, n = cfg.lanes, cfg.layers
        col = index_bits(max(n) + 2) + 1  # (the core's column counter width)
        super().__init__({
            "may": In(1), "next_full": In(1), "next_nnz": In(nnz_bits(cfg)),
            "fsm_bank": In(1), "void": In(1), "take": In(1),
            "run": Out(1), "done": Out(1), "bank": Out(1),
            "nz_addr": Out(range(plan.memory("nz")[0])), "nz_data": In(col),
            "x_addr": Out(range(plan.memory("x")[0])), "x_data": In(cfg.act_bits),
            "b_addr": Out(range(plan.memory("b0")[0])), "b_data": In(P * cfg.weight_bits),
            "w_addr": Out(data.ArrayLayout(range(max(w0.depth, 2)), P)),
            "w_data": In(data.ArrayLayout(signed(cfg.weight_bits), P)),
            "d_group": Out(range(w0.groups + 1)),
            "d_data": Out(P * acc_width(cfg)), "d_write": Out(1)})

    def elaborate(self, platform):
        m = Module()
        cfg, plan, w0 = self.cfg, self.plan, self.w0
        P, n = cfg.lanes, cfg.layers
        col = self.nz_data.shape()
        # the drive's own schedule and datapath (hw/core/input_drive.py), on an issue
        # and accumulators of its own: the core's are busy relaxing
        m.submodules.issue = issue = GroupIssue(
            [(w0.groups, P * w0.words)], w0.depth,
            (Shape.cast(range(max(w0.groups, 2))).width, col.width), drain_u6=False)
        m.submodules.drive = drive = InputDrive(plan, col.width, issue.entry)
        m.submodules.accumulators = accu = Accumulators(P, signed(acc_width(cfg)))
        run, done, bank = Signal(name="pre_run"), Signal(name="pre_done"), \
            Signal(name="pre_bank")
        m.d.comb += [self.run.eq(run), self.done.eq(done), self.bank.eq(bank)]
        nnz = Signal.like(self.next_nnz, name="pre_nnz")
        j2, j3 = Signal(col, name="pre_j2"), Signal(col, name="pre_j3")
        with m.If(self.may & ~run & ~done & self.next_full):
            m.d.sync += [run.eq(1), bank.eq(~self.fsm_bank), self.d_group.eq(0),
                         nnz.eq(self.next_nnz)]
        x_base = Mux(bank, n[0], 0)
        m.d.comb += [issue.run.eq(run), issue.layer.eq(0), issue.last_t.eq(nnz),
                     issue.gate.eq(1), self.nz_addr.eq(x_base + issue.t - 1)]
        m.d.sync += [j2.eq(self.nz_data), j3.eq(j2)]
        # stage 1: the column from NZ, its weights and pixel; stage 2: the bias
        m.d.comb += [drive.entries.eq(issue.st), drive.column.eq(self.nz_data),
                     drive.column3.eq(j3), self.x_addr.eq(x_base + self.nz_data),
                     self.b_addr.eq(drive.b_addr), drive.b_data.eq(self.b_data),
                     drive.x_data.eq(self.x_data), drive.w_data.eq(self.w_data),
                     self.w_addr.eq(drive.w_addr)]
        m.d.comb += [accu.valid.eq(drive.acc.valid), accu.first.eq(drive.acc.first),
                     accu.const.eq(drive.acc.const), accu.fwd.eq(drive.acc.fwd)]
        with m.If(drive.group_end):  # the group's drive
            m.d.comb += [self.d_data.eq(Cat(*(accu.acc[k] for k in range(P)))),
                         self.d_write.eq(1)]
            m.d.sync += self.d_group.eq(self.d_group + 1)
        with m.If(issue.drained):
            m.d.sync += [run.eq(0), done.eq(1)]
        with m.If(self.void | self.take):  # stale (the host wrote W0 or b0), or taken
            m.d.sync += done.eq(0)
        return m
