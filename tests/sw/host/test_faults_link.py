"""Training through a fault-injecting TCP proxy (sw/epfpga/host/faultproxy.py) to the golden
board over TCP: bytes dropped, flipped, duplicated and inserted in both directions,
stalls and a cut connection.  Each run must end with every sample trained exactly once:
predictions and weights equal to a golden model trained directly on the same samples,
and the board's sample counter equal to the samples sent."""

from __future__ import annotations

import numpy as np
import pytest

from epfpga.host.board_model import BoardModel, serve_in_thread
from epfpga.host.driver import BoardEngine
from epfpga.host.faultproxy import FaultProxy, FaultRates
from epfpga.model.config import EPConfig
from epfpga.model.golden import GoldenModel

CFG = EPConfig(layers=(40, 8, 4), T1=6, T2=4, beta=0.5, lrs=(0.2, 0.1), nudge="random_sign",
               part="none", name="faults")
N = 120


def _samples(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.integers(1, CFG.act_one + 1, (N, CFG.layers[0])) * (
        rng.random((N, CFG.layers[0])) < 0.4)
    return X, rng.integers(0, CFG.layers[-1], N)


def run_through(rates: FaultRates, seed: int) -> tuple[BoardModel, FaultProxy, BoardEngine]:
    board = BoardModel(CFG)
    port, stop, _ = serve_in_thread(board)
    proxy = FaultProxy(port, rates, seed)
    try:
        eng = BoardEngine(CFG, f"socket://127.0.0.1:{proxy.start()}", timeout=0.25,
                          retries=40)
        eng.init_weights()
        X, Y = _samples(seed)
        pred = np.concatenate([eng.train_many(X[i:i + 20], Y[i:i + 20])
                               for i in range(0, N, 20)])
        got = eng.state_dict()
        status = eng.board.status()
        eng.close()
    finally:
        proxy.stop()
        stop.set()
    g = GoldenModel(CFG)  # the same samples, trained directly, once each
    want = [g.train_sample(x, int(y), beta_sign=-1 if s else 1).prediction
            for x, y, s in zip(X, Y, _signs(N), strict=True)]
    assert pred.tolist() == want
    assert all((a == b).all() for a, b in zip(got["W"], g.W, strict=True))
    assert all((a == b).all() for a, b in zip(got["b"], g.b, strict=True))
    assert got["lfsr"] == list(g.lfsr)
    assert status["samples"] == N  # none lost, none twice
    return board, proxy, eng


def _signs(n: int) -> list[bool]:
    from epfpga.model.numerics import lfsr_seed, lfsr_step

    s, out = lfsr_seed(CFG.seed, CFG.n_layers), []
    for _ in range(n):
        s = lfsr_step(s)
        out.append(bool(s & 1))
    return out


@pytest.mark.parametrize("fault", ["drop", "flip", "dup", "insert"])
def test_byte_faults_both_ways_lose_and_repeat_nothing(fault: str) -> None:
    _, proxy, eng = run_through(FaultRates(**{fault: 1e-3}), seed=len(fault))
    assert proxy.injected[fault] > 0 and eng.board.resends > 0


def test_all_byte_faults_at_1e3_both_ways() -> None:
    _, proxy, _ = run_through(FaultRates(drop=2.5e-4, flip=2.5e-4, dup=2.5e-4,
                                         insert=2.5e-4), seed=7)
    assert len(proxy.injected) == 4


def test_duplicated_answers_are_ignored_not_taken_for_silence() -> None:
    """Stale answers (the old driver resent its whole window on each, and gave up)."""
    _, proxy, eng = run_through(FaultRates(repeat=0.2, directions=("to_host",)), seed=3)
    assert proxy.injected["repeat"] > 5 and eng.board.stale > 0 and eng.board.resends == 0


def test_stalls_longer_than_the_timeout() -> None:
    # the host sees the silence when a read of the transport (up to 0.2 s) returns, so
    # a stall must outlast the timeout (0.25 s) by more than one read to force a resend
    _, proxy, eng = run_through(FaultRates(stall=0.05, stall_s=0.8), seed=11)
    assert proxy.injected["stall"] > 0 and eng.board.resends > 0


@pytest.mark.sim
def test_the_verilator_board_through_the_proxy() -> None:
    """The same through the gateware: the SoC in Verilator (byte port), tiny config,
    every byte fault at 1e-3 in all both ways."""
    from epfpga.model.config import get_config
    from epfpga.sim.board_sim import serve_in_thread as serve_verilator

    cfg = get_config("tiny")
    port, th, _ = serve_verilator(cfg, sessions=1)
    proxy = FaultProxy(port, FaultRates(drop=2.5e-4, flip=2.5e-4, dup=2.5e-4, insert=2.5e-4),
                       seed=5)
    rng = np.random.default_rng(5)
    n = 60
    X = rng.integers(1, cfg.act_one + 1, (n, cfg.layers[0])) * (
        rng.random((n, cfg.layers[0])) < 0.4)
    Y = rng.integers(0, cfg.layers[-1], n)
    try:
        eng = BoardEngine(cfg, f"socket://127.0.0.1:{proxy.start()}", timeout=0.5,
                          retries=40)
        eng.init_weights()
        pred = np.concatenate([eng.train_many(X[i:i + 20], Y[i:i + 20])
                               for i in range(0, n, 20)])
        got, status = eng.state_dict(), eng.board.status()
        eng.close()
    finally:
        proxy.stop()
    th.join(60)
    g = GoldenModel(cfg)
    signs = []
    from epfpga.model.numerics import lfsr_seed, lfsr_step

    s = lfsr_seed(cfg.seed, cfg.n_layers)
    for _ in range(n):
        if cfg.nudge == "random_sign":
            s = lfsr_step(s)
            signs.append(bool(s & 1))
        else:
            signs.append(False)
    want = [g.train_sample(x, int(y), beta_sign=-1 if sg else 1).prediction
            for x, y, sg in zip(X, Y, signs, strict=True)]
    assert pred.tolist() == want and status["samples"] == n
    assert all((a == b).all() for a, b in zip(got["W"], g.W, strict=True))
    assert sum(proxy.injected.values()) > 0
