"""``epfpga bench``: benchmarks that print figures, every ratio measured side by side in
one run.  This package holds the software ones (``models``: golden speed, float against
PyTorch, widths; ``link``; ``faults``; ``store``: the ULX3S training from its SDRAM;
``cnn``: conv EP against Laborieux's P_CNN); the
gateware's and the boards' live beside them (``epfpga.sim.bench``,
``epfpga.boards.bench``) and are run from here."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from epfpga.bench.models import bench_float_vs_torch, bench_golden, bench_widths
from epfpga.errors import EpfpgaError
from epfpga.model.config import get_config

TARGETS = ("golden", "float", "widths", "gateware", "boards", "link", "faults", "store", "cnn",
           "all")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", choices=TARGETS, nargs="?", default="golden",
                   help="golden: golden-model samples/s; float: numpy reference vs PyTorch; "
                        "widths: accuracy cost of each bit width vs float; "
                        "gateware: cycles/sample in Verilator; boards: training samples/s "
                        "of each board build at its clock, and the ratios; link: bytes and "
                        "samples/s over the host link; faults: training through a "
                        "fault-injecting proxy, per fault class, and the clean-link cost; "
                        "store: the ULX3S build training from its SDRAM dataset store, in "
                        "board time (the faithful simulated board, minutes); "
                        "cnn: the numpy conv EP vs Laborieux's P_CNN (needs --reference)")
    p.add_argument("--config", default="up5k", help="config for golden")
    p.add_argument("--samples", type=int, default=None,
                   help="training samples to time (default: 3000; boards: 21, the first "
                        "left out; cnn: 300)")
    p.add_argument("--reference", type=Path, default=None, metavar="DIR",
                   help="cnn: a checkout of github.com/Laborieux-Axel/Equilibrium-Propagation "
                        "(its P_CNN is imported from there, not vendored)")


def _one_thread() -> None:
    """Single-core figures: the FPGA comparison is per core, and BLAS threads would blur it.
    The environment reaches processes started from here; the BLAS numpy already loaded is
    limited through threadpoolctl."""
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[v] = "1"
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)


def run(args: argparse.Namespace) -> int:
    _one_thread()
    # "all": everything that needs no extra input (cnn needs --reference)
    targets = tuple(t for t in TARGETS[:-1] if t != "cnn" or args.reference) \
        if args.target == "all" else (args.target,)
    if args.samples is not None and args.samples < 2:
        raise EpfpgaError(f"--samples {args.samples}: time at least 2 samples")
    for target in targets:
        n = args.samples or {"boards": 21, "cnn": 300}.get(target, 3000)
        if target == "golden":
            r = bench_golden(args.config, n)
            print(f"golden {r['config']}: train {r['train_samples_per_s']:.0f} samples/s, "
                  f"infer {r['infer_samples_per_s']:.0f} samples/s (one core, real MNIST)")
        elif target == "float":
            print("| config | batch | numpy samples/s | torch samples/s | numpy/torch speed "
                  "| max |dW| diff |")
            print("|---|---|---|---|---|---|")
            for r in bench_float_vs_torch(n):
                print(f"| {r['config']} | {r['batch']} | {r['numpy_samples_per_s']:.0f} | "
                      f"{r['torch_samples_per_s']:.0f} | {r['ratio_numpy_over_torch']:.2f}x | "
                      f"{r['max_weight_diff']:.1e} |")
        elif target == "widths":
            rows = bench_widths(args.config, n)
            ref = rows[0]["test_acc"]
            print(f"| {args.config}, {n} samples | test acc | vs float | samples/s |")
            print("|---|---|---|---|")
            for r in rows:
                print(f"| {r['variant']} | {100 * r['test_acc']:.2f}% | "
                      f"{100 * (r['test_acc'] - ref):+.2f} | {r['samples_per_s']:.0f} |")
        elif target == "gateware":
            from epfpga.sim import bench as gw

            gw.main()
        elif target == "boards":
            from epfpga.boards import bench as boards_bench

            boards_bench.main(n)
        elif target == "link":
            from epfpga.bench import link

            link.main()
        elif target == "store":
            from epfpga.bench import store

            store.main()
        elif target == "faults":
            from epfpga.bench import faults

            faults.main()
        elif target == "cnn":
            _print_cnn(args, n)
    return 0


def _print_cnn(args: argparse.Namespace, n: int) -> None:
    from epfpga.bench.cnn import bench_cnn

    if args.reference is None:
        raise EpfpgaError("bench cnn needs --reference DIR, a checkout of "
                          "github.com/Laborieux-Axel/Equilibrium-Propagation")
    cfg = get_config("cnn")
    r = bench_cnn(args.reference, n, cfg)  # type: ignore[arg-type]
    print(f"cnn preset ({'-'.join(map(str, (cfg.in_shape[0], *cfg.channels)))} channels, "
          f"T1={cfg.T1}, T2={cfg.T2}), {r['samples']} MNIST samples in batches of "
          f"{r['batch']}, one thread each")
    print("| numpy conv EP samples/s | P_CNN (PyTorch autograd) samples/s | numpy / P_CNN "
          "speed | max rel. weight diff |")
    print("|---|---|---|---|")
    print(f"| {r['numpy_samples_per_s']:.1f} | {r['pcnn_samples_per_s']:.1f} | "
          f"{r['ratio']:.2f}x | {r['max_rel_weight_diff']:.1e} |")
    print(f"numpy with even/odd relaxation, T1={cfg.T1 // 2} sweeps: "
          f"{r['evenodd_samples_per_s']:.1f} samples/s, {r['evenodd_ratio']:.2f}x P_CNN")
