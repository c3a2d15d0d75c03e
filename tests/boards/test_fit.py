from __future__ import annotations

import pytest

from epfpga.boards.parts import fit_check, memory_bits
from epfpga.cli import main
from epfpga.errors import EpfpgaError
from epfpga.model.config import EPConfig, get_config


def test_memory_inventory_counts_the_weights() -> None:
    cfg = get_config("up5k")
    assert memory_bits(cfg)["weights"] == (784 * 64 + 64 * 10) * 16
    assert memory_bits(cfg, spram=True)["weights"] == 64 * 10 * 16  # W0 in SPRAM


@pytest.mark.parametrize("board, cfg, message", [
    ("icebreaker", get_config("up5k").replace(layers=(784, 128, 10)),
     "does not fit icebreaker (iCE40UP5K): W0 has 100352 weights but the SPRAM holds 65536"),
    ("ulx3s", EPConfig(layers=(784, 512, 10), part="ecp5", lanes=1),
     "does not fit ulx3s (LFE5U-85F): needs"),
    ("icebreaker", EPConfig(layers=(16, 8, 4), weight_bits=18, part="ecp5"),
     "wider than the 16-bit multipliers"),
])
def test_too_large_configs_are_refused_before_synthesis(board, cfg, message) -> None:
    with pytest.raises(EpfpgaError) as e:
        fit_check(cfg, board)
    assert message in str(e.value)
    assert "try " in str(e.value)


def test_multiplier_count_refuses_the_up5k_part() -> None:
    """Two shared multipliers per lane, each tiled from 16x16 blocks: lr_frac 24 and
    act_frac 15 make 40 x 17-bit operands (a 22-bit eta times a 17-bit state, and the
    state), 3 x 2 blocks each, and the 18 x 11-bit nudge 2 more: 14 of the UP5K's 8 with
    one lane, 26 with two."""
    cfg = get_config("tiny").replace(lr_frac=24, act_frac=15, lanes=1)
    with pytest.raises(EpfpgaError, match="needs 14 multipliers but the iCE40UP5K has 8"):
        fit_check(cfg, "icebreaker")
    with pytest.raises(EpfpgaError, match="needs 26 multipliers.*fewer MAC lanes"):
        fit_check(cfg.replace(lanes=2), "icebreaker")
    from epfpga.boards.parts import multipliers

    assert multipliers(get_config("up5k"), 16) == 5  # 23 x 11 bit: 2 blocks each; nudge 1
    # ECP5, one multiplier per use: (drive 1 + MACs 2 + the two layers' second halves 2
    # + an update pool of 2 x 2 tiles + the predrive's MAC 1 and its correction 1) per
    # lane + the nudge; C-EP has no predrive
    ecp5 = get_config("ecp5").replace(lanes=4)
    assert multipliers(ecp5, 18, shared=False) == 4 * 11 + 1
    assert multipliers(ecp5.replace(algorithm="cep"), 18, shared=False) == 4 * 9 + 1


def test_fitting_configs_pass(capsys, tmp_path) -> None:
    assert fit_check(get_config("tiny"), "ulx3s")["ram_bits"] < 30 * 4096
    assert main(["build", "--board", "ulx3s", "--config", "up5k", "--check-only"]) == 0
    one_lane = tmp_path / "tiny1.toml"
    get_config("tiny").replace(lanes=1).save(one_lane)
    assert main(["build", "--board", "icebreaker", "--config", str(one_lane),
                 "--check-only"]) == 0
    # two lanes: 13 multipliers
    assert main(["build", "--board", "icebreaker", "--config", "tiny", "--check-only"]) == 2
    err = capsys.readouterr().err
    assert "fewer MAC lanes" in err
    assert main(["build", "--board", "icebreaker", "--config", "up5k", "--check-only"]) == 0


