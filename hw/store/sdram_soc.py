"""The SoC with its dataset store on SDRAM: what a ULX3S build puts in the FPGA apart
from the clock and the pads.  The board top (boards/top.py) gives it the board's raw
SDRAM pins; the faithful simulated board gives it ports that its SDRAM chip model
(sim/models/sdr_sdram.v) is wired to."""

from __future__ import annotations

from typing import Any

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from epfpga.model.config import EPConfig

from ..link.uart import BaudTiming
from ..plan import HardwarePlan
from ..soc import EPSoC
from .commands import StoreGeometry
from .litedram import LiteDRAMStore


class SDRAMSoC(wiring.Component):
    """``core``: the generated controller (boards.sdram.LiteDRAMCore); ``pins``: the
    SDRAM's I/O ports (hw/store/litedram.py ``PINS``)."""

    def __init__(self, cfg: EPConfig, uart: BaudTiming, plan: HardwarePlan, core: Any,
                 pins: dict[str, Any]):
        self.cfg, self.uart, self.plan, self.core, self.pins = cfg, uart, plan, core, pins
        self.geometry = StoreGeometry(core.words)
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "status_led": Out(3)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.soc = soc = EPSoC(self.cfg, uart=self.uart, plan=self.plan,
                                       store=self.geometry)
        m.submodules.sdram = sdram = LiteDRAMStore(self.core, self.pins)
        wiring.connect(m, soc.store, sdram.port)
        m.d.comb += [soc.rx.eq(self.rx), self.tx.eq(soc.tx),
                     self.status_led.eq(soc.status_led)]
        return m
