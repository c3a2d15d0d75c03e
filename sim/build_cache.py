"""Bounds the Verilator build cache.

Every gateware change makes new build directories (their names are digests of the
sources), and each holds 100-300 MB of generated C++ and objects.  Left alone, the cache
filled a 250 GB disk over a few dozen test runs and the next build died with "No space
left on device".  After each new build the least recently used directories are removed
until the cache fits its budget; a directory used within the last hour is never removed,
so a test run's own builds (and a parallel worker's) stay whatever the budget, and a
directory being built in or run from is never removed.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from epfpga.errors import EpfpgaError

STAMP = ".used"
BUILDING = ".lock"  # held by the one builder of a directory (sim/runner.py)
RUNNING = ".running"
KEEP_RECENT_S = 3600.0
DEFAULT_BUDGET_GB = 8.0
SHARED = {"litedram"}  # generated once and read by many builds: not a build of its own


def budget_bytes() -> int:
    """``EPFPGA_SIM_CACHE_GB`` (default 8); 0 keeps nothing older than an hour."""
    raw = os.environ.get("EPFPGA_SIM_CACHE_GB", "")
    try:
        gb = float(raw) if raw else DEFAULT_BUDGET_GB
    except ValueError:
        raise EpfpgaError(f"EPFPGA_SIM_CACHE_GB must be a size in GiB, not {raw!r}") from None
    return int(max(gb, 0.0) * 2**30)


def mark_used(d: Path) -> None:
    """The directory's last use, read by ``prune`` (a directory's own mtime changes only
    when entries are added or removed, not when a build is reused)."""
    (d / STAMP).touch()


def last_used(d: Path) -> float:
    for p in (d / STAMP, d):
        try:
            return p.stat().st_mtime
        except OSError:
            continue
    return 0.0


def size_of(d: Path) -> int:
    total = 0
    for root, _, files in os.walk(d):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


@contextlib.contextmanager
def in_use(d: Path) -> Iterator[None]:
    """A build being run (a simulated board, a cocotb test): a shared lock of its own,
    so ``prune`` leaves the directory alone however long the run (a training run on a
    simulated board takes hours) and builders never wait for it."""
    with (d / RUNNING).open("a") as f:
        fcntl.flock(f, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _busy(d: Path) -> bool:
    """Someone builds in the directory (its build lock, see runner._exclusive) or runs
    what it holds (``in_use``)."""
    for name in (BUILDING, RUNNING):
        lock = d / name
        if not lock.exists():
            continue
        with lock.open("a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
    return False


def prune(root: Path, budget: int | None = None, now: float | None = None,
          keep_recent_s: float = KEEP_RECENT_S) -> list[Path]:
    """Remove least recently used build directories of ``root`` until the rest fit in
    ``budget`` bytes; returns the removed ones."""
    budget = budget_bytes() if budget is None else budget
    now = time.time() if now is None else now
    dirs = [d for d in root.iterdir() if d.is_dir() and d.name not in SHARED]
    sizes = {d: size_of(d) for d in dirs}
    total = sum(sizes.values())
    removed: list[Path] = []
    for d in sorted(dirs, key=last_used):
        if total <= budget:
            break
        if now - last_used(d) < keep_recent_s or _busy(d):
            continue
        shutil.rmtree(d, ignore_errors=True)
        total -= sizes[d]
        removed.append(d)
    return removed
