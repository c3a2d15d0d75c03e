"""``epfpga explore``: a design-space table over hidden size and weight width per board,
made by the sweep of the same grid (``epfpga sweep explore``).

Every row comes from something computed or measured, never guessed: the fit check,
the memory-port bound on cycles per sample (so samples/s is an upper bound), f_max and
measured cycles from a cached ``epfpga build`` of that exact config (``--build`` runs
the missing ones), and the golden model's MNIST accuracy from any training report of
that exact config digest found under ``--runs``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from epfpga.errors import EpfpgaError
from epfpga.model.config import EPConfig, get_config
from epfpga.sweep.spec import SweepSpec, parse_spec

from .parts import PARTS


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
                   help="build every fitting row that has no report yet (minutes each), "
                        "as a sweep on a Dask LocalCluster")
    p.add_argument("--workers", type=int, default=None,
                   help="with --build: builds at once (default: one per core, as memory "
                        "allows)")


def variant(base: EPConfig, hidden: int, wbits: int, board: str, lanes: int = 1
            ) -> EPConfig:
    """The sweep's point (hidden, weight_bits, lanes, board) as a config."""
    from epfpga.sweep.spec import apply_overrides

    return apply_overrides(base, {"board": board, "hidden": hidden, "weight_bits": wbits,
                                  "lanes": lanes}, f"h{hidden}w{wbits}p{lanes}")


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


def spec_of(args: argparse.Namespace, boards: list[str]) -> SweepSpec:
    """The sweep this table is made from (``epfpga sweep explore`` is the same grid)."""
    return parse_spec({
        "sweep": {"name": "explore", "base": args.base,
                  "kinds": ["fit", "build"] if args.build else ["fit"]},
        "build": {"simulate": True, "builds": str(args.builds)},
        "grid": {"board": boards, "hidden": args.hidden, "weight_bits": args.weight_bits,
                 "lanes": args.lanes}}, "epfpga explore")


def run(args: argparse.Namespace) -> int:
    from epfpga.sweep.runner import open_pool, run_jobs
    from epfpga.sweep.store import ResultStore

    boards = [b.strip() for b in args.boards.split(",") if b.strip()]
    if bad := [p for p in args.lanes if p & (p - 1)]:
        raise EpfpgaError(f"--lanes takes powers of two, got {bad}")
    for b in boards:
        if b not in PARTS:
            raise EpfpgaError(f"unknown board {b!r}: use {', '.join(sorted(PARTS))}")
    base = get_config(args.base)
    spec = spec_of(args, boards)
    jobs, invalid = spec.expand()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.builds / "explore" if args.build else Path(tmp)
        store = ResultStore(root / "results.jsonl")
        with open_pool(root, None, args.workers if args.build else 0) as pool:
            run_jobs(pool, jobs, store, progress=args.build)
    fits = {r["point"]: r["result"] for r in store.rows.values() if r["kind"] == "fit"}
    why = dict(invalid)
    print("| board | hidden | weight bits | lanes | fits | block RAM Kbit | multipliers "
          "| f_max MHz | cycles/sample | samples/s | golden MNIST |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for board in boards:
        for h in args.hidden:
            for wb, lanes in ((w, p) for w in args.weight_bits for p in args.lanes):
                label = spec.label_of({"board": board, "hidden": h, "weight_bits": wb,
                                             "lanes": lanes})
                if label in why:
                    print(f"| {board} | {h} | {wb} | {lanes} | invalid: {why[label]} "
                          "| | | | | | |")
                    continue
                cfg = variant(base, h, wb, board, lanes)
                fit = fits[label]
                if fit["fits"]:
                    ok = "yes"
                    ram = f"{fit['ram_kbit']:.0f} / {fit['ram_available_kbit']:.0f}"
                    mults = f"{fit['multipliers']} / {fit['multipliers_available']}"
                else:  # the first reason, without the suggestion
                    ok, ram, mults = f"no: {fit['reason'].split(';')[0]}", "", ""
                rep = cached_build(args.builds, board, cfg.digest)
                fmax = f"{min(rep['fmax_mhz'].values()):.1f}" if rep else "-"
                cyc = rep.get("cycles_per_sample") if rep else None
                if cyc:
                    cycles, rate = f"{cyc:.0f}", f"{rep['clock_mhz'] * 1e6 / cyc:.0f}"
                else:  # the chain bound: no schedule of this core's memories does better
                    cycles = f">= {fit['chain_cycles']}"
                    rate = f"<= {fit['bound_samples_per_s']:.0f}"
                acc = measured_accuracy(args.runs, cfg)
                print(f"| {board} | {h} | {wb} | {lanes} | {ok} | {ram} | {mults} | {fmax} "
                      f"| {cycles} | {rate} | {'-' if acc is None else f'{100 * acc:.2f}%'} |")
    print("\ncycles (training samples streamed back to back) without a build are the chain "
          "bound (hw/bounds.py) at 150 non-zero pixels (an MNIST average), samples/s at the "
          "board's build clock; accuracy: golden-model training reports under "
          f"{args.runs} with the same config digest.  The same grid as a sweep: "
          "`epfpga sweep explore` (add kinds \"train\" or \"build\" to its spec).")
    return 0
