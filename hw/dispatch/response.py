"""The answer: ``start_response`` from any state fixes its command and length (and, on
a first execution, records the outcome for a retry), then HDR and BODY hand its bytes to
the frame sender, which adds the start byte, the header check and the CRC."""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring

from epfpga.host import protocol as p

from ..link.sender import FrameSender


class Response:
    def __init__(self, m: Module, frames: Any, sequence: Any, replaying: Any, r_err: Any,
                 tx_stream: Any):
        self.m, self.frames, self.sequence, self.replaying = m, frames, sequence, replaying
        self.r_err = r_err
        self.r_error = Signal(name="r_error")  # answering with ERROR, else cmd | RESPONSE
        self.r_cmd = Mux(self.r_error, p.ERROR, frames.cmd | p.RESPONSE)
        self.r_len = Signal(range(p.MAX_PAYLOAD + 1), name="r_len")
        m.submodules.sender = self.sender = FrameSender()
        wiring.connect(m, self.sender.bytes, tx_stream)
        self.hk = Signal(range(8), name="hk")

    def start_response(self, rc, rl, byte=0) -> None:
        """Begin answering; a first execution also records the answer for retries
        (``byte``: the prediction or error code a TRAIN retry must repeat)."""
        m, f = self.m, self.frames
        m.d.sync += [self.r_error.eq(rc == p.ERROR), self.r_len.eq(rl), self.hk.eq(0)]
        rec = self.sequence.record
        m.d.comb += [rec.frame.seq.eq(f.seq), rec.frame.cmd.eq(f.cmd),
                     rec.en.eq(~self.replaying), rec.error.eq(rc == p.ERROR),
                     rec.byte.eq(byte)]

    def states(self, d: Any, info: bytes, status_bytes: Any, access: Any, host_resp: Any,
               pred: Any, store: Any) -> None:
        """HDR and BODY (``d``: the dispatcher's shared registers; ``access``: READ's
        values come from the core's host port at its ``base``)."""
        m, r_cmd, r_len, hk, body = self.m, self.r_cmd, self.r_len, self.hk, self.sender.body
        seq, k, bk, word = self.frames.seq, d.k, d.bk, d.word
        info_rom = Array(Const(v, 8) for v in info)
        with m.State("HDR"):  # cmd, seq, len; the framer adds the rest
            if store:
                store.header_cycle()
            fields = Array([r_cmd, seq[:8], seq[8:], r_len[:8], r_len[8:]])
            m.d.comb += [body.payload.data.eq(fields[hk]), body.valid.eq(1),
                         body.payload.last.eq((hk == len(fields) - 1) & (r_len == 0))]
            with m.If(body.ready):
                m.d.sync += hk.eq(hk + 1)
                with m.If(hk == len(fields) - 1):
                    m.d.sync += [k.eq(0), bk.eq(0)]
                    with m.If(r_len == 0):
                        m.next = "SENT"
                    with m.Else():
                        m.next = "BODY"
        with m.State("BODY"):
            byte = Signal(8)
            reading = r_cmd == (p.READ | p.RESPONSE)
            host = access.host
            with m.If(reading & (k[:3] == 0) & (bk == 0)):  # fetch the next value
                m.d.comb += [host.payload.offset.eq(access.base + (k >> 3)), host.valid.eq(1)]
                with m.If(host.ready):
                    m.d.sync += bk.eq(1)
            with m.Elif(reading & (bk == 1)):  # until the core answers
                with m.If(host_resp.valid):
                    m.d.sync += [word.eq(host_resp.payload), bk.eq(4)]
            with m.Else():
                with m.Switch(r_cmd):
                    with m.Case(p.INFO | p.RESPONSE):
                        m.d.comb += byte.eq(info_rom[k[:len(info).bit_length()]])
                    with m.Case(p.STATUS | p.RESPONSE):
                        m.d.comb += byte.eq(status_bytes[k[:5]])
                    with m.Case(p.READ | p.RESPONSE):
                        m.d.comb += byte.eq(word.word_select(k[:3], 8))
                    with m.Case(p.TRAIN | p.RESPONSE, p.INFER | p.RESPONSE):
                        m.d.comb += byte.eq(pred)
                    with m.Case(p.ERROR):
                        m.d.comb += byte.eq(Mux(k == 0, self.frames.cmd, self.r_err))
                    if store:
                        with m.Case(p.DS_INFO | p.RESPONSE):
                            m.d.comb += byte.eq(store.info_rom[k[:3]])
                        with m.Case(p.DS_DIGEST | p.RESPONSE):
                            m.d.comb += byte.eq(word.word_select(k[:3], 8))
                        with m.Case(p.DS_TRAIN | p.RESPONSE, p.DS_INFER | p.RESPONSE):
                            m.d.comb += byte.eq(store.answer_byte(body.ready))
                m.d.comb += [body.payload.data.eq(byte), body.valid.eq(1),
                             body.payload.last.eq(k == r_len - 1)]
                with m.If(body.ready):
                    m.d.sync += k.eq(k + 1)
                    with m.If(k[:3] == 7):
                        m.d.sync += bk.eq(0)
                    with m.If(k == r_len - 1):
                        m.next = "SENT"

    def sent_state(self) -> None:
        m = self.m
        with m.State("SENT"):  # the frame's CRC goes out
            with m.If(self.sender.done):
                m.d.comb += self.frames.done.eq(1)
                m.next = "WAIT"


def status_bytes(counters: dict) -> Any:
    """STATUS's answer, byte by byte: every counter as a u32, little endian."""
    return Array(Cat(*(Cat(counters[f], Const(0, 32 - p.STATUS_BITS[f]))
                       for f in p.STATUS_FIELDS)).word_select(i, 8)
                 for i in range(4 * len(p.STATUS_FIELDS)))
