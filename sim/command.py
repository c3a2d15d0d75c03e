"""``epfpga sim``: run the EP core in Verilator against the golden model."""

from __future__ import annotations

import argparse

from epfpga.errors import EpfpgaError
from epfpga.model.config import PRESETS, get_config


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="tiny",
                   help=f"preset ({', '.join(PRESETS)}) or .toml/.json file")
    p.add_argument("--samples", type=int, default=10, help="training samples to simulate")
    p.add_argument("--waves", action="store_true", help="write an FST waveform (CONFIG.fst)")
    p.add_argument("--random-inputs", action="store_true",
                   help="random sparse inputs instead of MNIST (any input size)")


def run(args: argparse.Namespace) -> int:
    from .core_job import make_job, mnist_samples, random_samples
    from .runner import run_test

    cfg = get_config(args.config)
    if args.samples < 1:
        raise EpfpgaError("--samples must be >= 1")
    if args.random_inputs or cfg.layers[0] != 784:
        X, Y = random_samples(cfg, args.samples)
    else:
        X, Y = mnist_samples(cfg, args.samples)
    print(f"building and simulating {cfg.name} ({'-'.join(map(str, cfg.layers))}) "
          f"for {args.samples} samples ...", flush=True)
    r = run_test(cfg, "epfpga.sim.tb_core", make_job(cfg, X, Y), waves=args.waves)
    ct = sum(r["cycles_train"]) / len(r["cycles_train"])
    print(f"{r['checked']} comparisons with the golden model, {len(r['mismatches'])} mismatches")
    for line in r["mismatches"][:10]:
        print("  " + line)
    print(f"cycles/sample: train {ct:.0f}, infer "
          f"{sum(r['cycles_infer']) / max(len(r['cycles_infer']), 1):.0f}; "
          f"simulated {r['sim_cycles'] / max(r['wall_s'], 1e-9) / 1e6:.2f} M cycles/s overall, "
          f"{r['compute_cycles'] / max(r['compute_wall_s'], 1e-9) / 1e6:.2f} M cycles/s while "
          "the core computes")
    if "waves" in r:
        print(f"waveform: {r['waves']}")
    return 1 if r["mismatches"] else 0
