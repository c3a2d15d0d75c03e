"""``epfpga explore``: a design-space table over hidden size and weight width per board.

Every row comes from something computed or measured, never guessed: the fit check,
the memory-port bound on cycles per sample (so samples/s is an upper bound), f_max and
measured cycles from a cached ``epfpga build`` of that exact config (``--build`` runs
the missing ones), and the golden model's MNIST accuracy from any training report of
that exact config digest found under ``--runs``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from epfpga.config import ConfigError, EPConfig, get_config
from epfpga.errors import EpfpgaError

from .parts import PARTS, fit_check


def _ints(text: str) -> list[int]:
    try:
        vals = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}") from None
    if not vals or min(vals) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return vals


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base", default="up5k", help="config the variants start from")
    p.add_argument("--boards", default=",".join(sorted(PARTS)),
                   help="comma-separated boards")
    p.add_argument("--hidden", type=_ints, default=[32, 64, 128, 256],
                   help="hidden layer sizes (one hidden layer), e.g. 32,64,128")
    p.add_argument("--weight-bits", type=_ints, default=[8, 12, 16],
                   help="weight widths; weight_frac keeps the base's integer bits")
    p.add_argument("--lanes", type=_ints, default=[1, 4, 8],
                   help="MAC lanes (powers of two); they change speed and size, not numbers")
    p.add_argument("--runs", type=Path, default=Path("runs"),
                   help="where training reports are looked up for accuracy")
    p.add_argument("--builds", type=Path, default=Path("build"),
                   help="where `epfpga build` reports are looked up")
    p.add_argument("--build", action="store_true",
                   help="build every fitting row that has no report yet (minutes each)")


def variant(base: EPConfig, hidden: int, wbits: int, board: str, lanes: int = 1
            ) -> EPConfig:
    part = "up5k" if board == "icebreaker" else "ecp5"
    frac = max(1, wbits - (base.weight_bits - base.weight_frac))
    return base.replace(layers=(base.layers[0], hidden, base.layers[-1]), weight_bits=wbits,
                        weight_frac=frac, beta_frac=min(base.beta_frac, frac), part=part,
                        lanes=lanes, name=f"h{hidden}w{wbits}p{lanes}")


def measured_accuracy(runs: Path, cfg: EPConfig) -> float | None:
    """Best golden-model test accuracy trained with these numbers (any lane count: lanes
    do not change a single bit)."""
    digests = {cfg.replace(lanes=1 << k).digest for k in range(7)}
    best = None
    for rep in runs.glob("**/report.json") if runs.is_dir() else []:
        try:
            d = json.loads(rep.read_text())
        except (OSError, ValueError):
            continue
        if d.get("digest") in digests and d.get("engine") == "golden" and \
                d.get("final_test_acc") is not None:
            best = max(best or 0.0, float(d["final_test_acc"]))
    return best


def cached_build(builds: Path, board: str, digest: str) -> dict | None:
    for rep in builds.glob(f"{board}-*/report.json") if builds.is_dir() else []:
        try:
            d = json.loads(rep.read_text())
        except (OSError, ValueError):
            continue
        if d.get("digest") == digest and d.get("ok"):
            return d
    return None


def run(args: argparse.Namespace) -> int:
    from epfpga.hw.bounds import chain_bound

    base = get_config(args.base)
    boards = [b.strip() for b in args.boards.split(",") if b.strip()]
    if bad := [p for p in args.lanes if p & (p - 1)]:
        raise EpfpgaError(f"--lanes takes powers of two, got {bad}")
    for b in boards:
        if b not in PARTS:
            raise EpfpgaError(f"unknown board {b!r}: use {', '.join(sorted(PARTS))}")
    print("| board | hidden | weight bits | lanes | fits | block RAM Kbit | multipliers "
          "| f_max MHz | cycles/sample | samples/s | golden MNIST |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for board in boards:
        for h in args.hidden:
            for wb, lanes in ((w, p) for w in args.weight_bits for p in args.lanes):
                try:
                    cfg = variant(base, h, wb, board, lanes)
                except ConfigError as e:
                    print(f"| {board} | {h} | {wb} | {lanes} | invalid: {e} | | | | | | |")
                    continue
                try:
                    fit = fit_check(cfg, board)
                    fits, ram, mults = "yes", f"{fit['ram_bits'] / 1024:.0f} / " \
                        f"{fit['ram_available'] / 1024:.0f}", \
                        f"{fit['multipliers']} / {fit['multipliers_available']}"
                except EpfpgaError as e:  # the first reason, without the suggestion
                    why = str(e).split("): ", 1)[-1].split(";")[0]
                    fits, ram, mults = f"no: {why}", "", ""
                rep = cached_build(args.builds, board, cfg.digest)
                if rep is None and args.build and fits == "yes":
                    from epfpga.cli import main

                    main(["build", "--board", board, "--config", _save(cfg, args.builds),
                          "--out", str(args.builds)])
                    rep = cached_build(args.builds, board, cfg.digest)
                if rep:
                    fmax = f"{min(rep['fmax_mhz'].values()):.1f}"
                    cyc = rep.get("cycles_per_sample")
                    clock = rep["clock_mhz"]
                else:
                    fmax, cyc, clock = "-", None, PARTS[board].clock_mhz
                if cyc:
                    cycles, rate = f"{cyc:.0f}", f"{clock * 1e6 / cyc:.0f}"
                else:  # the chain bound: no schedule of this core's memories does better
                    bound = chain_bound(cfg, 150.0, True, PARTS[board].shared_mul,
                                        streamed=True)
                    cycles, rate = f">= {bound}", f"<= {clock * 1e6 / bound:.0f}"
                acc = measured_accuracy(args.runs, cfg)
                print(f"| {board} | {h} | {wb} | {lanes} | {fits} | {ram} | {mults} | {fmax} "
                      f"| {cycles} | {rate} | {'-' if acc is None else f'{100 * acc:.2f}%'} |")
    print("\ncycles (training samples streamed back to back) without a build are the chain "
          "bound (hw/bounds.py) at 150 non-zero pixels (an MNIST average), samples/s at the "
          "board oscillator; accuracy: golden-model "
          f"training reports under {args.runs} with the same config digest.")
    return 0


def _save(cfg: EPConfig, where: Path) -> str:
    where.mkdir(parents=True, exist_ok=True)
    path = where / f"{cfg.name}-{cfg.part}.json"
    cfg.save(path)
    return str(path)
