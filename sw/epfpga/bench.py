"""``epfpga bench``: benchmarks that print figures, every ratio measured side by side in
one run.  Targets: golden ``up5k`` >= 1000 samples/s on one core; the numpy float
reference against the same algorithm in PyTorch on the same CPU."""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from .config import get_config
from .datasets import load_dataset
from .errors import EpfpgaError

TARGETS = ("golden", "float", "gateware", "link", "all")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", choices=TARGETS, nargs="?", default="golden",
                   help="golden: golden-model samples/s; float: numpy reference vs PyTorch; "
                        "gateware: cycles/sample in Verilator; link: bytes and samples/s "
                        "over the host link")
    p.add_argument("--config", default="up5k", help="config for golden")
    p.add_argument("--samples", type=int, default=3000, help="training samples to time")


def _one_thread() -> None:
    """Single-core figures: the FPGA comparison is per core, and BLAS threads would blur it."""
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[v] = "1"


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


def run(args: argparse.Namespace) -> int:
    _one_thread()
    targets = ("golden", "float", "gateware", "link") if args.target == "all" else (args.target,)
    for target in targets:
        if target == "golden":
            r = bench_golden(args.config, args.samples)
            print(f"golden {r['config']}: train {r['train_samples_per_s']:.0f} samples/s, "
                  f"infer {r['infer_samples_per_s']:.0f} samples/s (one core, real MNIST)")
        elif target == "float":
            print("| config | batch | numpy samples/s | torch samples/s | numpy/torch speed "
                  "| max |dW| diff |")
            print("|---|---|---|---|---|---|")
            for r in bench_float_vs_torch(args.samples):
                print(f"| {r['config']} | {r['batch']} | {r['numpy_samples_per_s']:.0f} | "
                      f"{r['torch_samples_per_s']:.0f} | {r['ratio_numpy_over_torch']:.2f}x | "
                      f"{r['max_weight_diff']:.1e} |")
        elif target == "gateware":
            from .sim import bench as gw

            gw.main()
        elif target == "link":
            from . import linkbench

            linkbench.main()
    return 0
