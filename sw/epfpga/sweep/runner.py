"""Runs a sweep's jobs on Dask distributed and stores each result as it arrives.

Scheduling is Dask's: an embedded ``LocalCluster`` (one single-threaded worker process
per core) or an existing cluster (``--scheduler tcp://HOST:8786``).  Workers offer two
resources, ``CPU`` (slots) and ``MEM`` (GB); each job kind asks for what it uses, so a
machine runs as many trainings as it has cores but only as many builds as its memory
holds.  Dask reruns the jobs of a worker that dies; this process is the only one that
writes the store, so a job finished twice is recorded once.  ``--workers 0`` runs the
jobs one after another in this process, without Dask.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm

from epfpga.errors import EpfpgaError
from epfpga.model.config import ConfigError
from epfpga.sweep.jobs import run_job
from epfpga.sweep.spec import Job, SweepSpec
from epfpga.sweep.store import ResultStore

#: what each kind of job takes from a worker (MEM in GB: nextpnr-ecp5 on the 85F peaks
#: near 3 GB, Verilator's C++ compile of a large core near 2 GB)
RESOURCES: dict[str, dict[str, float]] = {
    "train": {"CPU": 1, "MEM": 1}, "cycles": {"CPU": 1, "MEM": 2},
    "build": {"CPU": 1, "MEM": 3}, "fit": {},
}


class Pool:
    """Where jobs run: Dask futures, or (``client is None``) this process."""

    def __init__(self, client: Any, root: Path):
        self.client, self.root = client, str(root)
        self.largest = _largest_resources(client) if client is not None else {}
        self.use_resources = "CPU" in self.largest
        if client is not None and not self.use_resources:
            print("note: the cluster's workers declare no CPU/MEM resources (dask worker "
                  "--resources 'CPU=1,MEM=8'); jobs are placed without them",
                  file=sys.stderr)

    def submit(self, job: Job) -> Any:
        if self.client is None:
            fut: cf.Future = cf.Future()
            try:
                fut.set_result(run_job(job, self.root))
            except Exception as e:
                fut.set_exception(e)
            return fut
        res = self.resources_for(job.kind)
        return self.client.submit(run_job, job, self.root, key=f"{job.kind}-{job.key}",
                                  resources=res or None, pure=False)

    def resources_for(self, kind: str) -> dict[str, float]:
        """A kind's ask, cut to the largest worker: a worker smaller than the ask still
        takes the job (alone), where an ask no worker meets would wait forever."""
        if not self.use_resources:
            return {}
        return {k: min(v, self.largest.get(k, v)) for k, v in RESOURCES[kind].items()}

    def wait_first(self, futures: list[Any]) -> list[Any]:
        if self.client is None:
            return [f for f in futures if f.done()]
        from distributed import wait

        done, _ = wait(futures, return_when="FIRST_COMPLETED")
        return list(done)

    def cancel(self, futures: list[Any]) -> None:
        if self.client is not None and futures:
            self.client.cancel(futures)


def _largest_resources(client: Any) -> dict[str, float]:
    """Each resource's largest amount on one worker (none: the workers declare none)."""
    out: dict[str, float] = {}
    for w in client.scheduler_info().get("workers", {}).values():
        for k, v in (w.get("resources") or {}).items():
            out[k] = max(out.get(k, 0.0), float(v))
    return out


@contextlib.contextmanager
def open_pool(root: Path, scheduler: str | None, workers: int | None) -> Iterator[Pool]:
    if workers == 0 and not scheduler:
        yield Pool(None, root)
        return
    logging.getLogger("distributed").setLevel(logging.ERROR)
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as e:
            raise EpfpgaError(f"cannot reach the Dask scheduler at {scheduler}: {e}; start "
                              "it with `dask scheduler` and workers with `dask worker "
                              f"{scheduler} --resources 'CPU=1,MEM=8'`") from None
        with client:
            print(f"Dask scheduler {scheduler}: {len(client.scheduler_info()['workers'])} "
                  f"workers; dashboard {client.dashboard_link}", flush=True)
            yield Pool(client, root)
        return
    n = workers or os.cpu_count() or 1
    mem_gb = _memory_gb() / n
    with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                      resources={"CPU": 1, "MEM": mem_gb}, silence_logs=logging.ERROR,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        print(f"Dask LocalCluster: {n} workers x 1 thread, {mem_gb:.1f} GB each; "
              f"dashboard {client.dashboard_link}", flush=True)
        yield Pool(client, root)


def _memory_gb() -> float:
    try:
        import psutil

        return psutil.virtual_memory().total / 2**30
    except ImportError:  # pragma: no cover - distributed depends on psutil
        return 8.0


def run_jobs(pool: Pool, jobs: list[Job], store: ResultStore, progress: bool = True
             ) -> dict[str, int]:
    """Runs every job not yet in the store; returns counts (done before, ran, failed)."""
    todo, seen = [], set()
    for j in jobs:
        if j.key not in store and j.key not in seen:
            todo.append(j)
            seen.add(j.key)
    before = len({j.key for j in jobs}) - len(todo)
    counts = {"stored_before": before, "ran": 0, "failed": 0}
    bar = tqdm(total=before + len(todo), initial=before, desc="sweep", unit="job",
               disable=not progress, dynamic_ncols=True)
    pending: dict[Any, Job] = {}
    try:
        for j in todo:
            pending[pool.submit(j)] = j
            if pool.client is None:
                _collect(pool, pending, store, counts, bar)
        while pending:
            _collect(pool, pending, store, counts, bar)
    except KeyboardInterrupt:
        pool.cancel(list(pending))
        bar.close()
        print(f"\ninterrupted: {len(store)} results stored; run the same command again to "
              "continue", file=sys.stderr)
        raise
    bar.close()
    return counts


