"""Board tops: the SoC on the board's UART, its status on the LEDs the board profile
names, the core clock from the oscillator (through a PLL when it differs) and a reset
that waits for that clock and follows the user button."""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import (
    Cat,
    ClockDomain,
    ClockSignal,
    Const,
    Elaboratable,
    Instance,
    Module,
    Signal,
)
from amaranth.lib import io

from epfpga.errors import EpfpgaError
from epfpga.hw.link.uart import BaudTiming
from epfpga.hw.soc import EPSoC
from epfpga.hw.store.sdram_soc import SDRAMSoC
from epfpga.model.config import EPConfig

from .parts import PARTS, board_plan
from .pll import PLLSetting, pll_instance, pll_setting
from .profiles import STATUS_BITS, profile
from .reset import PowerOnReset, hold_cycles
from .sdram import LiteDRAMCore


@dataclass(frozen=True)
class Clocking:
    """The core clock a board build gets and the UART's timing at it."""

    pll: PLLSetting | None  # None: the oscillator itself
    core_mhz: float
    link: BaudTiming


def clocking(board: str, clock_mhz: float | None = None, baud: int | None = None
             ) -> Clocking:
    """The board's clocking for a requested core clock and baud (the profile's when not
    given); refuses, with the reason, a clock the PLL cannot make or a baud the UART
    cannot keep at it.  Pure arithmetic: call it before any build step."""
    prof = profile(board)
    f_in = prof.oscillator_hz / 1e6
    f_out = clock_mhz or prof.clock_hz / 1e6
    pll = None if abs(f_out - f_in) < 1e-6 else pll_setting(PARTS[board].device, f_in, f_out)
    core = pll.f_out_mhz if pll else f_in
    return Clocking(pll, core, prof.link_timing(core * 1e6, baud or prof.baud))


class BoardTop(Elaboratable):
    """``clock_mhz`` and ``baud`` default to the board profile's.  ``sdram``: the
    generated controller of the board's dataset store (boards/sdram.py), or None."""

    def __init__(self, cfg: EPConfig, board: str, baud: int | None = None,
                 clock_mhz: float | None = None, sdram: LiteDRAMCore | None = None):
        self.cfg = cfg
        self.profile = profile(board)
        self.part = PARTS[board]
        c = clocking(board, clock_mhz, baud)
        self.pll, self.core_mhz, self.link = c.pll, c.core_mhz, c.link
        self.baud = self.link.baud
        self.sdram = sdram
        self.clk_90: Signal | None = None  # the SDRAM's clock, made by the PLL

    def _clock(self, m: Module, platform) -> Signal:
        """The ``sync`` domain on the oscillator or on the PLL's output; returns LOCK.
        With an SDRAM, also the core clock 90 degrees later for the SDRAM's clock pin."""
        pin = platform.request(platform.default_clk, dir="-")
        m.domains.sync = ClockDomain("sync")
        f_in = self.profile.oscillator_hz
        ecp5 = "LFE5" in self.part.device
        if self.pll is None or ecp5:
            m.submodules.clk_in_buf = buf = io.Buffer("i", pin)
            if ecp5:  # the pin's own constraint does not reach through the buffer
                platform.add_clock_constraint(buf.i, f_in)
        if self.pll is None:
            m.d.comb += ClockSignal("sync").eq(buf.i)
            return Const(1)
        locked, clk = Signal(), Signal()
        if self.sdram is not None:
            self.clk_90 = Signal()
        # the UP5K's PLL sits behind the clock pad: it takes the pin itself, not a buffer
        m.submodules.pll = pll_instance(self.pll, f_in / 1e6, buf.i if ecp5 else pin.io,
                                        clk, locked, self.clk_90)
        m.d.comb += ClockSignal("sync").eq(clk)
        platform.add_clock_constraint(clk, self.core_mhz * 1e6)
        return locked

    def _button(self, m: Module, platform) -> Signal | None:
        if self.profile.reset_button is None:
            return None
        m.submodules.button_buf = buf = io.Buffer(
            "i", platform.request(*self.profile.reset_button, dir="-"))
        return buf.i  # pressed = 1 (amaranth-boards inverts active-low buttons)

    def elaborate(self, platform):
        m = Module()
        locked = self._clock(m, platform)
        m.submodules.reset = PowerOnReset(hold_cycles(self.core_mhz * 1e6), locked,
                                          self._button(m, platform))
        plan = board_plan(self.cfg, self.profile.board)
        if self.sdram is None:
            m.submodules.soc = soc = EPSoC(self.cfg, uart=self.link, plan=plan)
        else:
            m.submodules.soc = soc = SDRAMSoC(self.cfg, self.link, plan, self.sdram,
                                              self._sdram_pins(m, platform))
        uart = platform.request("uart", 0, dir="-")
        m.submodules.uart_rx_buf = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx_buf = tx = io.Buffer("o", uart.tx)
        m.d.comb += [soc.rx.eq(rx.i), tx.o.eq(soc.tx)]
        for led in self.profile.leds:
            m.submodules[f"led{led.index}_buf"] = buf = io.Buffer(
                "o", platform.request("led", led.index, dir="-"))
            m.d.comb += buf.o.eq(Cat(soc.status_led[STATUS_BITS[s]] for s in led.shows).any())
        return m

    def _sdram_pins(self, m: Module, platform) -> dict:
        """The SDRAM's pins raw (LiteDRAM's PHY has its own I/O cells; its ``*_n``
        outputs are active low, as the pads), and its clock: the 90-degree copy through
        an output DDR cell, as LiteX's ULX3S target drives it."""
        if self.clk_90 is None:
            raise EpfpgaError("the SDRAM needs its clock from the PLL (a core clock other "
                              "than the oscillator's)")
        sd = platform.request("sdram", 0, dir="-")
        m.submodules.sdram_clk = Instance("ODDRX1F", i_SCLK=self.clk_90, i_RST=0, i_D0=1,
                                          i_D1=0, o_Q=sd.clk.io)
        return {"a": sd.a.io, "ba": sd.ba.io, "cs_n": sd.cs.io, "ras_n": sd.ras.io,
                "cas_n": sd.cas.io, "we_n": sd.we.io, "cke": sd.clk_en.io, "dm": sd.dqm.io,
                "dq": sd.dq.io}
