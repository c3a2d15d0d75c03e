"""The faithful simulated ULX3S with its dataset store: LiteDRAM's generated controller
(its ECP5 I/O cells from sim/models/ecp5_io.v) and an SDR SDRAM chip model at the pins
(sim/models/sdr_sdram.v, which stops the simulation on any command the chip would not
take).  The driver uploads a dataset into the store, skips what it already holds, and
trains and infers from it: every prediction and weight equal to the golden model's."""

from __future__ import annotations

import numpy as np
import pytest

from epfpga.data.dataset_image import build_image
from epfpga.data.datasets import Dataset
from epfpga.host import protocol as p
from epfpga.host.driver import BoardEngine
from epfpga.model.config import get_config
from epfpga.model.golden import GoldenModel
from epfpga.model.numerics import quantize_pixels
from epfpga.sim.board_sim import serve_in_thread
from epfpga.sim.faithful import board_plan

pytestmark = pytest.mark.sim

TINY = get_config("tiny")


def _dataset(n_train: int, n_test: int) -> Dataset:
    rng = np.random.default_rng(3)

    def images(n: int) -> np.ndarray:
        x = rng.integers(0, 256, (n, TINY.layers[0]))
        return (x * (rng.random(x.shape) < 0.5)).astype(np.uint8)

    return Dataset("synthetic", images(n_train), rng.integers(0, 4, n_train).astype(np.uint8),
                   images(n_test), rng.integers(0, 4, n_test).astype(np.uint8))


def test_store_on_sdram_trains_bit_exact() -> None:
    plan = board_plan(TINY, "ulx3s")
    assert plan.sdram == "MT48LC16M16"
    ds = _dataset(300, 40)
    port, th, stats = serve_in_thread(TINY, 2, plan)
    url = f"socket://127.0.0.1:{port}"
    eng = BoardEngine(TINY, url, timeout=10.0)
    assert eng.info["capabilities"] & p.CAP_DATASET
    assert eng.board.ds_info()["capacity"] == 32 << 20
    eng.init_weights()
    assert eng.use_dataset(ds, progress=False) is None
    eng.close()

    eng = BoardEngine(TINY, url, timeout=10.0)  # a new session: the store still holds it
    assert eng.missing_pieces(build_image(ds, TINY)) == []
    assert eng.use_dataset(ds, progress=False) is None
    idx = np.random.default_rng(0).permutation(300)[:200]
    X, Y = quantize_pixels(ds.x_train[idx], TINY), ds.y_train[idx]
    g = GoldenModel(TINY)
    want = [g.train_sample(x, int(y)).prediction for x, y in zip(X, Y, strict=True)]
    got = np.concatenate([eng.train_many(X[i:i + 100], Y[i:i + 100], idx[i:i + 100])
                          for i in range(0, 200, 100)])
    assert got.tolist() == want
    st = eng.state_dict()
    assert all(np.array_equal(a, b) for a, b in zip(st["W"], g.W, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(st["b"], g.b, strict=True))
    assert st["lfsr"] == g.lfsr
    test = np.arange(40)
    assert eng.infer_batch(None, test).tolist() == g.infer_batch(
        quantize_pixels(ds.x_test, TINY)).tolist()
    assert eng.board.resends == 0
    eng.close()
    th.join(60)
    assert stats["sessions"][1]["trains"] == 200  # DS_TRAIN answers, a sample a byte


def test_reset_button_mid_run_is_recovered_with_the_store_kept(tmp_path, monkeypatch) -> None:
    """The board's reset pressed between two runs of stored samples: its SoC and memory
    controller start again (the controller replays its init sequence), the chip keeps
    the store, and the driver reaches the board again and goes on from its last
    checkpoint: one run, every sample once, the same network as the golden model's."""
    from epfpga.sim.board_sim import press_reset
    from epfpga.train.engines import BoardAdapter
    from epfpga.train.trainer import TrainOptions, train

    ds = _dataset(240, 40)
    port, th, stats = serve_in_thread(TINY, 2, board_plan(TINY, "ulx3s"))
    real, calls = BoardAdapter.train_chunk, []

    def pressed(self, X, Y, index=None):
        calls.append(len(X))
        if len(calls) == 3:
            press_reset(stats["pid"])
        return real(self, X, Y, index)

    monkeypatch.setattr(BoardAdapter, "train_chunk", pressed)
    sync, sent = BoardEngine.sync_image, []
    monkeypatch.setattr(BoardEngine, "sync_image",
                        lambda self, *a, **k: sent.append(sync(self, *a, **k)) or sent[-1])
    opts = dict(epochs=1, train_samples=240, test_samples=40, checkpoint_every=80,
                progress=False, plot=False)
    report = train(TINY, ds, TrainOptions(engine="board", out=tmp_path / "b", timeout=3.0,
                                          port=f"socket://127.0.0.1:{port}", **opts))
    th.join(60)
    assert len(calls) == 4  # the third run again, after the reset
    assert report["board_samples_from"] == "store"
    assert sent[0] > 0 and sent[1:] == [0]  # checked again after the reset: all there
    monkeypatch.setattr(BoardAdapter, "train_chunk", real)
    want = train(TINY, ds, TrainOptions(engine="golden", out=tmp_path / "g", **opts))
    assert report["final_test_acc"] == want["final_test_acc"]
    from epfpga.train.checkpoint import load_checkpoint

    a, b = (load_checkpoint(tmp_path / d / "checkpoint.npz").state for d in "bg")
    assert all(np.array_equal(x, y) for k in ("W", "b") for x, y in zip(a[k], b[k],
                                                                       strict=True))
    assert a["lfsr"] == b["lfsr"]
