"""The board-faithful simulated board (``epfpga sim-board --board``): the board build's
circuit driven at its pins at the board's clock and baud, the iCE40's SPRAM from the
vendor model; sessions as a host opening and closing a serial port makes them; and the
command's native child never outliving it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from epfpga.host import protocol as p
from epfpga.host.board_model import free_port
from epfpga.host.driver import Board, BoardEngine, open_transport
from epfpga.model.config import get_config
from epfpga.model.golden import GoldenModel
from epfpga.sim.board_sim import serve_in_thread
from epfpga.sim.faithful import board_plan
from epfpga.sim.runner import build_native

pytestmark = pytest.mark.sim

TINY = get_config("tiny")


def _samples(cfg, n: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, cfg.act_one + 1, (n, cfg.layers[0])) * (
        rng.random((n, cfg.layers[0])) < 0.5)
    return X, rng.integers(0, cfg.layers[-1], n)


def _train_and_compare(port: int, cfg, n: int) -> Board:
    """Train ``n`` random samples through the driver; predictions and every weight must
    equal the golden model's."""
    eng = BoardEngine(cfg, f"socket://127.0.0.1:{port}", timeout=5.0)
    eng.init_weights()
    X, Y = _samples(cfg, n)
    g = GoldenModel(cfg)
    want = [g.train_sample(x, int(y)).prediction for x, y in zip(X, Y, strict=True)]
    assert list(eng.train_many(X, Y)) == want
    st = eng.state_dict()
    assert all(np.array_equal(a, b) for a, b in zip(st["W"], g.W, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(st["b"], g.b, strict=True))
    assert st["lfsr"] == g.lfsr
    eng.close()
    return eng.board


@pytest.mark.parametrize("board", ["icebreaker", "ulx3s"])
def test_tiny_through_the_pins_matches_golden(board: str) -> None:
    """iCEBreaker: 8 clocks a bit and W0 in the vendor's SPRAM model (X drawn at random);
    ULX3S: 13.33 clocks a bit (the fractional timing) and the fast multiplier plan."""
    plan = board_plan(TINY, board)
    assert plan.spram == (board == "icebreaker")
    port, th, stats = serve_in_thread(TINY, 1, plan)
    b = _train_and_compare(port, TINY, 24)
    assert b.resends == 0
    th.join(60)
    assert not th.is_alive()
    s = stats["sessions"][0]
    assert stats["baud"] == plan.baud and stats["line_framing_errors"] == 0
    assert s["trains"] == 24
    # 24 sparse TRAIN frames and their answers cross the line at 10 bits a byte: the
    # board's time can be no shorter than the bytes' time on the wire
    assert stats["cycles"] >= stats["rx_bytes"] * 10 * plan.clock_hz / plan.baud


@pytest.fixture(scope="module")
def pins_board():
    """One faithful iCEBreaker board for the session tests (state carries over)."""
    port, th, stats = serve_in_thread(TINY, 0, board_plan(TINY, "icebreaker"))
    yield port
    # the daemon thread's child ends with this process (its parent-death signal)


def _status(port: int) -> dict[str, int]:
    t = open_transport(f"socket://127.0.0.1:{port}")
    b = Board(t, timeout=5.0, retries=0)
    b.info()
    st = b.status()
    t.close()
    return st


def test_a_half_sent_frame_times_out_and_a_new_session_is_answered_at_once(
        pins_board: int) -> None:
    """A host that dies mid-frame: the parser's inter-byte timeout fires in simulation,
    so the next host's first INFO is answered (retries=0: no second chance)."""
    before = _status(pins_board)
    s = socket.create_connection(("127.0.0.1", pins_board))
    s.sendall(p.encode(p.TRAIN, 5, bytes(40))[:20])  # header and part of the payload
    s.close()
    after = _status(pins_board)
    assert after["framing_errors"] == before["framing_errors"] + 1  # the timeout
    assert after["crc_errors"] == before["crc_errors"]


def test_the_timeout_fires_on_an_open_connection(pins_board: int) -> None:
    t = open_transport(f"socket://127.0.0.1:{pins_board}")
    b = Board(t, timeout=5.0, retries=0)
    b.info()
    before = b.status()
    t.write(p.encode(p.STATUS, 9, b"")[:4])  # a frame cut short
    time.sleep(3)  # the board keeps clocking: >= 100 000 quiet cycles pass meanwhile
    b.info()  # answered first time: the parser is hunting again
    after = b.status()
    t.close()
    assert after["framing_errors"] == before["framing_errors"] + 1


def test_what_a_closed_session_sent_is_still_executed(pins_board: int) -> None:
    """TRAIN frames written just before a close reach the board: their samples count."""
    before = _status(pins_board)
    X, Y = _samples(TINY, 3, seed=7)
    s = socket.create_connection(("127.0.0.1", pins_board))
    data = p.encode(p.INFO, 100)
    for k, (x, y) in enumerate(zip(X, Y, strict=True)):
        data += p.encode(p.TRAIN, 101 + k, p.train_payload(x, int(y), False, TINY.act_one))
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)  # the host half-closes without reading an answer
    s.close()
    assert _status(pins_board)["samples"] == before["samples"] + 3


