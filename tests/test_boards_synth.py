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


def _build(tmp_path, board: str, clock: float | None = None, config: str | None = None
           ) -> dict:
    """A build with the board profile's defaults for what is not given."""
    prof = profile(board)
    argv = ["build", "--board", board, "--out", str(tmp_path)]
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
    util = _build(tmp_path, "icebreaker")["utilisation"]  # the profile's up5k, 24 MHz
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
    from epfpga.config import get_config

    rep = _build(tmp_path, "ulx3s")  # the profile's ecp5 at 40 MHz
    ice = throughput(get_config("up5k"), 24.0, 1_000_000, simulate=True, shared_mul=True)
    assert rep["compute_samples_per_s"] >= 10 * ice["compute_samples_per_s"]
