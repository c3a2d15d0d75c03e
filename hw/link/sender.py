"""Gateware side of the host protocol, outbound: a response header and its body bytes
in, the framed bytes out (``protocol.encode``'s layout: SOF, cmd, seq, len, the
header's CRC byte, the body, the CRC-16 of header and body, low byte first)."""

from __future__ import annotations

from amaranth.hdl import Array, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.crc.catalog import CRC16_CCITT_FALSE
from amaranth.lib.wiring import In, Out

from epfpga.protocol import HEADER, MAX_PAYLOAD, SOF

ResponseHeader = data.StructLayout({"cmd": 8, "seq": 16, "length": range(MAX_PAYLOAD + 1)})


class FrameSender(wiring.Component):
    """One frame per ``header``; ``header.length`` bytes are then taken from ``body``,
    and ``done`` pulses with the frame's last byte.  One CRC circuit serves every byte."""

    def __init__(self) -> None:
        super().__init__({
            "header": In(stream.Signature(ResponseHeader)),
            "body": In(stream.Signature(8)),
            "bytes": Out(stream.Signature(8)),
            "done": Out(1),
        })

    def elaborate(self, platform):  # noqa: ANN001, ANN201
        m = Module()
        m.submodules.crc = crc = CRC16_CCITT_FALSE(data_width=8).create()
        head = Signal(ResponseHeader)
        k = Signal(range(max(HEADER, MAX_PAYLOAD + 1)))
        sent = self.bytes.valid & self.bytes.ready
        m.d.comb += crc.data.eq(self.bytes.payload)

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += [self.header.ready.eq(1), crc.start.eq(1)]
                with m.If(self.header.valid):
                    m.d.sync += [head.eq(self.header.payload), k.eq(0)]
                    m.next = "HEADER"
            with m.State("HEADER"):
                fields = Array([Const(SOF, 8), head.cmd, head.seq[:8], head.seq[8:],
                                head.length[:8], head.length[8:], crc.crc[:8]])
                m.d.comb += [self.bytes.payload.eq(fields[k]), self.bytes.valid.eq(1),
                             crc.valid.eq(sent & (k >= 1) & (k <= HEADER - 2))]
                with m.If(sent):
                    m.d.sync += k.eq(k + 1)
                    with m.If(k == HEADER - 1):
                        m.d.sync += k.eq(0)
                        with m.If(head.length == 0):
                            m.next = "CRC"
                        with m.Else():
                            m.next = "BODY"
            with m.State("BODY"):
                m.d.comb += [self.bytes.payload.eq(self.body.payload),
                             self.bytes.valid.eq(self.body.valid),
                             self.body.ready.eq(self.bytes.ready), crc.valid.eq(sent)]
                with m.If(sent):
                    m.d.sync += k.eq(k + 1)
                    with m.If(k == head.length - 1):
                        m.d.sync += k.eq(0)
                        m.next = "CRC"
            with m.State("CRC"):
                m.d.comb += [self.bytes.payload.eq(Mux(k == 0, crc.crc[:8], crc.crc[8:])),
                             self.bytes.valid.eq(1)]
                with m.If(sent):
                    m.d.sync += k.eq(k + 1)
                    with m.If(k == 1):
                        m.d.comb += self.done.eq(1)
                        m.next = "IDLE"
        return m
