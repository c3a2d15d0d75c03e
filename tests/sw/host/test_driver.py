"""Host driver against the protocol-speaking board model, with faults on the wire.
After every fault: each sample trained exactly once, weights equal to a golden model
trained on the same samples."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from epfpga.cli import main
from epfpga.host import protocol as p
from epfpga.host.board_model import BoardModel, serve_in_thread
from epfpga.host.driver import Board, BoardEngine, BoardError
from epfpga.model.config import EPConfig, get_config
from epfpga.model.golden import GoldenModel

CFG = EPConfig(layers=(12, 6, 4), T1=6, T2=4, beta=0.5, lrs=(0.2, 0.1), nudge="random_sign",
               part="none", name="drv")


class FaultyLink:
    """In-process wire between driver and board with seeded fault injection."""

    def __init__(self, board: BoardModel, faults: dict[str, float], seed: int = 0):
        self.board, self.faults, self.rng = board, faults, random.Random(seed)
        self.rx = bytearray()
        self.in_waiting = 0

    def _mangle(self, data: bytes) -> bytes:
        f, r = self.faults, self.rng
        if r.random() < f.get("drop", 0):
            return b""
        b = bytearray(data)
        if r.random() < f.get("flip", 0):
            i = r.randrange(len(b))
            b[i] ^= 1 << r.randrange(8)
        if r.random() < f.get("truncate", 0):
            b = b[: r.randrange(1, len(b))]
        if r.random() < f.get("overlong", 0) and len(b) > 5:
            b[4] = (b[4] + 7) & 0xFF  # length field longer than the frame
        if r.random() < f.get("garbage", 0):
            b = bytearray(r.randbytes(r.randrange(1, 20))) + b
        return bytes(b)

    def write(self, data: bytes) -> int:
        resp = self.board.receive(self._mangle(data))
        if resp:
            self.rx += self._mangle(resp)
        self.in_waiting = len(self.rx)
        return len(data)

    def read(self, n: int) -> bytes:
        out = bytes(self.rx[:n])
        del self.rx[:n]
        self.in_waiting = len(self.rx)
        return out


def _samples(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, CFG.act_one + 1, (n, CFG.layers[0])) * (rng.random((n, 12)) < 0.5)
    return X, rng.integers(0, CFG.layers[-1], n)


def _train_and_compare(faults: dict[str, float], seed: int) -> BoardModel:
    board = BoardModel(CFG)
    eng = BoardEngine(CFG, FaultyLink(board, faults, seed), timeout=0.01, retries=50)
    X, Y = _samples(60, seed)
    pred = np.concatenate([eng.train_many(X[i:i + 15], Y[i:i + 15]) for i in range(0, 60, 15)])
    g = GoldenModel(CFG)
    want = [g.train_sample(x, int(y)).prediction for x, y in zip(X, Y, strict=True)]
    assert pred.tolist() == want
    sd = eng.state_dict()
    assert all((a == c).all() for a, c in zip(sd["W"], g.W, strict=True))
    assert all((a == c).all() for a, c in zip(sd["b"], g.b, strict=True))
    assert sd["lfsr"] == g.lfsr and sd["sign_lfsr"] == g.sign_lfsr
    assert board.golden.samples_trained == 60  # every sample exactly once
    return board


@pytest.mark.parametrize("fault", ["garbage", "flip", "truncate", "overlong", "drop"])
def test_training_survives_fault(fault: str) -> None:
    board = _train_and_compare({fault: 0.15}, seed=hash(fault) % 1000)
    c = board.counters
    if fault in ("flip", "truncate", "overlong"):
        assert c["crc_errors"] + c["framing_errors"] > 0
    if fault == "drop":
        assert c["seq_gaps"] + c["replays"] > 0


def test_all_faults_at_once() -> None:
    board = _train_and_compare({k: 0.08 for k in ("garbage", "flip", "truncate", "overlong",
                                                   "drop")}, seed=5)
    assert board.counters["replays"] > 0


def test_unknown_command_and_bad_payload_are_errors() -> None:
    board = BoardModel(CFG)
    b = Board(FaultyLink(board, {}), timeout=0.01)
    with pytest.raises(BoardError, match="refused command 0x33"):
        b.transact([(0x33, b"")])
    assert board.counters["unknown_cmds"] == 1
    with pytest.raises(BoardError, match="refused"):
        b.transact([(p.TRAIN, bytes([9, 0, 0]))])  # label out of range
    assert b.info()["layers"] == list(CFG.layers)  # still in sync afterwards


def test_digest_mismatch_is_refused() -> None:
    board = BoardModel(CFG)
    with pytest.raises(BoardError, match="config digest"):
        BoardEngine(CFG.replace(T1=7), FaultyLink(board, {}))


def test_dead_board_is_reported() -> None:
    board = BoardModel(CFG)
    with pytest.raises(BoardError, match="stopped answering"):
        BoardEngine(CFG, FaultyLink(board, {"drop": 1.0}), timeout=0.001, retries=3)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=40), max_size=12), st.integers(0, 255),
       st.binary(max_size=60))
@example(noise=[b"\xa5"], seq=97, payload=b"\x00")  # a false header that passes its check
def test_parser_fuzz(noise: list[bytes], seq: int, payload: bytes) -> None:
    """Any garbage around a frame: the frame still comes out intact once the line goes
    quiet (a false start byte can announce a length that never comes: the quiet line's
    timeout drops it and rescans)."""
    frame = p.encode(p.TRAIN, seq, payload)
    stream = b"".join(noise) + frame + b"".join(noise)
    parser = p.Parser()
    frames = []
    for i in range(0, len(stream), 7):
        frames += parser.feed(stream[i:i + 7])
    while parser.buf:  # quiet: one timeout per stuck false start
        frames += parser.timeout()
    good = [f for f in frames if (f.cmd, f.seq, f.payload) == (p.TRAIN, seq, payload)]
    assert len(good) >= 1


class DyingBoard(BoardModel):
    """Stops answering after ``die_after`` trained samples, like a board whose cable was
    pulled; its state keeps whatever it had (the host must restore the checkpoint)."""

    die_after: int | None = None

    def receive(self, data: bytes) -> bytes:
        if self.die_after is not None and self.golden.samples_trained >= self.die_after:
            return b""
        return super().receive(data)


def test_train_cli_over_tcp_dies_and_resumes(tmp_path, mnist) -> None:
    """`epfpga train --engine board` against a served board that dies mid-epoch; resume
    from the checkpoint: the weights equal the golden model's on the same samples."""
    from epfpga.model.numerics import quantize_pixels
    from epfpga.train.checkpoint import load_checkpoint
    from epfpga.train.trainer import epoch_order

    cfg = get_config("up5k")
    board = DyingBoard(cfg)
    board.die_after = 300
    port, stop, th = serve_in_thread(board)
    args = ["train", "--engine", "board", "--port", f"socket://127.0.0.1:{port}",
            "--train-samples", "400", "--test-samples", "200", "--checkpoint-every", "200",
            "--no-progress", "--no-plot", "--verify-golden", "--out", str(tmp_path / "b")]
    try:
        assert main(args) == 2  # the board stopped answering
        ck = load_checkpoint(tmp_path / "b")
        assert ck.position == 200
        board.die_after = None
        assert main(args + ["--resume"]) == 0
    finally:
        stop.set()
        th.join(5)
    ck = load_checkpoint(tmp_path / "b")
    g = GoldenModel(cfg)
    order = epoch_order(cfg, 0, len(mnist.x_train))[:400]
    for x, y in zip(quantize_pixels(mnist.x_train[order], cfg), mnist.y_train[order],
                    strict=True):
        g.train_sample(x, int(y))
    assert all((a == c).all() for a, c in zip(ck.state["W"], g.W, strict=True))
    assert ck.state["lfsr"] == g.lfsr
