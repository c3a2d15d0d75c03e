"""``epfpga bench``: benchmarks that print figures, every ratio measured side by side in
one run.  Targets: golden ``up5k`` >= 1000 samples/s on one core; the numpy float
reference against the same algorithm in PyTorch on the same CPU."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from .config import get_config
from .datasets import load_dataset
from .errors import EpfpgaError

TARGETS = ("golden", "float", "widths", "gateware", "boards", "link", "faults", "cnn", "all")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", choices=TARGETS, nargs="?", default="golden",
                   help="golden: golden-model samples/s; float: numpy reference vs PyTorch; "
                        "widths: accuracy cost of each bit width vs float; "
                        "gateware: cycles/sample in Verilator; boards: training samples/s "
                        "of each board build at its clock, and the ratios; link: bytes and "
                        "samples/s over the host link; faults: training through a "
                        "fault-injecting proxy, per fault class, and the clean-link cost; "
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


def bench_golden(cfg_name: str, n: int) -> dict[str, float]:
    from .golden import GoldenModel
    from .numerics import quantize_pixels

    cfg = get_config(cfg_name)
    ds = load_dataset("mnist")
    X = quantize_pixels(ds.x_train[:n], cfg)
    Y = ds.y_train[:n]
    g = GoldenModel(cfg)
    g.train_sample(X[0], int(Y[0]))  # warm-up
    t = time.perf_counter()
    for x, y in zip(X, Y, strict=True):
        g.train_sample(x, int(y))
    train = n / (time.perf_counter() - t)
    Xt = quantize_pixels(ds.x_test[:5000], cfg)
    t = time.perf_counter()
    g.infer_batch(Xt)
    infer = len(Xt) / (time.perf_counter() - t)
    return {"config": cfg.name, "train_samples_per_s": train, "infer_samples_per_s": infer}


def bench_float_vs_torch(n: int) -> list[dict[str, object]]:
    try:
        import torch
    except ImportError:
        raise EpfpgaError("PyTorch is not installed: pip install torch==2.13.0 (CPU wheel); "
                          "it is only needed for this comparison") from None
    from .reference import FloatEP
    from .torch_reference import TorchEP

    torch.set_num_threads(1)
    ds = load_dataset("mnist")
    rows = []
    for name in ("laborieux", "up5k"):
        cfg = get_config(name).replace(nudge="positive")  # same beta sign in both engines
        B = cfg.batch_size
        m = (n // B) * B
        X = ds.x_train[:m] / 255.0
        Y = ds.y_train[:m].astype(np.int64)
        f = FloatEP(cfg)
        tm = TorchEP(cfg, f.W, f.b)
        t = time.perf_counter()
        for i in range(0, m, B):
            f.train_batch(X[i:i + B], Y[i:i + B])
        t_np = time.perf_counter() - t
        t = time.perf_counter()
        for i in range(0, m, B):
            tm.train_batch(X[i:i + B], Y[i:i + B], cfg.beta)
        t_torch = time.perf_counter() - t
        diff = max(float(np.abs(a - w.numpy()).max()) for a, w in zip(f.W, tm.W, strict=True))
        rows.append({"config": name, "batch": B, "samples": m, "numpy_samples_per_s": m / t_np,
                     "torch_samples_per_s": m / t_torch, "ratio_numpy_over_torch":
                     t_torch / t_np, "max_weight_diff": diff})
    return rows


def bench_widths(cfg_name: str, n: int) -> list[dict[str, object]]:
    """One pass over n samples per width variant, test accuracy beside the float model."""
    from .engines import FloatEngine, GoldenEngine

    base = get_config(cfg_name)
    ds = load_dataset("mnist")
    X, Y = ds.x_train[:n], ds.y_train[:n]
    variants: list[tuple[str, object]] = [("float64", None)]
    for wb in (16, 14, 12, 10):
        variants.append((f"w{wb} a{base.act_frac}", base.replace(
            weight_bits=wb, weight_frac=wb - 3, beta_frac=min(base.beta_frac, wb - 3))))
    for af in (6, 4):
        variants.append((f"w{base.weight_bits} a{af}", base.replace(act_frac=af)))
    rows = []
    for label, cfg in variants:
        eng = FloatEngine(base) if cfg is None else GoldenEngine(cfg)  # type: ignore[arg-type]
        t = time.perf_counter()
        for i in range(0, n, 500):
            eng.train_chunk(X[i:i + 500], Y[i:i + 500])
        dt = time.perf_counter() - t
        acc = float((eng.infer_batch(ds.x_test) == ds.y_test).mean())
        rows.append({"variant": label, "test_acc": acc, "samples_per_s": n / dt})
    return rows


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
            from .sim import bench as gw

            gw.main()
        elif target == "boards":
            from .boards import bench as boards_bench

            boards_bench.main(n)
        elif target == "link":
            from . import linkbench

            linkbench.main()
        elif target == "faults":
            from . import faultbench

            faultbench.main()
        elif target == "cnn":
            _print_cnn(args, n)
    return 0


def _print_cnn(args: argparse.Namespace, n: int) -> None:
    from .conv.bench import bench_cnn

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
