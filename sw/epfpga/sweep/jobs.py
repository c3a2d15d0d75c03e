"""What a worker runs: one job of a sweep, returning its result row.

Jobs are plain functions of their Job and the sweep directory, so any Dask worker (or
this process, with ``--workers 0``) can run them; their tools' chatter goes to a log
file beside their output, never to the terminal that shows the progress bar.  A
training job checkpoints into its own run directory and resumes from it, so a job
rerun after its worker died continues where it stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import socket
import time
from pathlib import Path
from typing import Any

from epfpga.errors import EpfpgaError
from epfpga.sweep.spec import Job

#: the cells a build report counts as logic, per board
LOGIC_CELLS = {"icebreaker": "ICESTORM_LC", "ulx3s": "TRELLIS_COMB"}
RAM_CELLS = {"icebreaker": "ICESTORM_RAM", "ulx3s": "DP16KD"}
DSP_CELLS = {"icebreaker": "ICESTORM_DSP", "ulx3s": "MULT18X18D"}


def run_job(job: Job, root: str) -> dict[str, Any]:
    """The result row of ``job``; raises on a failure that is not a result (a config
    that does not fit a board is a result: ``fits = false``)."""
    work = Path(root) / "jobs" / job.key
    work.mkdir(parents=True, exist_ok=True)
    t = time.time()
    with (work / "log.txt").open("a") as log, contextlib.redirect_stdout(log), \
            contextlib.redirect_stderr(log):
        result = RUNNERS[job.kind](job, work)
    return {"key": job.key, "kind": job.kind, "point": job.point, "seed": job.seed,
            "params": job.params, "options": job.options, "digest": job.cfg.digest,
            "result": result, "wall_s": round(time.time() - t, 3),
            "host": socket.gethostname(), "pid": os.getpid(),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def _train(job: Job, work: Path) -> dict[str, Any]:
    from epfpga.data.datasets import load_dataset
    from epfpga.train.trainer import TrainOptions, train

    o = job.options
    ds = _dataset(o["dataset"], load_dataset)
    rep = train(job.cfg, ds, TrainOptions(
        engine=o["engine"], epochs=int(o["epochs"]), train_samples=o["train_samples"],
        test_samples=o["test_samples"], out=work, resume=True, progress=False, plot=False))
    h = rep["history"]
    return {"test_acc": rep["final_test_acc"], "train_acc": h[-1]["train_acc"],
            "epochs": len(h), "samples_per_s": h[-1]["samples_per_s"],
            "test_acc_by_epoch": [e["test_acc"] for e in h]}


_DATASETS: dict[str, Any] = {}


def _dataset(name: str, load: Any) -> Any:
    """Once per worker process: a sweep's training jobs share their dataset."""
    if name not in _DATASETS:
        _DATASETS[name] = load(name)
    return _DATASETS[name]


def _fit(job: Job, work: Path) -> dict[str, Any]:
    from epfpga.boards.parts import PARTS, fit_check
    from epfpga.boards.profiles import profile
    from epfpga.hw.bounds import chain_bound

    board = job.options["board"]
    clock = profile(board).clock_hz / 1e6
    # the chain bound at 150 non-zero pixels (an MNIST average), streamed samples
    bound = chain_bound(job.cfg, 150.0, True, PARTS[board].shared_mul, streamed=True)
    out: dict[str, Any] = {"board": board, "chain_cycles": bound, "clock_mhz": clock,
                           "bound_samples_per_s": clock * 1e6 / bound}
    try:
        fit = fit_check(job.cfg, board)
    except EpfpgaError as e:
        return {**out, "fits": False, "reason": str(e).split("): ", 1)[-1]}
    return {**out, "fits": True, "ram_kbit": fit["ram_bits"] / 1024,
            "ram_available_kbit": fit["ram_available"] / 1024,
            "multipliers": fit["multipliers"],
            "multipliers_available": fit["multipliers_available"]}


