"""A relaxation pipeline's multiply-accumulate: stage 3 forms an entry's products,
stage 3 + ``mul_latency`` hands them to the accumulators with the row constant.

It reads what its pipeline's addressing (hw/core/relax_address.py) asked for, by the
same port names, a cycle after the memories answer (registered once: weight banks are
many block RAMs behind a mux).  Per layer the plan's visiting order:

* rows: entry t of neuron i multiplies word t of W_{lay-1} row i (bank b holds the
  weight of lane (b - i) mod P: the states are rotated to meet it) and word t of
  W_lay column i, P products a direction, summed into accumulator lane 0;
* groups: entry t of group i multiplies input t by the group's P weights of each
  direction (rotated from their banks to lanes), lane k's products into accumulator k.

Entries past a direction's length (the shorter direction, or a split entry's second
half) add 0.  The row constant is the input drive (layer 1) or the bias << act_frac;
on the output layer the unit also hands the writeback its own states s_L, for the
nudge."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, ShapeLike, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..layout import acc_width
from ..plan import HardwarePlan
from .accumulators import AccumulateSignature
from .lanes import Lanes
from .multipliers import MultiplierSignature
from .multipliers import staged as staged_product
from .relax_address import address_ports, directions, half_tag
from .relax_issue import STAGES, entry_layout
from .shapes import multiplier_shape


def data_shapes(plan: HardwarePlan, layers: list[int]) -> dict[str, ShapeLike]:
    """The registered read data the unit takes, by ``address_ports`` name."""
    cfg = plan.cfg
    P, shapes = cfg.lanes, {}
    for name, spec in address_ports(plan, layers).items():
        kind = spec[0]
        shapes[name] = (signed(cfg.weight_bits) if kind == "w" else
                        unsigned(P * cfg.weight_bits) if kind == "b" else
                        unsigned(plan.memory("drive")[1]) if kind == "drive" else
                        unsigned(P * cfg.act_bits))
    return shapes


class RelaxMac(wiring.Component):
    """One pipeline over ``layers``.  ``entries``: its issue's stages; ``data``: the
    read data by port name (``data_shapes``); ``mul``: the 2P multipliers it borrows
    on the shared plan (else it multiplies on its own); ``acc``: the accumulators'
    operands; ``own``: s_L's lanes at the accumulate stage, for the writeback."""

    def __init__(self, plan: HardwarePlan, layers: list[int]):
        cfg = plan.cfg
        self.plan, self.cfg, self.layers = plan, cfg, layers
        P = cfg.lanes
        members = {
            "entries": In(data.ArrayLayout(entry_layout(cfg.layers), STAGES)),
            "data": In(data.StructLayout(data_shapes(plan, layers))),
            "acc": Out(AccumulateSignature(P, acc_width(cfg), both=True)),
            "own": Out(data.ArrayLayout(unsigned(cfg.act_bits), P)),
        }
        if plan.shared_mul:
            members["mul"] = Out(MultiplierSignature(2 * P, *multiplier_shape(cfg)))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        for lay in self.layers:
            v = self.plan.relax_visits[lay]
            if v.order == "rows":
                self._rows(m, lay, v.input_words, v.entries)
            else:
                self._groups(m, lay, v.inputs, v.entries)
        return m

    # -- what both orders share

    def _mul(self, m: Module, q: int, a, b):
        """a * b on borrowed multiplier q (shared plan), else on one of its own."""
        if not self.plan.shared_mul:
            return a * b
        m.d.comb += [self.mul.a[q].eq(a), self.mul.b[q].eq(b)]
        return self.mul.p[q]

    def _staged(self, m: Module, v, name: str):
        return staged_product(m, v, self.plan.mul_latency, name)

    def _halves(self, lay: int) -> list[tuple[bool, list, object, int]]:
        """Per MAC direction and half of its entries: (bottom-up, the P weights read,
        the state word read, the half's first entry offset)."""
        plan, P = self.plan, self.cfg.lanes
        nt = plan.relax_visits[lay].entries
        out = []
        for fwd, li, sk in directions(plan, lay):
            for h in range(plan.relax_halves[lay]):
                tag = half_tag(lay, h)
                out.append((fwd, [self.data[f"w{li}_{b}{tag}"] for b in range(P)],
                            self.data[f"s{sk}{tag}"], h * nt))
        return out

    def _const(self, lay: int, k):
        """Lane k's row constant: the input drive (layer 1) or the bias."""
        cfg, lm = self.cfg, Lanes(self.cfg.lanes)
        if lay == 1:
            return lm.lane(self.data.drive, k, acc_width(cfg), True)
        return lm.lane(self.data[f"b{lay - 1}"], k, cfg.weight_bits, True) << cfg.act_frac

    def _own(self):
        return self.data["own" if self.plan.odd_even else f"s{self.cfg.n_layers}"]

    # -- the two visiting orders

    def _rows(self, m: Module, lay: int, sizes: tuple[int, int], nt: int) -> None:
        cfg, P, lm = self.cfg, self.cfg.lanes, Lanes(self.cfg.lanes)
        ab, L = cfg.act_bits, cfg.n_layers
        p3, pa = self.entries[2], self.entries[2 + self.plan.mul_latency]
        sums = []  # (P products, entries of their half), at most two
        with m.If(p3.lay == lay):
            const = self._staged(m, self._const(lay, lm.lo(p3.i)), f"r{lay}_const")
            own = (self._staged(m, lm.lane(self._own(), lm.lo(p3.i), ab), f"r{lay}_own")
                   if lay == L else 0)
            for fwd, wq, sd, off in self._halves(lay):
                left = sizes[0 if fwd else 1] - off
                if left <= 0:
                    continue
                # entry b: the state that meets bank b's weight, lane (b - i) mod P
                states = lm.rotate([lm.lane(sd, k, ab) for k in range(P)], lm.lo(p3.i),
                                   back=True)
                tag = ("f" if fwd else "b") + (f"h{off // nt}" if off else "")
                sums.append(([self._staged(m, self._mul(m, b + (0 if fwd else P), wq[b], sv),
                                           f"r{lay}_{tag}{b}")
                              for b, sv in enumerate(states)], left))
        with m.If(pa.lay == lay):
            acc = self.acc
            m.d.comb += [acc.valid.eq(pa.v), acc.first.eq(pa.first), acc.const[0].eq(const)]
            for r, (prods, left) in zip((acc.fwd[0], acc.bwd[0]), sums, strict=False):
                m.d.comb += r.eq(Mux(pa.t < left, sum(prods), 0) if left < nt
                                 else sum(prods))
            if lay == L:
                m.d.comb += self.own[0].eq(own)

    def _groups(self, m: Module, lay: int, sizes: tuple[int, int], nt: int) -> None:
        cfg, P, lm = self.cfg, self.cfg.lanes, Lanes(self.cfg.lanes)
        ab, L = cfg.act_bits, cfg.n_layers
        p3, pa = self.entries[2], self.entries[2 + self.plan.mul_latency]
        prods: list[list] = [[] for _ in range(P)]
        with m.If(p3.lay == lay):
            const = [self._staged(m, self._const(lay, k), f"g{lay}_const{k}")
                     for k in range(P)]
            own = ([self._staged(m, lm.lane(self._own(), k, ab), f"g{lay}_own{k}")
                    for k in range(P)] if lay == L else [])
            for fwd, wq, sd, off in self._halves(lay):
                left = sizes[0 if fwd else 1] - off
                if left <= 0:
                    continue
                tt = p3.t + off if off else p3.t
                ws = lm.rotate(wq, lm.lo(tt))  # lane k's weight: bank (k + t) mod P
                tag = ("f" if fwd else "b") + (f"h{off // nt}" if off else "")
                for k in range(P):
                    prods[k].append((self._staged(
                        m, self._mul(m, k + (0 if fwd else P), ws[k], lm.lane(sd, lm.lo(tt), ab)),
                        f"g{lay}_{tag}{k}"), left))
        with m.If(pa.lay == lay):
            acc = self.acc
            m.d.comb += [acc.valid.eq(pa.v), acc.first.eq(pa.first)]
            for k in range(P):
                terms = [Mux(pa.t < n_, v, 0) if n_ < nt else v for v, n_ in prods[k]]
                m.d.comb += [acc.const[k].eq(const[k])] + [
                    r.eq(v) for r, v in zip((acc.fwd[k], acc.bwd[k]), terms, strict=False)]
                if lay == L:
                    m.d.comb += self.own[k].eq(own[k])
