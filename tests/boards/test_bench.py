"""``epfpga bench boards``: the rows and ratios it prints, and its error when a board's
cycle count is missing (the Verilator runs themselves are the sim tests' subject)."""

from __future__ import annotations

import pytest

from epfpga.boards import bench
from epfpga.errors import EpfpgaError


def _fake(cycles: dict[str, float]):
    def throughput(cfg, clock_mhz, baud, simulate, shared_mul=True, samples=4):
        assert simulate and samples == 5
        c = cycles[f"{cfg.name}/{shared_mul}"]
        return {"cycles_per_sample": c, "compute_samples_per_s": clock_mhz * 1e6 / c,
                "link_samples_per_s": 167.0}
    return throughput


def test_rows_and_ratios_per_board(monkeypatch, capsys) -> None:
    monkeypatch.setattr(bench, "BOARD_BUILDS", (("icebreaker", "up5k", 24.0),
                                                ("ulx3s", "ecp5", 40.0)))
    # the iCEBreaker shares multipliers, the ULX3S does not
    monkeypatch.setattr(bench, "throughput", _fake({"up5k/True": 64_000.0,
                                                    "ecp5/False": 10_000.0}))
    bench.main(5)
    out = capsys.readouterr().out
    assert "| icebreaker | up5k (784-64-10) | 1 | 24 MHz | 64000 | 375 | 1.0x |" in out
    # 40e6 / 10 000 = 4000 samples/s, 4000 / 375 = 10.7x
    assert "| ulx3s | ecp5 (784-128-10) | 4 | 40 MHz | 10000 | 4000 | 10.7x |" in out


def test_missing_cycle_count_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setattr(bench, "throughput", lambda *a, **k: {"link_samples_per_s": 1.0})
    with pytest.raises(EpfpgaError, match="no cycle count"):
        bench.bench_boards(5)
