"""One lane of the weight update's arithmetic: from the two products k v_hi u_hi and
k v_lo u_lo of a weight (formed on the multipliers at stage 3) to the new weight,
saturated, at stage 5: their difference, the rounding of docs/numerics.md (stochastic,
its random bits given, or half up) and the saturation.  Every layer's update runs
through the same lanes (the layers update one after the other).

With the predrive (hw/core/predrive.py) a lane also forms, a stage later, what its
change adds to the next sample's drive: (w' - w) x'_j for a column, (b' - b) << act_frac
for the bias entry (``last``)."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from epfpga.model.config import EPConfig

from ..layout import acc_width
from .arith import round_update, saturate


class UpdateLane(wiring.Component):
    """``product_width``: the width the products are kept at (stage 4's registers)."""

    def __init__(self, cfg: EPConfig, product_width: int, predrive: bool):
        self.cfg, self.pw, self.predrive = cfg, product_width, predrive
        wb = cfg.weight_bits
        members = {"hi": In(signed(product_width)), "lo": In(signed(product_width)),
                   "w": In(signed(wb)),  # stage 3: the weight (or bias) being updated
                   "r": In(unsigned(cfg.sr_bits)),  # stage 4: its random bits
                   "stochastic": In(1),
                   "new_w": Out(signed(wb))}  # stage 5
        if predrive:
            members.update({"last": In(1), "x": In(unsigned(cfg.act_bits)),  # stage 5
                            "corr_term": Out(signed(acc_width(cfg)))})  # stage 6
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        cfg, pw = self.cfg, self.pw
        pb, pf = Signal(signed(pw), name="pb"), Signal(signed(pw), name="pf")
        w_4 = Signal(signed(cfg.weight_bits), name="w4")
        m.d.sync += [pb.eq(self.hi), pf.eq(self.lo), w_4.eq(self.w)]
        prod = Signal(signed(pw + 1), name="prod")
        m.d.comb += prod.eq(pb - pf)
        dw = Signal(signed(prod.shape().width), name="dw")
        m.d.comb += dw.eq(round_update(prod, self.r, cfg, self.stochastic))
        m.d.sync += self.new_w.eq(saturate(w_4 + dw, cfg))
        if self.predrive:
            w_5 = Signal.like(w_4, name="w5")
            m.d.sync += w_5.eq(w_4)
            delta = Signal(signed(cfg.weight_bits + 1), name="delta_w")
            m.d.comb += delta.eq(self.new_w - w_5)
            m.d.sync += self.corr_term.eq(Mux(self.last, delta << cfg.act_frac,
                                              delta * self.x))
        return m
