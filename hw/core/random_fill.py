"""Stochastic rounding's random values, drawn before the update needs them.

The update of layer l rounds each product k_i * v_j with a random offset a_i + c_j (the
golden model's ``GoldenModel._draw``): per layer, n_out row values a_i, then n_in column
values and the bias's.  Drawing them takes a cycle each, so they are drawn while the
sample loads and relaxes, into memories of their own (``rand_a`` packed P to a word for
the row loops, ``rand_c`` one per column), and the update starts without waiting unless
the fill is longer than the relaxation.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from epfpga.model.numerics import LFSR_MASK, lfsr_seed

from ..layout import rand_offsets
from ..plan import HardwarePlan


class SeedSignature(wiring.Signature):
    """A host write of one layer's LFSR state (between samples)."""

    def __init__(self, n_layers: int):
        super().__init__({"layer": Out(range(max(n_layers, 2))), "data": Out(32),
                          "en": Out(1)})


class RandomFill(wiring.Component):
    """Every layer's LFSR, stepped exactly as the golden model's: ``start`` (one cycle)
    draws all layers' values in layer order, ``busy`` while it runs.  ``state`` is each
    LFSR's current value, for the host's reads; ``seed`` sets one.  Its write ports are
    shaped like the plan's ``rand_a`` and ``rand_c``."""

    def __init__(self, plan: HardwarePlan):
        cfg = self.cfg = plan.cfg
        (a_depth, a_width), (c_depth, c_width) = plan.memory("rand_a"), plan.memory("rand_c")
        lanes = cfg.lanes
        super().__init__({
            "start": In(1),
            "busy": Out(1),
            "seed": In(SeedSignature(cfg.n_layers)),
            "state": Out(data.ArrayLayout(32, cfg.n_layers)),
            "a_write": In(WritePort.Signature(
                addr_width=ceil_log2(a_depth), shape=unsigned(a_width),
                granularity=cfg.sr_bits if lanes > 1 else None)),
            "c_write": In(WritePort.Signature(addr_width=ceil_log2(c_depth),
                                              shape=unsigned(c_width))),
        })

    def elaborate(self, platform):
        cfg = self.cfg
        m = Module()
        n, L, P = cfg.layers, cfg.n_layers, cfg.lanes
        lg = P.bit_length() - 1
        mask = (1 << cfg.sr_bits) - 1
        a_off, c_off = rand_offsets(cfg)
        lfsr = [Signal(32, init=lfsr_seed(cfg.seed, layer), name=f"lfsr{layer}")
                for layer in range(L)]
        m.d.comb += [self.state[layer].eq(lfsr[layer]) for layer in range(L)]

        layer_ = Signal(range(max(L, 2)))
        t = Signal(range(max(n[k + 1] + n[k] for k in range(L)) + 1))
        value = Signal(cfg.sr_bits)
        with m.If(self.busy):
            with m.Switch(layer_):
                for lay in range(L):
                    n_out, n_in = n[lay + 1], n[lay]
                    with m.Case(lay):
                        stepped = Signal(32, name=f"lfsr_next{lay}")
                        m.d.comb += [stepped.eq((lfsr[lay] >> 1)
                                                ^ Mux(lfsr[lay][0], LFSR_MASK, 0)),
                                     value.eq(stepped & mask)]
                        m.d.sync += lfsr[lay].eq(stepped)
                        with m.If(t < n_out):  # a row value, into its lane of a word
                            m.d.comb += [
                                self.a_write.addr.eq(a_off[lay] + (t >> lg)),
                                self.a_write.data.eq(Cat(*([value] * P))),
                                self.a_write.en.eq(Const(1, P) << t[:lg] if P > 1 else 1)]
                        with m.Else():  # a column value (the bias's last)
                            m.d.comb += [self.c_write.addr.eq(t + (c_off[lay] - n_out)),
                                         self.c_write.data.eq(value), self.c_write.en.eq(1)]
                        with m.If(t == n_out + n_in):
                            m.d.sync += t.eq(0)
                            if lay + 1 < L:
                                m.d.sync += layer_.eq(lay + 1)
                            else:
                                m.d.sync += [layer_.eq(0), self.busy.eq(0)]
                        with m.Else():
                            m.d.sync += t.eq(t + 1)
        with m.If(self.start):
            m.d.sync += self.busy.eq(1)
        with m.If(self.seed.en):
            for lay in range(L):
                with m.If(self.seed.layer == lay):
                    m.d.sync += lfsr[lay].eq(self.seed.data)
        return m
