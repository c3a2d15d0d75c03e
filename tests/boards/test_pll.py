"""PLL settings against each family's rules (icepll for the iCE40; ecppll's ranges with
LiteX's 10 MHz phase-detector floor for the ECP5), worked by hand for the boards' clocks
and checked over a sweep of requested clocks."""

from __future__ import annotations

import pytest

from epfpga.boards.pll import ecp5_setting, ice40_setting, pll_instance
from epfpga.cli import main
from epfpga.errors import EpfpgaError


def test_ice40_12_to_24_mhz_matches_hand_calculation() -> None:
    # 12 MHz / (0+1) = 12 MHz at the phase detector; * (63+1) = 768 MHz VCO; / 2**5 = 24
    s = ice40_setting(12.0, 24.0)
    assert s.f_out_mhz == 24.0
    assert s.params == {"DIVR": 0, "DIVF": 63, "DIVQ": 5, "FILTER_RANGE": 1}


def test_ecp5_25_to_40_mhz_matches_hand_calculation() -> None:
    # 25 MHz straight to the phase detector; the feedback output divides the VCO by 24
    # (600 MHz), the core clock output by 15 (40 MHz)
    s = ecp5_setting(25.0, 40.0)
    assert s.f_out_mhz == 40.0 and s.pfd_mhz == 25.0 and s.vco_mhz == 600.0
    assert s.params == {"CLKI_DIV": 1, "CLKFB_DIV": 1, "CLKOS_DIV": 24, "CLKOP_DIV": 15}


def _icepll_filter(pfd: float) -> int:
    """icepll's FILTER_RANGE rule, written out."""
    for hi, r in ((17, 1), (26, 2), (44, 3), (66, 4), (101, 5)):
        if pfd < hi:
            return r
    return 6


@pytest.mark.parametrize("target", [16.0, 18.0, 24.0, 30.0, 33.0, 48.0, 75.0, 100.0, 200.0])
def test_ice40_settings_obey_icepll_rules(target: float) -> None:
    p = ice40_setting(12.0, target).params
    pfd = 12.0 / (p["DIVR"] + 1)
    vco = pfd * (p["DIVF"] + 1)
    f = vco / 2 ** p["DIVQ"]
    assert 10 <= pfd <= 133 and 533 <= vco <= 1066 and 16 <= f <= 275
    assert abs(f - target) / target <= 0.02
    assert 0 <= p["DIVR"] < 16 and 0 <= p["DIVF"] < 128 and 1 <= p["DIVQ"] <= 6
    assert p["FILTER_RANGE"] == _icepll_filter(pfd)


@pytest.mark.parametrize("target", [10.0, 24.0, 30.0, 33.0, 40.0, 48.0, 50.0, 62.5, 100.0,
                                    133.0, 200.0])
def test_ecp5_settings_obey_the_ehxplll_ranges(target: float) -> None:
    s = ecp5_setting(25.0, target)
    p = s.params
    pfd = 25.0 / p["CLKI_DIV"]
    vco = pfd * p["CLKFB_DIV"] * p["CLKOS_DIV"]
    f = vco / p["CLKOP_DIV"]
    assert 10 <= pfd <= 400 and 400 <= vco <= 800 and 10 <= f <= 400
    assert f == pytest.approx(s.f_out_mhz) and abs(f - target) / target <= 0.02
    assert all(1 <= v <= 128 for v in p.values())


def test_unreachable_clocks_are_refused() -> None:
    with pytest.raises(EpfpgaError, match="cannot make 5 MHz"):
        ice40_setting(12.0, 5.0)  # below the 16 MHz output floor
    with pytest.raises(EpfpgaError, match="cannot make 300 MHz"):
        ice40_setting(12.0, 300.0)  # above the 275 MHz ceiling (the VCO could make it)
    with pytest.raises(EpfpgaError, match="cannot make 5 MHz"):
        ecp5_setting(25.0, 5.0)


def test_ecp5_instance_sets_loop_filter_and_internal_feedback() -> None:
    from amaranth.hdl import Signal

    inst = pll_instance(ecp5_setting(25.0, 40.0), 25.0, Signal(), Signal(), Signal())
    assert inst.type == "EHXPLLL"
    assert {k: inst.attrs[k] for k in ("ICP_CURRENT", "LPF_RESISTOR",
                                       "MFG_ENABLE_FILTEROPAMP", "MFG_GMCREF_SEL")} == {
        "ICP_CURRENT": "6", "LPF_RESISTOR": "16", "MFG_ENABLE_FILTEROPAMP": "1",
        "MFG_GMCREF_SEL": "2"}
    prm = inst.parameters
    assert prm["FEEDBK_PATH"] == "INT_OS" and prm["CLKOS_ENABLE"] == "ENABLED"
    assert (prm["CLKI_DIV"], prm["CLKFB_DIV"], prm["CLKOS_DIV"], prm["CLKOP_DIV"]) == (
        1, 1, 24, 15)
    assert prm["CLKOP_CPHASE"] == 14 and prm["CLKOS_CPHASE"] == 23  # zero phase: DIV - 1
    assert "CLKFB" not in inst.ports and "CLKI" in inst.ports  # the loop closes inside the PLL


def test_build_refuses_bad_clock_and_baud(tmp_path, capsys) -> None:
    def err(*argv: str) -> str:
        assert main(["build", *argv, "--out", str(tmp_path)]) == 2
        return capsys.readouterr().err

    assert "cannot make 5 MHz" in err("--board", "ulx3s", "--config", "tiny", "--clock", "5")
    assert "--clock must be in" in err("--board", "ulx3s", "--clock", "0.5")
    # 24 MHz / 2.9 Mbaud is 8.28 clocks a bit: 3.4 % off
    assert "baud" in err("--board", "icebreaker", "--baud", "2900000")
    assert not list(tmp_path.iterdir())  # refused before any tool ran


def test_sdram_clock_lags_the_core_clock_by_a_quarter_period() -> None:
    """CLKOS2's phase for the SDRAM clock: LiteX's ULX3S target at 50 MHz (divider 8)
    sets CPHASE 9 against CLKOP's 7 for 90 degrees; in eighths of a VCO cycle the lag is
    a quarter of the divider for any divider (40 MHz from 600: 3.75 cycles of 15)."""
    from epfpga.boards.pll import quarter_phase

    assert quarter_phase(8) == (9, 0)
    assert quarter_phase(15) == (17, 6)
    for div in range(1, 129):
        cphase, fphase = quarter_phase(div)
        assert 0 <= fphase < 8 and ((cphase - (div - 1)) * 8 + fphase) * 4 == div * 8
