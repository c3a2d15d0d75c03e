"""Every layer's states rewritten in bank ``cur`` before a relaxation starts, a word per
layer per cycle: to 0 before the free phase (while the pixels load, or in a phase of
its own), and, with the symmetric nudge, back to the free end states before the -beta
phase.  The phases own the word counter (it is shared with the other phases); this unit
turns its word into each layer's write."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..layout import words
from ..plan import HardwarePlan
from .mem_ports import ReadSignature, WriteSignature


class StateClear(wiring.Component):
    """``zero``: write 0 at ``word`` of bank ``cur``; ``copy``: write there the free
    states' word that ``free`` read the cycle before (at ``word``: the phase reads and
    writes in turns).  ``last``: ``word`` is the longest layer's last.  ``writes`` and
    ``free``: per layer k (1..L), ``s<k>`` shaped as its state store's ports."""

    def __init__(self, plan: HardwarePlan, word_bits: int):
        cfg = self.cfg = plan.cfg
        P = cfg.lanes
        self.words = [words(n, P) for n in cfg.layers[1:]]
        shape = unsigned(P * cfg.act_bits)
        members = {
            "word": In(word_bits), "cur": In(1), "zero": In(1), "last": Out(1),
            "writes": Out(wiring.Signature({
                f"s{k}": In(WriteSignature(2 * nw, shape, P if P > 1 else 1))
                for k, nw in enumerate(self.words, 1)})),
        }
        self.symmetric = cfg.nudge == "symmetric"
        if self.symmetric:
            members["copy"] = In(1)
            members["free"] = Out(wiring.Signature({
                f"s{k}": In(ReadSignature(nw, shape)) for k, nw in enumerate(self.words, 1)}))
        super().__init__(members)

    def write(self, k: int) -> wiring.PureInterface:
        return getattr(self.writes, f"s{k}")

    def free_port(self, k: int) -> wiring.PureInterface:
        return getattr(self.free, f"s{k}")

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.last.eq(self.word == max(self.words) - 1)
        copy = self.copy if self.symmetric else 0
        for k, nw in enumerate(self.words, 1):
            w = self.write(k)
            free = self.free_port(k) if self.symmetric else None
            if free is not None:
                m.d.comb += free.addr.eq(self.word)
            with m.If((self.zero | copy) & (self.word < nw)):
                m.d.comb += [w.addr.eq(self.cur * nw + self.word), w.en.eq(-1),
                             w.data.eq(Mux(copy, free.data, 0) if free is not None else 0)]
        return m
