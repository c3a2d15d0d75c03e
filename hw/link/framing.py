"""Gateware side of the host protocol (sw/epfpga/protocol.py): CRC and frame parser.

The parser writes a frame into the receive store (hw/link/frame_store.py) and makes it
visible only after both CRCs check, so a corrupted TRAIN can never reach the core.  Every
byte moves the state machine forward and every state returns to HUNT within
MAX_PAYLOAD + 9 bytes or one inter-byte timeout, so no byte sequence can lock it up; a
header that fails its CRC is rescanned from the byte after its false start byte, so a
real frame hidden behind one is never lost (``protocol.StreamParser`` is its model).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from epfpga.protocol import MAX_PAYLOAD, SOF, STATUS_BITS, STORE_BYTES, STORE_OVERHEAD

from .frame_store import FrameStore, read_signature, write_signature


def crc16_byte(m: Module, crc, byte):  # noqa: ANN001, ANN201
    """CRC-16/CCITT-FALSE of one more byte, unrolled: 8 shift/xor stages of logic."""
    c = crc ^ (byte << 8)
    for k in range(8):
        stage = Signal(16, name=f"crc_stage{k}")
        m.d.comb += stage.eq((c << 1)[:16] ^ (c[15].replicate(16) & 0x1021))
        c = stage
    return c


#: header bytes after the start byte (cmd, seq, len, hcrc): what a failed header rescans
HEAD_BYTES = STORE_OVERHEAD + 1


class FrameParser(wiring.Component):
    """Bytes in; checked frames out into a store through ``store``."""

    def __init__(self, max_payload: int = MAX_PAYLOAD, timeout: int = 100_000,
                 store_depth: int = STORE_BYTES):
        self.max_payload = max_payload
        self.timeout = timeout
        super().__init__({
            "bytes": In(stream.Signature(8)),
            "store": Out(write_signature(store_depth)),
            "crc_errors": Out(STATUS_BITS["crc_errors"]),
            "framing_errors": Out(STATUS_BITS["framing_errors"]),
        })

    def elaborate(self, platform):  # noqa: ANN001, ANN201
        m = Module()
        crc = Signal(16, init=0xFFFF)
        # the last header bytes, oldest first: after hcrc, cmd | seq | len | hcrc
        win = Signal(8 * HEAD_BYTES)
        rescan = Signal(range(HEAD_BYTES + 1))  # bytes of `win` still to hunt through
        idx = Signal(range(self.max_payload + STORE_OVERHEAD + 2))  # store offset
        crc_lo = Signal(8)
        idle = Signal(range(self.timeout + 1))
        length = win[24:40]
        size = Signal(range(self.max_payload + STORE_OVERHEAD + 1))
        m.d.comb += [size.eq(length + STORE_OVERHEAD), self.store.size.eq(size)]

        replaying = Signal()
        byte = Signal(8)
        take = Signal()
        m.d.comb += byte.eq(self.bytes.payload)
        with m.If(replaying):
            m.d.comb += [byte.eq(win[:8]), take.eq(1)]
        with m.Else():
            m.d.comb += take.eq(self.bytes.valid & self.bytes.ready)
        with m.If(rescan != 0):
            m.d.sync += rescan.eq(rescan - 1)
        crc_next = crc16_byte(m, crc, byte)

        def shift_in() -> None:
            m.d.sync += win.eq(Cat(win[8:], byte))

        def abandon_on_timeout() -> None:
            """A frame stalled mid-way is dropped and counted, so the link can never
            wait forever on bytes that were lost."""
            with m.If(self.bytes.valid):
                m.d.sync += idle.eq(0)
            with m.Elif(idle == self.timeout):
                m.d.sync += [self.framing_errors.eq(self.framing_errors + 1), idle.eq(0)]
                m.next = "HUNT"
            with m.Else():
                m.d.sync += idle.eq(idle + 1)

        with m.FSM():
            with m.State("HUNT"):
                m.d.comb += [replaying.eq(rescan != 0), self.bytes.ready.eq(rescan == 0)]
                m.d.sync += idle.eq(0)
                with m.If(take):
                    shift_in()
                    with m.If(byte == SOF):
                        m.d.sync += [crc.eq(0xFFFF), idx.eq(0)]
                        m.next = "HEAD"
                    with m.Else():
                        m.d.sync += self.framing_errors.eq(self.framing_errors + 1)
            with m.State("HEAD"):  # cmd, seq, len
                m.d.comb += [replaying.eq(rescan != 0), self.bytes.ready.eq(rescan == 0)]
                with m.If(take):
                    shift_in()
                    m.d.sync += [crc.eq(crc_next), idx.eq(idx + 1)]
                    with m.If(idx == STORE_OVERHEAD - 1):
                        m.next = "HCRC"
                abandon_on_timeout()
            with m.State("HCRC"):
                m.d.comb += [replaying.eq(rescan != 0), self.bytes.ready.eq(rescan == 0)]
                with m.If(take):
                    shift_in()
                    m.d.sync += idx.eq(0)
                    with m.If((byte != crc[:8]) | (win[32:48] > self.max_payload)):
                        m.d.sync += [self.framing_errors.eq(self.framing_errors + 1),
                                     rescan.eq(HEAD_BYTES)]
                        m.next = "HUNT"
                    with m.Else():
                        m.next = "STORE_WAIT"
                abandon_on_timeout()
            with m.State("STORE_WAIT"):  # until the whole frame fits the store
                m.d.sync += idle.eq(0)
                with m.If(self.store.space >= size):
                    m.next = "STORE_HEAD"
            with m.State("STORE_HEAD"):
                # the header goes in front of the payload: `win` turns round once
                # (HEAD_BYTES steps), writing all but hcrc
                m.d.comb += [byte.eq(win[:8]), self.store.addr.eq(idx),
                             self.store.data.eq(win[:8]),
                             self.store.en.eq(idx != STORE_OVERHEAD)]
                shift_in()
                with m.If(idx == STORE_OVERHEAD):
                    m.next = "PAYLOAD"
                with m.Else():
                    m.d.sync += idx.eq(idx + 1)
            with m.State("PAYLOAD"):
                m.d.comb += self.bytes.ready.eq(idx != size)
                with m.If(idx == size):  # no payload
                    m.next = "CRC"
                with m.If(take):
                    m.d.comb += [self.store.addr.eq(idx), self.store.data.eq(byte),
                                 self.store.en.eq(1)]
                    m.d.sync += [crc.eq(crc_next), idx.eq(idx + 1)]
                    with m.If(idx == size - 1):
                        m.next = "CRC"
                abandon_on_timeout()
            with m.State("CRC"):
                m.d.comb += self.bytes.ready.eq(1)
                with m.If(take):
                    m.d.sync += [crc_lo.eq(byte), idx.eq(idx + 1)]
                    with m.If(idx == size + 1):
                        m.next = "HUNT"
                        with m.If(Cat(crc_lo, byte) == crc):
                            m.d.comb += self.store.commit.eq(1)
                        with m.Else():
                            m.d.sync += self.crc_errors.eq(self.crc_errors + 1)
                abandon_on_timeout()
        return m


class FrameReceiver(wiring.Component):
    """Bytes in, checked frames out for the dispatcher: the parser and its store."""

    def __init__(self, timeout: int = 100_000, store_depth: int = STORE_BYTES):
        self.timeout, self.store_depth = timeout, store_depth
        super().__init__({
            "bytes": In(stream.Signature(8)), "frames": Out(read_signature()),
            "crc_errors": Out(STATUS_BITS["crc_errors"]),
            "framing_errors": Out(STATUS_BITS["framing_errors"]),
        })

    def elaborate(self, platform):  # noqa: ANN001, ANN201
        m = Module()
        m.submodules.parser = parser = FrameParser(timeout=self.timeout,
                                                   store_depth=self.store_depth)
        m.submodules.store = store = FrameStore(self.store_depth)
        wiring.connect(m, wiring.flipped(self.bytes), parser.bytes)
        wiring.connect(m, parser.store, store.w)
        wiring.connect(m, store.r, wiring.flipped(self.frames))
        m.d.comb += [self.crc_errors.eq(parser.crc_errors),
                     self.framing_errors.eq(parser.framing_errors)]
        return m
