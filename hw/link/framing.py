"""Gateware side of the host protocol (sw/epfpga/host/protocol.py), inbound: the frame parser.

The parser writes a frame into the receive store (hw/link/frame_store.py) and makes it
visible only after both CRCs check, so a corrupted TRAIN can never reach the core.  Every
byte moves the state machine forward and every state returns to HUNT within
MAX_PAYLOAD + 9 bytes or one inter-byte timeout, so no byte sequence can lock it up; a
header that fails its CRC is rescanned from the byte after its false start byte, so a
real frame hidden behind one is never lost (``protocol.StreamParser`` is its model).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.crc.catalog import CRC16_CCITT_FALSE
from amaranth.lib.wiring import In, Out

from epfpga.host.protocol import MAX_PAYLOAD, SOF, STATUS_BITS, STORE_BYTES, STORE_OVERHEAD

from .frame_store import FrameStore, read_signature, write_signature

#: a partial frame is dropped after 2**TIMEOUT_BITS clocks without a byte (5.5 ms at
#: 24 MHz: far above a byte time, far below the host's answer timeout)
TIMEOUT_BITS = 17


class FrameParser(wiring.Component):
    """Bytes in; checked frames out into a store through ``store``."""

    def __init__(self, max_payload: int = MAX_PAYLOAD, timeout_bits: int = TIMEOUT_BITS):
        self.max_payload = max_payload
        self.timeout_bits = timeout_bits  # a power of two: the test is one counter bit
        super().__init__({
            "bytes": In(stream.Signature(8)),
            "store": Out(write_signature()),
            "crc_errors": Out(STATUS_BITS["crc_errors"]),
            "framing_errors": Out(STATUS_BITS["framing_errors"]),
        })

    def elaborate(self, platform):
        m = Module()
        # CRC-16/CCITT-FALSE over the header and the payload (protocol.crc16)
        m.submodules.crc = crc_unit = CRC16_CCITT_FALSE(data_width=8).create()
        crc = crc_unit.crc
        # the header bytes, oldest first: at hcrc, cmd | seq | len; then `left` counts
        # the payload bytes still to come in the length field's place
        win = Signal(8 * STORE_OVERHEAD)
        length = win[24:40]
        left = length
        rescan = Signal(range(STORE_OVERHEAD + 1))  # bytes of `win` still to hunt through
        first_crc = Signal()
        crc_lo = Signal(8)
        n_head = Signal(range(STORE_OVERHEAD))
        idle = Signal(self.timeout_bits + 1)

        replaying = Signal()
        stall = Signal()  # the store has no room for the byte this state would write
        byte = Signal(8)
        take = Signal()
        m.d.comb += [replaying.eq(rescan != 0),
                     byte.eq(Mux(replaying, win[:8], self.bytes.payload)),
                     take.eq(~stall & (replaying | self.bytes.valid)),
                     self.bytes.ready.eq(~stall & ~replaying)]
        with m.If(replaying & take):
            m.d.sync += rescan.eq(rescan - 1)
        m.d.comb += crc_unit.data.eq(byte)

        def shift_in() -> None:
            m.d.sync += win.eq(Cat(win[8:], byte))

        def store_byte() -> None:
            """This state writes each byte it takes; it waits while the store is full
            (only a host that overran the window can fill it)."""
            m.d.comb += [stall.eq(self.store.full), self.store.data.eq(byte),
                         self.store.en.eq(take)]

        def abandon_on_timeout() -> None:
            """A frame stalled mid-way is dropped and counted, so the link can never
            wait forever on bytes that were lost."""
            with m.If(self.bytes.valid | replaying):
                m.d.sync += idle.eq(0)
            with m.Elif(idle[-1]):
                m.d.sync += [self.framing_errors.eq(self.framing_errors + 1), idle.eq(0)]
                m.next = "HUNT"
            with m.Else():
                m.d.sync += idle.eq(idle + 1)

        with m.FSM():
            with m.State("HUNT"):
                m.d.sync += idle.eq(0)
                with m.If(take):
                    shift_in()
                    with m.If(byte == SOF):
                        m.d.comb += [self.store.start.eq(1), crc_unit.start.eq(1)]
                        m.d.sync += n_head.eq(0)
                        m.next = "HEAD"
                    with m.Else():
                        m.d.sync += self.framing_errors.eq(self.framing_errors + 1)
            with m.State("HEAD"):  # cmd, seq, len: stored as they come
                store_byte()
                with m.If(take):
                    shift_in()
                    m.d.comb += crc_unit.valid.eq(1)
                    m.d.sync += n_head.eq(n_head + 1)
                    with m.If(n_head == STORE_OVERHEAD - 1):
                        m.next = "HCRC"
                abandon_on_timeout()
            with m.State("HCRC"):
                bad = (byte != crc[:8]) | (length > self.max_payload)
                # a bad hcrc byte is left in the stream: it is hunted through after
                # the header bytes, from the byte after the false start byte
                m.d.comb += stall.eq(bad)
                with m.If(self.bytes.valid & bad):
                    m.d.sync += [self.framing_errors.eq(self.framing_errors + 1),
                                 rescan.eq(STORE_OVERHEAD)]
                    m.next = "HUNT"
                with m.If(take):
                    m.d.sync += first_crc.eq(1)
                    with m.If(length == 0):
                        m.next = "CRC"
                    with m.Else():
                        m.next = "PAYLOAD"
                abandon_on_timeout()
            with m.State("PAYLOAD"):
                store_byte()
                with m.If(take):
                    m.d.comb += crc_unit.valid.eq(1)
                    m.d.sync += left.eq(left - 1)
                    with m.If(left == 1):
                        m.next = "CRC"
                abandon_on_timeout()
            with m.State("CRC"):
                with m.If(take):
                    m.d.sync += [crc_lo.eq(byte), first_crc.eq(0)]
                    with m.If(~first_crc):
                        m.next = "HUNT"
                        with m.If(Cat(crc_lo, byte) == crc):
                            m.d.comb += self.store.commit.eq(1)
                        with m.Else():
                            m.d.sync += self.crc_errors.eq(self.crc_errors + 1)
                abandon_on_timeout()
        return m


class FrameReceiver(wiring.Component):
    """Bytes in, checked frames out for the dispatcher: the parser and its store."""

    def __init__(self, timeout_bits: int = TIMEOUT_BITS, store_depth: int = STORE_BYTES):
        self.timeout_bits, self.store_depth = timeout_bits, store_depth
        super().__init__({
            "bytes": In(stream.Signature(8)), "frames": Out(read_signature()),
            "crc_errors": Out(STATUS_BITS["crc_errors"]),
            "framing_errors": Out(STATUS_BITS["framing_errors"]),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.parser = parser = FrameParser(timeout_bits=self.timeout_bits)
        m.submodules.store = store = FrameStore(self.store_depth)
        wiring.connect(m, wiring.flipped(self.bytes), parser.bytes)
        wiring.connect(m, parser.store, store.w)
        wiring.connect(m, store.r, wiring.flipped(self.frames))
        m.d.comb += [self.crc_errors.eq(parser.crc_errors),
                     self.framing_errors.eq(parser.framing_errors)]
        return m
