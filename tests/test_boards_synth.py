"""Synthesis, place and route with the YoWASP tools: the up5k SoC on the ULX3S 85F must
fit and meet timing at 30 MHz from the PLL (about 2 minutes)."""

from __future__ import annotations

import json

import pytest

from epfpga.cli import main

pytestmark = pytest.mark.synth


def test_ulx3s_up5k_builds_and_meets_timing(tmp_path) -> None:
    assert main(["build", "--board", "ulx3s", "--config", "up5k", "--clock", "30",
                 "--out", str(tmp_path)]) == 0
    (report,) = tmp_path.glob("*/report.json")
    rep = json.loads(report.read_text())
    assert rep["ok"] and rep["timing_met"] and rep["clock_mhz"] == 30.0
    assert min(rep["fmax_mhz"].values()) >= 30.0
    assert rep["cycles_per_sample"] > 0 and rep["link_samples_per_s"] > 0
    assert "timing met" in (report.parent / "report.txt").read_text()
    used, avail = rep["utilisation"]["DP16KD"]
    assert 0 < used <= avail
    assert list(report.parent.glob("*.bit"))  # the bitstream is there
