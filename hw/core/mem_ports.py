"""The port signatures of the core's memory units (weight banks, state stores): a
memory's read and write ports as a unit exposes them to the datapath, so
``wiring.connect`` and the units' tests see the same shapes the builders use."""

from __future__ import annotations

from amaranth.hdl import ShapeLike
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out


class ReadSignature(wiring.Signature):
    """A synchronous read: ``data`` is the word at ``addr`` of the cycle before."""

    def __init__(self, depth: int, shape: ShapeLike):
        super().__init__({"addr": In(range(max(depth, 2))), "data": Out(shape)})


class WriteSignature(wiring.Signature):
    """``en``: one bit per lane of a packed word (``lanes`` > 1), else one."""

    def __init__(self, depth: int, shape: ShapeLike, lanes: int = 1):
        super().__init__({"addr": In(range(max(depth, 2))), "data": In(shape),
                          "en": In(lanes)})
