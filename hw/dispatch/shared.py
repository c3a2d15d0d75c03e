"""What the dispatcher's command groups share.

One FSM runs every command, and its groups share one set of registers (the payload
address, the value being shifted in, the loop counters): the iCE40UP5K build has no
room for a set per group.  ``shift_in`` is the byte loop they all use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from amaranth.hdl import Cat, Module


@dataclass
class Dispatcher:
    m: Module
    cmd: Any
    seq: Any
    length: Any
    pa: Any  # payload byte address (frame store, or record buffer while ds_rec)
    frame_byte: Any  # the frame's payload byte at the ``pa`` of the cycle before
    word: Any  # value shifted in, little endian
    bk: Any  # byte of the value
    k: Any  # generic loop counter
    cnt: Any  # values (READ/WRITE), or a run's values (samples)
    bad: Any  # a validation pass found something out of range
    y: Any  # a sample's label
    neg: Any  # a sample's -beta flag
    r_err: Any  # the error code an ERROR answer carries
    n_out: int
    start_response: Callable[..., None]
    #: the byte at the ``pa`` of the cycle before: the frame's, or with a store the
    #: record buffer's while a stored sample is read (set once the store exists)
    pb: Any = None

    def shift_in(self, last, then: str, primed: bool) -> None:
        """State body: shift payload bytes (``pb``) into the top of ``word`` (little
        endian) until byte ``last`` of the value, then hold ``pa`` on the next value's
        first byte and go to ``then``.  ``primed``: the first byte was addressed on
        entry; otherwise the first cycle only addresses it."""
        m, pa, bk, word, byte = self.m, self.pa, self.bk, self.word, self.pb
        m.d.sync += [pa.eq(pa + 1), bk.eq(bk + 1)]
        if primed:
            m.d.sync += word.eq(Cat(word[8:], byte))
        else:
            with m.If(bk >= 1):
                m.d.sync += word.eq(Cat(word[8:], byte))
        with m.If(bk == last):
            m.d.sync += pa.eq(pa)  # next value starts where this one ended
            m.next = then
