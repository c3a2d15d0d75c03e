"""The weight update's datapath for one row group of P rows: the group's k*v products
once, then per column (or the bias) k (v_hi u_hi - v_lo u_lo) and the new weight.

Entries come at stage 3 of the update's pipeline, one per cycle, a group's first entry
(``first``) carrying its rows' end states v_hi, v_lo and random row values; the
products are formed on 2P multipliers the unit borrows (``mul``: on the iCE40UP5K the
same ones every phase shares), k*v_hi and k*v_lo for a first entry and kv_hi u_hi,
kv_lo u_lo for a column.  Each lane's difference, rounding and saturation is an
``UpdateLane``; the new weights come out at stage 5."""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from epfpga.model.config import EPConfig

from ..layout import acc_width
from .lanes import Lanes
from .multipliers import MultiplierSignature
from .shapes import multiplier_shape, update_q_width
from .update_lane import UpdateLane


def update_widths(cfg: EPConfig) -> tuple[int, int]:
    """(k*v width, product width kept at stage 4)."""
    q, ab = update_q_width(cfg), cfg.act_bits
    return q + ab + 2, q + 2 * ab + 4


class UpdateUnit(wiring.Component):
    """``valid``/``first``/``k``/``v_hi``/``v_lo``/``a``: stage 3 (a first entry's
    products are kept for its group); ``u_hi``/``u_lo``/``w``: a column's (or the bias's,
    u = 1.0) operands at stage 3; ``r_col``: the column's random value at stage 4;
    ``new_w``: stage 5.  With the predrive, ``last``/``x`` at stage 5 and the drive
    correction's ``corr_term`` at stage 6 (hw/core/update_lane.py)."""

    def __init__(self, cfg: EPConfig, predrive: bool):
        self.cfg, self.predrive = cfg, predrive
        P, ab, wb = cfg.lanes, cfg.act_bits, cfg.weight_bits
        self.kv_width, self.product_width = update_widths(cfg)
        wa, wm = multiplier_shape(cfg)
        members = {
            "valid": In(1), "first": In(1),
            "k": In(signed(update_q_width(cfg) + 1)),  # +-eta/beta of the layer
            "v_hi": In(unsigned(P * ab)), "v_lo": In(unsigned(P * ab)),  # packed rows
            "a": In(unsigned(P * cfg.sr_bits)),  # the rows' random values, packed
            "u_hi": In(unsigned(ab)), "u_lo": In(unsigned(ab)),
            "w": In(data.ArrayLayout(signed(wb), P)),
            "r_col": In(unsigned(cfg.sr_bits)), "stochastic": In(1),
            "new_w": Out(data.ArrayLayout(signed(wb), P)),
            "mul": Out(MultiplierSignature(2 * P, wa, wm)),
        }
        if predrive:
            members.update({"last": In(1), "x": In(unsigned(ab)),
                            "corr_term": Out(data.ArrayLayout(signed(acc_width(cfg)), P))})
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        P, ab = cfg.lanes, cfg.act_bits
        lane = Lanes(P).lane
        mul = self.mul
        kvb = [Signal(signed(self.kv_width), name=f"kvb_{k}") for k in range(P)]
        kvf = [Signal(signed(self.kv_width), name=f"kvf_{k}") for k in range(P)]
        a_k = [Signal(unsigned(cfg.sr_bits), name=f"a_{k}") for k in range(P)]
        for k in range(P):
            with m.If(self.first):  # k*v once per group
                m.d.comb += [mul.a[k].eq(self.k), mul.b[k].eq(lane(self.v_hi, k, ab)),
                             mul.a[P + k].eq(self.k), mul.b[P + k].eq(lane(self.v_lo, k, ab))]
                with m.If(self.valid):
                    m.d.sync += [kvb[k].eq(mul.p[k]), kvf[k].eq(mul.p[P + k]),
                                 a_k[k].eq(lane(self.a, k, cfg.sr_bits))]
            with m.Else():
                m.d.comb += [mul.a[k].eq(kvb[k]), mul.b[k].eq(self.u_hi),
                             mul.a[P + k].eq(kvf[k]), mul.b[P + k].eq(self.u_lo)]
            m.submodules[f"lane{k}"] = ul = UpdateLane(cfg, self.product_width,
                                                       self.predrive)
            m.d.comb += [ul.hi.eq(mul.p[k]), ul.lo.eq(mul.p[P + k]), ul.w.eq(self.w[k]),
                         ul.r.eq(a_k[k] ^ self.r_col), ul.stochastic.eq(self.stochastic),
                         self.new_w[k].eq(ul.new_w)]
            if self.predrive:
                m.d.comb += [ul.last.eq(self.last), ul.x.eq(self.x),
                             self.corr_term[k].eq(ul.corr_term)]
        return m
