"""``epfpga build``'s report and what ``epfpga program`` reads from it, with the
placements stood in for (no FPGA tools run): the profile's defaults, every seed's f_max,
the PLL, UART timing and LED meanings, then the load of that very build."""

from __future__ import annotations

import json
import os
from pathlib import Path

import epfpga.boards.command_build as cb
from epfpga.boards.placement import Placement
from epfpga.boards.report import parse_nextpnr_log
from epfpga.cli import main

FMAX = {5: 24.6, 6: 25.3, 7: 23.8}  # seed -> f_max of its stand-in placement


def _placements(make_plan, out: Path, seeds: list[int], jobs: int,
                tools: dict[str, str], cache: Path | None = None) -> list[Placement]:
    # the YoWASP tools go to the build scripts only, never into this process's environment
    assert tools["YOSYS"].endswith("epfpga-yosys") and "YOSYS" not in os.environ
    make_plan("").extract(str(out))  # the design elaborates as in a real build
    done = []
    for s in seeds:
        log = out / "seeds" / str(s) / "epfpga.tim"
        log.parent.mkdir(parents=True)
        log.write_text("Info: \t ICESTORM_LC:  5161/  5280    97%\n"
                       f"Info: Max frequency for clock 'clk': {FMAX[s]} MHz (PASS at 24.00 MHz)\n")
        done.append(Placement(s, True, parse_nextpnr_log(log)))
    (out / "epfpga.tim").write_text((out / "seeds" / "6" / "epfpga.tim").read_text())
    (out / "epfpga.bin").write_bytes(b"\0")
    return done


def test_report_of_three_seeds_then_program_loads_it(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(cb, "place_seeds", _placements)
    monkeypatch.delenv("YOSYS", raising=False)
    assert main(["build", "--board", "icebreaker", "--seed", "5", "--seeds", "3", "--no-sim",
                 "--out", str(tmp_path)]) == 0
    (rep_path,) = tmp_path.glob("icebreaker-up5k-*/report.json")
    rep = json.loads(rep_path.read_text())
    assert (rep["config"], rep["clock_mhz"], rep["baud"]) == ("up5k", 24.0, 3_000_000)
    assert rep["seed"] == 6 and rep["timing_met"] and rep["fmax_mhz"] == {"clk": 25.3}
    assert [p["fmax_mhz"] for p in rep["placements"]] == [24.6, 25.3, 23.8]
    assert rep["fmax_spread_mhz"] == {"min": 23.8, "median": 24.6, "max": 25.3}
    assert rep["pll"]["DIVF"] == 63 and rep["pll"]["vco_mhz"] == 768.0
    assert rep["uart"]["clocks_per_bit"] == 8 and rep["uart"]["rate_error"] == 0
    assert "LEDG (green)" in rep["leds"]
    text = (rep_path.parent / "report.txt").read_text()
    assert "3 placements: f_max min 23.8, median 24.6, max 25.3 MHz; kept seed 6" in text
    assert "UART: 3000000 baud, 8 clocks a bit" in text
    capsys.readouterr()

    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "iceprog").write_text("#!/bin/sh\nexit 0\n")
    (bindir / "iceprog").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    assert main(["program", "--board", "icebreaker", "--builds", str(tmp_path),
                 "--dry-run"]) == 0
    assert str(rep_path.parent / "epfpga.bin") in capsys.readouterr().out
