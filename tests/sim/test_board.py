"""The SoC gateware in Verilator as a TCP board: real MNIST trained through the host
driver and training CLI, weights read back bit-identical to the golden model."""

from __future__ import annotations

import numpy as np
import pytest

from epfpga.cli import main
from epfpga.host.driver import Board, BoardEngine, open_transport
from epfpga.model.config import get_config
from epfpga.model.golden import GoldenModel
from epfpga.model.numerics import quantize_pixels
from epfpga.sim.board_sim import serve_in_thread

pytestmark = pytest.mark.sim


def _board(cfg, sessions: int):
    port, th, _ = serve_in_thread(cfg, sessions)
    return port, th


def test_train_on_verilator_board_matches_golden(tmp_path, mnist) -> None:
    cfg = get_config("up5k")
    port, th = _board(cfg, sessions=2)
    # session 1: garbage on the wire first, then a normal exchange
    t = open_transport(f"socket://127.0.0.1:{port}")
    t.write(np.random.default_rng(0).integers(0, 256, 300).astype(np.uint8).tobytes())
    b = Board(t, timeout=5.0)
    assert b.info()["digest"] == cfg.digest
    st = b.status()
    assert st["framing_errors"] + st["crc_errors"] > 0
    t.close()
    # session 2: the training CLI, checked against the golden model as it goes
    out = tmp_path / "run"
    assert main(["train", "--engine", "board", "--port", f"socket://127.0.0.1:{port}",
                 "--train-samples", "12", "--test-samples", "4", "--no-progress",
                 "--no-plot", "--verify-golden", "--out", str(out)]) == 0
    th.join(60)
    from epfpga.train.checkpoint import load_checkpoint
    from epfpga.train.trainer import epoch_order

    ck = load_checkpoint(out)
    g = GoldenModel(cfg)
    order = epoch_order(cfg, 0, len(mnist.x_train))[:12]
    for x, y in zip(quantize_pixels(mnist.x_train[order], cfg), mnist.y_train[order],
                    strict=True):
        g.train_sample(x, int(y))
    assert all((a == c).all() for a, c in zip(ck.state["W"], g.W, strict=True))
    assert all((a == c).all() for a, c in zip(ck.state["b"], g.b, strict=True))
    assert ck.state["lfsr"] == g.lfsr


def test_digest_mismatch_refused_by_verilator_board() -> None:
    cfg = get_config("tiny")
    port, th = _board(cfg, sessions=1)
    with pytest.raises(Exception, match="config digest"):
        BoardEngine(cfg.replace(T1=cfg.T1 + 1), f"socket://127.0.0.1:{port}", timeout=5.0)
    th.join(60)
