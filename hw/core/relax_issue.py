"""A relaxation pipeline's entry issue: one entry a cycle, (row or row group i, entry
t) of each of its layers in turn, a step's layers back to back, and its stage
registers st[1..5].

The step's last entry sets ``hold``; the next step's first entry may issue in the cycle
the controller sees the last one written (``resume``: the step ends and the phase goes
on), so the steps of a phase follow each other without a bubble.  The stages move only
while ``run`` (the controller relaxes): outside the relaxation they keep what they hold."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

STAGES = 5


def entry_layout(layer_sizes: tuple[int, ...]) -> data.StructLayout:
    """An entry: valid, row (or group) i, entry t, first and last of its row, its
    layer and whether that is the output layer."""
    n, L = layer_sizes, len(layer_sizes) - 1
    return data.StructLayout({"v": 1, "i": range(max(max(n[1:]), 2)), "t": range(max(n)),
                              "first": 1, "last": 1, "lay": range(L + 1), "out": 1})


class RelaxIssue(wiring.Component):
    """``layers``: per layer this pipeline relaxes, (layer, rows or groups, entries per
    row), in issue order; ``counter_bits``: (i, t) counter widths."""

    def __init__(self, layer_sizes: tuple[int, ...], layers: list[tuple[int, int, int]],
                 counter_bits: tuple[int, int]):
        self.n_layers = len(layer_sizes) - 1
        self.layers, self.counter_bits = layers, counter_bits
        self.entry = entry_layout(layer_sizes)
        super().__init__({"run": In(1), "restart": In(1), "resume": In(1),
                          "hold": Out(1),
                          "st": Out(data.ArrayLayout(self.entry, STAGES))})

    def stage(self, k: int):
        """Stage k (1..5)."""
        return self.st[k - 1]

    def elaborate(self, platform):
        m = Module()
        L, layers, st = self.n_layers, self.layers, self.st
        first_layer = layers[0][0]
        rl = Signal(range(1, L + 2), init=first_layer, name="layer")  # the layer issuing
        i_, t_ = Signal(self.counter_bits[0], name="i"), Signal(self.counter_bits[1], name="t")
        p1 = st[0]
        with m.If(self.run):
            m.d.sync += [p1.v.eq(0)] + [st[k].eq(st[k - 1]) for k in range(1, STAGES)]
            with m.If(self.restart):
                m.d.sync += [self.hold.eq(0), rl.eq(first_layer)]
            with m.Switch(rl):
                for idx, (lay, n_iter, nt) in enumerate(layers):
                    with m.Case(lay):
                        go = (~self.hold | self.resume) if idx == 0 else ~self.hold
                        with m.If(go):
                            m.d.sync += [p1.v.eq(1), p1.i.eq(i_), p1.t.eq(t_),
                                         p1.first.eq(t_ == 0), p1.last.eq(t_ == nt - 1),
                                         p1.lay.eq(lay), p1.out.eq(lay == L)]
                            with m.If(t_ != nt - 1):
                                m.d.sync += t_.eq(t_ + 1)
                            with m.Elif(i_ != n_iter - 1):
                                m.d.sync += [i_.eq(i_ + 1), t_.eq(0)]
                            with m.Else():
                                m.d.sync += [i_.eq(0), t_.eq(0)]
                                if idx == len(layers) - 1:
                                    m.d.sync += [self.hold.eq(1), rl.eq(first_layer)]
                                else:
                                    m.d.sync += rl.eq(layers[idx + 1][0])
        return m
