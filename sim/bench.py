"""Gateware benchmark: cycles per sample in Verilator beside the analytic bound, projected
samples/s at a stated clock, and simulated cycles per wall second.

The bound is the busiest memory read port of the architecture (hw/core.py): each weight
memory has one read port, and a relaxation step reads every W_l (l >= 1) twice (bottom-up
for layer l+1, top-down for layer l); the input drive and the W0 update each read W0 once
per non-zero pixel and hidden unit.  Cycles on different ports could overlap, so the
slowest port is a lower bound on any schedule of this memory organisation.
"""

from __future__ import annotations

import numpy as np

from epfpga.config import EPConfig, get_config

CLOCK_MHZ = 24.0


def analytic_bound(cfg: EPConfig, nnz: float, train: bool) -> int:
    n = cfg.layers
    steps = cfg.T1 + (cfg.T2 if train else 0)
    ports = [n[0]]  # pixel stream: one pixel per cycle
    w0 = nnz * n[1] * (2 if train else 1)
    ports.append(w0)
    for layer in range(1, cfg.n_layers):
        ports.append(steps * 2 * n[layer] * n[layer + 1] + (n[layer] * n[layer + 1] if train
                                                            else 0))
    return int(max(ports))


def bench_gateware(configs: tuple[str, ...] = ("tiny", "up5k", "ecp5"), samples: int = 5
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
        r = run_test(cfg, "epfpga.sim.tb_core", make_job(cfg, X, Y, n_infer=samples))
        if r["mismatches"]:
            raise RuntimeError(f"{name}: gateware differs from golden: {r['mismatches'][:3]}")
        nnz = float(np.count_nonzero(X, axis=1).mean())
        train = float(np.mean(r["cycles_train"]))
        infer = float(np.mean(r["cycles_infer"]))
        rows.append({
            "config": name, "nnz": nnz, "train_cycles": train,
            "train_bound": analytic_bound(cfg, nnz, True), "infer_cycles": infer,
            "infer_bound": analytic_bound(cfg, nnz, False),
            "train_samples_per_s": CLOCK_MHZ * 1e6 / train,
            "sim_cycles_per_s": r["compute_cycles"] / max(r["compute_wall_s"], 1e-9),
        })
    return rows


def main() -> None:
    rows = bench_gateware()
    print(f"| config | nnz | train cycles | bound | % of bound | infer cycles | bound | "
          f"% | samples/s @ {CLOCK_MHZ:.0f} MHz | sim Mcycles/s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['config']} | {r['nnz']:.0f} | {r['train_cycles']:.0f} | "
              f"{r['train_bound']} | {100 * r['train_bound'] / r['train_cycles']:.0f}% | "
              f"{r['infer_cycles']:.0f} | {r['infer_bound']} | "
              f"{100 * r['infer_bound'] / r['infer_cycles']:.0f}% | "
              f"{r['train_samples_per_s']:.0f} | {r['sim_cycles_per_s'] / 1e6:.2f} |")


if __name__ == "__main__":
    main()
