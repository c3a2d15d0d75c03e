"""The delivery rule (go-back-N, docs/protocol.md), gateware side: which frames run.

Only the expected sequence number runs (INFO always does, and restarts the sequence: a
new host session synchronises on it).  A retry of one of the last REPLAY_WINDOW frames
that ran (same sequence number and command) is answered again from what was recorded
when it ran, so nothing with side effects runs twice; anything else is a gap, dropped.
``board_model.BoardModel._frame`` is the same rule in software.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from epfpga.host import protocol as p

#: the slot of a frame is seq mod REPLAY_WINDOW, so a slot keeps the sequence's upper bits
SLOT_BITS = (p.REPLAY_WINDOW - 1).bit_length()
ReplayEntry = data.StructLayout({"valid": 1, "seq_hi": 16 - SLOT_BITS, "cmd": 8,
                                 "error": 1, "byte": 8})
FrameId = data.StructLayout({"seq": 16, "cmd": 8})


class Verdict(enum.Enum, shape=2):
    RUN = 0  # the expected frame (or an INFO): run it
    RETRY = 1  # answer again: ``error``/``byte`` is what it answered when it ran
    GAP = 2  # drop it


class RecordSignature(wiring.Signature):
    """What a frame that ran answered: an error code or the byte a TRAIN/INFER retry
    must repeat (its prediction); written with ``en``."""

    def __init__(self) -> None:
        super().__init__({"frame": Out(FrameId), "error": Out(1), "byte": Out(8),
                          "en": Out(1)})


class SequenceFilter(wiring.Component):
    """``frame`` in, its ``verdict`` out two cycles later (the replay slot is a block
    RAM read).  The frame is taken with its verdict, so it is read where it stands (the
    receive store holds it) rather than copied; a RUN verdict, once taken, moves the
    expected sequence number on."""

    def __init__(self) -> None:
        super().__init__({
            "frame": In(stream.Signature(FrameId)),
            "verdict": Out(stream.Signature(data.StructLayout(
                {"kind": Verdict, "error": 1, "byte": 8}))),
            "record": In(RecordSignature()),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.slots = slots = Memory(shape=ReplayEntry, depth=p.REPLAY_WINDOW, init=[])
        rd, wr = slots.read_port(), slots.write_port()
        rec = self.record
        m.d.comb += [wr.addr.eq(rec.frame.seq[:SLOT_BITS]), wr.en.eq(rec.en),
                     wr.data.valid.eq(1), wr.data.seq_hi.eq(rec.frame.seq[SLOT_BITS:]),
                     wr.data.cmd.eq(rec.frame.cmd), wr.data.error.eq(rec.error),
                     wr.data.byte.eq(rec.byte)]

        expected = Signal(16)
        seq, cmd = self.frame.payload.seq, self.frame.payload.cmd
        m.d.comb += rd.addr.eq(seq[:SLOT_BITS])
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.frame.valid):
                    m.next = "MATCH"
            with m.State("MATCH"):  # the slot is read now
                back = Signal(16)  # frames behind the expected one, less one
                e = rd.data
                m.d.comb += back.eq(expected + ~seq)
                v = self.verdict.payload
                with m.If((seq == expected) | (cmd == p.INFO)):
                    m.d.sync += v.kind.eq(Verdict.RUN)
                with m.Elif((back[SLOT_BITS:] == 0) & e.valid & (e.seq_hi == seq[SLOT_BITS:])
                            & (e.cmd == cmd)):
                    m.d.sync += v.kind.eq(Verdict.RETRY)
                with m.Else():
                    m.d.sync += v.kind.eq(Verdict.GAP)
                m.d.sync += [v.error.eq(e.error), v.byte.eq(e.byte)]
                m.next = "VERDICT"
            with m.State("VERDICT"):
                m.d.comb += [self.verdict.valid.eq(1), self.frame.ready.eq(self.verdict.ready)]
                with m.If(self.verdict.ready):
                    with m.If(self.verdict.payload.kind == Verdict.RUN):
                        m.d.sync += expected.eq(seq + 1)
                    m.next = "IDLE"
        return m
