"""One profile per supported board: the facts every command needs about it in one place.

``epfpga build`` takes its default clock, baud, config and placement seed from here,
``epfpga program`` its loader and whether a load survives power-off, and the host
commands (train, sim-board, selftest) the baud and the serial-device hints; the board
top wires the LEDs and the reset button from it.  The numbers are from the boards'
schematics and DESIGN.md section 10; nothing here has been checked on a real board.

Use :func:`profile` (``profile("icebreaker").baud``), never a literal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from epfpga.errors import EpfpgaError

from .parts import PARTS

if TYPE_CHECKING:  # the gateware (Amaranth) only when a timing is asked for
    from epfpga.hw.link.uart import BaudTiming

#: The baud every profile uses: exact on the FT2232H and the FT231X (the FT231X's maximum).
DEFAULT_BAUD = 3_000_000

#: The SoC's ``status_led`` bits (hw/soc.py), by what they show.
STATUS_BITS = {"busy": 0, "crc_error": 1, "seq_gap": 2}
STATUS_TEXT = {"busy": "the core is training or inferring",
               "crc_error": "a frame has arrived with a bad CRC",
               "seq_gap": "a frame has been dropped as out of sequence"}
LATCHED = {"crc_error", "seq_gap"}  # counters != 0: they stay set until reset


@dataclass(frozen=True)
class Led:
    """One board LED and the status bits it lights for (lit when any of them is set)."""

    index: int  # amaranth-boards ``led`` resource number
    label: str  # as printed on the board or its schematic
    colour: str | None  # None: not in the sources we checked
    shows: tuple[str, ...]  # keys of STATUS_BITS

    @property
    def meaning(self) -> str:
        text = " or ".join(STATUS_TEXT[s] for s in self.shows)
        return f"lit once {text}, until reset" if LATCHED & set(self.shows) else \
            f"lit while {text}"


@dataclass(frozen=True)
class BoardProfile:
    board: str  # the --board name, also the key of parts.PARTS
    title: str
    clock_hz: float  # default core clock (made by the PLL when it differs)
    baud: int  # default UART rate; exact on the board's USB-serial chip
    config: str  # default preset for ``epfpga build``
    leds: tuple[Led, ...]
    reset_button: tuple[str, int] | None  # amaranth-boards resource (name, number)
    reset_label: str
    usb_serial: str  # the USB-serial chip and which of its interfaces is the UART
    serial_linux: str  # ttyUSB name on a Linux host with only this board plugged in
    serial_by_id: str  # glob under /dev/serial/by-id/ (stable across plug order)
    serial_macos: str  # glob under /dev/
    bitstream: str  # the file ``epfpga build`` writes for the loader
    loaders: tuple[tuple[str, ...], ...]  # commands, first installed wins; {bit}: the file
    volatile: bool  # what ``loaders`` load is lost at power-off
    flash_loaders: tuple[tuple[str, ...], ...]  # commands that write the config flash
    seed: int = 0  # nextpnr placement seed that met the clock; 0: nextpnr's own start
    #: Yosys's synth_ice40 / synth_ecp5 options (the build and the gate-level simulation)
    synth_opts: str = ""
    #: the SDRAM chip (boards/sdram.py CHIPS) that holds the dataset; None: no store
    sdram: str | None = None

    @property
    def oscillator_hz(self) -> float:
        return PARTS[self.board].clock_mhz * 1e6

    def link_timing(self, clock_hz: float | None = None, baud: int | None = None
                    ) -> BaudTiming:
        """The UART's bit timing at this board's defaults (or the given clock and baud),
        refused with the reason when a board could not rely on it (hw/link/uart.py)."""
        from epfpga.hw.link.uart import baud_timing

        return baud_timing(clock_hz or self.clock_hz, baud or self.baud)

    def led_table(self) -> list[tuple[str, str]]:
        """(LED, what it means when lit), for the README and ``epfpga build``'s report."""
        return [(f"{led.label}" + (f" ({led.colour})" if led.colour else ""), led.meaning)
                for led in self.leds]


