"""The port signatures of the core's memory units (weight banks, state stores): a
memory's read and write ports as a unit exposes them to the datapath, so
``wiring.connect`` and the units' tests see the same shapes the builders use; and
the one way a unit puts a memory behind them (``memory_behind``)."""

from __future__ import annotations

from amaranth.hdl import Module, ShapeLike
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
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


def write_from(dst, src) -> list:
    """The assignments that give memory write port ``dst`` to ``src`` (a unit's
    ``WriteSignature`` port; the memories are shared between phases, so each phase
    hands them over under its own condition)."""
    return [dst.addr.eq(src.addr), dst.data.eq(src.data), dst.en.eq(src.en)]


class NamedReaders:
    """A memory unit's read ports beyond ``read``: members ``read_<name>``, one per
    name in ``extras`` (as the plan's memory list names the copy each one costs)."""

    extras: list[str]

    @staticmethod
    def reader_members(extras: list[str], depth: int, shape: ShapeLike) -> dict:
        return {f"read_{x}": Out(ReadSignature(depth, shape)) for x in extras}

    def port(self, reader: str):
        return getattr(self, f"read_{reader}")

    def readers(self) -> list:
        """``read`` and every named reader, in order."""
        return [self.read] + [self.port(x) for x in self.extras]


def memory_behind(m: Module, name: str, shape: ShapeLike, depth: int, write, readers,
                  granularity: int | None = None, attrs: dict | None = None) -> Memory:
    """A memory as submodule ``name`` of ``m`` with one write port driven from the unit's
    ``write`` interface and a read port per interface in ``readers``."""
    m.submodules[name] = mem = Memory(shape=shape, depth=max(depth, 1), init=[], attrs=attrs)
    wp = mem.write_port(granularity=granularity)
    m.d.comb += write_from(wp, write)
    for reader in readers:
        rp = mem.read_port()
        m.d.comb += [rp.addr.eq(reader.addr), reader.data.eq(rp.data)]
    return mem
