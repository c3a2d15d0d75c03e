"""Verilog for Verilator, written as SystemVerilog.

Yosys's plain-Verilog writer emits a constant-only driver (a signal's bits that no
statement assigns, e.g. an unused lane of an array port) as ``always @* x = 0;``.
An ``always @*`` that reads nothing never runs (IEEE 1364; Verilator >= 5.040 warns
ALWNEVER), so the simulation starts those bits from ``--x-initial`` while the
synthesised board has the constant.  With ``-sv`` Yosys writes ``always_comb``,
which runs once at time zero, as synthesis sees it."""

from __future__ import annotations

from typing import Any


def to_verilog(elaboratable: Any, name: str, ports: Any = None) -> str:
    # the one converter entry point that takes write_verilog options (amaranth 0.5)
    from amaranth.back import rtlil
    from amaranth.back.verilog import _convert_rtlil_text

    text = rtlil.convert(elaboratable, name=name, ports=ports)
    return _convert_rtlil_text(text, write_verilog_opts=("-sv",))
