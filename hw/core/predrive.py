"""The predrive: the next sample's input drive b0 + W0 x', computed while the core
relaxes this one (fast plan only, hw/plan.py).

The relaxation leaves W0, the pixels, their non-zero list, b0 and the drive memory's
write port alone, so this unit borrows them (its ``run`` says when; the core's states
that allow it raise ``may``) and walks the drive loop's schedule on registers of its
own: P rows at a time, one non-zero column a cycle, the bias at a group's first entry,
the group's P drives written at its last.  The next sample then starts without a drive
pass; its W0 update corrects what this computed from the old weights (hw/core/top.py).
A host write to a weight or bias voids it (``void``); the core takes a finished drive
with ``take``.

Its pipeline, stage by stage: 1 the column from the non-zero list and the weight and
pixel addresses, 2 the bias address, 3 the products (registered), 4 accumulate, 5 the
group's drive written.  The memories answer a cycle after their address, the weights
and the pixel through one more register (the core registers them for timing)."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..layout import acc_width, weight_layouts
from ..plan import HardwarePlan
from .job import index_bits, nnz_bits
from .lanes import Lanes


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
        cfg, w0 = self.cfg, self.w0
        P, n, af = cfg.lanes, cfg.layers, cfg.act_frac
        lm = Lanes(P)
        acc_shape = signed(acc_width(cfg))
        col = self.nz_data.shape()
        pre_run, pre_done, pre_bank = Signal(name="pre_run"), Signal(name="pre_done"), \
            Signal(name="pre_bank")
        m.d.comb += [self.run.eq(pre_run), self.done.eq(pre_done), self.bank.eq(pre_bank)]
        pre_nnz = Signal.like(self.next_nnz, name="pre_nnz")
        pre_i = Signal(range(max(w0.groups, 2)), name="pre_i")
        pre_t = Signal(col, name="pre_t")
        pre_fin = Signal(name="pre_fin")
        entry = data.StructLayout({"v": 1, "first": 1, "last": 1, "g": range(max(w0.groups, 2)),
                                   "gb": range(w0.depth + 1)})
        q1, q2, q3, q4, q5 = (Signal(entry, name=f"pre_p{k}") for k in range(1, 6))
        pre_j2, pre_j3 = Signal(col, name="pre_j2"), Signal(col, name="pre_j3")
        pre_accs = [Signal(acc_shape, name=f"pre_acc{k}") for k in range(P)]
        pre_gw = self.d_group
        px_base = Mux(pre_bank, n[0], 0)
        with m.If(self.may & ~pre_run & ~pre_done & self.next_full):
            m.d.sync += [pre_run.eq(1), pre_bank.eq(~self.fsm_bank), pre_i.eq(0),
                         pre_t.eq(0), pre_fin.eq(0), pre_gw.eq(0), pre_nnz.eq(self.next_nnz)]
        issue = pre_run & ~pre_fin
        with m.If(issue):
            with m.If(pre_t != pre_nnz):
                m.d.sync += pre_t.eq(pre_t + 1)
            with m.Elif(pre_i != w0.groups - 1):
                m.d.sync += [pre_i.eq(pre_i + 1), pre_t.eq(0)]
            with m.Else():
                m.d.sync += pre_fin.eq(1)
        pj1 = self.nz_data
        m.d.sync += [q1.v.eq(issue), q1.first.eq(pre_t == 0), q1.last.eq(pre_t == pre_nnz),
                     q1.g.eq(pre_i), q1.gb.eq(pre_i * (P * w0.words)),
                     q2.eq(q1), q3.eq(q2), q4.eq(q3), q5.eq(q4),
                     pre_j2.eq(pj1), pre_j3.eq(pre_j2)]
        # stage 1: the column from NZ, its weights and pixel; stage 2: the bias
        m.d.comb += [self.nz_addr.eq(px_base + pre_t - 1), self.x_addr.eq(px_base + pj1),
                     self.b_addr.eq(q2.g)]
        m.d.comb += [self.w_addr[b].eq(lm.group_addr(w0.words, b, q1.gb, pj1))
                     for b in range(P)]
        # stage 3: products and biases, registered
        pw_lane = lm.rotate([self.w_data[b] for b in range(P)], lm.lo(pre_j3))
        px_op = Signal(unsigned(cfg.act_bits), name="pre_x")
        m.d.comb += px_op.eq(Mux(q3.first, 0, self.x_data))
        pprods, pbias = [], []
        for k in range(P):
            pprods.append(Signal(acc_shape, name=f"pre_prod{k}"))
            pbias.append(Signal(acc_shape, name=f"pre_bias{k}"))
            m.d.sync += [pprods[k].eq(pw_lane[k] * px_op),
                         pbias[k].eq(lm.lane(self.b_data, k, cfg.weight_bits, True) << af)]
        with m.If(q4.v):  # stage 4: accumulate
            m.d.sync += [pre_accs[k].eq(Mux(q4.first, pbias[k], pre_accs[k]) + pprods[k])
                         for k in range(P)]
        with m.If(q5.v & q5.last):  # stage 5: the group's drive
            m.d.comb += [self.d_data.eq(Cat(*pre_accs)), self.d_write.eq(1)]
            m.d.sync += pre_gw.eq(pre_gw + 1)
        with m.If(pre_fin & ~Cat(q1.v, q2.v, q3.v, q4.v, q5.v).any()):
            m.d.sync += [pre_run.eq(0), pre_fin.eq(0), pre_done.eq(1)]
        with m.If(self.void | self.take):  # stale (the host wrote W0 or b0), or taken
            m.d.sync += pre_done.eq(0)
        return m
