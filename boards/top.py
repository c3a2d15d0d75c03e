"""Board tops: the SoC on the board's UART, status on LEDs, reset from the board."""

from __future__ import annotations

from amaranth.hdl import Elaboratable, Module
from amaranth.lib import io

from epfpga.config import EPConfig
from epfpga.hw.soc import EPSoC


class BoardTop(Elaboratable):
    def __init__(self, cfg: EPConfig, baud: int = 1_000_000):
        self.cfg = cfg
        self.baud = baud

    def elaborate(self, platform):  # noqa: ANN001, ANN201
        m = Module()
        clk_hz = platform.default_clk_frequency
        divisor = int(round(clk_hz / self.baud))
        if abs(clk_hz / divisor - self.baud) / self.baud > 0.03:
            raise ValueError(f"{self.baud} baud is not reachable from {clk_hz / 1e6} MHz")
        m.submodules.soc = soc = EPSoC(self.cfg, uart_divisor=divisor)
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