def test_a_placement_overflow_is_said_in_words(tmp_path) -> None:
    from epfpga.boards.report import overflow, parse_nextpnr_log

    log = tmp_path / "epfpga.tim"
    log.write_text("Info: Device utilisation:\nInfo: \t ICESTORM_LC:  6216/  5280   117%\n"
                   "Info: \t ICESTORM_RAM:  29/  30  96%\n"
                   "ERROR: Failed to expand region (0, 0) |_> (25, 31) of 6215 ICESTORM_LCs\n")
    rep = parse_nextpnr_log(log)
    assert overflow(rep["utilisation"]) == ["6216 ICESTORM_LC of 5280 (118%)"]


def test_program_without_a_loader_says_how_to_get_one(tmp_path, capsys, monkeypatch) -> None:
    bit = tmp_path / "epfpga.bit"
    bit.write_bytes(b"\0")
    monkeypatch.setenv("PATH", str(tmp_path))  # no openFPGALoader / iceprog
    assert main(["program", "--board", "ulx3s", "--no-check", str(bit)]) == 2
    assert "apt-get install openfpgaloader" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)
    assert main(["program", "--board", "icebreaker"]) == 2
    assert "run `epfpga build --board icebreaker`" in capsys.readouterr().err


def test_block_count_matches_nextpnr_on_the_up5k() -> None:
    """nextpnr placed 29 ICESTORM_RAM for the up5k SoC (W0 in SPRAM, 2 KiB frame
    buffer): the per-memory block count must say the same; with the 4 KiB buffer of
    protocol v1 it was 33, over the part's 30."""
    from epfpga.boards.parts import PARTS, blocks, memories

    modes = PARTS["icebreaker"].ram_modes
    assert sum(blocks(d, w, modes) for _, d, w in memories(get_config("up5k"), True)) == 29
    assert blocks(784, 9, modes) == 3  # three 1024 x 4 blocks side by side
    assert blocks(4096, 8, modes) - blocks(2048, 8, modes) == 4


def test_a_missed_clock_says_which_clock_to_ask_for(tmp_path, capsys, monkeypatch) -> None:
    """nextpnr fails the build when f_max is under the clock: the message names a clock
    that would pass, not just nextpnr's own line."""
    from pathlib import Path

    import epfpga.boards.command_build as cb
    from epfpga.boards.placement import Placement
    from epfpga.boards.report import parse_nextpnr_log

    def failing_placement(make_plan, out: Path, seeds: list[int], jobs: int,
                          tools: dict[str, str], cache: Path | None = None) -> list:
        make_plan("").extract(str(out))  # the design elaborates; nextpnr then fails
        (out / "epfpga.tim").write_text(
            "Info: Max frequency for clock '$glbnet$clk': 21.37 MHz (FAIL at 25.00 MHz)\n"
            "ERROR: Max frequency for clock '$glbnet$clk': 21.37 MHz (FAIL at 25.00 MHz)\n")
        return [Placement(s, False, parse_nextpnr_log(out / "epfpga.tim"),
                          "nextpnr-ecp5 exited with status 1") for s in seeds]

    monkeypatch.setattr(cb, "place_seeds", failing_placement)
    assert main(["build", "--board", "ulx3s", "--config", "tiny", "--clock", "25",
                 "--baud", "1000000", "--no-sim", "--sdram", "none",
                 "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "f_max 21.4 MHz (best of 1 placements) is below the 25.0 MHz core clock" in err
    assert "--clock 21" in err
    # with its SDRAM the board needs the PLL (the SDRAM's clock is its 90-degree output)
    assert main(["build", "--board", "ulx3s", "--config", "tiny", "--clock", "25",
                 "--baud", "1000000", "--no-sim", "--out", str(tmp_path)]) == 2
    assert "--sdram none" in capsys.readouterr().err
    assert main(["build", "--board", "ulx3s", "--config", "tiny", "--sdram", "XYZ",
                 "--no-sim", "--out", str(tmp_path)]) == 2
    assert "unknown SDRAM chip 'XYZ'" in capsys.readouterr().err
