"""``epfpga sim-board``: serve a simulated board on 127.0.0.1 so that
``epfpga train --engine board --port socket://127.0.0.1:PORT`` runs as on hardware.

Without ``--board`` the SoC takes bytes straight into its frame parser (fast, no UART);
with ``--board`` it is the circuit that board's build puts in the FPGA: the UART at its
pins at the board's clock and baud, the part's memories (the iCE40's SPRAM from the
vendor's own model) and multiplier plan, and the training rate reported in board time."""

from __future__ import annotations

import argparse

from epfpga.boards.profiles import PROFILES
from epfpga.errors import EpfpgaError
from epfpga.model.config import PRESETS, get_config


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None,
                   help=f"preset ({', '.join(PRESETS)}) or .toml/.json file (default: the "
                        "board's build config with --board, else up5k)")
    p.add_argument("--port", type=int, default=7800, help="TCP port on 127.0.0.1")
    p.add_argument("--model", choices=("verilator", "golden"), default="verilator",
                   help="verilator: the SoC gateware (link + EP core) simulated in "
                        "Verilator; golden: the same protocol served by the golden model "
                        "(fast, for host-side work)")
    p.add_argument("--board", choices=sorted(PROFILES), default=None,
                   help="simulate this board's build: UART at the pins at its clock and "
                        "baud, its memories and multiplier plan (default: a byte-stream "
                        "SoC with no UART, the fast path)")
    p.add_argument("--baud", type=int, default=None,
                   help="UART baud with --board (default: the board's)")
    p.add_argument("--clock", type=float, default=None,
                   help="core clock in MHz with --board (default: the board's)")
    p.add_argument("--store", type=float, default=0, metavar="MB",
                   help="--model golden: give the board a dataset store of MB megabytes "
                        "(32: the ULX3S's SDRAM), so that `train --engine board` uploads "
                        "the dataset once and trains from it.  The Verilator board has "
                        "the store its board build has: --board ulx3s, its SDRAM (LiteDRAM "
                        "and a chip model at the pins)")
    p.add_argument("--gate-level", action="store_true",
                   help="with --board: simulate the netlist the build's synthesis makes "
                        "(synth_ice40 -dsp, synth_ecp5) with the cell models, not the RTL; "
                        "about 30x slower (give the host a --timeout of about 60)")


def run(args: argparse.Namespace) -> int:
    from epfpga.boards.profiles import profile
    from epfpga.host.board_model import BoardModel, serve_tcp
    from epfpga.sim.faithful import board_plan

    if (args.baud or args.clock) and not args.board:
        raise EpfpgaError("--baud and --clock describe a board's UART: give --board too")
    cfg = get_config(args.config or (profile(args.board).config if args.board else "up5k"))
    if not 0 < args.port < 65536:
        raise EpfpgaError(f"--port must be 1..65535, got {args.port}")
    if args.gate_level and not args.board:
        raise EpfpgaError("--gate-level simulates a board build's netlist: give --board")
    if args.store and args.model != "golden":
        raise EpfpgaError("--store sizes the golden board model's store; the Verilator "
                          "board has its build's (--board ulx3s: its SDRAM)")
    if not 0 <= args.store <= 4096:
        raise EpfpgaError(f"--store must be 0..4096 MB, got {args.store:g}")
    plan = board_plan(cfg, args.board, args.clock * 1e6 if args.clock else None,
                      args.baud, args.gate_level) if args.board else None
    what = args.model + (f", {args.store:g} MB dataset store" if args.store else "")
    if plan:
        what += (f", {plan.board} build: {plan.clock_hz / 1e6:g} MHz, UART at the pins at "
                 f"{plan.baud} baud" + (", W0 in SPRAM (vendor model)" if plan.spram else "")
                 + (", the synthesised netlist with the cell models"
                    if plan.gate_level else "")
                 + (f", dataset store on {plan.sdram} SDRAM (LiteDRAM, chip model at the "
                    "pins)" if plan.sdram else ""))
    if args.model == "verilator":
        from epfpga.sim.runner import build_native

        print("building the Verilator model (cached after the first time) ...", flush=True)
        build_native(cfg, plan)
    print(f"simulated board ({what}; {cfg.name}, digest {cfg.digest}) on "
          f"socket://127.0.0.1:{args.port}; Ctrl-C stops it", flush=True)
    try:
        if args.model == "golden":
            serve_tcp(BoardModel(cfg, plan.clock_hz if plan else 0, plan.baud if plan else 0,
                                 store_bytes=int(args.store * 2**20)), args.port)
        else:
            from epfpga.sim.board_sim import serve

            serve(cfg, args.port, verbose=True, plan=plan)
    except OSError as e:
        raise EpfpgaError(f"cannot serve on port {args.port}: {e}") from None
    return 0
