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
  efficiency is measured against.  With samples streamed to the fast plan, the next
  sample's drive runs during this one's relaxation (hw/layout.py, ``has_predrive``):
  the chain is then max(drive, relaxation) + update.

Per phase, with P lanes (each weight matrix in P banks, P + P multipliers per
relaxation pipeline):
  drive   max(n0 pixels at one per cycle, nnz * n1 / P W0 reads)
  step    every W_l (l >= 1) is read once per direction: max over l of 2 n_l n_{l+1} / P
          on one read port per bank; with the fast plan each direction on its own port
          (hw/core.py: the odd and even layers relax side by side), two for the first
          and the output layer, which take their entries in two halves
          (hw/layout.py, ``relax_halves``); and every MAC of the step on the 2P
          multipliers of each pipeline; at least the MAC pipeline's depth
  update  max over layers of the weight reads (W0: nnz * n1 / P, twice that when W0 is
          single-port SPRAM, where reads and writes share the port; W_l: n_l n_{l+1} / P)
"""

from __future__ import annotations

from epfpga.model.config import EPConfig

from .plan import make_plan

PIPELINE_DEPTH = 5  # address, read, register, accumulate, write


def _phases(cfg: EPConfig, nnz: float, shared_mul: bool | None = None
            ) -> tuple[float, float, float]:
    n, P, L = cfg.layers, cfg.lanes, cfg.n_layers
    plan = make_plan(cfg, shared_mul)
    macs = [2 * n[k] * n[k + 1] for k in range(1, L)]
    if L >= 2 and plan.fast:  # W_l's readers: layers l and l + 1
        halves, pipes = plan.relax_halves, 2
        reads = [n[k] * n[k + 1] / (halves[r] * P) for k in range(1, L) for r in (k, k + 1)]
    else:
        pipes, reads = 1, [w / P for w in macs]
    drive = max(n[0], nnz * n[1] / P)
    step = max(reads + [sum(macs) / (pipes * 2 * P), PIPELINE_DEPTH])
    w0 = nnz * n[1] / P * (2 if plan.single_port_w0 else 1)
    update = max([w0] + [n[k] * n[k + 1] / P for k in range(1, cfg.n_layers)])
    return drive, step, update


def chain_bound(cfg: EPConfig, nnz: float, train: bool, shared_mul: bool | None = None,
                streamed: bool = False) -> int:
    """``shared_mul``: the core's multiplier plan (None: the config part's);
    ``streamed``: samples back to back (the fast plan then hides the drive)."""
    drive, step, update = _phases(cfg, nnz, shared_mul)
    steps = cfg.T1
    if train:
        if cfg.algorithm == "cep":  # an update and a new drive after every nudged step
            return int(drive + cfg.T1 * step + cfg.T2 * (step + update + drive))
        steps += (2 if cfg.nudge == "symmetric" else 1) * cfg.T2
    relax = steps * step
    if streamed and make_plan(cfg, shared_mul).predrive:
        return int(max(drive, relax) + (update if train else 0))
    return int(drive + relax + (update if train else 0))


def port_bound(cfg: EPConfig, nnz: float, train: bool, shared_mul: bool | None = None
               ) -> int:
    n, P = cfg.layers, cfg.lanes
    plan = make_plan(cfg, shared_mul)
    fast, halves = plan.fast, plan.relax_halves
    steps = cfg.T1 + (cfg.T2 * (2 if cfg.nudge == "symmetric" else 1) if train else 0)
    ports = [n[0], nnz * n[1] / P * (1 + (2 if plan.single_port_w0 else 1) * train)]
    for k in range(1, cfg.n_layers):  # W_l's first port: both readers' (shared), or one
        per_step = 1 / min(halves[k], halves[k + 1]) if fast else 2
        ports.append((steps * per_step + train) * n[k] * n[k + 1] / P)
    return int(max(ports))
