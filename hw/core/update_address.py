"""An update pass's read addresses, from the group issue's entries
(hw/core/group_issue.py): per weight layer, what entry t of row group g reads.

* stage 1 (u1, its column c): bank b's weight at column c (the skewed banks hold lane
  (b - c) mod P's there, hw/layout.py), the column's stochastic-rounding value (the
  bias's, after the last column, at the bias entry), and the column's input state u_c,
  hi and lo (the input pixel x_c for W0);
* stage 2 (u2): the group's output states v, hi and lo, its biases and its row
  stochastic-rounding values.

"hi" and "lo" are the two phases the update contrasts, per variant (hw/plan.py,
``HardwarePlan.update_contrast``)."""

from __future__ import annotations

from amaranth.hdl import Module, Mux
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..layout import rand_offsets, weight_layouts, words
from ..plan import HardwarePlan
from .lanes import Lanes


def update_ports(plan: HardwarePlan) -> list[str]:
    """The read ports the update addresses, by name: per weight layer ``lay``,
    ``w<lay>_<b>`` (bank b), ``cr<lay>`` (column values), ``post_hi<lay>``,
    ``post_lo<lay>`` (the group's states), ``b<lay>`` (biases), ``ar<lay>`` (row
    values) and ``pre_hi<lay>``, ``pre_lo<lay>`` (the column's states; ``x`` for W0)."""
    cfg = plan.cfg
    names = []
    for lay in range(cfg.n_layers):
        names += [f"w{lay}_{b}" for b in range(cfg.lanes)]
        names += [f"cr{lay}", f"post_hi{lay}", f"post_lo{lay}", f"b{lay}", f"ar{lay}"]
        names += ["x"] if lay == 0 else [f"pre_hi{lay}", f"pre_lo{lay}"]
    return names


class UpdateAddress(wiring.Component):
    """``widths``: each port of ``update_ports`` and its address width.  ``entries``:
    the group issue's stages 1 and 2; ``column``: stage 1's column (a direct pass's),
    ``pixel_column``: the same for W0 (from the non-zero pixel list); ``pixel_base``:
    the pixel bank the core reads; ``cur``: the state bank holding the last step."""

    def __init__(self, plan: HardwarePlan, entry: data.StructLayout, column_bits: int,
                 widths: dict[str, int]):
        self.plan = plan
        super().__init__({
            "entries": In(data.ArrayLayout(entry, 2)),
            "column": In(column_bits), "pixel_column": In(column_bits),
            "pixel_base": In(widths["x"]), "cur": In(1),
            "addr": Out(data.StructLayout(widths)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.plan.cfg
        P, n, lm, geo = cfg.lanes, cfg.layers, Lanes(cfg.lanes), weight_layouts(cfg)
        a_off, c_off = rand_offsets(cfg)
        u1, u2, a, cur = self.entries[0], self.entries[1], self.addr, self.cur
        def offsets(k: int) -> tuple:
            """(hi, lo) base words of state memory k (layer k + 1's states)."""
            nw = words(n[k + 1], P)
            base = {"cur": cur * nw, "other": ~cur * nw, "free": 0, "plus": 0}
            return tuple(base[where] for where in self.plan.update_contrast)

        for lay in range(cfg.n_layers):
            c = self.pixel_column if lay == 0 else self.column
            m.d.comb += [a[f"w{lay}_{b}"].eq(lm.group_addr(geo[lay].words, b, u1.gb, c))
                         for b in range(P)]
            m.d.comb += a[f"cr{lay}"].eq(c_off[lay] + Mux(u1.last, n[lay], c))
            if lay == 0:
                m.d.comb += a.x.eq(self.pixel_base + c)
            else:
                hi, lo = offsets(lay - 1)
                m.d.comb += [a[f"pre_hi{lay}"].eq(hi + lm.hi(c)),
                             a[f"pre_lo{lay}"].eq(lo + lm.hi(c))]
            hi, lo = offsets(lay)
            m.d.comb += [a[f"post_hi{lay}"].eq(hi + u2.g), a[f"post_lo{lay}"].eq(lo + u2.g),
                         a[f"b{lay}"].eq(u2.g), a[f"ar{lay}"].eq(a_off[lay] + u2.g)]
        return m