def _cycles(job: Job, work: Path) -> dict[str, Any]:
    from epfpga.sim.bench import streamed_cycles
    from epfpga.sim.core_job import make_job, mnist_samples, random_samples
    from epfpga.sim.runner import run_test

    n = int(job.options["samples"])
    cfg = job.cfg
    X, Y = mnist_samples(cfg, n) if cfg.layers[0] == 784 else random_samples(cfg, n)
    r = run_test(cfg, "epfpga.sim.tb_core", make_job(cfg, X, Y, stream=True))
    if r["mismatches"]:
        raise EpfpgaError(f"the core differs from the golden model on {cfg.name}: "
                          f"{r['mismatches'][:3]}")
    return {"cycles_per_sample": streamed_cycles(r), "samples": n, "bitexact": True}


def _build(job: Job, work: Path) -> dict[str, Any]:
    from epfpga.boards import command_build
    from epfpga.boards.report import parse_nextpnr_log

    o = job.options
    board = o["board"]
    cfg_path = work / "config.json"
    job.cfg.save(cfg_path)
    builds = Path(o["builds"]) if o["builds"] else work.parent.parent / "builds"
    # the build command's own parser: every option it has, at its default unless given
    parser = argparse.ArgumentParser()
    command_build.add_arguments(parser)
    args = parser.parse_args(
        ["--board", board, "--config", str(cfg_path), "--seed", str(job.seed),
         "--out", str(builds)] + (["--clock", str(o["clock"])] if o["clock"] else [])
        + ([] if o["simulate"] else ["--no-sim"]))
    try:
        command_build.run(args)
    except EpfpgaError as e:
        msg = str(e)
        if "does not fit" in msg:
            return {"board": board, "fits": False, "reason": msg.split("): ", 1)[-1]}
        log = re.search(r"\(log: (.+)\)$", msg)
        if "timing not met" in msg and log:  # a placement below the clock is a result
            return _summary(board, {**parse_nextpnr_log(Path(log[1])), "timing_met": False,
                                    "clock_mhz": _clock(board, o["clock"]),
                                    "build_s": None, "_path": Path(log[1])})
        raise
    return _summary(board, _find_report(builds, board, job.cfg.digest, job.seed, o["clock"]))


def _clock(board: str, clock: float | None) -> float:
    from epfpga.boards.profiles import profile

    return clock or profile(board).clock_hz / 1e6


def _summary(board: str, rep: dict[str, Any]) -> dict[str, Any]:
    util = rep.get("utilisation") or {}
    fmax = rep.get("fmax_mhz") or {}
    out = {"board": board, "fits": True, "timing_met": rep["timing_met"],
           "fmax_mhz": min(fmax.values()) if fmax else None, "clock_mhz": rep["clock_mhz"],
           "logic_cells": (util.get(LOGIC_CELLS[board]) or [None])[0],
           "logic_available": (util.get(LOGIC_CELLS[board]) or [None, None])[1],
           "ram_blocks": (util.get(RAM_CELLS[board]) or [None])[0],
           "dsps": (util.get(DSP_CELLS[board]) or [None])[0],
           "build_s": rep["build_s"],
           "report": str(rep["_path"]) if rep["_path"].suffix == ".json" else None,
           "log": str(rep["_path"].parent / "epfpga.tim")}
    for k in ("cycles_per_sample", "compute_samples_per_s", "link_samples_per_s"):
        if k in rep:
            out[k] = rep[k]
    return out


def _find_report(builds: Path, board: str, digest: str, seed: int | None,
                 clock: float | None) -> dict[str, Any]:
    for p in sorted(builds.glob(f"{board}-*/report.json"), key=lambda p: p.stat().st_mtime,
                    reverse=True):
        d = json.loads(p.read_text())
        if d.get("digest") == digest and (seed is None or d.get("seed") == seed) and (
                clock is None or abs(d.get("clock_mhz", 0) - clock) < 1e-6):
            d["_path"] = p
            return d
    raise EpfpgaError(f"the build of {digest} (seed {seed}) left no report under {builds}")


RUNNERS = {"train": _train, "fit": _fit, "cycles": _cycles, "build": _build}
