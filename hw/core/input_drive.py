"""The input drive W0 x + b0: P rows at a time over the sample's non-zero pixels, on the
core's row-group issue (hw/core/group_issue.py), accumulators and multipliers.

It owns no counter and no accumulator: the core's are shared with the updates and the
relaxation (the iCE40UP5K has no room for a set per phase), and the predrive brings its
own (hw/core/predrive.py), so this unit is the drive's addressing and operands between
them.  Stage 1 addresses W0's P banks at the entry's column; stage 2 the group's biases;
stage 3 forms the P products, x_j times the column's weights rotated to their lanes
(none at a group's opening entry), and the P biases.  The accumulators add them
``mul_latency`` stages later (products registered on the fast plan), starting from the
biases, and ``group_end`` says that the group's P drives are in them: the core writes
them to the drive memory."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..layout import acc_width, weight_layouts
from ..plan import HardwarePlan
from .accumulators import AccumulateSignature
from .group_issue import STAGES
from .lanes import Lanes
from .multipliers import MultiplierSignature
from .multipliers import staged as staged_product
from .shapes import multiplier_shape


class InputDrive(wiring.Component):
    """``entries``: the group issue's stages (``entry``: its layout); ``column``: the
    entry's column at stage 1 (from the non-zero list), ``column3`` the same two stages
    later; ``w_data``: the banks' registered words, ``x_data`` the pixel and ``b_data``
    the group's biases, a cycle after their addresses.  ``mul``: P multipliers to
    borrow (the shared plan's pool); on the fast plan the unit multiplies on its own
    and ``mul`` is unused."""

    def __init__(self, plan: HardwarePlan, column_bits: int, entry: data.StructLayout):
        cfg = plan.cfg
        self.plan, self.cfg = plan, cfg
        self.w0 = w0 = weight_layouts(cfg)[0]
        P = cfg.lanes
        wa, wb = multiplier_shape(cfg)
        self.acc_width = acc_width(cfg)
        super().__init__({
            "entries": In(data.ArrayLayout(entry, STAGES)),
            "column": In(column_bits), "column3": In(column_bits),
            "w_addr": Out(data.ArrayLayout(range(max(w0.depth, 2)), P)),
            "w_data": In(data.ArrayLayout(signed(cfg.weight_bits), P)),
            "x_data": In(unsigned(cfg.act_bits)),
            "b_addr": Out(range(max(w0.groups, 2))), "b_data": In(P * cfg.weight_bits),
            "mul": Out(MultiplierSignature(P, wa, wb)),
            "acc": Out(AccumulateSignature(P, self.acc_width)),
            "group_end": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, plan, w0 = self.cfg, self.plan, self.w0
        P, lm, ml = cfg.lanes, Lanes(cfg.lanes), plan.mul_latency
        u1, u2, u3, u4, u5 = (self.entries[k] for k in range(5))

        def staged(v, name: str):
            return staged_product(m, v, ml, name)

        m.d.comb += [self.w_addr[b].eq(lm.group_addr(w0.words, b, u1.gb, self.column))
                     for b in range(P)]
        m.d.comb += self.b_addr.eq(u2.g)
        w_lane = lm.rotate([self.w_data[b] for b in range(P)], lm.lo(self.column3))
        x_op = Signal(unsigned(cfg.act_bits), name="drive_x")
        m.d.comb += x_op.eq(Mux(u3.first, 0, self.x_data))
        prods = []
        for k in range(P):
            if plan.shared_mul:
                m.d.comb += [self.mul.a[k].eq(w_lane[k]), self.mul.b[k].eq(x_op)]
                prods.append(staged(self.mul.p[k], f"drive_p{k}"))
            else:
                prods.append(staged(w_lane[k] * x_op, f"drive_p{k}"))
        bias = [staged(lm.lane(self.b_data, k, cfg.weight_bits, True) << cfg.act_frac,
                       f"drive_b{k}") for k in range(P)]
        ua, uw = (u3, u4) if not ml else (u4, u5)
        m.d.comb += [self.acc.valid.eq(ua.v), self.acc.first.eq(ua.first),
                     self.group_end.eq(uw.v & uw.last)]
        m.d.comb += [x.eq(v) for k in range(P)
                     for x, v in ((self.acc.const[k], bias[k]), (self.acc.fwd[k], prods[k]))]
        return m
