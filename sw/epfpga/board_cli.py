"""``epfpga sim-board``: serve a simulated board on 127.0.0.1 so that
``epfpga train --engine board --port socket://127.0.0.1:PORT`` runs as on hardware."""

from __future__ import annotations

import argparse

from .config import PRESETS, get_config
from .errors import EpfpgaError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="up5k",
                   help=f"preset ({', '.join(PRESETS)}) or .toml/.json file")
    p.add_argument("--port", type=int, default=7800, help="TCP port on 127.0.0.1")
    p.add_argument("--model", choices=("verilator", "golden"), default="verilator",
                   help="verilator: the SoC gateware (link + EP core) simulated in "
                        "Verilator; golden: the same protocol served by the golden model "
                        "(fast, for host-side work)")


def run(args: argparse.Namespace) -> int:
    from .board_model import BoardModel, serve_tcp

    cfg = get_config(args.config)
    if not 0 < args.port < 65536:
        raise EpfpgaError(f"--port must be 1..65535, got {args.port}")
    if args.model == "verilator":
        from .sim.runner import build_native

        print("building the Verilator model (cached after the first time) ...", flush=True)
        build_native(cfg)
    print(f"simulated board ({args.model}, {cfg.name}, digest {cfg.digest}) on "
          f"socket://127.0.0.1:{args.port}; Ctrl-C stops it", flush=True)
    try:
        if args.model == "golden":
            serve_tcp(BoardModel(cfg), args.port)
        else:
            from .sim.board_sim import serve

            serve(cfg, args.port, verbose=True)
    except OSError as e:
        raise EpfpgaError(f"cannot serve on port {args.port}: {e}") from None
    return 0
