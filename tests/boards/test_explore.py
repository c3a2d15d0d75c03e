"""``epfpga explore``: every row is a fit-check verdict, a bound or a measurement."""

from __future__ import annotations

import json

import pytest

from epfpga.boards.explore import variant
from epfpga.cli import main
from epfpga.model.config import get_config


def test_table_rows_and_lookups(tmp_path, capsys) -> None:
    runs, builds = tmp_path / "runs", tmp_path / "build"
    cfg = variant(get_config("up5k"), 64, 16, "ulx3s")
    (runs / "a").mkdir(parents=True)
    (runs / "a" / "report.json").write_text(json.dumps(
        {"digest": cfg.digest, "engine": "golden", "final_test_acc": 0.9683}))
    (builds / "ulx3s-x").mkdir(parents=True)
    (builds / "ulx3s-x" / "report.json").write_text(json.dumps(
        {"digest": cfg.digest, "ok": True, "fmax_mhz": {"clk": 33.2}, "clock_mhz": 25.0,
         "cycles_per_sample": 71877.0}))
    assert main(["explore", "--hidden", "64,256", "--weight-bits", "16", "--lanes", "1,4",
                 "--runs", str(runs), "--builds", str(builds)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| ulx3s | 64 | 16 | 1 |"))
    assert "96.83%" in row and "33.2" in row and "71877" in row and "| 348 |" in row
    # four lanes: the same numbers (accuracy found), no build yet (a bound instead)
    row4 = next(line for line in out.splitlines() if line.startswith("| ulx3s | 64 | 16 | 4 |"))
    assert "96.83%" in row4 and ">= " in row4
    ice = next(line for line in out.splitlines() if line.startswith("| icebreaker | 256 |"))
    assert "no: " in ice and "<= " in ice  # refused by the fit check; bound only


@pytest.mark.parametrize("bad", [["--hidden", "0"], ["--weight-bits", "x"], ["--lanes", "3"],
                                 ["--boards", "nexys"]])
def test_bad_arguments(bad, capsys) -> None:
    try:
        rc = main(["explore", *bad])
    except SystemExit as e:  # argparse refuses malformed lists itself
        rc = e.code
    assert rc == 2
    assert capsys.readouterr().err
