"""Gateware side of the host protocol (sw/epfpga/protocol.py): UART, CRC, frame parser.

The parser buffers a frame's payload and releases it only after both CRCs check, so a
corrupted TRAIN can never reach the core.  Every byte moves the state machine forward
and every state returns to HUNT within MAX_PAYLOAD + 8 bytes or one inter-byte timeout,
so no byte sequence can lock it up.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from epfpga.protocol import HEADER, MAX_PAYLOAD, SOF, STATUS_BITS


def crc16_byte(m: Module, crc, byte):  # noqa: ANN001, ANN201
    """CRC-16/CCITT-FALSE of one more byte, unrolled: 8 shift/xor stages of logic."""
    c = crc ^ (byte << 8)
    for k in range(8):
        stage = Signal(16, name=f"crc_stage{k}")
        m.d.comb += stage.eq((c << 1)[:16] ^ (c[15].replicate(16) & 0x1021))
        c = stage
    return c


class UARTRx(wiring.Component):
    """8N1 receiver; ``divisor`` clocks per bit, sampled mid-bit."""

    def __init__(self, divisor: int):
        if divisor < 4:
            raise ValueError("UART divisor must be >= 4 clocks per bit")
        self.divisor = divisor
        super().__init__({"rx": In(1, init=1), "data": Out(stream.Signature(8)),
                          "errors": Out(16)})

    def elaborate(self, platform):  # noqa: ANN001, ANN201
        m = Module()
        d = self.divisor
        cnt = Signal(range(2 * d + 1))
        bit = Signal(range(10))
        shreg = Signal(8)
        rx = Signal(init=1)
        m.d.sync += rx.eq(self.rx)  # one synchroniser stage
        with m.If(self.data.ready):
            m.d.sync += self.data.valid.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    m.d.sync += [cnt.eq(d + d // 2 - 1), bit.eq(0)]
                    m.next = "BITS"
            with m.State("BITS"):
                m.d.sync += cnt.eq(cnt - 1)
                with m.If(cnt == 0):
                    m.d.sync += cnt.eq(d - 1)
                    with m.If(bit == 8):
                        with m.If(rx):
                            m.d.sync += [self.data.payload.eq(shreg), self.data.valid.eq(1)]
                        with m.Else():
                            m.d.sync += self.errors.eq(self.errors + 1)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += [shreg.eq(Cat(shreg[1:], rx)), bit.eq(bit + 1)]
        return m


class UARTTx(wiring.Component):
    def __init__(self, divisor: int):
        self.divisor = divisor
        super().__init__({"tx": Out(1, init=1), "data": In(stream.Signature(8))})

    def elaborate(self, platform):  # noqa: ANN001, ANN201
        m = Module()
        d = self.divisor
        cnt = Signal(range(d))
        bits = Signal(10)
        left = Signal(range(11))
        with m.If(left == 0):
            m.d.comb += self.data.ready.eq(1)
            with m.If(self.data.valid):
                m.d.sync += [bits.eq(Cat(0, self.data.payload, 1)), left.eq(10),
                             cnt.eq(d - 1)]
        with m.Else():
            m.d.comb += self.tx.eq(bits[0])
            m.d.sync += cnt.eq(cnt - 1)
            with m.If(cnt == 0):
                m.d.sync += [cnt.eq(d - 1), bits.eq(bits >> 1), left.eq(left - 1)]
        with m.If(left == 0):
            m.d.comb += self.tx.eq(1)
        return m


class FrameParser(wiring.Component):
    """Bytes in; (cmd, seq, len) valid while ``frame_valid`` (the whole frame checked),
    payload readable from ``pay_addr``/``pay_data`` until ``done`` is pulsed."""

    def __init__(self, max_payload: int = MAX_PAYLOAD, timeout: int = 100_000):
        self.max_payload = max_payload
        self.timeout = timeout
        super().__init__({
            "bytes": In(stream.Signature(8)),
            "frame_valid": Out(1), "cmd": Out(8), "seq": Out(8), "length": Out(16),
            "pay_addr": In(range(max_payload + 1)), "pay_data": Out(8), "done": In(1),
            "crc_errors": Out(STATUS_BITS["crc_errors"]),
            "framing_errors": Out(STATUS_BITS["framing_errors"]),
        })

    def elaborate(self, platform):  # noqa: ANN001, ANN201
        m = Module()
        m.submodules.buf = buf = Memory(shape=8, depth=self.max_payload, init=[])
        wr, rd = buf.write_port(), buf.read_port()
        m.d.comb += [rd.addr.eq(self.pay_addr), self.pay_data.eq(rd.data)]
        crc = Signal(16, init=0xFFFF)
        head = Signal(32)  # cmd, seq, len
        idx = Signal(range(max(self.max_payload, HEADER) + 3))
        crc_lo = Signal(8)
        idle = Signal(range(self.timeout + 1))
        b = self.bytes.payload
        take = self.bytes.valid & self.bytes.ready
        with m.If(take):
            m.d.sync += idle.eq(0)
        with m.Elif(idle != self.timeout):
            m.d.sync += idle.eq(idle + 1)
        crc_next = crc16_byte(m, crc, b)
        # the header fields straight from their register (meaningful while frame_valid):
        # no state decode in front of the dispatcher's logic
        m.d.comb += [self.cmd.eq(head[0:8]), self.seq.eq(head[8:16]),
                     self.length.eq(head[16:32])]

        def abandon_on_timeout() -> None:
            """A frame stalled mid-way is dropped and counted, so the link can never
            wait forever on bytes that were lost."""
            with m.Elif(idle == self.timeout):
                m.d.sync += self.framing_errors.eq(self.framing_errors + 1)
                m.next = "HUNT"

        with m.FSM():
            with m.State("HUNT"):
                m.d.comb += self.bytes.ready.eq(1)
                with m.If(self.bytes.valid):
                    with m.If(b == SOF):
                        m.d.sync += [crc.eq(0xFFFF), idx.eq(0)]
                        m.next = "HEAD"
                    with m.Else():
                        m.d.sync += self.framing_errors.eq(self.framing_errors + 1)
            with m.State("HEAD"):
                m.d.comb += self.bytes.ready.eq(1)
                with m.If(take):
                    m.d.sync += [head.eq(Cat(head[8:], b)), crc.eq(crc_next),
                                 idx.eq(idx + 1)]
                    with m.If(idx == 3):
                        m.next = "HCRC"
                abandon_on_timeout()
            with m.State("HCRC"):
                m.d.comb += self.bytes.ready.eq(1)
                length = head[16:32]
                with m.If(take):
                    with m.If((b != crc[:8]) | (length > self.max_payload)):
                        m.d.sync += self.framing_errors.eq(self.framing_errors + 1)
                        m.next = "HUNT"
                    with m.Elif(length == 0):
                        m.d.sync += idx.eq(0)
                        m.next = "CRC"
                    with m.Else():
                        m.d.sync += idx.eq(0)
                        m.next = "PAYLOAD"
                abandon_on_timeout()
            with m.State("PAYLOAD"):
                m.d.comb += self.bytes.ready.eq(1)
                with m.If(take):
                    m.d.comb += [wr.addr.eq(idx), wr.data.eq(b), wr.en.eq(1)]
                    m.d.sync += [crc.eq(crc_next), idx.eq(idx + 1)]
                    with m.If(idx == head[16:32] - 1):
                        m.d.sync += idx.eq(0)
                        m.next = "CRC"
                abandon_on_timeout()
            with m.State("CRC"):
                m.d.comb += self.bytes.ready.eq(1)
                with m.If(take):
                    m.d.sync += [crc_lo.eq(b), idx.eq(idx + 1)]
                    with m.If(idx == 1):
                        with m.If(Cat(crc_lo, b) == crc):
                            m.next = "OUT"
                        with m.Else():
                            m.d.sync += self.crc_errors.eq(self.crc_errors + 1)
                            m.next = "HUNT"
                abandon_on_timeout()
            with m.State("OUT"):
                m.d.comb += self.frame_valid.eq(1)
                with m.If(self.done):
                    m.next = "HUNT"
        return m
