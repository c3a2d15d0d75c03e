"""The board's reset: the SoC starts only once its clock is stable, and the user button
restarts it."""

from __future__ import annotations

import math

from amaranth.hdl import ClockDomain, ClockSignal, Elaboratable, Module, ResetSignal, Signal
from amaranth.lib.cdc import FFSynchronizer, ResetSynchronizer

#: How long the SoC stays in reset after the PLL locks (and after the button is let go).
#: The iCE40's block RAM reads wrong for a few microseconds after configuration (Amaranth's
#: own iCE40 reset waits 15 us), and a PLL's LOCK can flicker while it settles; 100 us
#: covers both and is nothing to a host.
HOLD_S = 100e-6


def hold_cycles(clock_hz: float) -> int:
    return math.ceil(clock_hz * HOLD_S)


class PowerOnReset(Elaboratable):
    """Drives ``sync``'s reset: asserted from configuration until ``cycles`` clocks after
    ``locked`` rises, and again while ``button`` is pressed and ``cycles`` after.  Losing
    LOCK resets the counter asynchronously (the clock may be gone)."""

    def __init__(self, cycles: int, locked: Signal, button: Signal | None = None):
        self.cycles = cycles
        self.locked = locked
        self.button = button

    def elaborate(self, platform):
        m = Module()
        m.domains.por = ClockDomain("por")
        m.d.comb += ClockSignal("por").eq(ClockSignal("sync"))
        m.submodules.lock_sync = ResetSynchronizer(~self.locked, domain="por")
        pressed = Signal()
        if self.button is not None:
            m.submodules.button_sync = FFSynchronizer(self.button, pressed, o_domain="por")
        count = Signal(range(self.cycles + 1))
        with m.If(pressed):
            m.d.por += count.eq(0)
        with m.Elif(count != self.cycles):
            m.d.por += count.eq(count + 1)
        m.d.comb += ResetSignal("sync").eq(count != self.cycles)
        return m
