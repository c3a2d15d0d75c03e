"""The Verilator-backed simulated board: the SoC built as a native program (clock and
TCP bridge in C++, ``sim/native/board_main.cpp``) and served on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from epfpga.config import EPConfig
from epfpga.errors import EpfpgaError


def serve(cfg: EPConfig, port: int, sessions: int = 0, ready_file: str | None = None,
          stats_file: str | None = None, verbose: bool = False) -> dict:
    """Blocks while serving; ``sessions`` > 0 stops after that many client connections.

    Returns the simulator's counters (cycles, wall time evaluating the model, bytes);
    ``verbose`` lets the simulator print a line per closed session."""
    from .runner import build_native

    exe = build_native(cfg)
    cmd = [str(exe), "--port", str(port), "--sessions", str(sessions)]
    if ready_file:
        cmd += ["--ready", ready_file]
    with tempfile.TemporaryDirectory() as tmp:
        stats = stats_file or str(Path(tmp) / "stats.json")
        proc = subprocess.Popen(cmd + ["--stats", stats], stdout=subprocess.DEVNULL,
                                stderr=None if verbose else subprocess.DEVNULL)
        try:
            proc.wait()
        except KeyboardInterrupt:
            proc.terminate()
            proc.wait(10)
            raise
        if proc.returncode != 0:
            raise EpfpgaError(f"the simulated board stopped with exit code "
                              f"{proc.returncode}" + (" (its message is above)" if verbose
                                                      else ""))
        return json.loads(Path(stats).read_text()) if os.path.exists(stats) else {}


def wait_ready(path: str, timeout: float = 900.0) -> None:
    t = time.time()
    while not os.path.exists(path):
        if time.time() - t > timeout:
            raise EpfpgaError("the simulated board did not come up (Verilator build failed?)")
        time.sleep(0.2)


def ready_path() -> str:
    return str(Path(tempfile.mkdtemp()) / "ready")


def serve_in_thread(cfg: EPConfig, sessions: int) -> tuple[int, threading.Thread, dict]:
    """Build, then serve the Verilator board on a free port in a daemon thread until
    ``sessions`` connections have closed: (port, thread, stats filled in at the end)."""
    from epfpga.board_model import free_port

    from .runner import build_native

    build_native(cfg)  # here, so a build error surfaces in the caller
    port, ready, stats = free_port(), ready_path(), {}
    th = threading.Thread(target=lambda: stats.update(serve(cfg, port, sessions, ready)),
                          daemon=True)
    th.start()
    wait_ready(ready)
    return port, th, stats
