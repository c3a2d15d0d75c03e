"""Board profiles: the defaults the commands read, and the board tops built from them
(pins of the LEDs, the reset button and the PLL as the platform files name them)."""

from __future__ import annotations

import pytest

from epfpga.boards.profiles import (
    DEFAULT_BAUD,
    PROFILES,
    STATUS_BITS,
    default_baud,
    profile,
)
from epfpga.errors import EpfpgaError
from epfpga.model.config import get_config


def test_defaults_are_exact_on_both_boards_ftdi_parts() -> None:
    ice, ulx = profile("icebreaker"), profile("ulx3s")
    assert (ice.clock_hz, ice.baud, ice.config) == (24e6, 3_000_000, "up5k")
    assert (ulx.clock_hz, ulx.baud, ulx.config) == (40e6, 3_000_000, "ecp5")
    # both FTDI parts make 3 Mbaud exactly: 48 MHz / 16 (FT2232H), 3 MHz x 1 (FT231X)
    assert default_baud() == DEFAULT_BAUD == 3_000_000 == default_baud("ulx3s")
    assert not ice.volatile and ulx.volatile  # iceprog writes flash; ulx3s loads SRAM
    assert ice.serial_linux == "/dev/ttyUSB1" and ulx.serial_linux == "/dev/ttyUSB0"


def test_unknown_board_is_one_clear_error() -> None:
    with pytest.raises(EpfpgaError, match="unknown board 'de10'.*icebreaker, ulx3s"):
        profile("de10")


def test_every_status_bit_has_a_led_on_every_board() -> None:
    for p in PROFILES.values():
        shown = {s for led in p.leds for s in led.shows}
        assert shown == set(STATUS_BITS), p.board
        assert all(meaning for _, meaning in p.led_table())
    ice = dict(profile("icebreaker").led_table())
    assert "training" in ice["LEDG (green)"] and "CRC" in ice["LEDR (red)"]


def test_link_timing_at_the_defaults_and_refusals() -> None:
    ice, ulx = profile("icebreaker").link_timing(), profile("ulx3s").link_timing()
    assert ice.clocks_per_bit == 8 and ice.rate_error == 0  # 24 MHz / 3 Mbaud, exact
    # 40 MHz / 3 Mbaud = 13.33 clocks a bit: fractional, well inside 1 %
    assert abs(ulx.clocks_per_bit - 40 / 3) < 1 / 16 and abs(ulx.rate_error) < 0.01
    with pytest.raises(EpfpgaError, match="margin"):
        profile("ulx3s").link_timing(25e6)  # 8.33 clocks a bit: too little margin
    with pytest.raises(EpfpgaError, match="at least 4 clocks"):
        profile("icebreaker").link_timing(9e6)


def _plan(board: str, config: str, clock: float | None = None):
    from epfpga.boards.command_build import _platform
    from epfpga.boards.top import BoardTop

    return _platform(board).prepare(BoardTop(get_config(config), board, clock_mhz=clock),
                                    name="epfpga")


def test_icebreaker_top_wires_leds_button_and_pll_to_their_pins() -> None:
    plan = _plan("icebreaker", "up5k")  # no --clock: the profile's 24 MHz
    pcf = plan.files["epfpga.pcf"]
    for pin in ("10", "11", "37", "6", "9"):  # button, red, green, UART rx, tx
        assert f" {pin}\n" in pcf, pin
    il = plan.files["epfpga.il"]
    assert "SB_PLL40_PAD" in il and "parameter \\DIVF 63" in il


def test_ulx3s_top_has_pll_attributes_and_fire1_reset() -> None:
    plan = _plan("ulx3s", "tiny", 30.0)
    lpf = plan.files["epfpga.lpf"]
    for site in ("R1", "B2", "C2", "C1", "M1", "L4"):  # F1, LEDs D0-D2, UART rx, tx
        assert f'SITE "{site}"' in lpf, site
    il = plan.files["epfpga.il"]
    for attr in ("ICP_CURRENT", "LPF_RESISTOR", "MFG_ENABLE_FILTEROPAMP", "MFG_GMCREF_SEL"):
        assert f"attribute \\{attr} " in il, attr
    assert 'parameter \\FEEDBK_PATH "INT_OS"' in il


def test_readme_led_table_says_what_the_profiles_wire() -> None:
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for p in PROFILES.values():
        for led, meaning in p.led_table():
            assert f"| {led} | {meaning} |" in readme, (p.board, led)
        assert p.serial_linux in readme and p.serial_by_id in readme
