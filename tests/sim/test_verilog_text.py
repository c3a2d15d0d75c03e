"""The Verilog Verilator gets: no process that never runs.

A signal whose bits no statement assigns (here lane 1 of an array port) is a constant;
Yosys's plain-Verilog writer emits it as ``always @* x[..] = 0;``, which reads nothing
and so never runs in a simulator.  The faithful ULX3S board took such bits from
``--x-initial`` (tests/sim/test_board_faithful.py failed on it); sim/verilog_text.py
writes SystemVerilog instead, and a build log with Verilator's ALWNEVER warning fails."""

from __future__ import annotations

import re

import pytest
from amaranth.hdl import Module
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from epfpga.errors import EpfpgaError
from epfpga.sim.runner import _check_every_process_runs
from epfpga.sim.verilog_text import to_verilog


class _Lanes(wiring.Component):
    def __init__(self):
        super().__init__({"a": In(data.ArrayLayout(4, 2)), "o": Out(8)})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.o.eq(self.a)
        return m


class _HalfDriven(wiring.Component):
    def __init__(self):
        super().__init__({"x": In(4), "s": In(1), "o": Out(8)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.lanes = lanes = _Lanes()
        with m.If(self.s):
            m.d.comb += lanes.a[0].eq(self.x)  # lane 1: never assigned
        m.d.comb += self.o.eq(lanes.o)
        return m


def test_constant_bits_are_written_as_processes_that_run() -> None:
    text = to_verilog(_HalfDriven(), "top")
    assert "always_comb" in text
    # every combinational process is always_comb: none waits for an event
    assert not re.search(r"always\s*@\*", text)


def test_a_build_log_with_a_process_that_never_runs_fails(tmp_path) -> None:
    log = tmp_path / "build.log"
    log.write_text("%Warning-WIDTHEXPAND: x.v:1:1: fine\n")
    _check_every_process_runs(log)
    log.write_text("%Warning-ALWNEVER: x.v:9:3: 'always @*' will never execute\n")
    with pytest.raises(EpfpgaError, match="never runs"):
        _check_every_process_runs(log)
