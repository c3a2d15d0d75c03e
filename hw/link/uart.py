"""8N1 UART at a bit period that need not be a whole number of clocks.

A board's clock and the host's baud rarely divide: 40 MHz / 3 Mbaud is 13.33 clocks a
bit.  Rounding the divisor to 13 is 2.6 % fast, most of the whole link's tolerance.
Both directions here keep the bit period as a fixed-point number of clocks and carry
the fraction from bit to bit, so the average rate is exact and each edge or sample
point is off by at most one clock; with a whole divisor the fraction has no bits and
the logic is a plain counter.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from epfpga.errors import EpfpgaError

#: fraction bits of the bit period when it is not a whole number of clocks
FRAC_BITS = 4
#: limits a clock/baud pair must meet: the FPGA's share of the link's timing budget
MAX_RATE_ERROR = 0.01
MIN_MARGIN = 0.35  # bits between a sample point and the nearest bit edge, worst case
MIN_CLOCKS_PER_BIT = 4


@dataclass(frozen=True)
class BaudTiming:
    """A UART's bit period at a clock: ``period`` in 1/2**frac clocks."""

    clock_hz: int
    baud: int
    period: int
    frac: int

    @property
    def clocks_per_bit(self) -> float:
        return self.period / (1 << self.frac)

    @property
    def rate_error(self) -> float:
        """Relative baud error of the generated rate (positive: the FPGA is fast)."""
        return self.clock_hz / self.clocks_per_bit / self.baud - 1

    @property
    def margin(self) -> float:
        """Worst-case distance, in bits, from a sample point to a bit edge over a frame:
        half a bit, less the start edge's detection jitter (one clock), less the sample
        point's rounding to a clock (half a clock with a fraction), less the drift of a
        rate error by the stop bit's centre (9.5 bits after the start edge)."""
        p = self.clocks_per_bit
        return 0.5 - (1 + (0.5 if self.frac else 0)) / p - 9.5 * abs(self.rate_error)


def baud_timing(clock_hz: float, baud: int) -> BaudTiming:
    """The bit period for ``baud`` at ``clock_hz``, refused (with the reason) when the
    error or the sampling margin is outside what a board can rely on."""
    if baud <= 0 or clock_hz <= 0:
        raise EpfpgaError(f"baud and clock must be positive (got {baud} baud at "
                          f"{clock_hz / 1e6:g} MHz)")
    clock_hz, baud = int(round(clock_hz)), int(baud)
    exact = clock_hz / baud
    whole = round(exact)
    if abs(whole - exact) / exact < 1e-9:
        t = BaudTiming(clock_hz, baud, whole, 0)
    else:
        t = BaudTiming(clock_hz, baud, round(exact * (1 << FRAC_BITS)), FRAC_BITS)
    if t.clocks_per_bit < MIN_CLOCKS_PER_BIT:
        raise EpfpgaError(f"{baud} baud needs at least {MIN_CLOCKS_PER_BIT} clocks per bit; "
                          f"{clock_hz / 1e6:g} MHz gives {t.clocks_per_bit:.2f}: raise --clock "
                          "or lower --baud")
    if abs(t.rate_error) > MAX_RATE_ERROR or t.margin < MIN_MARGIN:
        raise EpfpgaError(
            f"{baud} baud at {clock_hz / 1e6:g} MHz: rate error {100 * t.rate_error:+.2f} % "
            f"(limit {100 * MAX_RATE_ERROR:g} %), sampling margin {t.margin:.2f} bit "
            f"(limit {MIN_MARGIN}): pick another --baud or --clock")
    return t


class _BitClock:
    """A down-counter in 1/2**frac clocks: ``expired`` once the loaded time has passed;
    ``reload(extra)`` adds one more interval to what is left, keeping the fraction."""

    def __init__(self, m: Module, timing: BaudTiming, longest: int):
        self.m, self.t = m, timing
        self.one = 1 << timing.frac
        self.cnt = Signal(range(longest * self.one + 1))
        self.expired = Signal()
        m.d.comb += self.expired.eq(self.cnt < self.one)
        with m.If(~self.expired):
            m.d.sync += self.cnt.eq(self.cnt - self.one)

    def load(self, time: int) -> None:
        self.m.d.sync += self.cnt.eq(time)

    def reload(self) -> None:
        """Next interval of one bit period from the current expiry (fraction kept)."""
        self.m.d.sync += self.cnt.eq(self.cnt + self.t.period - self.one)


class UARTRx(wiring.Component):
    """8N1 receiver, sampled mid-bit.  A UART cannot hold a byte back: ``data`` is
    ``always_ready``, so ``wiring.connect`` refuses a consumer that could stall it."""

    def __init__(self, timing: BaudTiming):
        self.timing = timing
        super().__init__({"rx": In(1, init=1),
                          "data": Out(stream.Signature(8, always_ready=True))})

    def elaborate(self, platform):
        m = Module()
        t = self.timing
        clk = _BitClock(m, t, int(2 * t.clocks_per_bit) + 2)
        bit = Signal(range(10))
        shreg = Signal(8)
        rx = Signal(init=1)
        m.d.sync += [rx.eq(self.rx), self.data.valid.eq(0)]  # one synchroniser stage
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    # the middle of bit 0, counted from the clock the edge was seen
                    clk.load(t.period + t.period // 2 - clk.one)
                    m.d.sync += bit.eq(0)
                    m.next = "BITS"
            with m.State("BITS"):
                with m.If(clk.expired):
                    clk.reload()
                    with m.If(bit == 8):
                        with m.If(rx):  # stop bit: a framing error is just not a byte
                            m.d.sync += [self.data.payload.eq(shreg), self.data.valid.eq(1)]
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += [shreg.eq(Cat(shreg[1:], rx)), bit.eq(bit + 1)]
        return m


class UARTTx(wiring.Component):
    def __init__(self, timing: BaudTiming):
        self.timing = timing
        super().__init__({"tx": Out(1, init=1), "data": In(stream.Signature(8))})

    def elaborate(self, platform):
        m = Module()
        t = self.timing
        clk = _BitClock(m, t, int(t.clocks_per_bit) + 2)
        bits = Signal(10)
        left = Signal(range(11))
        with m.If(left == 0):
            m.d.comb += [self.data.ready.eq(1), self.tx.eq(1)]
            with m.If(self.data.valid):
                m.d.sync += [bits.eq(Cat(0, self.data.payload, 1)), left.eq(10)]
                clk.load(t.period - clk.one)
        with m.Else():
            m.d.comb += self.tx.eq(bits[0])
            with m.If(clk.expired):
                clk.reload()
                m.d.sync += [bits.eq(bits >> 1), left.eq(left - 1)]
        return m
