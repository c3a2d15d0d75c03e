"""The Verilator-backed simulated board: the SoC built as a native program (clock and
TCP bridge in C++, ``sim/native/board_main.cpp``) and served on 127.0.0.1.

The native program is a child process; it must never outlive the command that started
it (it would hold the port): a signal that ends this process ends the child first, and
the child also asks the kernel to end it when its parent dies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from epfpga.errors import EpfpgaError
from epfpga.model.config import EPConfig

from .faithful import BoardPlan

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class _Signalled(BaseException):
    """A stop signal arrived while serving (BaseException: nothing may swallow it)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def quiet_cycles() -> int:
    """Cycles the board must be quiet before the simulation may stop clocking: longer
    than the frame parser's inter-byte timeout, so that timeout fires as on a board."""
    from epfpga.hw.link.framing import TIMEOUT_BITS

    return (1 << TIMEOUT_BITS) + 1024


def command(exe: Path, port: int, sessions: int, plan: BoardPlan | None,
            ready_file: str | None, stats: str, seed: int = 1) -> list[str]:
    cmd = [str(exe), "--port", str(port), "--sessions", str(sessions), "--stats", stats,
           "--quiet", str(quiet_cycles()), "--seed", str(seed), "--parent", str(os.getpid())]
    if plan is not None:
        cmd += ["--clock", str(plan.clock_hz), "--baud", str(plan.baud)]
    if ready_file:
        cmd += ["--ready", ready_file]
    return cmd


def serve(cfg: EPConfig, port: int, sessions: int = 0, ready_file: str | None = None,
          stats_file: str | None = None, verbose: bool = False,
          plan: BoardPlan | None = None) -> dict:
    """Blocks while serving; ``sessions`` > 0 stops after that many client connections.

    Returns the simulator's counters (cycles, wall time evaluating the model, bytes, and
    per session the TRAIN answers' rate in board time); ``verbose`` lets the simulator
    print a line per closed session."""
    from .build_cache import in_use
    from .runner import build_native

    exe = build_native(cfg, plan)
    with tempfile.TemporaryDirectory() as tmp, in_use(exe.parent.parent):
        stats = stats_file or str(Path(tmp) / "stats.json")
        proc = subprocess.Popen(command(exe, port, sessions, plan, ready_file, stats),
                                stdout=subprocess.DEVNULL,
                                stderr=None if verbose else subprocess.DEVNULL)
        _wait_child(proc)
        if proc.returncode != 0:
            raise EpfpgaError(f"the simulated board stopped with exit code "
                              f"{proc.returncode}" + (" (its message is above)" if verbose
                                                      else ""))
        return json.loads(Path(stats).read_text()) if os.path.exists(stats) else {}


def _wait_child(proc: subprocess.Popen) -> None:
    """Wait for the child; SIGINT, SIGTERM or SIGHUP to this process ends it first."""
    def on_signal(signum: int, frame) -> None:
        raise _Signalled(signum)

    main = threading.current_thread() is threading.main_thread()
    old = {s: signal.signal(s, on_signal) for s in STOP_SIGNALS} if main else {}
    try:
        proc.wait()
    except (KeyboardInterrupt, _Signalled) as e:
        _end(proc)
        if isinstance(e, _Signalled):
            raise SystemExit(128 + e.signum) from None
        raise
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        if proc.poll() is None:  # any other way out of here
            _end(proc)


def _end(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_ready(path: str, timeout: float = 900.0) -> None:
    t = time.time()
    while not os.path.exists(path):
        if time.time() - t > timeout:
            raise EpfpgaError("the simulated board did not come up (Verilator build failed?)")
        time.sleep(0.2)


def ready_path() -> str:
    return str(Path(tempfile.mkdtemp()) / "ready")


def serve_in_thread(cfg: EPConfig, sessions: int, plan: BoardPlan | None = None
                    ) -> tuple[int, threading.Thread, dict]:
    """Build, then serve the Verilator board on a free port in a daemon thread until
    ``sessions`` connections have closed: (port, thread, stats filled in at the end)."""
    from epfpga.host.board_model import free_port

    from .runner import build_native

    build_native(cfg, plan)  # here, so a build error surfaces in the caller
    port, ready, stats = free_port(), ready_path(), {}
    th = threading.Thread(
        target=lambda: stats.update(serve(cfg, port, sessions, ready, plan=plan)),
        daemon=True)
    th.start()
    wait_ready(ready)
    stats["pid"] = ready_pid(ready)
    return port, th, stats


def ready_pid(path: str) -> int:
    """The simulated board's process id, from its ready file ("ready PID")."""
    for _ in range(50):  # the file exists a moment before its line is written
        words = Path(path).read_text().split()
        if len(words) == 2:
            return int(words[1])
        time.sleep(0.02)
    raise EpfpgaError(f"the simulated board's ready file {path} names no process")


def press_reset(pid: int) -> None:
    """The reset button of the simulated board in process ``pid`` (SIGUSR1): its SoC is
    reset, as by the board's button, and the SDRAM chip keeps its contents."""
    os.kill(pid, signal.SIGUSR1)
