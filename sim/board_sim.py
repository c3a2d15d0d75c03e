"""The Verilator-backed simulated board: builds the SoC and serves it on TCP."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from epfpga.config import EPConfig
from epfpga.errors import EpfpgaError


def serve(cfg: EPConfig, port: int, sessions: int = 0, ready_file: str | None = None) -> None:
    """Blocks while serving; ``sessions`` > 0 stops after that many client connections."""
    from .runner import run_test

    env = {"EPFPGA_BOARD_PORT": str(port), "EPFPGA_BOARD_SESSIONS": str(sessions)}
    if ready_file:
        env["EPFPGA_BOARD_READY"] = ready_file
    try:
        run_test(cfg, "epfpga.sim.tb_board", {}, design="soc", extra_env=env)
    except EpfpgaError as e:
        if "no result" not in str(e):  # the board test writes no result file: expected
            raise


def wait_ready(path: str, timeout: float = 600.0) -> None:
    t = time.time()
    while not os.path.exists(path):
        if time.time() - t > timeout:
            raise EpfpgaError("the simulated board did not come up (Verilator build failed?)")
        time.sleep(0.2)


def ready_path() -> str:
    return str(Path(tempfile.mkdtemp()) / "ready")

