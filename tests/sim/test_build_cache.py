"""The Verilator build cache stays within its budget without touching builds in use."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from epfpga.sim.build_cache import in_use, mark_used, prune

NOW = 1_000_000.0
HOUR = 3600.0


def _build_dir(root: Path, name: str, size: int, used_at: float) -> Path:
    d = root / name
    (d / "obj").mkdir(parents=True)
    (d / "obj" / "model.o").write_bytes(b"\0" * size)
    mark_used(d)
    os.utime(d / ".used", (used_at, used_at))
    return d


def test_least_recently_used_go_first_until_the_rest_fit(tmp_path: Path) -> None:
    a = _build_dir(tmp_path, "a", 400, NOW - 5 * HOUR)
    b = _build_dir(tmp_path, "b", 300, NOW - 9 * HOUR)
    c = _build_dir(tmp_path, "c", 200, NOW - 2 * HOUR)
    d = _build_dir(tmp_path, "d", 100, NOW - 7 * HOUR)
    # 1000 bytes against 550: b (oldest, 300) leaves 700, d (100) leaves 600, a (400) 200
    removed = prune(tmp_path, budget=550, now=NOW)
    assert removed == [b, d, a]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]
    assert c.exists()


def test_nothing_goes_when_the_cache_fits(tmp_path: Path) -> None:
    _build_dir(tmp_path, "a", 400, NOW - 5 * HOUR)
    _build_dir(tmp_path, "b", 300, NOW - 9 * HOUR)
    assert prune(tmp_path, budget=700, now=NOW) == []
    assert len(list(tmp_path.iterdir())) == 2


def test_builds_used_within_the_hour_stay_over_budget(tmp_path: Path) -> None:
    old = _build_dir(tmp_path, "old", 100, NOW - 2 * HOUR)
    fresh = _build_dir(tmp_path, "fresh", 1000, NOW - 0.5 * HOUR)
    assert prune(tmp_path, budget=0, now=NOW) == [old]
    assert fresh.exists()


def test_a_build_being_compiled_and_the_shared_core_stay(tmp_path: Path) -> None:
    busy = _build_dir(tmp_path, "busy", 100, NOW - 3 * HOUR)
    shared = tmp_path / "litedram"
    shared.mkdir()
    (shared / "core.v").write_bytes(b"\0" * 500)
    os.utime(shared, (NOW - 10 * HOUR, NOW - 10 * HOUR))
    with (busy / ".lock").open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # as runner._exclusive holds it while building
        assert prune(tmp_path, budget=0, now=NOW) == []
    assert busy.exists() and shared.exists()
    assert prune(tmp_path, budget=0, now=NOW) == [busy]


def test_a_build_being_run_stays_however_old(tmp_path: Path) -> None:
    running = _build_dir(tmp_path, "running", 100, NOW - 30 * HOUR)
    idle = _build_dir(tmp_path, "idle", 100, NOW - 2 * HOUR)
    with in_use(running), in_use(running):  # (two boards from one build)
        assert prune(tmp_path, budget=0, now=NOW) == [idle]
    assert prune(tmp_path, budget=0, now=NOW) == [running]


def test_the_budget_comes_from_the_environment(monkeypatch) -> None:
    from epfpga.errors import EpfpgaError
    from epfpga.sim.build_cache import DEFAULT_BUDGET_GB, budget_bytes

    monkeypatch.setenv("EPFPGA_SIM_CACHE_GB", "1.5")
    assert budget_bytes() == 3 * 2**29
    monkeypatch.setenv("EPFPGA_SIM_CACHE_GB", "lots")
    with pytest.raises(EpfpgaError, match="EPFPGA_SIM_CACHE_GB"):
        budget_bytes()
    monkeypatch.delenv("EPFPGA_SIM_CACHE_GB")
    assert budget_bytes() == int(DEFAULT_BUDGET_GB * 2**30)
