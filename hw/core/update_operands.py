"""Stage 3 of an update pass: the update unit's operands (hw/core/update_unit.py) from
what the pass's reads brought back, for the weight layer being updated.

* a group's opening entry: k = +-eta/beta of the layer (the sign the sample's nudge
  had), the group's hi and lo states v and its row random values, as read (stage 2);
* a column: its hi and lo input states u (lane j mod P of their words; the pixel for
  W0), and the group's weights by lane (bank (k + j) mod P holds lane k's);
* the bias entry: u = 1.0, and the biases for the weights.

The reads are named as UpdateAddress names them (``update_ports``); the weights and the
column's states come registered once (stage 2 -> 3), the group's states, biases and row
values straight from their ports."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..plan import HardwarePlan
from .lanes import Lanes
from .shapes import update_q_width


def operand_shapes(plan: HardwarePlan) -> dict[str, object]:
    """The read data the operands are taken from, by ``update_ports`` name (the row
    values ``ar`` and the column values are one memory for all layers: ``ar``)."""
    cfg = plan.cfg
    P, ab, wb = cfg.lanes, cfg.act_bits, cfg.weight_bits
    shapes: dict[str, object] = {"ar": unsigned(P * cfg.sr_bits), "x": unsigned(ab)}
    for lay in range(cfg.n_layers):
        shapes.update({f"w{lay}_{b}": signed(wb) for b in range(P)})
        shapes.update({f"b{lay}": unsigned(P * wb), f"post_hi{lay}": unsigned(P * ab),
                       f"post_lo{lay}": unsigned(P * ab)})
        if lay:
            shapes.update({f"pre_hi{lay}": unsigned(P * ab), f"pre_lo{lay}": unsigned(P * ab)})
    return shapes


class UpdateOperands(wiring.Component):
    """``layer``: the weight layer updating; ``entry``: stage 3's group entry (its
    valid, first and last bits are read); ``column``: its column; ``neg``: the
    sample's nudge was negative; ``update_q``: per layer eta/beta; ``data``: the reads
    (``operand_shapes``).  The outputs are the update unit's stage-3 inputs of the
    same names."""

    def __init__(self, plan: HardwarePlan, entry: data.StructLayout, column_bits: int):
        cfg = self.cfg = plan.cfg
        P, ab, q = cfg.lanes, cfg.act_bits, update_q_width(cfg)
        super().__init__({
            "layer": In(range(max(cfg.n_layers, 2))),
            "entry": In(entry),
            "column": In(column_bits), "neg": In(1),
            "update_q": In(data.ArrayLayout(unsigned(q), cfg.n_layers)),
            "data": In(data.StructLayout(operand_shapes(plan))),
            "valid": Out(1), "first": Out(1), "k": Out(signed(q + 1)),
            "v_hi": Out(unsigned(P * ab)), "v_lo": Out(unsigned(P * ab)),
            "a": Out(unsigned(P * cfg.sr_bits)),
            "u_hi": Out(unsigned(ab)), "u_lo": Out(unsigned(ab)),
            "w": Out(data.ArrayLayout(signed(cfg.weight_bits), P)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        P, ab, wb, one = cfg.lanes, cfg.act_bits, cfg.weight_bits, cfg.act_one
        lm, d, e = Lanes(P), self.data, self.entry
        lane = lm.lo(self.column)
        m.d.comb += [self.valid.eq(e.v), self.first.eq(e.first), self.a.eq(d.ar)]
        with m.Switch(self.layer):
            for lay in range(cfg.n_layers):
                with m.Case(lay):
                    q = self.update_q[lay]
                    m.d.comb += [self.k.eq(Mux(self.neg, -q, q)),
                                 self.v_hi.eq(d[f"post_hi{lay}"]),
                                 self.v_lo.eq(d[f"post_lo{lay}"])]
                    if lay == 0:
                        u_hi = u_lo = d.x
                    else:
                        u_hi = lm.lane(d[f"pre_hi{lay}"], lane, ab)
                        u_lo = lm.lane(d[f"pre_lo{lay}"], lane, ab)
                    m.d.comb += [self.u_hi.eq(Mux(e.last, one, u_hi)),
                                 self.u_lo.eq(Mux(e.last, one, u_lo))]
                    weights = lm.rotate([d[f"w{lay}_{b}"] for b in range(P)], lane)
                    m.d.comb += [self.w[k].eq(Mux(e.last, lm.lane(d[f"b{lay}"], k, wb, True),
                                                  weights[k])) for k in range(P)]
        return m
