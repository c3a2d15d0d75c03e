"""Gate-level: the SoC as each board's build synthesises it (synth_ice40 or synth_ecp5
with the profile's options), in Verilator with the cell models (Yosys's, and epfpga's
own DP16KD and MULT18X18D), at the pins at 3 Mbaud -- training and the weights it leaves bit-exact
with the golden model."""

from __future__ import annotations

import numpy as np
import pytest

from epfpga.errors import EpfpgaError
from epfpga.host.driver import BoardEngine
from epfpga.model.config import get_config
from epfpga.model.golden import GoldenModel
from epfpga.sim.board_sim import serve_in_thread
from epfpga.sim.faithful import board_plan

pytestmark = pytest.mark.sim


@pytest.mark.parametrize("board", ["icebreaker", "ulx3s"])
def test_the_synthesised_soc_trains_bit_exact(board: str) -> None:
    cfg = get_config("tiny")
    port, th, stats = serve_in_thread(cfg, 1, board_plan(cfg, board, gate_level=True))
    rng = np.random.default_rng(3)
    n = 40
    X = rng.integers(1, cfg.act_one + 1, (n, cfg.layers[0])) * (
        rng.random((n, cfg.layers[0])) < 0.5)
    Y = rng.integers(0, cfg.layers[-1], n)
    eng = BoardEngine(cfg, f"socket://127.0.0.1:{port}", timeout=30.0)
    eng.init_weights()
    pred = np.concatenate([eng.train_many(X[i:i + 10], Y[i:i + 10]) for i in range(0, n, 10)])
    inferred = eng.infer_batch(X[:10])
    got, status = eng.state_dict(), eng.board.status()
    eng.close()
    th.join(120)
    g = GoldenModel(cfg)
    from epfpga.model.numerics import lfsr_seed, lfsr_step

    s, want = lfsr_seed(cfg.seed, cfg.n_layers), []
    for x, y in zip(X, Y, strict=True):
        sign = 1
        if cfg.nudge == "random_sign":
            s = lfsr_step(s)
            sign = -1 if s & 1 else 1
        want.append(g.train_sample(x, int(y), beta_sign=sign).prediction)
    assert pred.tolist() == want
    assert inferred.tolist() == [g.infer(x) for x in X[:10]]
    assert all((a == b).all() for a, b in zip(got["W"], g.W, strict=True))
    assert all((a == b).all() for a, b in zip(got["b"], g.b, strict=True))
    assert got["lfsr"] == list(g.lfsr) and status["samples"] == n
    assert stats["cycles"] > 0


def test_an_unknown_board_is_refused() -> None:
    from epfpga.sim.gatelevel import cell_library

    with pytest.raises(EpfpgaError, match="no gate-level simulation"):
        cell_library("ice40hx8k")
