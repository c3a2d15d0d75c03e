"""Synthesis, place and route with the YoWASP tools: the up5k SoC on the ULX3S 85F must
fit and meet timing at the board's 25 MHz clock (about 2 minutes)."""

from __future__ import annotations

import json

import pytest

from epfpga.cli import main

pytestmark = pytest.mark.synth


def test_ulx3s_up5k_builds_and_meets_timing(tmp_path) -> None:
    assert main(["build", "--board", "ulx3s", "--config", "up5k", "--out", str(tmp_path)]) == 0
    (report,) = tmp_path.glob("*/report.json")
    rep = json.loads(report.read_text())
    assert rep["ok"] and rep["timing_met"]
    assert min(rep["fmax_mhz"].values()) >= 25.0
    used, avail = rep["utilisation"]["DP16KD"]
    assert 0 < used <= avail
    assert list(report.parent.glob("*.bit"))  # the bitstream is there
