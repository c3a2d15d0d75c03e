"""The dispatcher's dataset-store commands (protocol DS_*, docs/protocol.md), for a SoC
built with a store: their units (byte reader and writer on the store's word port, the
CRC-32, the record buffer and the answer memory) and their states in the dispatcher's
FSM.  A stored sample is copied into the record buffer and then validated and streamed
by the dispatcher's own sample states, exactly as a TRAIN frame's sample is, so both
paths decode the same way; ``ds_rec`` tells those states where their bytes come from.

A run is pipelined: once a sample's pixels are in the core, the next entry's record is
fetched and streamed while the core computes (its pixel loader holds a second sample),
and the results are collected on their own, in order, into the answer memory; the
indices of the samples in the core wait in a small FIFO.  Behaves like
``epfpga.host.board_model.BoardModel`` with a store, byte for byte
(tests/hw/test_soc_store.py).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import fifo, wiring
from amaranth.lib.crc.catalog import CRC32_ISO_HDLC
from amaranth.lib.memory import Memory

from epfpga.host import protocol as p

from ..dispatch.shared import Dispatcher
from .byte_access import ByteReader, ByteWriter
from .word_port import WordPortSelect


@dataclass(frozen=True)
class StoreGeometry:
    """The store behind the SoC's ``store`` port: ``words`` words of ``data_width`` bits
    (the ULX3S: 16M x 16 of SDRAM)."""

    words: int
    data_width: int = 16

    @property
    def addr_width(self) -> int:
        return (self.words - 1).bit_length()

    @property
    def capacity(self) -> int:
        """Bytes, as DS_INFO tells the host."""
        return self.words * self.data_width // 8


class StoreCommands:
    def __init__(self, m: Module, geo: StoreGeometry, port: Any, d: Dispatcher):
        self.m, self.geo, self.d = m, geo, d
        aw, dw = geo.addr_width, geo.data_width
        m.submodules.store_reader = self.reader = ByteReader(aw, dw)
        m.submodules.store_writer = self.writer = ByteWriter(aw, dw)
        m.submodules.store_select = sel = WordPortSelect(aw, dw)
        wiring.connect(m, self.writer.port, sel.a)
        wiring.connect(m, self.reader.port, sel.b)
        wiring.connect(m, sel.port, wiring.flipped(port))  # the SoC's own store port
        self.reading = Signal()  # the reader owns the port (else the writer)
        m.d.comb += sel.select.eq(self.reading)
        m.submodules.store_crc = self.crc = CRC32_ISO_HDLC(8).create()
        m.submodules.record = rec = Memory(shape=8, depth=2048, init=[])
        self.rec_w, self.rec_r = rec.write_port(), rec.read_port()
        # a DS_TRAIN's predictions, per sequence slot, for a retry's answer
        m.submodules.answers = ans = Memory(shape=8, depth=p.REPLAY_WINDOW * p.DS_RUN_MAX,
                                            init=[])
        self.ans_w, self.ans_r = ans.write_port(), ans.read_port()
        self.ds_rec = Signal()  # the sample states read the record buffer
        self.running = Signal()  # a run's samples are in the core: collect their results
        # the entries whose samples are in the core, oldest first (the core holds two)
        m.submodules.in_core = self.in_core = fifo.SyncFIFO(width=9, depth=4)
        self.collecting = Signal()  # a result is written to the answer memory this cycle
        self.a, self.b = Signal(32), Signal(32)  # offset and length / table and count
        self.n = Signal(range(p.DS_RUN_MAX + 1))  # entries
        self.rec_len = Signal(16)
        self.flags_bad, self.index_bad = Signal(), Signal()
        self.waddr = Signal(32)
        info = struct.pack("<IH", geo.capacity, p.DS_RUN_MAX)
        self.info_rom = Array(Const(v, 8) for v in info)
        self.info_len = len(info)
        rec_r = self.rec_r
        m.d.comb += rec_r.addr.eq(d.pa[:11])
        self.pb = rec_r.data  # the record byte at ``pa`` (the sample states' source)

    # ---------------------------------------------------------------- helpers
    def _read(self, addr, count) -> Any:
        """Ask the reader for ``count`` bytes at ``addr``; True in the cycle it takes it."""
        r = self.reader.req
        self.m.d.comb += [r.valid.eq(1), r.payload.addr.eq(addr), r.payload.count.eq(count),
                          self.reading.eq(1)]
        return r.ready

    def _collect(self, then: str) -> None:
        """State body: the reader's bytes into the top of ``word``, to ``then`` after
        the last."""
        m, d, b = self.m, self.d, self.reader.bytes
        m.d.comb += [b.ready.eq(1), self.reading.eq(1)]
        with m.If(b.valid):
            m.d.sync += d.word.eq(Cat(d.word[8:], b.payload.data))
            with m.If(b.payload.last):
                m.next = then

    def _address_entry(self, load: str) -> None:
        """To state ``load`` (a ``shift_in`` of 4 bytes) with entry ``k`` addressed."""
        self.m.d.sync += [self.d.pa.eq(8 + (self.d.k << 2)), self.d.bk.eq(0)]
        self.m.next = load

    def _error(self, code) -> None:
        self.m.d.sync += self.d.r_err.eq(code)
        self.m.next = "ERR"

    def bad_sample(self) -> None:
        """A sample state (or a check here) found the stored record malformed."""
        self.m.next = "DSR_BAD"

    def job_taken(self) -> None:
        """The dispatcher's JOB state handed the core a job: a stored sample's entry goes
        into the in-core FIFO."""
        m, d = self.m, self.d
        with m.If(self.ds_rec):
            m.d.comb += [self.in_core.w_data.eq(d.k), self.in_core.w_en.eq(1)]

    def sample_sent(self) -> None:
        """A stored sample's pixels are all in the core: on to the next entry."""
        self.m.d.sync += [self.d.k.eq(self.d.k + 1), self.ds_rec.eq(0)]
        self.m.next = "DSR_ENTRY"

    def collect(self, result) -> None:
        """The core's results during a run, in order, into the answer memory at their
        entries' places (outside the FSM: they arrive while it fetches the next)."""
        m, d, q = self.m, self.d, self.in_core
        with m.If(self.running):
            m.d.comb += [result.ready.eq(1), self.collecting.eq(result.valid)]
            with m.If(result.valid):
                m.d.comb += [self.ans_w.addr.eq(Cat(q.r_data[:8], d.seq[:6])),
                             self.ans_w.data.eq(result.payload), self.ans_w.en.eq(1),
                             q.r_en.eq(1)]

    def capacity_below(self, *terms) -> Any:
        """The byte range ending at ``sum(terms)`` lies inside the store."""
        return sum(terms) <= self.geo.capacity

    # ---------------------------------------------------------------- dispatch
    def dispatch(self, w) -> None:
        """Cases of the dispatcher's command switch; ``w``: the first 8 payload bytes."""
        m, d = self.m, self.d
        with m.Case(p.DS_INFO):
            d.start_response(p.DS_INFO | p.RESPONSE, self.info_len)
            m.next = "HDR"
        with m.Case(p.DS_WRITE):
            m.d.sync += [self.a.eq(w[0:32]), self.waddr.eq(w[0:32])]
            with m.If(d.length < 4):
                self._error(p.E_BAD_PAYLOAD)
            with m.Else():
                m.next = "DSW_RANGE"
        with m.Case(p.DS_DIGEST):
            m.d.sync += [self.a.eq(w[0:32]), self.b.eq(w[32:64])]
            with m.If(d.length != 8):
                self._error(p.E_BAD_PAYLOAD)
            with m.Else():
                m.next = "DSD_RANGE"
        with m.Case(p.DS_TRAIN, p.DS_INFER):
            m.d.sync += [self.a.eq(w[0:32]), self.b.eq(w[32:64]),
                         self.n.eq((d.length - 8) >> 2), self.flags_bad.eq(0),
                         self.index_bad.eq(0), d.k.eq(0)]
            with m.If((d.length < 8) | (d.length[:2] != 0)
                      | (d.length > 8 + 4 * p.DS_RUN_MAX)):
                self._error(p.E_BAD_PAYLOAD)
            with m.Else():
                m.next = "DSR_CHECK"

    # ---------------------------------------------------------------- states
    def states(self) -> None:
        m, d = self.m, self.d
        # DS_WRITE: the range, then a byte per two cycles (the link is slower)
        with m.State("DSW_RANGE"):
            with m.If(self.capacity_below(self.a, d.length - 4)):
                m.d.sync += d.pa.eq(4)
                m.next = "DSW_ADDR"
            with m.Else():
                self._error(p.E_RANGE)
        with m.State("DSW_ADDR"):  # payload byte `pa` addressed
            with m.If(d.pa == d.length):
                d.start_response(p.DS_WRITE | p.RESPONSE, 0)
                m.next = "HDR"
            with m.Else():
                m.next = "DSW_PUT"
        with m.State("DSW_PUT"):
            wb = self.writer.bytes
            m.d.comb += [wb.valid.eq(1), wb.payload.addr.eq(self.waddr),
                         wb.payload.data.eq(d.frame_byte)]
            with m.If(wb.ready):
                m.d.sync += [d.pa.eq(d.pa + 1), self.waddr.eq(self.waddr + 1)]
                m.next = "DSW_ADDR"

        # DS_DIGEST: CRC-32 of the range, a byte a cycle
        with m.State("DSD_RANGE"):
            m.d.comb += self.crc.start.eq(1)
            with m.If(~self.capacity_below(self.a, self.b)):
                self._error(p.E_RANGE)
            with m.Elif(self.b == 0):
                m.next = "DSD_DONE"
            with m.Else():
                with m.If(self._read(self.a, self.b)):
                    m.next = "DSD_RUN"
        with m.State("DSD_RUN"):
            b = self.reader.bytes
            m.d.comb += [b.ready.eq(1), self.reading.eq(1), self.crc.data.eq(b.payload.data),
                         self.crc.valid.eq(b.valid)]
            with m.If(b.valid & b.payload.last):
                m.next = "DSD_DONE"
        with m.State("DSD_DONE"):  # the CRC register holds the last byte's
            m.d.sync += d.word.eq(self.crc.crc)
            d.start_response(p.DS_DIGEST | p.RESPONSE, 4)
            m.next = "HDR"

        # DS_TRAIN / DS_INFER, pass 1: every entry's flags and index, before any runs
        with m.State("DSR_CHECK"):
            with m.If(d.k == self.n):
                m.d.sync += [d.k.eq(0)]
                with m.If(self.flags_bad):
                    self._error(p.E_BAD_PAYLOAD)
                with m.Elif(self.index_bad | ~self.capacity_below(self.a, self.b << 2)):
                    self._error(p.E_RANGE)
                with m.Else():
                    m.d.sync += self.running.eq(1)
                    m.next = "DSR_ENTRY"
            with m.Else():
                self._address_entry("DSR_CHECK_LOAD")
        with m.State("DSR_CHECK_LOAD"):
            d.shift_in(4, "DSR_CHECK_TEST", primed=False)
        with m.State("DSR_CHECK_TEST"):
            e = d.word[32:64]
            with m.If((e[25:] != 0) | ((d.cmd == p.DS_INFER) & e[24])):
                m.d.sync += self.flags_bad.eq(1)
            with m.If(e[:24] >= self.b):
                m.d.sync += self.index_bad.eq(1)
            m.d.sync += d.k.eq(d.k + 1)
            m.next = "DSR_CHECK"
        # pass 2: per entry, its record's offset, header and bytes, then the sample states
        with m.State("DSR_ENTRY"):
            with m.If(d.k == self.n):
                with m.If(~self.in_core.r_rdy & ~self.collecting):  # every result is in
                    m.d.sync += self.running.eq(0)
                    d.start_response(d.cmd | p.RESPONSE, self.n)
                    m.next = "HDR"
            with m.Else():
                self._address_entry("DSR_ENTRY_LOAD")
        with m.State("DSR_ENTRY_LOAD"):
            d.shift_in(4, "DSR_TABLE", primed=False)
        with m.State("DSR_TABLE"):
            e = d.word[32:64]
            m.d.sync += d.neg.eq(e[24])
            with m.If(self._read(self.a + (e[:24] << 2), 4)):
                m.next = "DSR_TABLE_READ"
        with m.State("DSR_TABLE_READ"):
            self._collect("DSR_HEAD")
        with m.State("DSR_HEAD"):  # word[32:64]: the record's offset
            off = d.word[32:64]
            m.d.sync += self.waddr.eq(off + 3)
            with m.If(~self.capacity_below(off, 3)):
                self.bad_sample()
            with m.Else():
                with m.If(self._read(off, 3)):
                    m.next = "DSR_HEAD_READ"
        with m.State("DSR_HEAD_READ"):
            self._collect("DSR_BODY")
        with m.State("DSR_BODY"):  # word[40:48] the label, word[48:64] the length
            label, n = d.word[40:48], d.word[48:64]
            m.d.sync += [self.rec_len.eq(n), d.y.eq(label), d.pa.eq(0)]
            with m.If((label >= d.n_out) | (n > p.DS_RECORD_MAX)
                      | ~self.capacity_below(self.waddr, n)):
                self.bad_sample()
            with m.Elif(n == 0):
                m.d.sync += self.ds_rec.eq(1)
                m.next = "SAMPLE"
            with m.Else():
                with m.If(self._read(self.waddr, n)):
                    m.next = "DSR_BODY_READ"
        with m.State("DSR_BAD"):  # DS_BAD_SAMPLE for this entry, when the port is free
            with m.If(~self.collecting):
                m.d.comb += [self.ans_w.addr.eq(Cat(d.k[:8], d.seq[:6])),
                             self.ans_w.data.eq(p.DS_BAD_SAMPLE), self.ans_w.en.eq(1)]
                m.d.sync += [d.k.eq(d.k + 1), self.ds_rec.eq(0)]
                m.next = "DSR_ENTRY"
        with m.State("DSR_BODY_READ"):  # into the record buffer at `pa`
            b = self.reader.bytes
            m.d.comb += [b.ready.eq(1), self.reading.eq(1), self.rec_w.addr.eq(d.pa[:11]),
                         self.rec_w.data.eq(b.payload.data), self.rec_w.en.eq(b.valid)]
            with m.If(b.valid):
                m.d.sync += d.pa.eq(d.pa + 1)
                with m.If(b.payload.last):
                    m.d.sync += [d.pa.eq(0), self.ds_rec.eq(1)]
                    m.next = "SAMPLE"

    def answer_byte(self, sent) -> Any:
        """BODY's byte of a DS answer, at ``k``; ``sent``: BODY hands it over this
        cycle (the answer memory is read a cycle ahead)."""
        d = self.d
        m = self.m
        m.d.comb += self.ans_r.addr.eq(Cat(Mux(sent, d.k + 1, d.k)[:8], d.seq[:6]))
        return self.ans_r.data

    def header_cycle(self) -> None:
        """In HDR: address the answer's first byte."""
        self.m.d.comb += self.ans_r.addr.eq(Cat(Const(0, 8), self.d.seq[:6]))
