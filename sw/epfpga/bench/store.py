"""``epfpga bench store``: the ULX3S training from its SDRAM, in board time.

The faithful simulated ULX3S (``sim-board --board ulx3s``: the SoC at its pins at
3 Mbaud, LiteDRAM's generated controller and an SDR SDRAM chip model at the pins)
takes a slice of MNIST into its store through the driver's upload, then trains from it
with the host sending only sample indices, then tests from it.  Every prediction and
the weights read back are compared with the golden model trained on the same samples
(the bench stops on a difference).  Board time comes from the simulator's cycle
counts: the upload is the first session's cycles, the rate is the samples answered
after the first DS_TRAIN answer over the cycles since it (host traffic and the
driver's pipelining included).
The same samples streamed to the same board (protocol v4 TRAIN frames) are measured
beside them.
"""

from __future__ import annotations

import numpy as np

from epfpga.data.datasets import load_dataset
from epfpga.errors import EpfpgaError
from epfpga.model.config import get_config


def measure(n_train: int = 2000, n_test: int = 1000, train: int = 1024,
            board: str = "ulx3s", config: str = "ecp5") -> dict:
    from epfpga.model.golden import GoldenModel
    from epfpga.model.numerics import quantize_pixels
    from epfpga.sim.board_sim import serve_in_thread
    from epfpga.sim.faithful import board_plan

    cfg = get_config(config)
    plan = board_plan(cfg, board)
    if not plan.sdram:
        raise EpfpgaError(f"the {board} build has no dataset store")
    ds = load_dataset("mnist").subset(n_train, n_test)
    print(f"building the faithful {board} board with its SDRAM (cached after the first "
          "time) ...", flush=True)
    port, th, stats = serve_in_thread(cfg, 3, plan)
    from epfpga.host.driver import BoardEngine

    url = f"socket://127.0.0.1:{port}"
    eng = BoardEngine(cfg, url, timeout=30)  # session 1: the upload alone
    if eng.use_dataset(ds, progress=False) is not None:
        raise EpfpgaError("the simulated board did not take the dataset into its store")
    image_bytes = len(eng.image.data)
    eng.close()

    g = GoldenModel(cfg)
    idx = np.random.default_rng(0).permutation(n_train)[:train]
    X, Y = quantize_pixels(ds.x_train[idx], cfg), ds.y_train[idx]
    want = np.array([g.train_sample(x, int(y)).prediction for x, y in zip(X, Y, strict=True)])

    eng = BoardEngine(cfg, url, timeout=30)  # session 2: training from the store
    eng.init_weights()
    eng.use_dataset(ds, progress=False)  # (already there: nothing is sent)
    pred = np.concatenate([eng.train_many(X[i:i + 512], Y[i:i + 512], idx[i:i + 512])
                           for i in range(0, train, 512)])
    tested = eng.infer_batch(None, np.arange(n_test))  # a test pass, as after an epoch
    state = eng.state_dict()
    eng.close()
    if not np.array_equal(pred, want) or not all(
            np.array_equal(a, b) for a, b in zip(state["W"], g.W, strict=True)):
        raise EpfpgaError("training from the store differs from the golden model")
    if not np.array_equal(tested, g.infer_batch(quantize_pixels(ds.x_test, cfg))):
        raise EpfpgaError("the test pass from the store differs from the golden model")

    eng = BoardEngine(cfg, url, timeout=30)  # session 3: the same samples streamed
    eng.init_weights()
    streamed = np.concatenate([eng.train_many(X[i:i + 200], Y[i:i + 200])
                               for i in range(0, train, 200)])
    eng.close()
    th.join(60)
    if not np.array_equal(streamed, want):
        raise EpfpgaError("the streamed run differs from the golden model")
    s = stats["sessions"]
    return {"board": board, "config": config, "clock_hz": stats["clock_hz"],
            "baud": stats["baud"], "image_bytes": image_bytes, "n_train": n_train,
            "n_test": n_test, "upload_s": s[0]["cycles"] / stats["clock_hz"],
            "store": s[1], "stream": s[2], "trained": train}


def main() -> None:
    r = measure()
    clk = r["clock_hz"]
    up_rate = r["image_bytes"] / r["upload_s"]
    print(f"upload: {r['image_bytes']} bytes ({r['n_train']} + {r['n_test']} MNIST images) "
          f"in {r['upload_s']:.2f} s of board time = {up_rate / 1e3:.0f} kB/s; the whole "
          f"MNIST image (14.5 MB) would take {14.5e6 / up_rate:.0f} s")
    print(f"| {r['board']} ({r['config']}, {clk / 1e6:g} MHz, {r['baud']} baud) | samples "
          f"| board-time samples/s | the core computing | MNIST epoch |")
    print("|---|---|---|---|---|")
    for name, what in (("store", "from the SDRAM store (indices)"),
                       ("stream", "streamed (TRAIN frames)")):
        s = r[name]
        rate = s["board_samples_per_s"]
        busy = s["train_busy_cycles"] / max(s["train_span_cycles"], 1)
        print(f"| {what} | {r['trained']} | {rate:.1f} | {100 * busy:.1f} % | "
              f"{60000 / rate:.1f} s |")
    infer = r["store"]["board_infers_per_s"]
    epoch = 60000 / r["store"]["board_samples_per_s"]
    print(f"test pass from the store: {r['n_test']} images at {infer:.1f} samples/s of board "
          f"time, so the 10 000 MNIST test images take {10000 / infer:.1f} s; an MNIST epoch "
          f"and its test pass {epoch + 10000 / infer:.1f} s")
    print("(bit-exact with the golden model: every prediction, the test pass and the "
          "weights after the store run)")
