"""``epfpga sweep``: run a sweep spec on Dask, resumable, with a summary and plots."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

from epfpga.errors import EpfpgaError
from epfpga.sweep.spec import SPECS_DIR, bundled_specs, find_spec, load_spec

EPILOG = """\
A spec is a TOML file (or a bundled spec's name: see --list).  Example:

  [sweep]
  name = "widths"
  base = "up5k"                 # preset or config file
  kinds = ["train"]             # train, cycles, fit, build
  search = "grid"               # grid, random or optuna
  seeds = [0, 1, 2]             # per point: config seed (train), placement seed (build)
  [train]
  epochs = 1
  train_samples = 30000
  [grid]
  weight_bits = [16, 14, 12, 10]

Results go to OUT/results.jsonl, one line per job; running the same command again
skips every stored job, so an interrupted sweep continues where it stopped.

On a cluster: `dask scheduler` on one machine, `dask worker tcp://HOST:8786
--nthreads 1 --resources "CPU=1,MEM=8"` on each machine that has epfpga installed
(one worker per core; MEM in GB), then `epfpga sweep SPEC --scheduler tcp://HOST:8786`.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument("spec", nargs="?", help="spec file, or the name of a bundled spec")
    p.add_argument("--out", type=Path, default=None,
                   help="sweep directory (default: sweeps/NAME)")
    p.add_argument("--workers", type=int, default=None,
                   help="LocalCluster workers (default: one per core; 0 runs the jobs in "
                        "this process, one after another)")
    p.add_argument("--scheduler", default=None, metavar="URL",
                   help="an existing Dask scheduler, e.g. tcp://HOST:8786, instead of a "
                        "LocalCluster")
    p.add_argument("--dry-run", action="store_true",
                   help="list the points and jobs, run nothing")
    p.add_argument("--summary", action="store_true",
                   help="only print the summary of what is stored")
    p.add_argument("--list", action="store_true", help="list the bundled specs")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-plot", action="store_true", help="no PNG plots")


def run(args: argparse.Namespace) -> int:
    from epfpga.sweep.runner import open_pool, run_jobs, run_optuna
    from epfpga.sweep.store import ResultStore
    from epfpga.sweep.summary import plots, tables

    if args.list:
        for name in bundled_specs():
            first = (SPECS_DIR / f"{name}.toml").read_text().splitlines()[0]
            print(f"{name:24s} {first.lstrip('# ')}")
        return 0
    if not args.spec:
        raise EpfpgaError("give a spec file or a bundled spec's name (--list shows them)")
    if args.workers is not None and args.workers < 0:
        raise EpfpgaError(f"--workers must be 0 or more, got {args.workers}")
    spec = load_spec(args.spec)
    out = args.out or Path("sweeps") / spec.name
    if spec.search == "optuna":
        jobs, invalid = [], []
        points = spec.trials
    else:
        jobs, invalid = spec.expand()
        points = len({j.point for j in jobs})
    print(f"sweep {spec.name}: {spec.search}, {points} points, kinds "
          f"{', '.join(spec.kinds)}" + (f", {len(jobs)} jobs" if jobs else "")
          + (f"; {len(invalid)} invalid points skipped" if invalid else "") + f" -> {out}")
    for label, why in invalid:
        print(f"  invalid: {label}: {why}")
    if args.dry_run:
        for j in jobs:
            print(f"  {j.kind:6s} {j.point} seed {j.seed} [{j.key}]")
        return 0
    store = ResultStore(out / "results.jsonl")
    if store.dropped:
        print(f"note: dropped a torn last line of {store.path} (that job reruns)")
    if not args.summary:
        out.mkdir(parents=True, exist_ok=True)
        src = find_spec(args.spec)
        if not (out / "spec.toml").exists():
            shutil.copyfile(src, out / "spec.toml")
        workers = args.workers
        if workers is None and set(spec.kinds) == {"fit"} and not args.scheduler:
            workers = 0  # fit checks take milliseconds: no cluster
        t = time.time()
        with open_pool(out, args.scheduler, workers) as pool:
            if spec.search == "optuna":
                n = workers or os.cpu_count() or 1
                counts = run_optuna(pool, spec, store, n, not args.no_progress)
            else:
                counts = run_jobs(pool, jobs, store, not args.no_progress)
        wall = time.time() - t
        print(f"{counts['ran']} jobs ran, {counts['stored_before']} were stored already, "
              f"{counts['failed']} failed (see {store.path.with_name('failures.jsonl')}); "
              f"{wall:.1f} s")
        with (out / "runs.jsonl").open("a") as f:  # wall times, for scaling figures
            f.write(json.dumps({"workers": workers, "scheduler": args.scheduler, **counts,
                                "wall_s": round(wall, 2)}) + "\n")
    if jobs:  # this spec's rows, in the spec's order
        rows = [store.rows[k] for k in dict.fromkeys(j.key for j in jobs) if k in store]
    else:
        rows = list(store.rows.values())
    text = tables(rows, spec.kinds)
    print(text)
    (out / "summary.md").parent.mkdir(parents=True, exist_ok=True)
    (out / "summary.md").write_text(f"# sweep {spec.name}\n\n{text}\n")
    if not args.no_plot and rows:
        for p in plots(rows, spec.kinds, out, spec.name):
            print(f"plot: {p}")
    if not args.summary and counts["failed"]:
        return 1
    return 0
