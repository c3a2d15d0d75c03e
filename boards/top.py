"""Board tops: the SoC on the board's UART, status on LEDs, reset from the board, and
(when a core clock other than the oscillator is asked for) a PLL in front of it."""

from __future__ import annotations

from amaranth.hdl import ClockDomain, ClockSignal, Elaboratable, Module, Signal
from amaranth.lib import io
from amaranth.lib.cdc import ResetSynchronizer

from epfpga.config import EPConfig
from epfpga.hw.link.uart import baud_timing
from epfpga.hw.soc import EPSoC

from .parts import PARTS
from .pll import ecp5_setting, ice40_setting, pll_instance


class BoardTop(Elaboratable):
    def __init__(self, cfg: EPConfig, baud: int = 1_000_000, clock_mhz: float | None = None):
        self.cfg = cfg
        self.baud = baud
        self.clock_mhz = clock_mhz
        self.core_mhz: float | None = None  # the clock really made, once elaborated

    def _clock(self, m: Module, platform) -> float:  # noqa: ANN001
        """Core clock in Hz: the oscillator itself, or a PLL output from it."""
        f_in = platform.default_clk_frequency / 1e6
        if self.clock_mhz is None or abs(self.clock_mhz - f_in) < 1e-6:
            return f_in * 1e6  # the platform's own sync domain
        family = "ecp5" if "LFE5" in platform.device else "ice40"
        setting = (ecp5_setting if family == "ecp5" else ice40_setting)(f_in, self.clock_mhz)
        pin = platform.request(platform.default_clk, dir="-")
        if family == "ecp5":
            m.submodules.clk_in_buf = buf = io.Buffer("i", pin)
            platform.add_clock_constraint(buf.i, f_in * 1e6)
            clk_in = buf.i
        else:
            clk_in = pin.io
        m.domains.sync = ClockDomain("sync")
        locked, clk = Signal(), Signal()
        m.submodules.pll = pll_instance(family, setting, f_in, clk_in, clk, locked)
        m.d.comb += ClockSignal("sync").eq(clk)
        platform.add_clock_constraint(clk, setting.f_out_mhz * 1e6)
        m.submodules.reset_sync = ResetSynchronizer(~locked, domain="sync")
        return setting.f_out_mhz * 1e6

    def elaborate(self, platform):  # noqa: ANN001, ANN201
        m = Module()
        clk_hz = self._clock(m, platform)
        self.core_mhz = clk_hz / 1e6
        timing = baud_timing(clk_hz, self.baud)  # refuses a pair a board cannot rely on
        part = next(p for p in PARTS.values() if p.device in platform.device)
        ice40 = "LFE5" not in platform.device  # SPRAM for W0
        m.submodules.soc = soc = EPSoC(self.cfg, uart=timing,
                                       spram=ice40 and self.cfg.part == "up5k",
                                       shared_mul=part.shared_mul)
        uart = platform.request("uart", 0, dir="-")
        m.submodules.uart_rx_buf = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx_buf = tx = io.Buffer("o", uart.tx)
        m.d.comb += [soc.rx.eq(rx.i), tx.o.eq(soc.tx)]
        for k in range(3):
            try:
                led = platform.request("led", k, dir="-")
            except Exception:  # boards with fewer LEDs
                break
            m.submodules[f"led{k}_buf"] = buf = io.Buffer("o", led)
            m.d.comb += buf.o.eq(soc.status_led[k])
        return m
