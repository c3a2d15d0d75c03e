"""``epfpga program``: load a built bitstream onto a board with openFPGALoader or iceprog
when one is installed; otherwise say exactly how to get one (never a silent no-op)."""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

from epfpga.errors import EpfpgaError

from .parts import PARTS

LOADERS = {
    "icebreaker": [("iceprog", ["{bit}"]), ("openFPGALoader", ["-b", "ice40_generic", "{bit}"])],
    "ulx3s": [("openFPGALoader", ["-b", "ulx3s", "{bit}"])],
}
HOW_TO_GET = ("install openFPGALoader (Debian: sudo apt-get install openfpgaloader) or, for "
              "the iCEBreaker, iceprog (Debian: sudo apt-get install fpga-icestorm)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--board", choices=sorted(PARTS), required=True)
    p.add_argument("bitstream", type=Path, nargs="?", default=None,
                   help="the .bit/.bin file (default: the newest under build/BOARD-*)")
    p.add_argument("--dry-run", action="store_true", help="print the command only")


def find_bitstream(board: str, root: Path = Path("build")) -> Path:
    found = sorted(root.glob(f"{board}-*/epfpga.b*"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise EpfpgaError(f"no bitstream for {board} under {root}/: run `epfpga build "
                          f"--board {board}` first")
    return found[-1]


def run(args: argparse.Namespace) -> int:
    bit = args.bitstream or find_bitstream(args.board)
    if not bit.exists():
        raise EpfpgaError(f"bitstream {bit} does not exist")
    for tool, tmpl in LOADERS[args.board]:
        exe = shutil.which(tool)
        if exe is None:
            continue
        cmd = [exe] + [a.format(bit=bit) for a in tmpl]
        print(" ".join(cmd))
        if args.dry_run:
            return 0
        r = subprocess.run(cmd)
        if r.returncode != 0:
            raise EpfpgaError(f"{tool} failed with exit code {r.returncode}: is the board "
                              "plugged in and its USB device accessible?")
        return 0
    raise EpfpgaError(f"no programmer found for {args.board}: {HOW_TO_GET}")
