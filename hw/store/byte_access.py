"""Bytes in and out of a word port: what the dataset commands need (a run of bytes read
in order, single bytes written), at a byte a cycle.  Byte ``2w`` of the store is bits
0-7 of word ``w``, byte ``2w + 1`` bits 8-15 (little endian, as the host lays out the
image)."""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from .word_port import WordPortSignature


def byte_address_width(addr_width: int, data_width: int) -> int:
    return addr_width + (data_width // 8 - 1).bit_length()


class ByteWriter(wiring.Component):
    """A byte stream, each with its address, written one word command per byte (the byte
    enables pick the byte): the link brings bytes far slower than the memory takes them.
    The command goes first and its data after it: a controller takes them at different
    times (LiteDRAM asks for the data only when its bank machine runs the write)."""

    def __init__(self, addr_width: int, data_width: int = 16):
        self.lanes = data_width // 8
        super().__init__({
            "bytes": In(stream.Signature(data.StructLayout({
                "addr": byte_address_width(addr_width, data_width), "data": 8}))),
            "port": Out(WordPortSignature(addr_width, data_width)),
        })

    def elaborate(self, platform):
        m = Module()
        b, port = self.bytes, self.port
        lane_bits = (self.lanes - 1).bit_length()
        lane = b.payload.addr[:lane_bits] if lane_bits else Const(0, 1)
        commanded = Signal()  # this byte's command is taken; its data goes now
        m.d.comb += [port.cmd.valid.eq(b.valid & ~commanded), port.cmd.payload.we.eq(1),
                     port.cmd.payload.addr.eq(b.payload.addr >> lane_bits),
                     port.wdata.valid.eq(b.valid & commanded),
                     port.wdata.payload.data.eq(b.payload.data.replicate(self.lanes)),
                     port.wdata.payload.we.eq(Const(1, self.lanes) << lane),
                     b.ready.eq(port.wdata.valid & port.wdata.ready)]
        with m.If(port.cmd.valid & port.cmd.ready):
            m.d.sync += commanded.eq(1)
        with m.If(b.ready):
            m.d.sync += commanded.eq(0)
        return m


class ByteReader(wiring.Component):
    """``req`` (byte address, count) in, the ``count`` bytes from there out on ``bytes``
    (``last`` on the final one; a count of 0 gives nothing).  Reads are issued ahead,
    only while the word FIFO has room for every word in flight (the port's read data
    cannot wait), so the sink may stall at any time."""

    def __init__(self, addr_width: int, data_width: int = 16, count_width: int = 32,
                 depth: int = 8):
        self.addr_width, self.data_width, self.depth = addr_width, data_width, depth
        self.lanes = data_width // 8
        super().__init__({
            "req": In(stream.Signature(data.StructLayout({
                "addr": byte_address_width(addr_width, data_width), "count": count_width}))),
            "bytes": Out(stream.Signature(data.StructLayout({"data": 8, "last": 1}))),
            "port": Out(WordPortSignature(addr_width, data_width)),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        lanes, depth = self.lanes, self.depth
        lb = (lanes - 1).bit_length()
        port, out = self.port, self.bytes
        m.submodules.words = words = fifo.SyncFIFOBuffered(width=self.data_width,
                                                           depth=depth)
        cw = len(self.req.payload.count)
        issue_addr = Signal(self.addr_width)
        to_issue = Signal(cw)  # words still to request
        left = Signal(cw)  # bytes still to send
        lane = Signal(max(lb, 1))  # the byte of the head word being sent
        in_flight = Signal(range(depth + 1))
        m.d.comb += self.busy.eq((left != 0) | (to_issue != 0) | (in_flight != 0)
                                 | (words.r_level != 0))

        # requests: only between runs
        m.d.comb += self.req.ready.eq(~self.busy)
        with m.If(self.req.valid & self.req.ready):
            a, n = self.req.payload.addr, self.req.payload.count
            first = a[:lb] if lb else Const(0, 1)
            m.d.sync += [issue_addr.eq(a >> lb), left.eq(n), lane.eq(first),
                         to_issue.eq(words_touched(n, first, lb))]

        # reads: while the FIFO has room for every word that will arrive
        room = in_flight + words.r_level < depth
        m.d.comb += [port.cmd.valid.eq((to_issue != 0) & room), port.cmd.payload.we.eq(0),
                     port.cmd.payload.addr.eq(issue_addr)]
        issued = port.cmd.valid & port.cmd.ready
        with m.If(issued):
            m.d.sync += [issue_addr.eq(issue_addr + 1), to_issue.eq(to_issue - 1)]
        m.d.comb += [words.w_data.eq(port.rdata.payload), words.w_en.eq(port.rdata.valid)]
        m.d.sync += in_flight.eq(in_flight + issued - port.rdata.valid)

        # bytes out, lane by lane of the head word; a word's unused lanes are dropped
        head = words.r_data.word_select(lane, 8) if lb else words.r_data[:8]
        m.d.comb += [out.valid.eq(words.r_rdy & (left != 0)), out.payload.data.eq(head),
                     out.payload.last.eq(left == 1)]
        sent = out.valid & out.ready
        with m.If(sent):
            m.d.sync += [left.eq(left - 1), lane.eq(lane + 1 if lb else 0)]
        end_of_word = (lane == lanes - 1) if lb else Const(1, 1)
        m.d.comb += words.r_en.eq(sent & (end_of_word | (left == 1)))
        return m


def words_touched(n, first, lb: int):
    """Words a run of ``n`` bytes starting at lane ``first`` touches."""
    if not lb:
        return n
    return Mux(n == 0, 0, (n + first + (1 << lb) - 1) >> lb)
