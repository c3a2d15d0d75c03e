"""``epfpga bench faults``: training through the fault-injecting proxy, per fault class.

Each run trains the same samples on the golden board over TCP through
``faultproxy.FaultProxy``; a run counts as finished when it needed no human (no --resume),
and its samples are checked against a golden model trained directly: lost = samples the
board's counter is short of, duplicated = samples it has too many, and any weight that
differs from the direct run is reported.  The clean-link cost of the fault handling is the
driver's rate against a bare pipelined sender (no matching, no resends) on the same link,
side by side in one run.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from epfpga.host import protocol as p
from epfpga.host.board_model import BoardModel, free_port, serve_in_thread
from epfpga.host.driver import BoardEngine, BoardError, SocketTransport
from epfpga.host.faultproxy import FaultProxy, FaultRates
from epfpga.model.config import EPConfig
from epfpga.model.golden import GoldenModel

CFG = EPConfig(layers=(100, 16, 10), T1=8, T2=4, beta=0.5, lrs=(0.1, 0.05), part="none",
               name="faultbench")

CLASSES: dict[str, FaultRates] = {
    "drop 1e-3/byte": FaultRates(drop=1e-3),
    "flip 1e-3/byte": FaultRates(flip=1e-3),
    "duplicate 1e-3/byte": FaultRates(dup=1e-3),
    "insert 1e-3/byte": FaultRates(insert=1e-3),
    "all four, 1e-3/byte in all": FaultRates(drop=2.5e-4, flip=2.5e-4, dup=2.5e-4,
                                             insert=2.5e-4),
    "answer chunk repeated, 10 %": FaultRates(repeat=0.1, directions=("to_host",)),
    "stall 0.6 s, 5 % of chunks": FaultRates(stall=0.05, stall_s=0.6),
}


def _samples(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.integers(1, CFG.act_one + 1, (n, CFG.layers[0])) * (
        rng.random((n, CFG.layers[0])) < 0.2)
    return X, rng.integers(0, CFG.layers[-1], n)


def one_run(rates: FaultRates, n: int, seed: int) -> dict[str, Any]:
    board = BoardModel(CFG)
    port, stop, _ = serve_in_thread(board)
    proxy = FaultProxy(port, rates, seed)
    X, Y = _samples(n, seed)
    out: dict[str, Any] = {"finished": False, "traceback": False, "lost": 0, "dup": 0,
                           "weights_ok": False, "faults": 0, "resends": 0}
    try:
        eng = BoardEngine(CFG, f"socket://127.0.0.1:{proxy.start()}", timeout=0.25,
                          retries=40)
        eng.init_weights()
        for i in range(0, n, 25):
            eng.train_many(X[i:i + 25], Y[i:i + 25])
        state = eng.state_dict()
        out["resends"] = eng.board.resends
        eng.close()
        out["finished"] = True
    except BoardError:
        state = None
    except Exception:
        traceback.print_exc()
        out["traceback"], state = True, None
    finally:
        proxy.stop()
        stop.set()
    trained = board.golden.samples_trained
    out["lost"], out["dup"] = max(0, n - trained), max(0, trained - n)
    out["faults"] = sum(proxy.injected.values())
    if state is not None:
        g = GoldenModel(CFG)
        for x, y in zip(X, Y, strict=True):
            g.train_sample(x, int(y))
        out["weights_ok"] = all((a == b).all() for a, b in zip(state["W"], g.W, strict=True))
    return out


def _bare_rate(port: int, X: np.ndarray, Y: np.ndarray) -> float:
    """Frames encoded and pipelined within the board's window, answers only counted:
    the floor any driver pays for the link itself."""
    t = SocketTransport("127.0.0.1", port, timeout=2.0)
    t.write(p.encode(p.INFO, 0))
    parser = p.Parser()
    while not parser.feed(t.read()):
        pass
    start = time.perf_counter()
    frames = [p.encode(p.TRAIN, 1 + i, p.train_payload(x, int(y), False, CFG.act_one))
              for i, (x, y) in enumerate(zip(X, Y, strict=True))]
    answered, sent, inflight = 0, 0, []
    while answered < len(frames):
        while sent < len(frames) and sum(inflight) + len(frames[sent]) <= p.STORE_BYTES \
                and len(inflight) < 8:
            t.write(frames[sent])
            inflight.append(len(frames[sent]))
            sent += 1
        got = parser.feed(t.read())
        answered += len(got)
        del inflight[:len(got)]
    rate = len(frames) / (time.perf_counter() - start)
    t.close()
    return rate


@contextlib.contextmanager
def _board_process() -> Iterator[int]:
    """The golden board in a process of its own (``epfpga sim-board --model golden``), so
    the host side is timed alone, as it would be against a real board."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg_file = Path(tmp) / "faultbench.json"
        CFG.save(cfg_file)
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "epfpga.cli", "sim-board", "--model",
                                 "golden", "--config", str(cfg_file), "--port", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(300):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            yield port
        finally:
            proc.terminate()
            proc.wait(10)


def clean_link_cost(n: int) -> tuple[float, float]:
    """(driver samples/s, bare samples/s) on a clean link to the golden board, the two
    interleaved over three rounds so machine load falls on both alike."""
    X, Y = _samples(n, 99)
    drv, bare = [], []
    with _board_process() as port:
        for _ in range(3):
            eng = BoardEngine(CFG, f"socket://127.0.0.1:{port}")
            t = time.perf_counter()
            eng.train_many(X, Y)
            drv.append(n / (time.perf_counter() - t))
            eng.close()
            time.sleep(0.3)  # the board notices the close
            bare.append(_bare_rate(port, X, Y))
            time.sleep(0.3)
    return float(np.median(drv)), float(np.median(bare))


def main(runs: int = 3, n: int = 150) -> None:
    print(f"training {n} samples of a {'-'.join(map(str, CFG.layers))} network per run, "
          f"{runs} runs per fault class, through the fault proxy to the golden board")
    print("| fault class | faults injected | finished unattended | samples lost | "
          "samples twice | weights exact | tracebacks | frames resent |")
    print("|---|---|---|---|---|---|---|---|")
    for name, rates in CLASSES.items():
        rs = [one_run(rates, n, seed) for seed in range(runs)]
        print(f"| {name} | {sum(r['faults'] for r in rs)} | "
              f"{sum(r['finished'] for r in rs)}/{runs} | {sum(r['lost'] for r in rs)} | "
              f"{sum(r['dup'] for r in rs)} | {sum(r['weights_ok'] for r in rs)}/{runs} | "
              f"{sum(r['traceback'] for r in rs)} | {sum(r['resends'] for r in rs)} |",
              flush=True)
    drv, bare = clean_link_cost(400)
    print(f"clean link, 400 samples: driver {drv:.0f} samples/s, bare pipelined sender "
          f"{bare:.0f} samples/s: the fault handling costs {100 * (1 - drv / bare):.1f} %")
