"""A relaxation pipeline's stage 1: the read addresses of the entry being issued.

Per layer the plan's visiting order (hw/plan.py ``relax_visits``) fixes what entry t of
row (or row group) i reads, in each MAC direction and each half of its entries:

* rows, bottom-up: word t of W_{lay-1} row i in every bank, and word t of s_{lay-1};
  top-down: W_lay column i, P rows a word (bank b at its skew), and word t of s_{lay+1};
* groups, bottom-up: column t of the P rows of group i (each bank at its skew), and the
  word of s_{lay-1} holding element t; top-down: row t of W_lay at the group's word in
  every bank, and the word of s_{lay+1} holding element t;

and, for both, the row constant's word (the input drive for layer 1, else the bias)
and on the output layer its own states' word (the nudge's s_L).  States are read from
bank ``cur`` (the previous step's)."""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..layout import weight_layouts, words
from ..plan import HardwarePlan
from .lanes import Lanes
from .relax_issue import entry_layout


def directions(plan: HardwarePlan, lay: int) -> list[tuple[bool, int, int]]:
    """Layer ``lay``'s MAC directions as (bottom-up, weight layer, state layer read)."""
    v = plan.relax_visits[lay]
    sizes = v.input_words if v.order == "rows" else v.inputs
    return [(fwd, lay - 1 if fwd else lay, lay - 1 if fwd else lay + 1)
            for fwd, size in zip((True, False), sizes, strict=True) if size]


def half_tag(lay: int, h: int) -> str:
    """A port name's suffix for half h of layer ``lay``'s entries (their own readers)."""
    return f"_half{lay}" if h else ""


def address_ports(plan: HardwarePlan, layers: list[int]) -> dict[str, tuple]:
    """The read ports a pipeline over ``layers`` addresses, by name: ``w<li>_<b>`` and
    ``w<li>_<b>_half<lay>`` (bank b of W_li: ("w", li, b, lay or None)), ``s<k>`` and
    ``s<k>_half<lay>`` (layer k's states: ("s", k, lay or None)), ``b<li>`` (a bias:
    ("b", li)), ``drive`` and, where it has a reader of its own (odd/even pipelines),
    ``own`` (the output layer's states, for the nudge; else they come through
    ``s<L>``)."""
    cfg, keys = plan.cfg, {}
    for lay in layers:
        for _, li, sk in directions(plan, lay):
            for h in range(plan.relax_halves[lay]):
                half = lay if h else None
                keys.update({f"w{li}_{b}{half_tag(lay, h)}": ("w", li, b, half)
                             for b in range(cfg.lanes)})
                keys[f"s{sk}{half_tag(lay, h)}"] = ("s", sk, half)
        keys["drive" if lay == 1 else f"b{lay - 1}"] = ("drive",) if lay == 1 else ("b", lay - 1)
        if lay == cfg.n_layers:
            keys["own" if plan.odd_even else f"s{lay}"] = ("own",) if plan.odd_even else \
                ("s", lay, None)
    return keys


class RelaxAddress(wiring.Component):
    """``widths``: each port of ``address_ports`` and its address width.  ``entry``:
    the pipeline's stage 1; ``drive_base``: the drive bank's offset (the predrive
    fills the other)."""

    def __init__(self, plan: HardwarePlan, layers: list[int], widths: dict[str, int]):
        self.plan, self.layers = plan, layers
        cfg = plan.cfg
        members = {"entry": In(entry_layout(cfg.layers)), "cur": In(1),
                   "drive_base": In(widths.get("drive", 1))}
        members["addr"] = Out(data.StructLayout(widths))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        plan, cfg = self.plan, self.plan.cfg
        P, lm, geo, e, cur = cfg.lanes, Lanes(cfg.lanes), weight_layouts(cfg), self.entry, self.cur
        nw = [words(k, P) for k in cfg.layers]
        a = self.addr
        for lay in self.layers:
            v = plan.relax_visits[lay]
            rows, nt = v.order == "rows", v.entries
            with m.If(e.lay == lay):
                word = lm.hi(e.i) if rows else e.i
                if lay == 1:
                    m.d.comb += a.drive.eq(self.drive_base + word)
                else:
                    m.d.comb += a[f"b{lay - 1}"].eq(word)
                if lay == cfg.n_layers:
                    own = "own" if plan.odd_even else f"s{lay}"
                    m.d.comb += a[own].eq(cur * nw[lay] + word)
                for fwd, li, sk in directions(plan, lay):
                    g = geo[li]
                    for h in range(plan.relax_halves[lay]):
                        tt = e.t + h * nt  # the halves take consecutive runs of entries
                        tag = half_tag(lay, h)
                        for b in range(P):
                            if rows and fwd:  # along row i
                                w = e.i * g.words + tt
                            elif rows:  # down column i
                                w = (tt * (P * g.words) + lm.skew_rows(g.words, b, lm.lo(e.i))
                                     + lm.hi(e.i))
                            elif fwd:  # column tt of group i
                                w = lm.group_addr(g.words, b, e.i * (P * g.words), tt)
                            else:  # row tt, group i's word
                                w = tt * g.words + e.i
                            m.d.comb += a[f"w{li}_{b}{tag}"].eq(w)
                        s = cur * nw[sk] + (tt if rows else lm.hi(tt))
                        m.d.comb += a[f"s{sk}{tag}"].eq(s)
        return m
