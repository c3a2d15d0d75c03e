"""Link benchmark: bytes per sample (protocol v4 runs; v3's dense and sparse forms for
comparison) on real MNIST, samples/s each
baud rate allows, and samples/s measured through the protocol to the board model."""

from __future__ import annotations

import time

import numpy as np

from epfpga.data.datasets import load_dataset
from epfpga.host import protocol as p
from epfpga.model.config import get_config
from epfpga.model.numerics import quantize_pixels

BAUDS = (115_200, 1_000_000, 3_000_000)


def main(n: int = 2000) -> None:
    from epfpga.host.board_model import BoardModel, serve_in_thread

    cfg = get_config("up5k")
    ds = load_dataset("mnist")
    X = quantize_pixels(ds.x_train[:n], cfg)
    Y = ds.y_train[:n]
    overhead = p.HEADER + 2
    resp = overhead + 1
    # version 3's forms, by their sizes: dense n0 x u16, sparse (index u16, value u16) pairs
    dense = overhead + 2 + 1 + 2 * cfg.layers[0]
    sparse = overhead + 2 + 3 + 4 * np.mean([np.count_nonzero(x) for x in X])
    runs = np.mean([overhead + len(p.train_payload(x, 0, False, cfg.act_one)) for x in X])
    print(f"bytes per TRAIN frame on MNIST: runs (v4) {runs:.0f}, v3 sparse {sparse:.0f} "
          f"({sparse / runs:.1f}x), v3 dense {dense:.0f}; response {resp} bytes")
    print("| baud | runs samples/s | v3 sparse samples/s |")
    print("|---|---|---|")
    for baud in BAUDS:
        bps = baud / 10  # 8N1: 10 bits per byte; full duplex, so the longer direction binds
        print(f"| {baud} | {bps / runs:.0f} | {bps / sparse:.0f} |")
    port, stop, _ = serve_in_thread(BoardModel(cfg))
    print(f"measured over TCP to the golden board model: "
          f"{_train_rate(cfg, port, X, Y):.0f} samples/s")
    stop.set()
    m = min(n, 1000)
    rate, stats = _verilator_board(cfg, X[:m], Y[:m])
    print(f"measured over TCP to the Verilator SoC board (sim-board): {rate:.1f} samples/s "
          f"({m} samples); {stats['cycles'] / stats['run_seconds'] / 1e6:.2f} M simulated "
          f"cycles/s, {stats['cycles'] / m:.0f} cycles per sample incl. the link")


def _train_rate(cfg, port: int, X: np.ndarray, Y: np.ndarray) -> float:
    from epfpga.host.driver import BoardEngine

    eng = BoardEngine(cfg, f"socket://127.0.0.1:{port}")
    eng.init_weights()
    t = time.perf_counter()
    for i in range(0, len(X), 100):
        eng.train_many(X[i:i + 100], Y[i:i + 100])
    dt = time.perf_counter() - t
    eng.close()
    return len(X) / dt


def _verilator_board(cfg, X: np.ndarray, Y: np.ndarray) -> tuple[float, dict]:
    from epfpga.sim.board_sim import serve_in_thread

    port, th, stats = serve_in_thread(cfg, sessions=1)
    rate = _train_rate(cfg, port, X, Y)
    th.join(60)
    return rate, stats
