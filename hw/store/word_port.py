"""The store's word port, shaped like LiteDRAM's native user port, so the SDRAM
controller connects to it wire for wire and a block-RAM memory can stand in for it.

One command per word: ``cmd`` (we, addr) and, for a write, one ``wdata`` beat (data and
byte enables).  Read data comes back in command order on ``rdata`` some cycles later and
cannot wait (LiteDRAM's controller does not stall its read path), so ``rdata`` is
``always_ready`` and a reader issues a read only when it has room for the word.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out


class WordPortSignature(wiring.Signature):
    """The requester's side (it drives ``cmd`` and ``wdata``)."""

    def __init__(self, addr_width: int, data_width: int = 16):
        self.addr_width, self.data_width = addr_width, data_width
        super().__init__({
            "cmd": Out(stream.Signature(data.StructLayout({"we": 1, "addr": addr_width}))),
            "wdata": Out(stream.Signature(data.StructLayout({
                "data": data_width, "we": data_width // 8}))),
            "rdata": In(stream.Signature(data_width, always_ready=True)),
        })


class MemoryWordPort(wiring.Component):
    """A word port on block RAM: ``words`` words, read data ``latency`` cycles after its
    command (at least 1), as an SDRAM controller answers some cycles later.  A write's
    data is taken after its command, as LiteDRAM takes it."""

    def __init__(self, words: int, data_width: int = 16, latency: int = 1):
        if latency < 1:
            raise ValueError("a memory answers a cycle after the command at the earliest")
        self.words, self.latency = words, latency
        self.data_width = data_width
        self.addr_width = (words - 1).bit_length()
        super().__init__({"port": In(WordPortSignature(self.addr_width, data_width))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = Memory(shape=self.data_width, depth=self.words, init=[])
        rd = mem.read_port()
        wr = mem.write_port(granularity=8)
        cmd, wdata = self.port.cmd, self.port.wdata
        # a write command is held until its data comes; nothing else is taken meanwhile
        pending = Signal()
        waddr = Signal.like(cmd.payload.addr)
        take = cmd.valid & ~pending
        m.d.comb += [cmd.ready.eq(~pending), wdata.ready.eq(pending),
                     rd.addr.eq(cmd.payload.addr), wr.addr.eq(waddr),
                     wr.data.eq(wdata.payload.data),
                     wr.en.eq(wdata.payload.we & (wdata.valid & pending)
                              .replicate(self.data_width // 8))]
        with m.If(take & cmd.payload.we):
            m.d.sync += [pending.eq(1), waddr.eq(cmd.payload.addr)]
        with m.If(wdata.valid & pending):
            m.d.sync += pending.eq(0)
        word = rd.data
        valid = Signal(name="rvalid_0")
        m.d.sync += valid.eq(take & ~cmd.payload.we)
        for k in range(1, self.latency):
            v, w = Signal(name=f"rvalid_{k}"), Signal(self.data_width, name=f"rword_{k}")
            m.d.sync += [v.eq(valid), w.eq(word)]
            valid, word = v, w
        m.d.comb += [self.port.rdata.valid.eq(valid), self.port.rdata.payload.eq(word)]
        return m


class WordPortSelect(wiring.Component):
    """Requesters ``a`` and ``b`` share one port, ``select`` picking whose commands go
    (the owner switches only when both are idle, with no read in flight)."""

    def __init__(self, addr_width: int, data_width: int = 16):
        sig = WordPortSignature(addr_width, data_width)
        super().__init__({"a": In(sig), "b": In(sig), "select": In(1), "port": Out(sig)})

    def elaborate(self, platform):
        m = Module()
        for name in ("cmd", "wdata"):
            dst = getattr(self.port, name)
            for who, src in ((0, getattr(self.a, name)), (1, getattr(self.b, name))):
                mine = self.select == who
                m.d.comb += src.ready.eq(dst.ready & mine)
                with m.If(mine):
                    m.d.comb += [dst.valid.eq(src.valid), dst.payload.eq(src.payload)]
        for src in (self.a, self.b):
            m.d.comb += [src.rdata.valid.eq(self.port.rdata.valid),
                         src.rdata.payload.eq(self.port.rdata.payload)]
        return m
