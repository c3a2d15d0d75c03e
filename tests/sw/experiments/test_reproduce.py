"""``epfpga reproduce``: every claim runs end to end on small subsets, writes its
table, JSON and plot, and the measured effects point the way the seeds claim."""

from __future__ import annotations

import json

import pytest

from epfpga.cli import main

SMALL = ["--train-samples", "150", "--test-samples", "100", "--grad-samples", "1",
         "--no-progress", "--dataset", "mnist"]


def test_noncons_correction_wins_on_gradient(tmp_path, mnist, capsys) -> None:
    assert main(["reproduce", "noncons", "--out", str(tmp_path), *SMALL]) == 0
    res = json.loads((tmp_path / "noncons.json").read_text())
    err = {k: v[0][0] for k, v in res["grad"].items()}
    assert err["corrected"] < 0.01 and err["uncorrected"] > 10 * err["corrected"]
    assert (tmp_path / "noncons.png").exists()
    assert "| corrected |" in capsys.readouterr().out


def test_cep_tracks_bptt_at_small_rate(tmp_path, mnist) -> None:
    assert main(["reproduce", "cep", "--out", str(tmp_path), *SMALL]) == 0
    agree = json.loads((tmp_path / "cep.json").read_text())["agreement"]
    errs = [v[0] for v in agree.values()]  # rate/beta ascending
    assert errs[0] < 0.01 and errs == sorted(errs)
    assert set(json.loads((tmp_path / "cep.json").read_text())["accuracy"]) == {
        "float EP", "float C-EP", "golden EP", "golden C-EP"}


def test_finite_nudge_sweep_runs(tmp_path, mnist) -> None:
    assert main(["reproduce", "finite-nudge", "--out", str(tmp_path), *SMALL]) == 0
    res = json.loads((tmp_path / "finite-nudge.json").read_text())
    assert set(res["snr"]) == {"0.01", "0.03", "0.1", "0.3", "1.0"}
    assert (tmp_path / "finite_nudge.png").exists()


def test_bad_arguments(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["reproduce", "nope"])
    assert main(["reproduce", "cep", "--train-samples", "0"]) == 2
    assert "must be >= 1" in capsys.readouterr().err
