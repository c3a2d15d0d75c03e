"""One layer's states: the relaxation's two banks (``read``/``write``; bank ``cur`` is
read while the other is written, so a step is a true Jacobi step in any visiting
order), the free phase's end states the update and the host read (``free_*``) and, with
the symmetric nudge, the +beta phase's end states kept while the -beta phase runs
(``plus_*``).  Words pack P states, a write enable per lane.

Readers beyond the first are named as the plan's memory list names the copies they
cost (``slo1``, ``s2_own``, ``s2_half1``): ``lo`` (C-EP reads the other bank beside
this one), ``own`` (the output layer's nudge, in the second pipeline) and ``halfN``
(layer N's second half of the entries)."""

from __future__ import annotations

from amaranth.hdl import Module, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from ..plan import HardwarePlan
from .mem_ports import NamedReaders, ReadSignature, WriteSignature, memory_behind


def extra_state_readers(plan: HardwarePlan, layer: int) -> list[str]:
    """Layer ``layer``'s (1..L) state readers beyond the first, in the plan's order."""
    lo = any(name == f"slo{layer}" for name, _, _ in plan.memories())
    return (["lo"] if lo else []) + plan.copies(f"s{layer}_")


class StateStore(NamedReaders, wiring.Component):
    """Layer ``layer`` (1..L); ``port(name)``: an extra reader (``extra_state_readers``)."""

    def __init__(self, plan: HardwarePlan, layer: int):
        cfg = plan.cfg
        self.layer = layer
        self.lanes = cfg.lanes
        self.lane_bits = cfg.act_bits
        self.depth, width = plan.memory(f"s{layer}")
        self.end_depth, _ = plan.memory(f"sf{layer}")
        self.symmetric = cfg.nudge == "symmetric"
        self.extras = extra_state_readers(plan, layer)
        word, en = unsigned(width), self.lanes if self.lanes > 1 else 1
        members = {"read": Out(ReadSignature(self.depth, word)),
                   "write": Out(WriteSignature(self.depth, word, en))}
        members.update(self.reader_members(self.extras, self.depth, word))
        ends = ["free"] + (["plus"] if self.symmetric else [])
        for end in ends:
            members[f"{end}_read"] = Out(ReadSignature(self.end_depth, word))
            members[f"{end}_write"] = Out(WriteSignature(self.end_depth, word, en))
        self.ends = ends
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        granularity = self.lane_bits if self.lanes > 1 else None
        word = self.read.data.shape()
        memory_behind(m, "banks", word, self.depth, self.write, self.readers(), granularity)
        for end in self.ends:
            memory_behind(m, end, word, self.end_depth, getattr(self, f"{end}_write"),
                          [getattr(self, f"{end}_read")], granularity)
        return m
