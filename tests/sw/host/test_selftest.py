"""``epfpga selftest``: passes on healthy boards (the golden board model and the faithful
simulated board) and fails, naming the step, on each kind of fault it exists to find."""

from __future__ import annotations

import socket
import threading

import numpy as np
import pytest

from epfpga.cli import main
from epfpga.host import protocol as p
from epfpga.host.board_model import BoardModel, serve_in_thread
from epfpga.host.selftest import patterns
from epfpga.model.config import get_config

TINY = get_config("tiny")
STEPS = ("link", "memory", "train", "status", "restore")


def _selftest(port: int, *extra: str) -> int:
    return main(["selftest", "--port", f"socket://127.0.0.1:{port}", "--config", "tiny",
                 "--timeout", "0.3", *extra])


def _verdicts(out: str) -> dict[str, str]:
    rows = [line.split() for line in out.splitlines() if line.startswith("  ")]
    return {r[0]: r[1] for r in rows if r and r[0] in STEPS}


def test_golden_board_passes_and_is_left_as_found(capsys) -> None:
    board = BoardModel(TINY)
    board.golden.W[0][:] = 7  # whatever the board held before
    port, stop, _ = serve_in_thread(board)
    assert _selftest(port) == 0
    stop.set()
    assert _verdicts(capsys.readouterr().out) == dict.fromkeys(STEPS, "PASS")
    assert (board.golden.W[0] == 7).all()


def test_patterns_toggle_every_bit_within_range() -> None:
    for lo, hi in ((TINY.weight_min, TINY.weight_max), (1, p.LFSR_MAX)):
        a, b = patterns(1000, lo, hi, 0)
        for v in (a, b):
            assert v.min() >= lo and v.max() <= hi
        width = 64 if lo < 0 else 32
        mask = (1 << width) - 1
        assert ((a.astype(object) ^ b.astype(object)) & mask == (hi if lo >= 0 else mask)
                ).all()
        assert len(np.unique(a)) > 900  # values differ by address


def test_wrong_config_fails_the_link(capsys) -> None:
    port, stop, _ = serve_in_thread(BoardModel(TINY.replace(T1=TINY.T1 + 1)))
    assert _selftest(port) == 1
    stop.set()
    out = capsys.readouterr().out
    assert _verdicts(out)["link"] == "FAIL" and "digest" in out
    assert "selftest FAIL" in out


def test_wrong_baud_fails_the_link(capsys) -> None:
    port, stop, _ = serve_in_thread(BoardModel(TINY, clock_hz=24_000_000, baud=1_000_000))
    assert _selftest(port, "--baud", "3000000") == 1
    stop.set()
    out = capsys.readouterr().out
    assert _verdicts(out)["link"] == "FAIL" and "1000000 baud" in out


class StuckBit(BoardModel):
    """A weight memory with bit 3 of W0's word 5 stuck at one."""

    def _access(self, f, ok, err):
        out = super()._access(f, ok, err)
        self.golden.W[0].reshape(-1)[5] |= 8
        return out


def test_a_stuck_bit_fails_the_memory_step(capsys) -> None:
    port, stop, _ = serve_in_thread(StuckBit(TINY))
    assert _selftest(port) == 1
    stop.set()
    out = capsys.readouterr().out
    v = _verdicts(out)
    assert v["link"] == "PASS" and v["memory"] == "FAIL" and "W0 pattern" in out
    assert "first at 5" in out


def test_a_silent_port_fails_the_link_and_skips_the_rest(capsys) -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    conns = []
    threading.Thread(target=lambda: conns.append(srv.accept()), daemon=True).start()
    assert main(["selftest", "--port", f"socket://127.0.0.1:{srv.getsockname()[1]}",
                 "--config", "tiny", "--timeout", "0.1"]) == 1
    srv.close()
    out = capsys.readouterr().out
    v = _verdicts(out)
    assert v["link"] == "FAIL" and "no valid answer to INFO" in out
    assert [v[s] for s in STEPS[1:]] == ["SKIP"] * 4


@pytest.mark.sim
def test_faithful_simulated_board_passes(capsys) -> None:
    from epfpga.sim.board_sim import serve_in_thread as serve_sim
    from epfpga.sim.faithful import board_plan

    port, th, _ = serve_sim(TINY, 1, board_plan(TINY, "icebreaker"))
    assert main(["selftest", "--port", f"socket://127.0.0.1:{port}", "--board",
                 "icebreaker", "--config", "tiny", "--timeout", "5"]) == 0
    th.join(60)
    out = capsys.readouterr().out
    assert _verdicts(out) == dict.fromkeys(STEPS, "PASS")
    assert "24 MHz, 3000000 baud" in out