def _collect(pool: Pool, pending: dict[Any, Job], store: ResultStore,
             counts: dict[str, int], bar: tqdm) -> None:
    for fut in pool.wait_first(list(pending)):
        _record(fut, pending.pop(fut), store, counts, bar)
        bar.update()


def _record(fut: Any, job: Job, store: ResultStore, counts: dict[str, int],
            bar: tqdm) -> None:
    """A finished job: its row into the store, or its error into the failures log."""
    exc = fut.exception()
    if exc is None:
        store.add(fut.result())
        counts["ran"] += 1
        return
    counts["failed"] += 1
    msg = f"{type(exc).__name__}: {exc}"
    store.log_failure(job.key, job.point, job.kind, msg)
    bar.write(f"  failed: {job.kind} {job.point} seed {job.seed}: {msg.splitlines()[0]}")


def run_optuna(pool: Pool, spec: SweepSpec, store: ResultStore, workers: int,
               progress: bool = True) -> dict[str, int]:
    """Ask-and-tell: up to ``workers`` points in flight, each told to the study when
    all its seeds are in.  Points already in the store are told first, so a rerun
    continues the same study instead of starting over."""
    import optuna

    from epfpga.sweep.summary import METRICS

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = {d.name: d.distribution() for d in spec.space}
    kind = next(k for k in spec.kinds if spec.objective in METRICS[k])
    finished = _finished_points(spec, store, kind, dists)[:spec.trials]
    # a continued study draws on from where it stopped, not the same first draws again
    sampler = optuna.samplers.TPESampler(seed=spec.sampler_seed + len(finished))
    study = optuna.create_study(direction=spec.direction, sampler=sampler)
    for params, value in finished:
        study.add_trial(optuna.trial.create_trial(params=params, distributions=dists,
                                                  value=value))
    told = len(finished)
    counts = {"stored_before": told, "ran": 0, "failed": 0}
    bar = tqdm(total=spec.trials, initial=told, desc="optuna", unit="trial",
               disable=not progress, dynamic_ncols=True)
    flights: dict[int, tuple[Any, list[Job], set[Any]]] = {}  # trial number -> state
    asked = told
    pending: dict[Any, tuple[int, Job]] = {}
    try:
        while told < spec.trials:
            while asked < spec.trials and len(flights) < max(1, workers):
                trial = study.ask(dists)
                asked += 1
                point = {**spec.points[0], **trial.params}
                try:
                    jobs = spec.jobs_for(point)
                except ConfigError as e:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                    told += 1
                    bar.update()
                    bar.write(f"  invalid point {trial.params}: {e}")
                    continue
                futs = set()
                for j in jobs:
                    if j.key not in store:
                        f = pool.submit(j)
                        pending[f] = (trial.number, j)
                        futs.add(f)
                flights[trial.number] = (trial, jobs, futs)
            for number in [n for n, (_, _, f) in flights.items() if not f]:
                trial, jobs, _ = flights.pop(number)
                value = _objective(spec, store, jobs, kind)
                if value is None:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                else:
                    study.tell(trial, value)
                told += 1
                bar.update()
            if not pending:
                continue
            for fut in pool.wait_first(list(pending)):
                number, job = pending.pop(fut)
                flights[number][2].discard(fut)
                _record(fut, job, store, counts, bar)
    except KeyboardInterrupt:
        pool.cancel(list(pending))
        bar.close()
        print(f"\ninterrupted: {len(store)} results stored; run the same command again to "
              "continue the study", file=sys.stderr)
        raise
    bar.close()
    if any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials):
        print(f"best {spec.objective}: {study.best_value:.4g} at {study.best_params}")
    return counts


def _objective(spec: SweepSpec, store: ResultStore, jobs: list[Job], kind: str
               ) -> float | None:
    vals = [store.rows[j.key]["result"].get(spec.objective) for j in jobs
            if j.kind == kind and j.key in store]
    vals = [v for v in vals if isinstance(v, int | float)]
    want = len([j for j in jobs if j.kind == kind])
    return sum(vals) / len(vals) if vals and len(vals) == want else None


def _finished_points(spec: SweepSpec, store: ResultStore, kind: str,
                     dists: dict[str, Any]) -> list[tuple[dict[str, Any], float]]:
    """(params, objective) of every point of this study whose jobs are all stored."""
    out, seen = [], set()
    for row in list(store.rows.values()):
        params = {k: v for k, v in row["params"].items() if k in dists}
        ident = tuple(sorted(params.items()))
        if row["kind"] != kind or set(params) != set(dists) or ident in seen:
            continue
        seen.add(ident)
        if not all(dists[k]._contains(dists[k].to_internal_repr(v))
                   for k, v in params.items()):
            continue  # drawn from another version of the space
        try:
            value = _objective(spec, store, spec.jobs_for({**spec.points[0], **params}),
                               kind)
        except ConfigError:
            continue
        if value is not None:
            out.append((params, value))
    return out
