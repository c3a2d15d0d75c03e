"""The receive store: a ring of checked frames between the parser and the dispatcher.

The host keeps several frames in flight and a UART cannot pause it, so the frames that
arrive while one executes must be kept somewhere: here, whole, each as
``cmd, seq (2), len (2), payload``.  The parser writes a frame at the free end and makes
it visible only once both CRCs hold; the dispatcher reads the oldest and frees it when
answered.  INFO advertises the ring's size as the host's window.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from epfpga.host.protocol import MAX_PAYLOAD, STORE_BYTES, STORE_OVERHEAD


def write_signature() -> wiring.Signature:
    """The parser's side: ``start`` a frame at the free end, ``en`` appends ``data``,
    ``commit`` makes the frame visible (a frame never committed is overwritten by the
    next ``start``); ``full``: no room for another byte now."""
    return wiring.Signature({"start": Out(1), "data": Out(8), "en": Out(1),
                             "commit": Out(1), "full": In(1)})


def read_signature() -> wiring.Signature:
    """The dispatcher's side: the oldest checked frame's header while ``valid``, its
    payload byte ``addr`` on ``data`` one clock later, and ``done`` to free it."""
    return wiring.Signature({
        "valid": Out(1), "cmd": Out(8), "seq": Out(16), "length": Out(16),
        "addr": In(range(MAX_PAYLOAD + 1)), "data": Out(8), "done": In(1),
    })


class FrameStore(wiring.Component):
    def __init__(self, depth: int = STORE_BYTES):
        if depth & (depth - 1) or depth < MAX_PAYLOAD + STORE_OVERHEAD:
            raise ValueError(f"the store must be a power of two that holds a whole frame "
                             f"({MAX_PAYLOAD + STORE_OVERHEAD} bytes), not {depth}")
        self.depth = depth
        super().__init__({"w": In(write_signature()), "r": Out(read_signature())})

    def elaborate(self, platform):
        m = Module()
        aw = (self.depth - 1).bit_length()
        m.submodules.ring = ring = Memory(shape=8, depth=self.depth, init=[])
        wr, rd = ring.write_port(), ring.read_port()
        # pointers with one wrap bit: checked frames are [tail, head), the frame being
        # written [head, wp)
        head, wp, tail = Signal(aw + 1), Signal(aw + 1), Signal(aw + 1)
        m.d.comb += [self.w.full.eq((wp[:aw] == tail[:aw]) & (wp[aw] != tail[aw])),
                     wr.addr.eq(wp), wr.data.eq(self.w.data), wr.en.eq(self.w.en)]
        with m.If(self.w.start):
            m.d.sync += wp.eq(head)
        with m.Elif(self.w.en):
            m.d.sync += wp.eq(wp + 1)
        with m.If(self.w.commit):
            m.d.sync += head.eq(wp)

        base = Signal(aw + 1)  # the header byte being read, then payload byte 0
        k = Signal(range(STORE_OVERHEAD + 1))
        hdr = Signal(8 * STORE_OVERHEAD)
        m.d.comb += [self.r.cmd.eq(hdr[0:8]), self.r.seq.eq(hdr[8:24]),
                     self.r.length.eq(hdr[24:40]), self.r.data.eq(rd.data),
                     rd.addr.eq(base[:aw] + (self.r.addr & self.r.valid.replicate(aw)))]
        with m.FSM():
            with m.State("IDLE"):
                m.d.sync += [base.eq(tail), k.eq(0)]
                with m.If(head != tail):
                    m.next = "HEADER"
            with m.State("HEADER"):  # byte k addressed now, byte k - 1 arrives
                m.d.sync += k.eq(k + 1)
                with m.If(k != 0):
                    m.d.sync += hdr.eq(Cat(hdr[8:], rd.data))
                with m.If(k == STORE_OVERHEAD):
                    m.next = "VALID"
                with m.Else():
                    m.d.sync += base.eq(base + 1)
            with m.State("VALID"):
                m.d.comb += self.r.valid.eq(1)
                with m.If(self.r.done):
                    m.d.sync += tail.eq(base + self.r.length)
                    m.next = "IDLE"
        return m
