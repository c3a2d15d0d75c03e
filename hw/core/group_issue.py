"""The entry issue of a pass over row groups (the input drive and each layer's update):
P rows at a time, entry t = 0 opens group i, t = 1.. are its columns, t = ``last_t``
closes it (the bias); one entry a cycle, the stage registers u1..u6 behind it.

Each entry carries its group's first weight address (``gb`` = i x the layer's words
per group), so the datapath's stage-1 address is one addition of registers and the
column (timing).  After the last entry the pass drains: ``drained`` when no entry is
left in the stages that write (u6 too where the predrive's correction writes there),
and the counters are back at 0 for the next pass."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

STAGES = 6


def group_entry_layout(groups: int, depth: int) -> data.StructLayout:
    """An entry: valid, first (the group's opening) and last (its bias), group g and
    its first weight's address gb."""
    return data.StructLayout({"v": 1, "first": 1, "last": 1, "g": range(groups),
                              "gb": range(depth + 1)})


class GroupIssue(wiring.Component):
    """``passes``: per pass index (``layer``: the weight layer, 0 the drive's too),
    (groups, words per group); ``drain_u6``: the pass drains only once u6 is empty."""

    def __init__(self, passes: list[tuple[int, int]], depth: int, counter_bits: tuple[int, int],
                 drain_u6: bool):
        self.passes, self.drain_u6 = passes, drain_u6
        self.i_bits, t_bits = counter_bits
        self.entry = group_entry_layout(max(g for g, _ in passes), depth)
        super().__init__({
            "run": In(1), "layer": In(range(max(len(passes), 2))), "last_t": In(t_bits),
            "gate": In(1),  # low: hold issue for a cycle
            "t": Out(t_bits),  # the entry issuing
            "t1": Out(t_bits),  # t - 1 at stage 1: the column of a direct pass
            "drained": Out(1),
            "st": Out(data.ArrayLayout(self.entry, STAGES)),
        })

    def stage(self, k: int):
        """Stage k (1..6)."""
        return self.st[k - 1]

    def elaborate(self, platform):
        m = Module()
        st, t, last_t = self.st, self.t, self.last_t
        u1 = st[0]
        i = Signal(self.i_bits, name="i")
        fin = Signal(name="fin")  # the pass's last entry has issued
        issue = Signal(name="issue")
        last_group, gb = Signal(name="last_group"), Signal.like(u1.gb, name="gb")
        m.d.comb += issue.eq(~fin & self.gate)
        with m.Switch(self.layer):
            for k, (groups, words) in enumerate(self.passes):
                with m.Case(k):
                    m.d.comb += [last_group.eq(i == groups - 1), gb.eq(i * words)]
        busy = [st[k].v for k in range(STAGES if self.drain_u6 else STAGES - 1)]
        m.d.comb += self.drained.eq(fin & ~Cat(*busy).any())
        with m.If(self.run):
            with m.If(issue):
                with m.If(t != last_t):
                    m.d.sync += t.eq(t + 1)
                with m.Elif(~last_group):
                    m.d.sync += [i.eq(i + 1), t.eq(0)]
                with m.Else():
                    m.d.sync += fin.eq(1)
            m.d.sync += [u1.v.eq(issue), u1.first.eq(t == 0), u1.last.eq(t == last_t),
                         u1.g.eq(i), u1.gb.eq(gb), self.t1.eq(t - 1)]
            m.d.sync += [st[k].eq(st[k - 1]) for k in range(1, STAGES)]
            with m.If(self.drained):
                m.d.sync += [i.eq(0), t.eq(0), fin.eq(0)]
        return m

