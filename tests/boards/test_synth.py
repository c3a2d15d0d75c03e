"""Synthesis, place and route with the YoWASP tools (pinned in pyproject.toml, so a
placement is the same run to run), at each board profile's defaults unless named: the
up5k SoC must fit the iCEBreaker's iCE40UP5K and meet timing at 24 MHz (about 4-5
minutes), and the ULX3S 85F at 30 MHz (about 2 minutes), each clock made by the board's
PLL.  The ecp5 SoC on the ULX3S at 40 MHz, training ten times as many samples per second
as the iCEBreaker, is a slow test (about 12 minutes)."""

from __future__ import annotations

import json

import pytest

from epfpga.boards.profiles import profile
from epfpga.cli import main

pytestmark = pytest.mark.synth


def _build(tmp_path, board: str, clock: float | None = None, config: str | None = None,
           seeds: int = 1) -> dict:
    """A build with the board profile's defaults for what is not given; ``seeds``
    placements from the profile's seed, two at a time, the best kept."""
    prof = profile(board)
    argv = ["build", "--board", board, "--out", str(tmp_path), "--seeds", str(seeds),
            "--jobs", str(min(seeds, 2))]
    argv += ["--clock", str(clock)] if clock else []
    argv += ["--config", config] if config else []
    assert main(argv) == 0
    (report,) = tmp_path.glob("*/report.json")
    rep = json.loads(report.read_text())
    clock = clock or prof.clock_hz / 1e6
    assert rep["ok"] and rep["timing_met"] and rep["clock_mhz"] == clock
    assert rep["baud"] == prof.baud and rep["config"] == (config or prof.config)
    assert min(rep["fmax_mhz"].values()) >= clock
    assert rep["cycles_per_sample"] > 0 and rep["link_samples_per_s"] > 0
    assert "timing met" in (report.parent / "report.txt").read_text()
    assert (report.parent / prof.bitstream).exists()
    return rep


def test_icebreaker_up5k_fits_and_meets_24_mhz(tmp_path) -> None:
    """At 99 % of the cells a placement meets 24 MHz or misses it by a few percent, seed
    by seed: two placements side by side, as a user would run them (``--seeds``); the
    profile's seed meets it on the current netlist (docs/results.md lists the spread)."""
    rep = _build(tmp_path, "icebreaker", seeds=2)  # the profile's up5k, 24 MHz
    assert len(rep["placements"]) == 2
    util = rep["utilisation"]
    for cell in ("ICESTORM_LC", "ICESTORM_RAM", "ICESTORM_SPRAM", "ICESTORM_DSP"):
        used, avail = util[cell]
        assert 0 < used <= avail, cell
    assert util["ICESTORM_SPRAM"][0] == 4  # W0 in the four SPRAM blocks


def test_ulx3s_up5k_builds_and_meets_timing(tmp_path) -> None:
    used, avail = _build(tmp_path, "ulx3s", 30.0, "up5k")["utilisation"]["DP16KD"]
    assert 0 < used <= avail


@pytest.mark.slow
def test_ulx3s_ecp5_at_40_mhz_trains_ten_times_the_icebreaker(tmp_path) -> None:
    """The issue's target, side by side: the build's cycles per streamed sample (its
    report) against the iCEBreaker core's on the same MNIST images, each at its clock."""
    from epfpga.boards.command_build import throughput
    from epfpga.model.config import get_config

    rep = _build(tmp_path, "ulx3s")  # the profile's ecp5 at 40 MHz
    ice = throughput(get_config("up5k"), 24.0, 1_000_000, simulate=True, shared_mul=True)
    assert rep["compute_samples_per_s"] >= 10 * ice["compute_samples_per_s"]


def test_ecp5_pll_alone_reaches_the_bitstream_with_its_loop_settings(tmp_path) -> None:
    """The board's EHXPLLL, reset and a blinking LED on the ULX3S 12F (same PLL as the
    85F, a much smaller chip database; under a minute): nextpnr takes the internal
    feedback, derives the 40 MHz clock, and writes LiteX's loop-filter settings, not the
    zeros it writes when they are missing."""
    import os

    from amaranth.hdl import ClockDomain, ClockSignal, Elaboratable, Module, Signal
    from amaranth.lib import io
    from amaranth_boards.ulx3s import ULX3S_12F_Platform

    from epfpga.boards.command_build import TOOL_ENV, _tool
    from epfpga.boards.pll import ecp5_setting, pll_instance
    from epfpga.boards.reset import PowerOnReset

    class Blinky(Elaboratable):
        def elaborate(self, platform):
            m = Module()
            m.submodules.clk_buf = clk_in = io.Buffer("i", platform.request("clk25", dir="-"))
            m.domains.sync = ClockDomain("sync")
            clk, locked = Signal(), Signal()
            m.submodules.pll = pll_instance(ecp5_setting(25.0, 40.0), 25.0, clk_in.i, clk,
                                            locked)
            m.d.comb += ClockSignal("sync").eq(clk)
            m.submodules.btn = btn = io.Buffer("i", platform.request("button_fire", 0,
                                                                     dir="-"))
            m.submodules.por = PowerOnReset(4000, locked, btn.i)
            m.submodules.led = led = io.Buffer("o", platform.request("led", 0, dir="-"))
            count = Signal(26)
            m.d.sync += count.eq(count + 1)
            m.d.comb += led.o.eq(count[-1])
            return m

    os.environ.update({k: _tool(v) for k, v in TOOL_ENV.items() if k not in os.environ})
    ULX3S_12F_Platform().build(Blinky(), name="pll", build_dir=str(tmp_path),
                               do_program=False)
    tim = (tmp_path / "pll.tim").read_text()
    assert "PASS at 40.00 MHz" in tim and "out of legal range" not in tim
    words = dict(line.split()[1:3] for line in (tmp_path / "pll.config").read_text()
                 .splitlines() if line.startswith(("word:", "enum:")) and len(line.split()) == 3)
    assert words["FEEDBK_PATH"] == "INT_OS"
    assert int(words["ICP_CURRENT"], 2) == 6 and int(words["LPF_RESISTOR"], 2) == 16
    assert int(words["MFG_GMCREF_SEL"], 2) == 2 and words["MFG_ENABLE_FILTEROPAMP"] == "1"
    # dividers are stored minus one: CLKOP 15 (40 MHz), CLKOS 24 (the 25 MHz feedback)
    assert int(words["CLKOP_DIV"], 2) == 14 and int(words["CLKOS_DIV"], 2) == 23
