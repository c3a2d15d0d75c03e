"""Exactly once over the board engine: Ctrl-C mid-chunk, a link cut mid-run, a host that
died with its connection open -- each followed by --resume ends bit-identical to an
uninterrupted golden run of the same samples."""

from __future__ import annotations

import os
import signal
import socket

import pytest

from epfpga.cli import main
from epfpga.host.board_model import BoardModel, serve_in_thread
from epfpga.host.driver import BoardEngine
from epfpga.host.faultproxy import FaultProxy, FaultRates
from epfpga.model.config import get_config
from epfpga.train.checkpoint import load_checkpoint
from tests.sw.data.test_datasets import make_idx_dir

CFG = get_config("up5k")


@pytest.fixture
def idx(tmp_path):
    d = tmp_path / "data"
    make_idx_dir(d, n_train=300, n_test=20, seed=2)
    return f"idx:{d}"


@pytest.fixture
def board():
    port, stop, _ = serve_in_thread(BoardModel(CFG))
    yield port
    stop.set()


def _train(*args: str) -> int:
    return main(["train", "--config", "up5k", "--no-progress", "--no-plot", *args])


def _weights(path) -> list:
    st = load_checkpoint(path).state
    return [w.tolist() for w in st["W"]] + [v.tolist() for v in st["b"]] + [st["lfsr"]]


@pytest.fixture
def reference(tmp_path, idx):
    assert _train("--dataset", idx, "--engine", "golden", "--out", str(tmp_path / "ref")) == 0
    return _weights(tmp_path / "ref")


def test_ctrl_c_with_the_board_engine_checkpoints_the_board(tmp_path, idx, board, reference,
                                                             monkeypatch) -> None:
    from epfpga.train.engines import BoardAdapter

    real = BoardAdapter.train_chunk
    seen = {"n": 0}

    def interrupted(self, X, Y, index=None):
        seen["n"] += len(X)
        if seen["n"] == 200:
            os.kill(os.getpid(), signal.SIGINT)
        return real(self, X, Y, index)

    monkeypatch.setattr(BoardAdapter, "train_chunk", interrupted)
    out = str(tmp_path / "b")
    url = f"socket://127.0.0.1:{board}"
    assert _train("--dataset", idx, "--engine", "board", "--port", url, "--out", out) == 130
    assert load_checkpoint(out).position == 200  # read back from the board at the stop
    monkeypatch.setattr(BoardAdapter, "train_chunk", real)
    assert _train("--dataset", idx, "--engine", "board", "--port", url, "--out", out,
                  "--resume") == 0
    assert _weights(out) == reference


def test_a_cut_link_is_one_line_and_resume_finishes_exactly(tmp_path, idx, board, reference,
                                                            capsys) -> None:
    out = str(tmp_path / "c")
    # the weights' upload is 410 kB; TRAIN frames of these dense test images (about 800
    # bytes) follow
    proxy = FaultProxy(board, FaultRates(cut_after=500_000))
    url = f"socket://127.0.0.1:{proxy.start()}"
    rc = _train("--dataset", idx, "--engine", "board", "--port", url, "--out", out,
                "--checkpoint-every", "50", "--recover", "0")
    proxy.stop()
    err = capsys.readouterr().err
    assert rc == 2 and "closed the connection" in err and "Traceback" not in err
    assert proxy.injected["cut"] == 1 and 0 < load_checkpoint(out).position < 300
    assert _train("--dataset", idx, "--engine", "board", "--port",
                  f"socket://127.0.0.1:{board}", "--out", out, "--resume") == 0
    assert _weights(out) == reference


def test_a_cut_link_is_reconnected_and_the_run_goes_on_from_its_checkpoint(
        tmp_path, idx, board, reference, capsys) -> None:
    """The proxy cuts the connection once and then lets a new one through: the driver
    connects again and the same run ends on the uninterrupted weights."""
    out = str(tmp_path / "r")
    proxy = FaultProxy(board, FaultRates(cut_after=500_000))
    url = f"socket://127.0.0.1:{proxy.start()}"
    rc = _train("--dataset", idx, "--engine", "board", "--port", url, "--out", out,
                "--checkpoint-every", "50")
    proxy.stop()
    err = capsys.readouterr().err
    assert rc == 0 and proxy.injected["cut"] == 1
    assert "closed the connection" in err and "going on from that checkpoint" in err
    assert _weights(out) == reference


def test_a_dead_hosts_open_connection_does_not_lock_the_board(board) -> None:
    stale = socket.create_connection(("127.0.0.1", board))
    stale.sendall(b"\xa5\x05\x01")  # a frame begun, never finished, never closed
    eng = BoardEngine(CFG, f"socket://127.0.0.1:{board}", timeout=2.0, retries=2)
    assert eng.board.info()["digest"] == CFG.digest
    eng.close()
    stale.close()


@pytest.mark.parametrize("delay", [0.0, 0.3, 0.9])
def test_sigkill_at_any_moment_then_resume(tmp_path, idx, reference, delay: float) -> None:
    """kill -9 (no handler runs) some time after a checkpoint exists: the checkpoint on
    disk is whole and consistent, and --resume ends on the uninterrupted weights."""
    import subprocess
    import sys
    import time

    out = tmp_path / "k"
    cmd = [sys.executable, "-m", "epfpga.cli", "train", "--config", "up5k", "--no-progress",
           "--no-plot", "--dataset", idx, "--out", str(out), "--checkpoint-every", "20"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (out / "checkpoint.npz").exists() and proc.poll() is None \
            and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(delay)
    proc.kill()
    proc.wait()
    assert _train("--dataset", idx, "--out", str(out), "--resume") == 0
    assert _weights(out) == reference
