"""PLL divider search against each family's formula and ranges, worked by hand."""

from __future__ import annotations

import pytest

from epfpga.boards.pll import ecp5_setting, ice40_setting
from epfpga.cli import main
from epfpga.errors import EpfpgaError


def test_ice40_12_to_24_mhz_matches_hand_calculation() -> None:
    # 12 MHz / (0+1) = 12 MHz at the phase detector; * (63+1) = 768 MHz VCO; / 2**5 = 24
    s = ice40_setting(12.0, 24.0)
    p = s.params
    assert s.f_out_mhz == 24.0
    assert 12 / (p["DIVR"] + 1) * (p["DIVF"] + 1) / 2 ** p["DIVQ"] == 24.0
    assert 533 <= 12 / (p["DIVR"] + 1) * (p["DIVF"] + 1) <= 1066
    assert p["FILTER_RANGE"] == 1  # 12 MHz phase detector: the lowest filter range


@pytest.mark.parametrize("target", [30.0, 33.0, 40.0, 50.0])
def test_ecp5_settings_respect_vco_range(target: float) -> None:
    s = ecp5_setting(25.0, target)
    p = s.params
    f = 25.0 / p["CLKI_DIV"] * p["CLKFB_DIV"]
    assert f == pytest.approx(s.f_out_mhz)
    assert abs(f - target) / target <= 0.02
    assert 400 <= f * p["CLKOP_DIV"] <= 800
    assert 25.0 / p["CLKI_DIV"] >= 3.125


def test_unreachable_clocks_are_refused() -> None:
    with pytest.raises(EpfpgaError, match="cannot make 5 MHz"):
        ice40_setting(12.0, 5.0)
    with pytest.raises(EpfpgaError, match="cannot make 24 MHz"):
        ecp5_setting(25.0, 24.0)  # 25 MHz in, 3.125 MHz minimum at the phase detector


def test_build_refuses_bad_clock(tmp_path, capsys) -> None:
    assert main(["build", "--board", "ulx3s", "--config", "tiny", "--clock", "24",
                 "--out", str(tmp_path)]) == 2
    assert "cannot make 24 MHz" in capsys.readouterr().err
    assert main(["build", "--board", "ulx3s", "--config", "tiny", "--clock", "0.5",
                 "--out", str(tmp_path)]) == 2
