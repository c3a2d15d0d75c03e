"""``epfpga program``: load a built bitstream onto a board with the loader its profile
names (openFPGALoader or iceprog) when one is installed; otherwise say exactly how to get
one (never a silent no-op).  A bitstream is loaded only when the build report beside it
says it was built for this board, config and baud: a board that answers at another baud
looks dead, and one with another config answers with the wrong digest."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path

from epfpga.errors import EpfpgaError
from epfpga.model.config import PRESETS, get_config

from .profiles import DEFAULT_BAUD, PROFILES, BoardProfile, profile

HOW_TO_GET = ("install openFPGALoader (Debian: sudo apt-get install openfpgaloader) or, for "
              "the iCEBreaker, iceprog (Debian: sudo apt-get install fpga-icestorm)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--board", choices=sorted(PROFILES), required=True)
    p.add_argument("bitstream", type=Path, nargs="?", default=None,
                   help="the .bit/.bin file (default: the newest build for --board, "
                        "--config and --baud under --builds)")
    p.add_argument("--config", default=None,
                   help=f"config the bitstream must be built for: preset ({', '.join(PRESETS)}) "
                        "or .toml/.json file; when not given, the board's default")
    p.add_argument("--baud", type=int, default=None,
                   help="baud the bitstream must use; when not given, the board's default")
    p.add_argument("--builds", type=Path, default=Path("build"),
                   help="where `epfpga build` put its builds")
    p.add_argument("--flash", action="store_true",
                   help="write the board's configuration flash, kept at power-off (the "
                        "ULX3S's default load is to SRAM and is lost at power-off)")
    p.add_argument("--no-check", action="store_true",
                   help="load a bitstream that has no build report beside it")
    p.add_argument("--dry-run", action="store_true", help="print the command only")


def _report(bit: Path) -> dict | None:
    try:
        return json.loads((bit.parent / "report.json").read_text())
    except (OSError, ValueError):
        return None


def _describe(rep: dict) -> str:
    return f"config {rep.get('config')!r} at {rep.get('baud')} baud on {rep.get('board')}"


def find_bitstream(prof: BoardProfile, digest: str, baud: int, root: Path) -> Path:
    """The newest finished build under ``root`` for this board, config digest and baud."""
    found, others = [], []
    for rep_path in root.glob(f"{prof.board}-*/report.json"):
        bit = rep_path.parent / prof.bitstream
        rep = _report(bit)
        if not rep or not rep.get("ok") or not bit.exists():
            continue
        if rep.get("digest") == digest and rep.get("baud") == baud:
            found.append(bit)
        else:
            others.append(_describe(rep))
    if not found:
        have = f" (there are builds of {'; '.join(sorted(set(others)))})" if others else ""
        raise EpfpgaError(f"no {prof.board} build for this config at {baud} baud under "
                          f"{root}/{have}: run `epfpga build --board {prof.board}` with "
                          "the same --config and --baud first")
    return max(found, key=lambda b: b.stat().st_mtime)


def check_bitstream(bit: Path, prof: BoardProfile, digest: str, name: str, baud: int) -> None:
    """Refuses ``bit`` unless its build report says board, config and baud match."""
    rep = _report(bit)
    if rep is None:
        raise EpfpgaError(f"no build report (report.json) beside {bit}, so its config and "
                          "baud are unknown: build it with `epfpga build`, or pass "
                          "--no-check to load it anyway")
    if (rep.get("board"), rep.get("digest"), rep.get("baud")) != (prof.board, digest, baud):
        raise EpfpgaError(f"{bit} was built for {_describe(rep)}, not config {name!r} at "
                          f"{baud} baud on {prof.board}: pass the matching --config/--baud "
                          "(the host must use the same) or build this one")


def run(args: argparse.Namespace) -> int:
    prof = profile(args.board)
    cfg = get_config(args.config or prof.config)
    baud = args.baud or prof.baud
    bit = args.bitstream or find_bitstream(prof, cfg.digest, baud, args.builds)
    if not bit.exists():
        raise EpfpgaError(f"bitstream {bit} does not exist")
    if not args.no_check:
        check_bitstream(bit, prof, cfg.digest, cfg.name, baud)
    for tmpl in prof.flash_loaders if args.flash else prof.loaders:
        exe = shutil.which(tmpl[0])
        if exe is None:
            continue
        cmd = [exe] + [a.format(bit=bit) for a in tmpl[1:]]
        print(" ".join(cmd))
        if args.dry_run:
            return 0
        r = subprocess.run(cmd)
        if r.returncode != 0:
            raise EpfpgaError(f"{tmpl[0]} failed with exit code {r.returncode}: is the board "
                              "plugged in and its USB device accessible (README: On a real "
                              "board)?")
        kept = ("into SRAM: lost at power-off (--flash writes the flash)"
                if prof.volatile and not args.flash else "into the flash: kept at power-off")
        rate = "" if baud == DEFAULT_BAUD else f" --baud {baud}"
        print(f"loaded {cfg.name} at {baud} baud {kept}; next: epfpga selftest --port "
              f"{prof.serial_linux}{rate} (or the {prof.serial_by_id} path)")
        return 0
    raise EpfpgaError(f"no programmer found for {args.board}: {HOW_TO_GET}")
