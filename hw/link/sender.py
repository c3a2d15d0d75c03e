"""Gateware side of the host protocol, outbound: the framer.

The dispatcher sends a response as bytes -- cmd, seq and len (little endian), then the
payload, ``last`` on the final one -- and the framer adds what makes it a frame
(``protocol.encode``'s layout): the start byte before, the header's CRC byte after the
five header bytes, and the CRC-16 of header and payload (low byte first) at the end.
It holds no copy of the header: the bytes pass through as they come.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.crc.catalog import CRC16_CCITT_FALSE
from amaranth.lib.wiring import In, Out

from epfpga.host.protocol import HEADER, SOF

Byte = data.StructLayout({"data": 8, "last": 1})
#: cmd, seq, len
HEADER_FIELDS = HEADER - 2


class FrameSender(wiring.Component):
    """``body`` in (header fields and payload), framed ``bytes`` out; ``done`` pulses
    the cycle after a frame's last byte is taken (registered: the UART's ready does not
    reach the receive store through it).  One CRC circuit serves every byte."""

    def __init__(self) -> None:
        super().__init__({
            "body": In(stream.Signature(Byte)),
            "bytes": Out(stream.Signature(8)),
            "done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.crc = crc = CRC16_CCITT_FALSE(data_width=8).create()
        k = Signal(range(HEADER_FIELDS))
        empty = Signal()  # the header's last field was the frame's last byte
        sent = self.bytes.valid & self.bytes.ready
        m.d.comb += crc.data.eq(self.bytes.payload)
        m.d.sync += self.done.eq(0)

        def pass_through() -> None:
            m.d.comb += [self.bytes.payload.eq(self.body.payload.data),
                         self.bytes.valid.eq(self.body.valid),
                         self.body.ready.eq(self.bytes.ready), crc.valid.eq(sent)]

        with m.FSM():
            with m.State("IDLE"):  # a frame starts with its first byte
                m.d.comb += [self.bytes.payload.eq(SOF), self.bytes.valid.eq(self.body.valid),
                             crc.start.eq(1)]
                with m.If(sent):
                    m.d.sync += k.eq(0)
                    m.next = "HEADER"
            with m.State("HEADER"):
                pass_through()
                with m.If(sent):
                    m.d.sync += [k.eq(k + 1), empty.eq(self.body.payload.last)]
                    with m.If(k == HEADER_FIELDS - 1):
                        m.next = "HCRC"
            with m.State("HCRC"):
                m.d.comb += [self.bytes.payload.eq(crc.crc[:8]), self.bytes.valid.eq(1)]
                with m.If(sent):
                    m.d.sync += k.eq(0)
                    with m.If(empty):
                        m.next = "CRC"
                    with m.Else():
                        m.next = "BODY"
            with m.State("BODY"):
                pass_through()
                with m.If(sent & self.body.payload.last):
                    m.next = "CRC"
            with m.State("CRC"):
                m.d.comb += [self.bytes.payload.eq(Mux(k == 0, crc.crc[:8], crc.crc[8:])),
                             self.bytes.valid.eq(1)]
                with m.If(sent):
                    m.d.sync += k.eq(1)
                    with m.If(k == 1):
                        m.d.sync += self.done.eq(1)
                        m.next = "IDLE"
        return m
