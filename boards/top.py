"""Board tops: the SoC on the board's UART, its status on the LEDs the board profile
names, the core clock from the oscillator (through a PLL when it differs) and a reset
that waits for that clock and follows the user button."""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat, ClockDomain, ClockSignal, Const, Elaboratable, Module, Signal
from amaranth.lib import io

from epfpga.config import EPConfig
from epfpga.hw.link.uart import BaudTiming
from epfpga.hw.soc import EPSoC

from .parts import PARTS, board_plan
from .pll import PLLSetting, pll_instance, pll_setting
from .profiles import STATUS_BITS, profile
from .reset import PowerOnReset, hold_cycles


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
    """``clock_mhz`` and ``baud`` default to the board profile's."""

    def __init__(self, cfg: EPConfig, board: str, baud: int | None = None,
                 clock_mhz: float | None = None):
        self.cfg = cfg
        self.profile = profile(board)
        self.part = PARTS[board]
        c = clocking(board, clock_mhz, baud)
        self.pll, self.core_mhz, self.link = c.pll, c.core_mhz, c.link
        self.baud = self.link.baud

    def _clock(self, m: Module, platform) -> Signal:
        """The ``sync`` domain on the oscillator or on the PLL's output; returns LOCK."""
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
        # the UP5K's PLL sits behind the clock pad: it takes the pin itself, not a buffer
        m.submodules.pll = pll_instance(self.pll, f_in / 1e6, buf.i if ecp5 else pin.io,
                                        clk, locked)
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
        m.submodules.soc = soc = EPSoC(self.cfg, uart=self.link,
                                       plan=board_plan(self.cfg, self.profile.board))
        uart = platform.request("uart", 0, dir="-")
        m.submodules.uart_rx_buf = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx_buf = tx = io.Buffer("o", uart.tx)
        m.d.comb += [soc.rx.eq(rx.i), tx.o.eq(soc.tx)]
        for led in self.profile.leds:
            m.submodules[f"led{led.index}_buf"] = buf = io.Buffer(
                "o", platform.request("led", led.index, dir="-"))
            m.d.comb += buf.o.eq(Cat(soc.status_led[STATUS_BITS[s]] for s in led.shows).any())
        return m
