"""Lower bounds on the cycles one sample takes, for the memories and MAC lanes a config
gives the core (hw/layout.py), whatever the schedule.

Two bounds, because they answer different questions:

* ``port_bound``: the busiest single resource over the whole sample (one weight bank
  read port, the pixel stream).  No schedule beats it, but none reaches it either: the
  phases of a sample depend on each other, so a port idles while another phase runs.
* ``chain_bound``: the phases in dependence order -- input drive, then T1 (+T2) Jacobi
  steps (each needs the whole previous step), then the weight update (it needs the end
  states, and the next sample's drive needs the updated W0) -- each at its own busiest
  resource.  This is the bound an EP schedule can approach, and the one the core's
  efficiency is measured against.

Per phase, with P lanes (each weight matrix in P banks, P + P multipliers):
  drive   max(n0 pixels at one per cycle, nnz * n1 / P W0 reads)
  step    max over l >= 1 of 2 * n_l * n_{l+1} / P (every W_l is read once per direction),
          and at least the MAC pipeline's depth
  update  max over layers of the weight reads (W0: nnz * n1 / P, twice that when W0 is
          single-port SPRAM, where reads and writes share the port; W_l: n_l n_{l+1} / P)
"""

from __future__ import annotations

from epfpga.config import EPConfig

PIPELINE_DEPTH = 5  # address, read, register, accumulate, write


def _phases(cfg: EPConfig, nnz: float) -> tuple[float, float, float]:
    n, P = cfg.layers, cfg.lanes
    drive = max(n[0], nnz * n[1] / P)
    step = max([2 * n[k] * n[k + 1] / P for k in range(1, cfg.n_layers)] + [PIPELINE_DEPTH])
    w0 = nnz * n[1] / P * (2 if cfg.part == "up5k" else 1)
    update = max([w0] + [n[k] * n[k + 1] / P for k in range(1, cfg.n_layers)])
    return drive, step, update


def chain_bound(cfg: EPConfig, nnz: float, train: bool) -> int:
    drive, step, update = _phases(cfg, nnz)
    if not train:
        return int(drive + cfg.T1 * step)
    if cfg.algorithm == "cep":  # an update and a new drive after every nudged step
        return int(drive + cfg.T1 * step + cfg.T2 * (step + update + drive))
    steps = cfg.T1 + (2 if cfg.nudge == "symmetric" else 1) * cfg.T2
    return int(drive + steps * step + update)


def port_bound(cfg: EPConfig, nnz: float, train: bool) -> int:
    n, P = cfg.layers, cfg.lanes
    steps = cfg.T1 + (cfg.T2 * (2 if cfg.nudge == "symmetric" else 1) if train else 0)
    ports = [n[0], nnz * n[1] / P * (1 + (2 if cfg.part == "up5k" else 1) * train)]
    for k in range(1, cfg.n_layers):
        ports.append((steps * 2 + train) * n[k] * n[k + 1] / P)
    return int(max(ports))