ICE40_LOADERS = (("iceprog", "{bit}"), ("openFPGALoader", "-b", "ice40_generic", "{bit}"))

PROFILES: dict[str, BoardProfile] = {
    "icebreaker": BoardProfile(
        board="icebreaker", title="1BitSquared iCEBreaker (iCE40UP5K)",
        clock_hz=24e6, baud=DEFAULT_BAUD, config="up5k",
        # seeds 7-16 on this netlist (5193 LC): 9 of 10 meet 24 MHz (23.1 to 25.5,
        # median 24.5), 9 the fastest: `--seeds` finds another when the netlist changes
        seed=9,
        # the UP5K's 8 DSP blocks take the multipliers.  Not -dff: its sequential
        # sweep (ABC's &scorr) has no bound on its run time, and ran for over half an
        # hour on the core with its controller as a component (67 s before)
        synth_opts="-dsp",
        # LEDR_N on pin 11 (led 0) and LEDG_N on pin 37 (led 1), both beside the USB jack
        leds=(Led(1, "LEDG", "green", ("busy",)),
              Led(0, "LEDR", "red", ("crc_error", "seq_gap"))),
        reset_button=("button", 0), reset_label="the user button (BTN_N, pin 10)",
        usb_serial="FTDI FT2232H, interface B (interface A programs the flash)",
        serial_linux="/dev/ttyUSB1",
        serial_by_id="/dev/serial/by-id/usb-*iCEBreaker*-if01-port0",
        serial_macos="/dev/cu.usbserial-*",
        # both write the configuration flash, which the UP5K loads at power-on
        bitstream="epfpga.bin", volatile=False, loaders=ICE40_LOADERS,
        flash_loaders=ICE40_LOADERS,
    ),
    "ulx3s": BoardProfile(
        board="ulx3s", title="Radiona ULX3S (LFE5U-85F)",
        clock_hz=40e6, baud=DEFAULT_BAUD, config="ecp5",
        # 32 MB, the dataset store (MT48LC16M16A2 on most boards; --sdram for the others)
        sdram="MT48LC16M16",
        # seeds 0-4 on this netlist (18 096 LUT): all meet 40 MHz (43.5, 50.3, 44.4,
        # 46.3, 46.9), 1 the fastest
        seed=1,
        leds=(Led(0, "LED D0", None, ("busy",)),
              Led(1, "LED D1", None, ("crc_error",)),
              Led(2, "LED D2", None, ("seq_gap",))),
        # FIRE1 (R1), as LiteX's ULX3S target; PWR (D6) also wakes the board's power switch
        reset_button=("button_fire", 0), reset_label="the F1 button (FIRE1)",
        usb_serial="FTDI FT231X (one interface; 3 Mbaud is its maximum)",
        serial_linux="/dev/ttyUSB0",
        serial_by_id="/dev/serial/by-id/usb-*ULX3S*-if00-port0",
        serial_macos="/dev/cu.usbserial-*",
        bitstream="epfpga.bit", volatile=True,
        loaders=(("openFPGALoader", "-b", "ulx3s", "{bit}"),),
        flash_loaders=(("openFPGALoader", "-b", "ulx3s", "-f", "{bit}"),),
    ),
}


def profile(board: str) -> BoardProfile:
    """The profile of ``board`` ("icebreaker" or "ulx3s"); a clear error otherwise."""
    try:
        return PROFILES[board]
    except KeyError:
        raise EpfpgaError(f"unknown board {board!r}: use one of "
                          f"{', '.join(sorted(PROFILES))}") from None


def default_baud(board: str | None = None) -> int:
    """The baud a host opens a board's port at: the board's profile, or DEFAULT_BAUD
    when the board is not named."""
    return profile(board).baud if board else DEFAULT_BAUD

