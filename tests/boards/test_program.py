"""``epfpga program`` loads only a build for the asked board, config and baud, and picks
the newest such build (no board or loader needed: --dry-run)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from epfpga.cli import main
from epfpga.model.config import get_config


def _build(root: Path, name: str, config: str, baud: int, age: int, ok: bool = True,
           board: str = "icebreaker") -> Path:
    d = root / f"{board}-{config}-{name}"
    d.mkdir(parents=True)
    bit = d / ("epfpga.bin" if board == "icebreaker" else "epfpga.bit")
    bit.write_bytes(b"\0")
    os.utime(bit, (1e9 + age, 1e9 + age))
    (d / "report.json").write_text(json.dumps(
        {"board": board, "config": config, "digest": get_config(config).digest,
         "baud": baud, "ok": ok}))
    return bit


@pytest.fixture
def loader(tmp_path, monkeypatch) -> Path:
    """A stand-in iceprog on PATH, so the command line is printed."""
    d = tmp_path / "bin"
    d.mkdir()
    (d / "iceprog").write_text("#!/bin/sh\nexit 0\n")
    (d / "iceprog").chmod(0o755)
    monkeypatch.setenv("PATH", f"{d}:{os.environ['PATH']}")
    return d


def _program(root: Path, *argv: str) -> int:
    return main(["program", "--board", "icebreaker", "--builds", str(root), "--dry-run",
                 *argv])


def test_newest_build_of_the_asked_config_and_baud_is_chosen(tmp_path, loader, capsys) -> None:
    root = tmp_path / "build"
    _build(root, "a", "up5k", 3_000_000, age=1)
    want = _build(root, "b", "up5k", 3_000_000, age=2)
    _build(root, "c", "up5k", 1_000_000, age=3)  # newer, other baud
    _build(root, "d", "tiny", 3_000_000, age=4)  # newer, other config
    _build(root, "e", "up5k", 3_000_000, age=5, ok=False)  # newer, failed
    assert _program(root) == 0  # defaults: the profile's up5k at 3 Mbaud
    assert str(want) in capsys.readouterr().out
    assert _program(root, "--baud", "1000000") == 0
    assert "up5k-c" in capsys.readouterr().out


def test_no_matching_build_names_what_there_is(tmp_path, loader, capsys) -> None:
    root = tmp_path / "build"
    _build(root, "c", "up5k", 1_000_000, age=3)
    assert _program(root) == 2
    err = capsys.readouterr().err
    assert "no icebreaker build for this config at 3000000 baud" in err
    assert "config 'up5k' at 1000000 baud" in err


def test_a_bitstream_for_another_config_or_baud_is_refused(tmp_path, loader, capsys) -> None:
    bit = _build(tmp_path, "x", "up5k", 1_000_000, age=1)
    assert _program(tmp_path, str(bit)) == 2
    assert "was built for config 'up5k' at 1000000 baud" in capsys.readouterr().err
    assert _program(tmp_path, str(bit), "--baud", "1000000") == 0
    assert _program(tmp_path, str(bit), "--baud", "1000000", "--config", "tiny") == 2
    capsys.readouterr()
    (bit.parent / "report.json").unlink()
    assert _program(tmp_path, str(bit), "--baud", "1000000") == 2
    assert "no build report" in capsys.readouterr().err
    assert _program(tmp_path, str(bit), "--no-check") == 0


def test_ulx3s_load_is_volatile_unless_flash(tmp_path, monkeypatch, capsys) -> None:
    d = tmp_path / "bin"
    d.mkdir()
    (d / "openFPGALoader").write_text("#!/bin/sh\nexit 0\n")
    (d / "openFPGALoader").chmod(0o755)
    monkeypatch.setenv("PATH", f"{d}:{os.environ['PATH']}")
    bit = _build(tmp_path, "u", "ecp5", 3_000_000, age=1, board="ulx3s")
    argv = ["program", "--board", "ulx3s", str(bit)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "-b ulx3s" in out and " -f " not in out and "lost at power-off" in out
    assert main([*argv, "--flash"]) == 0
    out = capsys.readouterr().out
    assert " -f " in out and "kept at power-off" in out and "/dev/ttyUSB0" in out
