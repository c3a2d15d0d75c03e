"""Benchmarks of the software models: golden-model speed, the numpy float reference
against the same algorithm in PyTorch, and the accuracy cost of each bit width."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

import numpy as np

from epfpga.data.datasets import load_dataset
from epfpga.errors import EpfpgaError
from epfpga.model.config import get_config


def time_batches(train: Callable[[np.ndarray, np.ndarray], object], X: np.ndarray,
                 Y: np.ndarray, batch: int) -> float:
    """Seconds ``train`` takes over X, Y in consecutive batches."""
    t = time.perf_counter()
    for i in range(0, len(X), batch):
        train(X[i:i + batch], Y[i:i + batch])
    return time.perf_counter() - t


def bench_golden(cfg_name: str, n: int) -> dict[str, float]:
    from epfpga.model.golden import GoldenModel
    from epfpga.model.numerics import quantize_pixels

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
    from epfpga.model.reference import FloatEP
    from epfpga.model.torch_reference import TorchEP

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
        t_np = time_batches(f.train_batch, X, Y, B)
        t_torch = time_batches(partial(tm.train_batch, beta=cfg.beta), X, Y, B)
        diff = max(float(np.abs(a - w.numpy()).max()) for a, w in zip(f.W, tm.W, strict=True))
        rows.append({"config": name, "batch": B, "samples": m, "numpy_samples_per_s": m / t_np,
                     "torch_samples_per_s": m / t_torch, "ratio_numpy_over_torch":
                     t_torch / t_np, "max_weight_diff": diff})
    return rows


def bench_widths(cfg_name: str, n: int) -> list[dict[str, object]]:
    """One pass over n samples per width variant, test accuracy beside the float model."""
    from epfpga.train.engines import FloatEngine, GoldenEngine

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