def test_a_new_session_takes_over_from_a_stale_one(pins_board: int) -> None:
    stale = socket.create_connection(("127.0.0.1", pins_board))
    stale.sendall(b"\x01\x02")  # an idle host that never closes
    t = open_transport(f"socket://127.0.0.1:{pins_board}")
    assert Board(t, timeout=5.0, retries=1).info()["digest"] == TINY.digest
    t.close()
    stale.settimeout(5)
    assert stale.recv(100) == b""  # the stale connection was closed by the board
    stale.close()


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_sim_board_ends_its_child_on_a_signal(sig: int) -> None:
    port = free_port()
    build_native(TINY)  # the byte-stream board, built (or cached) before the clock starts
    # (as a terminal starts it: an ignored SIGINT would be inherited through exec, and
    # Python then leaves Ctrl-C ignored)
    proc = subprocess.Popen([sys.executable, "-m", "epfpga.cli", "sim-board", "--config",
                             "tiny", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 120
        child = []
        while time.time() < deadline and not child:
            child = _children(proc.pid)
            time.sleep(0.2)
        assert child, "the native board did not start"
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        os.kill(proc.pid, sig)
        proc.wait(30)
        end = time.time() + 10
        while any(_alive(c) for c in child) and time.time() < end:
            time.sleep(0.1)
        assert not any(_alive(c) for c in child), "the native board outlived sim-board"
        with socket.socket() as s:  # and the port is free again
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.slow
@pytest.mark.parametrize(("config", "board"), [("up5k", "icebreaker"), ("ecp5", "ulx3s")])
def test_mnist_through_the_pins_with_verify_golden(tmp_path, mnist, config: str,
                                                   board: str) -> None:
    """The board build's circuit at the profile's clock and baud trains real MNIST
    through the training CLI, checked against the golden model as it goes."""
    from epfpga.cli import main
    from epfpga.model.numerics import quantize_pixels
    from epfpga.train.checkpoint import load_checkpoint
    from epfpga.train.trainer import epoch_order

    cfg = get_config(config)
    plan = board_plan(cfg, board)
    port, th, stats = serve_in_thread(cfg, 1, plan)
    out = tmp_path / "run"
    n = 60
    assert main(["train", "--engine", "board", "--config", config, "--port",
                 f"socket://127.0.0.1:{port}", "--train-samples", str(n), "--test-samples",
                 "4", "--no-progress", "--no-plot", "--verify-golden", "--out",
                 str(out)]) == 0
    th.join(600)
    g = GoldenModel(cfg)
    order = epoch_order(cfg, 0, len(mnist.x_train))[:n]
    for x, y in zip(quantize_pixels(mnist.x_train[order], cfg), mnist.y_train[order],
                    strict=True):
        g.train_sample(x, int(y))
    ck = load_checkpoint(out)
    assert all(np.array_equal(a, b) for a, b in zip(ck.state["W"], g.W, strict=True))
    assert stats["sessions"][0]["trains"] == n
    assert stats["line_framing_errors"] == 0
