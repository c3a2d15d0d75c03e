from __future__ import annotations

import pytest

from epfpga.boards.parts import fit_check, memory_bits
from epfpga.cli import main
from epfpga.config import EPConfig, get_config
from epfpga.errors import EpfpgaError


def test_memory_inventory_counts_the_weights() -> None:
    cfg = get_config("up5k")
    assert memory_bits(cfg)["weights"] == (784 * 64 + 64 * 10) * 16


@pytest.mark.parametrize("board, cfg, message", [
    ("icebreaker", get_config("up5k"), "does not fit icebreaker (iCE40UP5K): needs"),
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
    """nextpnr needed 15 DSPs for the tiny SoC on the UP5K (8 available): the estimate
    must refuse it before synthesis."""
    with pytest.raises(EpfpgaError, match="needs 12 multipliers but the iCE40UP5K has 8"):
        fit_check(get_config("tiny"), "icebreaker")


def test_fitting_configs_pass(capsys) -> None:
    assert fit_check(get_config("tiny"), "ulx3s")["ram_bits"] < 30 * 4096
    assert main(["build", "--board", "ulx3s", "--config", "up5k", "--check-only"]) == 0
    assert main(["build", "--board", "icebreaker", "--config", "up5k", "--check-only"]) == 2
    assert "does not fit" in capsys.readouterr().err


def test_program_without_a_loader_says_how_to_get_one(tmp_path, capsys, monkeypatch) -> None:
    bit = tmp_path / "epfpga.bit"
    bit.write_bytes(b"\0")
    monkeypatch.setenv("PATH", str(tmp_path))  # no openFPGALoader / iceprog
    assert main(["program", "--board", "ulx3s", str(bit)]) == 2
    assert "apt-get install openfpgaloader" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)
    assert main(["program", "--board", "icebreaker"]) == 2
    assert "run `epfpga build --board icebreaker` first" in capsys.readouterr().err
