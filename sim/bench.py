"""Gateware benchmark: cycles per sample in Verilator beside the analytic bounds
(hw/bounds.py), projected samples/s at a stated clock, and simulated cycles per wall
second.  Training samples stream back to back, as a host with frames in flight sends
them (the fast plan loads the next sample and computes its drive meanwhile); the
figure is the steady state, the busy cycles between results after the first.
Inference samples go one at a time.
"""

from __future__ import annotations

import numpy as np

from epfpga.hw.bounds import chain_bound, port_bound
from epfpga.model.config import get_config

CLOCK_MHZ = 24.0


def streamed_cycles(r: dict) -> float:
    """Mean busy cycles between streamed training results, leaving out the first (it
    also computes its own drive)."""
    cyc = r["cycles_train"]
    return float(np.mean(cyc[1:] if len(cyc) > 1 else cyc))


def bench_gateware(configs: tuple[str, ...] = ("tiny", "up5k", "ecp5"), samples: int = 6
                   ) -> list[dict[str, float]]:
    from .core_job import make_job, mnist_samples, random_samples
    from .runner import run_test

    rows = []
    for name in configs:
        cfg = get_config(name)
        if cfg.layers[0] == 784:
            X, Y = mnist_samples(cfg, samples)
        else:
            X, Y = random_samples(cfg, samples)
        r = run_test(cfg, "epfpga.sim.tb_core", make_job(cfg, X, Y, n_infer=samples,
                                                          stream=True))
        if r["mismatches"]:
            raise RuntimeError(f"{name}: gateware differs from golden: {r['mismatches'][:3]}")
        nnz = float(np.count_nonzero(X, axis=1).mean())
        nnz_t = float(np.count_nonzero(X[1:], axis=1).mean())  # the samples timed
        train = streamed_cycles(r)
        infer = float(np.mean(r["cycles_infer"]))
        rows.append({
            "config": name, "nnz": nnz, "train_cycles": train,
            "lanes": cfg.lanes, "train_bound": chain_bound(cfg, nnz_t, True, streamed=True),
            "train_port_bound": port_bound(cfg, nnz_t, True), "infer_cycles": infer,
            "infer_bound": chain_bound(cfg, nnz, False),
            "train_samples_per_s": CLOCK_MHZ * 1e6 / train,
            "sim_cycles_per_s": r["compute_cycles"] / max(r["compute_wall_s"], 1e-9),
        })
    return rows


def main() -> None:
    rows = bench_gateware()
    print(f"| config | lanes | nnz | train cycles | chain bound | % | port bound | infer cycles "
          f"| chain bound | % | samples/s @ {CLOCK_MHZ:.0f} MHz | sim Mcycles/s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['config']} | {r['lanes']} | {r['nnz']:.0f} | {r['train_cycles']:.0f} | "
              f"{r['train_bound']} | {100 * r['train_bound'] / r['train_cycles']:.0f}% | "
              f"{r['train_port_bound']} | {r['infer_cycles']:.0f} | {r['infer_bound']} | "
              f"{100 * r['infer_bound'] / r['infer_cycles']:.0f}% | "
              f"{r['train_samples_per_s']:.0f} | {r['sim_cycles_per_s'] / 1e6:.2f} |")
    print("\nchain bound: the sample's phases in dependence order, each at its busiest "
          "memory port or MAC lanes (the target); port bound: the busiest port over the "
          "whole sample, which no schedule reaches (hw/bounds.py)")


if __name__ == "__main__":
    main()
